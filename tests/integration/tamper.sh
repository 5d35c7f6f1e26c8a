#!/usr/bin/env bash
# The tamper suite: each forgery is made with plain git plumbing on a copy of a good node, and
# `twin verify` must exit 1 naming the fault and the commit, `twin verify --json` must say
# "valid": false with the reason, and `twin log` must mark the bad commit BAD and the others good.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

GOOD="$TEST_TMP/good"
HERON="$TEST_TMP/heron" # an editor whose key this test holds
OWL="$TEST_TMP/owl"     # an observer whose key this test holds

check "a good node: founder, an editor and an observer, a few records; twin verify passes"
found_node "$GOOD" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
NET=$(network_id_of "$GOOD")
join_node "$HERON" "Heron Water Agency" XE-EXAMPLE-HERON NL north "$NET"
join_node "$OWL" "Owl Audit Office" XE-EXAMPLE-OWL BE donor "$NET"
expect_ok tw "$GOOD" member add --name "Heron Water Agency" --org-id XE-EXAMPLE-HERON \
    --country NL --side north --role editor --key "$(key_of "$HERON")"
expect_ok tw "$GOOD" member add --name "Owl Audit Office" --org-id XE-EXAMPLE-OWL \
    --country BE --side donor --role observer --key "$(key_of "$OWL")"
add_record "$GOOD" partnership title="Water Utility Twinning" partnership_type=twinning \
    status=2 >/dev/null
NOTE=$(add_record "$GOOD" note title="Kick-off")
GOOD_COMMITS=$(commit_count "$GOOD")
expect_eq "$GOOD_COMMITS" 5 "commits in the good history"
expect_ok tw "$GOOD" verify
expect_stdout_contains "All commits are valid."

# A copy of the good node to forge on.
copy_good() {
    rm -rf "$1"
    cp -a "$GOOD" "$1"
}

# expect_fault NODE COMMIT FRAGMENT: twin verify exits 1 and names COMMIT with FRAGMENT, in text
# and in --json.
expect_fault() {
    local node=$1 commit=$2 fragment=$3
    expect_exit 1 tw "$node" verify
    grep -qF -- "  commit $commit: " "$OUT" || { show_last; fail "verify does not name $commit"; }
    grep -F -- "  commit $commit: " "$OUT" | grep -F -- "$fragment" >/dev/null ||
        { show_last; fail "verify does not give '$fragment' for $commit"; }
    expect_exit 1 tw "$node" --json verify
    expect_json_parses "$OUT" "twin --json verify"
    expect_stdout_contains '"valid": false'
    expect_stdout_contains "\"commit\": \"$commit\""
    expect_stdout_contains "$fragment"
}

# expect_log_marks NODE BAD_COMMIT: twin log marks BAD_COMMIT BAD and every other commit good.
expect_log_marks() {
    local node=$1 bad=$2 c v
    expect_ok tw "$node" log
    # One line per commit: "<id> <verdict line>".
    awk '$1 == "commit" { cur = $2 } $1 == "signature:" { print cur, $0 }' "$OUT" \
        >"$TEST_TMP/verdicts"
    expect_eq "$(wc -l <"$TEST_TMP/verdicts")" "$(commit_count "$node")" "verdicts in twin log"
    for c in $(node_git "$node" rev-list refs/heads/main); do
        v=$(grep "^$c " "$TEST_TMP/verdicts" | cut -d' ' -f2-) || fail "twin log does not list $c"
        if [ "$c" = "$bad" ]; then
            expect_match "$v" '^ *signature: BAD: ' "twin log verdict of the bad commit $bad"
        else
            expect_match "$v" '^ *signature: good$' "twin log verdict of good commit $c"
        fi
    done
}

# A tree: the good head's tree plus one new note.
new_note_tree() {
    local node=$1 id=$2 title=$3
    write_note_json "$TEST_TMP/note.json" "$id" "$title"
    craft_tree "$node" refs/heads/main "$(record_path note "$id")=$TEST_TMP/note.json"
}

