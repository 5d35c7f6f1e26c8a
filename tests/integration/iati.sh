#!/usr/bin/env bash
# IATI export: a partnership with members, sectors, countries, an MoU, a result with an indicator,
# budgets (one corrected) and transactions (one a correction) exports as an iati-activities 2.03
# document that twin checks against its built-in copy of the official schema, and that xmllint
# accepts too; it keeps IATI's rules: the identifier begins with the reporting organisation's
# ref, sector and country percentages sum to 100, there is a start date, and language and
# currency are given. Person records, notes and sides stay out; a partnership IATI cannot take
# is named. Records twin accepts but the IATI schema does not (no summary, a percentage written
# in exponent form) make the export refuse, naming the element, line and activity, and write
# nothing. The Dutch foreign ministry's sample and the official annotated example import
# cleanly, the sample's budgets and transactions with them (its reversals as corrections), their
# re-export validates, a second import changes nothing, a budget changed in the file is
# corrected by the difference, money twin cannot represent is skipped and named with its line,
# DTDs (entity expansion) are refused, and so is an activity-date type that is not a whole
# number from 1 to 4.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

SCHEMA="$TWIN_TEST_DATA/iati/iati-activities-schema.xsd"
[ -f "$SCHEMA" ] || fail "no IATI schema at $SCHEMA"
A="$TEST_TMP/a"

check "a partnership with all that IATI carries, and records that must stay out"
found_node "$A" "Ministry of Water, North" XE-EXAMPLE-MOW NL north "Water Twinning" --org-type 10
I1=$(add_record "$A" institution name="Water Ministry North" org_id=XE-EXAMPLE-MOW country=NL \
    side=north org_type=10)
I2=$(add_record "$A" institution name="Water Authority South" org_id=XE-EXAMPLE-WAS country=TZ \
    side=south org_type=10)
P=$(add_record "$A" partnership title="Water twinning" partnership_type=twinning status=2 \
    dates.planned_start=2026-01-01 dates.planned_end=2028-12-31 currency=EUR \
    summary="Utilities learn from each other" 'objectives=["Cut water losses"]' \
    "members=[{\"institution\":\"$I1\",\"side\":\"north\"},{\"institution\":\"$I2\",\"side\":\"south\",\"iati_role\":\"2\"}]" \
    'sectors=[{"code":"14010","percentage":60},{"code":"14020","percentage":40}]' \
    'recipient_countries=[{"code":"TZ","percentage":100}]')
add_record "$A" document title="Memorandum of understanding" kind=mou partnership="$P" \
    url=https://example.org/mou.pdf date=2026-01-15 >/dev/null
R=$(add_record "$A" result title="Less water lost" partnership="$P" result_type=2)
add_record "$A" indicator title="Non-revenue water (%)" result="$R" measure=2 \
    'baseline={"year":2025,"value":42}' \
    'periods=[{"start":"2026-01-01","end":"2026-12-31","target":{"value":35},"actuals":[{"value":38}]}]' \
    >/dev/null
add_record "$A" person name="A. Example" institution="$I1" >/dev/null
B=$(add_record "$A" budget partnership="$P" budget_type=original status=committed \
    period_start=2026-01-01 period_end=2026-12-31 value=120000 currency=EUR)
add_record "$A" budget partnership="$P" budget_type=original period_start=2026-01-01 \
    period_end=2026-12-31 value=-20000.5 currency=EUR corrects="$B" >/dev/null
add_record "$A" budget partnership="$P" budget_type=revised period_start=2027-01-01 \
    period_end=2027-12-31 value=90000 currency=EUR value_date=2026-06-30 >/dev/null
T=$(add_record "$A" transaction partnership="$P" transaction_type=3 value=50000 currency=EUR \
    date=2026-03-01 provider="$I1" receiver="$I2" description="First tranche")
add_record "$A" transaction partnership="$P" transaction_type=3 value=-5000 currency=EUR \
    date=2026-03-15 value_date=2026-03-01 corrects="$T" description="Tranche overpaid" >/dev/null
