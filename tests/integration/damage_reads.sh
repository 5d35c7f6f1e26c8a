#!/usr/bin/env bash
# What the read commands do when an object they need is damaged: each of list, show, export,
# status, log and blame exits 1 and names the object, and prints no list, export or count as if
# it were whole. A tree that cannot be read is never taken for an empty one ("no records").
# Each object is damaged on its own copy of a good node, by flipping a byte of its zlib checksum
# (which git refuses too), whether it lies in a pack or is a loose object, its list cache deleted
# (a cache built from sound objects answers list without reading the store, checked on its own).
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# shellcheck source=lib/damage.bash
. "$(dirname "$0")/lib/damage.bash"

GOOD="$TEST_TMP/good"

check "a good node: twelve notes in three buckets or more, every read command exits 0"
found_node "$GOOD" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
for i in $(seq 1 12); do
    add_record "$GOOD" note title="Field visit $i" >/dev/null
done
NOTE=$(add_record "$GOOD" note title="Steering committee minutes")
expect_ok tw "$GOOD" set "$NOTE" body="Agreed the work plan"
for i in 13 14 15; do
    add_record "$GOOD" note title="Field visit $i" >/dev/null
done
NOTE_PATH=$(record_path note "$NOTE")
BUCKET=${NOTE_PATH%/*}
expect_ok tw "$GOOD" list
expect_eq "$(wc -l <"$OUT")" 16 "records listed by the good node"
expect_ok tw "$GOOD" verify

# The objects to damage, by what they are.
oid() { node_git "$GOOD" rev-parse "$1"; }
declare -A OBJ=(
    [head commit]=$(oid "main")
    [old commit]=$(oid "main~6")
    [root tree]=$(oid "main^{tree}")
    [records tree]=$(oid "main:records")
    [type tree]=$(oid "main:records/note")
    [bucket tree]=$(oid "main:$BUCKET")
    [record]=$(oid "main:$NOTE_PATH")
    [members tree]=$(oid "main:members")
)
# Loose objects are damaged too: the genesis writes its members tree loose.
case "$(object_where "$GOOD/repo.git" "${OBJ[members tree]}")" in
loose*) ;;
*) fail "the members tree is expected loose, as the genesis writes it" ;;
esac

# no_sanitizer_report: in a sanitizer build, a report exits 1 like the refusal expected, so the
# last command's stderr is searched for one.
no_sanitizer_report() {
    if grep -q -e 'runtime error: ' -e '^==[0-9]*==ERROR: ' -e '^SUMMARY: [A-Za-z]*Sanitizer' "$ERR"; then
        show_last
        fail "a sanitizer report"
    fi
}

# expect_damage NODE OID CMD...: CMD exits 1, names OID on stderr, and prints nothing.
expect_damage() {
    local node=$1 oid=$2
    shift 2
    expect_exit 1 tw "$node" "$@"
    no_sanitizer_report
    expect_stderr_contains "$oid"
    [ ! -s "$OUT" ] || { show_last; fail "twin $* printed an answer from a damaged store"; }
}

# expect_damage_named NODE OID CMD...: CMD exits 1 and names OID on stderr (what it printed
# before it met the damage may stay: log streams, as git log does).
expect_damage_named() {
    local node=$1 oid=$2
    shift 2
    expect_exit 1 tw "$node" "$@"
    no_sanitizer_report
    expect_stderr_contains "$oid"
}

# expect_verify_names NODE FILE: twin verify exits 1 and names FILE (a pack or loose object).
expect_verify_names() {
    expect_exit 1 tw "$1" verify
    no_sanitizer_report
    expect_stdout_contains "$2"
}

# fresh_copy NODE: a copy of the good node without its list cache, so that list and status read
# the store (a cache built from sound objects answers without it: see the check below).
fresh_copy() {
    rm -rf "$1"
    cp -a "$GOOD" "$1"
    rm -f "$1"/listcache.db*
}

# What reads each object: the list of records, the counts, a record's versions, the history.
for what in "records tree" "type tree" "bucket tree" "record" "root tree" "head commit"; do
    check "$what damaged: list, export, status, show, blame and log exit 1 naming it"
    N="$TEST_TMP/node-${what// /-}"
    fresh_copy "$N"
    damage_object "$N/repo.git" "${OBJ[$what]}"
    expect_damage "$N" "${OBJ[$what]}" list
    expect_damage "$N" "${OBJ[$what]}" --json list
    expect_damage "$N" "${OBJ[$what]}" list note --all
    expect_damage "$N" "${OBJ[$what]}" export --format json
    expect_damage "$N" "${OBJ[$what]}" export --format csv --type note
    expect_exit 1 tw "$N" export --format csv --out "$N/csv"
    expect_stderr_contains "${OBJ[$what]}"
    [ -z "$(ls -A "$N/csv" 2>/dev/null)" ] || fail "export --out DIR left $(ls "$N/csv")"
    echo "an older export" >"$N/notes.json"
    expect_exit 1 tw "$N" export --format json --out "$N/notes.json"
    [ ! -e "$N/notes.json" ] || fail "export --out FILE left a partial export"
    expect_damage "$N" "${OBJ[$what]}" status
    expect_damage "$N" "${OBJ[$what]}" show "$NOTE"
    expect_damage "$N" "${OBJ[$what]}" blame "$NOTE"
    expect_damage_named "$N" "${OBJ[$what]}" log
    expect_damage_named "$N" "${OBJ[$what]}" log "$NOTE"
    read -r _ file _ <<<"$(object_where "$N/repo.git" "${OBJ[$what]}")"
    expect_verify_names "$N" "$(basename "$file")"
    # git refuses the same object.
    if node_git "$N" cat-file -p "${OBJ[$what]}" >/dev/null 2>&1; then
        fail "git reads the damaged $what"
    fi
done

check "an old commit damaged: status, log and blame name it; list and show do not need it"
N="$TEST_TMP/node-old-commit"
fresh_copy "$N"
damage_object "$N/repo.git" "${OBJ[old commit]}"
expect_ok tw "$N" list
expect_eq "$(wc -l <"$OUT")" 16 "records listed beside a damaged old commit"
expect_ok tw "$N" show "$NOTE"
expect_damage "$N" "${OBJ[old commit]}" status
expect_damage_named "$N" "${OBJ[old commit]}" log
expect_damage "$N" "${OBJ[old commit]}" blame "$NOTE"
read -r _ file _ <<<"$(object_where "$N/repo.git" "${OBJ[old commit]}")"
expect_verify_names "$N" "$(basename "$file")"

check "the loose members tree damaged: status and log name it; list does not need it"
N="$TEST_TMP/node-members"
fresh_copy "$N"
damage_object "$N/repo.git" "${OBJ[members tree]}"
expect_ok tw "$N" list
expect_eq "$(wc -l <"$OUT")" 16 "records listed beside a damaged members tree"
expect_damage "$N" "${OBJ[members tree]}" status
expect_damage_named "$N" "${OBJ[members tree]}" log
M=${OBJ[members tree]}
expect_verify_names "$N" "objects/${M:0:2}/${M:2}"

check "a list cache built before the damage: list answers in full from it; rebuilt, it names the object"
# The cache describes the head, whose records it took from sound objects: list needs no object
# of the store until the head moves. Deleted, it is rebuilt from the store, which names the damage.
N="$TEST_TMP/node-cached"
cp -a "$GOOD" "$N"
[ -s "$N/listcache.db" ] || fail "the good node keeps no list cache"
damage_object "$N/repo.git" "${OBJ[bucket tree]}"
expect_ok tw "$N" list
expect_eq "$(wc -l <"$OUT")" 16 "records listed from the cache beside a damaged bucket tree"
rm -f "$N"/listcache.db*
expect_damage "$N" "${OBJ[bucket tree]}" list

check "the genesis's loose root tree damaged: verify exits 1 naming its file"
G=$(node_git "$GOOD" rev-parse "$(node_git "$GOOD" rev-list --max-parents=0 main)^{tree}")
case "$(object_where "$GOOD/repo.git" "$G")" in
loose*) ;;
*) fail "the genesis's root tree is expected loose" ;;
esac
N="$TEST_TMP/node-genesis-tree"
cp -a "$GOOD" "$N"
damage_object "$N/repo.git" "$G"
expect_verify_names "$N" "objects/${G:0:2}/${G:2}"
expect_damage_named "$N" "$G" log

check "a write on a damaged bucket exits 1 naming it, and writes nothing"
N="$TEST_TMP/node-write"
cp -a "$GOOD" "$N"
damage_object "$N/repo.git" "${OBJ[bucket tree]}"
BEFORE=$(head_of "$N")
expect_exit 1 tw "$N" set "$NOTE" title="Renamed"
expect_stderr_contains "${OBJ[bucket tree]}"
expect_eq "$(head_of "$N")" "$BEFORE" "head after a refused write"

check "a version-1 index whose offsets point past its pack: verify names it and does not read there"
# The whole history in one pack with a version-1 index (git's, from before index version 2), and
# every offset's third byte from the end moved: each entry points megabytes past the pack's end.
# A reader that follows such an offset reads outside the file; verify checks the store first and
# reads no history from damaged packs.
N="$TEST_TMP/v1"
cp -a "$GOOD" "$N"
node_git "$N" repack -a -d -q
PACK=$(ls "$N"/repo.git/objects/pack/pack-*.pack)
[ "$(ls "$N"/repo.git/objects/pack/pack-*.pack | wc -l)" -eq 1 ] || fail "expected one pack"
rm -f "${PACK%.pack}.idx"
node_git "$N" index-pack --index-version=1 -o "${PACK%.pack}.idx" "$PACK" >/dev/null
find "$N/repo.git/objects" -type f -exec chmod u+w {} +
IDX="${PACK%.pack}.idx"
COUNT=$((($(stat -c %s "$IDX") - 1024 - 40) / 24))
for ((e = 0; e < COUNT; e++)); do
    off=$((1024 + e * 24 + 1))
    b=$(byte_at "$IDX" "$off")
    # shellcheck disable=SC2059 # the format is the octal escape of the new byte
    printf "$(printf '\\%03o' $((b ^ 66)))" | dd of="$IDX" bs=1 seek="$off" conv=notrunc status=none
done
expect_exit 1 tw "$N" verify
expect_stdout_contains "$(basename "$IDX"): object "
expect_stdout_contains "points outside the pack's objects"
expect_stdout_contains "the history could not be checked: an index of its packs is damaged"

echo "PASS: damage_reads"
