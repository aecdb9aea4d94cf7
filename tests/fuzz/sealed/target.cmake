ea_add_fuzzer(sealed SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sealed.c)
