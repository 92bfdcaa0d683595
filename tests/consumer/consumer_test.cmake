# cmake -P script run by the consumer_install test (tests/consumer/CMakeLists.txt).
#
# Inputs (-D):
#   SL_BUILD_DIR     the sluice build tree to install (already built)
#   SL_CONFIG        configuration for multi-config generators (may be empty)
#   SL_WORK_DIR      scratch directory, wiped first
#   SL_SOURCE_DIR    tests/consumer in the source tree
#   SL_C_COMPILER    the compiler that built sluice (a sanitizer or coverage
#                    build needs the same compiler's runtime at link time)
#   SL_WARNINGS      the project's warning flags, separated by |
#   SL_PKG_CONFIG    pkg-config executable
#   SL_GENERATOR, SL_MAKE_PROGRAM   for the nested CMake project
#
# Steps:
#   1. cmake --install SL_BUILD_DIR --prefix SL_WORK_DIR/prefix
#   2. (a) PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig (lib or
#      lib/<multiarch>: found by globbing), compile consumer.c with
#      `$(pkg-config --cflags --libs sluice)` plus -Wl,-rpath,<libdir>, run.
#   3. (b) configure tests/consumer/project with CMAKE_PREFIX_PATH=<prefix>
#      (find_package(sluice)), check the package came from <prefix>, build,
#      run both executables.
#
# Instrumented builds need no special handling here: the installed package
# itself carries -fsanitize=... / --coverage in its link flags (see
# cmake/install.cmake).  GCOV_PREFIX sends the .gcda files the consumers
# write into the scratch directory instead of sluice's build tree.

cmake_minimum_required(VERSION 3.20)

foreach(v SL_BUILD_DIR SL_WORK_DIR SL_SOURCE_DIR SL_C_COMPILER SL_PKG_CONFIG SL_GENERATOR)
  if("${${v}}" STREQUAL "")
    message(FATAL_ERROR "consumer_test.cmake: -D${v}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" warnings "${SL_WARNINGS}")

set(prefix "${SL_WORK_DIR}/prefix")
file(REMOVE_RECURSE "${SL_WORK_DIR}")
file(MAKE_DIRECTORY "${SL_WORK_DIR}")

set(ENV{GCOV_PREFIX} "${SL_WORK_DIR}/gcov")
unset(ENV{DESTDIR})
unset(ENV{LD_LIBRARY_PATH})

# Run a command; stop the test with its output if it fails.
function(run what)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "consumer: ${what} failed (${rc}):\n  ${cmd}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

# Run a consumer binary and check what it printed.
function(run_consumer exe)
  run("running ${exe}" "${exe}")
  message(STATUS "${exe}:\n${run_out}")
  if(NOT run_out MATCHES "192\\.0\\.2\\.1:40000 -> 198\\.51\\.100\\.2:53"
     OR NOT run_out MATCHES "consumer: ok")
    message(FATAL_ERROR "consumer: unexpected output from ${exe}")
  endif()
endfunction()

# ---- 1. install ------------------------------------------------------------
set(install_cmd "${CMAKE_COMMAND}" --install "${SL_BUILD_DIR}" --prefix "${prefix}")
if(NOT "${SL_CONFIG}" STREQUAL "")
  list(APPEND install_cmd --config "${SL_CONFIG}")
endif()
run("cmake --install" ${install_cmd})

# libdir is lib or lib/<multiarch> (GNUInstallDirs with prefix /usr): search.
file(GLOB_RECURSE pcs LIST_DIRECTORIES false "${prefix}/sluice.pc")
list(FILTER pcs INCLUDE REGEX "/pkgconfig/sluice\\.pc$")
list(LENGTH pcs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "consumer: expected one installed sluice.pc under ${prefix}, found: ${pcs}")
endif()
get_filename_component(pcdir "${pcs}" DIRECTORY)
file(GLOB_RECURSE headers "${prefix}/include/sluice/*.h")
file(GLOB_RECURSE configs "${prefix}/sluice-config.cmake")
list(FILTER configs INCLUDE REGEX "/cmake/sluice/sluice-config\\.cmake$")
if(NOT headers OR NOT configs)
  message(FATAL_ERROR "consumer: headers or sluice-config.cmake not installed under ${prefix}")
