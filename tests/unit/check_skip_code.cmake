# Runs tests/unit/skip_code_probe three ways and checks its exit codes (tests/support/skip_code.c): a skipped case
# with a passed one exits 77 (ctest's skip), a skipped one with a failed one exits 1, passed cases alone exit 0.
# Each way runs again with LLMGW_TEST_CASES set, which must leave the group's case counts
# ("<cases> <failed> <skipped> <group>", read by scripts/test_summary.py) and the same exit code.
# Usage: cmake -DPROBE=path/to/skip_code_probe -DWORK=scratch/dir -P check_skip_code.cmake
foreach(case "skip;77;2 0 1" "fail;1;2 1 1" "pass;0;1 0 0")
  list(GET case 0 arg)
  list(GET case 1 want)
  list(GET case 2 counts)
  # Without the variable, even when the ctest run around this one sets it (scripts/test.sh).
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LLMGW_TEST_CASES ${PROBE} ${arg}
                  RESULT_VARIABLE got OUTPUT_QUIET ERROR_QUIET)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "skip_code_probe ${arg}: exit ${got}, expected ${want}")
  endif()
  set(dir ${WORK}/cases-${arg})
  file(REMOVE_RECURSE ${dir})
  file(MAKE_DIRECTORY ${dir})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env LLMGW_TEST_CASES=${dir} ${PROBE} ${arg}
                  RESULT_VARIABLE got OUTPUT_QUIET ERROR_QUIET)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "skip_code_probe ${arg} with LLMGW_TEST_CASES: exit ${got}, expected ${want}")
  endif()
  file(GLOB files ${dir}/*.cases)
  get_filename_component(probe_name ${PROBE} NAME)
  if(NOT files STREQUAL "${dir}/${probe_name}.0.cases")
    message(FATAL_ERROR "skip_code_probe ${arg}: case files ${files}, expected ${dir}/${probe_name}.0.cases")
  endif()
  file(READ ${dir}/${probe_name}.0.cases line)
  string(REGEX MATCH "^[0-9]+ [0-9]+ [0-9]+" got_counts "${line}")
  if(NOT got_counts STREQUAL counts)
    message(FATAL_ERROR "skip_code_probe ${arg}: case counts '${line}', expected '${counts} ...'")
  endif()
  message(STATUS "skip_code_probe ${arg}: exit ${got}, case counts ${got_counts}, as expected")
endforeach()
# A directory that cannot be written fails the run, whatever its cases did.
execute_process(COMMAND ${CMAKE_COMMAND} -E env LLMGW_TEST_CASES=${WORK}/no/such/dir ${PROBE} pass
                RESULT_VARIABLE got OUTPUT_QUIET ERROR_QUIET)
if(NOT got STREQUAL "1")
  message(FATAL_ERROR "skip_code_probe pass with an unwritable LLMGW_TEST_CASES: exit ${got}, expected 1")
endif()
