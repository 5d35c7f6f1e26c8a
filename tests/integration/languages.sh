#!/usr/bin/env bash
# Texts in several languages, as IATI narratives are: a partnership in French and a note titled
# in English and French; `list --lang fr` shows the French title; `show --lang de` falls back to
# the partnership's language and says so; `set title.es=` adds a language; a bad language code is
# refused, naming the field, and --lang refuses what is not a language code; search finds the
# note by a French word of its title.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

N="$TEST_TMP/north"
found_node "$N" "Ministère des Finances d'Exemple" XE-EXAMPLE-MFE NL north "Jumelage fiscal" \
    --org-type 10

check "a partnership in French, a note titled in English and French"
P=$(add_record "$N" partnership title="Jumelage fiscal" partnership_type=twinning language=fr \
    status=2 dates.planned_start=2026-01-01 summary="Appui entre pairs")
T=$(add_record "$N" note kind=note partnership="$P" \
    'title={"en":"Steering minutes","fr":"Procès-verbal du comité"}' body="Plain body")
expect_ok tw "$N" show "$T"
expect_stdout_contains '"en": "Steering minutes"'
expect_stdout_contains '"fr": "Procès-verbal du comité"'

check "list --lang chooses the title shown"
expect_ok tw "$N" list note --lang fr
expect_stdout_contains "$T  note         Procès-verbal du comité"
expect_stdout_contains '(partnership "Jumelage fiscal")'
expect_ok tw "$N" list note --lang en
expect_stdout_contains "$T  note         Steering minutes"
expect_ok tw "$N" list note
expect_stdout_contains "$T  note         Steering minutes"

check "show --lang de falls back to the partnership's language, and says so"
expect_ok tw "$N" show "$T" --lang de
expect_stdout_contains '"title": "Procès-verbal du comité"'
expect_stdout_contains '"body": "Plain body"'
expect_stderr_contains "twin: note.title has no de text; shown in fr"
expect_ok tw "$N" show "$T" --lang en
expect_stdout_contains '"title": "Steering minutes"'
expect_stderr_empty

check "set title.es adds a language; a plain text given a language keeps its own"
expect_ok tw "$N" set "$T" title.es="Acta del comité"
expect_ok tw "$N" show "$T" --lang es
expect_stdout_contains '"title": "Acta del comité"'
expect_ok tw "$N" set "$T" body.en="English body"
expect_ok tw "$N" --json show "$T"
expect_stdout_contains '"fr": "Plain body"'
expect_stdout_contains '"en": "English body"'

check "bad language codes are refused, naming the field"
expect_exit 2 tw "$N" set "$T" title.xx="Nope"
expect_stderr_contains "note.title.xx: 'xx' is not a language code (ISO 639-1)"
expect_exit 2 tw "$N" add note kind=note 'title={}'
expect_stderr_contains "note.title: a map of languages needs at least one"
expect_exit 2 tw "$N" list --lang french
expect_stderr_contains "--lang takes a language code (ISO 639-1: en, fr), not 'french'"
expect_exit 2 tw "$N" show "$T" --lang EN

check "search finds the note by a word of its French title, and shows its title"
expect_ok tw "$N" search procès
expect_stdout_contains "$T  note         Steering minutes"
expect_ok tw "$N" search acta
expect_stdout_contains "$T  note"

check "twin schema says which fields take languages"
expect_ok tw "$N" schema note
expect_stdout_contains "or in several languages"
expect_ok tw "$N" --json schema note
expect_stdout_contains '"languages": true'

check "the IATI export writes one narrative per language, xml:lang where it is not the activity's"
expect_ok tw "$N" set "$P" title.en="Tax twinning" summary.en="Peer support"
expect_ok tw "$N" export --format iati --out "$TEST_TMP/iati.xml"
expect_stderr_contains "checked against the IATI 2.03 schema: valid"
python3 - "$TEST_TMP/iati.xml" <<'PY' || fail "the narratives are not as expected"
import sys
import xml.etree.ElementTree as ET
XL = "{http://www.w3.org/XML/1998/namespace}lang"
a = ET.parse(sys.argv[1]).getroot().find("iati-activity")
assert a.get(XL) == "fr", a.attrib
title = [(n.get(XL), n.text) for n in a.find("title").findall("narrative")]
assert title == [("en", "Tax twinning"), (None, "Jumelage fiscal")], title
desc = [(n.get(XL), n.text) for n in a.find("description").findall("narrative")]
assert desc == [("en", "Peer support"), (None, "Appui entre pairs")], desc
PY

check "an IATI import gives the maps back"
G="$TEST_TMP/other"
found_node "$G" "Ministry of Finance of Otherland" XE-EXAMPLE-MFO NL south "Other network"
expect_ok tw "$G" import "$TEST_TMP/iati.xml"
expect_ok tw "$G" --json list partnership
expect_stdout_contains '"en": "Tax twinning"'
expect_stdout_contains '"fr": "Jumelage fiscal"'
expect_stdout_contains '"fr": "Appui entre pairs"'

check "CSV carries a text in several languages as its JSON, and reads it back"
expect_ok tw "$N" export --format csv --all --out "$TEST_TMP/csv"
grep -qF '"{""en"":""Steering minutes"",' "$TEST_TMP/csv/note.csv" ||
    fail "note.csv does not hold the title's JSON: $(cat "$TEST_TMP/csv/note.csv")"
H="$TEST_TMP/third"
found_node "$H" "Ministry of Finance of Thirdland" XE-EXAMPLE-MFT NL south "Third network"
expect_ok tw "$H" import "$TEST_TMP/csv"
expect_ok tw "$H" show "$T" --lang es
expect_stdout_contains '"title": "Acta del comité"'
expect_ok tw "$H" list note --lang de
expect_stdout_contains "$T  note         Procès-verbal du comité"
expect_ok tw "$N" import "$TEST_TMP/csv"
expect_stdout_contains "Nothing to import"
