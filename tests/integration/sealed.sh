#!/usr/bin/env bash
# Sealed records on the command line, across three real nodes (North, South and a donor): a note
# sealed to South is read by South and not by the donor, which holds no byte of its content
# anywhere; a person record is sealed to every member by default; South edits the note and
# North reads the edit; the donor is refused an edit, then reads the note once North shares it;
# exports leave sealed records out unless --sealed is given; a sealed note changed on both sides
# is listed by twin conflicts with the fields its versions differ in (by the donor, outside its
# audience, with blob ids only) and settled with twin resolve --keep. No commit message names
# what a sealed record holds. twin search finds the note on South, marked sealed, and never on
# the donor, and keeps none of its words.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

SENTENCE="The steering group agreed to move the Kisumu pilot to the second quarter"
EDITED="The steering group moved the Kisumu pilot to the third quarter instead"
PERSON="Ama Mensah-Example"
NORTH_BODY="The ministry funds the pilot from its own budget"
SOUTH_BODY="The pilot is funded by the partnership's joint budget line"

# no_plaintext NAME TEXT...: node NAME holds none of TEXT in any object of its repository
# (inflated) nor in any file of its data directory (the wrap store included).
no_plaintext() {
    local name=$1 text objects="$SYNC_TMP/objects-$1"
    shift
    ngit "$name" cat-file --batch-all-objects --batch >"$objects" ||
        fail "cannot read the objects of $name"
    [ -s "$objects" ] || fail "no objects read from $name"
    [ -e "$(dir_of "$name")/wraps.db" ] || fail "$name has no wrap store"
    for text in "$@"; do
        ! grep -qaF -- "$text" "$objects" || fail "an object of $name holds '$text'"
        ! grep -rqaF -- "$text" "$(dir_of "$name")" || fail "a file of $name holds '$text'"
    done
}

# no_message_names TEXT NAME...: no commit message on these nodes holds TEXT.
no_message_names() {
    local text=$1 name
    for name in "${@:2}"; do
        ! ngit "$name" log --format=%B refs/heads/main | grep -F -- "$text" >/dev/null ||
            fail "a commit message on $name holds '$text'"
    done
}

check "North founds and serves; South and the donor join"
node_new north XE-EXAMPLE-NORTH NL north
serve_start north
invite_join north south XE-EXAMPLE-SOUTH
invite_join north donor XE-EXAMPLE-DONOR

check "an audience that is not a member is refused by name; so is an empty one"
must_exit 2 "$TWIN" --dir "$(dir_of north)" add note kind=note title=Nope \
    --audience XE-EXAMPLE-NOBODY
err_has "XE-EXAMPLE-NOBODY is not a member of network"
must_exit 2 "$TWIN" --dir "$(dir_of north)" add note kind=note title=Nope --audience ,
err_has "--audience takes ORG-ID[,ORG-ID...]"

check "North seals a note to South, and adds a person without an audience"
add_rec north note kind=decision title="Pilot timing" body="$SENTENCE" \
    --audience XE-EXAMPLE-SOUTH
note_id=$REC_ID
add_rec north person name="$PERSON" country=GH
person_id=$REC_ID
add_rec north note kind=note title="Open agenda"
clear_id=$REC_ID
sync_ok south
# The note's key wrapped to North's key and South's, the person's to every member's: five wraps.
out_has "; wraps: 5 received, 5 kept, 0 dropped, 0 sent"
sync_ok donor
same_heads north south donor

check "South reads the note; its audience is named on standard error"
must "$TWIN" --dir "$(dir_of south)" show "$note_id"
out_has "$SENTENCE"
err_has "twin: note $note_id is sealed; readable by XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH"

check "the donor cannot read it: show prints the public part and says so, exit 0"
must "$TWIN" --dir "$(dir_of donor)" show "$note_id"
out_has "\"readable\": false"
out_has "\"XE-EXAMPLE-SOUTH\""
jq -e --arg id "$note_id" '.id == $id and .type == "note" and
    .sealed.audience == ["XE-EXAMPLE-NORTH", "XE-EXAMPLE-SOUTH"] and (has("title") | not)' \
    "$RUN_OUT" >/dev/null || { show_run; fail "the donor's show is not the public part"; }
err_has "twin: note $note_id is sealed to XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH; this node cannot read it"
! grep -qF "$SENTENCE" "$RUN_OUT" "$RUN_ERR" || fail "the donor's show printed the content"
must "$TWIN" --dir "$(dir_of donor)" list note
grep -qE "^$note_id  note +\(sealed to XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH\)$" "$RUN_OUT" ||
    { show_run; fail "the donor's list does not show the note sealed"; }
