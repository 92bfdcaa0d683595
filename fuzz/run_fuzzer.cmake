# Run one libFuzzer target for CTest (cmake -P).  Inputs: FUZZER, MODULE,
# SRC_DIR (fuzz/), WORK_DIR (scratch, in the build tree), SECONDS, DICT,
# EXTRA_SEEDS (optional: a directory whose <MODULE>/ subdirectory, if there
# is one, is read as one more corpus: the seeds pcap_seeds.py made from
# pcaps/).
# Any crash, leak, timeout or sanitizer report makes the fuzzer exit
# non-zero, and this script then fails.

if(DEFINED ENV{SL_FUZZ_SECONDS} AND NOT "$ENV{SL_FUZZ_SECONDS}" STREQUAL "")
  set(SECONDS "$ENV{SL_FUZZ_SECONDS}")
endif()

set(common -timeout=10 -rss_limit_mb=2048)
if(DICT)
  list(APPEND common -dict=${DICT})
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/corpus ${WORK_DIR}/artifacts)

# 1. Replay every saved regression input once.
# SEED_MODULE (optional): whose corpus, regressions and pcap seeds to use
# (the focused fuzz_stack_* builds use fuzz_stack's).
if(NOT SEED_MODULE)
  set(SEED_MODULE ${MODULE})
endif()
set(reg_dir ${SRC_DIR}/regressions/${SEED_MODULE})
if(IS_DIRECTORY ${reg_dir})
  file(GLOB regs LIST_DIRECTORIES false ${reg_dir}/*)
  list(FILTER regs EXCLUDE REGEX "(/\\.[^/]*|\\.md|\\.txt)$")
  if(regs)
    list(LENGTH regs nregs)
    message(STATUS "replaying ${nregs} regression input(s) from ${reg_dir}")
    execute_process(
      COMMAND ${FUZZER} ${common} -artifact_prefix=${WORK_DIR}/artifacts/ ${regs}
      WORKING_DIRECTORY ${WORK_DIR}
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "fuzz_${MODULE}: regression replay failed (${rc})")
    endif()
  endif()
endif()

# 2. Fuzz from a scratch copy of the committed corpus; new inputs go to the
#    scratch copy only, the source corpus is read-only here.
set(seed_dir ${SRC_DIR}/corpus/${SEED_MODULE})
set(seed_args "")
if(IS_DIRECTORY ${seed_dir})
  file(GLOB seeds LIST_DIRECTORIES false ${seed_dir}/*)
  if(seeds)
    file(COPY ${seeds} DESTINATION ${WORK_DIR}/corpus)
  endif()
  set(seed_args ${seed_dir})
endif()
#    Also read-only: the seeds made at build time from every packet of
#    pcaps/ (EXTRA_SEEDS/<module>, from pcap_seeds.py), if there are any.
if(EXTRA_SEEDS AND IS_DIRECTORY ${EXTRA_SEEDS}/${SEED_MODULE})
  file(GLOB extra LIST_DIRECTORIES false ${EXTRA_SEEDS}/${SEED_MODULE}/*)
  list(LENGTH extra nextra)
  message(STATUS "also reading ${nextra} seed(s) from ${EXTRA_SEEDS}/${SEED_MODULE}")
  list(APPEND seed_args ${EXTRA_SEEDS}/${SEED_MODULE})
endif()
message(STATUS "fuzzing fuzz_${MODULE} for ${SECONDS} s")
execute_process(
  COMMAND ${FUZZER} ${common} -max_total_time=${SECONDS} -print_final_stats=1
          -artifact_prefix=${WORK_DIR}/artifacts/ ${WORK_DIR}/corpus ${seed_args}
  WORKING_DIRECTORY ${WORK_DIR}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB arts ${WORK_DIR}/artifacts/*)
  message(FATAL_ERROR "fuzz_${MODULE}: fuzzer failed (${rc}); artifacts: ${arts}")
endif()
