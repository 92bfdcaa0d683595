# Installation rules for sluice.  Included from the top-level CMakeLists.txt
# after the library targets exist.
#
# Installs (paths relative to the prefix, GNUInstallDirs layout):
#   ${CMAKE_INSTALL_INCLUDEDIR}/sluice/*.h             headers
#   ${CMAKE_INSTALL_LIBDIR}/libsluice.a                sluice_static
#   ${CMAKE_INSTALL_LIBDIR}/libsluice.so{,.0,.0.1.0}   sluice_shared
#   ${CMAKE_INSTALL_LIBDIR}/pkgconfig/sluice.pc        pkg-config
#   ${CMAKE_INSTALL_LIBDIR}/cmake/sluice/              CMake package:
#       sluice-config.cmake, sluice-config-version.cmake,
#       sluice-targets.cmake (+ per-config file)
#
# Components: "sluice_Runtime" (the versioned shared object only) and
# "sluice_Development" (everything else), so a packager can split them:
#   cmake --install build --component sluice_Runtime
#
# The OBJECT library sluice_objs is not installed or exported: both real
# libraries take its objects as *sources* ($<TARGET_OBJECTS:sluice_objs>),
# so nothing in their link interface refers to it.
#
# Everything installed is relocatable: `cmake --install build --prefix DIR`
# gives a tree whose .pc file and CMake files describe DIR (the .pc file is
# written at install time from the prefix in effect then, honouring
# DESTDIR; the CMake files locate themselves).

include(CMakePackageConfigHelpers)

set(SL_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/sluice"
    CACHE STRING "Where the sluice CMake package files go (relative to the prefix)")
mark_as_advanced(SL_CMAKE_INSTALL_DIR)

# ---- instrumented builds ---------------------------------------------------
# A library compiled with -fsanitize=... or --coverage cannot be linked
# without the matching runtime (libasan/libubsan, libgcov).  For libsluice.a
# that is unavoidable; for libsluice.so ASan also insists on being first in
# the executable's library list.  So when SL_SANITIZE / SL_COVERAGE /
# SL_FUZZ are on, the installed package says so: the link-time part of
# SL_INSTRUMENT_FLAGS goes into the exported targets' INTERFACE_LINK_OPTIONS
# (install interface only: in the build tree add_link_options already does
# it) and into the Libs line of sluice.pc.  A consumer must then use the
# same compiler family that built the library.  Plain builds add nothing.
set(SL_INSTALL_LINK_FLAGS "")
foreach(_sl_f IN LISTS SL_INSTRUMENT_FLAGS)
  if(_sl_f MATCHES "^-fsanitize=" OR _sl_f STREQUAL "--coverage" OR _sl_f MATCHES "^-fprofile-")
    list(APPEND SL_INSTALL_LINK_FLAGS "${_sl_f}")
  endif()
endforeach()
unset(_sl_f)
if(SL_INSTALL_LINK_FLAGS)
  foreach(t sluice_static sluice_shared)
    target_link_options(${t} INTERFACE "$<INSTALL_INTERFACE:${SL_INSTALL_LINK_FLAGS}>")
  endforeach()
endif()

# ---- libraries and headers -------------------------------------------------
install(TARGETS sluice_static sluice_shared
  EXPORT sluice-targets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT sluice_Development
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT sluice_Runtime
          NAMELINK_COMPONENT sluice_Development
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT sluice_Runtime)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/sluice"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT sluice_Development
  FILES_MATCHING PATTERN "*.h")

# ---- CMake package -----------------------------------------------------------
install(EXPORT sluice-targets
  NAMESPACE sluice::
  FILE sluice-targets.cmake
  DESTINATION "${SL_CMAKE_INSTALL_DIR}"
  COMPONENT sluice_Development)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/sluice-config.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/sluice-config.cmake"
  INSTALL_DESTINATION "${SL_CMAKE_INSTALL_DIR}"
  NO_SET_AND_CHECK_MACRO)

# 0.x: a minor bump may break the API, so only the same major.minor is
# compatible (find_package(sluice 0.1) accepts 0.1.z, z >= requested).
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/sluice-config-version.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)

install(FILES
  "${PROJECT_BINARY_DIR}/cmake/sluice-config.cmake"
  "${PROJECT_BINARY_DIR}/cmake/sluice-config-version.cmake"
  DESTINATION "${SL_CMAKE_INSTALL_DIR}"
  COMPONENT sluice_Development)

# ---- pkg-config ------------------------------------------------------------
# The prefix is only known at install time (cmake --install --prefix), so
# sluice.pc is generated then, by cmake/sluice-pc.cmake, from sluice.pc.in.
string(REPLACE ";" " " _sl_pc_libs_extra "${SL_INSTALL_LINK_FLAGS}")
install(CODE "
  set(SL_PC_TEMPLATE \"${CMAKE_CURRENT_LIST_DIR}/sluice.pc.in\")
  set(SL_PC_STAGING \"${PROJECT_BINARY_DIR}/cmake/pc-install/sluice.pc\")
  set(SL_PC_VERSION \"${PROJECT_VERSION}\")
  set(SL_PC_LIBS_EXTRA \"${_sl_pc_libs_extra}\")
  set(SL_PC_LIBDIR_REL \"${CMAKE_INSTALL_LIBDIR}\")
  set(SL_PC_INCLUDEDIR_REL \"${CMAKE_INSTALL_INCLUDEDIR}\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/sluice-pc.cmake\")
" COMPONENT sluice_Development)
unset(_sl_pc_libs_extra)
