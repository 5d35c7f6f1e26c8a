#!/usr/bin/env bash
# Export and import: CSV and JSON round trips give identical exports; an import is one signed
# commit, or nothing when any row is invalid (every bad row named with its row number and field);
# malformed files get a clear error and change nothing; spreadsheet habits (a byte-order mark,
# CRLF line ends) are read as the same data.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

A="$TEST_TMP/a"
B="$TEST_TMP/b"
check "a node with partnerships, activities, notes and an indicator"
found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
P=$(add_record "$A" partnership title="Water Utility Twinning" partnership_type=twinning status=2 \
    'sectors=[{"code":"14010","percentage":60},{"code":"14020","percentage":40}]')
add_record "$A" activity title="Study tour, \"Nairobi\"" kind=study_tour partnership="$P" status=2 \
    dates.planned_start=2026-03-01 >/dev/null
add_record "$A" note title="Kick-off" body="Line one, with a comma
and a second line" partnership="$P" >/dev/null
R=$(add_record "$A" result title="Less water lost" partnership="$P" result_type=2)
add_record "$A" indicator title="Non-revenue water (%)" result="$R" measure=2 \
    'baseline={"year":2025,"value":42}' >/dev/null

check "CSV: export every type, import them into a fresh node, export again: identical"
expect_ok tw "$A" export --format csv --out "$TEST_TMP/csv1"
[ -f "$TEST_TMP/csv1/partnership.csv" ] && [ -f "$TEST_TMP/csv1/indicator.csv" ] ||
    fail "export wrote no file per type: $(ls "$TEST_TMP/csv1")"
found_node "$B" "Heron Water Agency" XE-EXAMPLE-HERON NL north "Other Network"
BEFORE=$(commit_count "$B")
for t in partnership activity note result indicator; do
    expect_ok tw "$B" import "$TEST_TMP/csv1/$t.csv" --type "$t"
    expect_stdout_contains "new"
done
expect_eq "$(commit_count "$B")" $((BEFORE + 5)) "commits after five imports (one each)"
expect_ok tw "$B" export --format csv --out "$TEST_TMP/csv2"
diff -r "$TEST_TMP/csv1" "$TEST_TMP/csv2" >/dev/null || fail "the CSV round trip changed the export"
expect_ok tw "$B" verify

check "JSON: the same round trip, all types in one import (references inside the file resolve)"
expect_ok tw "$A" export --format json --out "$TEST_TMP/all.json"
expect_json_parses "$TEST_TMP/all.json" "export --format json"
C="$TEST_TMP/c"
found_node "$C" "Ibis Audit Office" XE-EXAMPLE-IBIS BE donor "Third Network"
BEFORE=$(commit_count "$C")
expect_ok tw "$C" import "$TEST_TMP/all.json"
expect_eq "$(commit_count "$C")" $((BEFORE + 1)) "commits after one JSON import"
expect_ok tw "$C" export --format json --out "$TEST_TMP/all2.json"
cmp -s "$TEST_TMP/all.json" "$TEST_TMP/all2.json" || fail "the JSON round trip changed the export"
expect_ok tw "$C" import "$TEST_TMP/all.json"
expect_stdout_contains "Nothing to import"

check "one invalid row among good ones: nothing lands, and every bad row is named"
printf 'id,type,title,kind,partnership\n,note,Good one,,\n,note,,decision,\n,note,Bad kind,gossip,\n,note,Good two,,\n' \
    >"$TEST_TMP/bad.csv"
BEFORE=$(commit_count "$B")
expect_exit 2 tw "$B" import "$TEST_TMP/bad.csv" --type note
expect_stderr_contains "2 invalid rows; nothing was imported"
expect_stderr_contains "row 3: note.title"
expect_stderr_contains "row 4: "
expect_stderr_contains "kind"
expect_eq "$(commit_count "$B")" "$BEFORE" "commits after a refused import"
expect_exit 2 tw "$B" --json import "$TEST_TMP/bad.csv" --type note
expect_json_parses "$OUT" "import --json"

check "--dry-run checks everything and writes nothing"
printf 'title\nDry one\nDry two\n' >"$TEST_TMP/dry.csv"
expect_ok tw "$B" import "$TEST_TMP/dry.csv" --type note --dry-run
expect_stdout_contains "2 rows are valid: 2 would be new"
expect_eq "$(commit_count "$B")" "$BEFORE" "commits after a dry run"

check "a byte-order mark and CRLF line ends read as the same data"
printf '\xef\xbb\xbftitle,body\r\nFrom a spreadsheet,"two\r\nlines"\r\n' >"$TEST_TMP/excel.csv"
expect_ok tw "$B" import "$TEST_TMP/excel.csv" --type note
expect_ok tw "$B" --json list note --where title="From a spreadsheet"
expect_stdout_contains '"title": "From a spreadsheet"'

check "malformed files get a clear error and change nothing"
BEFORE=$(commit_count "$B")
bad_file() { # bad_file NAME CONTENT_PRINTF EXPECTED_MESSAGE
    printf "$2" >"$TEST_TMP/$1"
    expect_exit 2 tw "$B" import "$TEST_TMP/$1" --type note
    expect_stderr_contains "$3"
}
bad_file quote.csv 'title,body\n"unterminated,x\n' "ends inside a quoted cell"
bad_file junk.csv 'title,body\n"a"b,c\n' "malformed CSV"
bad_file columns.csv 'title,body\nonly one\n' "the row has 1 fields, the header 2"
bad_file utf8.csv 'title\n\xff\xfe\n' "not valid UTF-8"
bad_file nul.csv 'title\nx\0y\n' "NUL byte"
head -c 70000 /dev/zero | tr '\0' 'x' | { printf 'title\n'; cat; printf '\n'; } >"$TEST_TMP/big.csv"
expect_exit 2 tw "$B" import "$TEST_TMP/big.csv" --type note
expect_stderr_contains "a cell of more than 65536 bytes"
python3 -c 'print("[" + "[" * 5000 + "]" * 5000 + "]")' >"$TEST_TMP/deep.json"
expect_exit 2 tw "$B" import "$TEST_TMP/deep.json"
expect_stderr_contains "nested"
expect_eq "$(commit_count "$B")" "$BEFORE" "commits after malformed files"

check "--where and --type select what is exported"
expect_ok tw "$A" --json export --format json --type note --where title=Kick-off
expect_stdout_contains '"title": "Kick-off"'
expect_stdout_lacks '"type": "activity"'

echo "PASS: $TEST_NAME"
