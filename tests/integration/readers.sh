#!/usr/bin/env bash
# Readers never see a half-moved store. While North writes (every write may join its packs, and
# every session its serve takes joins the packs it received), readers run `twin verify`,
# `list`, `export`, `status` and `log` on North again and again. Every one of them must exit 0:
# a head the branch reached after a reader began is newer history, not a rewrite, and a pack
# joined away under a reader is found again in the pack that replaced it.
#
# Nothing here depends on how the runs interleave: the readers loop until the writers are done,
# and each run is checked on its own.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

WRITES=${TWIN_READERS_WRITES:-60}
[ "${TWIN_SANITIZED:-OFF}" = ON ] && WRITES=${TWIN_READERS_WRITES:-25} # several times slower there

packs_of() {
    find "$(dir_of "$1")/repo.git/objects/pack" -name 'pack-*.pack' | wc -l
}

check "North founds and serves; South joins and is North's peer"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
sync_ok south north

check "North writes $WRITES records and South syncs $WRITES times into North's serve, while readers run on North"
done_flag="$SYNC_TMP/writers-done"
failures="$SYNC_TMP/reader-failures"
: >"$failures"
(
    for i in $(seq 1 "$WRITES"); do
        timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of north)" add note \
            title="North note $i" >/dev/null 2>"$SYNC_TMP/w-north.err" ||
            { echo "north add $i: $(tail -n 2 "$SYNC_TMP/w-north.err")" >>"$failures"; }
    done
) &
writer_north=$!
(
    for i in $(seq 1 "$WRITES"); do
        timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of south)" add note \
            title="South note $i" >/dev/null 2>"$SYNC_TMP/w-south.err" ||
            { echo "south add $i: $(tail -n 2 "$SYNC_TMP/w-south.err")" >>"$failures"; }
        # A sync may lose a race for North's writer lock and be told to retry; only a failure
        # that names damage or a rewrite counts against the readers' promise.
        timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of south)" sync north \
            >/dev/null 2>"$SYNC_TMP/s-south.err" || true
    done
) &
writer_south=$!
SYNC_BG_PIDS+=("$writer_north" "$writer_south")

reader() { # reader N: runs each read command in turn until the writers are done
    local n=$1 runs=0 cmd
    while [ ! -e "$done_flag" ]; do
        for cmd in verify list "export --format json" status log; do
            # shellcheck disable=SC2086 # cmd is a command and its arguments
            if ! timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of north)" $cmd \
                >"$SYNC_TMP/r$n.out" 2>"$SYNC_TMP/r$n.err"; then
                echo "reader $n: twin $cmd failed: $(tail -q -n 3 "$SYNC_TMP/r$n.err" | tr '\n' ' ')" >>"$failures"
            fi
            clean_of_sanitizers "$SYNC_TMP/r$n.err" "twin $cmd (reader $n)"
            runs=$((runs + 1))
        done
    done
    echo "$runs" >"$SYNC_TMP/r$n.runs"
}
reader 1 &
reader1=$!
reader 2 &
reader2=$!
SYNC_BG_PIDS+=("$reader1" "$reader2")
wait "$writer_north"
wait "$writer_south"
touch "$done_flag"
wait "$reader1" || fail "reader 1 stopped on a sanitizer report"
wait "$reader2" || fail "reader 2 stopped on a sanitizer report"
note "readers ran $(cat "$SYNC_TMP/r1.runs") and $(cat "$SYNC_TMP/r2.runs") commands"
if [ -s "$failures" ]; then
    head -n 20 "$failures" >&2
    fail "$(wc -l <"$failures") reads or writes failed beside the writers"
fi

check "North holds few packs, every record, and a history git and twin both accept"
sync_ok south north
same_heads north south
n=$(packs_of north)
note "North holds $n packs after $WRITES writes and $WRITES received sessions"
[ "$n" -le 9 ] || fail "North holds $n packs, expected at most 9"
same "$(tw north list --json | jq 'length')" "$((2 * WRITES))" "records on North"
verify_ok north
fsck_ok north
echo "PASS"
