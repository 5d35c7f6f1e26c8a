#!/usr/bin/env bash
# Contributions confirmed by the institution they are recorded for, across two real nodes: North
# records its own pledge (confirmed as written) and one in South's name, which both nodes' reports
# show unconfirmed until South runs twin confirm and syncs back; North marks it delivered, and the
# reports show it delivered but unconfirmed until South confirms again. North's own attempts to
# confirm South's entry (twin confirm, twin set confirmed=...) are refused with the rule, and
# nothing is written. An import confirms a node's own rows as written, and refuses a confirmation
# given in another institution's name.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# figures NODE ORG_ID MEASURE: the four figures of ORG_ID's line in MEASURE (a currency or unit)
# in NODE's report, "pledged-confirmed pledged-unconfirmed delivered-confirmed
# delivered-unconfirmed".
figures() {
    local node=$1 org=$2 measure=$3
    tw "$node" --json report contributions |
        jq -r --arg org "$org" --arg m "$measure" '.partnerships[].institutions[]
            | select(.org_id == $org) | .amounts[] | select((.currency // .unit) == $m)
            | "\(.pledged.confirmed) \(.pledged.unconfirmed) \(.delivered.confirmed) \(.delivered.unconfirmed)"'
}

# expect_figures WANT ORG_ID MEASURE NODE...: each node's report has these figures.
expect_figures() {
    local want=$1 org=$2 measure=$3 node
    for node in "${@:4}"; do
        same "$(figures "$node" "$org" "$measure")" "$want" "$org in $measure on $node"
    done
}

check "North founds and serves; South joins"
node_new north XE-EXAMPLE-NORTH NL north
serve_start north
invite_join north south XE-EXAMPLE-SOUTH

check "North records a partnership, both institutions, its own pledge and one in South's name"
add_rec north partnership title="Tax twinning" partnership_type=twinning
part=$REC_ID
add_rec north institution name="Ministry North" org_id=XE-EXAMPLE-NORTH country=NL side=north
inst_north=$REC_ID
add_rec north institution name="Ministry South" org_id=XE-EXAMPLE-SOUTH country=TZ side=south
inst_south=$REC_ID
add_rec north contribution partnership="$part" institution="$inst_north" kind=cash \
    category=funding value=5000 currency=EUR date=2026-03-01 status=pledged
own=$REC_ID
add_rec north contribution partnership="$part" institution="$inst_south" kind=in_kind \
    category=expert_days quantity=20 unit=days date=2026-03-01 status=pledged
theirs=$REC_ID
same "$(tw north show "$own" --json | jq -r .confirmed)" pledged "North's own pledge, confirmed"
same "$(tw north show "$theirs" --json | jq -r '.confirmed // "none"')" none \
    "the pledge in South's name, unconfirmed"

check "North may not confirm South's pledge: refused with the rule, nothing written"
before=$(head_of north)
must_exit 2 "$TWIN" --dir "$(dir_of north)" confirm "$theirs"
err_has "contribution $theirs is in the name of Ministry South (XE-EXAMPLE-SOUTH): only that institution confirms it"
must_exit 2 "$TWIN" --dir "$(dir_of north)" set "$theirs" confirmed=pledged
err_has "contribution.confirmed: only XE-EXAMPLE-SOUTH, the contributing institution, confirms its contribution; XE-EXAMPLE-NORTH may not"
must_exit 2 "$TWIN" --dir "$(dir_of north)" confirm "$part"
err_has "is a partnership, not a contribution"
same "$(head_of north)" "$before" "North's head after the refusals"

check "it syncs; both reports show South's pledge unconfirmed, North's confirmed"
sync_ok south
same_heads north south
expect_figures "0 20 0 0" XE-EXAMPLE-SOUTH days north south
expect_figures "5000 0 0 0" XE-EXAMPLE-NORTH EUR north south
must "$TWIN" --dir "$(dir_of south)" report contributions
out_has "Tax twinning (partnership $part)"
grep -Eq '^  Ministry South \(XE-EXAMPLE-SOUTH\) +in kind +days +0 +20 +0 +0$' "$RUN_OUT" || {
    show_run
    fail "the text report has no aligned line for South's pledge"
}
# Every line of the table is as wide as its header: the columns line up.
widths=$(sed -n '3,$p' "$RUN_OUT" | awk '{ print length($0) }' | sort -u)
same "$(wc -l <<<"$widths")" 1 "widths of the table's lines ($(tr '\n' ' ' <<<"$widths"))"

check "South confirms by a prefix of the id, and syncs back: both reports show it confirmed"
must "$TWIN" --dir "$(dir_of south)" confirm "${theirs:0:18}"
out_has "Confirmed $theirs in commit"
sync_ok south
same_heads north south
expect_figures "20 0 0 0" XE-EXAMPLE-SOUTH days north south

check "confirming again says so and writes nothing"
before=$(head_of south)
must "$TWIN" --dir "$(dir_of south)" confirm "$theirs"
out_has "is confirmed as pledged already; nothing was written"
same "$(head_of south)" "$before" "South's head after a confirmation with nothing to do"

check "North marks it delivered: delivered but unconfirmed until South confirms again"
must "$TWIN" --dir "$(dir_of north)" set "$theirs" status=delivered
sync_ok south
same_heads north south
expect_figures "0 20 0 20" XE-EXAMPLE-SOUTH days north south
must "$TWIN" --dir "$(dir_of south)" confirm "$theirs"
sync_ok south
same_heads north south
expect_figures "20 0 20 0" XE-EXAMPLE-SOUTH days north south

check "a correction counts with its own status; one partnership's report alone"
add_rec north contribution partnership="$part" institution="$inst_north" kind=cash \
    category=funding value=-500 currency=EUR date=2026-03-02 status=delivered corrects="$own"
must "$TWIN" --dir "$(dir_of north)" set "$own" status=delivered
expect_figures "4500 0 4500 0" XE-EXAMPLE-NORTH EUR north
must "$TWIN" --dir "$(dir_of north)" --json report contributions "${part:0:18}"
same "$(jq -r '.partnerships | length' "$RUN_OUT")" 1 "partnerships in the report of one"
same "$(jq -r '.skipped' "$RUN_OUT")" 0 "records skipped"
must_exit 2 "$TWIN" --dir "$(dir_of north)" report contributions "$inst_north"
err_has "no partnership $inst_north"
must_exit 2 "$TWIN" --dir "$(dir_of north)" report budgets
err_has "no report 'budgets'"

check "an import confirms South's own rows as written, and refuses a confirmation for North"
csv="$SYNC_TMP/contribution.csv"
printf 'partnership,institution,kind,category,quantity,unit,date,status\n%s,%s,in_kind,venue,3,days,2026-04-01,pledged\n' \
    "$part" "$inst_south" >"$csv"
sync_ok south
must "$TWIN" --dir "$(dir_of south)" import "$csv"
imported=$(tw south --json list contribution --where category=venue | jq -r '.[0].id')
same "$(tw south show "$imported" --json | jq -r .confirmed)" pledged "South's imported pledge"
before=$(head_of south)
printf 'partnership,institution,kind,category,quantity,unit,date,status,confirmed\n%s,%s,in_kind,venue,4,days,2026-04-02,pledged,pledged\n' \
    "$part" "$inst_north" >"$csv"
must_exit 2 "$TWIN" --dir "$(dir_of south)" import "$csv"
err_has "contribution.confirmed: only XE-EXAMPLE-NORTH, the contributing institution, confirms its contribution; XE-EXAMPLE-SOUTH may not"
same "$(head_of south)" "$before" "South's head after the refused import"

check "both nodes verify"
sync_ok south
verify_ok north south
