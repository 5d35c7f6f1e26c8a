#!/usr/bin/env bash
# The membership lifecycle, checked by twin verify, by what sync accepts, and by stock git:
# a key rotation (the old key's earlier commits stay valid, its later ones are refused), a key
# revoked by an admin, and a member removed (its history stays valid, its later commits are
# refused). Forged commits are made with plain git in a copy of a member's node, which then
# offers them to the admin's node by sync.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

join_as() { # join_as NAME ORG: joins NAME by an editor invite from North
    local token
    token=$(tw north invite --role editor 2>/dev/null)
    must "$TWIN" --dir "$(dir_of "$1")" join "$token" --name "Ministry $1 ($2)" --org-id "$2" \
        --country TZ --side south
}

# forge NAME KEYFILE TITLE: in node NAME's repository, a commit on top of its head that adds a
# note, signed by KEYFILE as git signs, dated a minute ahead; moves NAME's branch to it.
forge() {
    local name=$1 key=$2 title=$3 id file index head tree commit
    id=$(python3 -c 'import uuid,os,time; t=int(time.time()*1000); r=os.urandom(10).hex(); print(f"{t:012x}"[:8]+"-"+f"{t:012x}"[8:12]+"-7"+r[:3]+"-a"+r[3:6]+"-"+r[6:18])')
    file="$SYNC_TMP/forged.json"
    printf '{\n  "id": "%s",\n  "kind": "note",\n  "title": "%s",\n  "type": "note"\n}\n' "$id" \
        "$title" >"$file"
    index="$SYNC_TMP/forge.index"
    head=$(head_of "$name")
    rm -f "$index"
    GIT_INDEX_FILE="$index" ngit "$name" read-tree "$head"
    GIT_INDEX_FILE="$index" ngit "$name" update-index --add --cacheinfo \
        "100644,$(ngit "$name" hash-object -w "$file"),records/note/${id: -2}/$id.json"
    tree=$(GIT_INDEX_FILE="$index" ngit "$name" write-tree)
    commit=$(GIT_COMMITTER_DATE="$(($(date +%s) + 60)) +0000" GIT_AUTHOR_DATE="$(($(date +%s) + 60)) +0000" \
        GIT_AUTHOR_NAME=Forger GIT_AUTHOR_EMAIL=XE-EXAMPLE-X GIT_COMMITTER_NAME=Forger \
        GIT_COMMITTER_EMAIL=XE-EXAMPLE-X ngit "$name" -c gpg.format=ssh -c user.signingkey="$key" \
        commit-tree -S -p "$head" -m "add note $id: $title" "$tree")
    ngit "$name" update-ref refs/heads/main "$commit" "$head"
    echo "$commit"
}

# git_accepts NAME COMMIT: stock git's verify-commit, with the allowed-signers North exports,
# says the signature is good and from a listed signer (exit 0).
git_accepts() {
    must "$TWIN" --dir "$(dir_of north)" export allowed-signers --out "$SYNC_TMP/signers"
    ngit "$1" -c gpg.ssh.allowedSignersFile="$SYNC_TMP/signers" verify-commit "$2" \
        >"$SYNC_TMP/git-verdict" 2>&1
}

check "North founds the network and serves; South and East join by invite as editors"
node_new north XE-EXAMPLE-N NL north
serve_start north
join_as south XE-EXAMPLE-S
join_as east XE-EXAMPLE-E
add_rec east note title="Written by East while a member"
east_early=$(head_of east)
sync_ok east XE-EXAMPLE-N
sync_ok south XE-EXAMPLE-N

check "South rotates its key: the commit is signed by the old key, and the new key writes"
cp "$(dir_of south)/node.key" "$SYNC_TMP/south-old.key"
add_rec south note title="Signed by South's first key"
south_early=$(head_of south)
old_key=$(tw south id | head -n 1)
must "$TWIN" --dir "$(dir_of south)" key rotate
out_has "Retired: $old_key"
new_key=$(tw south id | head -n 1)
[ "$new_key" != "$old_key" ] || fail "twin key rotate kept the same key"
[ ! -e "$(dir_of south)/node.key.new" ] || fail "node.key.new left behind"
add_rec south note title="Signed by South's second key"
sync_ok south XE-EXAMPLE-N
same_heads north south
must "$TWIN" --dir "$(dir_of north)" --json member list
jq -e '.[] | select(.org_id == "XE-EXAMPLE-S") | .keys | map(.state) == ["retired", "active"]' \
    "$RUN_OUT" >/dev/null || fail "South's keys are not [retired, active]: $(cat "$RUN_OUT")"
