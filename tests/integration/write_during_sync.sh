#!/usr/bin/env bash
# Local writes and syncs do not hold each other up. South imports thousands of records and syncs
# them into North's serve, three times, while North's own `twin add` runs in a loop. Each sync
# succeeds although North's branch moves under every session (the responder merges the local
# writes instead of refusing), and no local write waits for the sync: each takes at most 1 s (the
# plain build; sanitizer builds get 5 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

ROWS=${TWIN_WRITE_SYNC_ROWS:-5000}
limit_ms=1000
[ "${TWIN_SANITIZED:-OFF}" = ON ] && limit_ms=5000

check "North founds and serves; South is a member and North's peer"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
sync_ok south north

check "North writes while its serve is about to take South's session: the session merges it"
serve_stop north
export TWIN_TEST_STOP=sync-before-advance # serve stops itself there (SIGSTOP)
serve_start north
unset TWIN_TEST_STOP
tw south peer remove north >/dev/null
peer_add south north
add_rec south note title="South note before the stop"
"$TWIN" --dir "$(dir_of south)" sync north >"$SYNC_TMP/sync.out" 2>&1 &
sync_pid=$!
SYNC_BG_PIDS+=("$sync_pid")
serve_pid=$(serve_child north)
start=$SECONDS state=""
until [[ $state == T* ]]; do
    state=$(ps -o stat= -p "$serve_pid" 2>/dev/null || true)
    [ -n "$state" ] || fail "North's serve ended before the session's branch move"
    [ $((SECONDS - start)) -lt 30 ] || fail "North's serve did not reach the branch move in 30 s"
    sleep 0.05
done
add_rec north note title="North note written during the session"
local_id=$REC_ID
kill -CONT "$serve_pid"
wait "$sync_pid" || {
    cat "$SYNC_TMP/sync.out" >&2
    fail "South's sync failed after North wrote during it"
}
note "$(head -n 1 "$SYNC_TMP/sync.out")"
grep -q "sessions," "$SYNC_TMP/sync.out" && fail "the sync needed more than one session"
wait_log north 10 "ok, received 1 commit, sent 0, merged"
tw north show "$local_id" >/dev/null || fail "North's local write is gone"
serve_stop north
serve_start north
tw south peer remove north >/dev/null
peer_add south north

check "South imports $ROWS records"
awk -v n="$ROWS" 'BEGIN { print "title,body"; for (i = 1; i <= n; i++) printf "South note %d,Text of note %d\n", i, i }' >"$SYNC_TMP/notes.csv"
must "$TWIN" --dir "$(dir_of south)" import "$SYNC_TMP/notes.csv" --type note

local_writes=0
for round in 1 2 3; do
    check "round $round: South syncs while North writes in a loop"
    add_rec south note title="South note of round $round"
    "$TWIN" --dir "$(dir_of south)" sync north >"$SYNC_TMP/sync.out" 2>&1 &
    sync_pid=$!
    SYNC_BG_PIDS+=("$sync_pid")
    max=0 n=0
    while kill -0 "$sync_pid" 2>/dev/null || [ "$n" -lt 3 ]; do
        t0=$(date +%s%N)
        must "$TWIN" --dir "$(dir_of north)" add note title="North note $round.$n"
        ms=$((($(date +%s%N) - t0) / 1000000))
        [ "$ms" -le "$max" ] || max=$ms
        n=$((n + 1))
    done
    wait "$sync_pid" || {
        cat "$SYNC_TMP/sync.out" >&2
        fail "round $round: South's sync failed while North wrote"
    }
    clean_of_sanitizers "$SYNC_TMP/sync.out" "South's sync"
    local_writes=$((local_writes + n))
    note "$(head -n 1 "$SYNC_TMP/sync.out"); North wrote $n times, the slowest write took ${max} ms"
    [ "$max" -le "$limit_ms" ] || fail "a local write took ${max} ms during a sync (limit ${limit_ms} ms)"
done

check "both nodes end with every record"
sync_ok south north
same_heads north south
same "$(tw north list --json | jq length)" "$((ROWS + 5 + local_writes))" "records on North"
verify_ok north
echo "PASS"