add_record "$A" note title="Private steering note" partnership="$P" >/dev/null

check "the export is checked against the IATI 2.03 schema by twin, and validates with xmllint"
expect_ok tw "$A" export --format iati --out "$TEST_TMP/iati.xml"
expect_stderr_contains "twin: 1 IATI activity, checked against the IATI 2.03 schema: valid"
xmllint --noout --nonet --schema "$SCHEMA" "$TEST_TMP/iati.xml" 2>"$TEST_TMP/xmllint.err" ||
    fail "xmllint refused the export: $(cat "$TEST_TMP/xmllint.err")"

check "IATI's rules hold, and what must stay out is out"
python3 - "$TEST_TMP/iati.xml" "$P" <<'PY' || fail "an IATI rule is broken"
import sys, xml.etree.ElementTree as ET
doc = ET.parse(sys.argv[1]).getroot()
pid = sys.argv[2]
acts = doc.findall("iati-activity")
assert doc.get("version") == "2.03" and len(acts) == 1, "one activity, version 2.03"
a = acts[0]
ref = a.find("reporting-org").get("ref")
assert ref == "XE-EXAMPLE-MOW" and a.find("reporting-org").get("type") == "10"
assert a.findtext("iati-identifier").startswith(ref + "-"), "identifier prefix"
for el in ("sector", "recipient-country"):
    assert sum(float(s.get("percentage")) for s in a.findall(el)) == 100, el + " percentages"
assert any(d.get("type") in ("1", "2") for d in a.findall("activity-date")), "a start date"
lang = "{http://www.w3.org/XML/1998/namespace}lang"
assert a.get(lang) == "en" and a.get("default-currency") == "EUR", "language and currency"
assert any(o.get("type") == "A1" and o.get("ref") == pid for o in a.findall("other-identifier"))
assert any(t.get("vocabulary") == "99" and t.get("code") == "twinning" for t in a.findall("tag"))
roles = {p.get("ref"): p.get("role") for p in a.findall("participating-org")}
assert roles == {"XE-EXAMPLE-MOW": "4", "XE-EXAMPLE-WAS": "2"}, roles
d = a.find("document-link")
assert d.get("url") == "https://example.org/mou.pdf" and d.find("category").get("code") == "A09"
ind = a.find("result/indicator")
assert ind.find("baseline").get("value") == "42"
assert ind.find("period/target").get("value") == "35" and ind.find("period/actual").get("value") == "38"
budgets = [(b.get("type"), b.get("status"), b.find("period-start").get("iso-date"),
            b.find("period-end").get("iso-date"), b.find("value").text,
            b.find("value").get("currency"), b.find("value").get("value-date"))
           for b in a.findall("budget")]
assert budgets == [("1", "2", "2026-01-01", "2026-12-31", "99999.5", "EUR", "2026-01-01"),
                   ("2", None, "2027-01-01", "2027-12-31", "90000", "EUR", "2026-06-30")], budgets
tx = [(t.find("transaction-type").get("code"), t.find("transaction-date").get("iso-date"),
       t.find("value").text, t.find("value").get("value-date"), t.findtext("description/narrative"),
       t.find("provider-org").get("ref") if t.find("provider-org") is not None else None,
       t.findtext("receiver-org/narrative"))
      for t in a.findall("transaction")]
assert tx == [("3", "2026-03-01", "50000", "2026-03-01", "First tranche", "XE-EXAMPLE-MOW",
               "Water Authority South"),
              ("3", "2026-03-15", "-5000", "2026-03-01", "Tranche overpaid", None, None)], tx
order = [c.tag for c in a]
assert order.index("tag") < order.index("budget") < order.index("transaction") < \
    order.index("document-link"), order
text = open(sys.argv[1]).read()
for absent in ("Private steering note", "A. Example", "north", "south"):
    assert absent not in text.replace("Water Authority South", "").replace("Water Ministry North", ""), absent
PY