verify_ok north south

check "git agrees: the old key's early commit is Good, the allowed-signers window shows its end"
git_accepts north "$south_early" ||
    fail "stock git rejects the old key's early commit: $(cat "$SYNC_TMP/git-verdict")"
grep -E "^XE-EXAMPLE-S namespaces=\"git,twin-checkpoint\",valid-after=\"[0-9]{14}Z\",valid-before=\"[0-9]{14}Z\" " \
    "$SYNC_TMP/signers" >/dev/null || fail "no closed window for South's old key: $(cat "$SYNC_TMP/signers")"

check "a commit by South's old key after the rotation: twin verify, sync and git all refuse it"
cp -a "$(dir_of south)" "$(dir_of relay)"
forged=$(forge relay "$SYNC_TMP/south-old.key" "Forged with the retired key")
must_exit 1 "$TWIN" --dir "$(dir_of relay)" verify
out_has "retired key"
north_head=$(head_of north)
must_fail "$TWIN" --dir "$(dir_of relay)" sync XE-EXAMPLE-N
grep -q "retired key" "$RUN_OUT" "$RUN_ERR" || { show_run; fail "sync did not say the key is retired"; }
same "$(head_of north)" "$north_head" "North's head after the refused sync"
! git_accepts relay "$forged" ||
    fail "stock git accepts the retired key's later commit: $(cat "$SYNC_TMP/git-verdict")"
grep -q "key has expired" "$SYNC_TMP/git-verdict" ||
    fail "git did not say the key had expired: $(cat "$SYNC_TMP/git-verdict")"
rm -rf "$(dir_of relay)"

check "North revokes East's key: East can no longer sync, and its later commit is refused"
east_key=$(tw east id | head -n 1)
must "$TWIN" --dir "$(dir_of north)" member revoke-key XE-EXAMPLE-E "$east_key"
out_has "Revoked a key of XE-EXAMPLE-E"
must_fail "$TWIN" --dir "$(dir_of east)" sync XE-EXAMPLE-N
sync_ok south XE-EXAMPLE-N
cp -a "$(dir_of south)" "$(dir_of relay)"
forge relay "$(dir_of east)/node.key" "Forged with the revoked key" >/dev/null
must_fail "$TWIN" --dir "$(dir_of relay)" sync XE-EXAMPLE-N
grep -q "revoked key" "$RUN_OUT" "$RUN_ERR" || { show_run; fail "sync did not say the key is revoked"; }
rm -rf "$(dir_of relay)"
git_accepts north "$east_early" ||
    fail "stock git rejects East's commit from before the revocation: $(cat "$SYNC_TMP/git-verdict")"

check "North removes East: its history stays valid, a later commit of it is refused"
must "$TWIN" --dir "$(dir_of north)" member remove XE-EXAMPLE-E
must "$TWIN" --dir "$(dir_of north)" member list
grep -E "^XE-EXAMPLE-E +removed " "$RUN_OUT" >/dev/null || fail "East not shown removed: $(cat "$RUN_OUT")"
verify_ok north
sync_ok south XE-EXAMPLE-N
cp -a "$(dir_of south)" "$(dir_of relay)"
forge relay "$(dir_of east)/node.key" "Forged after the removal" >/dev/null
must_exit 1 "$TWIN" --dir "$(dir_of relay)" verify
grep -q "revoked key\|removed from the network" "$RUN_OUT" || fail "verify: $(cat "$RUN_OUT")"
rm -rf "$(dir_of relay)"

check "an editor may not revoke or remove; the last admin cannot be removed"
must_fail "$TWIN" --dir "$(dir_of south)" member remove XE-EXAMPLE-N
err_has "only an admin"
must_fail "$TWIN" --dir "$(dir_of north)" member remove XE-EXAMPLE-N
err_has "last admin"

serve_stop north
echo "PASS"
