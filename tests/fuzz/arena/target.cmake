ea_add_fuzzer(arena SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_arena.c
              ${PROJECT_SOURCE_DIR}/tests/common/conn_pair.c)
