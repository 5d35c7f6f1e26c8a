#!/usr/bin/env bash
# What `cmake --install` puts in place: the command with its man pages and bash completion, and
# what serves a program of an institution's own: installed into
# a private directory, the headers and twin.pc build install_consumer.c with
# `pkg-config --cflags --libs twin` against libtwin.so, and with `pkg-config --static` against
# libtwin.a; each program runs and prints the library's version and a fresh record id. The shared
# library exports the public API (include/twin/) and nothing else.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# shellcheck source=lib/install.bash
. "$(dirname "$0")/lib/install.bash"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
DEST="$TEST_TMP/dest"
PREFIX=/opt/twin-test
ROOT="$DEST$PREFIX"
CC=$(build_c_compiler)
CFLAGS=(-std=c11 -Wall -Wextra -Werror)
if [ "${TWIN_SANITIZED:-}" = ON ]; then
    CFLAGS+=(-fsanitize=address,undefined)
fi

check "cmake --install puts the binary, both libraries, the headers, twin.pc and the unit in place"
install_into "$DEST" "$PREFIX"
for f in bin/twin lib/libtwin.a lib/libtwin.so lib/libtwin.so.0.1 "lib/libtwin.so.$TWIN_VERSION" \
    lib/pkgconfig/twin.pc lib/systemd/system/twin.service lib/sysusers.d/twin.conf; do
    [ -e "$ROOT/$f" ] || fail "cmake --install left out $PREFIX/$f"
