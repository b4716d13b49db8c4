# add_shell_test(NAME SCRIPT [LABELS ...]): one integration behaviour per script.
# Scripts source tests/lib.sh; exit 77 means "skipped" (STYLE.md 15).
function(add_shell_test name script)
  cmake_parse_arguments(T "" "" "LABELS" ${ARGN})
  add_test(NAME ${name} COMMAND bash ${script})
  set_tests_properties(${name} PROPERTIES
    SKIP_RETURN_CODE 77
    TIMEOUT 120
    LABELS "integration;${T_LABELS}"
    ENVIRONMENT "FERRY=$<TARGET_FILE:ferry>;FERRY_SOURCE_DIR=${PROJECT_SOURCE_DIR};FERRY_BUILD_DIR=${PROJECT_BINARY_DIR};FERRY_PROBE=$<TARGET_FILE:ferry-probe>")
endfunction()
