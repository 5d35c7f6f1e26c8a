#!/usr/bin/env bash
# SIGKILL in the middle of sync sessions, on either side: the initiator's `twin sync` or the
# responder's `twin serve`, while a long history is pulled, pushed, or merged. After every kill
# both repositories pass git fsck --strict, each branch is at its old value or at the agreed new
# one (never between) and verifies, no record written on either side is lost, and the next sync
# brings the two to one head.
#
# Kill delays are drawn from a seed, printed first; TWIN_TEST_SEED repeats the choices.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

seed=${TWIN_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $seed (repeat with TWIN_TEST_SEED=$seed)"
RANDOM=$seed
RECORDS=${TWIN_KILL_RECORDS:-100} # written on each of two nodes, one `twin add` each
# Under the sanitizers each process is several times slower; a loaded machine could not write
# 200 notes one process at a time inside the test's bounds. 40 on each still gives a pull long
# enough for the kills to land inside it.
[ "${TWIN_SANITIZED:-OFF}" = ON ] && RECORDS=${TWIN_KILL_RECORDS:-40}
start_time=$SECONDS

sleep_ms() {
    sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

now_ms() {
    echo $((${EPOCHREALTIME/./} / 1000))
}

# kill_at PID MS: SIGKILL after MS milliseconds; sets KILLED_EARLY when the process had ended.
kill_at() {
    sleep_ms "$2"
    KILLED_EARLY=0
    kill -0 "$1" 2>/dev/null || KILLED_EARLY=1
    kill -KILL "$1" 2>/dev/null || true
}

# after_kill NODE...: the repository-level checks that must hold after any kill.
after_kill() {
    local n
    fsck_ok "$@"
    for n in "$@"; do
        [ -n "$(head_of "$n")" ] || continue
        verify_ok "$n"
    done
}

# ids_still NODE FILE: NODE still holds every record id listed in FILE (nothing written is lost).
ids_still() {
    has_ids "$1" "$2"
}

# reconnect NODE: after North's serve restarted on a new port, NODE's peer entry follows it.
reconnect() {
    must "$TWIN" --dir "$(dir_of "$1")" peer remove north
    peer_add "$1" north
}

# admit_north_at NODE: a node without history serves only its configured peers, so NODE lists
# North (not serving now: the address refuses at once, and only North's key matters).
admit_north_at() {
    must "$TWIN" --dir "$(dir_of "$1")" peer add north 127.0.0.1:1 "$(key_of north)"
}

joiners=0
# new_joiner: a fresh member without history; sets J.
new_joiner() {
    joiners=$((joiners + 1))
    J=j$joiners
    node_new "$J" "XE-EXAMPLE-J$joiners" GH south north
    node_admit north "$J"
}

check "North founds, South joins; each writes $RECORDS notes; they sync (the history to move)"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
sync_ok south
write_notes() { # NODE COUNT
    local i
    for i in $(seq 1 "$2"); do
        timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of "$1")" add note \
            title="Note $i from $1" body="Entry $i of a long history, written at $1" ||
            fail "twin add on $1 failed at note $i"
    done
}
t0=$SECONDS
write_notes north "$RECORDS" >"$SYNC_TMP/north.ids" &
w1=$!
write_notes south "$RECORDS" >"$SYNC_TMP/south.ids" &
w2=$!
SYNC_BG_PIDS+=("$w1" "$w2")
wait_exit "$w1" 300
[ "$WAIT_STATUS" -eq 0 ] || fail "writing at North failed"
wait_exit "$w2" 300
[ "$WAIT_STATUS" -eq 0 ] || fail "writing at South failed"
note "$((2 * RECORDS)) notes written in $((SECONDS - t0)) s"
sync_ok south
same_heads north south
ids_of north >"$SYNC_TMP/all.ids"
same "$(wc -l <"$SYNC_TMP/all.ids")" $((2 * RECORDS + 0)) "records at North"
commits=$(ngit north rev-list --count refs/heads/main)

check "baseline: a new member pulls the whole history ($commits commits) without a kill"
new_joiner
peer_add "$J" north
t0=$(now_ms)
sync_ok "$J"
full_ms=$(($(now_ms) - t0))
same_heads north "$J"
note "a full pull takes $full_ms ms; kills land at random points within it"
base=$(head_of north)

pick_delay() { # a delay within the session (process start included)
    echo $((20 + RANDOM % (full_ms > 40 ? full_ms - 20 : 20)))
}

for round in 1 2 3; do
    check "kill -9 of a new member's twin sync while it pulls (round $round)"
    new_joiner
    base=$(head_of north)
    peer_add "$J" north
    delay=$(pick_delay)
    "$TWIN" --dir "$(dir_of "$J")" sync >"$SYNC_TMP/kill.out" 2>&1 &
    pid=$!
    SYNC_BG_PIDS+=("$pid")
    kill_at "$pid" "$delay"
    wait_exit "$pid" 30
    clean_of_sanitizers "$SYNC_TMP/kill.out" "the interrupted sync"
    note "killed after $delay ms (exit $WAIT_STATUS$([ "$KILLED_EARLY" = 1 ] && echo ', had finished'))"
    after_kill north "$J"
    same "$(head_of north)" "$base" "North's head"
    h=$(head_of "$J")
    [ -z "$h" ] || [ "$h" = "$base" ] || fail "$J's branch is at $h, neither nothing nor $base"
    note "$J's branch: ${h:-(none)}"
    ids_still north "$SYNC_TMP/all.ids"
    sync_ok "$J"
    same_heads north "$J"
    ids_still "$J" "$SYNC_TMP/all.ids"
done

for round in 1 2; do
    check "kill -9 of North's serve while a new member pulls (round $round)"
    new_joiner
    base=$(head_of north)
    peer_add "$J" north
    delay=$(pick_delay)
    "$TWIN" --dir "$(dir_of "$J")" sync >"$SYNC_TMP/kill.out" 2>&1 &
    pid=$!
    SYNC_BG_PIDS+=("$pid")
    sleep_ms "$delay"
    serve_kill north
    wait_exit "$pid" 60
    clean_of_sanitizers "$SYNC_TMP/kill.out" "the interrupted sync"
    [ "$WAIT_STATUS" -le 1 ] || {
        cat "$SYNC_TMP/kill.out" >&2
        fail "$J's sync exited $WAIT_STATUS when its peer died (a crash, not a clean failure)"
    }
    note "serve killed after $delay ms; $J's sync: exit $WAIT_STATUS: $(head -c 200 "$SYNC_TMP/kill.out")"
    after_kill north "$J"
    same "$(head_of north)" "$base" "North's head"
    h=$(head_of "$J")
    [ -z "$h" ] || [ "$h" = "$base" ] || fail "$J's branch is at $h, neither nothing nor $base"
    ids_still north "$SYNC_TMP/all.ids"
    serve_start north
    reconnect "$J"
    reconnect south
    sync_ok "$J"
    same_heads north "$J"
done
serve_stop north

for round in 1 2; do
    check "kill -9 of North's twin sync while it pushes the history to a serving new member (round $round)"
    new_joiner
    base=$(head_of north)
    admit_north_at "$J"
    serve_start "$J"
    peer_add north "$J"
    delay=$(pick_delay)
    "$TWIN" --dir "$(dir_of north)" sync "$J" >"$SYNC_TMP/kill.out" 2>&1 &
    pid=$!
    SYNC_BG_PIDS+=("$pid")
    kill_at "$pid" "$delay"
    wait_exit "$pid" 30
    clean_of_sanitizers "$SYNC_TMP/kill.out" "the interrupted sync"
    note "killed after $delay ms (exit $WAIT_STATUS$([ "$KILLED_EARLY" = 1 ] && echo ', had finished'))"
    after_kill north "$J"
    same "$(head_of north)" "$base" "North's head"
    h=$(head_of "$J")
    [ -z "$h" ] || [ "$h" = "$base" ] || fail "$J's branch is at $h, neither nothing nor $base"
    note "$J's branch: ${h:-(none)}"
    ids_still north "$SYNC_TMP/all.ids"
    must "$TWIN" --dir "$(dir_of north)" sync "$J"
    same_heads north "$J"
    serve_stop "$J"
    must "$TWIN" --dir "$(dir_of north)" peer remove "$J"
done

for round in 1 2; do
    check "kill -9 of a new member's serve while North pushes the history to it (round $round)"
    new_joiner
    base=$(head_of north)
    admit_north_at "$J"
    serve_start "$J"
    peer_add north "$J"
    delay=$(pick_delay)
    "$TWIN" --dir "$(dir_of north)" sync "$J" >"$SYNC_TMP/kill.out" 2>&1 &
    pid=$!
    SYNC_BG_PIDS+=("$pid")
    sleep_ms "$delay"
    serve_kill "$J"
    wait_exit "$pid" 60
    clean_of_sanitizers "$SYNC_TMP/kill.out" "the interrupted sync"
    [ "$WAIT_STATUS" -le 1 ] || {
        cat "$SYNC_TMP/kill.out" >&2
        fail "North's sync exited $WAIT_STATUS when its peer died (a crash, not a clean failure)"
    }
    note "serve killed after $delay ms; North's sync: exit $WAIT_STATUS: $(head -c 200 "$SYNC_TMP/kill.out")"
    after_kill north "$J"
    same "$(head_of north)" "$base" "North's head"
    h=$(head_of "$J")
    [ -z "$h" ] || [ "$h" = "$base" ] || fail "$J's branch is at $h, neither nothing nor $base"
    ids_still north "$SYNC_TMP/all.ids"
    serve_start "$J"
    must "$TWIN" --dir "$(dir_of north)" peer remove "$J"
    peer_add north "$J"
    must "$TWIN" --dir "$(dir_of north)" sync "$J"
    same_heads north "$J"
    serve_stop "$J"
    must "$TWIN" --dir "$(dir_of north)" peer remove "$J"
done

serve_start north
reconnect south
for round in 1 2; do
    victim=$([ "$round" = 1 ] && echo "South's twin sync" || echo "North's serve")
    check "both sides wrote; kill -9 of $victim during the merging session (round $round)"
    write_notes north 15 >"$SYNC_TMP/north-new.ids"
    write_notes south 15 >"$SYNC_TMP/south-new.ids"
    cat "$SYNC_TMP/all.ids" "$SYNC_TMP/north-new.ids" >"$SYNC_TMP/north-has.ids"
    cat "$SYNC_TMP/all.ids" "$SYNC_TMP/south-new.ids" >"$SYNC_TMP/south-has.ids"
    old_n=$(head_of north)
    old_s=$(head_of south)
    t0=$(now_ms)
    "$TWIN" --dir "$(dir_of south)" sync >"$SYNC_TMP/kill.out" 2>&1 &
    pid=$!
    SYNC_BG_PIDS+=("$pid")
    delay=$((10 + RANDOM % 150))
    if [ "$round" = 1 ]; then
        kill_at "$pid" "$delay"
        wait_exit "$pid" 30
        clean_of_sanitizers "$SYNC_TMP/kill.out" "the interrupted sync"
    else
        sleep_ms "$delay"
        serve_kill north
        wait_exit "$pid" 60
        clean_of_sanitizers "$SYNC_TMP/kill.out" "the interrupted sync"
        [ "$WAIT_STATUS" -le 1 ] || fail "South's sync exited $WAIT_STATUS when North died"
    fi
    note "killed after $delay ms; South's sync: exit $WAIT_STATUS $(head -c 200 "$SYNC_TMP/kill.out")"
    after_kill north south
    new_n=$(head_of north)
    new_s=$(head_of south)
    ngit north merge-base --is-ancestor "$old_n" "$new_n" || fail "North's branch lost its head"
    ngit south merge-base --is-ancestor "$old_s" "$new_s" || fail "South's branch lost its head"
    # Old or new, never between: a node that moved is at the merge of both heads.
    if [ "$new_n" != "$old_n" ]; then
        ngit north merge-base --is-ancestor "$old_s" "$new_n" || fail "North moved to $new_n, not a merge"
    fi
    if [ "$new_s" != "$old_s" ]; then
        same "$new_s" "$new_n" "South moved, to the head North accepted"
    fi
    note "North: $([ "$new_n" = "$old_n" ] && echo old || echo new), South: $([ "$new_s" = "$old_s" ] && echo old || echo new)"
    ids_still north "$SYNC_TMP/north-has.ids"
    ids_still south "$SYNC_TMP/south-has.ids"
    if [ "$round" = 2 ]; then
        serve_start north
        reconnect south
    fi
    sync_ok south
    same_heads north south
    cat "$SYNC_TMP/north-has.ids" "$SYNC_TMP/south-new.ids" | sort -u >"$SYNC_TMP/all.ids"
    ids_still north "$SYNC_TMP/all.ids"
    ids_still south "$SYNC_TMP/all.ids"
done

check "at the end every node that took part verifies and is fsck clean"
nodes=(north south)
for i in $(seq 1 "$joiners"); do nodes+=("j$i"); done
fsck_ok "${nodes[@]}"
verify_ok north south
serve_stop north
left=$(find "$SYNC_TMP" -maxdepth 4 -path '*/objects/incoming-*' -type d | wc -l)
note "quarantine directories left behind by the kills: $left"
echo "PASS (seed $seed, $((SECONDS - start_time)) s)"
