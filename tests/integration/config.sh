#!/usr/bin/env bash
# twin config: every setting listed with its value or default, read one at a time (text and
# --json), set and unset; unknown keys, read-only keys and bad values refused with exit 2 and
# nothing changed. twin serve takes its listen address, interval and log level from the settings,
# and each of its flags overrides its setting.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# config_of NODE: the whole of NODE's twin config listing, to compare before and after.
config_of() {
    tw "$1" config
}

node_new north XE-EXAMPLE-N NL north
net=$(network_of north)

check "a new node lists every setting with its default, and what twin keeps as read-only"
must "$TWIN" --dir "$(dir_of north)" config
same "$(cat "$RUN_OUT")" "listen     127.0.0.1:7447 (default)
interval   60 (default)
log-level  info (default)
address    (unset)
name       Ministry north (XE-EXAMPLE-N) (read-only)
org-id     XE-EXAMPLE-N (read-only)
network    $net (read-only)" "twin config on a new node"

check "--json lists the same, with default, writable and the overriding flag"
must "$TWIN" --dir "$(dir_of north)" --json config
same "$(jq -r '[.[].key] | join(",")' "$RUN_OUT")" "listen,interval,log-level,address,name,org-id,network" "keys"
same "$(jq -c '.[] | select(.key == "interval")' "$RUN_OUT")" \
    '{"default":"60","flag":"--interval","key":"interval","set":false,"value":"60","writable":true}' "interval"
same "$(jq -c '.[] | select(.key == "address")' "$RUN_OUT")" \
    '{"default":null,"flag":"--address","key":"address","set":false,"value":null,"writable":true}' "address"
same "$(jq -c '.[] | select(.key == "network")' "$RUN_OUT")" \
    "{\"default\":null,\"flag\":null,\"key\":\"network\",\"set\":true,\"value\":\"$net\",\"writable\":false}" "network"

check "each setting is read on its own, its default until it is set"
same "$(tw north config listen)" "127.0.0.1:7447" "listen"
same "$(tw north config interval)" "60" "interval"
same "$(tw north config log-level)" "info" "log-level"
same "$(tw north config org-id)" "XE-EXAMPLE-N" "org-id"
same "$(tw north config name)" "Ministry north (XE-EXAMPLE-N)" "name"
same "$(tw north config network)" "$net" "network"
must_exit 1 "$TWIN" --dir "$(dir_of north)" config address
err_has "twin: address is not set and has no default (set it with: twin config address VALUE)"
same "$(tw north --json config address | jq -c '[.value, .set]')" '[null,false]' "address as JSON"

