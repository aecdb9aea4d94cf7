/* Test PKI made at build time by gen_certs.cmake (certs.c in the build
 * directory). PEM text; the lengths exclude the terminating NUL. */
#ifndef TEST_CERTS_H
#define TEST_CERTS_H

#include <stddef.h>

extern const char test_ca_pem[];     /* trusted CA */
extern const char test_server_pem[]; /* "localhost", signed by the CA */
extern const char test_server_key[];
extern const char test_rogue_pem[]; /* self-signed "localhost" */
extern const char test_rogue_key[];
extern const size_t test_ca_pem_len, test_server_pem_len, test_server_key_len, test_rogue_pem_len,
    test_rogue_key_len;

#endif
