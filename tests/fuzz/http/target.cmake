ea_add_fuzzer(http SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http.c)
target_include_directories(fuzz_http PRIVATE ${PROJECT_SOURCE_DIR}/examples/https)
