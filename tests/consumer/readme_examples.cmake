# cmake -P script run by the readme_examples test: every ```c block of
# README.md that follows a "<!-- readme-example" marker is written to a
# file, compiled against the in-tree library with the project's warnings
# and run; it must exit 0.
#   -DSL_README=...  -DSL_WORK_DIR=...  -DSL_C_COMPILER=...
#   -DSL_INCLUDE=... -DSL_LIB=... (libsluice.a)  -DSL_FLAGS=a|b|c
cmake_minimum_required(VERSION 3.20)
file(READ "${SL_README}" text)
string(REPLACE "|" ";" flags "${SL_FLAGS}")
file(REMOVE_RECURSE "${SL_WORK_DIR}")
file(MAKE_DIRECTORY "${SL_WORK_DIR}")
set(count 0)
while(TRUE)
  string(FIND "${text}" "<!-- readme-example" at)
  if(at EQUAL -1)
    break()
  endif()
  string(SUBSTRING "${text}" ${at} -1 text)
  string(FIND "${text}" "```c\n" start)
  string(SUBSTRING "${text}" ${start} -1 text)
  string(SUBSTRING "${text}" 5 -1 text)
  string(FIND "${text}" "```" end)
  string(SUBSTRING "${text}" 0 ${end} code)
  string(SUBSTRING "${text}" ${end} -1 text)
  math(EXPR count "${count} + 1")
  set(src "${SL_WORK_DIR}/example${count}.c")
  set(exe "${SL_WORK_DIR}/example${count}")
  file(WRITE "${src}" "${code}")
  execute_process(COMMAND "${SL_C_COMPILER}" -std=c11 ${flags} "-I${SL_INCLUDE}" "${src}"
                          "${SL_LIB}" -o "${exe}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "README example ${count} does not compile:\n${out}\n${err}")
  endif()
  execute_process(COMMAND "${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "example ${count}:\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "README example ${count} exited with ${rc}")
  endif()
endwhile()
if(count EQUAL 0)
  message(FATAL_ERROR "no README example found")
endif()
message(STATUS "${count} README example(s) compiled and ran")
