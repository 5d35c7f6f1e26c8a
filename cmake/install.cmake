# What cmake --install puts where (README.md, "Installing"). Included by CMakeLists.txt once the
# targets exist.
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

# twin.pc and twin.service name installed paths, so they are written when installing, from the
# prefix in force then: `cmake --install --prefix DIR` and a package build (which installs
# under /usr) get files that name where they really are.
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
