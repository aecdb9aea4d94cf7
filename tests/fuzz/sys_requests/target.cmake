ea_add_fuzzer(sys_requests SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sys_requests.c
              ${PROJECT_SOURCE_DIR}/tests/sys/sys_harness.c)
target_include_directories(fuzz_sys_requests PRIVATE ${PROJECT_SOURCE_DIR}/tests/sys)