check "a partnership without a start date is named, and no file is left"
add_record "$A" partnership title="Undated twinning" partnership_type=twinning status=1 >/dev/null
expect_exit 2 tw "$A" export --format iati --out "$TEST_TMP/undated.xml"
expect_stderr_contains "IATI needs a start date"
[ ! -e "$TEST_TMP/undated.xml" ] || fail "a refused export left a file"
expect_ok tw "$A" export --format iati --where title="Water twinning"
expect_stderr_contains "checked against the IATI 2.03 schema: valid"
echo "$(cat "$OUT")" | xmllint --noout --nonet --schema "$SCHEMA" - 2>/dev/null ||
    fail "the --where export does not validate"

check "what twin accepts but the IATI schema refuses stops the export, named, and nothing is written"
# IATI needs a description, twin's summary is optional: the participating-org on line 11 stands
# where the description belongs.
Q=$(add_record "$A" partnership title="Undescribed twinning" partnership_type=twinning status=2 \
    dates.planned_start=2026-01-01)
expect_exit 2 tw "$A" export --format iati --where title="Undescribed twinning" \
    --out "$TEST_TMP/undescribed.xml"
expect_stderr_contains "twin: the export is not valid against the IATI 2.03 schema, so nothing was written: line 11 (activity XE-EXAMPLE-MOW-$Q): Element 'participating-org': This element is not expected. Expected is ( description )."
[ ! -e "$TEST_TMP/undescribed.xml" ] || fail "a refused export left a file"
expect_exit 2 tw "$A" export --format iati --where title="Undescribed twinning"
[ ! -s "$OUT" ] || fail "a refused export printed XML: $(head -c 200 "$OUT")"
expect_stderr_contains "Expected is ( description )"
# Percentages within twin's 0.01 of 100, one so small that it is written as 1e-5, which is no
# xsd:decimal.
S=$(add_record "$A" partnership title="Tiny share" partnership_type=twinning status=2 \
    dates.planned_start=2026-01-01 summary="A sector with a sliver" \
    'sectors=[{"code":"14010","percentage":0.00001},{"code":"14020","percentage":99.99999}]')
expect_exit 2 tw "$A" export --format iati --where title="Tiny share" --out "$TEST_TMP/tiny.xml"
expect_stderr_contains "(activity XE-EXAMPLE-MOW-$S): Element 'sector', attribute 'percentage': '1e-5' is not a valid value of the atomic type 'xs:decimal'."
[ ! -e "$TEST_TMP/tiny.xml" ] || fail "a refused export left a file"

check "IATI import: the NL MFA sample (13 activities) and the annotated example import cleanly"
G="$TEST_TMP/g"
found_node "$G" "Ministry of Foreign Affairs" XE-EXAMPLE-MFA NL donor "Import Test" --org-type 10
BEFORE=$(commit_count "$G")
expect_ok tw "$G" import "$TWIN_TEST_DATA/iati/nl-mfa-sample-2.03.xml"
expect_stdout_contains "Skipped"

check "the sample's 13 budgets and 72 transactions come in, with their values and organisations"
for t in budget transaction institution partnership; do
    expect_ok tw "$G" --json list "$t" --all
    cp "$OUT" "$TEST_TMP/nl-$t.json"
done
python3 - "$TEST_TMP" <<'PY2' || fail "the sample's money did not come in as the file has it"
import json, sys
load = lambda t: json.load(open(f"{sys.argv[1]}/nl-{t}.json"))
budgets, txs, insts, parts = load("budget"), load("transaction"), load("institution"), load("partnership")
assert len(budgets) == 13 and len(txs) == 72, (len(budgets), len(txs))
p = next(p for p in parts if p.get("iati_identifier") == "NL-1-PPR-24706")
b = [b for b in budgets if b["partnership"] == p["id"]]
assert len(b) == 1, b
b = b[0]
assert (b["value"], b["currency"], b["period_start"], b["period_end"], b["budget_type"],
        b["value_date"]) == (2000000, "EUR", "2014-01-01", "2016-07-25", "original",
                             "2018-01-01"), b
d = [t for t in txs if t["partnership"] == p["id"] and t["transaction_type"] == "3"]
assert sorted((t["date"], t["value"]) for t in d) == [("2014-04-08", 1500000),
                                                      ("2015-06-30", 500000)], d
