#!/usr/bin/env bash
# An auditor with plain git and OpenSSH, no twin: with the allowed-signers file twin exports, stock
# `git verify-commit` and `git log --show-signature` accept every commit of two members, `git fsck
# --strict` finds nothing wrong, and every record is a readable file at records/<type>/<xx>/<id>.json.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

A="$TEST_TMP/kestrel"
H="$TEST_TMP/heron"

check "a history with several record types and members, signed by two institutions"
found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
NET=$(network_id_of "$A")
join_node "$H" "Heron Water Agency" XE-EXAMPLE-HERON NL north "$NET"
expect_ok tw "$A" member add --name "Heron Water Agency" --org-id XE-EXAMPLE-HERON --country NL \
    --side north --role editor --key "$(key_of "$H")"
ssh-keygen -q -t ed25519 -N '' -C ibis -f "$TEST_TMP/ibis.key"
expect_ok tw "$A" member add --name "Ibis Evaluation Trust" --org-id XE-EXAMPLE-IBIS --country BE \
    --side donor --role observer --org-type 60 --key "$(cat "$TEST_TMP/ibis.key.pub")"
INST=$(add_record "$A" institution name="Kestrel Water Institute" org_id=XE-EXAMPLE-KESTREL \
    country=KE side=south sector_group=government)
PART=$(add_record "$A" partnership title="Water Utility Twinning" partnership_type=twinning \
    status=2 'sectors=[{"code": "14020", "percentage": 100}]')
ACT=$(add_record "$A" activity partnership="$PART" kind=study_tour title="Study tour to Delft" \
    direction=south_to_north)
PERS=$(add_record "$A" person name="Amani Example" institution="$INST")
NOTE=$(add_record "$A" note title="Kick-off" body="Both boards met.")
expect_ok tw "$A" set "$ACT" status=3
expect_ok tw "$A" withdraw "$NOTE"
# The joined node takes the history the way a sync would (a fetch of the branch), then writes.
node_git "$H" fetch -q "$A/repo.git" refs/heads/main:refs/heads/main
DOC=$(add_record "$H" document title="Memorandum of understanding" kind=mou partnership="$PART")
RES=$(add_record "$H" result partnership="$PART" result_type=1 title="Metering plan adopted")
node_git "$A" fetch -q "$H/repo.git" refs/heads/main:refs/heads/main
expect_eq "$(head_of "$A")" "$(head_of "$H")" "heads after the exchange"
N=$(commit_count "$A")
expect_eq "$N" 12 "commits in the history"
expect_ok tw "$A" verify

check "twin export allowed-signers --out F writes one line per member key, as stdout does"
F="$TEST_TMP/allowed_signers"
expect_ok tw "$A" export allowed-signers --out "$F"
[ -s "$F" ] || fail "twin export wrote no $F"
expect_eq "$(wc -l <"$F")" 3 "lines in the allowed-signers file"
# Each key with the window it was active in: from the commit that listed it (still active: no end).
window='namespaces="git,twin-checkpoint",valid-after="[0-9]{14}Z"'
grep -qxE "XE-EXAMPLE-KESTREL $window $(key_of "$A" | sed 's/[+/]/\\&/g')" "$F" ||
    fail "no allowed-signers line for the founder: $(cat "$F")"
grep -qxE "XE-EXAMPLE-HERON $window $(key_of "$H" | sed 's/[+/]/\\&/g')" "$F" ||
    fail "no allowed-signers line for the editor: $(cat "$F")"
expect_ok tw "$A" export allowed-signers
expect_eq "$(cat "$OUT")" "$(cat "$F")" "export to stdout against --out"

