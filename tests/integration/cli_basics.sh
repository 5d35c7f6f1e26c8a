#!/usr/bin/env bash
# The twin command as a person uses it: founding and joining, identity, adding, showing, listing,
# changing and withdrawing records, validation that names the field and commits nothing, --json
# output, input from files and stdin, $EDITOR, and --help on every command.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

A="$TEST_TMP/kestrel"
UUID_RE='[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'

check "init founds a network and prints the key, the network id and the directory"
found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
expect_stdout_contains 'Founded network "Lake Basin Twinning" (network id '
expect_stdout_contains "Kestrel Water Institute (XE-EXAMPLE-KESTREL), admin, in $A"
grep -qE '^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$' "$OUT" || fail "init printed no ssh-ed25519 key line"
grep -qE 'network id [0-9a-f]{32}\)' "$OUT" || fail "init printed no 32-hex network id"
expect_eq "$(commit_count "$A")" 1 "commits after founding"

check "counts agree with their nouns: 1 commit, 1 member"
expect_ok tw "$A" status
expect_stdout_contains "history:  1 commit, 1 member"
expect_ok tw "$A" verify
expect_stdout_contains "Checked 1 commit up to "

check "twin id: first line is the ssh-ed25519 key, then node id and network id"
expect_ok tw "$A" id
KEY=$(head -n 1 "$OUT")
expect_match "$KEY" '^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+$' "twin id first line"
NODE_ID=$(sed -n 's/^node id: *//p' "$OUT")
NET=$(sed -n 's/^network id: *//p' "$OUT")
expect_match "$NODE_ID" '^[0-9a-f]{64}$' "node id"
expect_match "$NET" '^[0-9a-f]{32}$' "network id"

check "twin id --json carries key, node_id and network_id, equal to the plain output"
expect_ok tw "$A" --json id
expect_json_parses "$OUT" "twin --json id"
expect_stdout_contains "\"key\": \"$KEY\""
expect_stdout_contains "\"node_id\": \"$NODE_ID\""
expect_stdout_contains "\"network_id\": \"$NET\""

check "init refuses to overwrite an existing node (exit 2) and leaves its key alone"
KEY_SUM=$(cksum <"$A/node.key")
expect_exit 2 "$TWIN" --dir "$A" init --name "Other Body" --org-id XE-EXAMPLE-OTHER --country KE \
    --side south --network "Another"
expect_stderr_contains "a node already exists in $A"
expect_eq "$(cksum <"$A/node.key")" "$KEY_SUM" "node.key after a refused init"
expect_eq "$(commit_count "$A")" 1 "commits after a refused init"

check "init with a bad country, side, org-id or org-type exits 2 naming the field, creates nothing"
B="$TEST_TMP/refused"
expect_exit 2 "$TWIN" --dir "$B" init --name "Egret Bureau" --org-id XE-EXAMPLE-EGRET \
    --country ZZ --side north --network N
expect_stderr_contains "country 'ZZ' is not an ISO 3166-1 code"
expect_exit 2 "$TWIN" --dir "$B" init --name "Egret Bureau" --org-id XE-EXAMPLE-EGRET \
    --country NL --side west --network N
expect_stderr_contains "side 'west' is not one of north | south | donor | broker"
expect_exit 2 "$TWIN" --dir "$B" init --name "Egret Bureau" --org-id "XE EXAMPLE EGRET" \
    --country NL --side north --network N
expect_stderr_contains "org-id 'XE EXAMPLE EGRET' is not an organisation identifier"
expect_exit 2 "$TWIN" --dir "$B" init --name "Egret Bureau" --org-id XE-EXAMPLE-EGRET \
    --country NL --side north --org-type 999 --network N
expect_stderr_contains "org-type '999' is not an IATI organisation type code"
expect_exit 2 "$TWIN" --dir "$B" init --name "Egret Bureau" --org-id XE-EXAMPLE-EGRET \
    --country NL --side north
expect_stderr_contains "give --network NAME to found a network, or --join NETWORK_ID"
[ ! -e "$B" ] || fail "a refused init left $B behind"

check "a node that joined (--join) says it has no history on list, status, add and verify"
J="$TEST_TMP/heron"
join_node "$J" "Heron Water Agency" XE-EXAMPLE-HERON NL north "$NET"
expect_stdout_contains "joining network $NET"
expect_exit 2 tw "$J" list
expect_stderr_contains "this node has no history yet: it joined network $NET"
expect_exit 0 tw "$J" status
expect_stdout_contains "$NET (no history yet)"
expect_stdout_contains "XE-EXAMPLE-HERON"
expect_exit 2 tw "$J" add note title=Early
expect_stderr_contains "this node has no history yet"
expect_exit 2 tw "$J" verify
expect_stderr_contains "this node has no history yet"

