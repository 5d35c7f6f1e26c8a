#!/usr/bin/env bash
# A 2-of-2 policy, as a North-South twinning would choose: once both admins are needed, a
# membership change with one approval has no effect (an invited institution waits), a change
# forged without approval is refused by verify and by sync, and the second approval puts it in
# effect. Lowering the threshold again takes both approvals too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

check "North founds and serves; South joins as an admin; North sets the policy to 2 of 2"
node_new north XE-EXAMPLE-N NL north
serve_start north
token=$(tw north invite --role admin 2>/dev/null)
must "$TWIN" --dir "$(dir_of south)" join "$token" --name "Ministry south" --org-id XE-EXAMPLE-S \
    --country TZ --side south
must "$TWIN" --dir "$(dir_of north)" policy --admin-threshold 2
out_has "Set the admin threshold 2"
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of south)" proposals
out_has "need 2 admin approvals"

check "North invites East: with one approval East is only proposed, and waits"
token=$(tw north invite --role editor 2>/dev/null)
must "$TWIN" --dir "$(dir_of east)" join "$token" --name "Institute east" --org-id XE-EXAMPLE-E \
    --country KE --side south
out_has "policy needs more admin approvals"
proposal=$(grep -o 'proposal [0-9a-f-]\{36\}' "$RUN_OUT" | head -n 1 | cut -d' ' -f2)
[ -n "$proposal" ] || fail "join named no proposal: $(cat "$RUN_OUT")"
must "$TWIN" --dir "$(dir_of north)" --json member list
jq -e 'map(.org_id) | index("XE-EXAMPLE-E") == null' "$RUN_OUT" >/dev/null ||
    fail "East is a member with one approval of two"
must_fail "$TWIN" --dir "$(dir_of east)" sync
must "$TWIN" --dir "$(dir_of north)" --json proposals
jq -e --arg p "$proposal" '.[] | select(.id == $p and (.in_effect | not) and (.approvals == ["XE-EXAMPLE-N"]))' \
    "$RUN_OUT" >/dev/null || fail "proposal not open with North's approval: $(cat "$RUN_OUT")"
must_fail "$TWIN" --dir "$(dir_of north)" approve "$proposal"
err_has "approved proposal $proposal already"

check "a member file written by North alone, with plain git, is refused by verify and by sync"
# The forgery is offered through a copy of South's node (a member North syncs with).
sync_ok south XE-EXAMPLE-N
cp -a "$(dir_of south)" "$(dir_of relay)"
index="$SYNC_TMP/relay.index"
head=$(head_of relay)
GIT_INDEX_FILE="$index" ngit relay read-tree "$head"
ngit north show "$(head_of north):proposals/$proposal.json" |
    jq -S --indent 2 '.changes[0].content' >"$SYNC_TMP/member.json"
GIT_INDEX_FILE="$index" ngit relay update-index --add --cacheinfo \
    "100644,$(ngit relay hash-object -w "$SYNC_TMP/member.json"),members/XE-EXAMPLE-E.json"
tree=$(GIT_INDEX_FILE="$index" ngit relay write-tree)
forged=$(GIT_AUTHOR_NAME=Forger GIT_AUTHOR_EMAIL=XE-EXAMPLE-N GIT_COMMITTER_NAME=Forger \
    GIT_COMMITTER_EMAIL=XE-EXAMPLE-N ngit relay -c gpg.format=ssh \
    -c user.signingkey="$(dir_of north)/node.key" commit-tree -S -p "$head" -m "add East alone" "$tree")
ngit relay update-ref refs/heads/main "$forged" "$head"
must_exit 1 "$TWIN" --dir "$(dir_of relay)" verify
out_has "changed without approval"
north_head=$(head_of north)
must_fail "$TWIN" --dir "$(dir_of relay)" sync XE-EXAMPLE-N
grep -q "changed without approval" "$RUN_OUT" "$RUN_ERR" || { show_run; fail "sync: no reason"; }
same "$(head_of north)" "$north_head" "North's head after the refused sync"
rm -rf "$(dir_of relay)"

check "South approves: East becomes a member, and its node then takes the history"
must "$TWIN" --dir "$(dir_of south)" approve "$proposal"
out_has "is now in effect"
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of north)" --json member list
jq -e '.[] | select(.org_id == "XE-EXAMPLE-E" and .role == "editor")' "$RUN_OUT" >/dev/null ||
    fail "East is not a member after both approvals"
sync_ok east XE-EXAMPLE-N
same_heads north south east
verify_ok north south east

check "an editor may not approve; lowering the threshold takes both admins"
must "$TWIN" --dir "$(dir_of north)" policy --admin-threshold 1
out_has "Proposed"
lower=$(grep -o 'proposal [0-9a-f-]\{36\}' "$RUN_OUT" | head -n 1 | cut -d' ' -f2)
sync_ok east XE-EXAMPLE-N
must_fail "$TWIN" --dir "$(dir_of east)" approve "$lower"
err_has "only an admin"
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of south)" approve "$lower"
out_has "is now in effect"
must "$TWIN" --dir "$(dir_of south)" proposals
out_has "need 1 admin approval"
verify_ok south

serve_stop north
echo "PASS"
