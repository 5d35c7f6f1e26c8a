#!/usr/bin/env bash
# Checkpoints: every sync session ends with a signed statement of each side's head, kept by
# both. Statements gathered from several partners lie on one history; a node that showed two
# partners different histories (built here by copying South's node and writing on both copies)
# is named as equivocating, with both signed statements as evidence.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

join_as() {
    local token
    token=$(tw north invite --role editor 2>/dev/null)
    must "$TWIN" --dir "$(dir_of "$1")" join "$token" --name "Ministry $1 ($2)" --org-id "$2" \
        --country TZ --side south
}

check "North serves; South and East join and sync; each session leaves statements on both sides"
node_new north XE-EXAMPLE-N NL north
serve_start north
join_as south XE-EXAMPLE-S
join_as east XE-EXAMPLE-E
add_rec south note title="From South"
sync_ok south XE-EXAMPLE-N
sync_ok east XE-EXAMPLE-N
same_heads north south east
must "$TWIN" --dir "$(dir_of north)" --json checkpoints
n_north=$(jq length "$RUN_OUT")
[ "$n_north" -ge 6 ] || fail "North keeps $n_north statements, expected one of each side per session"
jq -e 'map(select(.own)) | length > 0' "$RUN_OUT" >/dev/null || fail "North kept none of its own"
jq -e 'map(select(.own | not)) | length > 0' "$RUN_OUT" >/dev/null || fail "North kept none of its peers'"
must "$TWIN" --dir "$(dir_of south)" checkpoints
out_has "this "
out_has "peer "

check "the statements of all three lie on one history"
for n in north south east; do
    must "$TWIN" --dir "$(dir_of "$n")" checkpoints --out "$SYNC_TMP/$n.ckpt"
done
must "$TWIN" --dir "$(dir_of north)" verify --checkpoints "$SYNC_TMP/north.ckpt" \
    "$SYNC_TMP/south.ckpt" "$SYNC_TMP/east.ckpt"
out_has "Every node's statements lie on one history."

check "South's node copied and written on twice: it shows North one head and East another"
cp -a "$(dir_of south)" "$(dir_of south2)"
# East serves only to take South's second copy. Without a peer of its own its serve never syncs
# out, so East learns North's line only when this test syncs it, after South showed East its head.
must "$TWIN" --dir "$(dir_of east)" peer remove XE-EXAMPLE-N
serve_start east
add_rec south note title="Only North sees this"
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of south2)" peer add XE-EXAMPLE-E "127.0.0.1:${SERVE_PORT[east]}" \
    "$(tw east id | head -n 1)"
add_rec south2 note title="Only East sees this"
sync_ok south2 XE-EXAMPLE-E
serve_stop east
must "$TWIN" --dir "$(dir_of east)" peer add XE-EXAMPLE-N "127.0.0.1:${SERVE_PORT[north]}" \
    "$(key_of north)"
sync_ok east XE-EXAMPLE-N # North now holds both lines (merged), so it can place every head
for n in north east; do
    rm -f "$SYNC_TMP/$n.ckpt"
    must "$TWIN" --dir "$(dir_of "$n")" checkpoints --out "$SYNC_TMP/$n.ckpt"
done

check "verify --checkpoints names South's equivocation and shows both statements"
must_exit 1 "$TWIN" --dir "$(dir_of north)" verify --checkpoints "$SYNC_TMP/north.ckpt" \
    "$SYNC_TMP/east.ckpt"
out_has "equivocation by XE-EXAMPLE-S"
out_has "evidence:"
must_exit 1 "$TWIN" --dir "$(dir_of north)" --json verify --checkpoints "$SYNC_TMP/north.ckpt" \
    "$SYNC_TMP/east.ckpt"
jq -e '.consistent == false and (.findings | map(select(.kind == "equivocation")) | length >= 1)
       and (.findings[0].statement | startswith("twin-checkpoint 1"))
       and (.findings[0].other_signature | startswith("-----BEGIN SSH SIGNATURE-----"))' \
    "$RUN_OUT" >/dev/null || fail "JSON report: $(cat "$RUN_OUT")"

check "a statement changed after signing is refused by name"
sed -i '0,/^time /s/^time \([0-9]*\)/time 1\1/' "$SYNC_TMP/east.ckpt"
must_fail "$TWIN" --dir "$(dir_of north)" verify --checkpoints "$SYNC_TMP/east.ckpt"
err_has "statement 1"

serve_stop north
echo "PASS"
