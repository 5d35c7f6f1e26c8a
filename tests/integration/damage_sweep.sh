#!/usr/bin/env bash
# The byte-flip sweep: twin verify finds every damage git fsck finds. One byte at a time is
# flipped in every region of the node's packs and their indexes (pack header, each object's
# header, zlib header, deflate data and adler32, the trailer; the index's header, fan-out, ids,
# CRC32s, offsets, large offsets, pack checksum and own checksum) and of its loose objects, and
# `twin verify` and `git fsck --full --strict` are run on the damaged node. Each flip must be
# harmless to both or reported by both; twin must exit 1 and name the damaged file. Then each
# records tree of the head is damaged in turn: `twin list` (its list cache deleted, so that it
# reads the trees) exits 1 naming it whenever git cannot read it, and answers in full when git
# reads it whole.
#
# The node holds packs of every kind a store meets: one twin wrote for one commit, one twin
# joined from several, one git made with offset deltas and an index whose offsets are in the
# large-offset table, one git made with reference deltas and a version-1 index, and one that no
# commit reaches; and the loose objects of the genesis.
#
# Offsets: a seeded random byte of each region, and the first or last byte where it tells most
# (a version's or count's low byte, the fan-out's last entry, the first id); objects: the first,
# the first delta, the last, then random ones. TWIN_SWEEP_SEED replays the choices of a run (the
# seed is printed; a new node's ids, keys and times differ, so the bytes they land on may too: a
# failure names the file, offset and xor, and TWIN_KEEP_TMP=1 keeps the node);
# TWIN_SWEEP_OBJECTS sets how many objects of each pack are damaged (default 2).
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# shellcheck source=lib/damage.bash
. "$(dirname "$0")/lib/damage.bash"

