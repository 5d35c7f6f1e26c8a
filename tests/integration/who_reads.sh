#!/usr/bin/env bash
# Who may read: sessions are authorised by the membership at the head. A revoked key and a
# removed member are refused at the start of the session with a refusal that names why, the
# admin's node drops their peer entries, and neither twin sync nor twin serve sends them new
# history, even when an entry is added back by hand.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

check "North founds and serves; South and East join; East serves and is North's peer"
node_new north XE-EXAMPLE-N NL north
serve_start north
invite_join north south XE-EXAMPLE-S
invite_join north east XE-EXAMPLE-E
serve_start east
peer_add north east
# South is North's peer too, at an address North never needs to reach in this test.
must "$TWIN" --dir "$(dir_of north)" peer add south 127.0.0.1:9 "$(key_of south)"
sync_ok north east
same_heads north east

check "North revokes East's key: the peer entry is dropped, and East is refused by name"
east_key=$(tw east id | head -n 1)
must "$TWIN" --dir "$(dir_of north)" member revoke-key XE-EXAMPLE-E "$east_key"
err_has "dropped peer east"
tw north peer list | grep '^east' >/dev/null && fail "North still lists East as a peer"
add_rec north note title="East must not read this"
secret=$REC_ID
must_fail "$TWIN" --dir "$(dir_of east)" sync XE-EXAMPLE-N
grep -q "this key of XE-EXAMPLE-E is revoked" "$RUN_ERR" "$RUN_OUT" ||
    { show_run; fail "East was not told its key is revoked"; }
tw east list --all --json | jq -e --arg id "$secret" 'map(select(.id == $id)) | length == 0' \
    >/dev/null || fail "East received a record written after its key was revoked"

check "an entry added back by hand: twin sync and twin serve still send East nothing"
peer_add north east
east_head=$(head_of east)
must_fail "$TWIN" --dir "$(dir_of north)" sync east
err_has "is revoked: this node no longer syncs with it"
same "$(head_of east)" "$east_head" "East's head after North's refused sync"
serve_stop north
serve_start north 1
add_rec north note title="Written while serve runs its rounds"
wait_log north 30 "sync with XE-EXAMPLE-E (peer east) (127.0.0.1:${SERVE_PORT[east]}): failed: the peer's key of XE-EXAMPLE-E is revoked"
same "$(head_of east)" "$east_head" "East's head while North serves"

check "North removes South: the entry is dropped, and South is refused as removed"
must "$TWIN" --dir "$(dir_of south)" peer remove XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of south)" peer add XE-EXAMPLE-N "127.0.0.1:${SERVE_PORT[north]}" "$(key_of north)"
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of north)" member remove XE-EXAMPLE-S
err_has "dropped peer south"
must_fail "$TWIN" --dir "$(dir_of south)" sync XE-EXAMPLE-N
grep -q "XE-EXAMPLE-S was removed from network" "$RUN_ERR" "$RUN_OUT" ||
    { show_run; fail "South was not told it was removed"; }
verify_ok north

serve_stop east
serve_stop north
echo "PASS"
