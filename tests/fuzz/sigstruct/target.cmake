ea_add_fuzzer(sigstruct SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sigstruct.c)
