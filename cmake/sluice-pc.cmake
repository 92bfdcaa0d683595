# Install-time helper (run from cmake_install.cmake, see install.cmake):
# writes sluice.pc for the prefix in effect *now*, so that
# `cmake --install build --prefix DIR` gives a .pc file describing DIR.
#
# In:  SL_PC_TEMPLATE, SL_PC_STAGING, SL_PC_VERSION, SL_PC_LIBS_EXTRA,
#      SL_PC_LIBDIR_REL, SL_PC_INCLUDEDIR_REL (GNUInstallDirs values, may be
#      absolute), and CMAKE_INSTALL_PREFIX as set by cmake --install.

set(SL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")

# A relative directory is written as ${prefix}/dir, an absolute one as is.
foreach(_sl_v LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${SL_PC_${_sl_v}_REL}")
    set(SL_PC_${_sl_v} "${SL_PC_${_sl_v}_REL}")
  else()
    set(SL_PC_${_sl_v} "\${prefix}/${SL_PC_${_sl_v}_REL}")
  endif()
endforeach()

set(SL_PC_LIBS "-L\${libdir} -lsluice")
if(NOT SL_PC_LIBS_EXTRA STREQUAL "")
  string(APPEND SL_PC_LIBS " ${SL_PC_LIBS_EXTRA}")
endif()

configure_file("${SL_PC_TEMPLATE}" "${SL_PC_STAGING}" @ONLY)

if(IS_ABSOLUTE "${SL_PC_LIBDIR_REL}")
  set(_sl_pcdir "${SL_PC_LIBDIR_REL}/pkgconfig")
else()
  set(_sl_pcdir "${CMAKE_INSTALL_PREFIX}/${SL_PC_LIBDIR_REL}/pkgconfig")
endif()
# file(INSTALL) applies DESTDIR and records the file in the install manifest.
file(INSTALL DESTINATION "${_sl_pcdir}" TYPE FILE FILES "${SL_PC_STAGING}")
