# Runs tests/unit/skip_code_probe three ways and checks its exit codes (tests/support/skip_code.c): a skipped case
# with a passed one exits 77 (ctest's skip), a skipped one with a failed one exits 1, passed cases alone exit 0.
# Usage: cmake -DPROBE=path/to/skip_code_probe -P check_skip_code.cmake
foreach(pair "skip;77" "fail;1" "pass;0")
  list(GET pair 0 arg)
  list(GET pair 1 want)
  execute_process(COMMAND ${PROBE} ${arg} RESULT_VARIABLE got OUTPUT_QUIET ERROR_QUIET)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "skip_code_probe ${arg}: exit ${got}, expected ${want}")
  endif()
  message(STATUS "skip_code_probe ${arg}: exit ${got}, as expected")
endforeach()