check "control: a valid note committed by the editor with plain git signing passes twin verify"
T="$TEST_TMP/control"
copy_good "$T"
C=$(signed_commit "$T" "$HERON/node.key" "$(new_note_tree "$T" "$(fresh_uuid7)" "Plain git note")" \
    refs/heads/main "add note by plain git")
node_git "$T" update-ref refs/heads/main "$C"
expect_ok tw "$T" verify
expect_stdout_contains "Checked $((GOOD_COMMITS + 1)) commits up to $C."
expect_stdout_contains "All commits are valid."
expect_ok tw "$T" --json verify
expect_stdout_contains '"valid": true'

check "a commit signed by one member but naming another as its writer is named"
T="$TEST_TMP/impostor"
copy_good "$T"
C=$(CRAFT_AUTHOR="$(node_git "$T" config twin.orgid)" signed_commit "$T" "$HERON/node.key" \
    "$(new_note_tree "$T" "$(fresh_uuid7)" "Written as the founder")" refs/heads/main "add note")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "the author is <$(node_git "$T" config twin.orgid)>, not the signing member <$(node_git "$HERON" config twin.orgid)>"
expect_log_marks "$T" "$C"

check "an unsigned commit is named: unsigned commit"
T="$TEST_TMP/unsigned"
copy_good "$T"
C=$(unsigned_commit "$T" "$(new_note_tree "$T" "$(fresh_uuid7)" "Unsigned note")" \
    refs/heads/main "add note without a signature")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "unsigned commit"
expect_log_marks "$T" "$C"

check "a commit signed by a key outside the membership is named with that key"
T="$TEST_TMP/outsider"
copy_good "$T"
ssh-keygen -q -t ed25519 -N '' -C outsider -f "$TEST_TMP/outsider.key"
C=$(signed_commit "$T" "$TEST_TMP/outsider.key" \
    "$(new_note_tree "$T" "$(fresh_uuid7)" "Outsider note")" refs/heads/main "add note")
node_git "$T" update-ref refs/heads/main "$C"
OUTSIDER_KEY=$(cut -d' ' -f1-2 "$TEST_TMP/outsider.key.pub")
expect_fault "$T" "$C" "signed by a key outside the membership ($OUTSIDER_KEY)"
expect_log_marks "$T" "$C"

check "a signature copied from another commit onto a new commit is named: bad signature"
T="$TEST_TMP/copied"
copy_good "$T"
HEAD_C=$(head_of "$T")
node_git "$T" cat-file commit "$HEAD_C" >"$TEST_TMP/head.commit"
# The gpgsig header: its first line and the continuation lines (leading space) after it.
awk '/^gpgsig / { on = 1; print; next } on && /^ / { print; next } { on = 0 }' \
    "$TEST_TMP/head.commit" >"$TEST_TMP/gpgsig"
[ "$(wc -l <"$TEST_TMP/gpgsig")" -ge 3 ] || fail "could not take the gpgsig header of $HEAD_C"
TREE=$(new_note_tree "$T" "$(fresh_uuid7)" "Note under a borrowed signature")
{
    printf 'tree %s\nparent %s\n' "$TREE" "$HEAD_C"
    grep -E '^(author|committer) ' "$TEST_TMP/head.commit"
    cat "$TEST_TMP/gpgsig"
    printf '\nadd note under a borrowed signature\n'
} >"$TEST_TMP/forged.commit"
C=$(node_git "$T" hash-object -t commit -w --stdin <"$TEST_TMP/forged.commit")
node_git "$T" update-ref refs/heads/main "$C"
expect_eq "$(node_git "$T" cat-file -p "$C" | grep -c '^gpgsig ')" 1 "gpgsig headers on the forgery"
expect_fault "$T" "$C" "bad signature: sshsig: signature does not verify"
expect_log_marks "$T" "$C"

# sign_with_ssh_keygen KEY NAMESPACE PAYLOAD: the commit PAYLOAD signed by stock ssh-keygen, the
# signature in a gpgsig header at the end of the header, as git places it.
sign_with_ssh_keygen() {
    rm -f "$3.sig"
    ssh-keygen -q -Y sign -f "$1" -n "$2" "$3" 2>/dev/null
    [ -s "$3.sig" ] || fail "ssh-keygen -Y sign made no signature"
    awk -v sigfile="$3.sig" '
        !done && $0 == "" {
            first = 1
            while ((getline line < sigfile) > 0) {
                printf "%s%s\n", first ? "gpgsig " : " ", line
                first = 0
            }
            done = 1
        }
        { print }' "$3"
}

