#!/usr/bin/env bash
# twin peer list and the peers a join leaves behind. With no peers the list says so, and --json
# gives an empty list. A joiner that gives its address (twin join --address) becomes the
# inviter's peer there, and the inviter syncs with it; the joiner's entry for the inviter shows
# the join's first sync at once, and every list shows the last sync right after it ran. An
# address no partner could reach is refused before anything is made.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# free_port: a port of 127.0.0.1 that nothing listens on now (the kernel's choice).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# peer_json NODE PEER FIELD: a field of NODE's peer entry PEER, from twin --json peer list.
peer_json() {
    tw "$1" --json peer list | jq -r --arg p "$2" --arg f "$3" '.[] | select(.name == $p) | .[$f]'
}

check "a node without peers says so, and --json gives an empty list"
node_new north XE-EXAMPLE-N NL north
must "$TWIN" --dir "$(dir_of north)" peer list
out_has "no peers: add one with twin peer add NAME HOST:PORT NODEKEY"
must "$TWIN" --dir "$(dir_of north)" --json peer list
same "$(jq -c . "$RUN_OUT")" "[]" "twin --json peer list without peers"

check "a join address no partner could reach is refused, and leaves no node behind"
serve_start north
token=$(tw north invite --expires 1h 2>/dev/null)
for bad in 127.0.0.1:0 127.0.0.1 "127.0.0.1:99999" ":7447"; do
    must_exit 2 "$TWIN" --dir "$(dir_of south)" join "$token" --name "Revenue Authority South" \
        --org-id XE-EXAMPLE-S --country TZ --side south --address "$bad"
    err_has "--address '$bad' is not where partners can reach this node"
    [ ! -e "$(dir_of south)" ] || fail "a refused join address left a node directory"
done

check "South joins with its address: it becomes North's peer there"
port=$(free_port)
must "$TWIN" --dir "$(dir_of south)" join "$token" --name "Revenue Authority South" \
    --org-id XE-EXAMPLE-S --country TZ --side south --address "127.0.0.1:$port"
wait_log north 30 "admitted XE-EXAMPLE-S; now a peer at 127.0.0.1:$port"
must "$TWIN" --dir "$(dir_of north)" peer list
out_has "XE-EXAMPLE-S"
out_has "127.0.0.1:$port"
out_has "$(key_of south)"
same "$(peer_json north XE-EXAMPLE-S address)" "127.0.0.1:$port" "South's address at North"

check "right after the join, South's entry for North shows the first sync"
must "$TWIN" --dir "$(dir_of south)" peer list
out_has "XE-EXAMPLE-N"
grep -E '^  last sync: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC, ok: received [0-9]+ commits' \
    "$RUN_OUT" >/dev/null || { show_run; fail "South's peer list does not show the first sync"; }
[ "$(peer_json south XE-EXAMPLE-N last_time)" -gt 0 ] || fail "no last_time in South's entry"
# South keeps its address, as twin serve keeps where it listens, for invites it may make.
same "$(ngit south config twin.address)" "127.0.0.1:$port" "South's recorded address"

check "once South serves there, North syncs with it, and the list shows that sync right after"
serve_start south 3600 "$port"
serve_stop north # its rounds would record sessions of their own in the same entry
add_rec north note title="Written at North after South joined"
sync_ok north XE-EXAMPLE-S
same_heads north south >/dev/null
must "$TWIN" --dir "$(dir_of north)" peer list
last=$(grep '^  last sync: ' "$RUN_OUT")
[[ $last == *"ok: received 0 commits, sent 1"* ]] || { show_run; fail "North's list shows '$last'"; }
[[ $(peer_json north XE-EXAMPLE-S last_result) == "ok: received 0 commits, sent 1"* ]] ||
    fail "North's --json list shows '$(peer_json north XE-EXAMPLE-S last_result)'"

check "the first twin sync between two nodes added by hand shows in the list at once"
node_new east XE-EXAMPLE-E KE south north
node_admit north east
sync_ok north XE-EXAMPLE-S # South learns that East is a member
must "$TWIN" --dir "$(dir_of east)" peer add south 127.0.0.1:"$port" "$(key_of south)"
must "$TWIN" --dir "$(dir_of east)" peer list
out_has "last sync: never"
sync_ok east south
must "$TWIN" --dir "$(dir_of east)" peer list
grep -E '^  last sync: .* UTC, ok: received [1-9][0-9]* commits' "$RUN_OUT" >/dev/null ||
    { show_run; fail "East's list does not show its first sync"; }

echo "PASS"