check "node.key is mode 0600 and ssh-keygen reads the same public key as twin id"
expect_eq "$(stat -c %a "$A/node.key")" 600 "mode of node.key"
expect_eq "$(stat -c %a "$J/node.key")" 600 "mode of the joined node's node.key"
SSH_PUB=$(ssh-keygen -y -f "$A/node.key" | cut -d' ' -f1-2)
expect_eq "$SSH_PUB" "$KEY" "ssh-keygen -y of node.key"

check "twin add prints a UUIDv7 and commits once"
NOTE=$(add_record "$A" note title=Kick-off body="First steering meeting of both institutes")
expect_eq "$(commit_count "$A")" 2 "commits after one add"
expect_eq "$(node_git "$A" log -1 --format=%s main)" "add note $NOTE: Kick-off" "commit subject"

check "twin show prints the record in canonical JSON"
expect_ok tw "$A" show "$NOTE"
expect_json_parses "$OUT" "twin show"
expect_stdout_contains "\"id\": \"$NOTE\""
expect_stdout_contains '"title": "Kick-off"'
expect_stdout_contains '"body": "First steering meeting of both institutes"'
expect_stdout_contains '"kind": "note"'
expect_stdout_contains '"type": "note"'
expect_eq "$(cat "$OUT")" "$(node_git "$A" show "main:$(record_path note "$NOTE")")" \
    "twin show against the stored blob"

check "twin show of an unknown or malformed id exits 2"
expect_exit 2 tw "$A" show 0190aaaa-0000-7000-8000-0000000000ff
expect_stderr_contains "no record 0190aaaa-0000-7000-8000-0000000000ff"
expect_exit 2 tw "$A" show not-an-id
expect_stderr_contains "'not-an-id' is not a record id"

check "twin list note and twin list --where kind=note show the note"
PART=$(add_record "$A" partnership title="Water Utility Twinning" partnership_type=twinning status=2)
expect_ok tw "$A" list note
expect_eq "$(wc -l <"$OUT")" 1 "lines of twin list note"
grep -qE "^$NOTE +note +Kick-off$" "$OUT" || { show_last; fail "twin list note lacks the note"; }
expect_ok tw "$A" list --where kind=note
expect_eq "$(wc -l <"$OUT")" 1 "lines of twin list --where kind=note"
expect_stdout_contains "$NOTE"
expect_ok tw "$A" list
expect_eq "$(wc -l <"$OUT")" 2 "lines of twin list"
expect_stdout_contains "$PART"

check "twin set changes a field in one commit"
expect_ok tw "$A" set "$NOTE" title="Kick-off meeting"
expect_stdout_contains "Changed $NOTE in commit "
expect_eq "$(commit_count "$A")" 4 "commits after set"
expect_ok tw "$A" show "$NOTE"
expect_stdout_contains '"title": "Kick-off meeting"'

check "twin withdraw hides the record from list; list --all shows it (withdrawn)"
expect_ok tw "$A" withdraw "$NOTE"
expect_stdout_contains "Withdrew $NOTE in commit "
expect_eq "$(commit_count "$A")" 5 "commits after withdraw"
expect_ok tw "$A" list
expect_stdout_lacks "$NOTE"
expect_stdout_contains "$PART"
expect_ok tw "$A" list --all
grep -qE "^$NOTE .*Kick-off meeting +\(withdrawn\)$" "$OUT" ||
    { show_last; fail "list --all does not mark the note (withdrawn)"; }
expect_ok tw "$A" show "$NOTE"
expect_stdout_contains '"withdrawn": true'

check "twin show --at COMMIT shows the record as it was then"
expect_ok tw "$A" show "$NOTE" --at "$(node_git "$A" rev-parse refs/heads/main~2)"
expect_stdout_contains '"title": "Kick-off"'
expect_stdout_lacks '"withdrawn"'

check "a withdrawn record can be neither withdrawn again nor changed"
BEFORE=$(commit_count "$A")
expect_exit 2 tw "$A" withdraw "$NOTE"
expect_stderr_contains "$NOTE is already withdrawn"
expect_exit 2 tw "$A" set "$NOTE" title="Revived"
expect_stderr_contains "note.withdrawn: the record is withdrawn and can no longer change"
expect_exit 2 tw "$A" set "$NOTE" withdrawn=false
expect_stderr_contains "note.withdrawn: the record is withdrawn and can no longer change"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after refused changes to a withdrawn record"

