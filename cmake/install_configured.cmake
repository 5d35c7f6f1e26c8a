# Run by cmake --install (cmake/install.cmake sets the TWIN_ variables before it): writes twin.pc
# and twin.service from their templates in dist/ for the prefix installed into, under DESTDIR.

# A directory GNUInstallDirs gave relative to the prefix, as a full path and as the pc file
# writes it (relative to ${prefix}, so that the file still reads right when copied with it).
function(twin_install_dir out_full out_pc dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out_full} "${dir}" PARENT_SCOPE)
    set(${out_pc} "${dir}" PARENT_SCOPE)
  else()
    set(${out_full} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
    set(${out_pc} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# Writes one file from its template and counts it among those installed.
function(twin_install_configured template dest)
  message(STATUS "Installing: $ENV{DESTDIR}${dest}")
  configure_file("${template}" "$ENV{DESTDIR}${dest}" @ONLY)
  file(CHMOD "$ENV{DESTDIR}${dest}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "$ENV{DESTDIR}${dest}")
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()

set(TWIN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
twin_install_dir(libdir TWIN_PC_LIBDIR "${TWIN_INSTALL_LIBDIR}")
twin_install_dir(includedir TWIN_PC_INCLUDEDIR "${TWIN_INSTALL_INCLUDEDIR}")
twin_install_dir(TWIN_BINDIR unused "${TWIN_INSTALL_BINDIR}")
twin_install_dir(unitdir unused "${TWIN_INSTALL_UNITDIR}")

twin_install_configured("${TWIN_DIST_DIR}/twin.pc.in" "${libdir}/pkgconfig/twin.pc")
twin_install_configured("${TWIN_DIST_DIR}/twin.service.in" "${unitdir}/twin.service")