endif()
message(STATUS "installed into ${prefix} (pkg-config dir ${pcdir})")

# ---- 2. pkg-config ---------------------------------------------------------
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
run("pkg-config --cflags" "${SL_PKG_CONFIG}" --cflags sluice)
string(STRIP "${run_out}" pc_cflags)
run("pkg-config --libs" "${SL_PKG_CONFIG}" --libs sluice)
string(STRIP "${run_out}" pc_libs)
run("pkg-config --variable=libdir" "${SL_PKG_CONFIG}" --variable=libdir sluice)
string(STRIP "${run_out}" pc_libdir)
message(STATUS "pkg-config: cflags '${pc_cflags}' libs '${pc_libs}' libdir '${pc_libdir}'")

file(REAL_PATH "${pc_libdir}" real_libdir)
file(REAL_PATH "${prefix}" real_prefix)
string(FIND "${real_libdir}/" "${real_prefix}/" at)
if(NOT at EQUAL 0 OR NOT EXISTS "${pc_libdir}/libsluice.so")
  message(FATAL_ERROR "consumer: sluice.pc points at ${pc_libdir}, not into ${prefix}")
endif()

separate_arguments(cflags UNIX_COMMAND "${pc_cflags}")
separate_arguments(libs UNIX_COMMAND "${pc_libs}")
set(exe_a "${SL_WORK_DIR}/consumer_pkgconfig")
# With both libsluice.a and libsluice.so in libdir, -lsluice picks the
# shared one; the rpath lets the binary find it where it was installed.
run("compiling consumer.c with pkg-config flags"
    "${SL_C_COMPILER}" -std=c11 ${warnings} ${cflags}
    "${SL_SOURCE_DIR}/consumer.c" -o "${exe_a}"
    ${libs} "-Wl,-rpath,${pc_libdir}")
run_consumer("${exe_a}")

# ---- 3. find_package -------------------------------------------------------
set(bdir "${SL_WORK_DIR}/cmake-build")
set(configure_cmd "${CMAKE_COMMAND}" -S "${SL_SOURCE_DIR}/project" -B "${bdir}"
    -G "${SL_GENERATOR}"
    "-DCMAKE_C_COMPILER=${SL_C_COMPILER}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(NOT "${SL_MAKE_PROGRAM}" STREQUAL "")
  list(APPEND configure_cmd "-DCMAKE_MAKE_PROGRAM=${SL_MAKE_PROGRAM}")
endif()
if(NOT "${SL_CONFIG}" STREQUAL "")
  list(APPEND configure_cmd "-DCMAKE_BUILD_TYPE=${SL_CONFIG}")
endif()
run("configuring the find_package consumer" ${configure_cmd})

file(STRINGS "${bdir}/CMakeCache.txt" sluice_dir_line REGEX "^sluice_DIR:")
string(REGEX REPLACE "^sluice_DIR:[A-Z]+=" "" sluice_dir "${sluice_dir_line}")
file(REAL_PATH "${sluice_dir}" real_sluice_dir)
string(FIND "${real_sluice_dir}/" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "consumer: find_package(sluice) used ${sluice_dir}, not ${prefix}")
endif()
message(STATUS "find_package(sluice): ${sluice_dir}")

set(build_cmd "${CMAKE_COMMAND}" --build "${bdir}")
if(NOT "${SL_CONFIG}" STREQUAL "")
  list(APPEND build_cmd --config "${SL_CONFIG}")
endif()
run("building the find_package consumer" ${build_cmd})

foreach(name consumer_default consumer_shared)
  file(GLOB_RECURSE exe LIST_DIRECTORIES false "${bdir}/${name}")
  list(FILTER exe INCLUDE REGEX "/${name}$")
  list(LENGTH exe n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "consumer: cannot find the built ${name} in ${bdir}: '${exe}'")
  endif()
  run_consumer("${exe}")
endforeach()

message(STATUS "consumer: install, pkg-config and find_package all work")
