# Helpers that damage a node's store on purpose, for the tests of what twin does on damage
# (damage_reads.sh, damage_sweep.sh, damage_sync.sh). Sourced after common.bash or sync.bash.
# Bytes are flipped with od, printf and dd only, so the tests need nothing beyond coreutils and
# git.

# byte_at FILE OFFSET: the byte at OFFSET of FILE, as a decimal number.
byte_at() {
    od -An -tu1 -j "$2" -N1 "$1" | tr -d ' \n'
}

# flip_byte FILE OFFSET [XOR]: xors the byte at OFFSET of FILE with XOR (default 1). Flipping
# twice with the same XOR restores the file. Object files are read-only: the mode is kept.
flip_byte() {
    local file=$1 off=$2 x=${3:-1} b mode
    b=$(byte_at "$file" "$off")
    [ -n "$b" ] || fail "flip_byte: no byte at $off of $file"
    mode=$(stat -c %a "$file")
    chmod u+w "$file"
    # shellcheck disable=SC2059 # the format is the octal escape of the new byte
    printf "$(printf '\\%03o' $((b ^ x)))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
    chmod "$mode" "$file"
}

# object_where GITDIR OID: where the store keeps OID, as "pack FILE OFFSET LENGTH" (LENGTH: the
# object's bytes in the pack, header to zlib checksum) or "loose FILE". Empty when nowhere.
object_where() {
    local gitdir=$1 oid=$2 idx line
    if [ -f "$gitdir/objects/${oid:0:2}/${oid:2}" ]; then
        echo "loose $gitdir/objects/${oid:0:2}/${oid:2}"
        return
    fi
    for idx in "$gitdir"/objects/pack/pack-*.idx; do
        [ -f "$idx" ] || continue
        # "<oid> <type> <size> <size in pack> <offset> [<depth> <base>]" (awk reads to the end:
        # a reader that stops early would fail the pipe)
        line=$(git --git-dir="$gitdir" verify-pack -v "$idx" 2>/dev/null |
            awk -v o="$oid" '$1 == o && !seen { print; seen = 1 }')
        [ -n "$line" ] || continue
        # shellcheck disable=SC2086 # split into fields
        set -- $line
        echo "pack ${idx%.idx}.pack $5 $4"
        return
    done
}

# damage_object GITDIR OID: flips a byte of OID's zlib checksum (the last byte of its stream), so
# that zlib, and so every reader, refuses it. Fails the test when OID is not in the store.
damage_object() {
    local where oid=$2
    where=$(object_where "$1" "$2")
    # shellcheck disable=SC2086 # split into fields
    set -- $where
    case "${1:-}" in
    pack) flip_byte "$2" $(($3 + $4 - 1)) 0x40 ;;
    loose) flip_byte "$2" $(($(stat -c %s "$2") - 1)) 0x40 ;;
    *) fail "damage_object: $oid is not in the store" ;;
    esac
}
