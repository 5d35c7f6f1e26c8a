#!/usr/bin/env bash
# twin set with list paths, on an indicator shared by two institutions: LIST+=VALUE appends (an
# absent list made, at depth), LIST[N].field=VALUE sets inside an item; refusals exit 2, name the
# path and write nothing; blame credits each item and field to the member that set it, on both
# nodes, in text and JSON; a merge conflict on a list is settled by setting the list whole.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

field() { # field NODE ID JQ-PATH
    tw "$1" show "$2" --json | jq -c "$3"
}

check "North founds the network; South joins as an editor and syncs"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
sync_ok south

check "North adds an indicator with two periods and no actuals"
add_rec north partnership title="Tax twinning" partnership_type=twinning
add_rec north result partnership="$REC_ID" result_type=1 title="Audit manual adopted"
add_rec north indicator result="$REC_ID" title="Audits done" measure=1 \
    'periods=[{"start":"2026-01-01","end":"2026-12-31"},{"start":"2027-01-01","end":"2027-12-31"}]'
ind=$REC_ID
sync_ok south

check "North appends the first actual to period 0, making its list of actuals"
must "$TWIN" --dir "$(dir_of north)" set "$ind" \
    'periods[0].actuals+={"value":12,"recorded":"2026-03-31"}'
north_commit=$(head_of north)
sync_ok south
same "$(field south "$ind" '.periods[0].actuals')" '[{"recorded":"2026-03-31","value":12}]' \
    "period 0's actuals on South"

check "South appends a second actual and sets period 1's target in one change"
must "$TWIN" --dir "$(dir_of south)" set "$ind" \
    'periods[0].actuals+={"value":15,"recorded":"2026-06-30","comment":"Ukaguzi — ✓ 監査"}' \
    'periods[1].target.value=40'
south_commit=$(head_of south)
sync_ok south
same_heads north south
for n in north south; do
    same "$(field "$n" "$ind" '.periods[0].actuals | map(.value)')" '[12,15]' "actuals on $n"
    same "$(field "$n" "$ind" '.periods[0].actuals[1].comment')" '"Ukaguzi — ✓ 監査"' \
        "the second actual's comment on $n"
    same "$(field "$n" "$ind" '.periods[1].target')" '{"value":40}' "period 1's target on $n"
done

check "blame names North for the first actual, South for the second and for the target"
for n in north south; do
    must "$TWIN" --dir "$(dir_of "$n")" --json blame "$ind"
    python3 - "$RUN_OUT" "$north_commit" "$south_commit" "$(key_of north)" "$(key_of south)" <<'PY' ||
import json, sys
b = json.load(open(sys.argv[1]))
north_commit, south_commit, north_key, south_key = sys.argv[2:6]
f = {x["field"]: x for x in b["fields"]}
def by(path, commit, member, key):
    line = f[path]
    assert (line["commit"], line["member"], line["key"]) == (commit, member, key), (path, line)
by("periods[0].actuals[0]", north_commit, "XE-EXAMPLE-N", north_key)
by("periods[0].actuals[0].value", north_commit, "XE-EXAMPLE-N", north_key)
by("periods[0].actuals[1]", south_commit, "XE-EXAMPLE-S", south_key)
by("periods[0].actuals[1].recorded", south_commit, "XE-EXAMPLE-S", south_key)
by("periods[1].target.value", south_commit, "XE-EXAMPLE-S", south_key)
assert f["periods[0].actuals[1]"]["value"]["value"] == 15, f["periods[0].actuals[1]"]
assert f["periods[1].target.value"]["value"] == 40
# The periods' dates were set when North added the indicator, before either change.
assert f["periods[1].start"]["commit"] not in (north_commit, south_commit), f["periods[1].start"]
assert f["periods[1].start"]["member"] == "XE-EXAMPLE-N"
assert "periods" not in f and "periods[0].actuals" not in f
assert all(x["valid"] for x in b["fields"])
PY
        fail "blame on $n credits the wrong change"
done
must "$TWIN" --dir "$(dir_of north)" blame "$ind"
grep -E "^periods\[0\]\.actuals\[1\] .* ${south_commit:0:12} .* XE-EXAMPLE-S " "$RUN_OUT" >/dev/null ||
    fail "text blame lacks South's actual: $(cat "$RUN_OUT")"
