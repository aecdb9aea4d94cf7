ea_add_fuzzer(elf SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_elf.c)