SEED=${TWIN_SWEEP_SEED:-$(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') + 1))}
OBJECTS=${TWIN_SWEEP_OBJECTS:-2}
echo "seed: $SEED (replay with TWIN_SWEEP_SEED=$SEED)"
RANDOM=$SEED

# below N: a seeded random number in [0, N).
below() {
    echo $(((RANDOM * 32768 + RANDOM) % $1))
}

NODE="$TEST_TMP/node"
check "a node with twin's packs (one commit, joined), git's packs (offset deltas and large offsets; reference deltas and a version-1 index), an unreferenced pack and loose objects"
found_node "$NODE" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
for i in $(seq 1 12); do
    add_record "$NODE" note title="Field visit $i" body="Notes of visit $i" >/dev/null
done
GIT_DIR_N="$NODE/repo.git"
PACKDIR="$GIT_DIR_N/objects/pack"
# The last pack twin wrote holds the last commit alone; the largest one is a join.
TWIN_ONE=$(ls -t "$PACKDIR"/pack-*.pack | head -1)
TWIN_JOINED=$(ls -S "$PACKDIR"/pack-*.pack | head -1)
[ "$TWIN_ONE" != "$TWIN_JOINED" ] || fail "expected a joined pack beside the last one"
# git's packs of the whole history, left out of twin-packs (twin never joins them).
node_git "$NODE" rev-list --objects main >"$TEST_TMP/objects"
OFS=$(node_git "$NODE" pack-objects -q --delta-base-offset --window=10 --depth=10 \
    "$TEST_TMP/ofs" <"$TEST_TMP/objects")
node_git "$NODE" index-pack --index-version=2,64 -o "$PACKDIR/pack-$OFS.idx" \
    "$TEST_TMP/ofs-$OFS.pack" >/dev/null
cp "$TEST_TMP/ofs-$OFS.pack" "$PACKDIR/pack-$OFS.pack"
REF=$(node_git "$NODE" pack-objects -q --window=10 --depth=10 "$TEST_TMP/ref" <"$TEST_TMP/objects")
node_git "$NODE" index-pack --index-version=1 -o "$PACKDIR/pack-$REF.idx" \
    "$TEST_TMP/ref-$REF.pack" >/dev/null
cp "$TEST_TMP/ref-$REF.pack" "$PACKDIR/pack-$REF.pack"
# And a pack no commit reaches: three blobs written by plain git, packed alone.
for i in 1 2 3; do
    printf 'An unreferenced draft %s of the Lake Basin minutes\n' "$i" |
        node_git "$NODE" hash-object -w --stdin
done >"$TEST_TMP/unreferenced"
UNREF=$(node_git "$NODE" pack-objects -q "$PACKDIR/pack" <"$TEST_TMP/unreferenced")
while read -r b; do rm -f "$GIT_DIR_N/objects/${b:0:2}/${b:2}"; done <"$TEST_TMP/unreferenced"
chmod 0444 "$PACKDIR"/pack-*
PACKS=("$TWIN_ONE" "$TWIN_JOINED" "$PACKDIR/pack-$OFS.pack" "$PACKDIR/pack-$REF.pack"
    "$PACKDIR/pack-$UNREF.pack")
PACK_KIND=("twin-one" "twin-joined" "git-ofs-large" "git-ref-v1" "unreferenced")
mapfile -t LOOSE < <(find "$GIT_DIR_N/objects" -path "$PACKDIR" -prune -o -type f -print | sort)
[ "${#LOOSE[@]}" -ge 3 ] || fail "expected the genesis's loose objects"
expect_ok tw "$NODE" verify
expect_stdout_contains "All commits are valid."
expect_stdout_contains "Checked $(ls "$PACKDIR"/pack-*.pack | wc -l) packs"
expect_ok git --git-dir="$GIT_DIR_N" fsck --full --strict --no-progress
cp -a "$NODE" "$TEST_TMP/pristine"

# The objects' files are made writable once, and each flip is undone from the pristine copy.
find "$GIT_DIR_N/objects" -type f -exec chmod u+w {} +

declare -A TRIED BOTH_FAIL BOTH_PASS
TOTAL=0

# flip_and_judge REGION FILE OFFSET: flips the byte, runs both checks, restores the file.
flip_and_judge() {
    local region=$1 file=$2 off=$3 x b twin_rc=0 git_rc=0
    x=$(($(below 255) + 1))
    b=$(byte_at "$file" "$off")
    # shellcheck disable=SC2059 # the format is the octal escape of the new byte
    printf "$(printf '\\%03o' $((b ^ x)))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
    # Both read the damaged node side by side (neither writes).
    git --git-dir="$GIT_DIR_N" fsck --full --strict --no-progress >"$TEST_TMP/fsck.out" 2>&1 &
    local fsck_pid=$!
    "$TWIN" --dir "$NODE" verify >"$OUT" 2>"$ERR" || twin_rc=$?
    wait "$fsck_pid" || git_rc=$?
    cp "$TEST_TMP/pristine/${file#"$NODE"/}" "$file"
    TRIED[$region]=$((${TRIED[$region]:-0} + 1))
    TOTAL=$((TOTAL + 1))
    local what="$region: byte $off of ${file#"$NODE"/} xor $x (seed $SEED)"
    if grep -q -e 'runtime error: ' -e '^==[0-9]*==ERROR: ' -e '^SUMMARY: [A-Za-z]*Sanitizer' "$ERR"; then
        show_last
        fail "$what: a sanitizer report from twin verify"
    fi
    if [ "$twin_rc" -ne 0 ] && [ "$twin_rc" -ne 1 ]; then
        show_last
        fail "$what: twin verify exited $twin_rc"
    fi
    if [ "$twin_rc" -eq 1 ] && [ "$git_rc" -ne 0 ]; then
        BOTH_FAIL[$region]=$((${BOTH_FAIL[$region]:-0} + 1))
        grep -qF -- "$(basename "$file")" "$OUT" || {
            show_last
            fail "$what: twin verify does not name $(basename "$file")"
        }
    elif [ "$twin_rc" -eq 0 ] && [ "$git_rc" -eq 0 ]; then
        BOTH_PASS[$region]=$((${BOTH_PASS[$region]:-0} + 1))
    else
        show_last
        echo "--- git fsck:" >&2
        head -c 2000 "$TEST_TMP/fsck.out" >&2
        fail "$what: twin verify exited $twin_rc, git fsck $git_rc"
    fi
}

# sweep REGION FILE START END WHICH: flips bytes of [START, END): WHICH holds f (the first), l
# (the last) and r (a seeded random one), each as often as it appears.
sweep() {
    local region=$1 file=$2 start=$3 end=$4 which=$5 k
    [ "$end" -gt "$start" ] || return 0
    for ((k = 0; k < ${#which}; k++)); do
        case "${which:k:1}" in
        f) flip_and_judge "$region" "$file" "$start" ;;
        l) flip_and_judge "$region" "$file" $((end - 1)) ;;
        r) flip_and_judge "$region" "$file" $((start + $(below $((end - start))))) ;;
        esac
    done
}

# header_length FILE OFFSET: the bytes of a packed object's header (type and size, and an
# offset delta's base offset or a reference delta's base id).
header_length() {
    local file=$1 off=$2 b n type
    read -r -a bytes <<<"$(od -An -tu1 -j "$off" -N40 "$file")"
    b=${bytes[0]}
    type=$(((b >> 4) & 7))
    n=1
    while ((b & 128)); do
        b=${bytes[$n]}
        n=$((n + 1))
    done
    if [ "$type" -eq 6 ]; then
        b=${bytes[$n]}
        n=$((n + 1))
        while ((b & 128)); do
            b=${bytes[$n]}
            n=$((n + 1))
        done
    elif [ "$type" -eq 7 ]; then
        n=$((n + 20))
    fi
    echo "$n"
}

# be32 FILE OFFSET: the big-endian 32-bit number at OFFSET.
be32() {
    od -An -tu1 -j "$2" -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'
}

for p in "${!PACKS[@]}"; do
    pack=${PACKS[$p]}
    idx=${pack%.pack}.idx
    kind=${PACK_KIND[$p]}
    check "pack $kind: header, objects and trailer of $(basename "$pack")"
    size=$(stat -c %s "$pack")
    sweep "pack header: signature" "$pack" 0 4 r
    sweep "pack header: version" "$pack" 4 8 l
    sweep "pack header: object count" "$pack" 8 12 l
    sweep "pack trailer: checksum" "$pack" $((size - 20)) "$size" r
    # Objects: "<id> <type> <size> <size in pack> <offset> [<depth> <base>]".
    git --git-dir="$GIT_DIR_N" verify-pack -v "$idx" |
        awk 'NF >= 5 && $2 ~ /^(commit|tree|blob|tag)$/' >"$TEST_TMP/entries"
    n=$(wc -l <"$TEST_TMP/entries")
    # The first, the first delta, the last, then random ones.
    picks=(1)
    d=$(awk 'NF >= 7 { print NR; exit }' "$TEST_TMP/entries")
    [ -n "$d" ] && picks+=("$d")
    picks+=("$n")
    while [ "${#picks[@]}" -lt "$OBJECTS" ]; do
        picks+=($(($(below "$n") + 1)))
    done
    for k in "${picks[@]:0:$OBJECTS}"; do
        read -r _ _ _ len off _ <<<"$(sed -n "${k}p" "$TEST_TMP/entries")"
        h=$(header_length "$pack" "$off")
        sweep "object: header" "$pack" "$off" $((off + h)) r
        sweep "object: zlib header" "$pack" $((off + h)) $((off + h + 2)) r
        sweep "object: deflate data" "$pack" $((off + h + 2)) $((off + len - 4)) r
        sweep "object: adler32" "$pack" $((off + len - 4)) $((off + len)) r
    done

    check "index of $kind: every table of $(basename "$idx")"
    isize=$(stat -c %s "$idx")
    if [ "$(od -An -tx1 -N4 "$idx" | tr -d ' ')" = "ff744f63" ]; then
        count=$(be32 "$idx" 1028)
        ids=1032
        crcs=$((ids + 20 * count))
        offs=$((crcs + 4 * count))
        large=$((offs + 4 * count))
        sweep "index v2: signature" "$idx" 0 4 r
        sweep "index v2: version" "$idx" 4 8 l
        sweep "index: fan-out" "$idx" 8 1032 lr
        sweep "index: ids" "$idx" "$ids" "$crcs" fr
        sweep "index v2: CRC32s" "$idx" "$crcs" "$offs" r
        sweep "index v2: offsets" "$idx" "$offs" "$large" r
        sweep "index v2: large offsets" "$idx" "$large" $((isize - 40)) lr
    else
        count=$(be32 "$idx" 1020)
        sweep "index: fan-out" "$idx" 0 1024 lr
        k=$(below "$count")
        sweep "index v1: offsets" "$idx" $((1024 + 24 * k)) $((1024 + 24 * k + 4)) r
        sweep "index: ids" "$idx" $((1024 + 24 * k + 4)) $((1024 + 24 * k + 24)) r
    fi
    sweep "index: pack checksum" "$idx" $((isize - 40)) $((isize - 20)) r
    sweep "index: own checksum" "$idx" $((isize - 20)) "$isize" r
done

check "loose objects: zlib header, deflate data and adler32 of the first, the last and a random one"
n=${#LOOSE[@]}
for f in "${LOOSE[0]}" "${LOOSE[$((n - 1))]}" "${LOOSE[$((1 + $(below $((n - 2)))))]}"; do
    size=$(stat -c %s "$f")
    sweep "loose: zlib header" "$f" 0 2 r
    sweep "loose: deflate data" "$f" 2 $((size - 4)) r
    sweep "loose: adler32" "$f" $((size - 4)) "$size" r
done

check "the flips were undone: the node is as it was"
diff -r "$TEST_TMP/pristine" "$NODE" >/dev/null || fail "the node differs from its copy after the sweep"

check "each records tree of the head damaged: twin list refuses it as git refuses it, naming it"
# On a node with twin's packs only, where each tree has one copy. A flip git reads past (the
# compression level in a zlib header, padding bits after the last deflate block) leaves the tree
# as it was: list must then answer in full; any other is refused by git, and list must exit 1
# naming the tree and print nothing.
LIST_NODE="$TEST_TMP/list-node"
cp -a "$NODE" "$LIST_NODE"
rm -f "$LIST_NODE/repo.git/objects/pack/pack-$OFS".* "$LIST_NODE/repo.git/objects/pack/pack-$REF".* \
    "$LIST_NODE/repo.git/objects/pack/pack-$UNREF".*
expect_ok tw "$LIST_NODE" list
cp "$OUT" "$TEST_TMP/list.good"
expect_eq "$(wc -l <"$TEST_TMP/list.good")" 12 "records listed before the damage"
trees=("$(node_git "$LIST_NODE" rev-parse main:records)" "$(node_git "$LIST_NODE" rev-parse main:records/note)")
mapfile -t buckets < <(node_git "$LIST_NODE" ls-tree main records/note/ | awk '{ print $3 }')
trees+=("${buckets[@]}")
LISTED=0
LIST_HARMLESS=0
for t in "${trees[@]}"; do
    read -r kind file off len <<<"$(object_where "$LIST_NODE/repo.git" "$t")"
    [ "$kind" = pack ] || fail "records tree $t is expected in a pack"
    node_git "$LIST_NODE" cat-file tree "$t" >"$TEST_TMP/tree.good"
    at=$((off + $(below "$len")))
    x=$(($(below 255) + 1))
    flip_byte "$file" "$at" "$x"
    what="records tree $t: byte $at of $(basename "$file") xor $x (seed $SEED)"
    rm -f "$LIST_NODE"/listcache.db* # list reads the trees, not a cache of them
    if node_git "$LIST_NODE" cat-file tree "$t" >"$TEST_TMP/tree.now" 2>/dev/null; then
        cmp -s "$TEST_TMP/tree.good" "$TEST_TMP/tree.now" || fail "$what: git reads other content"
        expect_ok tw "$LIST_NODE" list
        cmp -s "$OUT" "$TEST_TMP/list.good" || fail "$what: list answers otherwise than before"
        LIST_HARMLESS=$((LIST_HARMLESS + 1))
    else
        expect_exit 1 tw "$LIST_NODE" list
        expect_stderr_contains "$t"
        [ ! -s "$OUT" ] || fail "$what: twin list printed records from a damaged tree"
        LISTED=$((LISTED + 1))
    fi
    flip_byte "$file" "$at" "$x"
done
# And one flip git reads past on purpose: another compression level in the records tree's zlib
# header (the four levels' header bytes after 0x78 are 01, 5e, 9c, da).
t=${trees[0]}
read -r kind file off len <<<"$(object_where "$LIST_NODE/repo.git" "$t")"
h=$(header_length "$file" "$off")
[ "$(byte_at "$file" $((off + h)))" = 120 ] || fail "records tree $t: no zlib header 0x78"
flg=$(byte_at "$file" $((off + h + 1)))
for other in 1 94 156 218; do
    [ "$other" != "$flg" ] && break
done
flip_byte "$file" $((off + h + 1)) $((flg ^ other))
node_git "$LIST_NODE" cat-file tree "$t" >/dev/null || fail "git refuses another compression level"
rm -f "$LIST_NODE"/listcache.db*
expect_ok tw "$LIST_NODE" list
cmp -s "$OUT" "$TEST_TMP/list.good" || fail "list answers otherwise with another compression level"
LIST_HARMLESS=$((LIST_HARMLESS + 1))
flip_byte "$file" $((off + h + 1)) $((flg ^ other))

expect_ok tw "$LIST_NODE" list
cmp -s "$OUT" "$TEST_TMP/list.good" || fail "records listed once the trees are whole again differ"

echo
printf '%-28s %6s %10s %10s\n' "region" "flips" "both fail" "both pass"
for region in $(printf '%s\n' "${!TRIED[@]}" | sort | tr ' ' '_'); do
    region=${region//_/ }
    printf '%-28s %6d %10d %10d\n' "$region" "${TRIED[$region]}" "${BOTH_FAIL[$region]:-0}" \
        "${BOTH_PASS[$region]:-0}"
done
echo "$TOTAL flips: twin verify and git fsck agreed on every one (seed $SEED)"
echo "$((LISTED + LIST_HARMLESS)) records trees damaged: git and twin list refused $LISTED (list named each), read $LIST_HARMLESS as whole"
echo "PASS: damage_sweep"
