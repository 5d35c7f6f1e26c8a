#!/usr/bin/env bash
# Concurrent writers on one node: several `twin add` loops race for the branch; every add that
# reported an id is in the history, each in its own commit, nothing is lost and the history
# verifies. Two `twin set` loops on different fields of one record both land too.
# TWIN_RACE_WRITERS (default 2) and TWIN_RACE_N (default 50) set the size of the race.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

WRITERS=${TWIN_RACE_WRITERS:-2}
N=${TWIN_RACE_N:-50}
A="$TEST_TMP/kestrel"

found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
START=$(commit_count "$A")

# writer W: adds N notes, one `twin add` each; ids to ids.W, failures to fail.W.
writer() {
    local w=$1 i out rc
    for ((i = 1; i <= N; i++)); do
        rc=0
        out=$("$TWIN" --dir "$A" add note title="Writer $w note $i" 2>>"$TEST_TMP/stderr.$w") || rc=$?
        if [ "$rc" -eq 0 ]; then
            printf '%s\n' "$out" >>"$TEST_TMP/ids.$w"
        else
            echo "writer $w: add $i exited $rc" >>"$TEST_TMP/fail.$w"
        fi
    done
}

check "$WRITERS processes each add $N notes to one node at the same time"
pids=()
for ((w = 1; w <= WRITERS; w++)); do
    : >"$TEST_TMP/ids.$w"
    writer "$w" &
    pids+=($!)
    TEST_BG_PIDS+=($!)
done
for pid in "${pids[@]}"; do
    wait_pid 300 "$pid"
    expect_eq "$WAIT_STATUS" 0 "exit status of writer process $pid"
done

check "no add failed, and every writer got $N ids"
for ((w = 1; w <= WRITERS; w++)); do
    if [ -s "$TEST_TMP/fail.$w" ]; then
        cat "$TEST_TMP/fail.$w" "$TEST_TMP/stderr.$w" >&2
        fail "writer $w had failing adds"
    fi
    expect_eq "$(wc -l <"$TEST_TMP/ids.$w")" "$N" "ids printed to writer $w"
done
TOTAL=$((WRITERS * N))
cat "$TEST_TMP"/ids.* | sort >"$TEST_TMP/ids.all"
expect_eq "$(sort -u "$TEST_TMP/ids.all" | wc -l)" "$TOTAL" "distinct ids printed"

check "all $TOTAL notes exist, one commit each, none lost"
expect_ok tw "$A" list note
expect_eq "$(wc -l <"$OUT")" "$TOTAL" "notes listed"
cut -c1-36 "$OUT" | sort >"$TEST_TMP/ids.listed"
cmp -s "$TEST_TMP/ids.all" "$TEST_TMP/ids.listed" ||
    fail "the ids listed differ from the ids printed: $(diff "$TEST_TMP/ids.all" "$TEST_TMP/ids.listed" | head -5)"
for ((w = 1; w <= WRITERS; w++)); do
    expect_eq "$(grep -c "Writer $w note " "$OUT")" "$N" "notes of writer $w listed"
done
expect_eq "$(commit_count "$A")" "$((START + TOTAL))" "commits"
# A linear history: every commit has exactly one parent except the genesis.
expect_eq "$(node_git "$A" rev-list --min-parents=2 refs/heads/main | wc -l)" 0 "merge commits"

check "twin verify passes and counts every commit"
expect_ok tw "$A" verify
expect_stdout_contains "Checked $((START + TOTAL)) commits up to $(head_of "$A")."
expect_stdout_contains "All commits are valid."
expect_ok node_git "$A" fsck --strict --no-dangling

check "two processes setting different fields of one record both land"
REC=$(add_record "$A" note title="Shared minutes" body="empty")
setter() {
    local field=$1 i
    for ((i = 1; i <= 20; i++)); do
        "$TWIN" --dir "$A" set "$REC" "$field=$field value $i" >/dev/null \
            2>>"$TEST_TMP/set.$field" || echo "set $field $i failed" >>"$TEST_TMP/setfail.$field"
    done
}
before=$(commit_count "$A")
setter title &
p1=$!
setter body &
p2=$!
TEST_BG_PIDS+=("$p1" "$p2")
wait_pid 120 "$p1"
wait_pid 120 "$p2"
for f in title body; do
    if [ -s "$TEST_TMP/setfail.$f" ]; then
        cat "$TEST_TMP/setfail.$f" "$TEST_TMP/set.$f" >&2
        fail "setting $f failed"
    fi
done
expect_eq "$(commit_count "$A")" "$((before + 40))" "commits after 40 sets"
expect_ok tw "$A" show "$REC"
expect_stdout_contains '"title": "title value 20"'
expect_stdout_contains '"body": "body value 20"'
expect_ok tw "$A" verify

echo "PASS: $TEST_NAME"
