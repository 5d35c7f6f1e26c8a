#!/usr/bin/env bash
# Record ids on the command line: a whole id, or a prefix of 8 or more of its characters, as git
# takes a prefix of a commit's name. A prefix that begins two ids is refused naming both; too
# short a prefix, one that cannot begin an id and one that begins none are refused plainly.
# References given as prefixes in add and set are stored whole. show names the records a record
# refers to beside their ids.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"

A="$TEST_TMP/a"
found_node "$A" "Ministry of Examples" XE-EXAMPLE-A NL north "Ids Network"

# Two notes whose ids share their first 18 characters, committed with plain git as any member's
# node could have written them (ids made in one millisecond share even more).
ID1=0190abcd-ef01-7aaa-8000-000000000001
ID2=0190abcd-ef01-7bbb-8000-000000000002
write_note_json "$TEST_TMP/n1.json" "$ID1" "First twin of the pair"
write_note_json "$TEST_TMP/n2.json" "$ID2" "Second twin of the pair"
TREE=$(craft_tree "$A" refs/heads/main "$(record_path note "$ID1")=$TEST_TMP/n1.json" \
    "$(record_path note "$ID2")=$TEST_TMP/n2.json")
C=$(signed_commit "$A" "$A/node.key" "$TREE" refs/heads/main "add note $ID1, note $ID2")
node_git "$A" update-ref refs/heads/main "$C"
BEFORE=$(head_of "$A")
ID3=$(add_record "$A" note kind=note title="Kick-off meeting")

check "a prefix of 8 characters names a record in show, log and blame"
expect_ok tw "$A" show "${ID3:0:8}"
expect_stdout_contains "Kick-off meeting"
expect_ok tw "$A" --json show "${ID3:0:8}"
expect_stdout_contains "\"id\": \"$ID3\""
expect_ok tw "$A" log "${ID3:0:8}"
expect_stdout_contains "add note"
expect_ok tw "$A" blame "${ID3:0:10}"
expect_stdout_contains "Kick-off meeting"

check "capitals are the same id"
expect_ok tw "$A" show "$(printf '%s' "${ID3:0:13}" | tr a-f A-F)"
expect_stdout_contains "Kick-off meeting"

check "set and withdraw take a prefix and report the whole id"
expect_ok tw "$A" set "${ID3:0:8}" title="Kick-off meeting, rescheduled"
expect_stdout_contains "Changed $ID3 in commit"
expect_ok tw "$A" show "$ID3"
expect_stdout_contains "rescheduled"
expect_ok tw "$A" set "${ID2:0:20}" title="Second, renamed"
expect_stdout_contains "Changed $ID2 in commit"

check "a prefix that begins two ids is refused naming both, and nothing is written"
HEAD_BEFORE=$(head_of "$A")
expect_exit 2 tw "$A" show 0190abcd
expect_stderr_contains "'0190abcd' begins the ids of 2 records"
expect_stderr_contains "$ID1 (note)"
expect_stderr_contains "$ID2 (note)"
expect_exit 2 tw "$A" set 0190abcd-ef01-7 title=Nope
expect_stderr_contains "begins the ids of 2 records"
expect_exit 2 tw "$A" withdraw 0190abcd-ef01
expect_eq "$(head_of "$A")" "$HEAD_BEFORE" "the head after refused changes"
expect_ok tw "$A" show 0190abcd-ef01-7a
expect_stdout_contains "First twin of the pair"

check "too short, not an id, and no such record are refused plainly (exit 2)"
expect_exit 2 tw "$A" show "${ID3:0:7}"
expect_stderr_contains "too short to name a record: give at least 8 characters"
expect_exit 2 tw "$A" show 0190abcz
expect_stderr_contains "'0190abcz' is not a record id"
expect_exit 2 tw "$A" show 0190abcd0
expect_stderr_contains "'0190abcd0' is not a record id"
expect_exit 2 tw "$A" show ffffffff-ff
expect_stderr_contains "no record's id begins with ffffffff-ff"
expect_exit 2 tw "$A" blame ffffffff
expect_stderr_contains "no record's id begins with ffffffff"

check "show --at looks the prefix up at that commit"
expect_exit 2 tw "$A" show "${ID3:0:8}" --at "$BEFORE"
expect_stderr_contains "no record's id begins with ${ID3:0:8}"
expect_ok tw "$A" show 0190abcd-ef01-7b --at "$BEFORE"
expect_stdout_contains "Second twin of the pair"

check "withdraw by prefix"
expect_ok tw "$A" withdraw "${ID3:0:9}"
expect_stdout_contains "Withdrew $ID3"
expect_ok tw "$A" verify

check "show prints, after the record, each record it refers to with its name"
P=$(add_record "$A" partnership title="Tax administration twinning" partnership_type=twinning)
PER=$(add_record "$A" person name="Ana Example")
ACT=$(add_record "$A" activity partnership="$P" kind=workshop title="Audit workshop" \
    'participants=[{"person":"'"$PER"'","role":"trainer"}]')
expect_ok tw "$A" show "$ACT"
expect_stdout_contains "references:"
expect_stdout_contains "  partnership: $P  \"Tax administration twinning\" (partnership)"
expect_stdout_contains "  participants[0].person: $PER  \"Ana Example\" (person)"
expect_ok tw "$A" --json show "$ACT"
expect_stdout_lacks "references"
expect_json_parses "$OUT" "show --json of a record with references"
expect_ok tw "$A" show "$P"
expect_stdout_lacks "references"

check "log names a sealed record this node reads beside its id; the commit keeps the id alone"
expect_ok tw "$A" log --oneline
expect_stdout_contains "add person $PER (sealed: \"Ana Example\")"
expect_ok tw "$A" log "${PER:0:13}"
expect_stdout_contains "  add person $PER (sealed: \"Ana Example\")"
expect_eq "$(node_git "$A" log --format=%s | grep -c "Ana Example" || true)" 0 \
    "commit subjects naming the sealed person"

check "a reference given as a prefix is stored as the whole id; a wrong one is refused"
ACT2=$(add_record "$A" activity partnership="${P:0:13}" kind=workshop title="Second workshop")
expect_ok tw "$A" --json show "$ACT2"
expect_stdout_contains "\"partnership\": \"$P\""
expect_ok tw "$A" set "$ACT2" 'participants=[{"person":"'"${PER:0:14}"'"}]'
expect_ok tw "$A" --json show "$ACT2"
expect_stdout_contains "\"person\": \"$PER\""
HEAD_BEFORE=$(head_of "$A")
expect_exit 2 tw "$A" add activity partnership="${PER:0:14}" kind=workshop title="Wrong"
expect_stderr_contains "partnership: ${PER:0:14} names the person $PER; the field takes a record of type partnership"
expect_exit 2 tw "$A" set "$ACT2" partnership=ffffffff
expect_stderr_contains "partnership: no record's id begins with ffffffff"
expect_exit 2 tw "$A" set "$ACT2" partnership=0190abcd
expect_stderr_contains "begins the ids of 2 records"
expect_eq "$(head_of "$A")" "$HEAD_BEFORE" "the head after refused references"

echo "ok: ids"
