#!/usr/bin/env bash
# Joining by invite: an admin's node makes a one-use token; the new institution's node presents
# it, is admitted by a signed member-add and receives the verified history. Reused, expired
# (on either side's clock), forged and mis-keyed tokens are refused with a clear message and
# leave no node behind; only admins may invite.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

join_as() { # join_as NAME ORG TOKEN: twin join into node NAME's directory (result in RUN_*)
    run "$TWIN" --dir "$(dir_of "$1")" join "$3" --name "Ministry $1 ($2)" --org-id "$2" \
        --country TZ --side south
}

check "North founds the network and serves; serve records where partners reach it"
node_new north XE-EXAMPLE-N NL north
add_rec north note title="Before anyone joined"
serve_start north
same "$(tw north invite --json | jq -r .address)" "127.0.0.1:${SERVE_PORT[north]}" \
    "address in an invite"
rm -f "$(dir_of north)"/invites/*.json # that probe's invite is not used below

check "an editor invite admits South, which takes and verifies the whole history"
token=$(tw north invite --role editor --expires 1h)
[[ $token == twin-invite-1.* ]] || fail "twin invite printed '$token'"
join_as south XE-EXAMPLE-S "$token"
[ "$RUN_STATUS" -eq 0 ] || { show_run; fail "join failed"; }
out_has "Joined network"
same_heads north south
must "$TWIN" --dir "$(dir_of south)" --json member list
jq -e '.[] | select(.org_id == "XE-EXAMPLE-S" and .role == "editor")' "$RUN_OUT" >/dev/null ||
    fail "South is not an editor member: $(cat "$RUN_OUT")"
must "$TWIN" --dir "$(dir_of south)" verify
must "$TWIN" --dir "$(dir_of north)" verify
grep -q "admitted XE-EXAMPLE-S" "${SERVE_LOG[north]}" || fail "North's log lacks the admission"
[ -z "$(ls "$(dir_of north)/invites")" ] || fail "the spent invite is still on North"

check "South, now a member, writes and syncs with North (recorded as its peer)"
add_rec south note title="Written by South after joining"
sync_ok south XE-EXAMPLE-N
same_heads north south

check "the same token again is refused, and leaves no node behind"
join_as east XE-EXAMPLE-E "$token"
[ "$RUN_STATUS" -ne 0 ] || fail "a used invite was accepted twice"
# No invite is open now, so North refuses the unknown key right after the handshake, and says
# why: an invite works once.
err_has "no invite is open here (an invite works once"
[ ! -e "$(dir_of east)" ] || fail "a refused join left a node directory"

check "an invite past its expiry is refused before connecting"
token=$(tw north invite --expires 1s)
sleep 2
join_as east XE-EXAMPLE-E "$token"
[ "$RUN_STATUS" -eq 2 ] || { show_run; fail "expected exit 2 for an expired invite"; }
err_has "this invite expired at"
[ ! -e "$(dir_of east)" ] || fail "an expired join left a node directory"
rm -f "$(dir_of north)"/invites/*.json

check "the inviting node checks expiry on its own clock too"
token=$(tw north invite --expires 1h)
stored=$(ls "$(dir_of north)"/invites/*.json)
jq -c '.expires = 1' "$stored" >"$stored.new" && mv "$stored.new" "$stored"
tw north invite --expires 1h >/dev/null # another open invite, so the handshake lets East in
join_as east XE-EXAMPLE-E "$token"
[ "$RUN_STATUS" -ne 0 ] || fail "an invite expired at the inviter was accepted"
err_has "this invite expired at"
rm -f "$(dir_of north)"/invites/*.json

check "a forged secret is refused; a token with another inviter key fails the handshake"
token=$(tw north invite --expires 1h)
forge() { # forge TOKEN FIELD VALUE: the token with one field replaced
    python3 - "$1" "$2" "$3" <<'PY'
import base64, json, sys
t, k, v = sys.argv[1:4]
body = t[len("twin-invite-1."):]
j = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
j[k] = v
raw = json.dumps(j, separators=(",", ":"), sort_keys=True).encode()
print("twin-invite-1." + base64.urlsafe_b64encode(raw).decode().rstrip("="))
PY
}
join_as east XE-EXAMPLE-E "$(forge "$token" s "$(printf '%064d' 7)")"
[ "$RUN_STATUS" -ne 0 ] || fail "a forged secret was accepted"
err_has "unknown to the inviting node, or was already used"
join_as east XE-EXAMPLE-E "$(forge "$token" k "$(printf '%064d' 5)")"
[ "$RUN_STATUS" -ne 0 ] || fail "a token naming another inviter key was accepted"
err_has "reaching the inviting node"
join_as east XE-EXAMPLE-E "twin-invite-1.not-a-token"
[ "$RUN_STATUS" -eq 2 ] || { show_run; fail "expected exit 2 for a damaged token"; }
err_has "the invite is damaged"
[ ! -e "$(dir_of east)" ] || fail "a refused join left a node directory"

check "the unspent invite still admits East; an editor may not invite"
join_as east XE-EXAMPLE-E "$token"
[ "$RUN_STATUS" -eq 0 ] || { show_run; fail "the genuine invite was spent by forgeries"; }
must_fail "$TWIN" --dir "$(dir_of south)" invite --address 127.0.0.1:9
err_has "only an admin may invite"
must "$TWIN" --dir "$(dir_of east)" verify

serve_stop north
echo "PASS"
