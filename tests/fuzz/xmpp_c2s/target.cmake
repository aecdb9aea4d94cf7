# The c2s state machine (examples/xmpp/c2s.c, included whole) against fake
# system, accounts and router actors on real channels.
ea_add_fuzzer(xmpp_c2s SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_xmpp_c2s.c
              ${PROJECT_SOURCE_DIR}/examples/xmpp/xstream.c ${PROJECT_SOURCE_DIR}/examples/xmpp/xcrypto.c
              LIBS ea_test_common ${EA_EXPAT_STATIC} OpenSSL::Crypto)
target_include_directories(fuzz_xmpp_c2s PRIVATE ${PROJECT_SOURCE_DIR}/examples/xmpp
                           ${PROJECT_SOURCE_DIR}/examples/https)
if(EA_EXPAT_HAS_REPARSE_DEFERRAL)
  target_compile_definitions(fuzz_xmpp_c2s PRIVATE XS_HAVE_REPARSE_DEFERRAL)
endif()
