#!/usr/bin/env bash
# twin blame: two institutions edit different fields of one record and sync; blame credits each
# field to the member, key and commit that last changed it, in text and in JSON, on both nodes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

check "North founds the network; South joins as an editor and syncs"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
serve_start north
peer_add south north
sync_ok south

check "North writes a note; South changes its body and kind; North changes its title"
add_rec north note title="Kick-off" body="Draft agenda"
note_id=$REC_ID
sync_ok south
must "$TWIN" --dir "$(dir_of south)" set "$note_id" body="Agreed agenda" kind=decision
south_commit=$(head_of south)
sync_ok south
must "$TWIN" --dir "$(dir_of north)" set "$note_id" title="Kick-off meeting"
north_commit=$(head_of north)
sync_ok south
same_heads north south

check "blame names South for body and kind, North for title"
for node in north south; do
    must "$TWIN" --dir "$(dir_of "$node")" --json blame "$note_id"
    python3 - "$RUN_OUT" "$south_commit" "$north_commit" "$(key_of south)" <<'PY' ||
import json, sys
b = json.load(open(sys.argv[1]))
south_commit, north_commit, south_key = sys.argv[2:5]
f = {x["field"]: x for x in b["fields"]}
assert b["type"] == "note", b
assert b["changes"] == 3, b["changes"]
assert f["body"]["value"] == "Agreed agenda" and f["body"]["member"] == "XE-EXAMPLE-S", f["body"]
assert f["body"]["commit"] == south_commit and f["body"]["key"] == south_key, f["body"]
assert f["kind"]["commit"] == south_commit, f["kind"]
assert f["title"]["member"] == "XE-EXAMPLE-N" and f["title"]["commit"] == north_commit, f["title"]
assert f["id"]["member"] == "XE-EXAMPLE-N" and f["id"]["commit"] not in (south_commit, north_commit)
assert all(x["valid"] for x in b["fields"])
PY
        fail "blame on $node credits the wrong change"
done
must "$TWIN" --dir "$(dir_of north)" blame "$note_id"
grep -E "^body +Agreed agenda +${south_commit:0:12} .* XE-EXAMPLE-S " "$RUN_OUT" >/dev/null ||
    fail "text blame lacks South's body line: $(cat "$RUN_OUT")"
grep -E "^title +Kick-off meeting +${north_commit:0:12} .* XE-EXAMPLE-N " "$RUN_OUT" >/dev/null ||
    fail "text blame lacks North's title line: $(cat "$RUN_OUT")"

check "blame of a record that does not exist says so"
must_fail "$TWIN" --dir "$(dir_of north)" blame 01234567-89ab-7cde-8f01-23456789abcd
err_has "no record"

serve_stop north
echo "PASS"