grep -E "^periods\[0\]\.actuals\[0\] .* ${north_commit:0:12} .* XE-EXAMPLE-N " "$RUN_OUT" >/dev/null ||
    fail "text blame lacks North's actual: $(cat "$RUN_OUT")"
grep -E "^periods\[1\]\.target\.value +40 +${south_commit:0:12} .* XE-EXAMPLE-S " "$RUN_OUT" >/dev/null ||
    fail "text blame lacks South's target: $(cat "$RUN_OUT")"

check "a person record, sealed to every member, takes list paths too"
add_rec north person name="Amina Example"
person=$REC_ID
must "$TWIN" --dir "$(dir_of north)" set "$person" 'languages+=sw' 'languages+=en'
en_commit=$(head_of north)
must "$TWIN" --dir "$(dir_of north)" set "$person" 'languages[0]=fr'
fr_commit=$(head_of north)
sync_ok south
same "$(field south "$person" .languages)" '["fr","en"]' "the person's languages on South"
must "$TWIN" --dir "$(dir_of south)" --json blame "$person"
same "$(jq -c '[.fields[] | select(.field | startswith("languages")) | [.field, .commit]]' "$RUN_OUT")" \
    "[[\"languages[0]\",\"$fr_commit\"],[\"languages[1]\",\"$en_commit\"]]" \
    "blame of the sealed person's languages"

check "refused paths exit 2, name the path and the problem, and write nothing"
head_before=$(head_of north)
record_before=$(field north "$ind" .)
refuse() { # refuse MESSAGE ASSIGNMENT...
    local message=$1
    shift
    must_exit 2 "$TWIN" --dir "$(dir_of north)" set "$ind" "$@"
    err_has "$message"
}
refuse "periods[5].target.value: no item 5: 'periods' has 2 items (add one with periods+=VALUE)" \
    'periods[5].target.value=40'
refuse "periods[-1].start: [-1] is not an item number" 'periods[-1].start=2026-02-01'
refuse "periods[x].start: [x] is not an item number" 'periods[x].start=2026-02-01'
refuse "title: 'title' is not a list: += appends an item to a list" 'title+=Audits'
refuse "title[0]: 'title' is not a list" 'title[0]=Audits'
refuse "periods[1].actuals[0].value: no item 0: 'periods[1].actuals' is absent" \
    'periods[1].actuals[0].value=3'
refuse "indicator.periods[0].actuals: recorded actuals cannot be removed" 'periods[0].actuals[0]=null'
refuse "indicator.periods[0].colour: unknown field" 'periods[0].colour=red'
# The first assignment is good; the second's refusal keeps it from being written too.
refuse "periods[9].start: no item 9" 'periods[0].actuals+={"value":20}' 'periods[9].start=2026-01-01'
same "$(head_of north)" "$head_before" "North's head after the refusals"
same "$(field north "$ind" .)" "$record_before" "the indicator after the refusals"

check "actuals appended on both nodes at once conflict on periods, settled by setting it whole"
must "$TWIN" --dir "$(dir_of north)" set "$ind" 'periods[0].actuals+={"value":18}'
must "$TWIN" --dir "$(dir_of south)" set "$ind" 'periods[0].actuals+={"value":19}'
sync_ok south
out_has "merged with conflicts (1)"
same_heads north south
same "$(field north "$ind" '[.conflicts[].field]')" '["periods"]' "the conflict's field"
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$ind" 'periods[0].actuals+={"value":18}'
err_has "periods[0].actuals: the conflict is on periods as a whole; settle it with periods=VALUE"
both=$(field north "$ind" '.conflicts[0].value[0].actuals[2] as $x | .periods | .[0].actuals += [$x]')
must "$TWIN" --dir "$(dir_of north)" resolve "$ind" "periods=$both"
sync_ok south
same_heads north south
for n in north south; do
    same "$(field "$n" "$ind" '[.periods[0].actuals[].value] | sort')" '[12,15,18,19]' \
        "actuals on $n after resolve"
    same "$(field "$n" "$ind" .conflicts)" null "conflicts on $n after resolve"
done

serve_stop north
echo "PASS"
