#!/usr/bin/env bash
# Concurrent edits of one record: different fields are all kept; the same field takes the value
# of the later change (include/twin/merge.h), and the other value is listed by `twin conflicts`
# on both nodes until `twin resolve` settles it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

field() { # field NODE ID JQ-PATH
    tw "$1" show "$2" --json | jq -c "$3"
}

check "two nodes on one network, sharing a partnership record"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
add_rec north partnership title="Health twinning" partnership_type=twinning summary="first" \
    dates.planned_start=2026-01-01 dates.planned_end=2027-12-31
p=$REC_ID
sync_ok south
same_heads north south

check "different fields changed on each side (top level and nested) are all kept"
must "$TWIN" --dir "$(dir_of north)" set "$p" title="Health twinning, phase 2" \
    dates.planned_start=2026-02-01
must "$TWIN" --dir "$(dir_of south)" set "$p" summary="agreed at the kick-off" \
    dates.planned_end=2027-06-30
sync_ok south
out_has "merged"
grep -q "with conflicts" "$RUN_OUT" && fail "a merge of different fields reported conflicts"
same_heads north south
for n in north south; do
    same "$(field "$n" "$p" .title)" '"Health twinning, phase 2"' "title on $n"
    same "$(field "$n" "$p" .summary)" '"agreed at the kick-off"' "summary on $n"
    same "$(field "$n" "$p" .dates)" '{"planned_end":"2027-06-30","planned_start":"2026-02-01"}' \
        "dates on $n"
    same "$(field "$n" "$p" .conflicts)" null "conflicts on $n"
    must "$TWIN" --dir "$(dir_of "$n")" conflicts
    out_has "No unresolved conflicts."
done

check "the same field changed on both sides: the later change wins, the other is a conflict"
must "$TWIN" --dir "$(dir_of north)" set "$p" status=2
north_commit=$(head_of north)
sleep 1.1 # committer times are in seconds: South's change is strictly later
must "$TWIN" --dir "$(dir_of south)" set "$p" status=3
sync_ok south
out_has "merged with conflicts (1)"
same_heads north south
for n in north south; do
    same "$(field "$n" "$p" .status)" '"3"' "status on $n (the later value)"
    same "$(field "$n" "$p" '[.conflicts[] | {field, value, from}]')" \
        "[{\"field\":\"status\",\"value\":\"2\",\"from\":\"$north_commit\"}]" "conflicts in the record on $n"
    must "$TWIN" --dir "$(dir_of "$n")" conflicts
    out_has "$p  partnership  Health twinning, phase 2"
    out_has "status: kept \"3\"; also written: \"2\" (commit ${north_commit:0:12})"
    must "$TWIN" --dir "$(dir_of "$n")" --json conflicts
    same "$(jq -c '[.[] | .id, (.conflicts | length)]' "$RUN_OUT")" "[\"$p\",1]" \
        "twin --json conflicts on $n"
done

check "twin resolve on a field without a conflict is refused with exit 2"
before=$(head_of north)
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$p" title="Another title"
err_has "title: no conflict on this field"
same "$(head_of north)" "$before" "North's head after a refused resolve"

check "twin resolve settles it; after a sync neither node lists a conflict"
must "$TWIN" --dir "$(dir_of north)" resolve "$p" status=4
out_has "Resolved $p"
sync_ok south
out_has "received 1 commit, sent 0"
same_heads north south
for n in north south; do
    must "$TWIN" --dir "$(dir_of "$n")" conflicts
    out_has "No unresolved conflicts."
    same "$(field "$n" "$p" .status)" '"4"' "status on $n after resolve"
    same "$(field "$n" "$p" .conflicts)" null "conflicts list on $n after resolve"
    same "$(field "$n" "$p" .summary)" '"agreed at the kick-off"' "summary on $n after resolve"
done

check "a nested field changed on both sides: the conflict names the dotted path"
must "$TWIN" --dir "$(dir_of south)" set "$p" dates.actual_start=2026-03-01
south_commit=$(head_of south)
sleep 1.1
must "$TWIN" --dir "$(dir_of north)" set "$p" dates.actual_start=2026-03-15
sync_ok south
out_has "with conflicts (1)"
same_heads north south
for n in north south; do
    same "$(field "$n" "$p" .dates.actual_start)" '"2026-03-15"' "dates.actual_start on $n"
    same "$(field "$n" "$p" '[.conflicts[] | {field, value, from}]')" \
        "[{\"field\":\"dates.actual_start\",\"value\":\"2026-03-01\",\"from\":\"$south_commit\"}]" \
        "nested conflict on $n"
done
must "$TWIN" --dir "$(dir_of south)" resolve "$p" dates.actual_start=2026-03-01
sync_ok south
same_heads north south
for n in north south; do
    must "$TWIN" --dir "$(dir_of "$n")" conflicts
    out_has "No unresolved conflicts."
    same "$(field "$n" "$p" .dates.actual_start)" '"2026-03-01"' "dates.actual_start on $n"
done

check "the history is valid on both nodes"
verify_ok north south
fsck_ok north south
serve_stop north
echo "PASS"