must "$TWIN" --dir "$(dir_of donor)" list note --where kind=decision
! grep -qF "$note_id" "$RUN_OUT" || fail "a --where matched a note the donor cannot read"
must "$TWIN" --dir "$(dir_of south)" list note --where kind=decision
grep -qE "^$note_id  note +Pilot timing  \(sealed\)$" "$RUN_OUT" ||
    { show_run; fail "South's list does not show the opened note"; }

check "search finds the note where it is read, marked sealed, and never where it is not"
must "$TWIN" --dir "$(dir_of south)" search kisumu pilot
grep -qE "^$note_id  note +Pilot timing  \(sealed\)$" "$RUN_OUT" ||
    { show_run; fail "South's search does not find the opened note"; }
out_has "[Kisumu] [pilot]"
must "$TWIN" --dir "$(dir_of donor)" search kisumu
! grep -qF "$note_id" "$RUN_OUT" || fail "the donor's search found a note it cannot read"
err_has "twin: no record holds that word"
! grep -rqaF Kisumu "$(dir_of south)"/listcache.db* || fail "South's search kept the note's words"

check "every member reads the person record"
for n in north south donor; do
    must "$TWIN" --dir "$(dir_of "$n")" show "$person_id"
    out_has "\"name\": \"$PERSON\""
    err_has "readable by XE-EXAMPLE-DONOR, XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH"
done

check "no byte of the note or the person is at rest on the donor; no commit message names them"
no_plaintext donor "$SENTENCE" "$PERSON"
no_message_names "$SENTENCE" north south donor
no_message_names "$PERSON" north south donor
no_message_names "Pilot timing" north south donor

check "the donor's JSON export leaves the note out and says so; South's with --sealed holds it"
must "$TWIN" --dir "$(dir_of donor)" export --format json --type note
err_has "twin: left out 1 sealed record (--sealed includes those this node can read)"
! grep -qF "$note_id" "$RUN_OUT" || fail "the donor's export holds the sealed note"
out_has "$clear_id"
must "$TWIN" --dir "$(dir_of donor)" export --format json --type note --sealed
err_has "twin: left out 1 sealed record this node cannot read"
must "$TWIN" --dir "$(dir_of south)" export --format json --type note --sealed
out_has "$SENTENCE"
jq -e 'all(.[]; has("sealed") | not)' "$RUN_OUT" >/dev/null ||
    { show_run; fail "an export holds an envelope"; }

check "the donor is refused an edit of the note, plainly"
must_exit 2 "$TWIN" --dir "$(dir_of donor)" set "$note_id" title="Taken over"
err_has "twin: note $note_id is sealed to XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH; this node cannot read it, so it cannot change it"
run env EDITOR=true "$TWIN" --dir "$(dir_of donor)" edit "$note_id"
[ "$RUN_STATUS" -eq 2 ] || { show_run; fail "twin edit on the donor exited $RUN_STATUS, not 2"; }
err_has "is sealed to XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH; this node cannot read it, so it cannot edit it"

check "South edits the note; North reads the edit after a sync"
must "$TWIN" --dir "$(dir_of south)" set "$note_id" body="$EDITED"
sync_ok south
must "$TWIN" --dir "$(dir_of north)" show "$note_id"
out_has "$EDITED"
no_message_names "$EDITED" north south

check "sharing: North widens the note to the donor, which reads it after a sync"
must "$TWIN" --dir "$(dir_of north)" share "$note_id" --with XE-EXAMPLE-DONOR
out_has "Shared $note_id in commit"
must "$TWIN" --dir "$(dir_of north)" share "$note_id" --with XE-EXAMPLE-SOUTH,XE-EXAMPLE-DONOR
out_has "Everyone named can read $note_id already; nothing was written."
must_exit 2 "$TWIN" --dir "$(dir_of north)" share "$clear_id" --with XE-EXAMPLE-DONOR
err_has "was written in the clear and cannot be sealed"
sync_ok donor
must "$TWIN" --dir "$(dir_of donor)" show "$note_id"
out_has "$EDITED"
err_has "readable by XE-EXAMPLE-DONOR, XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH"
must "$TWIN" --dir "$(dir_of donor)" show "$note_id" --at "$(ngit donor rev-parse 'HEAD~1')"
err_has "this node cannot read it"

check "blame shows the note's fields, never its envelope's"
must "$TWIN" --dir "$(dir_of north)" blame "$note_id"
grep -qE '^body +The steering group moved' "$RUN_OUT" || { show_run; fail "blame lacks the body"; }
! grep -q '^sealed' "$RUN_OUT" || { show_run; fail "blame shows the envelope"; }

