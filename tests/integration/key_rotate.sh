#!/usr/bin/env bash
# Key rotation completes or is undone as a whole. The rotation is stopped (TWIN_TEST_STOP) at
# each of its steps: readers, a writer and a serve session run beside it and must not take the
# new key away; a kill at each step leaves a node that signs with the key history says is
# active. Two rotations at once both complete; an observer rotates its own key; temporary key
# files a kill left are removed; a missing node.key is named as such.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# own_key NAME: the key node NAME signs with now (twin id reads node.key).
own_key() {
    tw "$1" id | head -n 1
}

# active_keys NAME ORG: the keys member ORG holds active in node NAME's history.
active_keys() {
    tw "$1" --json member list |
        jq -r --arg org "$2" '.[] | select(.org_id == $org) | .keys[] | select(.state == "active") | .key'
}

# key_agrees NAME ORG: node NAME signs with the one key its history makes active for ORG.
key_agrees() {
    local active own
    active=$(active_keys "$1" "$2")
    own=$(own_key "$1")
    [ "$(echo "$active" | wc -l)" -eq 1 ] || fail "$2 has $(echo "$active" | wc -l) active keys"
    [ "$own" = "$active" ] || fail "node $1 signs with $own, but history makes $active active"
}

no_key_leftovers() {
    local left
    left=$(find "$(dir_of "$1")" -maxdepth 1 -name 'node.key.new*' -o -maxdepth 1 -name 'node.key*.tmp-*')
    [ -z "$left" ] || fail "key files left behind on $1: $left"
}

# stop_at NAME STEP: starts `twin key rotate` on NAME, which stops itself at STEP; waits
# (bounded) until it has. Sets ROT_PID.
ROT_PID=
stop_at() {
    local start=$SECONDS state=""
    TWIN_TEST_STOP=$2 "$TWIN" --dir "$(dir_of "$1")" key rotate >"$SYNC_TMP/rotate.out" 2>&1 &
    ROT_PID=$!
    SYNC_BG_PIDS+=("$ROT_PID")
    until [[ $state == T* ]]; do
        state=$(ps -o stat= -p "$ROT_PID" 2>/dev/null || true)
        [ -n "$state" ] || fail "twin key rotate ended before step $2: $(cat "$SYNC_TMP/rotate.out")"
        [ $((SECONDS - start)) -lt 30 ] || fail "twin key rotate did not reach step $2 in 30 s"
        sleep 0.05
    done
}

check "North founds and serves; South joins as editor, Watcher as observer; South serves too"
node_new north XE-EXAMPLE-N NL north
serve_start north
invite_join north south XE-EXAMPLE-S editor
invite_join north watcher XE-EXAMPLE-W observer
sync_ok south XE-EXAMPLE-N
sync_ok watcher XE-EXAMPLE-N
serve_start south
peer_add north south
key_agrees south XE-EXAMPLE-S

for step in rotate-saved rotate-committed rotate-linked; do
    check "a rotation stopped at $step: readers, a writer and a session beside it keep the new key"
    old=$(own_key south)
    stop_at south "$step"
    [ -e "$(dir_of south)/node.key.new" ] || fail "no node.key.new at $step"
    must "$TWIN" --dir "$(dir_of south)" status
    must "$TWIN" --dir "$(dir_of south)" list
    # A write beside the rotation either lands (signed by the key still active) or is refused
    # cleanly for a key the rotation has just retired; either way nothing is lost.
    run "$TWIN" --dir "$(dir_of south)" add note title="Written beside $step"
    case $RUN_STATUS in
    0) note "write beside $step: landed" ;;
    1 | 2) grep -q "key is retired" "$RUN_ERR" || { show_run; fail "write beside $step failed"; } ;;
    *) show_run; fail "write beside $step exited $RUN_STATUS" ;;
    esac
    sync_ok north south
    [ -e "$(dir_of south)/node.key.new" ] || fail "node.key.new was taken away while $step stood"
    kill -CONT "$ROT_PID"
    wait_exit "$ROT_PID" 30
    [ "$WAIT_STATUS" -eq 0 ] || fail "the rotation exited $WAIT_STATUS: $(cat "$SYNC_TMP/rotate.out")"
    [ "$(own_key south)" != "$old" ] || fail "the rotation kept the old key"
    no_key_leftovers south
    key_agrees south XE-EXAMPLE-S
    add_rec south note title="Signed after the rotation stopped at $step"
    sync_ok south XE-EXAMPLE-N
    verify_ok south north
done