check "every writable setting is set, read back and shown as set"
for kv in listen=0.0.0.0:7450 interval=5 log-level=debug address=north.example:7447; do
    key=${kv%%=*} value=${kv#*=}
    must "$TWIN" --dir "$(dir_of north)" config "$key" "$value"
    out_has "Set $key to $value."
    same "$(tw north config "$key")" "$value" "$key after set"
    same "$(tw north --json config "$key" | jq -c '[.value, .set]')" "[\"$value\",true]" "$key as JSON"
done
must "$TWIN" --dir "$(dir_of north)" config
out_has "interval   5 (default 60)"
out_has "address    north.example:7447"
same "$(ngit north config twin.loglevel)" "debug" "log-level in the repository config"

check "unknown keys, read-only keys and bad values are refused with exit 2, nothing changed"
before=$(config_of north)
refuse() { # refuse MESSAGE ARGS...: twin config ARGS exits 2 saying MESSAGE
    local message=$1
    shift
    must_exit 2 "$TWIN" --dir "$(dir_of north)" config "$@"
    err_has "$message"
    same "$(config_of north)" "$before" "settings after: twin config $*"
}
refuse "twin: 'colour' is not a setting (the settings: listen, interval, log-level, address, name, org-id, network)" colour
refuse "twin: 'colour' is not a setting" colour blue
refuse "twin: 'colour' is not a setting" --unset colour
refuse "twin: listen 'nowhere' is not an address to listen on" listen nowhere
refuse "twin: listen '127.0.0.1:70000' is not an address to listen on" listen 127.0.0.1:70000
for bad in 0 86401 -1 60s " 60" ""; do
    refuse "twin: interval '$bad' is not a number of seconds from 1 to 86400" interval "$bad"
done
refuse "twin: 'loud' is not a log level (error, warn, info or debug)" log-level loud
refuse "twin: address 'north.example:0' is not where partners can reach this node" address north.example:0
refuse "twin: name is kept by twin and cannot be set here" name "Another Ministry"
refuse "twin: org-id is kept by twin and cannot be set here" org-id XE-EXAMPLE-X
refuse "twin: network is kept by twin and cannot be set here" network "$net"
refuse "twin: network is kept by twin and cannot be unset" --unset network
refuse "unexpected argument 'c'" interval 5 c
refuse "--unset takes only the KEY" --unset interval 5
refuse "unknown option '--all'" --all

check "--unset returns a setting to its default"
for key in listen interval log-level; do
    must "$TWIN" --dir "$(dir_of north)" config --unset "$key"
    out_has "Unset $key: back to its default,"
done
must "$TWIN" --dir "$(dir_of north)" config --unset address
out_has "Unset address."
must "$TWIN" --dir "$(dir_of north)" config --unset address # unset twice is no error
same "$(config_of north | head -n 4)" "listen     127.0.0.1:7447 (default)
interval   60 (default)
log-level  info (default)
address    (unset)" "settings after --unset"
ngit north config twin.interval >/dev/null && fail "twin.interval is still in the repository config"

# free_port: a port of 127.0.0.1 that nothing listens on now (the kernel's choice).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

check "twin serve listens where the settings say, and syncs every interval they say"
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
port=$(free_port)
must "$TWIN" --dir "$(dir_of north)" config listen "127.0.0.1:$port"
must "$TWIN" --dir "$(dir_of north)" config interval 1
must "$TWIN" --dir "$(dir_of north)" config log-level debug
must "$TWIN" --dir "$(dir_of south)" peer add north "127.0.0.1:$port" "$(key_of north)"
serve_start_args south --listen 127.0.0.1:0
peer_add north south
serve_start_args north
same "${SERVE_PORT[north]}" "$port" "the port north's serve listens on"
wait_log_re north 60 "sync with .*: ok"
# A round every second: three of them, each only once the interval since the last is up.
wait_until_rounds() { # wait_until_rounds N: bounded wait for N rounds the interval started
    local start=$SECONDS
    until [ "$(grep -c 'round of sessions with 1 peer (the interval is up)$' "${SERVE_LOG[north]}")" -ge "$1" ]; do
        serves_alive
        [ $((SECONDS - start)) -lt 60 ] || fail "north's serve ran fewer than $1 rounds in 60 s"
        sleep 0.1
    done
}
wait_until_rounds 3
serve_stop north

check "twin serve's flags override the settings"
must "$TWIN" --dir "$(dir_of north)" config interval 3600
serve_start_args north --listen 127.0.0.1:0 --interval 1 --log-level info
[ "${SERVE_PORT[north]}" != "$port" ] || fail "--listen did not override the listen setting"
# Sessions every second at info: the rounds between them are not logged.
wait_log_re north 60 'sync with .*: ok.*'
start=$SECONDS
until [ "$(grep -c 'sync with .*: ok' "${SERVE_LOG[north]}")" -ge 3 ]; do
    serves_alive
    [ $((SECONDS - start)) -lt 60 ] || fail "north's serve did not sync every second with --interval 1"
    sleep 0.1
done
serve_stop north
grep -F 'round of sessions' "${SERVE_LOG[north]}" >/dev/null &&
    fail "--log-level info still logged debug lines: $(cat "${SERVE_LOG[north]}")"

check "twin serve refuses a setting edited by hand into a value twin refuses"
ngit north config twin.loglevel loud
must_exit 2 "$TWIN" --dir "$(dir_of north)" serve --listen 127.0.0.1:0
err_has "twin: node settings (fix it with: twin config log-level VALUE, or --unset): 'loud' is not a log level"
must_exit 2 "$TWIN" --dir "$(dir_of north)" serve --listen 127.0.0.1:0 --log-level loud
err_has "--log-level: 'loud' is not a log level (error, warn, info or debug)"
must_exit 2 "$TWIN" --dir "$(dir_of north)" serve --listen 127.0.0.1:0 --interval 0
err_has "--interval: interval '0' is not a number of seconds from 1 to 86400"

echo "PASS"
