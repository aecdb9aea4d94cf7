/*
 * Messages between the TLS front (enclave `edge`) and the request handler
 * (enclave `app`), over an AEAD channel: a 8-byte header, then bytes.
 *   front -> handler: kind DATA = decrypted request bytes of connection `id`,
 *                     kind CLOSED = the client went away
 *   handler -> front: kind DATA = response bytes for connection `id`,
 *                     kind CLOSE = send what is queued, then close
 */
#ifndef HTTPS_PROTO_H
#define HTTPS_PROTO_H
#include <stdint.h>

enum { KIND_DATA = 1, KIND_CLOSED = 2, KIND_CLOSE = 3 };

struct hop {
    uint32_t id;   /* connection id chosen by the front */
    uint32_t kind; /* KIND_* */
};

#define MAX_CONNS 32768 /* = the system actor's handle index space */
#endif
