#!/usr/bin/env bash
# `twin search`: records found by the words of their text, best first (a match in the title
# before one in a body), every word required, a trailing * for words that begin so, without
# regard to case or accents, a quoted phrase in order; --type, --all (withdrawn ones) and -n;
# --json; the cache kept up as records change and the same answers with it deleted; bad input
# named with exit 2.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

N="$TEST_TMP/north"
found_node "$N" "Ministry of Finance of Exampleland" XE-EXAMPLE-MOF NL north "Example Tax Twinning"

check "records with words in their titles and texts"
P=$(add_record "$N" partnership title="Tax administration twinning" partnership_type=twinning \
    summary="Peer support between two revenue bodies")
A=$(add_record "$N" activity title="VAT workshop" kind=workshop partnership="$P" \
    description="Training on value added tax returns and e-invoicing")
B=$(add_record "$N" activity title="Study tour" kind=study_tour partnership="$P" \
    description="Visit to the VAT office of the Régie des impôts")
C=$(add_record "$N" note kind=note title="Audit plan" body="Risk-based audit of large taxpayers")
W=$(add_record "$N" note kind=note title="VAT refunds backlog" body="Old figures")
expect_ok tw "$N" withdraw "$W"

check "every word is required; a title match ranks first; the words found are marked"
expect_ok tw "$N" search vat
expect_eq "$(awk 'NR % 2 == 1 { printf "%s ", $1 }' "$OUT")" "$A $B " "records found for 'vat', best first"
expect_stdout_contains "$A  activity     VAT workshop"
expect_stdout_contains "    [VAT] workshop"
expect_stdout_contains "Visit to the [VAT] office"
expect_ok tw "$N" search vat training
expect_eq "$(awk 'NR % 2 == 1 { printf "%s ", $1 }' "$OUT")" "$A " "records holding 'vat' and 'training'"
expect_ok tw "$N" search vat nowhere
expect_eq "$(wc -c <"$OUT")" 0 "output of a search that finds nothing"
expect_stderr_contains "twin: no record holds all of those words (withdrawn ones: --all)"

check "case, accents, words that begin so, and phrases"
expect_ok tw "$N" search IMPOTS
expect_stdout_contains "$B  activity     Study tour"
expect_ok tw "$N" search 'adminis*'
expect_stdout_contains "$P  partnership  Tax administration twinning"
expect_ok tw "$N" search "added tax"
expect_stdout_contains "$A  activity"
expect_ok tw "$N" search "tax added"
expect_eq "$(wc -c <"$OUT")" 0 "output for a phrase whose words are out of order"
expect_ok tw "$N" search e-invoicing
expect_stdout_contains "$A  activity"

check "--type, --all and -n"
expect_ok tw "$N" search 'tax*' --type note
expect_eq "$(awk 'NR % 2 == 1 { printf "%s ", $1 }' "$OUT")" "$C " "notes holding a word that begins with 'tax'"
expect_ok tw "$N" search vat --all
expect_stdout_contains "$W  note         VAT refunds backlog  (withdrawn)"
expect_ok tw "$N" search vat --all -n 1
expect_eq "$(grep -c '^[0-9a-f]' "$OUT")" 1 "records listed with -n 1"

check "--json gives each record found with the words around, unmarked, and its rank"
expect_ok tw "$N" --json search workshop
expect_json_parses "$OUT" "search --json"
jq -e --arg id "$A" 'length == 1 and .[0].id == $id and .[0].type == "activity" and
    .[0].title == "VAT workshop" and .[0].found == "VAT workshop" and .[0].sealed == false and
    (.[0].rank | type) == "number"' "$OUT" >/dev/null || fail "search --json: $(cat "$OUT")"
expect_ok tw "$N" --json search nowhere
expect_eq "$(cat "$OUT")" "[]" "search --json that finds nothing"

check "the words are kept up as records change, and the same without the cache"
expect_ok tw "$N" set "$B" description="Visit to the customs office"
expect_ok tw "$N" search vat
expect_eq "$(awk 'NR % 2 == 1 { printf "%s ", $1 }' "$OUT")" "$A " "records holding 'vat' after a change"
expect_ok tw "$N" search customs
expect_stdout_contains "$B  activity     Study tour"
cp "$OUT" "$TEST_TMP/kept"
rm -f "$N/listcache.db" "$N/listcache.db-wal" "$N/listcache.db-shm"
expect_ok tw "$N" search customs
cmp -s "$OUT" "$TEST_TMP/kept" || fail "search answers otherwise without the cache"

check "bad input is named, with exit 2"
expect_exit 2 tw "$N" search
expect_stderr_contains "search for what? give one or more words"
expect_exit 2 tw "$N" search '*'
expect_stderr_contains "'*' is not a word to search for"
expect_exit 2 tw "$N" search vat -n many
expect_stderr_contains "-n takes a number of records (0: all), not 'many'"
expect_exit 2 tw "$N" search -x vat
expect_stderr_contains "unknown option '-x'"
expect_exit 2 tw "$N" search vat --type nothing
expect_stderr_contains "unknown record type 'nothing'"
expect_ok tw "$N" search -- -vat
expect_stdout_contains "$A  activity"

echo "search: ranked, exact about words, kept up, and plain about bad input"
