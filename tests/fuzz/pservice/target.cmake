ea_add_fuzzer(pservice SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_pservice.c)
