#!/usr/bin/env bash
# Packs stay few, and git's own are left alone. A node that only receives syncs joins the packs
# it receives as it joins its own, so it holds a few packs however many sessions it takes. A pack
# git made (`git repack -adb`, with its bitmap) is never joined away by twin's later writes:
# git fsck passes and git's bitmap still answers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

packs_of() {
    find "$(dir_of "$1")/repo.git/objects/pack" -name 'pack-*.pack' | wc -l
}

check "North founds and serves; South joins"
node_new north XE-EXAMPLE-N NL north
serve_start north
token=$(tw north invite 2>/dev/null)
must "$TWIN" --dir "$(dir_of south)" join "$token" --name "Ministry south" --org-id XE-EXAMPLE-S \
    --country TZ --side south

check "South receives 30 syncs, each bringing a pack, and keeps a few packs"
for i in $(seq 1 30); do
    add_rec north note title="Note $i from North"
    sync_ok south XE-EXAMPLE-N
done
n=$(packs_of south)
note "South holds $n packs after 30 received syncs"
[ "$n" -le 9 ] || fail "South holds $n packs after 30 received syncs, expected at most 9"
same_heads north south
verify_ok south
fsck_ok south

check "git repack -adb on North, then more twin writes: git's pack and bitmap stay, and work"
serve_stop north
ngit north repack -adbq
gitpack=$(find "$(dir_of north)/repo.git/objects/pack" -name 'pack-*.bitmap' | head -n 1)
[ -n "$gitpack" ] || fail "git repack -adb wrote no bitmap"
gitpack=${gitpack%.bitmap}
for i in $(seq 1 20); do
    add_rec north note title="After git's repack $i"
done
[ -e "$gitpack.pack" ] && [ -e "$gitpack.idx" ] && [ -e "$gitpack.bitmap" ] ||
    fail "twin joined away the pack git made ($(basename "$gitpack"))"
[ "$(packs_of north)" -le 10 ] || fail "North holds $(packs_of north) packs"
fsck_ok north
same "$(ngit north rev-list --use-bitmap-index --count refs/heads/main)" \
    "$(ngit north rev-list --count refs/heads/main)" "commits counted through git's bitmap"
verify_ok north

echo "PASS"