for step in key-save-tmp rotate-saved rotate-committed rotate-linked; do
    check "a rotation killed at $step: the next open settles it by history"
    old=$(own_key south)
    stop_at south "$step"
    kill -KILL "$ROT_PID"
    wait "$ROT_PID" 2>/dev/null || true
    must "$TWIN" --dir "$(dir_of south)" status
    no_key_leftovers south
    key_agrees south XE-EXAMPLE-S
    case $step in
    key-save-tmp | rotate-saved)
        same "$(own_key south)" "$old" "South's key after a rotation killed before its commit"
        ;;
    *)
        [ "$(own_key south)" != "$old" ] || fail "the committed rotation was not completed"
        [ -e "$(dir_of south)/node.key.prev" ] || fail "no node.key.prev after the completion"
        ;;
    esac
    add_rec south note title="Signed after the kill at $step"
    sync_ok south XE-EXAMPLE-N
    verify_ok south north
done

check "two rotations at once both complete, one after the other"
n_before=$(tw south --json member list | jq '.[] | select(.org_id == "XE-EXAMPLE-S") | .keys | length')
"$TWIN" --dir "$(dir_of south)" key rotate >"$SYNC_TMP/r1.out" 2>&1 &
r1=$!
"$TWIN" --dir "$(dir_of south)" key rotate >"$SYNC_TMP/r2.out" 2>&1 &
r2=$!
SYNC_BG_PIDS+=("$r1" "$r2")
wait_exit "$r1" 60
[ "$WAIT_STATUS" -eq 0 ] || fail "first rotation: $(cat "$SYNC_TMP/r1.out")"
wait_exit "$r2" 60
[ "$WAIT_STATUS" -eq 0 ] || fail "second rotation: $(cat "$SYNC_TMP/r2.out")"
n_after=$(tw south --json member list | jq '.[] | select(.org_id == "XE-EXAMPLE-S") | .keys | length')
same "$n_after" "$((n_before + 2))" "South's keys after two rotations"
key_agrees south XE-EXAMPLE-S
no_key_leftovers south
add_rec south note title="Signed after two rotations"
verify_ok south

check "an observer rotates its own key, and North accepts it"
old=$(own_key watcher)
must "$TWIN" --dir "$(dir_of watcher)" key rotate
[ "$(own_key watcher)" != "$old" ] || fail "the observer's rotation kept the old key"
sync_ok watcher XE-EXAMPLE-N
# North took the rotation: its head holds Watcher's (the serves may have moved it on since).
head_contains north "$(head_of watcher)"
same "$(active_keys north XE-EXAMPLE-W)" "$(own_key watcher)" "Watcher's active key at North"
verify_ok north
must_fail "$TWIN" --dir "$(dir_of watcher)" add note title="Observers still write no records"
err_has "observer"

check "South's running serve answers with its new key, and with the one it replaced"
# North's entry for South names the key South holds now; Watcher's will name the new one.
k1=$(own_key south)
tw north peer remove south >/dev/null
must "$TWIN" --dir "$(dir_of north)" peer add south "127.0.0.1:${SERVE_PORT[south]}" "$k1"
must "$TWIN" --dir "$(dir_of south)" key rotate
k2=$(own_key south)
[ "$k2" != "$k1" ] || fail "the rotation kept the old key"
id2=$(tw south id | sed -n 's/^node id: *//p')
wait_log south 10 "node key changed: answering as node $id2, and as the keys it replaced"
sync_ok north south # expects the replaced key
must "$TWIN" --dir "$(dir_of watcher)" peer add south "127.0.0.1:${SERVE_PORT[south]}" "$k2"
sync_ok watcher south # expects the new key
head_contains south "$(head_of watcher)"

check "temporary key files a kill left are removed when the node next opens"
printf 'secret\n' >"$(dir_of south)/node.key.new.tmp-Ab12Cd"
printf 'secret\n' >"$(dir_of south)/node.key.tmp-Ef34Gh"
must "$TWIN" --dir "$(dir_of south)" status
no_key_leftovers south

check "a missing node.key is named as a missing key, not as a missing node"
serve_stop south
mv "$(dir_of south)/node.key" "$SYNC_TMP/south.key"
must_fail "$TWIN" --dir "$(dir_of south)" status
err_has "node key"
err_has "is missing"
grep -q "no twin node" "$RUN_ERR" && fail "a missing key was reported as no node"
mv "$SYNC_TMP/south.key" "$(dir_of south)/node.key"
must "$TWIN" --dir "$(dir_of south)" status

serve_stop north
echo "PASS"
