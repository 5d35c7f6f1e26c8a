# Helpers for the tests of what `cmake --install` and cpack make (install.sh, systemd_unit.sh,
# deb_package.sh): the CMake build directory (CTest sets TWIN_BUILD_DIR; run by hand, the default
# build directory is used), and an install of it into a private directory. Source after
# common.bash.

if [ -z "${TWIN_BUILD_DIR:-}" ]; then
    TWIN_BUILD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build"
fi
[ -f "$TWIN_BUILD_DIR/cmake_install.cmake" ] ||
    fail "no CMake build at $TWIN_BUILD_DIR (build first, or set TWIN_BUILD_DIR)"

# The version the build was configured with, as `twin --version` prints it.
TWIN_VERSION=$("$TWIN" --version | sed -n 's/^twin //p')
[ -n "$TWIN_VERSION" ] || fail "twin --version printed no version"

# install_into DESTDIR PREFIX: what `cmake --install --prefix PREFIX` puts in place, under
# DESTDIR, as a package build does.
install_into() {
    DESTDIR="$1" expect_ok cmake --install "$TWIN_BUILD_DIR" --prefix "$2"
}

# The C compiler of the build, so that a program built against its libtwin matches it (a
# sanitized build's library needs its compiler's sanitizer runtime).
build_c_compiler() {
    sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$TWIN_BUILD_DIR/CMakeCache.txt"
}
