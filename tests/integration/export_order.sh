#!/usr/bin/env bash
# Exports stream in a fixed order: records by type, then by id, whatever buckets they are stored
# in; a CSV header names every column any selected record of the type has, so records with
# different optional fields share one header; JSON and CSV match the expected bytes exactly.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

A="$TEST_TMP/a"
check "a node with records of three types, ids chosen so that storage order is not id order"
found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
# Record files sit in buckets named by the last two characters of the id: ...1ff lies in bucket
# ff, after ...200 in bucket 00, though it comes first by id.
cat >"$TEST_TMP/in.json" <<'EOF'
[
  {"type": "partnership", "id": "01900000-0000-7000-8000-0000000002a0", "title": "Water Utility Twinning", "partnership_type": "twinning", "status": "2", "sectors": [{"code": "14010", "percentage": 100}]},
  {"type": "note", "id": "01900000-0000-7000-8000-0000000001ff", "title": "Kick-off", "body": "Line one, with a comma\nand a second line", "partnership": "01900000-0000-7000-8000-0000000002a0"},
  {"type": "note", "id": "01900000-0000-7000-8000-000000000200", "title": "Site visit, \"north\"", "kind": "decision"},
  {"type": "note", "id": "01900000-0000-7000-8000-000000000010", "title": "Budget review"},
  {"type": "activity", "id": "01900000-0000-7000-8000-0000000003ff", "title": "Study tour", "kind": "study_tour", "partnership": "01900000-0000-7000-8000-0000000002a0", "status": "2", "dates": {"planned_start": "2026-03-01"}},
  {"type": "activity", "id": "01900000-0000-7000-8000-000000000301", "title": "Peer exchange", "kind": "study_tour", "partnership": "01900000-0000-7000-8000-0000000002a0", "status": "3"}
]
EOF
expect_ok tw "$A" import "$TEST_TMP/in.json"
expect_ok tw "$A" withdraw 01900000-0000-7000-8000-000000000200

# expect_file FILE EXPECTED_FILE WHAT
expect_file() {
    cmp -s "$1" "$2" || fail "$3 differs from what was expected: $(diff "$2" "$1" | head -n 20)"
}

check "CSV per type: columns of every record of the type (optional fields too), rows by id"
expect_ok tw "$A" export --format csv --out "$TEST_TMP/csv"
expect_eq "$(cd "$TEST_TMP/csv" && ls | tr '\n' ' ')" "activity.csv note.csv partnership.csv " \
    "the files of the export"
cat >"$TEST_TMP/activity.csv" <<'EOF'
"id","type","dates.planned_start","kind","partnership","status","title"
"01900000-0000-7000-8000-000000000301","activity","","study_tour","01900000-0000-7000-8000-0000000002a0","3","Peer exchange"
"01900000-0000-7000-8000-0000000003ff","activity","2026-03-01","study_tour","01900000-0000-7000-8000-0000000002a0","2","Study tour"
EOF
cat >"$TEST_TMP/note.csv" <<'EOF'
"id","type","body","kind","partnership","title"
"01900000-0000-7000-8000-000000000010","note","","note","","Budget review"
"01900000-0000-7000-8000-0000000001ff","note","Line one, with a comma
and a second line","note","01900000-0000-7000-8000-0000000002a0","Kick-off"
EOF
cat >"$TEST_TMP/partnership.csv" <<'EOF'
"id","type","partnership_type","sectors","status","title"
"01900000-0000-7000-8000-0000000002a0","partnership","twinning","[{""code"":""14010"",""percentage"":100}]","2","Water Utility Twinning"
EOF
for t in activity note partnership; do
    expect_file "$TEST_TMP/csv/$t.csv" "$TEST_TMP/$t.csv" "$t.csv"
done

check "CSV with --all: the withdrawn record in its place by id, and its withdrawn column"
expect_ok tw "$A" export --format csv --type note --all
cat >"$TEST_TMP/note-all.csv" <<'EOF'
"id","type","body","kind","partnership","title","withdrawn"
"01900000-0000-7000-8000-000000000010","note","","note","","Budget review",""
"01900000-0000-7000-8000-0000000001ff","note","Line one, with a comma
and a second line","note","01900000-0000-7000-8000-0000000002a0","Kick-off",""
"01900000-0000-7000-8000-000000000200","note","","decision","","Site visit, ""north""","true"
EOF
expect_file "$OUT" "$TEST_TMP/note-all.csv" "the CSV of notes with --all"

check "CSV with --where: the header holds only the columns of the rows selected"
expect_ok tw "$A" export --format csv --type activity --where status=3
cat >"$TEST_TMP/activity-3.csv" <<'EOF'
"id","type","kind","partnership","status","title"
"01900000-0000-7000-8000-000000000301","activity","study_tour","01900000-0000-7000-8000-0000000002a0","3","Peer exchange"
EOF
expect_file "$OUT" "$TEST_TMP/activity-3.csv" "the CSV of activities with status 3"

check "JSON to standard output: types by name, records by id, nested fields indented"
expect_ok tw "$A" export --format json --where kind=study_tour
cat >"$TEST_TMP/study.json" <<'EOF'
[
  {
    "id": "01900000-0000-7000-8000-000000000301",
    "kind": "study_tour",
    "partnership": "01900000-0000-7000-8000-0000000002a0",
    "status": "3",
    "title": "Peer exchange",
    "type": "activity"
  },
  {
    "dates": {
      "planned_start": "2026-03-01"
    },
    "id": "01900000-0000-7000-8000-0000000003ff",
    "kind": "study_tour",
    "partnership": "01900000-0000-7000-8000-0000000002a0",
    "status": "2",
    "title": "Study tour",
    "type": "activity"
  }
]
EOF
expect_file "$OUT" "$TEST_TMP/study.json" "the JSON of study tours"

check "JSON of the whole node to a file: every type in order, and it reads back as the same records"
expect_ok tw "$A" export --format json --all --out "$TEST_TMP/all.json"
expect_json_parses "$TEST_TMP/all.json" "export --format json --all"
expect_eq "$(grep -o '"id": "[^"]*"' "$TEST_TMP/all.json" | tr '\n' ' ')" \
    "\"id\": \"01900000-0000-7000-8000-000000000301\" \"id\": \"01900000-0000-7000-8000-0000000003ff\" \"id\": \"01900000-0000-7000-8000-000000000010\" \"id\": \"01900000-0000-7000-8000-0000000001ff\" \"id\": \"01900000-0000-7000-8000-000000000200\" \"id\": \"01900000-0000-7000-8000-0000000002a0\" " \
    "the records of the JSON export, in order"

check "a type with no record selected: an empty array, and a CSV with its header only"
expect_ok tw "$A" export --format json --type indicator
expect_eq "$(cat "$OUT")" "[]" "the JSON of no indicators"
expect_ok tw "$A" export --format csv --type note --where title=Nothing
expect_eq "$(cat "$OUT")" '"id","type"' "the CSV of no notes"
