#!/usr/bin/env bash
# twin config: every setting listed with its value or default, read one at a time (text and
# --json), set and unset; unknown keys, read-only keys and bad values refused with exit 2 and
# nothing changed.
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

echo "PASS"
