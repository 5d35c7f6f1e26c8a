#!/usr/bin/env bash
# `twin list` through the list cache: --sort FIELD (records without the field last, --reverse for
# descending), -n N and --dates (first written and last changed, the commit times git reports for
# the record's file); bad options named with exit 2. Each line names the records its record refers
# to in its top-level fields, by their names at the head. After many adds, changes, withdrawals and a
# sealed record, with the cache brought up after each, list and status answer exactly as they do
# with the cache deleted; a damaged cache file and one that cannot be made are no harm, and the
# cache holds no byte of a sealed record's content.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

N="$TEST_TMP/north"
CACHE="$N/listcache.db"

check "a node with notes, some with a body"
found_node "$N" "Ministry of Finance of Exampleland" XE-EXAMPLE-MOF NL north "Example Tax Twinning"
B=$(add_record "$N" note kind=note title="Budget review" body="b")
Z=$(add_record "$N" note kind=note title="Zoning workshop")
A=$(add_record "$N" note kind=note title="Audit plan" body="c")
M=$(add_record "$N" note kind=note title="Mentoring" body="a")
expect_ok tw "$N" list
expect_eq "$(wc -l <"$OUT")" 4 "records listed"
[ -s "$CACHE" ] || fail "list kept no cache in the node's directory"

# ids_of: the ids of the last output, in order, on one line.
ids_of() { awk '{ printf "%s ", $1 }' "$OUT"; }

check "--sort title lists in order of title, --reverse the other way"
expect_ok tw "$N" list --sort title
expect_eq "$(ids_of)" "$A $B $M $Z " "list --sort title"
expect_ok tw "$N" list --sort title --reverse
expect_eq "$(ids_of)" "$Z $M $B $A " "list --sort title --reverse"

check "--sort body puts the records without a body last, in either direction"
expect_ok tw "$N" list --sort body
expect_eq "$(ids_of)" "$M $B $A $Z " "list --sort body"
expect_ok tw "$N" list --sort body --reverse
expect_eq "$(ids_of)" "$A $B $M $Z " "list --sort body --reverse"

check "-n N lists the first N, in order of id or of the sort"
expect_ok tw "$N" list
head -n 2 "$OUT" >"$TEST_TMP/first2"
expect_ok tw "$N" list -n 2
cmp -s "$OUT" "$TEST_TMP/first2" || fail "list -n 2 is not the first two lines of list"
expect_ok tw "$N" list --sort title -n 1
expect_eq "$(ids_of)" "$A " "list --sort title -n 1"
expect_ok tw "$N" --json list -n 1
expect_json_parses "$OUT" "list --json -n 1"
expect_eq "$(grep -c '"id"' "$OUT")" 1 "records in list --json -n 1"

check "bad options are named, with exit 2"
expect_exit 2 tw "$N" list -n 0
expect_stderr_contains "-n takes a number of records above 0, not '0'"
expect_exit 2 tw "$N" list -n ten
expect_stderr_contains "-n takes a number of records above 0, not 'ten'"
expect_exit 2 tw "$N" list --sort 'Title!'
expect_stderr_contains "--sort takes a field path such as title or dates.planned_start, not 'Title!'"
expect_exit 2 tw "$N" list --reverse
expect_stderr_contains "--reverse reverses a --sort: give --sort FIELD too"
expect_exit 2 tw "$N" list --sort
expect_exit 2 tw "$N" list -n

check "--dates shows when each record was first written and last changed, as git's history says"
sleep 1 # a later second for the change, so that the two dates differ
expect_ok tw "$N" set "$B" title="Budget review, second round"
path=$(record_path note "$B")
# The oldest is the last line: tail reads to the end, where head would leave git to a SIGPIPE
# that pipefail turns into a silent exit.
first=$(node_git "$N" log --format=%ct main -- "$path" | tail -n 1)
last=$(node_git "$N" log -1 --format=%ct main -- "$path")
[ "$first" != "$last" ] || fail "the add and the set of $B have the same commit time"
expect_ok tw "$N" --json list --dates --where "id=$B"
expect_stdout_contains "\"first_written\": $first,"
expect_stdout_contains "\"last_changed\": $last,"
expect_ok tw "$N" list --dates
day() { date -u -d "@$1" +%Y-%m-%d; }
expect_stdout_contains "$B  note         $(day "$first")  $(day "$last")  Budget review, second round"
expect_eq "$(grep -cE '^[0-9a-f-]{36}  note {9}[0-9]{4}-[0-9]{2}-[0-9]{2}  [0-9]{4}-[0-9]{2}-[0-9]{2}  ' "$OUT")" 4 \
    "lines of list --dates with both dates"

