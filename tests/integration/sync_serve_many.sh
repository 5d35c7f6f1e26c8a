#!/usr/bin/env bash
# One `twin serve`, four members syncing with it at the same moment, each with writes of its
# own, three times over. Every session succeeds or fails cleanly (exit 0, or 1 for losing the
# race for North's branch, and one log line per session at the server); North's branch only ever
# moves forward; two sequential rounds then bring all five nodes to one head that verifies, with
# every record written.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

members=(m1 m2 m3 m4)
countries=(TZ KE GH UG)
start_time=$SECONDS

check "North founds and serves; four members join, are admitted, and take the history"
node_new north XE-EXAMPLE-N NL north
for i in 0 1 2 3; do
    node_new "${members[i]}" "XE-EXAMPLE-S$((i + 1))" "${countries[i]}" south north
    node_admit north "${members[i]}"
done
add_rec north partnership title="Shared partnership" partnership_type=public_partnership
p=$REC_ID
serve_start north
for m in "${members[@]}"; do
    peer_add "$m" north
    sync_ok "$m"
done
same_heads north "${members[@]}"

written="$SYNC_TMP/written.ids"
echo "$p" >"$written"
ok_total=0
failed_total=0
for round in 1 2 3; do
    check "round $round: every member writes, then all four sync with North at once"
    for m in "${members[@]}"; do
        add_rec "$m" note title="Round $round at $m" partnership="$p"
        echo "$REC_ID" >>"$written"
    done
    add_rec north note title="Round $round at North" partnership="$p"
    echo "$REC_ID" >>"$written"
    north_before=$(head_of north)
    sessions_before=$(grep -c ' session from ' "${SERVE_LOG[north]}" || true)
    pids=()
    for m in "${members[@]}"; do
        "$TWIN" --dir "$(dir_of "$m")" sync >"$SYNC_TMP/$m.out" 2>&1 &
        pids+=("$!")
        SYNC_BG_PIDS+=("$!")
    done
    ok=0
    sessions=0
    for i in 0 1 2 3; do
        m=${members[i]}
        wait_exit "${pids[i]}" 60
        clean_of_sanitizers "$SYNC_TMP/$m.out" "$m's sync"
        case $WAIT_STATUS in
        0)
            grep -q '^sync with north: ok, received [0-9]* commits\?, sent [0-9]*' "$SYNC_TMP/$m.out" ||
                fail "$m's sync exited 0 without an ok line: $(cat "$SYNC_TMP/$m.out")"
            ok=$((ok + 1))
            ;;
        1)
            # Losing the race for North's branch is the one expected failure.
            grep -q '^twin: sync with north (127\.0\.0\.1:[0-9]*): failed: .*changed during the session' \
                "$SYNC_TMP/$m.out" || fail "$m's sync failed unexpectedly: $(cat "$SYNC_TMP/$m.out")"
            ;;
        *)
            cat "$SYNC_TMP/$m.out" >&2
            fail "$m's sync exited $WAIT_STATUS: a crash or a hang, not a clean failure"
            ;;
        esac
        # A sync that lost a race runs again and says how many sessions it took.
        tries=$(sed -n 's/.*(\([0-9][0-9]*\) sessions, [0-9]* ms)$/\1/p' "$SYNC_TMP/$m.out")
        sessions=$((sessions + ${tries:-1}))
        note "$m: $(head -c 160 "$SYNC_TMP/$m.out")"
    done
    [ "$ok" -ge 1 ] || fail "round $round: no session succeeded"
    ok_total=$((ok_total + ok))
    failed_total=$((failed_total + 4 - ok))
    # One log line per session the members made. The server writes each at its session's end,
    # which may be after the member has exited, so wait for them all before counting.
    start=$SECONDS
    until [ "$(($(grep -c ' session from ' "${SERVE_LOG[north]}") - sessions_before))" -ge "$sessions" ]; do
        [ $((SECONDS - start)) -lt 10 ] ||
            fail "North logged fewer than the members' $sessions sessions in round $round"
        sleep 0.1
    done
    same "$(($(grep -c ' session from ' "${SERVE_LOG[north]}") - sessions_before))" "$sessions" \
        "sessions North logged in round $round"
    ngit north merge-base --is-ancestor "$north_before" "$(head_of north)" ||
        fail "North's branch moved backwards in round $round"
    verify_ok north
    fsck_ok north
done
note "concurrent sessions: $ok_total succeeded, $failed_total failed cleanly"

check "two sequential rounds bring everyone to one head"
for m in "${members[@]}"; do sync_ok "$m"; done
for m in "${members[@]}"; do sync_ok "$m"; done
same_heads north "${members[@]}"

check "every node verifies, is fsck clean, and holds every record written"
verify_ok north "${members[@]}"
fsck_ok north "${members[@]}"
for n in north "${members[@]}"; do
    has_ids "$n" "$written"
done
same "$(ids_of north | wc -l)" "$(wc -l <"$written")" "records at North"
serve_stop north
echo "PASS ($((SECONDS - start_time)) s)"
