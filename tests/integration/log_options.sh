#!/usr/bin/env bash
# `twin log`'s options on a small history whose dates are set on purpose (TWIN_TEST_CLOCK_SKEW):
# -n, --since and --until (dates, date-times, @seconds and "N units ago"), --type, --member and
# --oneline, alone and together, with a record id and with --json; bad values exit 2 naming the
# option. Every change shown is still checked and marked.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

DAY=86400

# commit_time COMMIT: its committer time on North.
commit_time() {
    ngit north log -1 --format=%ct "$1"
}

# log_ids ARGS...: the commits `twin log --oneline ARGS` lists on North, as short ids on one line.
log_ids() {
    must "$TWIN" --dir "$(dir_of north)" log --oneline "$@"
    cut -d ' ' -f 1 "$RUN_OUT" | tr '\n' ' ' | sed 's/ $//'
}

# short COMMIT...: the first 12 hex digits of each, on one line.
short() {
    local c out=""
    for c in "$@"; do
        out="$out ${c:0:12}"
    done
    echo "${out# }"
}

check "a history dated on purpose: North 30 and 10 days ago, South 3 days ago, North now"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
GENESIS=$(ngit north rev-list --max-parents=0 refs/heads/main)
ADMIT=$(head_of north)
TWIN_TEST_CLOCK_SKEW=-$((30 * DAY)) add_rec north note title="Thirty days ago"
NOTE=$REC_ID
OLD=$(head_of north)
TWIN_TEST_CLOCK_SKEW=-$((10 * DAY)) add_rec north institution name="Lake Basin Authority"
INST=$(head_of north)
serve_start north
peer_add south north
sync_ok south
TWIN_TEST_CLOCK_SKEW=-$((3 * DAY)) add_rec south note title="South, three days ago"
SOUTH=$(head_of south)
sync_ok south
same_heads north south >/dev/null
serve_stop north
must "$TWIN" --dir "$(dir_of north)" set "$NOTE" title="Thirty days ago, edited now"
EDIT=$(head_of north)
ALL=$(short "$EDIT" "$SOUTH" "$INST" "$OLD" "$ADMIT" "$GENESIS")

check "--oneline: one line a change, newest first: short commit, date, member, verdict, summary"
same "$(log_ids)" "$ALL" "twin log --oneline"
same "$(wc -l <"$RUN_OUT")" 6 "lines of twin log --oneline"
same "$(sed -n 2p "$RUN_OUT")" "$(short "$SOUTH") $(date -u -d "@$(commit_time "$SOUTH")" +%F) \
XE-EXAMPLE-S good add note $REC_ID: South, three days ago" "South's line"
must "$TWIN" --dir "$(dir_of north)" log
same "$(grep -c '^commit ' "$RUN_OUT")" 6 "commits in the full twin log"
same "$(grep -c '^  signature: good$' "$RUN_OUT")" 6 "good signatures in the full twin log"

check "-n N: the N newest changes, and no more than there are"
same "$(log_ids -n 2)" "$(short "$EDIT" "$SOUTH")" "-n 2"
same "$(log_ids -n 1)" "$(short "$EDIT")" "-n 1"
same "$(log_ids -n 100)" "$ALL" "-n 100"

check "--since and --until by relative dates, in either spelling"
SINCE2W=$(short "$EDIT" "$SOUTH" "$INST" "$ADMIT" "$GENESIS")
same "$(log_ids --since 2.weeks.ago)" "$SINCE2W" "--since 2.weeks.ago"
same "$(log_ids --since "2 weeks ago")" "$SINCE2W" "--since '2 weeks ago'"
same "$(log_ids --since 14.days.ago)" "$SINCE2W" "--since 14.days.ago"
same "$(log_ids --until 5.days.ago)" "$(short "$INST" "$OLD")" "--until 5.days.ago"
same "$(log_ids --since 20.days.ago --until 1.day.ago)" "$(short "$SOUTH" "$INST")" \
    "--since 20.days.ago --until 1.day.ago"

check "--since and --until by dates (whole days, both included), date-times and @seconds"
T_INST=$(commit_time "$INST")
D_INST=$(date -u -d "@$T_INST" +%F)
same "$(log_ids --since "$D_INST" --until "$D_INST")" "$(short "$INST")" "that day alone"
same "$(log_ids --until "$D_INST")" "$(short "$INST" "$OLD")" "--until that day"
same "$(log_ids --since "$(date -u -d "@$T_INST" +%FT%T)Z" --until 5.days.ago)" \
    "$(short "$INST")" "--since its second, Z"
