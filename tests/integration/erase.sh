#!/usr/bin/env bash
# Personal data is sealed by default and can be erased (proto/SEALED.md). Three institutions,
# South and East syncing with North's serve:
# a person record written without an audience is sealed to every member, its name is in no
# commit message, and every member reads it after sync; a member that rotates its key keeps
# reading. An admin erases it: after sync no node holds a key of it, every node says it is
# erased and why, and the history stays valid for twin, git fsck and stock git verify-commit.
# An editor may not erase, and a record in the clear cannot be erased.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

NAME="Ama Mensah-Example"

# sealed_field NAME FIELD: a number from the sealed part of `twin verify --json` on node NAME.
sealed_field() {
    tw "$1" --json verify | jq -r ".sealed.$2"
}

# no_name_in_messages NAME: the person's name is in no commit message of node NAME.
no_name_in_messages() {
    if ngit "$1" log --format=%B refs/heads/main | grep -F "$NAME" >/dev/null; then
        fail "a commit message on $1 names the person"
    fi
}

check "North founds; South and East join as editors; everyone syncs"
node_new north XE-EXAMPLE-NORTH NL north
serve_start north
invite_join north south XE-EXAMPLE-SOUTH editor
invite_join north east XE-EXAMPLE-EAST editor
sync_ok south XE-EXAMPLE-NORTH
sync_ok east XE-EXAMPLE-NORTH

check "A person written without an audience is sealed to every member"
add_rec south person name="$NAME"
PERSON=$REC_ID
same "$(sealed_field south readable)" 1 "records South reads"
PATH_OF=$(ngit south ls-tree -r --name-only refs/heads/main | grep -F "$PERSON.json")
same "$(ngit south show "refs/heads/main:$PATH_OF" | jq -r '.sealed.audience | join(",")')" \
    "XE-EXAMPLE-EAST,XE-EXAMPLE-NORTH,XE-EXAMPLE-SOUTH" "the person's audience in the history"
if ngit south cat-file --batch-all-objects --batch | grep -aqF "$NAME"; then
    fail "an object in South's repository holds the name in the clear"
fi
no_name_in_messages south

check "After sync every member reads it, and no commit message names the person"
sync_ok south XE-EXAMPLE-NORTH
sync_ok east XE-EXAMPLE-NORTH
for n in north south east; do
    same "$(sealed_field "$n" readable)" 1 "sealed records $n reads"
    no_name_in_messages "$n"
done

check "East rotates its key and still reads the person"
must "$TWIN" --dir "$(dir_of east)" key rotate
same "$(sealed_field east readable)" 1 "sealed records East reads after its rotation"
sync_ok east XE-EXAMPLE-NORTH
sync_ok south XE-EXAMPLE-NORTH
same "$(sealed_field east readable)" 1 "sealed records East reads after syncing its rotation"

check "An editor may not erase; a record in the clear cannot be erased"
must_fail "$TWIN" --dir "$(dir_of south)" erase "$PERSON" --reason "the person asked"
err_has "only an admin may do this"
add_rec north note title="A public note"
must_fail "$TWIN" --dir "$(dir_of north)" erase "$REC_ID" --reason "regret"
err_has "only sealed records can be erased"
must_fail "$TWIN" --dir "$(dir_of north)" erase "$PERSON"
err_has "--reason"

check "North erases the person; after sync no node reads it or holds its keys"
must "$TWIN" --dir "$(dir_of north)" erase "$PERSON" --reason "The person asked to be forgotten"
out_has "Erased $PERSON"
sync_ok south XE-EXAMPLE-NORTH
sync_ok east XE-EXAMPLE-NORTH
for n in north south east; do
    same "$(sealed_field "$n" readable)" 0 "sealed records $n reads after the erasure"
    same "$(sealed_field "$n" erased)" 1 "erased records on $n"
    same "$(sealed_field "$n" erased_keys_deleted)" 0 "keys of the erased record $n still held"
    same "$(tw "$n" --json verify | jq -r '.sealed.erasures[0].reason')" \
        "The person asked to be forgotten" "the erasure's reason on $n"
    must "$TWIN" --dir "$(dir_of "$n")" show "$PERSON"
    grep -qF "The person asked to be forgotten" "$RUN_OUT" "$RUN_ERR" ||
        fail "twin show on $n does not say why the person was erased"
    if grep -qF "$NAME" "$RUN_OUT" "$RUN_ERR"; then
        fail "twin show on $n still shows the name"
    fi
done

check "A second erasure is refused; the erased record never changes again"
must_fail "$TWIN" --dir "$(dir_of north)" erase "$PERSON" --reason "again"
err_has "erased already"
must_fail "$TWIN" --dir "$(dir_of north)" set "$PERSON" name="Someone Else"
err_has "erased"

check "The history stays valid: twin verify, git fsck, stock git verify-commit"
sync_ok south XE-EXAMPLE-NORTH
verify_ok north south east
fsck_ok north south east
git_signatures_ok north
serve_stop north