check "git verify-commit accepts every one of the $N commits, naming the signing member"
VERIFY=(node_git "$A" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$F")
good=0
for c in $(node_git "$A" rev-list refs/heads/main); do
    signer=$(node_git "$A" log -1 --format=%ce "$c")
    expect_ok "${VERIFY[@]}" verify-commit "$c"
    expect_stderr_contains "Good \"git\" signature for $signer with ED25519 key SHA256:"
    good=$((good + 1))
done
expect_eq "$good" "$N" "commits verified by git verify-commit"
[ "$(node_git "$A" log --format=%ce refs/heads/main | sort -u | tr '\n' ' ')" = \
    "XE-EXAMPLE-HERON XE-EXAMPLE-KESTREL " ] || fail "the history is not signed by both members"

check "git log --show-signature reports as many good signatures as commits"
expect_ok "${VERIFY[@]}" log --show-signature refs/heads/main
expect_eq "$(grep -c 'Good "git" signature for ' "$OUT")" "$N" "good signatures in git log"

check "git verify-commit refuses a member's commit when the file lacks that member"
grep -v XE-EXAMPLE-HERON "$F" >"$TEST_TMP/without_heron"
HERON_COMMIT=$(node_git "$A" log -1 --format=%H --committer=XE-EXAMPLE-HERON refs/heads/main)
expect_exit 1 node_git "$A" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$TEST_TMP/without_heron" \
    verify-commit "$HERON_COMMIT"
expect_stderr_contains "No principal matched"

check "git fsck --strict finds no fault"
expect_ok node_git "$A" fsck --strict --no-dangling
expect_stderr_empty
expect_ok node_git "$H" fsck --strict --no-dangling
expect_stderr_empty

check "the tree holds network.json, members/<org-id>.json and records/<type>/<xx>/<id>.json only"
node_git "$A" ls-tree -r --name-only refs/heads/main >"$TEST_TMP/paths"
grep -vxE 'network\.json|members/XE-EXAMPLE-[A-Z]+\.json|records/[a-z_]+/[0-9a-f]{2}/[0-9a-f-]{36}\.json' \
    "$TEST_TMP/paths" && fail "unexpected paths in the tree"
expect_eq "$(grep -c '^members/' "$TEST_TMP/paths")" 3 "member files"
expect_eq "$(grep -c '^records/' "$TEST_TMP/paths")" 7 "record files"

check "each record is readable with git show main:records/<type>/<xx>/<id>.json"
for pair in institution:$INST partnership:$PART activity:$ACT person:$PERS note:$NOTE \
    document:$DOC result:$RES; do
    type=${pair%%:*}
    id=${pair#*:}
    path="records/$type/${id: -2}/$id.json"
    expect_ok node_git "$A" show "refs/heads/main:$path"
    expect_stdout_contains "\"id\": \"$id\""
    expect_stdout_contains "\"type\": \"$type\""
    cp "$OUT" "$TEST_TMP/from_git"
    expect_ok tw "$A" show "$id"
    if [ "$type" = person ]; then
        # Personal data is sealed: plain git shows the envelope, twin the content it opens.
        grep -qF '"sealed": {' "$TEST_TMP/from_git" || fail "git show of the person shows no envelope"
        grep -qF '"name":' "$TEST_TMP/from_git" && fail "git show of the person shows its name"
        grep -qF '"name":' "$OUT" || fail "twin show of the person does not open it"
        continue
    fi
    # The record's bytes, up to the blank line before the references twin names after it.
    sed '/^$/,$d' "$OUT" >"$TEST_TMP/from_twin"
    cmp -s "$TEST_TMP/from_twin" "$TEST_TMP/from_git" ||
        fail "git show and twin show differ for $path"
done
expect_ok node_git "$A" show "refs/heads/main:$(record_path activity "$ACT")"
expect_stdout_contains '"status": "3"'
expect_ok node_git "$A" show "refs/heads/main:$(record_path note "$NOTE")"
expect_stdout_contains '"withdrawn": true'

check "git log -p on a record file reads as its changelog"
expect_ok node_git "$A" log --format=%s refs/heads/main -- "$(record_path activity "$ACT")"
expect_eq "$(wc -l <"$OUT")" 2 "commits touching the activity"
expect_stdout_contains "add activity $ACT: Study tour to Delft"
expect_ok node_git "$A" log -p -1 refs/heads/main -- "$(record_path activity "$ACT")"
expect_stdout_contains '+  "status": "3",'

echo "PASS: $TEST_NAME"
