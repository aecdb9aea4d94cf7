ea_add_fuzzer(xmpp_stream SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_xmpp_stream.c
              ${PROJECT_SOURCE_DIR}/examples/xmpp/xstream.c LIBS ${EA_EXPAT_STATIC})
target_include_directories(fuzz_xmpp_stream PRIVATE ${PROJECT_SOURCE_DIR}/examples/xmpp)
if(EA_EXPAT_HAS_REPARSE_DEFERRAL)
  target_compile_definitions(fuzz_xmpp_stream PRIVATE XS_HAVE_REPARSE_DEFERRAL)
endif()