name = {i["id"]: i for i in insts}
assert all(name[t["provider"]]["org_id"] == "XM-DAC-7" and name[t["receiver"]]["name"] == "ICTJ"
           for t in d), d
# The 11 reversals (negative commitments) correct a commitment of their activity in their currency.
rev = [t for t in txs if t["value"] < 0]
assert len(rev) == 11 and all(t.get("corrects") for t in rev), rev
by_id = {t["id"]: t for t in txs}
for t in rev:
    c = by_id[t["corrects"]]
    assert (c["partnership"], c["transaction_type"], c["currency"]) == \
        (t["partnership"], t["transaction_type"], t["currency"]) and c["value"] > 0, (t, c)
PY2
expect_ok tw "$G" --json import "$TWIN_TEST_DATA/iati/activity-standard-example-annotated.xml"
expect_json_parses "$OUT" "import --json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["committed"] and j["skipped"] > 0 and not j["errors"], j' "$OUT" ||
    fail "the annotated example did not import cleanly: $(cat "$OUT")"
expect_eq "$(commit_count "$G")" $((BEFORE + 2)) "commits after two imports"
expect_ok tw "$G" --json list partnership
python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 14' "$OUT" ||
    fail "expected 14 partnerships (13 + 1)"
expect_ok tw "$G" verify

check "their re-export validates, and importing the sample again changes nothing"
expect_ok tw "$G" export --format iati --out "$TEST_TMP/re.xml"
expect_stderr_contains "checked against the IATI 2.03 schema: valid"
xmllint --noout --nonet --schema "$SCHEMA" "$TEST_TMP/re.xml" 2>"$TEST_TMP/xmllint.err" ||
    fail "the re-export does not validate: $(cat "$TEST_TMP/xmllint.err")"
expect_ok tw "$G" import "$TWIN_TEST_DATA/iati/nl-mfa-sample-2.03.xml"
expect_stdout_contains "Nothing to import"
expect_eq "$(commit_count "$G")" $((BEFORE + 2)) "commits after importing the sample again"

check "a budget whose value changed is corrected by the difference; money twin cannot keep is named"
sed -e 's|<value value-date="2018-01-01">2000000</value>|<value value-date="2018-01-01">1800000</value>|' \
    -e '0,/<transaction-type code="3"\/>/s//<transaction-type code="99"\/>/' \
    "$TWIN_TEST_DATA/iati/nl-mfa-sample-2.03.xml" >"$TEST_TMP/changed.xml"
grep -q '>1800000<' "$TEST_TMP/changed.xml" && grep -q 'code="99"' "$TEST_TMP/changed.xml" ||
    fail "nothing to change in the sample"
expect_ok tw "$G" import "$TEST_TMP/changed.xml"
expect_stdout_contains "1 new, 0 changed"
expect_stderr_contains "twin: activity 1 (line 137): transaction: transaction-type '99' is not an IATI transaction type (1-13); skipped"
expect_ok tw "$G" --json list budget --all
python3 - "$OUT" <<'PY2' || fail "the changed budget was not corrected by the difference"
import json, sys
b = json.load(open(sys.argv[1]))
fix = [x for x in b if x.get("corrects")]
assert len(b) == 15 and len(fix) == 1 and fix[0]["value"] == -200000, fix
orig = next(x for x in b if x["id"] == fix[0]["corrects"])
assert orig["value"] == 2000000 and orig["period_end"] == "2016-07-25", orig
PY2
expect_ok tw "$G" import "$TEST_TMP/changed.xml"
expect_stdout_contains "Nothing to import"
expect_ok tw "$G" export --format iati --out "$TEST_TMP/re2.xml"
python3 - "$TEST_TMP/re2.xml" <<'PY2' || fail "the corrected budget is not exported at its new value"
import sys, xml.etree.ElementTree as ET
a = next(a for a in ET.parse(sys.argv[1]).getroot()
         if a.findtext("title/narrative") == "ICTJ 2013-2014")
