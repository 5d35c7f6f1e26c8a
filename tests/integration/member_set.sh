#!/usr/bin/env bash
# twin member set: an admin changes any member's name, country, org type and side; a member that
# is not an admin corrects its own name and org type. Each change is one signed commit that the
# other node takes by sync and accepts. A member changing another member's fields, or its own
# country or side, is refused by its own node, and a commit that does so anyway is refused by
# the peer it is sent to. An org type left out at twin init, which made the IATI export
# impossible, is given later and the export works. Bad input is named, with exit 2.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# member_field NODE ORG FIELD: the field of member ORG as node NODE's membership holds it.
member_field() {
    tw "$1" --json member list | jq -r --arg o "$2" --arg f "$3" '.[] | select(.org_id == $o) | .[$f]'
}

# member_file_field NODE ORG FIELD: the field as the member file at NODE's head holds it.
member_file_field() {
    ngit "$1" show "refs/heads/main:members/$2.json" | jq -r --arg f "$3" '.[$f] // ""'
}

check "North founds without an org type; South joins; North serves"
node_new north XE-EXAMPLE-N NL north
serve_start north
invite_join north south XE-EXAMPLE-S
same_heads north south >/dev/null

check "without an org type the IATI export is refused and says how to give one"
add_rec north partnership title="Tax twinning" partnership_type=twinning status=2 \
    dates.planned_start=2026-01-01 currency=EUR summary="Revenue bodies learn from each other"
must_exit 2 "$TWIN" --dir "$(dir_of north)" export --format iati --out "$SYNC_TMP/iati.xml"
err_has "the reporting organisation XE-EXAMPLE-N has no IATI organisation type (set it with: twin member set XE-EXAMPLE-N --org-type CODE)"
[ ! -e "$SYNC_TMP/iati.xml" ] || fail "a refused export wrote a file"

check "the admin sets its own org type, and the IATI export works"
must "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-N --org-type 10
out_has "Changed member XE-EXAMPLE-N in commit"
same "$(member_file_field north XE-EXAMPLE-N org_type)" 10 "North's org type"
must "$TWIN" --dir "$(dir_of north)" export --format iati --out "$SYNC_TMP/iati.xml"
err_has "checked against the IATI 2.03 schema: valid"
grep 'reporting-org ref="XE-EXAMPLE-N" type="10"' "$SYNC_TMP/iati.xml" >/dev/null ||
    fail "the export does not report North with type 10"

check "South, an editor, corrects its own name and org type; North takes it by sync"
must "$TWIN" --dir "$(dir_of south)" member set XE-EXAMPLE-S --name "Revenue Authority South" \
    --org-type 10
out_has "Changed member XE-EXAMPLE-S in commit"
sync_ok south
same_heads north south >/dev/null
same "$(member_field north XE-EXAMPLE-S name)" "Revenue Authority South" "South's name at North"
same "$(member_file_field north XE-EXAMPLE-S org_type)" 10 "South's org type at North"
must "$TWIN" --dir "$(dir_of north)" verify
must "$TWIN" --dir "$(dir_of south)" verify
# South's own commits now carry its new name.
add_rec south note title="After the rename"
same "$(ngit south log -1 --format=%an refs/heads/main)" "Revenue Authority South" \
    "the author of South's next commit"

check "South may not change North's fields, nor its own country or side"
before=$(head_of south)
must_exit 2 "$TWIN" --dir "$(dir_of south)" member set XE-EXAMPLE-N --name "Ministry of Nothing"
err_has "only an admin may change another member's fields; XE-EXAMPLE-S is editor (a member that is not an admin may correct only its own name and org type)"
must_exit 2 "$TWIN" --dir "$(dir_of south)" member set XE-EXAMPLE-S --country KE
err_has "only an admin may change a member's country; XE-EXAMPLE-S is editor and may correct only its own name and org type"
must_exit 2 "$TWIN" --dir "$(dir_of south)" member set XE-EXAMPLE-S --side north
err_has "only an admin may change a member's side"
same "$(head_of south)" "$before" "South's head after refused changes"

check "a commit that changes North's fields anyway, signed by South, is refused by North"
sync_ok south
# Crafted on a copy of South's node, whose branch then holds what an honest node never would.
cp -a "$(dir_of south)" "$(dir_of hostile)"
ngit south show "refs/heads/main:members/XE-EXAMPLE-N.json" |
    jq -S '.name = "Ministry of Nothing"' >"$SYNC_TMP/north-renamed.json"
NODE_LABEL[hostile]="Revenue Authority South" NODE_ORG[hostile]=XE-EXAMPLE-S
hostile=$(craft hostile key members/XE-EXAMPLE-N.json "$SYNC_TMP/north-renamed.json" \
    "member XE-EXAMPLE-N: renamed")
ngit hostile update-ref refs/heads/main "$hostile"
north_before=$(head_of north)
run "$TWIN" --dir "$(dir_of hostile)" sync
[ "$RUN_STATUS" -eq 1 ] || { show_run; fail "sync of the hostile commit exited $RUN_STATUS, not 1"; }
err_has "the peer refused: commit $hostile: "
err_has "XE-EXAMPLE-S (editor) changed the membership without being an admin: members/XE-EXAMPLE-N.json is not its own"
same "$(head_of north)" "$north_before" "North's head after the hostile commit"
same "$(member_field north XE-EXAMPLE-N name)" "Ministry north (XE-EXAMPLE-N)" "North's name at North"
rm -rf "$(dir_of hostile)"

check "the admin changes South's country and side; South takes and accepts it"
must "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --country KE --side broker
sync_ok south
same_heads north south >/dev/null
same "$(member_field south XE-EXAMPLE-S country)" KE "South's country at South"
same "$(member_field south XE-EXAMPLE-S side)" broker "South's side at South"
must "$TWIN" --dir "$(dir_of south)" verify

check "bad input is named, with exit 2"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-NOBODY --name "Nobody"
err_has "no member XE-EXAMPLE-NOBODY (twin member list shows the members)"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S
err_has "set needs at least one of --name, --country, --org-type and --side"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set --name "No org"
err_has "set takes the ORG-ID of the member to change"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --country XX
err_has "country 'XX' is not an ISO 3166-1 code"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --org-type 99
err_has "org-type '99' is not an IATI organisation type code"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --side east
err_has "side 'east' is not one of north | south | donor | broker"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --country KE
err_has "nothing to change: XE-EXAMPLE-S has these values already"
must_exit 2 "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --name
err_has "twin: --name needs a value"

check "with two admins needed, an admin's change of another member is a proposal; a member's own correction is not"
node_new east XE-EXAMPLE-E NL north north
node_admit north east admin
sync_ok south
must "$TWIN" --dir "$(dir_of north)" policy --admin-threshold 2
must "$TWIN" --dir "$(dir_of north)" member set XE-EXAMPLE-S --country TZ
out_has "Proposed (about XE-EXAMPLE-S) as proposal"
same "$(member_field north XE-EXAMPLE-S country)" KE "South's country before approval"
sync_ok south
must "$TWIN" --dir "$(dir_of south)" member set XE-EXAMPLE-S --name "Revenue Authority of the South"
out_has "Changed member XE-EXAMPLE-S in commit"
sync_ok south
same "$(member_field north XE-EXAMPLE-S name)" "Revenue Authority of the South" "South's name at North"
must "$TWIN" --dir "$(dir_of north)" verify

echo "PASS"
