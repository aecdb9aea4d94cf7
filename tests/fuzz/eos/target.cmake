ea_add_fuzzer(eos SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_eos.c)
