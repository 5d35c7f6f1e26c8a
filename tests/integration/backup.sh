#!/usr/bin/env bash
# Backup and restore: one file restores a node whole (history, key, settings, peers, the wrap
# store of sealed records), and the restored node verifies, reads its sealed records and syncs;
# the sync after restoring a backup taken before an erasure deletes the erased record's keys. A
# node rebuilt from a plain `git clone --mirror` of repo.git plus node.key works too. Restore
# refuses what is not a backup, an archive with entries outside a node (.., absolute paths,
# links), and a target that is not empty, leaving nothing behind.
# A setting that would break every commit (a line break in twin.name) is refused when read.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

check "North founds and serves; South joins and writes; both are told to back up"
must "$TWIN" --dir "$(dir_of north)" init --name "Ministry north" --org-id XE-EXAMPLE-N \
    --country NL --side north --network "Backup Test Network"
err_has "back up this node now"
NODE_KEY[north]=$(tw north id | head -n 1)
serve_start north
token=$(tw north invite 2>/dev/null)
must "$TWIN" --dir "$(dir_of south)" join "$token" --name "Ministry south" --org-id XE-EXAMPLE-S \
    --country TZ --side south
err_has "back up this node now"
add_rec south note title="Before the backup"
before=$REC_ID
sync_ok south XE-EXAMPLE-N

check "twin backup writes one file, readable by its owner alone, of the node's own files"
must "$TWIN" --dir "$(dir_of south)" backup --out "$SYNC_TMP/south.backup"
out_has "Wrote a backup"
same "$(stat -c %a "$SYNC_TMP/south.backup")" 600 "the backup's mode"
tar tf "$SYNC_TMP/south.backup" >"$SYNC_TMP/entries"
same "$(head -n 1 "$SYNC_TMP/entries")" twin-backup "the first entry"
grep -qx node.key "$SYNC_TMP/entries" || fail "no node.key in the backup"
grep -qx repo.git/config "$SYNC_TMP/entries" || fail "no settings in the backup"
! grep -e '\.lock$' -e 'incoming-' "$SYNC_TMP/entries" || fail "lock or quarantine files in the backup"
backup_head=$(head_of south)

check "South writes on; its node is lost; the restore verifies, keeps its peers and catches up"
add_rec south note title="After the backup"
after=$REC_ID
sync_ok south XE-EXAMPLE-N
south_key=$(tw south id | head -n 1)
rm -rf "$(dir_of south)"
must "$TWIN" restore "$SYNC_TMP/south.backup" --dir "$(dir_of south)"
out_has "Restored the node of XE-EXAMPLE-S"
same "$(tw south id | head -n 1)" "$south_key" "the restored key"
same "$(head_of south)" "$backup_head" "the restored head"
same "$(stat -c %a "$(dir_of south)/node.key")" 600 "the restored key's mode"
verify_ok south
tw south peer list | grep XE-EXAMPLE-N >/dev/null || fail "the restored node lost its peers"
sync_ok south XE-EXAMPLE-N
echo "$before" >"$SYNC_TMP/ids"
echo "$after" >>"$SYNC_TMP/ids"
has_ids south "$SYNC_TMP/ids"
add_rec south note title="Written by the restored node"
sync_ok south XE-EXAMPLE-N
same_heads north south
verify_ok north south
fsck_ok south

check "a backup taken while a key rotation runs waits for it, and restores the key it left"
TWIN_TEST_STOP=rotate-committed "$TWIN" --dir "$(dir_of south)" key rotate >"$SYNC_TMP/rotate.out" 2>&1 &
rot=$!
SYNC_BG_PIDS+=("$rot")
start=$SECONDS
until [[ $(ps -o stat= -p "$rot" 2>/dev/null) == T* ]]; do
    [ $((SECONDS - start)) -lt 30 ] || fail "the rotation did not reach its commit in 30 s"
    sleep 0.05
done
"$TWIN" --dir "$(dir_of south)" backup --out "$SYNC_TMP/during.backup" >"$SYNC_TMP/backup.out" 2>&1 &
bak=$!
SYNC_BG_PIDS+=("$bak")
sleep 1
kill -0 "$bak" 2>/dev/null || fail "the backup did not wait for the rotation: $(cat "$SYNC_TMP/backup.out")"
kill -CONT "$rot"
wait_exit "$rot" 30
[ "$WAIT_STATUS" -eq 0 ] || fail "the rotation failed: $(cat "$SYNC_TMP/rotate.out")"
wait_exit "$bak" 30
[ "$WAIT_STATUS" -eq 0 ] || fail "the backup failed: $(cat "$SYNC_TMP/backup.out")"
must "$TWIN" restore "$SYNC_TMP/during.backup" --dir "$(dir_of rotated)/"
same "$(tw rotated id | head -n 1)" "$(tw south id | head -n 1)" "the restored key after the rotation"
add_rec rotated note title="Signed by the restored, rotated key"
verify_ok rotated

check "restore refuses a target that is not empty, and a file that is not a backup"
must_fail "$TWIN" restore "$SYNC_TMP/south.backup" --dir "$(dir_of south)"
err_has "is not empty"
head -c 4096 /dev/urandom >"$SYNC_TMP/noise"
must_fail "$TWIN" restore "$SYNC_TMP/noise" --dir "$(dir_of r1)"
[ ! -e "$(dir_of r1)" ] || fail "a refused restore left $(dir_of r1) behind"
must_fail "$TWIN" restore "$SYNC_TMP/missing.backup" --dir "$(dir_of r1)"
err_has "missing.backup"
mkdir -p "$SYNC_TMP/plain" && echo hello >"$SYNC_TMP/plain/hello.txt"
tar cf "$SYNC_TMP/plain.tar" -C "$SYNC_TMP/plain" hello.txt
must_fail "$TWIN" restore "$SYNC_TMP/plain.tar" --dir "$(dir_of r1)"
err_has "hello.txt"