assert [b.find("value").text for b in a.findall("budget")] == ["1800000"], a
PY2

cat >"$TEST_TMP/odd.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03">
  <iati-activity default-currency="EUR">
    <iati-identifier>XE-EXAMPLE-MFA-ODD</iati-identifier>
    <title><narrative>Odd money</narrative></title>
    <budget status="3"><period-start iso-date="2026-01-01"/><period-end iso-date="2026-12-31"/><value value-date="2026-01-01">10</value></budget>
    <budget><period-start iso-date="2026-01-01"/><period-end iso-date="2026-12-31"/><value value-date="2026-01-01">-10</value></budget>
    <budget type="2"><period-start iso-date="2026-01-01"/><period-end iso-date="2026-12-31"/><value currency="XEU" value-date="2026-01-01">10</value></budget>
    <transaction><transaction-type code="3"/><transaction-date iso-date="2026-02-01"/></transaction>
    <transaction><transaction-type code="3"/><transaction-date iso-date="2026-02-01"/><value value-date="2026-02-01">ten</value></transaction>
    <transaction><transaction-type code="4"/><transaction-date iso-date="2026-02-01"/><value value-date="2026-02-01">-5</value></transaction>
    <transaction><transaction-type code="4"/><value value-date="2026-02-01">5</value></transaction>
  </iati-activity>
</iati-activities>
XML
expect_ok tw "$G" import "$TEST_TMP/odd.xml"
for msg in "(line 6): budget: status '3' is not an IATI budget status (1 indicative, 2 committed); skipped" \
    "(line 7): budget: value -10 is negative: IATI has no budget reversal" \
    "(line 8): budget: currency 'XEU' is not an ISO 4217 code; skipped" \
    "(line 9): transaction: no value; skipped" \
    "(line 10): transaction: value 'ten' is not a number; skipped" \
    "(line 11): transaction: value -5 is negative, and the activity has no transaction of type 4 in EUR for it to correct; skipped" \
    "(line 12): transaction: no transaction-date; skipped"; do
    expect_stderr_contains "twin: activity 1 $msg"
done
expect_stdout_contains "1 new"

check "a DTD (entity expansion, external entities) is refused; malformed XML and date types are named"
BEFORE=$(commit_count "$G")
cat >"$TEST_TMP/bomb.xml" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE iati-activities [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<iati-activities version="2.03"><iati-activity><iati-identifier>&b;</iati-identifier></iati-activity></iati-activities>
XML
expect_exit 2 tw "$G" import "$TEST_TMP/bomb.xml"
expect_stderr_contains "DTD"
cat >"$TEST_TMP/xxe.xml" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE iati-activities [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<iati-activities version="2.03"><iati-activity><iati-identifier>&x;</iati-identifier></iati-activity></iati-activities>
XML
expect_exit 2 tw "$G" import "$TEST_TMP/xxe.xml"
expect_stderr_contains "DTD"
for bad in 1x 0 5 " 2" 99999999999999999999 ""; do
    sed "s/iso-date=\"2012-04-28\" type=\"2\"/iso-date=\"2012-04-28\" type=\"$bad\"/" \
        "$TWIN_TEST_DATA/iati/activity-standard-example-annotated.xml" >"$TEST_TMP/datetype.xml"
    grep -qF "iso-date=\"2012-04-28\" type=\"$bad\"" "$TEST_TMP/datetype.xml" ||
        fail "no date type to break"
    expect_exit 2 tw "$G" import "$TEST_TMP/datetype.xml"
    expect_stderr_contains "activity 1 (line 74)"
    expect_stderr_contains "): activity-date type '$bad' is not an IATI activity date type (1-4)"
done
printf '<iati-activities version="2.03"><iati-activity>' >"$TEST_TMP/cut.xml"
expect_exit 2 tw "$G" import "$TEST_TMP/cut.xml"
expect_stderr_contains "not well-formed XML"
expect_eq "$(commit_count "$G")" "$BEFORE" "commits after refused files"

echo "PASS: $TEST_NAME"
