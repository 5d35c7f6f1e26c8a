#!/usr/bin/env bash
# A chain A - B - C: A and C never talk to each other, B has both as peers. Changes made at
# either end reach the other through B, by explicit syncs and then by B's serve passing them on
# by itself soon after its branch moves. Then a fourth node D makes the same merge as A and B did,
# independently (same tree, another commit), and the merges of those merges must still work.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

node_id() {
    tw "$1" id | sed -n 's/^node id: *//p'
}

check "A founds the network, B and C join; A admits both"
node_new a XE-EXAMPLE-A NL north
node_new b XE-EXAMPLE-B DE north a
node_new c XE-EXAMPLE-C KE south a
node_admit a b
node_admit a c

check "B takes the history from A; then C takes it from B (C never meets A)"
serve_start a
peer_add b a
sync_ok b
must "$TWIN" --dir "$(dir_of b)" peer remove a # B knows A again only in the last part
serve_stop a
serve_start b
peer_add a b
peer_add c b
sync_ok c
out_has "received 3 commits, sent 0"
same_heads a b c

check "a record written at A reaches C: A syncs with B, then C syncs with B"
add_rec a partnership title="Chain partnership" partnership_type=intersectoral
p=$REC_ID
sync_ok a
out_has "received 0 commits, sent 1"
[ -z "$(tw c list --all --json | jq -r '.[].id')" ] || fail "C has records before syncing"
sync_ok c
out_has "received 1 commit, sent 0"
same_heads a b c
same "$(tw c show "$p" --json | jq -r .title)" "Chain partnership" "C's copy of A's record"

check "a record written at C reaches A the same way"
add_rec c note title="Written at C" partnership="$p"
n_c=$REC_ID
sync_ok c
sync_ok a
out_has "received 1 commit, sent 0"
same_heads a b c
same "$(tw a show "$n_c" --json | jq -r .title)" "Written at C" "A's copy of C's record"

check "A and C write at the same time; B merges and passes on the merge"
add_rec a note title="Concurrent at A" partnership="$p"
n_a2=$REC_ID
add_rec c note title="Concurrent at C" partnership="$p"
n_c2=$REC_ID
sync_ok a
sync_ok c
out_has "merged"
sync_ok a
out_has "received 2 commits, sent 0" # C's note and the merge C made
same_heads a b c
for n in a b c; do
    tw "$n" show "$n_a2" >/dev/null
    tw "$n" show "$n_c2" >/dev/null
done

check "the serves relay by themselves: with all three serving, a change at A reaches C"
serve_start a
serve_start c
peer_add b a
peer_add b c
# Each serve syncs with its peers once when it starts; let those rounds pass, so that from here
# on C (interval 3600) can only get news when B's serve brings it.
wait_log a 10 "sync with XE-EXAMPLE-B (peer b): ok"
wait_log c 10 "sync with XE-EXAMPLE-B (peer b): ok"
add_rec a note title="Relayed by serve" partnership="$p"
n_a3=$REC_ID
# No explicit sync: A's serve sees its branch move and syncs with B; B's branch moves, and B's
# serve syncs with C.
wait_heads 15 a b c
tw c show "$n_a3" >/dev/null
wait_log a 10 "sync with XE-EXAMPLE-B (peer b): ok, received 0 commits, sent 1"
wait_log b 10 "sync with XE-EXAMPLE-C (peer c): ok, received 0 commits, sent 1"

check "A and C never talked to each other"
id_a=$(node_id a)
id_c=$(node_id c)
for log in "$SYNC_TMP"/serve-a.log*; do
    grep -E "(session from|sync with) (XE-EXAMPLE-C|node ${id_c:0:16})" "$log" >/dev/null &&
        fail "A's serve log shows a session with C"
done
grep -E "(session from|sync with) (XE-EXAMPLE-A|node ${id_a:0:16})" "${SERVE_LOG[c]}" >/dev/null &&
    fail "C's serve log shows a session with A"
# The same greps find the sessions there were, so they would find one with C or A.
grep -E "session from XE-EXAMPLE-B( \(peer b\))? at " "${SERVE_LOG[c]}" >/dev/null ||
    fail "C's serve log names no session with B: $(cat "${SERVE_LOG[c]}")"
