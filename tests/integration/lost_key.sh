#!/usr/bin/env bash
# An institution that lost its key gets back in. An admin gives an existing member another key
# (twin member add-key), or invites a new node of that member (twin invite --member), which
# joins with a new key and nothing but the token. Both are admin changes under the policy's
# threshold; the wrong member, a key already held, an editor and a removed member are refused.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# keys_of NAME ORG STATE: the keys member ORG holds in STATE in node NAME's history.
keys_of() {
    tw "$1" --json member list |
        jq -r --arg org "$2" --arg st "$3" '.[] | select(.org_id == $org) | .keys[] | select(.state == $st) | .key'
}

check "North founds and serves; South and East join as editors and write"
node_new north XE-EXAMPLE-N NL north
serve_start north
invite_join north south XE-EXAMPLE-S editor
invite_join north east XE-EXAMPLE-E editor
add_rec south note title="South before its key was revoked"
sync_ok south XE-EXAMPLE-N
add_rec east note title="East before it lost its node"
sync_ok east XE-EXAMPLE-N
sync_ok south XE-EXAMPLE-N

check "South's only key is revoked: South is locked out"
south_old=$(tw south id | head -n 1)
must "$TWIN" --dir "$(dir_of north)" member revoke-key XE-EXAMPLE-S "$south_old"
must_fail "$TWIN" --dir "$(dir_of south)" sync XE-EXAMPLE-N
same "$(keys_of north XE-EXAMPLE-S active)" "" "South's active keys after the revocation"

check "member add-key: an editor may not; a key another member holds and an unknown member are refused"
node_new south2 XE-EXAMPLE-S TZ south north
south_new=$(tw south2 id | head -n 1)
must_fail "$TWIN" --dir "$(dir_of east)" member add-key XE-EXAMPLE-S "$south_new"
err_has "only an admin"
must_fail "$TWIN" --dir "$(dir_of north)" member add-key XE-EXAMPLE-S "$(tw east id | head -n 1)"
err_has "already belongs to XE-EXAMPLE-E"
must_fail "$TWIN" --dir "$(dir_of north)" member add-key XE-EXAMPLE-NOBODY "$south_new"
err_has "no member XE-EXAMPLE-NOBODY"
must_fail "$TWIN" --dir "$(dir_of north)" member add-key XE-EXAMPLE-S "not-a-key"
err_has "is not a key"

check "North adds South's new key: South's new node takes the history, writes and syncs"
must "$TWIN" --dir "$(dir_of north)" member add-key XE-EXAMPLE-S "$south_new"
out_has "Added a key to XE-EXAMPLE-S"
same "$(keys_of north XE-EXAMPLE-S active)" "$south_new" "South's active key"
same "$(keys_of north XE-EXAMPLE-S revoked)" "$south_old" "South's revoked key"
must "$TWIN" --dir "$(dir_of south2)" peer add XE-EXAMPLE-N "127.0.0.1:${SERVE_PORT[north]}" \
    "$(key_of north)"
sync_ok south2 XE-EXAMPLE-N
add_rec south2 note title="South again, with its new key"
sync_ok south2 XE-EXAMPLE-N
same_heads north south2
verify_ok north south2
fsck_ok north south2
git_signatures_ok north

check "East loses its node; North invites a new node of East's, which joins with the token alone"
rm -rf "$(dir_of east)"
must_fail "$TWIN" --dir "$(dir_of north)" invite --member XE-EXAMPLE-NOBODY
err_has "no member XE-EXAMPLE-NOBODY"
must_fail "$TWIN" --dir "$(dir_of north)" invite --member XE-EXAMPLE-E --role admin
err_has "--member keeps the member's role"
token=$(tw north invite --member XE-EXAMPLE-E 2>/dev/null)
must_fail "$TWIN" --dir "$(dir_of east2)" join "$token" --org-id XE-EXAMPLE-S
err_has "this invite is for member XE-EXAMPLE-E"
must "$TWIN" --dir "$(dir_of east2)" join "$token"
east_new=$(tw east2 id | head -n 1)
keys_of north XE-EXAMPLE-E active | grep -xF "$east_new" >/dev/null || fail "East's new key is not active at North"
[ "$(keys_of north XE-EXAMPLE-E active | wc -l)" -eq 2 ] || fail "East should hold two active keys"
add_rec east2 note title="East again, from its new node"
sync_ok east2 XE-EXAMPLE-N
same_heads north east2
verify_ok north east2
must_fail "$TWIN" --dir "$(dir_of east3)" join "$token"
err_has "no invite is open here (an invite works once"
[ ! -e "$(dir_of east3)" ] || fail "a refused join left a node behind"

check "under a 2-of-2 policy, add-key is a proposal until the second admin approves"
node_new admin2 XE-EXAMPLE-A GH south north
node_admit north admin2 admin
peer_add admin2 north
must "$TWIN" --dir "$(dir_of north)" policy --admin-threshold 2
sync_ok admin2 north
node_new east3 XE-EXAMPLE-E TZ south north
east3_key=$(tw east3 id | head -n 1)
must "$TWIN" --dir "$(dir_of north)" member add-key XE-EXAMPLE-E "$east3_key"
out_has "Proposed"
proposal=$(grep -o 'proposal [0-9a-f-]\{36\}' "$RUN_OUT" | head -n 1 | cut -d' ' -f2)
[ -n "$proposal" ] || fail "add-key named no proposal: $(cat "$RUN_OUT")"
keys_of north XE-EXAMPLE-E active | grep -xF "$east3_key" >/dev/null && fail "the key is active before approval"
sync_ok admin2 north
must "$TWIN" --dir "$(dir_of admin2)" approve "$proposal"
sync_ok admin2 north
keys_of north XE-EXAMPLE-E active | grep -xF "$east3_key" >/dev/null || fail "the approved key is not active"
verify_ok north admin2

check "a removed member gets no key back"
must "$TWIN" --dir "$(dir_of north)" member remove XE-EXAMPLE-S
out_has "Proposed"
proposal=$(grep -o 'proposal [0-9a-f-]\{36\}' "$RUN_OUT" | head -n 1 | cut -d' ' -f2)
sync_ok admin2 north
must "$TWIN" --dir "$(dir_of admin2)" approve "$proposal"
sync_ok admin2 north
must_fail "$TWIN" --dir "$(dir_of north)" member add-key XE-EXAMPLE-S "$east3_key"
err_has "XE-EXAMPLE-S was already removed"
must_fail "$TWIN" --dir "$(dir_of north)" invite --member XE-EXAMPLE-S
err_has "XE-EXAMPLE-S was removed"

serve_stop north
echo "PASS"
