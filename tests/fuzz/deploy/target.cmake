ea_add_fuzzer(deploy SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_deploy.c)