same "$(log_ids --since "$(date -u -d "@$T_INST" +%FT%T)" --until 5.days.ago)" \
    "$(short "$INST")" "--since its second, no zone (UTC)"
same "$(log_ids --since "$(date -u -d "@$((T_INST + 7200))" +%FT%T)+02:00" --until 5.days.ago)" \
    "$(short "$INST")" "--since its second at +02:00"
same "$(log_ids --since "@$((T_INST + 1))" --until 5.days.ago)" "" "--since the second after"
same "$(log_ids --until "@$((T_INST - 1))")" "$(short "$OLD")" "--until the second before"

check "--type: changes to records of that type"
same "$(log_ids --type institution)" "$(short "$INST")" "--type institution"
same "$(log_ids --type note)" "$(short "$EDIT" "$SOUTH" "$OLD")" "--type note"
same "$(log_ids --type person)" "" "--type person"

check "--member: changes signed by that member"
same "$(log_ids --member XE-EXAMPLE-S)" "$(short "$SOUTH")" "--member XE-EXAMPLE-S"
same "$(log_ids --member XE-EXAMPLE-N)" "$(short "$EDIT" "$INST" "$OLD" "$ADMIT" "$GENESIS")" \
    "--member XE-EXAMPLE-N"
same "$(log_ids --member XE-EXAMPLE-NOBODY)" "" "--member of no one"

check "options together, with a record id and with --json"
same "$(log_ids "$NOTE")" "$(short "$EDIT" "$OLD")" "the note's changes"
same "$(log_ids "$NOTE" --since 2.weeks.ago)" "$(short "$EDIT")" "the note's, since two weeks"
same "$(log_ids "$NOTE" -n 1 --until 1.day.ago)" "$(short "$OLD")" "the note's, -n 1, until"
same "$(log_ids --type note --member XE-EXAMPLE-N -n 1)" "$(short "$EDIT")" \
    "--type note --member XE-EXAMPLE-N -n 1"
same "$(log_ids --type note --since 1.week.ago --member XE-EXAMPLE-S)" "$(short "$SOUTH")" \
    "--type note --since --member"
must "$TWIN" --dir "$(dir_of north)" --json log --type note -n 2
same "$(jq -r '[.[] | .commit[0:12] + " " + .member + " " + (.valid | tostring)] | join(",")' \
    "$RUN_OUT")" "${EDIT:0:12} XE-EXAMPLE-N true,${SOUTH:0:12} XE-EXAMPLE-S true" "--json -n 2"
must "$TWIN" --dir "$(dir_of north)" --json log --member XE-EXAMPLE-NOBODY
same "$(cat "$RUN_OUT")" "[]" "--json with nothing selected"
must "$TWIN" --dir "$(dir_of north)" --json log
same "$(jq length "$RUN_OUT")" 6 "--json entries"
same "$(jq -r '.[1].time' "$RUN_OUT")" "$(commit_time "$SOUTH")" "--json time"

check "bad values exit 2 and name the option"
bad() {
    local what=$1
    shift
    must_exit 2 "$TWIN" --dir "$(dir_of north)" log "$@"
    err_has "$what"
    [ ! -s "$RUN_OUT" ] || fail "twin log $* printed on stdout"
}
bad "-n: '0' is not a count" -n 0
bad "-n: 'x' is not a count" -n x
bad "-n: '-3' is not a count" -n -3
bad "twin: -n needs a value" -n
bad "--since: 'yesterday' is not a date" --since yesterday
bad "--since: '3.months.ago': months and years are not of one length" --since 3.months.ago
bad "--until: '2026-02-30' is not a date" --until 2026-02-30
bad "--until: '2026-11-22T25:00' is not a date" --until 2026-11-22T25:00
bad "--since: '2.fortnights.ago' is not a date" --since 2.fortnights.ago
bad "--type: unknown record type 'gossip'" --type gossip
bad "--member: give an org id" --member ""
bad "unknown option '--bogus'" --bogus
bad "give at most one record id" "$NOTE" "$NOTE"
must_exit 2 "$TWIN" --dir "$(dir_of north)" log not-an-id
err_has "'not-an-id' is not a record id"
