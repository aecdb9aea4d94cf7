#ifndef HTTPS_PKI_H
#define HTTPS_PKI_H
#include <stddef.h>
/* Development certificate and key, generated at build time (gen_pki.cmake). */
extern const char pki_server_pem[];
extern const size_t pki_server_pem_len;
extern const char pki_server_key[];
extern const size_t pki_server_key_len;
#endif
