ea_add_fuzzer(sys_completions SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sys_completions.c
              LIBS ea_test_common)
