#!/usr/bin/env bash
# Importing many files at once: a whole node's CSV export comes back with one `twin import DIR`
# into a node of another network, in one signed commit, and exports again to the same files;
# files given in reverse dependency order resolve; a file without a type column takes its type
# from its name; a type column that disagrees with --type, and a bad row in a later file, are
# named with their file and row and nothing lands; an import into the same node changes nothing.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

A="$TEST_TMP/a"
B="$TEST_TMP/b"
check "a node with every kind of reference: partnership <-> document, activity -> person, ..."
found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
I=$(add_record "$A" institution name="Heron Water Board" org_id=XE-EXAMPLE-HWB country=NL \
    side=north org_type=10)
P=$(add_record "$A" partnership title="Water Utility Twinning" partnership_type=twinning status=2 \
    "members=[{\"institution\":\"$I\",\"side\":\"north\"}]")
D=$(add_record "$A" document title="Memorandum of understanding" kind=mou partnership="$P")
expect_ok tw "$A" set "$P" "agreements=[{\"kind\":\"mou\",\"document\":\"$D\"}]"
PERSON=$(add_record "$A" person name="Imani Example" institution="$I" email=imani@example.org)
add_record "$A" activity title="Study tour" kind=study_tour partnership="$P" status=2 \
    "participants=[{\"person\":\"$PERSON\",\"role\":\"lead\"}]" >/dev/null
R=$(add_record "$A" result title="Less water lost" partnership="$P" result_type=2)
add_record "$A" indicator title="Non-revenue water (%)" result="$R" measure=2 \
    'baseline={"year":2025,"value":42}' >/dev/null
add_record "$A" note title="Kick-off" body="Line one, with a comma
and a second line" partnership="$P" >/dev/null
GONE=$(add_record "$A" note title="Drafted by mistake" partnership="$P")
expect_ok tw "$A" withdraw "$GONE"

check "the whole node exported (withdrawn and sealed records too) comes back with one import"
expect_ok tw "$A" export --format csv --all --sealed --out "$TEST_TMP/csv1"
for t in institution partnership document person activity result indicator note; do
    [ -f "$TEST_TMP/csv1/$t.csv" ] || fail "the export wrote no $t.csv: $(ls "$TEST_TMP/csv1")"
done
echo "not records" >"$TEST_TMP/csv1/README.txt" # other files in the directory are left alone
found_node "$B" "Heron Water Agency" XE-EXAMPLE-HERON NL north "Other Network"
BEFORE=$(commit_count "$B")
expect_ok tw "$B" import "$TEST_TMP/csv1"
expect_stdout_contains "from 8 files"
expect_stdout_contains "9 new, 0 changed"
expect_eq "$(commit_count "$B")" $((BEFORE + 1)) "commits after importing a directory"
rm "$TEST_TMP/csv1/README.txt"
expect_ok tw "$B" export --format csv --all --sealed --out "$TEST_TMP/csv2"
diff -r "$TEST_TMP/csv1" "$TEST_TMP/csv2" >/dev/null ||
    fail "the round trip changed the export: $(diff -r "$TEST_TMP/csv1" "$TEST_TMP/csv2" | head -20)"
expect_ok tw "$B" list note
expect_stdout_lacks "Drafted by mistake"
expect_ok tw "$B" list note --all
expect_stdout_contains "Drafted by mistake"
expect_ok tw "$B" show "$PERSON"
expect_stdout_contains "Imani Example"
expect_ok tw "$B" verify

check "importing the same export into the same node again changes nothing"
BEFORE=$(commit_count "$A")
expect_ok tw "$A" import "$TEST_TMP/csv1"
expect_stdout_contains "Nothing to import: all 9 rows equal the records already stored"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after importing a node's own export"