check "restore refuses entries outside a node: .., an absolute path, a link"
python3 - "$SYNC_TMP" <<'EOF'
import io, sys, tarfile
tmp = sys.argv[1]
def make(name, extra):
    with tarfile.open(f"{tmp}/{name}.tar", "w", format=tarfile.PAX_FORMAT) as t:
        marker = b"twin backup 1\n"
        info = tarfile.TarInfo("twin-backup"); info.size = len(marker)
        t.addfile(info, io.BytesIO(marker))
        extra(t)
def dotdot(t):
    data = b"evil\n"; info = tarfile.TarInfo("repo.git/../../escaped"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
def absolute(t):
    data = b"evil\n"; info = tarfile.TarInfo("/tmp/twin-escaped"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
def link(t):
    info = tarfile.TarInfo("node.key"); info.type = tarfile.SYMTYPE; info.linkname = "/etc/passwd"
    t.addfile(info)
make("dotdot", dotdot); make("absolute", absolute); make("link", link)
EOF
for bad in dotdot absolute link; do
    must_fail "$TWIN" restore "$SYNC_TMP/$bad.tar" --dir "$(dir_of "r-$bad")"
    err_has "not"
    [ ! -e "$(dir_of "r-$bad")" ] || fail "the $bad archive left a node behind"
done
[ ! -e "$SYNC_TMP/escaped" ] && [ ! -e /tmp/twin-escaped ] || fail "an entry escaped the target"
ls "$SYNC_TMP" | grep restore- >/dev/null && fail "a refused restore left its temporary directory"

check "a node rebuilt from git clone --mirror and node.key takes its settings from history"
mkdir -p "$(dir_of mirror)"
git clone -q --mirror "$(dir_of north)/repo.git" "$(dir_of mirror)/repo.git"
cp "$(dir_of north)/node.key" "$(dir_of mirror)/node.key"
must "$TWIN" --dir "$(dir_of mirror)" status
must "$TWIN" --dir "$(dir_of mirror)" id
out_has "$(network_of north)"
same "$(ngit mirror config twin.orgid)" XE-EXAMPLE-N "the rebuilt org id"
verify_ok mirror
add_rec mirror note title="Written by the rebuilt node"
verify_ok mirror

check "a line break in twin.name is refused when the setting is read, and nothing is committed"
head=$(head_of south)
ngit south config twin.name "$(printf 'Ministry\nsouth')"
must_fail "$TWIN" --dir "$(dir_of south)" add note title="Never written"
err_has "twin.name holds a line break"
same "$(head_of south)" "$head" "South's head after the refused write"
ngit south config twin.name "Ministry south"
add_rec south note title="Written once the setting was fixed"
verify_ok south

check "a commit the validity predicate refuses is never published: twin.orgid set to another member's"
head=$(head_of south)
ngit south config twin.orgid XE-EXAMPLE-N
must_fail "$TWIN" --dir "$(dir_of south)" add note title="Never published"
err_has "which the validity predicate refuses"
err_has "it was not published"
same "$(head_of south)" "$head" "South's head after the refused write"
ngit south config twin.orgid XE-EXAMPLE-S
verify_ok south

check "a backup carries the wrap store; a sync after the restore deletes the keys erased since,"
echo "   and brings back the keys of what South sealed after the backup"
add_rec south note kind=note title="Sealed before the backup" --audience XE-EXAMPLE-S
sealed_id=$REC_ID
add_rec south note kind=note title="Erased after the backup" --audience XE-EXAMPLE-S
erased_id=$REC_ID
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of south)" backup --out "$SYNC_TMP/sealed.backup"
tar tf "$SYNC_TMP/sealed.backup" | grep -x wraps.db >/dev/null || fail "no wrap store in the backup"
must "$TWIN" --dir "$(dir_of north)" erase "$erased_id" --reason "Asked by the person"
add_rec south note kind=note title="Sealed after the backup" --audience XE-EXAMPLE-S
later_id=$REC_ID
sync_ok south XE-EXAMPLE-N # North keeps the wrap to South's key, which South alone made
rm -rf "$(dir_of south)"
must "$TWIN" restore "$SYNC_TMP/sealed.backup" --dir "$(dir_of south)"
same "$(stat -c %a "$(dir_of south)/wraps.db")" 600 "the restored wrap store's mode"
must "$TWIN" --dir "$(dir_of south)" show "$sealed_id"
out_has "Sealed before the backup"
must "$TWIN" --dir "$(dir_of south)" show "$erased_id" # the backup's history erases nothing yet
out_has "Erased after the backup"
sync_ok south XE-EXAMPLE-N
must "$TWIN" --dir "$(dir_of south)" show "$later_id"
out_has "Sealed after the backup"
must "$TWIN" --dir "$(dir_of south)" show "$erased_id"
out_has '"erased"'
! grep "Erased after the backup" "$RUN_OUT" >/dev/null || fail "the erased record still opens after the sync"
verify_ok south
out_has "This node holds no key of an erased record."
! grep "still held" "$RUN_OUT" >/dev/null || fail "verify found keys of the erased record after the sync"

serve_stop north
echo "PASS"