# same_as_uncached: list (several ways) and status answer as they do with the cache deleted.
same_as_uncached() {
    local ways=("list" "list --all" "--json list --all --dates" "list --sort title --reverse -n 3"
        "list note --where kind=note" "status" "--json status") i
    for i in "${!ways[@]}"; do
        # shellcheck disable=SC2086 # each way is words
        expect_ok tw "$N" ${ways[$i]}
        cp "$OUT" "$TEST_TMP/cached.$i"
    done
    rm -f "$CACHE" "$CACHE-wal" "$CACHE-shm"
    for i in "${!ways[@]}"; do
        # shellcheck disable=SC2086
        expect_ok tw "$N" ${ways[$i]}
        cmp -s "$OUT" "$TEST_TMP/cached.$i" ||
            { diff "$TEST_TMP/cached.$i" "$OUT" >&2 || true; fail "twin ${ways[$i]} answers otherwise without the cache"; }
    done
}

check "after many changes, each followed by a list, list and status answer as without the cache"
expect_ok tw "$N" list --dates # the dates kept up from here
for i in $(seq 1 12); do
    id=$(add_record "$N" note kind=note title="Field visit $i")
    case $((i % 3)) in
    0) expect_ok tw "$N" withdraw "$id" ;;
    1) expect_ok tw "$N" set "$id" body="visit $i" ;;
    esac
    expect_ok tw "$N" list
done
expect_ok "$TWIN" --dir "$N" add note kind=note title="Confidential staffing plan" \
    --audience XE-EXAMPLE-MOF
expect_ok tw "$N" withdraw "$Z"
same_as_uncached
expect_ok tw "$N" list
expect_stdout_contains "Confidential staffing plan  (sealed)"

check "list names the records a record refers to, by their names now, sealed ones where read"
I=$(add_record "$N" institution name="Example Revenue Authority" side=south country=TZ)
P=$(add_record "$N" partnership title="Tax twinning" partnership_type=twinning)
V=$(add_record "$N" activity title="VAT workshop" kind=workshop partnership="$P")
S=$(add_record "$N" partnership title="Confidential restructuring" partnership_type=twinning \
    --audience XE-EXAMPLE-MOF)
W=$(add_record "$N" activity title="Staffing review" kind=review partnership="$S")
C=$(add_record "$N" activity title="Confidential exit plan" kind=review partnership="$P" \
    --audience XE-EXAMPLE-MOF)
Q=$(add_record "$N" post title="Resident adviser" institution="$I" partnership="$P")
expect_ok tw "$N" list
expect_stdout_contains "$V  activity     VAT workshop  (partnership \"Tax twinning\")"
expect_stdout_contains "$W  activity     Staffing review  (partnership \"Confidential restructuring\")"
expect_stdout_contains "$C  activity     Confidential exit plan  (partnership \"Tax twinning\")  (sealed)"
expect_stdout_contains \
    "$Q  post         Resident adviser  (institution \"Example Revenue Authority\", partnership \"Tax twinning\")"
expect_stdout_contains "$P  partnership  Tax twinning"
expect_ok tw "$N" set "$P" title="Tax administration twinning"
expect_ok tw "$N" list activity
expect_stdout_contains "$V  activity     VAT workshop  (partnership \"Tax administration twinning\")"
expect_ok tw "$N" --json list activity
expect_stdout_contains "\"partnership\": \"$P\""
same_as_uncached

check "--due-before keeps the actions due before a day; a note that is no action has no due date"
D1=$(add_record "$N" note kind=action title="Send the VAT manual" due=2026-12-01 status=open)
add_record "$N" note kind=action title="Book the venue" due=2027-02-01 status=open >/dev/null
add_record "$N" note kind=action title="Old action" due=2026-10-01 status=done >/dev/null
expect_ok tw "$N" list note --where kind=action --where status=open --due-before 2027-01-01
expect_eq "$(ids_of)" "$D1 " "open actions due before 2027-01-01"
expect_exit 2 tw "$N" add note kind=decision title="Budget" due=2027-01-01
expect_stderr_contains "note.due: only an action has an owner, a due date and a status (this note's kind is decision)"
expect_exit 2 tw "$N" list note --due-before soon
expect_stderr_contains "--due-before: 'soon' is not a date"

check "the cache holds no byte of a sealed record's content"
expect_ok tw "$N" list --dates
if grep -a -r -l "Confidential" "$N"/listcache.db* >/dev/null 2>&1; then
    fail "the list cache holds a sealed record's title"
fi

check "a damaged cache file is made again, and the answer is the same"
expect_ok tw "$N" list --all
cp "$OUT" "$TEST_TMP/before"
rm -f "$CACHE-wal" "$CACHE-shm"
head -c 9000 /dev/urandom >"$CACHE"
expect_ok tw "$N" list --all
cmp -s "$OUT" "$TEST_TMP/before" || fail "list answers otherwise over a damaged cache file"
expect_stderr_empty

check "where no cache can be made, list and status still answer, from one in memory"
rm -f "$CACHE" "$CACHE-wal" "$CACHE-shm"
mkdir "$CACHE"
expect_ok tw "$N" list --all
cmp -s "$OUT" "$TEST_TMP/before" || fail "list answers otherwise without a cache file"
expect_ok tw "$N" --json status
expect_stdout_contains '"note": 20'
rmdir "$CACHE"

echo "list cache: sort, limit, dates and the cached answers hold"