check "files given in reverse dependency order, one named by its type without a type column"
C="$TEST_TMP/c"
found_node "$C" "Ibis Audit Office" XE-EXAMPLE-IBIS BE donor "Third Network"
mkdir "$TEST_TMP/parts"
# The indicator file without its type column, so its name says the type.
cut -d, -f1,3- "$TEST_TMP/csv1/indicator.csv" >"$TEST_TMP/parts/indicator.csv"
head -n 1 "$TEST_TMP/parts/indicator.csv" | grep '"type"' >/dev/null &&
    fail "the indicator file still has a type column"
BEFORE=$(commit_count "$C")
expect_ok tw "$C" import "$TEST_TMP/parts/indicator.csv" "$TEST_TMP/csv1/result.csv" \
    "$TEST_TMP/csv1/note.csv" "$TEST_TMP/csv1/activity.csv" "$TEST_TMP/csv1/person.csv" \
    "$TEST_TMP/csv1/document.csv" "$TEST_TMP/csv1/partnership.csv" \
    "$TEST_TMP/csv1/institution.csv" --dry-run
expect_stdout_contains "9 rows are valid: 9 would be new"
expect_eq "$(commit_count "$C")" "$BEFORE" "commits after a dry run of several files"
expect_ok tw "$C" import "$TEST_TMP/parts/indicator.csv" "$TEST_TMP/csv1/result.csv" \
    "$TEST_TMP/csv1/partnership.csv" "$TEST_TMP/csv1/institution.csv" \
    "$TEST_TMP/csv1/document.csv"
expect_stdout_contains "5 new"
expect_eq "$(commit_count "$C")" $((BEFORE + 1)) "commits after importing five files"
expect_ok tw "$C" --json list indicator
expect_stdout_contains '"title": "Non-revenue water (%)"'

check "a file without a type column whose name is no type is refused, naming the file"
printf 'title\nA note\n' >"$TEST_TMP/parts/minutes.csv"
expect_exit 2 tw "$C" import "$TEST_TMP/parts/minutes.csv"
expect_stderr_contains "minutes.csv: row 1: no type column"
expect_ok tw "$C" import "$TEST_TMP/parts/minutes.csv" --type note
expect_stdout_contains "1 new"

check "a type column that disagrees with --type names the file, the row and both types"
BEFORE=$(commit_count "$C")
expect_exit 2 tw "$C" import "$TEST_TMP/csv1/note.csv" --type document
expect_stderr_contains "row 2: type: the record says note, --type says document"
expect_eq "$(commit_count "$C")" "$BEFORE" "commits after a type disagreement"

check "a bad row in the second file names that file and its row, and nothing lands"
D2="$TEST_TMP/d"
found_node "$D2" "Plover Utility" XE-EXAMPLE-PLOVER TZ south "Fourth Network"
mkdir "$TEST_TMP/bad"
cp "$TEST_TMP/csv1/partnership.csv" "$TEST_TMP/csv1/institution.csv" "$TEST_TMP/csv1/document.csv" \
    "$TEST_TMP/bad/"
printf 'type,title,kind,partnership\nnote,Fine,,%s\nnote,Bad kind,gossip,%s\n' "$P" "$P" \
    >"$TEST_TMP/bad/note.csv"
BEFORE=$(commit_count "$D2")
expect_exit 2 tw "$D2" import "$TEST_TMP/bad"
expect_stderr_contains "1 invalid row; nothing was imported"
expect_stderr_contains "$TEST_TMP/bad/note.csv row 3: note.kind"
expect_eq "$(commit_count "$D2")" "$BEFORE" "commits after a refused import of several files"
expect_exit 2 tw "$D2" --json import "$TEST_TMP/bad"
expect_json_parses "$OUT" "import --json of a directory"
expect_stdout_contains "\"file\": \"$TEST_TMP/bad/note.csv\""
expect_stdout_contains '"row": 3'

check "a directory without CSV files, and an IATI import of several files, are refused"
mkdir "$TEST_TMP/empty"
expect_exit 2 tw "$D2" import "$TEST_TMP/empty"
expect_stderr_contains "holds no .csv file to import"
expect_exit 2 tw "$D2" import "$TEST_TMP/bad" --format iati
expect_stderr_contains "holds no .xml file to import"

echo "PASS: $TEST_NAME"
