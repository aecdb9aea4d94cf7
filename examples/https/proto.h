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
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <eactors/eactors.h>

enum { KIND_DATA = 1, KIND_CLOSED = 2, KIND_CLOSE = 3, KIND_BATCH = 4 };

struct hop {
    uint32_t id;   /* connection id chosen by the front */
    uint32_t kind; /* KIND_* */
};

#define MAX_CONNS 32768 /* = the system actor's handle index space */

/*
 * Batches. Each side sends what one step has for the other in one message
 * (a hop with kind KIND_BATCH and id = the number of records), so a round
 * of k requests costs one seal, one open and one node each way instead of
 * k: records of a struct rec and `len` bytes, each padded to 8 bytes. A
 * record means what a message of its own with hop {id, kind} would.
 * Records are read with explicit lengths (batch_next): a batch whose
 * records do not add up is dropped from the first bad one on.
 */
struct rec {
    uint32_t id, kind, len, pad;
};

/* Records per batch at most: a batch of requests then asks for no more
 * room for its responses than one message held before batching did per
 * request, so the handler's back-pressure (it reads while its queue of
 * replies is short) keeps its balance. */
#define BATCH_MAX_RECS 64u

#define REC_SIZE(len) ((sizeof(struct rec) + (size_t)(len) + 7u) & ~(size_t)7u)

struct batch {
    ea_cargo_t m;
    uint32_t off, n; /* bytes and records in m; off 0: none open */
};

/* Largest record payload a batch on channel c can take. */
static inline uint32_t batch_room_max(ea_conn_t *c)
{
    size_t max = ea_conn_max(c), over = sizeof(struct hop) + REC_SIZE(0);
    return max > over ? (uint32_t)(max - over) & ~7u : 0;
}

/* Sends the open batch, if any. EA_OK or the send error (the batch is
 * then lost, as a message that failed to go out would be). */
static inline int batch_send(struct batch *b)
{
    if (b->off == 0)
        return EA_OK;
    struct hop h = {b->n, KIND_BATCH};
    memcpy(b->m.data, &h, sizeof h);
    b->m.len = b->off;
    b->off = b->n = 0;
    int rc = ea_cargo_send(&b->m);
    if (rc != EA_OK)
        ea_cargo_release(&b->m);
    return rc;
}

/* Gives back an open batch unsent (the actor stops). */
static inline void batch_drop(struct batch *b)
{
    if (b->off != 0)
        ea_cargo_release(&b->m);
    b->off = b->n = 0;
}

/* Appends one record (len <= batch_room_max(c)) to the open batch on c,
 * sending a full one and opening a new one (a node) as needed. EA_OK, or
 * an error of ea_cargo_alloc (no node free: nothing was appended) or of
 * the send of the full batch. */
static inline int batch_put(ea_conn_t *c, struct batch *b, uint32_t id, uint32_t kind,
                            const void *data, uint32_t len)
{
    size_t max = ea_conn_max(c);
    if (len > batch_room_max(c))
        return EA_ERR_TOOBIG;
    if (b->off != 0 && (b->off + REC_SIZE(len) > max || b->n >= BATCH_MAX_RECS)) {
        int rc = batch_send(b);
        if (rc != EA_OK)
            return rc;
    }
    if (b->off == 0) {
        int rc = ea_cargo_alloc(c, max, &b->m);
        if (rc != EA_OK)
            return rc;
        b->off = sizeof(struct hop);
        b->n = 0;
    }
    struct rec r = {id, kind, len, 0};
    uint8_t *p = (uint8_t *)b->m.data + b->off;
    memcpy(p, &r, sizeof r);
    if (len > 0)
        memcpy(p + sizeof r, data, len);
    b->off += (uint32_t)REC_SIZE(len);
    b->n++;
    return EA_OK;
}

/* The record at *off of a batch's len bytes (its hop excluded): fills *r
 * and *data and moves *off past it. False at the end or on a record that
 * does not fit what is left. */
static inline bool batch_next(const uint8_t *p, size_t len, size_t *off, struct rec *r,
                              const uint8_t **data)
{
    if (*off > len || len - *off < sizeof *r)
        return false;
    memcpy(r, p + *off, sizeof *r);
    if (r->len > len - *off - sizeof *r)
        return false;
    *data = p + *off + sizeof *r;
    size_t step = REC_SIZE(r->len);
    *off = step > len - *off ? len : *off + step;
    return true;
}
#endif