check "a member's signature made under another namespace (ssh-keygen -Y sign -n file) is named"
T="$TEST_TMP/namespace"
copy_good "$T"
U=$(unsigned_commit "$T" "$(new_note_tree "$T" "$(fresh_uuid7)" "Signed for files")" \
    refs/heads/main "add note signed as a file")
node_git "$T" cat-file commit "$U" >"$TEST_TMP/ns.payload"
sign_with_ssh_keygen "$HERON/node.key" file "$TEST_TMP/ns.payload" >"$TEST_TMP/ns.commit"
C=$(node_git "$T" hash-object -t commit -w --stdin <"$TEST_TMP/ns.commit")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "bad signature: sshsig: signature namespace"
expect_exit 1 tw "$T" verify
expect_stdout_contains "commit $C: bad signature: sshsig: signature namespace \"file\" is not \"git\""
expect_log_marks "$T" "$C"

check "a signed commit with two author lines, which git reads past but twin does not, is named"
T="$TEST_TMP/two-authors"
copy_good "$T"
U=$(unsigned_commit "$T" "$(new_note_tree "$T" "$(fresh_uuid7)" "Two authors")" \
    refs/heads/main "add note with two authors")
node_git "$T" cat-file commit "$U" |
    awk '{ print } /^author / && !done { print "author Someone Else <XE-EXAMPLE-OTHER> 1767225600 +0000"; done = 1 }' \
        >"$TEST_TMP/two.payload"
sign_with_ssh_keygen "$HERON/node.key" git "$TEST_TMP/two.payload" >"$TEST_TMP/two.commit"
C=$(node_git "$T" hash-object --literally -t commit -w --stdin <"$TEST_TMP/two.commit")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "malformed commit: its header is not in git's form"
expect_log_marks "$T" "$C"

check "a changed record under an old signature is named: bad signature"
T="$TEST_TMP/changed"
copy_good "$T"
HEAD_C=$(head_of "$T")
# The head added the note; give the same commit a tree where the note says something else.
write_note_json "$TEST_TMP/changed.json" "$NOTE" "Kick-off (quietly changed)"
TREE=$(craft_tree "$T" "$HEAD_C^" "$(record_path note "$NOTE")=$TEST_TMP/changed.json")
node_git "$T" cat-file commit "$HEAD_C" | sed "1s/^tree .*/tree $TREE/" >"$TEST_TMP/changed.commit"
C=$(node_git "$T" hash-object -t commit -w --stdin <"$TEST_TMP/changed.commit")
[ "$C" != "$HEAD_C" ] || fail "the forged commit equals the original"
node_git "$T" update-ref refs/heads/main "$C"
expect_eq "$(node_git "$T" show "$C:$(record_path note "$NOTE")" | grep -c 'quietly changed')" 1 \
    "the changed record in the forgery"
expect_fault "$T" "$C" "bad signature: sshsig: signature does not verify"
expect_log_marks "$T" "$C"
# The branch moved off the commit it held, which is a rewrite as well.
expect_exit 1 tw "$T" verify
expect_stdout_contains "history rewritten: the branch once pointed at $HEAD_C"

check "a rewritten history is named: the dropped commits are in the branch's reflog"
T="$TEST_TMP/rewritten"
copy_good "$T"
DROP1=$(add_record "$T" note title="Minutes, first draft")
DROP1_C=$(head_of "$T")
add_record "$T" note title="Minutes, second draft" >/dev/null
DROP2_C=$(head_of "$T")
expect_ok tw "$T" verify
node_git "$T" update-ref refs/heads/main "$DROP2_C~2"
expect_eq "$(head_of "$T")" "$(head_of "$GOOD")" "head after the reset"
KEEP=$(add_record "$T" note title="Minutes, rewritten")
expect_exit 2 tw "$T" show "$DROP1"
expect_exit 1 tw "$T" verify
expect_stdout_contains "  commit $DROP2_C: history rewritten: the branch once pointed at $DROP2_C"
expect_stdout_contains "  commit $DROP1_C: history rewritten: the branch once pointed at $DROP1_C"
expect_exit 1 tw "$T" --json verify
expect_json_parses "$OUT" "twin --json verify"
expect_stdout_contains '"valid": false'
expect_stdout_contains "\"commit\": \"$DROP2_C\""
expect_stdout_contains "history rewritten"
# Every commit still on the branch is itself good.
expect_ok tw "$T" log
expect_stdout_lacks "BAD"
expect_ok tw "$T" show "$KEEP"

