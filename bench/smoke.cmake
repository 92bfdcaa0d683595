# Smoke test of one benchmark (CTest label "bench"): run it with tiny sizes
# and check that it exits 0 and prints at least MIN_LINES result lines
# matching PATTERN.  (PASS_REGULAR_EXPRESSION alone would ignore the exit
# status.)
#
#   cmake -DBENCH=path -DARGS="sub --opt value" -DPATTERN=regex -DMIN_LINES=n -P smoke.cmake
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${BENCH} ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BENCH} ${ARGS}: exit status ${rc}")
endif()
string(REGEX MATCHALL "${PATTERN}" hits "${out}")
list(LENGTH hits n)
if(n LESS MIN_LINES)
  message(FATAL_ERROR "${BENCH} ${ARGS}: ${n} result lines matching '${PATTERN}', want ${MIN_LINES}")
endif()
