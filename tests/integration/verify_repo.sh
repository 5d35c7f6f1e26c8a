#!/usr/bin/env bash
# twin verify --repo: an auditor with no node and no key checks plain git clones of a network's
# history (bare, with a working tree, a mirror, one with only origin's copy of the branch), is
# told the network the history belongs to, has a wrong --network and a tampered commit named,
# gets a clear usage error for what is not a twin history, and every clone is left byte for byte
# as it was.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

NODE="$TEST_TMP/node"
HERON="$TEST_TMP/heron"
AUDIT="$TEST_TMP/auditor" # the auditor's own directory: no node in it
mkdir -p "$AUDIT"

# The auditor's twin: no data directory of its own, and none to be found.
audit() {
    (cd "$AUDIT" && TWIN_DIR="$AUDIT/no-node" "$TWIN" "$@")
}

# The digest of every file under a directory, sorted by path.
files_of() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# expect_unchanged DIR SNAPSHOT: DIR still holds exactly the files of SNAPSHOT.
expect_unchanged() {
    files_of "$1" >"$TEST_TMP/after"
    diff "$2" "$TEST_TMP/after" >&2 || fail "verify --repo changed $1"
}

check "a network of two members with a few records"
found_node "$NODE" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
NET=$(network_id_of "$NODE")
join_node "$HERON" "Heron Water Agency" XE-EXAMPLE-HERON NL north "$NET"
expect_ok tw "$NODE" member add --name "Heron Water Agency" --org-id XE-EXAMPLE-HERON \
    --country NL --side north --role editor --key "$(key_of "$HERON")"
add_record "$NODE" partnership title="Water Utility Twinning" partnership_type=twinning \
    status=2 >/dev/null
NOTE=$(add_record "$NODE" note title="Kick-off" kind=note)
add_record "$NODE" note title="Site visit" kind=decision >/dev/null
HEAD=$(head_of "$NODE")
COMMITS=$(commit_count "$NODE")

check "plain git clones: bare, with a working tree, a mirror (the file:// transport, no hard links)"
git clone -q --bare "file://$NODE/repo.git" "$AUDIT/bare.git"
git clone -q "file://$NODE/repo.git" "$AUDIT/worktree"
git clone -q --mirror "file://$NODE/repo.git" "$AUDIT/mirror.git"
for clone in bare.git worktree mirror.git; do
    files_of "$AUDIT/$clone" >"$TEST_TMP/$clone.files"
done

check "each clone verifies, naming the branch checked and the network it found"
for clone in bare.git worktree mirror.git; do
    expect_ok audit verify --repo "$clone"
    expect_stdout_contains "Repository $clone, branch refs/heads/main."
    expect_stdout_contains "Network $NET: compare it with the network id you were given."
    expect_stdout_contains "Checked $COMMITS commits up to $HEAD."
    expect_stdout_contains "XE-EXAMPLE-KESTREL"
    expect_stdout_contains "All commits are valid."
    expect_ok audit --json verify --repo "$clone"
    expect_json_parses "$OUT" "twin --json verify --repo $clone"
    expect_stdout_contains "\"network_id\": \"$NET\""
    expect_stdout_contains '"ref": "refs/heads/main"'
    expect_stdout_contains '"valid": true'
    expect_unchanged "$AUDIT/$clone" "$TEST_TMP/$clone.files"
done

check "the same report as twin verify on the node itself"
expect_ok tw "$NODE" verify
grep -v '^Checked [0-9]* pack' "$OUT" >"$TEST_TMP/node.report"
expect_ok audit verify --repo bare.git
grep -v -e '^Repository ' -e '^Network ' -e '^Checked [0-9]* pack' "$OUT" >"$TEST_TMP/bare.report"
diff "$TEST_TMP/node.report" "$TEST_TMP/bare.report" >&2 || fail "the reports differ"

check "--network: the right id passes, a wrong one fails naming both ids"
expect_ok audit verify --repo bare.git --network "$NET"
expect_stdout_contains "Network $NET, as expected."
OTHER=0123456789abcdef0123456789abcdef
expect_exit 1 audit verify --repo worktree --network "$OTHER"
expect_stdout_contains "the history belongs to network $NET, not to the expected network $OTHER"
expect_exit 1 audit --json verify --repo worktree --network "$OTHER"
expect_stdout_contains '"valid": false'
expect_stdout_contains "\"expected_network\": \"$OTHER\""
expect_exit 2 audit verify --repo bare.git --network "Lake Basin Twinning"
expect_stderr_contains "'Lake Basin Twinning' is not a network id"
expect_unchanged "$AUDIT/bare.git" "$TEST_TMP/bare.git.files"
expect_unchanged "$AUDIT/worktree" "$TEST_TMP/worktree.files"

check "a clone with only origin's copy of the branch: that copy is checked, and said so"
git clone -q "file://$NODE/repo.git" "$AUDIT/remote-only"
git -C "$AUDIT/remote-only" checkout -q --detach
git -C "$AUDIT/remote-only" branch -q -D main
files_of "$AUDIT/remote-only" >"$TEST_TMP/remote-only.files"
expect_ok audit verify --repo remote-only
expect_stdout_contains "Repository remote-only, branch refs/remotes/origin/main."
expect_stdout_contains "All commits are valid."
expect_unchanged "$AUDIT/remote-only" "$TEST_TMP/remote-only.files"

