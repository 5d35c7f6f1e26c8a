#!/usr/bin/env bash
# Record rules by version (network.json policy.rules): a new network keeps the newest; under
# version 2 a health check gives all seven scores, one respondent gives one check per
# partnership and date (also when the checks are sealed, as a respondent makes them), and an
# intersectoral partnership has members of two sector groups; `twin policy --rules` never goes
# back. Each refusal names the rule and writes nothing.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

N="$TEST_TMP/north"
found_node "$N" "Ministry of Finance of Exampleland" XE-EXAMPLE-MOF NL north "Example Tax Twinning"

check "a new network keeps the newest record rules, and they never go back"
node_git "$N" show main:network.json >"$TEST_TMP/network.json"
expect_match "$(cat "$TEST_TMP/network.json")" '"rules": 2' "network.json of a new network"
expect_exit 2 tw "$N" policy --rules 2
expect_stderr_contains "twin: record rules 2 are in force already"
expect_exit 2 tw "$N" policy --rules 1
expect_stderr_contains "rules never go back"
expect_exit 2 tw "$N" policy --rules 3
expect_stderr_contains "this twin knows up to 2"
expect_exit 2 tw "$N" policy --rules two
expect_stderr_contains "--rules takes a number from 1 to 100"

GOV=$(add_record "$N" institution name="Ministry of Finance" sector_group=government)
GOV2=$(add_record "$N" institution name="Revenue Authority" sector_group=government)
BIZ=$(add_record "$N" institution name="Chamber of Trade" sector_group=business)
P=$(add_record "$N" partnership title="Tax twinning" partnership_type=twinning)
ALL='scores={"trust":4,"transparency":4,"openness":3,"understanding":4,"integrity":5,"human_contact":4,"continuity":3}'

check "a health check gives all seven scores"
before=$(commit_count "$N")
expect_exit 2 tw "$N" add health_check partnership="$P" date=2026-06-30 'scores={"trust":4}'
expect_stderr_contains "twin: health_check.scores.transparency: required (record rules 2: a health check gives all seven scores)"
expect_eq "$(commit_count "$N")" "$before" "commits after a refused health check"
expect_ok tw "$N" add health_check partnership="$P" date=2026-06-30 "$ALL"

check "one respondent gives one check per partnership and date, sealed as they are"
H=$(add_record "$N" health_check partnership="$P" date=2026-06-30 respondent="$GOV" \
    comment="Meetings start on time" "$ALL")
expect_ok tw "$N" show "$H"
expect_stdout_contains '"comment": "Meetings start on time"'
before=$(commit_count "$N")
expect_exit 2 tw "$N" add health_check partnership="$P" date=2026-06-30 respondent="$GOV" "$ALL"
expect_stderr_contains "twin: health_check.respondent: Ministry of Finance gave health check $H for this partnership on 2026-06-30 already (record rules 2: one check per respondent, partnership and date)"
expect_eq "$(commit_count "$N")" "$before" "commits after a second check of one respondent"
# Another date, or another respondent, is another check; moving one onto the taken day is not.
H2=$(add_record "$N" health_check partnership="$P" date=2026-07-31 respondent="$GOV" "$ALL")
add_record "$N" health_check partnership="$P" date=2026-06-30 respondent="$GOV2" "$ALL" >/dev/null
expect_exit 2 tw "$N" set "$H2" date=2026-06-30
expect_stderr_contains "Ministry of Finance gave health check $H for this partnership on 2026-06-30 already"
# A withdrawn check no longer takes the day.
expect_ok tw "$N" withdraw "$H"
expect_ok tw "$N" set "$H2" date=2026-06-30

check "an intersectoral partnership has members of two sector groups"
before=$(commit_count "$N")
expect_exit 2 tw "$N" add partnership title="Trade facilitation" partnership_type=intersectoral \
    "members=[{\"institution\":\"$GOV\",\"side\":\"north\"},{\"institution\":\"$GOV2\",\"side\":\"south\"}]"
expect_stderr_contains "twin: partnership.members: an intersectoral partnership has members of at least two sector groups (record rules 2), and all of its members are government"
expect_eq "$(commit_count "$N")" "$before" "commits after a refused partnership"
I=$(add_record "$N" partnership title="Trade facilitation" partnership_type=intersectoral \
    "members=[{\"institution\":\"$GOV\",\"side\":\"north\"},{\"institution\":\"$BIZ\",\"side\":\"south\"}]")
expect_exit 2 tw "$N" set "$I" 'members[1].institution='"$GOV2"
expect_stderr_contains "all of its members are government"

check "the history verifies"
expect_ok tw "$N" verify
