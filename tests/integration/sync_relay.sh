#!/usr/bin/env bash
# A chain A - B - C: A and C never talk to each other, B has both as peers. Changes made at
# either end reach the other through B, by explicit syncs and then by B's serve passing them on
# by itself soon after its branch moves.
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
wait_log a 10 "sync with b: ok"
wait_log c 10 "sync with b: ok"
add_rec a note title="Relayed by serve" partnership="$p"
n_a3=$REC_ID
# No explicit sync: A's serve sees its branch move and syncs with B; B's branch moves, and B's
# serve syncs with C.
wait_heads 15 a b c
tw c show "$n_a3" >/dev/null
wait_log a 10 "sync with b: ok, received 0 commits, sent 1"
wait_log b 10 "sync with c: ok, received 0 commits, sent 1"

check "A and C never talked to each other"
id_a=$(node_id a)
id_c=$(node_id c)
for log in "$SYNC_TMP"/serve-a.log*; do
    grep -q "node ${id_c:0:16}" "$log" && fail "A's serve log shows a session with C"
done
grep -q "node ${id_a:0:16}" "${SERVE_LOG[c]}" && fail "C's serve log shows a session with A"
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
echo "PASS"
