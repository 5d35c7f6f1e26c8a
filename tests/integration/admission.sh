#!/usr/bin/env bash
# Members get through a flood. Against North's serve, twin_test_flood holds 200 idle TCP
# connections, 64 half-open handshakes, 64 throw-away keys let in by an open invite, and one
# member's session that sends hello and then nothing (the member tries again, as a member's node
# does, if it arrives while the node is still dropping the flood's connections). While all of that is held, South syncs
# with North ten times: every sync succeeds, each within 2 s (the plain build; sanitizer builds
# run several times slower and get 10 s). The idle member's session is closed within seconds,
# refusals reach the log as summary lines rather than one line each, and serve's peak resident
# set stays under 64 MB (the plain build; sanitizers map shadow memory).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

FLOOD=${TWIN_FLOOD:-$(dirname "$TWIN")/twin_test_flood}
[ -x "$FLOOD" ] || fail "no twin_test_flood at $FLOOD (build it, or set TWIN_FLOOD)"
limit_ms=2000
[ "${TWIN_SANITIZED:-OFF}" = ON ] && limit_ms=10000

check "North founds and serves; South and East are members; an invite is open"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_new east XE-EXAMPLE-E KE south north
node_admit north south
node_admit north east
serve_start north
peer_add south north
sync_ok south north
tw north invite >/dev/null 2>&1 || fail "North could not make an invite"

check "the flood: 200 idle connections, 64 half-open handshakes, 64 invite keys, East idle after hello"
ready="$SYNC_TMP/flood.ready"
"$FLOOD" --to "127.0.0.1:${SERVE_PORT[north]}" --node "$(key_of north)" \
    --network "$(network_of north)" --idle 200 --half-open 64 --claims 64 \
    --member "$(dir_of east)/node.key" --ready "$ready" 2>"$SYNC_TMP/flood.err" &
SYNC_BG_PIDS+=($!)
start=$SECONDS
until [ -s "$ready" ]; do
    [ $((SECONDS - start)) -lt 120 ] || fail "the flood did not open its connections within 120 s"
    sleep 0.1
done
note "$(cat "$ready")"
grep -q "member 1/1" "$ready" || fail "East's session was not let in: $(cat "$SYNC_TMP/flood.err")"

check "South syncs ten times while the flood is held: each succeeds within $limit_ms ms"
for i in $(seq 1 10); do
    add_rec south note title="South note $i under the flood"
    t0=$(date +%s%N)
    must "$TWIN" --dir "$(dir_of south)" sync north
    ms=$((($(date +%s%N) - t0) / 1000000))
    note "sync $i: ${ms} ms: $(head -n 1 "$RUN_OUT")"
    [ "$ms" -le "$limit_ms" ] || fail "sync $i took ${ms} ms under the flood (limit ${limit_ms} ms)"
done
same_heads north south

check "East's idle session is closed within seconds"
east_id=$(tw east id | sed -n 's/^node id: *//p')
wait_log_re north 20 "session from XE-EXAMPLE-E( \(peer east\))? at 127\.0\.0\.1:[0-9]+: failed: .*no answer within the deadline of 5000 ms"

check "refusals are summed up, not logged one by one"
wait_log_re north 20 "refused [0-9]+ connections: .*dropped before authenticating to make room"
wait_log north 20 "over the invite claim limit"
lines=$(grep -c " refused " "${SERVE_LOG[north]}" || true)
note "serve wrote $lines refusal lines for $((200 + 64 + 64)) hostile connections"
[ "$lines" -le 12 ] || fail "serve wrote $lines refusal lines; expected a few summaries"

check "serve's peak resident set"
pid=$(serve_child north)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
note "serve's peak resident set: $((hwm / 1024)) MB"
if [ "${TWIN_SANITIZED:-OFF}" != ON ]; then
    [ "$hwm" -lt $((64 * 1024)) ] || fail "serve's peak resident set is $((hwm / 1024)) MB (limit 64 MB)"
fi
serves_alive north
verify_ok north
echo "PASS"