check "a sealed note changed on both sides: the later version wins whole, the other is set aside"
add_rec north note kind=decision title="Pilot budget" body="$NORTH_BODY" --audience XE-EXAMPLE-SOUTH
pact_id=$REC_ID
sync_ok south
sync_ok donor
must "$TWIN" --dir "$(dir_of north)" set "$pact_id" body="$NORTH_BODY, in two tranches"
sleep 1.1 # committer times are in seconds: South's change is strictly later
must "$TWIN" --dir "$(dir_of south)" set "$pact_id" body="$SOUTH_BODY" title="Pilot budget, revised"
sync_ok south
out_has "merged"
sync_ok donor
same_heads north south donor
no_message_names "$SOUTH_BODY" north south donor

check "twin conflicts shows, where the node reads it, the fields the version set aside differs in"
must "$TWIN" --dir "$(dir_of south)" --json conflicts
set_aside=$(jq -r --arg id "$pact_id" '.[] | select(.id == $id) | .conflicts[0]' "$RUN_OUT")
[[ $set_aside =~ ^[0-9a-f]{40}$ ]] || { show_run; fail "no blob id set aside: '$set_aside'"; }
jq -e --arg id "$pact_id" --arg blob "$set_aside" --arg north "$NORTH_BODY, in two tranches" \
    --arg south "$SOUTH_BODY" '.[] | select(.id == $id) | .sealed.readable and
    .title == "Pilot budget, revised" and .versions == [{"blob": $blob, "readable": true,
    "fields": [{"field": "body", "kept": $south, "set_aside": $north},
               {"field": "title", "kept": "Pilot budget, revised", "set_aside": "Pilot budget"}]}]' \
    "$RUN_OUT" >/dev/null || { show_run; fail "South's --json conflicts lacks the fields that differ"; }
for n in north south; do
    must "$TWIN" --dir "$(dir_of "$n")" conflicts
    out_has "$pact_id  note  Pilot budget, revised  (sealed to XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH)"
    out_has "    blob $set_aside"
    out_has "      body: kept \"$SOUTH_BODY\"; set aside: \"$NORTH_BODY, in two tranches\""
    out_has "      title: kept \"Pilot budget, revised\"; set aside: \"Pilot budget\""
    out_has "twin resolve ID --keep BLOB"
done
must "$TWIN" --dir "$(dir_of donor)" conflicts
out_has "$pact_id  note  (sealed to XE-EXAMPLE-NORTH, XE-EXAMPLE-SOUTH)"
out_has "    blob $set_aside"
! grep -qF -e "$NORTH_BODY" -e "Pilot budget" "$RUN_OUT" || { show_run; fail "the donor was shown content"; }
must "$TWIN" --dir "$(dir_of donor)" --json conflicts
jq -e --arg id "$pact_id" '.[] | select(.id == $id) | (has("versions") or has("title")) | not' \
    "$RUN_OUT" >/dev/null || { show_run; fail "the donor's --json conflicts holds content"; }

check "twin resolve refuses, plainly, what it cannot settle"
before=$(head_of north)
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$pact_id" --keep 0123456789abcdef
err_has "blob 0123456789abcdef is not a version of note $pact_id that a merge set aside"
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$pact_id" --drop 0123
err_has "'0123' is not a blob id"
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$pact_id" body="Merged by hand"
err_has "is sealed: a merge set aside whole versions of it, not field values"
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$clear_id" --drop all
err_has "note $clear_id was written in the clear"
must_exit 2 "$TWIN" --dir "$(dir_of north)" resolve "$pact_id" --keep "$set_aside" --keep "$set_aside"
err_has "give --keep once"
must_exit 2 "$TWIN" --dir "$(dir_of donor)" resolve "$pact_id" --drop all
err_has "this node cannot read it, so it cannot resolve it"
same "$(head_of north)" "$before" "North's head after refused resolves"

check "North keeps the version set aside; South reads it after a sync and lists no conflict"
must "$TWIN" --dir "$(dir_of north)" resolve "$pact_id" --keep "${set_aside:0:8}"
out_has "Resolved $pact_id in commit"
sync_ok south
must "$TWIN" --dir "$(dir_of south)" show "$pact_id"
out_has "\"body\": \"$NORTH_BODY, in two tranches\""
out_has "\"title\": \"Pilot budget\""
for n in north south; do
    must "$TWIN" --dir "$(dir_of "$n")" conflicts
    out_has "No unresolved conflicts."
done
no_message_names "in two tranches" north south

check "every node verifies, and all end on one head; sync --json always gives the wraps"
sync_ok south
sync_ok donor
must "$TWIN" --dir "$(dir_of south)" --json sync
jq -e 'length == 1 and .[0].ok and (.[0].wraps | .exchanged == true and
    ([.received, .kept, .dropped, .sent] | all(type == "number")))' "$RUN_OUT" >/dev/null ||
    { show_run; fail "twin sync --json does not give the wraps"; }
same_heads north south donor
verify_ok north south donor
serve_stop north
echo "PASS"
