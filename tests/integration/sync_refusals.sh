#!/usr/bin/env bash
# What a node must refuse, and what it must not lose. Outsiders are turned away at the
# handshake; commits crafted with plain git (unsigned, signature copied onto another tree,
# signed by an observer, holding an invalid record, an editor granting itself admin) are refused
# whichever side receives them, and the receiver's branch and records stay as they were. A member
# that rewrites its history cannot make a peer lose commits.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# note_file ID TITLE: a canonical note record (title may be empty: then there is none).
note_file() {
    local f="$SYNC_TMP/note-$1.json"
    if [ -n "$2" ]; then
        jq -nS --arg id "$1" --arg t "$2" '{id: $id, type: "note", kind: "note", title: $t}' >"$f"
    else
        jq -nS --arg id "$1" '{id: $id, type: "note", kind: "note", body: "no title"}' >"$f"
    fi
    echo "$f"
}

note_path() {
    echo "records/note/${1: -2}/$1.json"
}

# put_head NODE COMMIT: moves NODE's main with plain git, as a tampering member would.
put_head() {
    ngit "$1" update-ref refs/heads/main "$2"
}

# snapshot NODE: remembers the node's head and record ids; unchanged NODE checks them.
snapshot() {
    SNAP_HEAD=$(head_of "$1")
    SNAP_IDS=$(ids_of "$1")
}
unchanged() {
    same "$(head_of "$1")" "$SNAP_HEAD" "head of $1"
    same "$(ids_of "$1")" "$SNAP_IDS" "record ids of $1"
}

# refused NODE COMMIT TEXT: the last `twin sync` on NODE failed, naming COMMIT and TEXT, and the
# serving node (north) logged the same refusal.
refused_by_north() {
    local commit=$1 text=$2
    [ "$RUN_STATUS" -eq 1 ] || {
        show_run
        fail "sync exited $RUN_STATUS, not 1"
    }
    err_has "the peer refused: commit $commit: "
    err_has "$text"
    wait_log north 5 "failed: refused what the peer sent: commit $commit: "
    grep "refused what the peer sent: commit $commit: " "${SERVE_LOG[north]}" | grep -F -- "$text" >/dev/null ||
        fail "North's log names commit $commit but not '$text'"
    note "refused: $(grep -o 'commit [0-9a-f]*: .*' "$RUN_ERR" | head -n 1)"
}

check "North founds; South (editor) and Watcher (observer) are members; North serves"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_new watcher XE-EXAMPLE-W KE south north
node_admit north south editor
node_admit north watcher observer
add_rec north partnership title="Audit twinning" partnership_type=twinning
serve_start north
peer_add south north
peer_add watcher north
sync_ok south
sync_ok watcher
same_heads north south watcher

check "an outsider of the same network, not a member and not a peer, is refused at the handshake"
node_new outsider XE-EXAMPLE-X GH south north
peer_add outsider north
snapshot north
must_exit 1 "$TWIN" --dir "$(dir_of outsider)" sync
err_has "unknown node key: not a member of network"
err_has "no invite is open here"
outsider_id=$(tw outsider id | sed -n 's/^node id: *//p')
wait_log north 5 "handshake: node $outsider_id is not allowed: unknown node key: not a member"
unchanged north
[ -z "$(head_of outsider)" ] || fail "the outsider got history"
note "$(grep -o "refused .*" "${SERVE_LOG[north]}" | tail -n 1)"

check "a node of another network is refused at the handshake"
node_new stranger XE-EXAMPLE-Y DE north
peer_add stranger north
snapshot north
must_exit 1 "$TWIN" --dir "$(dir_of stranger)" sync
note "stranger: $(head -n 1 "$RUN_ERR")"
err_has "belongs to another network"
wait_log north 15 "handshake: message 1 failed authentication (the caller expects another node key or belongs to another network)"
unchanged north
same "$(tw stranger list --all --json | jq length)" 0 "records the stranger got"

check "control: a commit made with plain git and signed with South's key is accepted"
id=01a20250-0000-7000-8000-00000000c0a1
good=$(craft south key "$(note_path $id)" "$(note_file $id "Made with plain git")" \
    "add note $id: Made with plain git")
put_head south "$good"
sync_ok south
out_has "sent 1"
same_heads north south
same "$(tw north show $id --json | jq -r .title)" "Made with plain git" "the crafted note at North"

check "an unsigned commit from a member is refused; North keeps its branch and records"
snapshot north
base=$(head_of south)
id=01a20250-0000-7000-8000-00000000c0a2
bad=$(craft south none "$(note_path $id)" "$(note_file $id "Unsigned")" "add note $id: Unsigned")
put_head south "$bad"
run "$TWIN" --dir "$(dir_of south)" sync
refused_by_north "$bad" "unsigned"
unchanged north
put_head south "$base"

check "a signature copied onto a changed tree is refused"
snapshot north
id=01a20250-0000-7000-8000-00000000c0a3
signed=$(craft south key "$(note_path $id)" "$(note_file $id "Original title")" \
    "add note $id: Original title")
other=$(craft south none "$(note_path $id)" "$(note_file $id "Changed title")" "changed")
other_tree=$(ngit south rev-parse "$other^{tree}")
forged=$(ngit south cat-file commit "$signed" | sed "1s/^tree .*/tree $other_tree/" |
    ngit south hash-object -t commit -w --stdin)
ngit south cat-file commit "$forged" | grep '^gpgsig ' >/dev/null || fail "the forged commit lost its signature"
put_head south "$forged"
run "$TWIN" --dir "$(dir_of south)" sync
refused_by_north "$forged" "signature"
unchanged north
put_head south "$base"

