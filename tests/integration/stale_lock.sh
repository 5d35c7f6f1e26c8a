#!/usr/bin/env bash
# What SIGKILL leaves when it lands inside a branch update, made exactly with plain files: libgit2
# creates refs/heads/main.lock, appends the new value to the branch's reflog, and only then renames
# the lock over the ref. A writer killed in between leaves the lock, and maybe a reflog entry for a
# commit the branch never pointed at. twin must cope: the next write succeeds and verify passes.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

GOOD="$TEST_TMP/good"
found_node "$GOOD" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
add_record "$GOOD" note title="Kick-off" >/dev/null
GOOD_COMMITS=$(commit_count "$GOOD")

check "kill right after the lock was taken: an empty refs/heads/main.lock does not block twin add"
T="$TEST_TMP/empty_lock"
cp -a "$GOOD" "$T"
: >"$T/repo.git/refs/heads/main.lock"
START=$SECONDS
rc=0
tw "$T" add note title="After the crash" >"$OUT" 2>"$ERR" || rc=$?
echo "   twin add: exit $rc after $((SECONDS - START)) s; stderr: $(cat "$ERR")"
[ "$rc" -eq 0 ] || fail "a stale, empty refs/heads/main.lock blocks twin add (exit $rc: $(cat "$ERR"))"
expect_eq "$(commit_count "$T")" "$((GOOD_COMMITS + 1))" "commits after writing past the lock"
expect_ok tw "$T" verify

check "kill between the reflog append and the rename: verify passes, the next add succeeds"
T="$TEST_TMP/lock_and_reflog"
cp -a "$GOOD" "$T"
OLD=$(head_of "$T")
# The commit the killed writer was publishing: a valid, signed note on top of the head.
NID=$(fresh_uuid7)
write_note_json "$TEST_TMP/unpublished.json" "$NID" "Never published"
TREE=$(craft_tree "$T" refs/heads/main "$(record_path note "$NID")=$TEST_TMP/unpublished.json")
NEW=$(signed_commit "$T" "$T/node.key" "$TREE" refs/heads/main "add note $NID: Never published")
echo "$NEW" >"$T/repo.git/refs/heads/main.lock"
printf '%s %s twin <twin@localhost> %s +0000\ttwin: commit\n' "$OLD" "$NEW" "$(date +%s)" \
    >>"$T/repo.git/logs/refs/heads/main"
expect_eq "$(head_of "$T")" "$OLD" "the branch after the interrupted update"
rc=0
tw "$T" verify >"$OUT" 2>"$ERR" || rc=$?
if [ "$rc" -ne 0 ]; then
    show_last
    fail "twin verify reports a fault for an update that never completed (exit $rc)"
fi
rc=0
tw "$T" add note title="After the crash" >"$OUT" 2>"$ERR" || rc=$?
[ "$rc" -eq 0 ] || fail "twin add after an interrupted update exits $rc: $(cat "$ERR")"
expect_eq "$(commit_count "$T")" "$((GOOD_COMMITS + 1))" "commits after writing past the crash"
expect_ok tw "$T" verify
expect_stdout_contains "All commits are valid."

check "a real rewrite is still named after an interrupted update was recovered"
node_git "$T" update-ref refs/heads/main "$OLD"
expect_exit 1 tw "$T" verify
expect_stdout_contains "history rewritten"

echo "PASS: $TEST_NAME"