check "a commit by an observer is named: observer"
T="$TEST_TMP/observer"
copy_good "$T"
C=$(signed_commit "$T" "$OWL/node.key" "$(new_note_tree "$T" "$(fresh_uuid7)" "Observer's note")" \
    refs/heads/main "add note as an observer")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "XE-EXAMPLE-OWL is an observer and may not write"
expect_log_marks "$T" "$C"

check "a member added by a non-admin is named: without being an admin"
T="$TEST_TMP/member_by_editor"
copy_good "$T"
ssh-keygen -q -t ed25519 -N '' -C stork -f "$TEST_TMP/stork.key"
STORK_KEY=$(cut -d' ' -f1-2 "$TEST_TMP/stork.key.pub")
node_git "$T" show refs/heads/main:members/XE-EXAMPLE-HERON.json |
    sed -e "s|\"key\": \"ssh-ed25519 [^\"]*\"|\"key\": \"$STORK_KEY\"|" \
        -e 's/"name": "Heron Water Agency"/"name": "Stork Friends Society"/' \
        -e 's/"org_id": "XE-EXAMPLE-HERON"/"org_id": "XE-EXAMPLE-STORK"/' >"$TEST_TMP/stork.json"
grep -qF "$STORK_KEY" "$TEST_TMP/stork.json" || fail "could not shape the member file"
TREE=$(craft_tree "$T" refs/heads/main "members/XE-EXAMPLE-STORK.json=$TEST_TMP/stork.json")
C=$(signed_commit "$T" "$HERON/node.key" "$TREE" refs/heads/main "add member XE-EXAMPLE-STORK")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" \
    "XE-EXAMPLE-HERON (editor) changed the membership without being an admin"
expect_log_marks "$T" "$C"
# The same file committed by the admin is a valid member add: the fault is the signer's role.
T="$TEST_TMP/member_by_admin"
copy_good "$T"
TREE=$(craft_tree "$T" refs/heads/main "members/XE-EXAMPLE-STORK.json=$TEST_TMP/stork.json")
C=$(signed_commit "$T" "$GOOD/node.key" "$TREE" refs/heads/main "add member XE-EXAMPLE-STORK")
node_git "$T" update-ref refs/heads/main "$C"
expect_ok tw "$T" verify
expect_ok tw "$T" member list
expect_stdout_contains "XE-EXAMPLE-STORK"

check "an invalid record committed by a member with plain git is named with the field"
T="$TEST_TMP/invalid_record"
copy_good "$T"
BAD_ID=$(fresh_uuid7)
printf '{\n  "id": "%s",\n  "partnership_type": "twinning",\n  "status": "9",\n  "title": "%s",\n  "type": "partnership"\n}\n' \
    "$BAD_ID" "Forged status" >"$TEST_TMP/bad_status.json"
TREE=$(craft_tree "$T" refs/heads/main "$(record_path partnership "$BAD_ID")=$TEST_TMP/bad_status.json")
C=$(signed_commit "$T" "$HERON/node.key" "$TREE" refs/heads/main "add partnership")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "partnership.status: 9 is not an IATI activity status (1-6)"
expect_log_marks "$T" "$C"

check "a record that is not in canonical form is named"
T="$TEST_TMP/non_canonical"
copy_good "$T"
ODD_ID=$(fresh_uuid7)
printf '{"id": "%s", "kind": "note", "title": "Compact JSON", "type": "note"}\n' "$ODD_ID" \
    >"$TEST_TMP/compact.json"
TREE=$(craft_tree "$T" refs/heads/main "$(record_path note "$ODD_ID")=$TEST_TMP/compact.json")
C=$(signed_commit "$T" "$HERON/node.key" "$TREE" refs/heads/main "add note")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "$(record_path note "$ODD_ID"): record is not in canonical form"
expect_log_marks "$T" "$C"

# The membership over time: each case starts from an admin's real change, then forges with git.
# forge_after NODE KEYFILE TITLE: a note signed by KEYFILE on top of NODE's head; prints the id.
forge_after() {
    local c
    c=$(signed_commit "$1" "$2" "$(new_note_tree "$1" "$(fresh_uuid7)" "$3")" refs/heads/main \
        "add note: $3")
    node_git "$1" update-ref refs/heads/main "$c"
    echo "$c"
}

check "a commit by a key after an admin revoked it is named: revoked key"
T="$TEST_TMP/revoked"
copy_good "$T"
expect_ok tw "$T" member revoke-key XE-EXAMPLE-HERON "$(key_of "$HERON")"
C=$(forge_after "$T" "$HERON/node.key" "Written with a revoked key")
expect_fault "$T" "$C" "signed by XE-EXAMPLE-HERON's revoked key"
expect_log_marks "$T" "$C"

check "a commit by a member after its removal is named: removed from the network"
T="$TEST_TMP/removed"
copy_good "$T"
expect_ok tw "$T" member remove XE-EXAMPLE-HERON
C=$(forge_after "$T" "$HERON/node.key" "Written after leaving")
expect_fault "$T" "$C" "signed by XE-EXAMPLE-HERON, which had been removed from the network"
expect_log_marks "$T" "$C"

check "an editor promoting itself to admin in its own member file is named"
T="$TEST_TMP/self_promotion"
copy_good "$T"
node_git "$T" show refs/heads/main:members/XE-EXAMPLE-HERON.json |
    sed -e 's/"role": "editor"/"role": "admin"/' >"$TEST_TMP/promoted.json"
TREE=$(craft_tree "$T" refs/heads/main "members/XE-EXAMPLE-HERON.json=$TEST_TMP/promoted.json")
C=$(signed_commit "$T" "$HERON/node.key" "$TREE" refs/heads/main "promote myself")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "XE-EXAMPLE-HERON (editor) changed the membership without being an admin"
expect_log_marks "$T" "$C"

check "a revoked key made active again, even by the admin, is named"
T="$TEST_TMP/unrevoked"
copy_good "$T"
expect_ok tw "$T" member revoke-key XE-EXAMPLE-HERON "$(key_of "$HERON")"
node_git "$T" show refs/heads/main:members/XE-EXAMPLE-HERON.json |
    sed -e 's/"state": "revoked"/"state": "active"/' >"$TEST_TMP/unrevoked.json"
TREE=$(craft_tree "$T" refs/heads/main "members/XE-EXAMPLE-HERON.json=$TEST_TMP/unrevoked.json")
C=$(signed_commit "$T" "$GOOD/node.key" "$TREE" refs/heads/main "restore a key")
node_git "$T" update-ref refs/heads/main "$C"
expect_fault "$T" "$C" "a revoked key cannot become active again"
expect_log_marks "$T" "$C"

check "verify --since checks only the new commits, and names a rewrite of what it started from"
T="$TEST_TMP/since"
copy_good "$T"
BASE=$(node_git "$T" rev-parse refs/heads/main)
add_record "$T" note title="After the base" >/dev/null
expect_ok tw "$T" verify --since "$BASE"
expect_stdout_contains "Checked 1 commit after ${BASE:0:12}"
expect_ok tw "$T" --json verify --since "$BASE"
expect_json_parses "$OUT" "twin --json verify --since"
expect_stdout_contains "\"since\": \"$BASE\""
C=$(forge_after "$T" "$OWL/node.key" "Observer after the base")
expect_exit 1 tw "$T" verify --since "$BASE"
expect_stdout_contains "XE-EXAMPLE-OWL is an observer"
node_git "$T" update-ref refs/heads/main "$BASE~1"
add_record "$T" note title="On another line" >/dev/null
expect_exit 1 tw "$T" verify --since "$BASE"
expect_stdout_contains "history rewritten"

check "a record altered in place in the store is named: its content does not match its id"
T="$TEST_TMP/bitrot"
copy_good "$T"
HEAD_C=$(head_of "$T")
BLOB=$(node_git "$T" rev-parse "$HEAD_C:$(record_path note "$NOTE")")
# Every object loose, then the note's file rewritten with a changed title under its old id.
mkdir "$TEST_TMP/bitrot-packs"
mv "$T"/repo.git/objects/pack/* "$TEST_TMP/bitrot-packs/"
for p in "$TEST_TMP"/bitrot-packs/*.pack; do node_git "$T" unpack-objects -q <"$p"; done
node_git "$T" cat-file blob "$BLOB" | sed 's/"Kick-off"/"Kick-Off"/' >"$TEST_TMP/bitrot.json"
LOOSE="$T/repo.git/objects/${BLOB:0:2}/${BLOB:2}"
chmod u+w "$LOOSE"
perl -MCompress::Zlib -e 'local $/; my $c = <STDIN>;
    print compress("blob " . length($c) . "\0" . $c)' <"$TEST_TMP/bitrot.json" >"$LOOSE"
expect_eq "$(node_git "$T" cat-file -p "$BLOB" | grep -c 'Kick-Off')" 1 \
    "the altered record as git reads it"
expect_fault "$T" "$HEAD_C" "does not match its id"
expect_exit 1 tw "$T" verify --since "$HEAD_C^"
expect_stdout_contains "does not match its id"

# odd_root_tree NODE HOW: a root tree made from the head's, in a form git refuses, written as it
# is (hash-object --literally); prints its id. HOW: dup (network.json twice), unsorted (the
# first two entries swapped), padded (members/ with mode 040000), dotgit (a .git directory).
odd_root_tree() {
    node_git "$1" cat-file tree "refs/heads/main^{tree}" >"$TEST_TMP/root.tree"
    python3 - "$2" "$TEST_TMP/root.tree" <<'PY'
import sys
how, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
entries, i = [], 0
while i < len(data):
    sp = data.index(b" ", i); nul = data.index(b"\0", sp)
    entries.append([data[i:sp], data[sp + 1:nul], data[nul + 1:nul + 21]])
    i = nul + 21
if how == "dup":
    e = next(e for e in entries if e[1] == b"network.json")
    entries.insert(entries.index(e) + 1, list(e))
elif how == "unsorted":
    entries[0], entries[1] = entries[1], entries[0]
elif how == "padded":
    next(e for e in entries if e[1] == b"members")[0] = b"040000"
elif how == "dotgit":
    members = next(e for e in entries if e[1] == b"members")
    entries.insert(0, [b"40000", b".git", members[2]])
open(path, "wb").write(b"".join(m + b" " + n + b"\0" + o for m, n, o in entries))
PY
    node_git "$1" hash-object -t tree --literally -w "$TEST_TMP/root.tree"
}

for how in dup unsorted padded dotgit; do
    check "a signed commit whose root tree git refuses ($how) is named, and git fsck agrees"
    T="$TEST_TMP/tree-$how"
    copy_good "$T"
    TREE=$(odd_root_tree "$T" "$how")
    C=$(signed_commit "$T" "$HERON/node.key" "$TREE" refs/heads/main "an odd tree")
    node_git "$T" update-ref refs/heads/main "$C"
    case $how in
    dup) why="two entries share the name of entry" ;;
    unsorted) why="its entries are out of git's order" ;;
    padded) why="has mode 040000" ;;
    dotgit) why="entry 1 has a name git refuses" ;;
    esac
    expect_fault "$T" "$C" "the root tree: tree ${TREE:0:12} is not in git's canonical form: "
    expect_fault "$T" "$C" "$why"
    expect_exit 1 git --git-dir="$T/repo.git" fsck --strict --no-progress
done

check "the good node itself still verifies"
expect_ok tw "$GOOD" verify
expect_eq "$(commit_count "$GOOD")" "$GOOD_COMMITS" "commits in the good node"

echo "PASS: $TEST_NAME"
