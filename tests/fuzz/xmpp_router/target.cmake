# The router (examples/xmpp/router.c, included whole) against fake c2s,
# accounts, store and MUC actors on real channels.
ea_add_fuzzer(xmpp_router SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_xmpp_router.c
              ${PROJECT_SOURCE_DIR}/examples/xmpp/xstream.c ${PROJECT_SOURCE_DIR}/examples/xmpp/xcrypto.c
              LIBS ea_test_common ${EA_EXPAT_STATIC} OpenSSL::Crypto)
target_include_directories(fuzz_xmpp_router PRIVATE ${PROJECT_SOURCE_DIR}/examples/xmpp)
if(EA_EXPAT_HAS_REPARSE_DEFERRAL)
  target_compile_definitions(fuzz_xmpp_router PRIVATE XS_HAVE_REPARSE_DEFERRAL)
endif()
