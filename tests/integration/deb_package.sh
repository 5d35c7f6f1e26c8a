#!/usr/bin/env bash
# `cpack -G DEB` builds a Debian package of the build: twin, libtwin shared and static, the
# headers, twin.pc, twin.service, the man pages and the bash completion under /usr; its control
# fields name the package, version, architecture and the run-time libraries it depends on; its
# postinst makes the user twin and runs ldconfig.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# shellcheck source=lib/install.bash
. "$(dirname "$0")/lib/install.bash"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (Debian's dpkg)"

check "cpack -G DEB builds one package"
PKG="$TEST_TMP/pkg"
mkdir -p "$PKG"
START=$SECONDS
(cd "$PKG" && cpack -G DEB --config "$TWIN_BUILD_DIR/CPackConfig.cmake" -B "$PKG") >"$OUT" 2>"$ERR" ||
    { show_last; fail "cpack -G DEB failed"; }
echo "   built in $((SECONDS - START)) s"
debs=("$PKG"/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made ${#debs[@]} packages: ${debs[*]}"
DEB=${debs[0]}
expect_eq "$(basename "$DEB")" "twin_${TWIN_VERSION}_$(dpkg --print-architecture).deb" "the package's file name"

check "its control fields: package, version, architecture, the libraries it needs"
expect_eq "$(dpkg-deb --field "$DEB" Package)" twin "Package"
expect_eq "$(dpkg-deb --field "$DEB" Version)" "$TWIN_VERSION" "Version"
expect_eq "$(dpkg-deb --field "$DEB" Architecture)" "$(dpkg --print-architecture)" "Architecture"
DEPENDS=$(dpkg-deb --field "$DEB" Depends)
for lib in libc6 libgit2 libsodium libmsgpackc libjansson libsqlite3 libarchive libxml2 libcsv; do
    expect_match "$DEPENDS" "(^|, )$lib[-0-9a-z.]* " "Depends, for $lib"
done
echo "   Depends: $DEPENDS"

check "it holds the binary, both libraries, every public header, twin.pc, the unit, the man pages and completion"
dpkg-deb --contents "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$TEST_TMP/contents"
for f in /usr/bin/twin /usr/lib/libtwin.a /usr/lib/libtwin.so /usr/lib/libtwin.so.0.1 \
    "/usr/lib/libtwin.so.$TWIN_VERSION" /usr/lib/pkgconfig/twin.pc \
    /usr/lib/systemd/system/twin.service /usr/lib/sysusers.d/twin.conf; do
    grep -Fx "$f" "$TEST_TMP/contents" >/dev/null || fail "the package lacks $f"
done
for h in "$SRC"/include/twin/*.h; do
    grep -Fx "/usr/include/twin/$(basename "$h")" "$TEST_TMP/contents" >/dev/null ||
        fail "the package lacks /usr/include/twin/$(basename "$h")"
done
for cmd in twin $(sed -n 's/^commands: //p' "$SRC/doc/cli/twin.txt" | sed 's/\([a-z-]*\)/twin-\1/g'); do
    grep -Fx "/usr/share/man/man1/$cmd.1" "$TEST_TMP/contents" >/dev/null ||
        fail "the package lacks /usr/share/man/man1/$cmd.1"
done
grep -Fx /usr/share/bash-completion/completions/twin "$TEST_TMP/contents" >/dev/null ||
    fail "the package lacks /usr/share/bash-completion/completions/twin"
if grep -E '^/usr/local|/tests?/|Testing' "$TEST_TMP/contents" >"$TEST_TMP/stray"; then
    fail "the package holds files it should not: $(head -3 "$TEST_TMP/stray" | tr '\n' ' ')"
fi

check "unpacked, its files name /usr, and its twin runs"
X="$TEST_TMP/unpacked"
expect_ok dpkg-deb -x "$DEB" "$X"
expect_eq "$(grep '^prefix=' "$X/usr/lib/pkgconfig/twin.pc")" "prefix=/usr" "twin.pc's prefix"
grep -Ex 'ExecStart=/usr/bin/twin serve' "$X/usr/lib/systemd/system/twin.service" >/dev/null ||
    fail "twin.service does not run /usr/bin/twin"
expect_ok "$X/usr/bin/twin" --version
expect_stdout_contains "twin $TWIN_VERSION"
expect_ok readelf -d "$X/usr/lib/libtwin.so.$TWIN_VERSION"
expect_stdout_contains "Library soname: [libtwin.so.0.1]"

check "its postinst makes the user twin and the state directory"
mkdir -p "$TEST_TMP/control"
dpkg-deb -e "$DEB" "$TEST_TMP/control"
[ -x "$TEST_TMP/control/postinst" ] || fail "the package has no executable postinst"
grep -F 'systemd-sysusers twin.conf' "$TEST_TMP/control/postinst" >/dev/null ||
    fail "postinst does not make the user twin"
grep -F 'install -d -o twin -g twin -m 0700 /var/lib/twin' "$TEST_TMP/control/postinst" >/dev/null ||
    fail "postinst does not make /var/lib/twin"
grep -Fx '    ldconfig' "$TEST_TMP/control/postinst" >/dev/null || fail "postinst does not run ldconfig"
expect_ok sh -n "$TEST_TMP/control/postinst"
expect_eq "$(cat "$TEST_TMP/control/shlibs")" "libtwin 0.1 twin (= $TWIN_VERSION)" "the shlibs file"
echo "deb_package: ok"
