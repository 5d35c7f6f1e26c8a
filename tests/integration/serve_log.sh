#!/usr/bin/env bash
# twin serve's log: every line has a level, and --log-level shows the lines up to it (a debug
# line absent at info, present at debug); sessions name the other node by its org id and this
# node's peer name; refusals are a warning and a failed session an error. Told by JOURNAL_STREAM
# that its output is the journal, serve writes each line with its level as "<N>" and no time;
# elsewhere each line has its time.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# wait_lines NAME SECONDS ERE: polls serve NAME's log until a line matches from its start.
wait_lines() {
    wait_log_re "$1" "$2" "^$3"
}

node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z '

check "serve at debug, not to the journal: lines start with their time, debug lines among them"
serve_start_args north --listen 127.0.0.1:0 --interval 3600 --log-level debug
must "$TWIN" --dir "$(dir_of south)" peer add north "127.0.0.1:${SERVE_PORT[north]}" "$(key_of north)"

check "serve at info, to the journal: lines start with their level, with no time of their own"
SERVE_JOURNAL=1 serve_start_args south --listen 127.0.0.1:0 --interval 3600
wait_lines south 10 "<6>listening on 127\.0\.0\.1:${SERVE_PORT[south]} for network "
# North's first round, with no peer yet, has run: the note below moves the head it watches.
wait_lines north 30 "${stamp}round of sessions with 0 peers \(the interval is up\)$"
peer_add north south
add_rec north note title="Kick-off"
wait_lines north 30 "${stamp}sync with XE-EXAMPLE-S \(peer south\): ok, received 0 commits, sent "
wait_lines north 10 "${stamp}sync with XE-EXAMPLE-S \(peer south\): connecting to 127\.0\.0\.1:${SERVE_PORT[south]}$"
wait_lines north 10 "${stamp}round of sessions with 1 peer \(the head moved\)$"

check "a session's line names the other node by its org id and peer name"
# South has North's history now, so it knows North as a member.
add_rec north note title="Second note"
# The note reaches South by North's round or by South's own, whichever runs first: either line
# names North so.
wait_lines south 30 "<6>(session from XE-EXAMPLE-N \(peer north\) at 127\.0\.0\.1:[0-9]+|sync with XE-EXAMPLE-N \(peer north\)): ok, received 1 commit, sent 0"
wait_lines north 30 "${stamp}session from XE-EXAMPLE-S \(peer south\) at 127\.0\.0\.1:[0-9]+: (begins|ok)"

check "a node the membership does not know is named by its peer entry and node id"
node_new east XE-EXAMPLE-E KE south north # of the network, never admitted
east_id=$(tw east id | sed -n 's/^node id: *//p')
must "$TWIN" --dir "$(dir_of south)" peer add east 127.0.0.1:9 "$(key_of east)"
must "$TWIN" --dir "$(dir_of east)" peer add south "127.0.0.1:${SERVE_PORT[south]}" "$(key_of south)"
must "$TWIN" --dir "$(dir_of east)" sync south
wait_lines south 30 "<6>session from peer east \(node ${east_id:0:16}, not a member\) at 127\.0\.0\.1:[0-9]+: ok"

check "refused connections are summed up as a warning"
node_new west XE-EXAMPLE-W UG south north # of the network, never admitted, no peer entry
west_id=$(tw west id | sed -n 's/^node id: *//p')
must "$TWIN" --dir "$(dir_of west)" peer add south "127.0.0.1:${SERVE_PORT[south]}" "$(key_of south)"
must_fail "$TWIN" --dir "$(dir_of west)" sync south
wait_lines south 15 "<4>refused 1 connection: 1 keys not let in \(latest 127\.0\.0\.1:[0-9]+: handshake: node ${west_id}"

check "a failed session is an error"
serve_stop north
add_rec south note title="Written while North is down"
must "$TWIN" --dir "$(dir_of south)" peer add north-again "127.0.0.1:${SERVE_PORT[north]}" "$(key_of north)"
serve_stop south
SERVE_JOURNAL=1 serve_start_args south --listen 127.0.0.1:0 --interval 3600
wait_lines south 30 "<3>sync with XE-EXAMPLE-N \(peer north\) \(127\.0\.0\.1:${SERVE_PORT[north]}\): failed: "
wait_lines south 30 "<3>sync with XE-EXAMPLE-N \(peer north-again\) \(127\.0\.0\.1:${SERVE_PORT[north]}\): failed: "
serve_stop south

check "at info, no debug line; to the journal, no line without its level or with a time"
for log in "$SYNC_TMP"/serve-south.log*; do
    grep -E '^<7>|round of sessions|connecting to' "$log" >/dev/null &&
        fail "south's log at info has debug lines: $(cat "$log")"
    grep -vE '^<[3467]>[a-z]' "$log" >/dev/null && fail "a line of south's journal log has no level: $(cat "$log")"
    grep -E "$stamp" "$log" >/dev/null && fail "south's journal log has times: $(cat "$log")"
done
grep -E '^<6>stopped$' "${SERVE_LOG[south]}" >/dev/null || fail "south's log does not end with <6>stopped"

check "JOURNAL_STREAM naming another file than stdout is not the journal: times are kept"
JOURNAL_STREAM=1:1 timeout 60 "$TWIN" --dir "$(dir_of south)" serve --listen nowhere \
    >"$SYNC_TMP/other.out" 2>&1 && fail "serve on 'nowhere' started"
JOURNAL_STREAM=$(stat -c '%d:%i' "$SYNC_TMP/other.out") serve_start_args south --listen 127.0.0.1:0
wait_lines south 10 "${stamp}listening on "
serve_stop south

echo "PASS"
