#!/usr/bin/env bash
# Two nodes, North (founder) and South (joined and admitted), each write records of several
# types and sync: both end on the identical head with identical records, and the result is
# valid for twin and for stock git. A second sync with nothing new moves nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

check "North founds the network; South joins and is admitted as an editor"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
[ -z "$(head_of south)" ] || fail "South has history before its first sync"

serve_start north
peer_add south north

check "South's first sync takes North's history"
sync_ok south
out_has "received 2 commits, sent 0"
same_heads north south

check "each side writes records of several types"
add_rec north institution name="Ministry of Water, North" org_id=XE-EXAMPLE-N-WATER country=NL \
    side=north sector_group=government
inst_n=$REC_ID
add_rec south institution name="Water Authority, South" org_id=XE-EXAMPLE-S-WATER country=TZ \
    side=south
inst_s=$REC_ID
add_rec north partnership title="Water twinning" partnership_type=twinning
partnership=$REC_ID
add_rec north note title="Kick-off" kind=decision body="The steering committee agreed the plan" \
    partnership="$partnership"
add_rec north person name="A. Example" institution="$inst_n"
add_rec south person name="B. Example" institution="$inst_s" languages='["sw","en"]'
add_rec south note title="Field visit planned" kind=action
add_rec south document title="Memorandum of understanding" kind=mou date=2026-03-01
note "north $(head_of north), south $(head_of south)"

check "South syncs: history diverged, so a merge is made and both take it"
sync_ok south
out_has "received 4 commits, sent 4, merged"
same_heads north south

check "records are identical on both nodes"
tw north list --all --json >"$SYNC_TMP/north.json"
tw south list --all --json >"$SYNC_TMP/south.json"
[ "$(jq length "$SYNC_TMP/north.json")" -eq 8 ] || fail "North lists $(jq length "$SYNC_TMP/north.json") records, not 8"
cmp -s "$SYNC_TMP/north.json" "$SYNC_TMP/south.json" || {
    diff "$SYNC_TMP/north.json" "$SYNC_TMP/south.json" >&2 || true
    fail "twin list --all --json differs between North and South"
}
[ "$(ngit north ls-tree -r refs/heads/main)" = "$(ngit south ls-tree -r refs/heads/main)" ] ||
    fail "git ls-tree -r main differs"
for n in north south; do
    [ "$(tw "$n" show "$partnership" --json | jq -r .title)" = "Water twinning" ] ||
        fail "$n does not show the partnership"
done

check "North writes again; South's sync fast-forwards (no merge)"
add_rec north note title="Second note" partnership="$partnership"
sync_ok south
out_has "received 1 commit, sent 0, head"
same_heads north south

check "twin verify passes on both"
verify_ok north south

check "stock git verify-commit accepts every non-merge commit on both"
git_signatures_ok north
git_signatures_ok south

check "git fsck --strict is clean on both"
fsck_ok north south

check "a second sync with nothing new moves nothing"
before=$(head_of south)
sync_ok south
out_has "received 0 commits, sent 0"
same "$(head_of south)" "$before" "South's head after an empty sync"
same_heads north south
grep -q 'session from XE-EXAMPLE-S[ (a-z)]* at 127.0.0.1:[0-9]*: ok, received 0 commits, sent 0' \
    "${SERVE_LOG[north]}" || fail "North's log has no line for the empty session"

check "North's serve stops on SIGTERM with exit 0"
serve_stop north
echo "PASS"
