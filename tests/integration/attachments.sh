#!/usr/bin/env bash
# Attachments (README "Attachments"): twin attach stores a file's bytes in the shared history at
# attachments/<xx>/<sha256> and sets the document's file; twin get writes them back, checked.
# The same file attached twice is kept once; a file whose SHA-256 differs from the document's
# sha256 is refused naming both, and one over the cap naming the cap (also a network's lower
# cap); records that are not documents, and documents without a file, are refused; --out never
# replaces a file without --force. A file of a few MiB syncs to a second node over 127.0.0.1,
# which reads it back byte for byte, and stock git shows the same bytes. A sealed document's file
# is stored as ciphertext: its audience reads it, a third node neither reads it nor holds its
# bytes, and once the document is erased nobody reads it while its ciphertext stays.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

F=$SYNC_TMP/files
mkdir -p "$F"
printf 'Memorandum of understanding between XE-EXAMPLE-NORTH and XE-EXAMPLE-SOUTH\n' >"$F/mou.txt"
MOU_SHA=$(sha256sum "$F/mou.txt" | cut -d' ' -f1)
# A few MiB that do not compress, so the pack carries them whole.
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$F/report.pdf"
BIG_SHA=$(sha256sum "$F/report.pdf" | cut -d' ' -f1)

check "North founds and serves; South joins"
node_new north XE-EXAMPLE-NORTH NL north
serve_start north
invite_join north south XE-EXAMPLE-SOUTH
N=$(dir_of north)

check "attach a file to a document; the record names it and the bytes are at their path"
add_rec north document title="Signed MoU" kind=mou
DOC=$REC_ID
must "$TWIN" --dir "$N" attach "$DOC" "$F/mou.txt"
out_has "Attached mou.txt ($(stat -c %s "$F/mou.txt") bytes, sha256 $MOU_SHA) to $DOC"
same "$(tw north show "$DOC" --json | jq -r '.file.sha256')" "$MOU_SHA" "file.sha256"
same "$(tw north show "$DOC" --json | jq -r '.file.name')" "mou.txt" "file.name"
same "$(tw north show "$DOC" --json | jq -r '.file.media_type')" "text/plain" "file.media_type"
same "$(tw north show "$DOC" --json | jq -r '.file.size')" "$(stat -c %s "$F/mou.txt")" "file.size"
same "$(ngit north cat-file -t "main:attachments/${MOU_SHA:0:2}/$MOU_SHA")" blob "the blob's type"

check "twin get writes the bytes back, to a file and to a pipe"
must "$TWIN" --dir "$N" get "$DOC" --out "$SYNC_TMP/got.txt"
cmp "$F/mou.txt" "$SYNC_TMP/got.txt" || fail "twin get --out wrote other bytes"
same "$(tw north get "${DOC:0:8}" | sha256sum | cut -d' ' -f1)" "$MOU_SHA" "twin get to a pipe"

check "--out never replaces a file without --force"
echo keep >"$SYNC_TMP/keep.txt"
must_exit 2 "$TWIN" --dir "$N" get "$DOC" --out "$SYNC_TMP/keep.txt"
err_has "keep.txt exists: --force replaces it"
same "$(cat "$SYNC_TMP/keep.txt")" keep "the file --out named"
must "$TWIN" --dir "$N" get "$DOC" --out "$SYNC_TMP/keep.txt" --force
cmp "$F/mou.txt" "$SYNC_TMP/keep.txt" || fail "--force did not write the bytes"
[ -z "$(find "$SYNC_TMP" -maxdepth 1 -name '*.twin-*')" ] || fail "a temporary file was left"

check "the same file attached to another document is kept once"
add_rec north document title="MoU, copy for the archive" kind=mou
DOC2=$REC_ID
must "$TWIN" --dir "$N" attach "$DOC2" "$F/mou.txt" --type text/plain
same "$(ngit north ls-tree -r main attachments | wc -l)" 1 "attachments in the tree"
must "$TWIN" --dir "$N" attach "$DOC2" "$F/mou.txt"
out_has "carries this file already; nothing was written"

check "a file whose SHA-256 is not the document's sha256 is refused, naming both"
add_rec north document title="Work plan" kind=work_plan sha256="$(printf '%064d' 7)"
must_exit 2 "$TWIN" --dir "$N" attach "$REC_ID" "$F/mou.txt"
err_has "its SHA-256 is $MOU_SHA, but document $REC_ID records sha256 $(printf '%064d' 7)"
must_exit 2 "$TWIN" --dir "$N" set "$DOC" sha256="$(printf '%064d' 7)"
err_has "is not the SHA-256 of the document's file"

check "over the cap, not a document, no file, a bad media type: refused by name"
truncate -s $((25 * 1024 * 1024 + 1)) "$F/huge.bin"
must_exit 2 "$TWIN" --dir "$N" attach "$DOC" "$F/huge.bin"
err_has "over the network's cap on attachments (25 MiB"
add_rec north note title="Kick-off"
must_exit 2 "$TWIN" --dir "$N" attach "$REC_ID" "$F/mou.txt"
err_has "is a note, not a document"
add_rec north document title="Minutes" kind=minutes
must_exit 2 "$TWIN" --dir "$N" get "$REC_ID" --out "$SYNC_TMP/none"
err_has "has no file"
must_exit 2 "$TWIN" --dir "$N" attach "$REC_ID" "$F/mou.txt" --type "not a type"
err_has "is not a media type"
must_exit 2 "$TWIN" --dir "$N" attach "$REC_ID" "$F/absent.txt"
err_has "absent.txt"