must "$TWIN" --dir "$(dir_of a)" peer list
grep -q '^c ' "$RUN_OUT" && fail "A has C as a peer"
must "$TWIN" --dir "$(dir_of c)" peer list
grep -q '^a ' "$RUN_OUT" && fail "C has A as a peer"

check "every node verifies, and holds the same records"
verify_ok a b c
fsck_ok a b c
ids_a=$(ids_of a)
same "$(ids_of b)" "$ids_a" "record ids on B (against A)"
same "$(ids_of c)" "$ids_a" "record ids on C (against A)"
same "$(echo "$ids_a" | wc -l)" 5 "number of records"
serve_stop a
serve_stop b
serve_stop c

# Relays can make the same merge independently: two merge commits with one tree. Merging those
# two changes nothing, and a later merge against that line then sees one side with no change at
# all since the merge base. D joins the chain as a second middle node (still no A - C contact).

# session FROM TO: FROM syncs with TO, TO serving for this one session only (so no serve syncs
# on its own in between).
session() {
    serve_start "$2"
    must "$TWIN" --dir "$(dir_of "$1")" peer add "$2" "127.0.0.1:${SERVE_PORT[$2]}" "$(key_of "$2")"
    run "$TWIN" --dir "$(dir_of "$1")" sync "$2"
    if [ "$RUN_STATUS" -ne 0 ]; then
        show_run
        fail "$1 syncing with $2: exit $RUN_STATUS"
    fi
    cp "$RUN_OUT" "$SYNC_TMP/session.out"
    must "$TWIN" --dir "$(dir_of "$1")" peer remove "$2"
    serve_stop "$2"
    cp "$SYNC_TMP/session.out" "$RUN_OUT"
    note "$1: $(cat "$RUN_OUT")"
}
# From here on a node knows a peer only for the length of one session.
must "$TWIN" --dir "$(dir_of a)" peer remove b
must "$TWIN" --dir "$(dir_of b)" peer remove a
must "$TWIN" --dir "$(dir_of b)" peer remove c
must "$TWIN" --dir "$(dir_of c)" peer remove b

tree_of() {
    ngit "$1" rev-parse "refs/heads/main^{tree}"
}

check "D joins (it meets A, B and C; A and C still never meet); all four on one head"
node_new d XE-EXAMPLE-D UG south a
node_admit a d
session d a
session b a
session c b
same_heads a b c d

check "X written at A, Y at B; A with B, and D with C, merge the two: one tree, two merge commits"
add_rec a note title="X, written at A" partnership="$p"
x=$REC_ID
session d a # D holds X
add_rec b note title="Y, written at B" partnership="$p"
y=$REC_ID
session c b # C holds Y
session a b # A and B: M1, the merge of X and Y
session d c # D and C: M2, the merge of X and Y again
m1=$(head_of a)
m2=$(head_of d)
[ "$m1" != "$m2" ] || fail "the two merges are one commit"
same "$(tree_of d)" "$(tree_of a)" "tree of M2 (against M1)"

check "D merges M2 with M1 at B: a merge that changes nothing (M3, same tree)"
add_rec a note title="Z, written at A after M1" partnership="$p"
z=$REC_ID
session d b
m3=$(head_of b)
same "$(ngit b rev-list --parents -n 1 "$m3" | wc -w)" 3 "parents of M3"
same "$(tree_of b)" "$(ngit a rev-parse "$m1^{tree}")" "tree of M3 (against M1)"

check "A (Z on top of M1) syncs with B (M3): the base is M1 and B's side changed nothing"
session a b
out_has "merged"
ngit a merge-base --is-ancestor "$m3" "$(head_of a)" || fail "A's head does not contain M3"
session c b
session d b
same_heads a b c d

check "every node verifies and holds every record"
verify_ok a b c d
fsck_ok a b c d
ids_a=$(ids_of a)
for n in b c d; do
    same "$(ids_of "$n")" "$ids_a" "record ids on $n (against A)"
done
same "$(echo "$ids_a" | wc -l)" 8 "number of records"
for id in "$x" "$y" "$z"; do
    tw c show "$id" >/dev/null
done
echo "PASS"