done
for h in "$SRC"/include/twin/*.h; do
    cmp -s "$h" "$ROOT/include/twin/$(basename "$h")" ||
        fail "include/twin/$(basename "$h") is not installed as $PREFIX/include/twin/"
done
expect_ok "$ROOT/bin/twin" --version
expect_stdout_contains "twin $TWIN_VERSION"

check "cmake --install puts a man page for twin and for each command, and the bash completion"
[ -f "$ROOT/share/man/man1/twin.1" ] || fail "cmake --install left out $PREFIX/share/man/man1/twin.1"
pages=0
for cmd in $(sed -n 's/^commands: //p' "$SRC/doc/cli/twin.txt"); do
    page="$ROOT/share/man/man1/twin-$cmd.1"
    [ -f "$page" ] || fail "cmake --install left out $PREFIX/share/man/man1/twin-$cmd.1"
    expect_ok "$ROOT/bin/twin" help "$cmd"
    # The page's NAME line carries the summary --help prints.
    grep -F "twin\\-$cmd \\- " "$page" >/dev/null || fail "twin-$cmd.1 has no NAME line"
    pages=$((pages + 1))
done
[ "$pages" -ge 30 ] || fail "only $pages command pages"
expect_eq "$(find "$ROOT/share/man/man1" -name 'twin*.1' | wc -l)" "$((pages + 1))" "installed man pages"
if command -v man >/dev/null; then
    MANPATH="$ROOT/share/man" MANWIDTH=80 expect_ok man twin-add
    expect_stdout_contains "twin add TYPE"
fi
COMPLETION="$ROOT/share/bash-completion/completions/twin"
[ -f "$COMPLETION" ] || fail "cmake --install left out $PREFIX/share/bash-completion/completions/twin"
cmp -s "$COMPLETION" "$TWIN_BUILD_DIR/generated/completion/twin" || fail "the installed completion is not the generated one"
expect_ok bash -c '. "$1" && complete -p twin' bash "$COMPLETION"
expect_stdout_contains "complete -F _twin twin"
echo "   $((pages + 1)) man pages and the completion script"

check "twin.pc names the prefix installed into, and the libraries libtwin needs"
PC="$ROOT/lib/pkgconfig/twin.pc"
expect_eq "$(grep '^prefix=' "$PC")" "prefix=$PREFIX" "twin.pc's prefix"
expect_eq "$(grep '^libdir=' "$PC")" 'libdir=${prefix}/lib' "twin.pc's libdir"
expect_eq "$(grep '^includedir=' "$PC")" 'includedir=${prefix}/include' "twin.pc's includedir"
expect_eq "$(grep '^Version:' "$PC")" "Version: $TWIN_VERSION" "twin.pc's version"
for lib in libgit2 jansson msgpack; do
    expect_match "$(grep '^Requires:' "$PC")" " $lib( |$)" "twin.pc's Requires"
done
for lib in libsodium sqlite3 zlib libdeflate libxml-2.0 libarchive; do
    expect_match "$(grep '^Requires.private:' "$PC")" " $lib( |$)" "twin.pc's Requires.private"
done
expect_match "$(grep '^Libs.private:' "$PC")" " -lcsv( |$)" "twin.pc's Libs.private"
# The installed tree stands in for PREFIX: pkg-config reads a copy that names where it is.
mkdir -p "$TEST_TMP/pkgconfig"
sed "s|^prefix=.*|prefix=$ROOT|" "$PC" >"$TEST_TMP/pkgconfig/twin.pc"
export PKG_CONFIG_PATH="$TEST_TMP/pkgconfig"
expect_ok pkg-config --modversion twin
expect_stdout_contains "$TWIN_VERSION"

# run_consumer PROGRAM: runs it (with the environment given before) and checks what it prints.
run_consumer() {
    expect_ok "$@"
    expect_eq "$(sed -n 1p "$OUT")" "libtwin $TWIN_VERSION" "the consumer's first line"
    expect_match "$(sed -n 2p "$OUT")" \
        '^record id [0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' \
        "the consumer's record id (a UUIDv7)"
}

check "a program built with pkg-config --cflags --libs twin runs against libtwin.so"
read -r -a PC_FLAGS <<<"$(pkg-config --cflags --libs twin)"
expect_ok "$CC" "${CFLAGS[@]}" -o "$TEST_TMP/consumer_shared" "$SRC/tests/integration/install_consumer.c" \
    "${PC_FLAGS[@]}"
expect_ok readelf -d "$TEST_TMP/consumer_shared"
expect_stdout_contains "Shared library: [libtwin.so.0.1]"
expect_exit 127 "$TEST_TMP/consumer_shared" # no libtwin.so.0.1 where the loader looks
LD_LIBRARY_PATH="$ROOT/lib" run_consumer "$TEST_TMP/consumer_shared"
echo "   $(sed -n 2p "$OUT")"

check "a program built with pkg-config --static runs with libtwin.a linked in"
read -r -a PC_STATIC <<<"$(pkg-config --static --cflags --libs twin)"
# libtwin.a rather than libtwin.so, which the linker would otherwise prefer; the libraries it
# needs, from Requires.private and Libs.private, as the toolchain finds them.
PC_STATIC=("${PC_STATIC[@]/#-ltwin/-l:libtwin.a}")
expect_ok "$CC" "${CFLAGS[@]}" -o "$TEST_TMP/consumer_static" "$SRC/tests/integration/install_consumer.c" \
    "${PC_STATIC[@]}"
expect_ok readelf -d "$TEST_TMP/consumer_static"
expect_stdout_lacks "libtwin"
run_consumer "$TEST_TMP/consumer_static"
echo "   $(sed -n 2p "$OUT")"
# Without --static the libraries libtwin.a needs are missing: the private fields do the work.
read -r -a PC_SHARED_ONLY <<<"$(pkg-config --cflags --libs twin)"
PC_SHARED_ONLY=("${PC_SHARED_ONLY[@]/#-ltwin/-l:libtwin.a}")
expect_exit 1 "$CC" "${CFLAGS[@]}" -o "$TEST_TMP/consumer_incomplete" \
    "$SRC/tests/integration/install_consumer.c" "${PC_SHARED_ONLY[@]}"
expect_stderr_contains "undefined reference"

check "libtwin.so exports the names include/twin/ declares, and no other"
nm -D --defined-only "$ROOT/lib/libtwin.so" | awk '{print $3}' | sort >"$TEST_TMP/exported"
[ -s "$TEST_TMP/exported" ] || fail "libtwin.so exports nothing"
if grep -v '^twin_' "$TEST_TMP/exported" >"$TEST_TMP/foreign"; then
    fail "libtwin.so exports names outside twin_: $(head -5 "$TEST_TMP/foreign" | tr '\n' ' ')"
fi
cat "$SRC"/include/twin/*.h >"$TEST_TMP/headers"
while read -r sym; do
    grep -E "\\b$sym\\b" "$TEST_TMP/headers" >/dev/null ||
        fail "libtwin.so exports $sym, which no public header declares"
done <"$TEST_TMP/exported"
for sym in twin_global_version twin_record_new_id twin_msg_limits; do
    grep -x "$sym" "$TEST_TMP/exported" >/dev/null || fail "libtwin.so does not export $sym"
done
# A function of the library's own, declared only in src/crypto/aead.h.
if grep -x twin_aead_seal "$TEST_TMP/exported" >/dev/null; then
    fail "libtwin.so exports twin_aead_seal, which is private to the library"
fi
echo "   $(wc -l <"$TEST_TMP/exported") names exported"
echo "install: ok"