check "refused input names the fault: unchanged set, missing field, unknown type, fixed id"
expect_exit 2 tw "$A" set "$PART" title="Water Utility Twinning"
expect_stderr_contains "partnership $PART: nothing changed"
expect_exit 2 tw "$A" add note
expect_stderr_contains "note.title: required"
expect_exit 2 tw "$A" add widget title=Gadget
expect_stderr_contains "unknown record type 'widget'"
expect_exit 2 tw "$A" set "$PART" id=0190aaaa-0000-7000-8000-000000000002
expect_stderr_contains "id: set by twin, cannot be given"
expect_exit 2 tw "$A" add note title=Odd kind=gossip
expect_stderr_contains "note.kind: 'gossip' is not one of note | decision"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after refused input"

check "an invalid status is refused with the exact message, exit 2, nothing committed"
BEFORE=$(commit_count "$A")
expect_exit 2 tw "$A" add partnership title="Bad Status" partnership_type=twinning status=9
expect_stderr_contains "partnership.status: 9 is not an IATI activity status (1-6)"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after a refused add"

check "a dangling reference is refused with the exact message, exit 2, nothing committed"
expect_exit 2 tw "$A" add activity partnership=0190aaaa-0000-7000-8000-000000000001 \
    kind=workshop title="Planning workshop"
expect_stderr_contains "activity.partnership: no partnership 0190aaaa-0000-7000-8000-000000000001"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after a refused add"

check "a status change to 9 via twin set is refused too"
expect_exit 2 tw "$A" set "$PART" status=9
expect_stderr_contains "partnership.status: 9 is not an IATI activity status (1-6)"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after a refused set"

check "an unknown field is refused: note.foo: unknown field"
expect_exit 2 tw "$A" add note title=Strange foo=bar
expect_stderr_contains "note.foo: unknown field (the fields here: kind, title, body, partnership, date, activity, owner_person, owner_institution, due, status)"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after a refused add"

check "a misspelt field is told the nearest one"
expect_exit 2 tw "$A" add note kind=note titel=Strange
expect_stderr_contains "note.titel: unknown field; did you mean 'title'?"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after a refused add"

check "twin schema describes a type's fields: required, kind, values, paths into lists"
expect_ok tw "$A" schema indicator
expect_stdout_contains "indicator, named in listings by its title"
expect_match "$(cat "$OUT")" 'measure +required +a code of IATI.s IndicatorMeasure list \(5 codes\)' "measure"
expect_match "$(cat "$OUT")" 'periods\[\]\.actuals\[\]\.value +required +a number' "an actual's value"
expect_match "$(cat "$OUT")" 'baseline\.year +a whole number from 1900 to 2200' "baseline year"
expect_ok tw "$A" schema
expect_stdout_contains "note, named in listings by its title"
expect_match "$(cat "$OUT")" 'kind +required +one of: note, decision, action, risk, issue, lesson_learned' "note kinds"
expect_ok tw "$A" --json schema note
expect_json_parses "$OUT" "twin --json schema note"
expect_stdout_contains '"title_field": "title"'
expect_stdout_contains '"lesson_learned"'
expect_exit 2 tw "$A" schema meeting
expect_stderr_contains "no record type 'meeting' (the types: institution, partnership,"

check "an activity that references the partnership is accepted"
ACT=$(add_record "$A" activity partnership="$PART" kind=workshop title="Planning workshop" \
    direction=north_to_south)
expect_ok tw "$A" show "$ACT"
expect_stdout_contains "\"partnership\": \"$PART\""

check "twin add --from FILE takes a JSON object"
cat >"$TEST_TMP/decision.json" <<'EOF'
{"title": "Adopt the joint work plan", "kind": "decision", "body": "Agreed by both boards."}
EOF
DEC=$(add_record "$A" note --from "$TEST_TMP/decision.json")
expect_ok tw "$A" show "$DEC"
expect_stdout_contains '"kind": "decision"'
expect_stdout_contains '"title": "Adopt the joint work plan"'
expect_stdout_contains '"body": "Agreed by both boards."'

check "twin add --from - reads the JSON object from stdin, FIELD=VALUE overrides it"
LES=$(printf '{"title": "From stdin", "kind": "lesson_learned"}' |
    add_record "$A" note --from - title="Lesson from the exchange")
expect_ok tw "$A" show "$LES"
expect_stdout_contains '"kind": "lesson_learned"'
expect_stdout_contains '"title": "Lesson from the exchange"'

check "twin add --from with a broken file exits 2 and commits nothing"
BEFORE=$(commit_count "$A")
printf '{"title": ' >"$TEST_TMP/broken.json"
expect_exit 2 tw "$A" add note --from "$TEST_TMP/broken.json"
expect_stderr_contains "$TEST_TMP/broken.json"
expect_exit 2 tw "$A" add note --from "$TEST_TMP/absent.json"
expect_stderr_contains "absent.json"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after refused --from input"