check "a network's lower cap refuses what the default takes"
must "$TWIN" --dir "$N" policy --attachment-max 1KiB
must_exit 2 "$TWIN" --dir "$N" attach "$REC_ID" "$F/report.pdf"
err_has "over the network's cap on attachments (1 KiB, 1024 bytes)"
must "$TWIN" --dir "$N" policy --attachment-max 25MiB

check "a file of a few MiB syncs to South, which reads it back byte for byte"
must "$TWIN" --dir "$N" attach "$REC_ID" "$F/report.pdf"
same "$(tw north show "$REC_ID" --json | jq -r '.file.media_type')" "application/pdf" \
    "media type from the extension"
must "$TWIN" --dir "$(dir_of south)" sync
same "$(head_of south)" "$(head_of north)" "South's head after the sync"
must "$TWIN" --dir "$(dir_of south)" get "$REC_ID" --out "$SYNC_TMP/south.pdf"
cmp "$F/report.pdf" "$SYNC_TMP/south.pdf" || fail "South wrote other bytes"
must "$TWIN" --dir "$(dir_of south)" verify

check "stock git shows an attachment's bytes"
ngit south show "main:attachments/${BIG_SHA:0:2}/$BIG_SHA" >"$SYNC_TMP/git.pdf"
cmp "$F/report.pdf" "$SYNC_TMP/git.pdf" || fail "git show gave other bytes"

check "a sealed document's file: its audience reads it, a third node does not"
invite_join north donor XE-EXAMPLE-DONOR
add_rec north document title="Audit letter" kind=report --audience XE-EXAMPLE-SOUTH
SDOC=$REC_ID
SECRET="Confidential audit finding XE-EXAMPLE-77"
printf '%s\n' "$SECRET" >"$F/audit.txt"
SECRET_SHA=$(sha256sum "$F/audit.txt" | cut -d' ' -f1)
must "$TWIN" --dir "$N" attach "$SDOC" "$F/audit.txt"
BLOB=$(tw north show "$SDOC" --json 2>/dev/null | jq -r '.file.blob')
[[ $BLOB =~ ^[0-9a-f]{64}$ ]] || fail "the sealed file's blob is '$BLOB'"
[ "$BLOB" != "$SECRET_SHA" ] || fail "the sealed file is stored under its plaintext's hash"
same "$(ngit north cat-file -s "main:attachments/${BLOB:0:2}/$BLOB")" \
    $(($(stat -c %s "$F/audit.txt") + 24 + 17)) "the ciphertext's size"
[ -z "$(ngit north ls-tree -r main attachments | grep "$SECRET_SHA")" ] ||
    fail "the plaintext's hash names a path"
must "$TWIN" --dir "$(dir_of south)" sync
must "$TWIN" --dir "$(dir_of donor)" sync
same "$(head_of donor)" "$(head_of north)" "the donor's head"
must "$TWIN" --dir "$(dir_of south)" get "$SDOC" --out "$SYNC_TMP/audit-south.txt"
cmp "$F/audit.txt" "$SYNC_TMP/audit-south.txt" || fail "South wrote other bytes"
must_exit 2 "$TWIN" --dir "$(dir_of donor)" get "$SDOC" --out "$SYNC_TMP/audit-donor.txt"
err_has "is sealed, and this node cannot read it, nor its file"
[ ! -e "$SYNC_TMP/audit-donor.txt" ] || fail "the donor wrote a file"
ngit donor cat-file --batch-all-objects --batch >"$SYNC_TMP/donor-objects"
! grep -qaF -- "$SECRET" "$SYNC_TMP/donor-objects" || fail "an object of the donor holds the file"
must "$TWIN" --dir "$(dir_of donor)" verify

check "erasing the sealed document leaves its file's ciphertext and nobody its key"
must "$TWIN" --dir "$N" erase "$SDOC" --reason "Sent to the wrong partner"
must "$TWIN" --dir "$(dir_of south)" sync
must_exit 2 "$TWIN" --dir "$(dir_of south)" get "$SDOC" --out "$SYNC_TMP/audit-after.txt"
err_has "was erased"
ngit south cat-file -e "main:attachments/${BLOB:0:2}/$BLOB" ||
    fail "the ciphertext left the history"
must "$TWIN" --dir "$(dir_of south)" verify

check "a damaged store is named: the attachment's bytes are missing"
rm -rf "$SYNC_TMP/damaged" && cp -a "$N" "$SYNC_TMP/damaged"
obj=$(ngit north rev-parse "main:attachments/${MOU_SHA:0:2}/$MOU_SHA")
rm -f "$SYNC_TMP/damaged/repo.git/objects/${obj:0:2}/${obj:2}"
must_exit 1 "$TWIN" --dir "$SYNC_TMP/damaged" get "$DOC" --out "$SYNC_TMP/lost.txt"
err_has "the store is damaged: attachments/${MOU_SHA:0:2}/$MOU_SHA"
[ ! -e "$SYNC_TMP/lost.txt" ] || fail "a damaged attachment was written"

serve_stop north
echo "PASS: attachments"
