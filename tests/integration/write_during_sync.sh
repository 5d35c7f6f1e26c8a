#!/usr/bin/env bash
# Local writes and syncs do not hold each other up. With North's serve stopped in the middle of a
# session (its received commits not yet checked, then about to move its branch), a local write on
# North is done and the session then merges it: no write waits for the check or for the session.
# Then South imports thousands of records and syncs them into North's serve, three times, while
# North's own `twin add` runs in a loop. Each sync succeeds although North's branch moves under
# every session (the responder merges the local writes instead of refusing); the slowest local
# write of each round is printed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

ROWS=${TWIN_WRITE_SYNC_ROWS:-5000}
# No write may wait for a session: one that takes this long did (the figures are printed; a write
# takes well under a second on an idle machine, and as long as the load makes it otherwise).
hang_ms=60000

check "North founds and serves; South is a member and North's peer"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
sync_ok south north

# write_while_stopped STEP WHAT: South syncs into North's serve, which stops itself at STEP of
# the session (TWIN_TEST_STOP, SIGSTOP); North writes while it is stopped there, which must not
# wait for the session; then the session goes on, merges North's write and succeeds.
write_while_stopped() {
    local step=$1 what=$2
    check "North writes while its serve is stopped $what: the write is done, the session merges it"
    serve_stop north
    export TWIN_TEST_STOP=$step
    serve_start north
    unset TWIN_TEST_STOP
    tw south peer remove north >/dev/null
    peer_add south north
    add_rec south note title="South note before the stop at $step"
    "$TWIN" --dir "$(dir_of south)" sync north >"$SYNC_TMP/sync.out" 2>&1 &
    sync_pid=$!
    SYNC_BG_PIDS+=("$sync_pid")
    serve_pid=$(serve_child north)
    local start=$SECONDS state=""
    until [[ $state == T* ]]; do
        state=$(ps -o stat= -p "$serve_pid" 2>/dev/null || true)
        [ -n "$state" ] || fail "North's serve ended before $step"
        [ $((SECONDS - start)) -lt 60 ] || fail "North's serve did not reach $step in 60 s"
        sleep 0.05
    done
    # Done while the session is stopped: a write that waited for it would never end.
    add_rec north note title="North note written at $step"
    local_id=$REC_ID
    kill -CONT "$serve_pid"
    wait "$sync_pid" || {
        cat "$SYNC_TMP/sync.out" >&2
        fail "South's sync failed after North wrote at $step"
    }
    note "$(head -n 1 "$SYNC_TMP/sync.out")"
    grep -q "sessions," "$SYNC_TMP/sync.out" && fail "the sync needed more than one session"
    wait_log north 30 "ok, received 1 commit, sent 0, merged"
    tw north show "$local_id" >/dev/null || fail "North's local write is gone"
    serve_stop north
    serve_start north
    tw south peer remove north >/dev/null
    peer_add south north
    sync_ok south north # South takes North's write and the merge: both hold one head again
    same_heads north south
}
write_while_stopped sync-before-check "with South's commits received and not yet checked"
write_while_stopped sync-before-advance "about to move its branch"

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
    [ "$max" -le "$hang_ms" ] || fail "a local write took ${max} ms during a sync: it waited for the session"
done

check "both nodes end with every record"
sync_ok south north
same_heads north south
same "$(tw north list --json | jq length)" "$((ROWS + 7 + local_writes))" "records on North"
verify_ok north
echo "PASS"