check "a record commit signed by an observer is refused"
snapshot north
wbase=$(head_of watcher)
id=01a20250-0000-7000-8000-00000000c0a4
obs=$(craft watcher key "$(note_path $id)" "$(note_file $id "Observer writes")" \
    "add note $id: Observer writes")
put_head watcher "$obs"
run "$TWIN" --dir "$(dir_of watcher)" sync
refused_by_north "$obs" "observer"
unchanged north
put_head watcher "$wbase"

check "a signed commit holding an invalid record (a note without a title) is refused"
snapshot north
id=01a20250-0000-7000-8000-00000000c0a5
invalid=$(craft south key "$(note_path $id)" "$(note_file $id "")" "add note $id: (none)")
put_head south "$invalid"
run "$TWIN" --dir "$(dir_of south)" sync
refused_by_north "$invalid" "title"
unchanged north
put_head south "$base"

check "an editor's signed commit making itself admin is refused"
snapshot north
ngit south show "refs/heads/main:members/XE-EXAMPLE-S.json" | jq -S '.role = "admin"' \
    >"$SYNC_TMP/south-admin.json"
[ "$(jq -r .role "$SYNC_TMP/south-admin.json")" = admin ] || fail "could not craft the member file"
grab=$(craft south key members/XE-EXAMPLE-S.json "$SYNC_TMP/south-admin.json" \
    "member XE-EXAMPLE-S: admin")
put_head south "$grab"
run "$TWIN" --dir "$(dir_of south)" sync
refused_by_north "$grab" "admin"
unchanged north
put_head south "$base"

check "the initiator refuses too: North's branch holds an unsigned commit; South will not take it"
nbase=$(head_of north)
snapshot south
id=01a20250-0000-7000-8000-00000000c0a6
served=$(craft north none "$(note_path $id)" "$(note_file $id "Served unsigned")" "unsigned")
put_head north "$served"
must_exit 1 "$TWIN" --dir "$(dir_of south)" sync
err_has "refused what the peer sent: commit $served: "
err_has "unsigned"
unchanged south
put_head north "$nbase"
sync_ok south
out_has "received 0 commits, sent 0"

check "rewritten history at South (reset, then a new commit) cannot make North lose commits"
add_rec south note title="First of two" partnership="$(tw north list partnership --json | jq -r '.[0].id')"
add_rec south note title="Second of two"
dropped_ids=$(ids_of south)
sync_ok south
north_old=$(head_of north)
old=$(ngit south rev-parse "refs/heads/main~2")
put_head south "$old"
add_rec south note title="Written on the rewritten line"
rewritten=$(head_of south)
ngit south merge-base --is-ancestor "$north_old" "$rewritten" &&
    fail "the rewrite did not drop North's head from South's line"
run "$TWIN" --dir "$(dir_of south)" sync
note "south: $(cat "$RUN_OUT" "$RUN_ERR" | head -n 1)"
[ "$RUN_STATUS" -eq 0 ] || [ "$RUN_STATUS" -eq 1 ] || fail "sync exited $RUN_STATUS"
north_new=$(head_of north)
ngit north merge-base --is-ancestor "$north_old" "$north_new" ||
    fail "North's head $north_new no longer contains its old head $north_old"
has_ids north <(echo "$dropped_ids")
if [ "$RUN_STATUS" -eq 0 ]; then
    # The rewritten line was merged, not adopted: the dropped commits are back at South too.
    same_heads north south
    ngit south merge-base --is-ancestor "$north_old" "$(head_of south)" ||
        fail "South's head does not contain the commits it dropped"
    ngit south merge-base --is-ancestor "$rewritten" "$(head_of south)" ||
        fail "South's head lost its new commit"
    same "$(ngit north rev-list --parents -n 1 refs/heads/main | wc -w)" 3 \
        "parents of the merge at North's head"
fi

check "rewritten history at North (the serving side): South, syncing, loses nothing either"
sync_ok south
south_old=$(head_of south)
put_head north "$(ngit north rev-parse "refs/heads/main~1")"
add_rec north note title="North's rewritten line"
north_rewritten=$(head_of north)
sync_ok south
ngit south merge-base --is-ancestor "$south_old" "$(head_of south)" ||
    fail "South lost its old head $south_old"
ngit north merge-base --is-ancestor "$south_old" "$(head_of north)" ||
    fail "North does not hold South's old head after the sync"
ngit north merge-base --is-ancestor "$north_rewritten" "$(head_of north)" ||
    fail "North lost its rewritten-line commit"
same_heads north south

check "a member that only rewinds its branch gets the dropped commits back"
head_before=$(head_of north)
put_head south "$(ngit south rev-parse "refs/heads/main~3")"
sync_ok south
out_has "received"
same "$(head_of north)" "$head_before" "North's head after a rewound member synced"
same_heads north south

check "twin verify reports exactly the commits the test dropped by hand with plain git, no more"
# rewrites_reported NODE COMMIT...: verify fails, and its faults are one "history rewritten" for
# each COMMIT.
rewrites_reported() {
    local name=$1 want got
    shift
    must_exit 1 "$TWIN" --dir "$(dir_of "$name")" verify
    want=$(printf '%s\n' "$@" | sort)
    got=$(sed -n 's/^  commit \([0-9a-f]*\): history rewritten: .*/\1/p' "$RUN_OUT" | sort)
    same "$got" "$want" "commits twin verify on $name reports as rewritten"
    out_has "$# fault"
}
rewrites_reported north "$served"
rewrites_reported south "$bad" "$forged" "$invalid" "$grab"
rewrites_reported watcher "$obs"

check "with those reflog entries expired, every commit of every node is valid; fsck is clean"
for n in north south watcher; do
    ngit "$n" reflog expire --expire=now --all
done
verify_ok north south watcher
fsck_ok north south watcher
serve_stop north
echo "PASS"