check "twin edit with an EDITOR that rewrites the title changes the record"
cat >"$TEST_TMP/retitle.sh" <<'EOF'
#!/bin/sh
sed -i 's/"title": "Planning workshop"/"title": "Joint planning workshop"/' "$1"
EOF
chmod +x "$TEST_TMP/retitle.sh"
EDITOR="$TEST_TMP/retitle.sh" expect_ok tw "$A" edit "$ACT" </dev/null
expect_stdout_contains "Changed $ACT in commit "
expect_ok tw "$A" show "$ACT"
expect_stdout_contains '"title": "Joint planning workshop"'
expect_eq "$(node_git "$A" log -1 --format=%s main)" "edit activity $ACT: Joint planning workshop" \
    "commit subject of an edit"

check "twin edit with invalid JSON and no terminal keeps the edit in a file and exits 2"
BEFORE=$(commit_count "$A")
cat >"$TEST_TMP/breakit.sh" <<'EOF'
#!/bin/sh
printf '{ "title": "Half-typed edit", \n' >"$1"
EOF
chmod +x "$TEST_TMP/breakit.sh"
mkdir -p "$TEST_TMP/edits"
TMPDIR="$TEST_TMP/edits" EDITOR="$TEST_TMP/breakit.sh" expect_exit 2 tw "$A" edit "$ACT" </dev/null
expect_stderr_contains "your edit is kept in"
KEPT=$(sed -n 's/.*your edit is kept in //p' "$ERR")
[ -f "$KEPT" ] || fail "the kept edit '$KEPT' does not exist"
grep -qF '"title": "Half-typed edit"' "$KEPT" || fail "the kept file does not hold the edited text"
expect_eq "$(commit_count "$A")" "$BEFORE" "commits after a rejected edit"

check "--json outputs parse and carry the expected fields"
expect_ok tw "$A" --json list
expect_json_parses "$OUT" "twin --json list"
expect_stdout_contains "\"id\": \"$PART\""
expect_stdout_lacks "$NOTE"
expect_ok tw "$A" --json status
expect_json_parses "$OUT" "twin --json status"
expect_stdout_contains "\"network_id\": \"$NET\""
expect_stdout_contains "\"commits\": $(commit_count "$A")"
expect_ok tw "$A" --json verify
expect_json_parses "$OUT" "twin --json verify"
expect_stdout_contains '"valid": true'
expect_ok tw "$A" --json member list
expect_json_parses "$OUT" "twin --json member list"
expect_stdout_contains '"org_id": "XE-EXAMPLE-KESTREL"'
expect_ok tw "$A" --json add note title="Json add"
expect_json_parses "$OUT" "twin --json add"
grep -qE "\"id\": \"$UUID_RE\"" "$OUT" || { show_last; fail "twin --json add lacks the id"; }

check "twin log shows every change with its member and a good signature"
expect_ok tw "$A" log
expect_eq "$(grep -c '^commit ' "$OUT")" "$(commit_count "$A")" "commits in twin log"
expect_eq "$(grep -c 'signature: good' "$OUT")" "$(commit_count "$A")" "good signatures in log"
expect_ok tw "$A" log "$ACT"
expect_eq "$(grep -c '^commit ' "$OUT")" 2 "commits in twin log of the activity (add, edit)"

check "twin verify passes on this history"
expect_ok tw "$A" verify
expect_stdout_contains "Checked $(commit_count "$A") commits up to $(head_of "$A")"

check "every command answers --help with exit 0 and its usage"
for cmd in init id member add set edit show list withdraw log status verify export; do
    expect_ok "$TWIN" "$cmd" --help
    expect_stdout_contains "usage: twin $cmd"
done
expect_ok "$TWIN" --help
expect_stdout_contains "usage: twin [--dir DIR] [--json] [--quiet] COMMAND [ARGS]"
expect_ok "$TWIN" help add
expect_stdout_contains "usage: twin add TYPE"
expect_exit 2 "$TWIN"
expect_stderr_contains "usage: twin"
expect_exit 2 "$TWIN" frobnicate
expect_stderr_contains "'frobnicate' is not a twin command"

check "twin --json log parses and names each commit with its verdict"
expect_ok tw "$A" --json log
expect_json_parses "$OUT" "twin --json log"
expect_stdout_contains "\"commit\": \"$(head_of "$A")\""
expect_stdout_contains '"valid": true'
expect_ok tw "$A" --json log "$ACT"
expect_json_parses "$OUT" "twin --json log ID"

echo "PASS: $TEST_NAME"
