#!/usr/bin/env bash
# Crash safety: a loop of `twin add` is interrupted by SIGKILL at random moments. After every kill
# the repository passes `git fsck --strict`, the branch points at a valid commit, `twin verify`
# passes, every id that `twin add` reported is there, and the next write succeeds. Set
# TWIN_KILL_SEED to replay a run; TWIN_KILL_ROUNDS to change the number of kills. stale_lock.sh
# makes the states a kill inside the branch update leaves, deterministically.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

ROUNDS=${TWIN_KILL_ROUNDS:-20}
SEED=${TWIN_KILL_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$SEED
echo "kill seed: $SEED (replay with TWIN_KILL_SEED=$SEED)"

A="$TEST_TMP/kestrel"
LOCK="$A/repo.git/refs/heads/main.lock"
IDS="$TEST_TMP/ids" # every id a twin add printed: it reported the add as done
STOP="$TEST_TMP/stop"
: >"$IDS"

found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"

# writer ROUND: adds notes until $STOP appears. Each twin add runs as a child whose pid goes to
# $TEST_TMP/current, so the test can kill exactly that process; exit statuses go to status.ROUND.
writer() {
    local r=$1 i=0 pid rc
    while [ ! -e "$STOP" ]; do
        i=$((i + 1))
        "$TWIN" --dir "$A" add note title="Round $r note $i" >>"$IDS" 2>>"$TEST_TMP/stderr.$r" &
        pid=$!
        echo "$pid" >"$TEST_TMP/current"
        rc=0
        wait "$pid" || rc=$?
        echo "$rc" >>"$TEST_TMP/status.$r"
    done
}

hits=0
locks=0
for ((r = 1; r <= ROUNDS; r++)); do
    rm -f "$STOP" "$TEST_TMP/current"
    : >"$TEST_TMP/status.$r"
    before_ids=$(wc -l <"$IDS")
    writer "$r" 2>>"$TEST_TMP/writer.stderr" &
    wpid=$!
    TEST_BG_PIDS+=("$wpid")
    # Let the loop get going (a first add under way), then kill at a random moment within 50 ms.
    wait_until 10 test -s "$TEST_TMP/current"
    delay=$((RANDOM % 51))
    sleep "$(printf '0.%03d' "$delay")"
    victim=$(cat "$TEST_TMP/current")
    kill -KILL "$victim" 2>/dev/null || true
    touch "$STOP"
    wait_pid 60 "$wpid"
    if grep -qx 137 "$TEST_TMP/status.$r"; then
        hits=$((hits + 1))
        what="killed an add"
    else
        what="missed (the add had finished)"
    fi
    check "round $r: kill after ${delay} ms $what; $(($(wc -l <"$IDS") - before_ids)) adds reported done"
    lock_note=""
    if [ -e "$LOCK" ]; then
        locks=$((locks + 1))
        lock_note=" (the kill left refs/heads/main.lock behind)"
        echo "   round $r: the kill left refs/heads/main.lock behind"
    fi

    # The repository is sound and the branch points at a commit.
    expect_ok node_git "$A" fsck --strict --no-dangling
    [ ! -s "$ERR" ] || { show_last; fail "round $r: git fsck --strict reports a fault$lock_note"; }
    HEAD_C=$(head_of "$A") || fail "round $r: refs/heads/main does not resolve$lock_note"
    expect_eq "$(node_git "$A" cat-file -t "$HEAD_C")" commit "round $r: type of the branch head"
    # The history verifies.
    rc=0
    tw "$A" verify >"$OUT" 2>"$ERR" || rc=$?
    if [ "$rc" -ne 0 ]; then
        show_last
        fail "round $r: twin verify exits $rc after a kill$lock_note"
    fi
    # Every reported id is in the history; every commit after the genesis added one note.
    expect_ok tw "$A" list note
    cut -c1-36 "$OUT" | sort >"$TEST_TMP/listed"
    notes=$(wc -l <"$TEST_TMP/listed")
    sort "$IDS" | comm -23 - "$TEST_TMP/listed" >"$TEST_TMP/lost"
    [ ! -s "$TEST_TMP/lost" ] ||
        fail "round $r: ids reported by twin add are missing: $(head -3 "$TEST_TMP/lost" | tr '\n' ' ')"
    expect_eq "$(commit_count "$A")" "$((notes + 1))" "round $r: commits against notes"
    for id in $(tail -n +"$((before_ids + 1))" "$IDS"); do
        expect_ok tw "$A" show "$id"
    done
    # Only the killed add may have failed; every other add, and the next one, must succeed.
    if grep -vxE '0|137' "$TEST_TMP/status.$r" >/dev/null; then
        fail "round $r: an add that was not killed failed$lock_note: statuses $(tr '\n' ' ' <"$TEST_TMP/status.$r")- $(tail -n 1 "$TEST_TMP/stderr.$r")"
    fi
    rc=0
    "$TWIN" --dir "$A" add note title="After round $r" >"$OUT" 2>"$ERR" || rc=$?
    [ "$rc" -eq 0 ] || fail "round $r: twin add after the kill exits $rc$lock_note: $(cat "$ERR")"
    cat "$OUT" >>"$IDS"
done
echo "$hits of $ROUNDS kills interrupted a running twin add; $locks left refs/heads/main.lock"
[ "$hits" -ge $((ROUNDS / 4)) ] || fail "only $hits of $ROUNDS kills hit a running add: the test did not test"

echo "PASS: $TEST_NAME"
