ea_add_fuzzer(report_dh SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_report_dh.c)
