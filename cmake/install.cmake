# What cmake --install puts where, and the Debian package cpack -G DEB builds from it
# (README.md, "Installing"). Included by CMakeLists.txt once the targets exist.
include(GNUInstallDirs)

set(TWIN_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where twin.service is installed (under the prefix unless absolute)")
set(TWIN_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING
    "Where the sysusers.d file of the service's user is installed (under the prefix unless absolute)")

install(TARGETS twin-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS twin twin_shared
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/twin DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_SOURCE_DIR}/dist/twin.sysusers DESTINATION ${TWIN_SYSUSERS_DIR}
        RENAME twin.conf)
# The man pages and the bash completion script, generated from doc/cli/ (tools/gendocs).
install(FILES ${TWIN_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${TWIN_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# twin.pc and twin.service name installed paths, so they are written when installing, from the
# prefix in force then: `cmake --install --prefix DIR` and cpack (which installs under /usr)
# get files that name where they really are.
set(TWIN_PC_REQUIRES "libgit2 jansson msgpack")
set(TWIN_PC_REQUIRES_PRIVATE "libsodium sqlite3 zlib libdeflate libxml-2.0 libarchive")
if(TWIN_AEAD_OPENSSL)
  string(APPEND TWIN_PC_REQUIRES_PRIVATE " libcrypto")
endif()
# libcsv ships no pkg-config file; Threads gives -pthread or nothing.
set(TWIN_PC_LIBS_PRIVATE "-lcsv")
if(CMAKE_THREAD_LIBS_INIT)
  string(APPEND TWIN_PC_LIBS_PRIVATE " ${CMAKE_THREAD_LIBS_INIT}")
endif()
install(CODE "
  set(TWIN_VERSION \"${PROJECT_VERSION}\")
  set(TWIN_INSTALL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(TWIN_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(TWIN_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(TWIN_INSTALL_UNITDIR \"${TWIN_SYSTEMD_UNIT_DIR}\")
  set(TWIN_PC_REQUIRES \"${TWIN_PC_REQUIRES}\")
  set(TWIN_PC_REQUIRES_PRIVATE \"${TWIN_PC_REQUIRES_PRIVATE}\")
  set(TWIN_PC_LIBS_PRIVATE \"${TWIN_PC_LIBS_PRIVATE}\")
  set(TWIN_DIST_DIR \"${PROJECT_SOURCE_DIR}/dist\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_configured.cmake)

# ---- the Debian package: cpack -G DEB in the build directory ---------------------------------
set(CPACK_PACKAGE_NAME twin)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "twin maintainers <twin@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "shared, signed record of a partnership between institutions")
set(CPACK_PACKAGE_DESCRIPTION
    "Each partner institution runs a twin node, which keeps the partnership's records in a git
repository where every change is a commit signed with the institution's key, and syncs them
with its partners' nodes. The package holds the twin command, the twin.service unit that runs
the node, and libtwin (shared and static) with its headers and pkg-config file.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The run-time libraries come from dpkg-shlibdeps where it is installed (dpkg-dev), else from
# this list, which names Debian 12's packages.
find_program(TWIN_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(TWIN_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6, libgit2-1.5, libsodium23, libmsgpackc2, libjansson4, zlib1g, libdeflate0, libxml2, libarchive13, libsqlite3-0, libcsv3, libssl3")
endif()
# libtwin.so.0.1 for programs of other packages (a shlibs file), and ldconfig run by trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# The user the service runs as, and its state directory.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/dist/postinst)
# Debug information stays in the build; the package carries stripped files.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