check "stock git on a clone: git verify-commit with the allowed-signers file"
if command -v ssh-keygen >/dev/null 2>&1; then
    expect_ok tw "$NODE" export allowed-signers --out "$AUDIT/allowed_signers"
    for c in $(git -C "$AUDIT/bare.git" rev-list main); do
        git -C "$AUDIT/bare.git" -c gpg.format=ssh \
            -c gpg.ssh.allowedSignersFile="$AUDIT/allowed_signers" verify-commit "$c" \
            >/dev/null 2>&1 || fail "git verify-commit refuses $c"
    done
else
    echo "   (ssh-keygen is not installed: skipping git verify-commit)"
fi

check "what is not a twin history: exit 2 with a message naming the problem"
expect_exit 2 audit verify --repo missing
expect_stderr_contains "missing: No such file or directory"
mkdir "$AUDIT/plain-dir"
expect_exit 2 audit verify --repo plain-dir
expect_stderr_contains "plain-dir is not a git repository"
expect_exit 2 audit verify --repo allowed_signers
expect_stderr_contains "allowed_signers is a file, not a git repository"
git init -q --bare "$AUDIT/empty.git"
expect_exit 2 audit verify --repo empty.git
expect_stderr_contains "empty.git holds no twin history: no branch refs/heads/main"
expect_exit 2 audit verify --repo
expect_stderr_contains "--repo needs a value"
expect_exit 2 audit verify --network "$NET"
expect_stderr_contains "--network goes with --repo"
expect_exit 2 audit verify --repo bare.git --since HEAD
expect_stderr_contains "--repo checks a whole history"

check "a clone where a record was rewritten and re-committed under the node's name is named"
git clone -q --bare "file://$NODE/repo.git" "$AUDIT/tampered.git"
write_note_json "$TEST_TMP/changed.json" "$NOTE" "Kick-off (quietly changed)"
INDEX="$TEST_TMP/tamper.index"
GIT_INDEX_FILE="$INDEX" git -C "$AUDIT/tampered.git" read-tree "$HEAD"
BLOB=$(git -C "$AUDIT/tampered.git" hash-object -w "$TEST_TMP/changed.json")
GIT_INDEX_FILE="$INDEX" git -C "$AUDIT/tampered.git" update-index \
    --cacheinfo "100644,$BLOB,$(record_path note "$NOTE")"
TREE=$(GIT_INDEX_FILE="$INDEX" git -C "$AUDIT/tampered.git" write-tree)
# The head's own commit text, signature and all, over the changed tree.
git -C "$AUDIT/tampered.git" cat-file commit "$HEAD" | sed "1s/^tree .*/tree $TREE/" \
    >"$TEST_TMP/forged.commit"
FORGED=$(git -C "$AUDIT/tampered.git" hash-object -t commit -w --stdin <"$TEST_TMP/forged.commit")
git -C "$AUDIT/tampered.git" update-ref refs/heads/main "$FORGED"
files_of "$AUDIT/tampered.git" >"$TEST_TMP/tampered.files"
expect_exit 1 audit verify --repo tampered.git
expect_stdout_contains "  commit $FORGED: bad signature: sshsig: signature does not verify"
expect_exit 1 audit --json verify --repo tampered.git
expect_stdout_contains "\"commit\": \"$FORGED\""
expect_unchanged "$AUDIT/tampered.git" "$TEST_TMP/tampered.files"

check "a clone with a byte flipped in a loose object is named with the object's file"
git clone -q --bare "file://$NODE/repo.git" "$AUDIT/bitrot.git"
# Every object loose (as a copy made object by object holds them), then one byte of the head
# commit's deflated data flipped.
mkdir "$TEST_TMP/bitrot-packs"
mv "$AUDIT"/bitrot.git/objects/pack/* "$TEST_TMP/bitrot-packs/"
for p in "$TEST_TMP"/bitrot-packs/*.pack; do
    git -C "$AUDIT/bitrot.git" unpack-objects -q <"$p"
done
LOOSE="$AUDIT/bitrot.git/objects/${HEAD:0:2}/${HEAD:2}"
[ -f "$LOOSE" ] || fail "no loose object for $HEAD"
chmod u+w "$LOOSE"
printf '\xff' | dd of="$LOOSE" bs=1 seek=20 conv=notrunc 2>/dev/null
files_of "$AUDIT/bitrot.git" >"$TEST_TMP/bitrot.files"
expect_exit 1 audit verify --repo bitrot.git
expect_stdout_contains "objects/${HEAD:0:2}/${HEAD:2}"
expect_unchanged "$AUDIT/bitrot.git" "$TEST_TMP/bitrot.files"

check "the auditor's directory holds no node: nothing was made for one"
[ ! -e "$AUDIT/no-node" ] || fail "verify --repo made a data directory"

echo "ok"
