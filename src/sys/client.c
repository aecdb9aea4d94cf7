/*
 * Enclave-side helpers for system actors (see <eactors/ea_sys.h>).
 *
 * Design notes.
 *
 * Trust. The system actor runs in the host, which an enclave does not trust.
 * Every completion is therefore checked before the caller sees it, and the
 * checks only ever read a private copy of the header (copied once out of the
 * cargo, which may sit in the public arena where the host can change it
 * between two reads). The payload is not copied: its length is checked from
 * the private header and the runtime's private cargo length, and the caller
 * reads it as untrusted bytes either way.
 *
 * What a completion must satisfy. It answers a request in `pending` (same
 * request id and base operation), names the same handle that request named,
 * and never reports more than was asked: a RECV or READ never returns more
 * bytes than the request's maximum and its payload is exactly `status`
 * bytes; a SEND or WRITE never claims more bytes than were sent; an error
 * carries at most a short message. A completion that creates a handle
 * (LISTEN, ACCEPT, CONNECT, OPEN, TIMER_SET) must name one the client does
 * not own yet, so the host cannot make two of the client's streams alias.
 * A TIMER_FIRE is the one message without a request: it must name a timer
 * the client owns.
 *
 * A rejected completion changes nothing except `rejected`: the pending
 * request stays, so a forged or duplicated message cannot cancel a real one
 * still to come, and no handle is gained or lost. An accepted completion
 * removes its pending entry, so a second copy of it is rejected.
 *
 * Handle table. `handles` holds the handles the client owns. The system
 * actor's handles are non-negative (they travel in `status`), so the sign
 * bit is free: a timer handle h is stored as ~h, any other as h. That lets
 * TIMER_FIRE and TIMER_CANCEL insist on a timer, and net/file requests on a
 * non-timer, without changing the public struct. Slots are reserved when a
 * handle-creating request is issued (owned + such requests in flight never
 * exceeds the table), so a valid completion always finds room.
 *
 * Ownership at request time. A request that acts on a handle is refused
 * with EA_ERR_PERM, without sending anything, unless the client owns that
 * handle (of the right kind). Requests in flight on a handle that is then
 * closed still complete normally: the pending entry proves the client asked.
 *
 * Strings. Addresses and paths travel without a terminating NUL; `len` is
 * their length. ea_log drops trailing newlines (the system actor ends each
 * line itself) and truncates to the channel's payload maximum.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <eactors/ea_sys.h>
#include <eactors/ea_tls.h>

enum kind { K_ANY, K_IO, K_TIMER };

/* Hash tables: linear probing, deletion by backward shift (no tombstones),
 * at most half full, so every probe sequence ends at a free slot. */
#define PMASK (2u * EA_SYS_MAX_PENDING - 1u)
#define HMASK (2u * EA_SYS_MAX_HANDLES - 1u)

static uint32_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (uint32_t)x;
}

static int find_pending(const ea_sys_client_t *cl, uint64_t id)
{
    if (id == 0)
        return -1;
    for (uint32_t i = mix(id) & PMASK;; i = (i + 1) & PMASK) {
        if (cl->pending[i].id == id)
            return (int)i;
        if (cl->pending[i].id == 0)
            return -1;
    }
}

static void del_pending(ea_sys_client_t *cl, uint32_t i)
{
    for (uint32_t j = (i + 1) & PMASK; cl->pending[j].id != 0; j = (j + 1) & PMASK) {
        uint32_t home = mix(cl->pending[j].id) & PMASK;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if (((j - home) & PMASK) >= ((j - i) & PMASK)) {
            cl->pending[i] = cl->pending[j];
            i = j;
        }
    }
    memset(&cl->pending[i], 0, sizeof cl->pending[i]);
    cl->npending--;
}

/* Index of handle h of kind k in the table, or -1 (K_ANY: either kind). */
static int find_handle(const ea_sys_client_t *cl, int32_t h, enum kind k)
{
    if (h < 0)
        return -1;
    for (uint32_t i = mix((uint64_t)(uint32_t)h) & HMASK;; i = (i + 1) & HMASK) {
        if (cl->handles[i].kind == 0)
            return -1;
        if (cl->handles[i].h == h)
            return k == K_ANY || cl->handles[i].kind == 1u + (unsigned)k ? (int)i : -1;
    }
}

static void add_handle(ea_sys_client_t *cl, int32_t h, enum kind k)
{
    uint32_t i = mix((uint64_t)(uint32_t)h) & HMASK;
    while (cl->handles[i].kind != 0)
        i = (i + 1) & HMASK;
    cl->handles[i].h = h;
    cl->handles[i].kind = (uint16_t)(1u + (unsigned)k);
    cl->nhandles++;
}

static void drop_handle(ea_sys_client_t *cl, uint32_t i)
{
    for (uint32_t j = (i + 1) & HMASK; cl->handles[j].kind != 0; j = (j + 1) & HMASK) {
        uint32_t home = mix((uint64_t)(uint32_t)cl->handles[j].h) & HMASK;
        if (((j - home) & HMASK) >= ((j - i) & HMASK)) {
            cl->handles[i] = cl->handles[j];
            i = j;
        }
    }
    memset(&cl->handles[i], 0, sizeof cl->handles[i]);
    cl->nhandles--;
}

static bool creates_handle(uint16_t op)
{
    return op == EA_NET_LISTEN || op == EA_NET_ACCEPT || op == EA_NET_CONNECT ||
           op == EA_FILE_OPEN || op == EA_TIMER_SET;
}

static bool drops_handle(uint16_t op)
{
    return op == EA_NET_CLOSE || op == EA_FILE_CLOSE || op == EA_TIMER_CANCEL;
}

static bool is_data_op(uint16_t op)
{
    return op == EA_NET_RECV || op == EA_FILE_READ;
}

static bool is_write_op(uint16_t op)
{
    return op == EA_NET_SEND || op == EA_FILE_WRITE;
}

/* Operations that act on a handle (the others send -1). */
static bool needs_handle(uint16_t op)
{
    return !(op == EA_NET_LISTEN || op == EA_NET_CONNECT || op == EA_FILE_OPEN ||
             op == EA_FILE_UNLINK || op == EA_FILE_STAT || op == EA_TIMER_SET || op == EA_LOG);
}

static enum kind kind_of(uint16_t op)
{
    return op == EA_TIMER_SET || op == EA_TIMER_CANCEL || op == EA_TIMER_FIRE ? K_TIMER : K_IO;
}

/* Payload room on the client's channel (0 if the channel cannot even hold a
 * header). */
static size_t payload_max(const ea_sys_client_t *cl)
{
    size_t max = ea_conn_max(cl->conn);
    return max > sizeof(ea_sys_msg_t) ? max - sizeof(ea_sys_msg_t) : 0;
}

void ea_sys_client_init(ea_sys_client_t *cl, ea_conn_t *c)
{
    if (cl == NULL)
        return;
    memset(cl, 0, sizeof *cl);
    cl->conn = c;
    cl->next_id = 1;
}

void ea_sys_client_batch(ea_sys_client_t *cl, bool on)
{
    if (cl != NULL)
        cl->batch = on;
}

bool ea_sys_owns(const ea_sys_client_t *cl, int32_t handle)
{
    return find_handle(cl, handle, K_ANY) >= 0;
}

/* Checks that one request may be issued: `handle` >= 0 must be owned with
 * the kind the operation needs, the payload must fit, and the tables must
 * have room. EA_OK or the error the request builders return. */
static int request_check(const ea_sys_client_t *cl, uint16_t op, int32_t handle, size_t len)
{
    if (needs_handle(op) && find_handle(cl, handle, kind_of(op)) < 0)
        return EA_ERR_PERM;
    if (len > payload_max(cl))
        return EA_ERR_TOOBIG;
    if (cl->npending >= EA_SYS_MAX_PENDING)
        return EA_ERR_LIMIT;
    /* Reserve a slot in the handle table for the completion. */
    if (creates_handle(op) && cl->nhandles + cl->ncreating >= EA_SYS_MAX_HANDLES)
        return EA_ERR_LIMIT;
    return EA_OK;
}

static int64_t record(ea_sys_client_t *cl, const ea_sys_msg_t *m, uint32_t max);

/* Writes the header of a request with `len` payload bytes into `cargo`
 * (whose payload is already in place), sends it and records it; `max` is
 * what the pending entry remembers (bytes asked for by RECV/READ, bytes
 * sent by SEND/WRITE). On failure the caller keeps the cargo. */
static int64_t request_send(ea_sys_client_t *cl, ea_cargo_t *cargo, uint16_t op, int32_t handle,
                            uint32_t arg, uint64_t arg64, size_t len, uint32_t max)
{
    ea_sys_msg_t m = {
        .magic = EA_SYS_MAGIC,
        .op = op,
        .flags = cl->batch ? EA_SYS_F_BATCH : 0,
        .req_id = cl->next_id,
        .handle = handle,
        .len = (uint32_t)len,
        .arg = arg,
        .arg64 = arg64,
    };
    memcpy(cargo->data, &m, sizeof m);
    cargo->len = sizeof m + len;
    int rc = ea_sys_flush(cl); /* what is held goes first */
    if (rc == EA_OK)
        rc = ea_cargo_send(cargo);
    if (rc != EA_OK)
        return rc;
    return record(cl, &m, max);
}

/* Records request m (sent or held) as pending; returns its id. */
static int64_t record(ea_sys_client_t *cl, const ea_sys_msg_t *m, uint32_t max)
{
    uint16_t op = m->op;
    int32_t handle = m->handle;
    uint32_t p = mix(m->req_id) & PMASK;
    while (cl->pending[p].id != 0)
        p = (p + 1) & PMASK;
    cl->pending[p].id = m->req_id;
    cl->pending[p].op = op;
    cl->pending[p].max = max;
    cl->pending[p].handle = handle;
    cl->npending++;
    cl->ncreating += creates_handle(op);
    cl->next_id++;
    return (int64_t)m->req_id;
}

/* Bytes a record with `len` payload bytes takes in a batch (8-aligned). */
static size_t rec_size(size_t len)
{
    return (sizeof(ea_sys_msg_t) + len + 7u) & ~(size_t)7u;
}

/* Room for a held request with `len` payload bytes at the end of the
 * batch of held requests (ea_sys_client_hold), opening one (a node) or
 * sending the full one first if need be. Returns where its record goes
 * (*rc EA_OK), or NULL with *rc a negative ea_err, or NULL with *rc 0 when
 * it is too big to share a batch (the caller sends it alone). */
static uint8_t *hold_room(ea_sys_client_t *cl, size_t len, int *rc)
{
    const size_t hdr = sizeof(ea_sys_msg_t);
    size_t cap = ea_conn_max(cl->conn), need = rec_size(len);
    *rc = 0;
    if (hdr + need > cap)
        return NULL;
    if (cl->ocargo.conn != NULL && cl->ooff + need > cap && (*rc = ea_sys_flush(cl)) != EA_OK)
        return NULL;
    if (cl->ocargo.conn == NULL) {
        if ((*rc = ea_cargo_alloc(cl->conn, cap, &cl->ocargo)) != EA_OK) {
            memset(&cl->ocargo, 0, sizeof cl->ocargo);
            return NULL;
        }
        cl->ooff = (uint32_t)hdr; /* room for the outer header */
        cl->ocount = 0;
    }
    *rc = EA_OK;
    return (uint8_t *)cl->ocargo.data + cl->ooff;
}

/* Adds the held request m whose payload is in place after its record's
 * header (from hold_room) and records it; returns its id. */
static int64_t hold_put(ea_sys_client_t *cl, ea_sys_msg_t *m, uint32_t max)
{
    m->magic = EA_SYS_MAGIC;
    m->flags = cl->batch ? EA_SYS_F_BATCH : 0;
    m->req_id = cl->next_id;
    memcpy((uint8_t *)cl->ocargo.data + cl->ooff, m, sizeof *m);
    cl->ooff += (uint32_t)rec_size(m->len);
    cl->ocount++;
    return record(cl, m, max);
}

/* Holds a request (hold_room, hold_put). Returns its id, a negative
 * ea_err, or 0 when it is to be sent alone. */
static int64_t hold_request(ea_sys_client_t *cl, uint16_t op, int32_t handle, uint32_t arg,
                            uint64_t arg64, const void *payload, size_t len, uint32_t max)
{
    int rc;
    uint8_t *rec = hold_room(cl, len, &rc);
    if (rec == NULL)
        return rc;
    if (len > 0)
        memcpy(rec + sizeof(ea_sys_msg_t), payload, len);
    ea_sys_msg_t m = {.op = op, .handle = handle, .len = (uint32_t)len, .arg = arg, .arg64 = arg64};
    return hold_put(cl, &m, max);
}

int ea_sys_flush(ea_sys_client_t *cl)
{
    if (cl == NULL || cl->ocargo.conn == NULL)
        return EA_OK;
    const size_t hdr = sizeof(ea_sys_msg_t);
    uint8_t *p = cl->ocargo.data;
    if (cl->ocount == 1) { /* alone, as if never held */
        ea_sys_msg_t m;
        memcpy(&m, p + hdr, hdr);
        memmove(p, p + hdr, hdr + m.len);
        cl->ocargo.len = hdr + m.len;
    } else {
        ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                          .op = EA_SYS_BATCH,
                          .handle = -1,
                          .len = cl->ooff - (uint32_t)hdr,
                          .arg = cl->ocount};
        memcpy(p, &m, hdr);
        cl->ocargo.len = cl->ooff;
    }
    int rc = cl->ocount == 0 ? EA_OK : ea_cargo_send(&cl->ocargo);
    if (rc != EA_OK || cl->ocount == 0)
        ea_cargo_release(&cl->ocargo);
    memset(&cl->ocargo, 0, sizeof cl->ocargo);
    cl->ooff = cl->ocount = 0;
    return rc;
}

void ea_sys_client_hold(ea_sys_client_t *cl, bool on)
{
    if (cl == NULL)
        return;
    if (!on)
        (void)ea_sys_flush(cl);
    cl->hold = on;
}

/* Builds, sends and records one request (see request_check and
 * request_send). */
static int64_t request(ea_sys_client_t *cl, uint16_t op, int32_t handle, uint32_t arg,
                       uint64_t arg64, const void *payload, size_t len, uint32_t max)
{
    if (cl == NULL || cl->conn == NULL || (payload == NULL && len > 0))
        return EA_ERR_INVAL;
    int rc = request_check(cl, op, handle, len);
    if (rc != EA_OK)
        return rc;
    if (cl->hold) {
        int64_t id = hold_request(cl, op, handle, arg, arg64, payload, len, max);
        if (id != 0)
            return id;
    }
    ea_cargo_t cargo;
    rc = ea_cargo_alloc(cl->conn, sizeof(ea_sys_msg_t) + len, &cargo);
    if (rc != EA_OK)
        return rc;
    if (len > 0)
        memcpy((uint8_t *)cargo.data + sizeof(ea_sys_msg_t), payload, len);
    int64_t id = request_send(cl, &cargo, op, handle, arg, arg64, len, max);
    if (id < 0)
        ea_cargo_release(&cargo);
    return id;
}

static int64_t request_str(ea_sys_client_t *cl, uint16_t op, const char *s, uint32_t arg)
{
    if (s == NULL)
        return EA_ERR_INVAL;
    return request(cl, op, -1, arg, 0, s, strlen(s), 0);
}

int64_t ea_net_listen(ea_sys_client_t *cl, const char *addr, uint16_t port)
{
    return request_str(cl, EA_NET_LISTEN, addr, port);
}

int64_t ea_net_listen_shared(ea_sys_client_t *cl, const char *addr, uint16_t port)
{
    if (addr == NULL)
        return EA_ERR_INVAL;
    return request(cl, EA_NET_LISTEN, -1, port, EA_NET_LISTEN_SHARED, addr, strlen(addr), 0);
}

int64_t ea_net_accept(ea_sys_client_t *cl, int32_t listener)
{
    return request(cl, EA_NET_ACCEPT, listener, 0, 0, NULL, 0, 0);
}

int64_t ea_net_connect(ea_sys_client_t *cl, const char *addr, uint16_t port)
{
    return request_str(cl, EA_NET_CONNECT, addr, port);
}

/* RECV and READ: the maximum is clamped to what one completion can carry,
 * and that clamped value is both sent and remembered. */
static int64_t request_data(ea_sys_client_t *cl, uint16_t op, int32_t handle, uint64_t off,
                            uint32_t max)
{
    if (cl == NULL || cl->conn == NULL || max == 0)
        return EA_ERR_INVAL;
    size_t room = payload_max(cl);
    if (room > INT32_MAX)
        room = INT32_MAX;
    if (max > room)
        max = (uint32_t)room;
    return request(cl, op, handle, max, off, NULL, 0, max);
}

int64_t ea_net_recv(ea_sys_client_t *cl, int32_t handle, uint32_t max)
{
    return request_data(cl, EA_NET_RECV, handle, 0, max);
}

int64_t ea_net_send(ea_sys_client_t *cl, int32_t handle, const void *data, uint32_t len)
{
    return request(cl, EA_NET_SEND, handle, 0, 0, data, len, len);
}

int ea_net_send_alloc(ea_sys_client_t *cl, int32_t handle, uint32_t max, ea_net_sendbuf_t *sb)
{
    if (sb == NULL)
        return EA_ERR_INVAL;
    memset(sb, 0, sizeof *sb);
    if (cl == NULL || cl->conn == NULL || max == 0)
        return EA_ERR_INVAL;
    size_t room = payload_max(cl);
    if (max > room)
        max = (uint32_t)room;
    int rc = request_check(cl, EA_NET_SEND, handle, max);
    if (rc != EA_OK)
        return rc;
    if (cl->hold) {
        /* In the batch of held requests, at its end (cargo stays empty). */
        uint8_t *rec = hold_room(cl, max, &rc);
        if (rec == NULL && rc != 0)
            return rc;
        if (rec != NULL) {
            sb->data = rec + sizeof(ea_sys_msg_t);
            sb->room = max;
            sb->handle = handle;
            return EA_OK;
        }
    }
    rc = ea_cargo_alloc(cl->conn, sizeof(ea_sys_msg_t) + max, &sb->cargo);
    if (rc != EA_OK)
        return rc;
    sb->data = (uint8_t *)sb->cargo.data + sizeof(ea_sys_msg_t);
    sb->room = max;
    sb->handle = handle;
    return EA_OK;
}

int64_t ea_net_send_commit(ea_sys_client_t *cl, ea_net_sendbuf_t *sb, uint32_t len)
{
    if (cl == NULL || sb == NULL || sb->data == NULL || len > sb->room)
        return EA_ERR_INVAL;
    bool held = sb->cargo.conn == NULL;
    /* A held one must still be the last record of the held batch: no
     * other request may have been held since its alloc. */
    const uint8_t *next = cl->ocargo.conn == NULL
                              ? NULL
                              : (const uint8_t *)cl->ocargo.data + cl->ooff + sizeof(ea_sys_msg_t);
    if (held ? (const uint8_t *)sb->data != next : sb->cargo.conn != cl->conn)
        return EA_ERR_INVAL;
    /* Checked again: the handle may have been closed since the alloc. */
    int rc = request_check(cl, EA_NET_SEND, sb->handle, len);
    if (rc != EA_OK)
        return rc;
    int64_t id;
    if (held) {
        ea_sys_msg_t m = {.op = EA_NET_SEND, .handle = sb->handle, .len = len};
        id = hold_put(cl, &m, len);
    } else {
        id = request_send(cl, &sb->cargo, EA_NET_SEND, sb->handle, 0, 0, len, len);
    }
    if (id > 0) {
        sb->data = NULL;
        sb->room = 0;
    }
    return id;
}

unsigned ea_net_send_tls(ea_sys_client_t *cl, int32_t handle, ea_tls_t *tls, void *spill,
                         size_t spill_cap, uint32_t *spilled)
{
    unsigned sends = 0;
    size_t want;
    *spilled = 0;
    if (spill == NULL || spill_cap == 0)
        return 0;
    while (tls != NULL && (want = ea_tls_pending(tls)) > 0) {
        ea_net_sendbuf_t sb;
        if (want > spill_cap)
            want = spill_cap;
        if (ea_net_send_alloc(cl, handle, want < UINT32_MAX ? (uint32_t)want : UINT32_MAX, &sb) !=
            EA_OK)
            break;
        int n = ea_tls_take(tls, sb.data, sb.room);
        if (n > 0 && ea_net_send_commit(cl, &sb, (uint32_t)n) > 0) {
            sends++;
            continue;
        }
        /* Taken but not sent: copied out first, as the room may lie in the
         * batch of held requests, which the release gives back. */
        if (n > 0) {
            memcpy(spill, sb.data, (uint32_t)n);
            *spilled = (uint32_t)n;
        }
        ea_net_send_release(&sb);
        break;
    }
    return sends;
}

void ea_net_send_release(ea_net_sendbuf_t *sb)
{
    if (sb == NULL || sb->data == NULL)
        return;
    ea_cargo_release(&sb->cargo); /* a no-op for room in the held batch */
    sb->data = NULL;
    sb->room = 0;
}

int64_t ea_net_shutdown(ea_sys_client_t *cl, int32_t handle)
{
    return request(cl, EA_NET_SHUTDOWN, handle, 0, 0, NULL, 0, 0);
}

int64_t ea_net_close(ea_sys_client_t *cl, int32_t handle)
{
    return request(cl, EA_NET_CLOSE, handle, 0, 0, NULL, 0, 0);
}

int64_t ea_file_open(ea_sys_client_t *cl, const char *path, uint32_t flags)
{
    return request_str(cl, EA_FILE_OPEN, path, flags);
}

int64_t ea_file_read(ea_sys_client_t *cl, int32_t handle, uint64_t offset, uint32_t max)
{
    return request_data(cl, EA_FILE_READ, handle, offset, max);
}

int64_t ea_file_write(ea_sys_client_t *cl, int32_t handle, uint64_t offset, const void *data,
                      uint32_t len)
{
    return request(cl, EA_FILE_WRITE, handle, 0, offset, data, len, len);
}

int64_t ea_file_fsync(ea_sys_client_t *cl, int32_t handle)
{
    return request(cl, EA_FILE_FSYNC, handle, 0, 0, NULL, 0, 0);
}

int64_t ea_file_close(ea_sys_client_t *cl, int32_t handle)
{
    return request(cl, EA_FILE_CLOSE, handle, 0, 0, NULL, 0, 0);
}

int64_t ea_file_unlink(ea_sys_client_t *cl, const char *path)
{
    return request_str(cl, EA_FILE_UNLINK, path, 0);
}

int64_t ea_file_stat(ea_sys_client_t *cl, const char *path)
{
    return request_str(cl, EA_FILE_STAT, path, 0);
}

int64_t ea_timer_set(ea_sys_client_t *cl, uint64_t first_ns, uint32_t period_ms)
{
    return request(cl, EA_TIMER_SET, -1, period_ms, first_ns, NULL, 0, 0);
}

int64_t ea_timer_cancel(ea_sys_client_t *cl, int32_t handle)
{
    return request(cl, EA_TIMER_CANCEL, handle, 0, 0, NULL, 0, 0);
}

int ea_log(ea_sys_client_t *cl, const char *fmt, ...)
{
    if (cl == NULL || cl->conn == NULL || fmt == NULL)
        return EA_ERR_INVAL;
    size_t room = payload_max(cl);
    if (room == 0)
        return EA_ERR_TOOBIG;
    ea_cargo_t cargo;
    int rc = ea_cargo_alloc(cl->conn, sizeof(ea_sys_msg_t) + room, &cargo);
    if (rc != EA_OK)
        return rc;
    char *text = (char *)cargo.data + sizeof(ea_sys_msg_t);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        ea_cargo_release(&cargo);
        return EA_ERR_INVAL;
    }
    /* vsnprintf keeps one byte for its NUL, which is not sent. */
    size_t len = (size_t)n < room ? (size_t)n : room - 1;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    ea_sys_msg_t m = {
        .magic = EA_SYS_MAGIC,
        .op = EA_LOG,
        .req_id = cl->next_id,
        .handle = -1,
        .len = (uint32_t)len,
    };
    memcpy(cargo.data, &m, sizeof m);
    cargo.len = sizeof m + len;
    rc = ea_sys_flush(cl); /* what is held goes first */
    if (rc == EA_OK)
        rc = ea_cargo_send(&cargo);
    if (rc != EA_OK) {
        ea_cargo_release(&cargo);
        return rc;
    }
    cl->next_id++;
    return EA_OK;
}

/* Checks the private header `m` of a message whose cargo holds `cargo_len`
 * bytes, and applies its effect on pending requests and handles. Returns
 * EA_OK if accepted; on any other result nothing was changed. */
static int check(ea_sys_client_t *cl, const ea_sys_msg_t *m, size_t cargo_len)
{
    if (m->magic != EA_SYS_MAGIC)
        return EA_ERR_CORRUPT;
    if (m->len > cargo_len - sizeof *m || cargo_len != sizeof *m + m->len)
        return EA_ERR_CORRUPT;

    if (m->op == EA_TIMER_FIRE)
        return find_handle(cl, m->handle, K_TIMER) >= 0 ? EA_OK : EA_ERR_CORRUPT;
    if (!(m->op & EA_SYS_DONE))
        return EA_ERR_CORRUPT;
    uint16_t op = (uint16_t)(m->op & ~EA_SYS_DONE);

    int pi = find_pending(cl, m->req_id);
    if (pi < 0 || cl->pending[pi].op != op)
        return EA_ERR_CORRUPT;
    uint32_t p = (uint32_t)pi;
    /* The completion names the handle its request named (-1 requests may
     * carry anything: their handle comes back in `status`). */
    if (needs_handle(op) && m->handle != cl->pending[p].handle)
        return EA_ERR_CORRUPT;

    int32_t st = m->status;
    if (st < 0) {
        if (m->len > EA_SYS_ERRTEXT_MAX)
            return EA_ERR_CORRUPT;
    } else if (is_data_op(op)) {
        if ((uint32_t)st > cl->pending[p].max || m->len != (uint32_t)st)
            return EA_ERR_CORRUPT;
    } else if (is_write_op(op)) {
        if ((uint32_t)st > cl->pending[p].max)
            return EA_ERR_CORRUPT;
    } else if (creates_handle(op)) {
        if (find_handle(cl, st, K_ANY) >= 0)
            return EA_ERR_CORRUPT;
        /* Cannot happen: a slot was reserved when the request was issued. */
        if (cl->nhandles >= EA_SYS_MAX_HANDLES)
            return EA_ERR_LIMIT;
        add_handle(cl, st, kind_of(op));
    }

    if (drops_handle(op)) {
        /* Closed whatever the status: a failed close leaves nothing usable,
         * and giving up a handle never lets the host gain anything. */
        int h = find_handle(cl, cl->pending[p].handle, kind_of(op));
        if (h >= 0)
            drop_handle(cl, (uint32_t)h);
    }
    cl->ncreating -= creates_handle(op);
    del_pending(cl, p);
    return EA_OK;
}

/* Gives back the batch being read. */
static void batch_end(ea_sys_client_t *cl)
{
    ea_cargo_release(&cl->bcargo);
    memset(&cl->bcargo, 0, sizeof cl->bcargo);
    cl->boff = cl->bleft = 0;
}

/* The next record of the batch being read, checked as a completion of its
 * own. EA_OK (ev filled; its data points into the batch); EA_ERR_EMPTY
 * when the batch is used up (it is given back); EA_ERR_CORRUPT for a
 * record that fails its check (skipped; the batch is dropped whole when
 * its framing is wrong). */
static int batch_next(ea_sys_client_t *cl, ea_sys_event_t *ev)
{
    const size_t hdr = sizeof(ea_sys_msg_t);
    size_t len = cl->bcargo.len; /* the runtime's private length */
    if (cl->bleft == 0) {
        batch_end(cl);
        return EA_ERR_EMPTY;
    }
    const uint8_t *rec = (const uint8_t *)cl->bcargo.data + cl->boff;
    ea_sys_msg_t m;
    if (cl->boff > len || len - cl->boff < hdr) {
        batch_end(cl);
        return EA_ERR_CORRUPT;
    }
    /* The one read of the record's header; the checks use the copy. */
    memcpy(&m, rec, hdr);
    size_t avail = len - cl->boff - hdr;
    if (m.len > avail) {
        batch_end(cl);
        return EA_ERR_CORRUPT;
    }
    cl->boff += (uint32_t)((hdr + m.len + 7u) & ~(size_t)7u);
    cl->bleft--;
    int rc = check(cl, &m, hdr + m.len);
    if (rc != EA_OK)
        return rc;
    ev->msg = m;
    ev->data = rec + hdr;
    return EA_OK; /* ev->cargo stays empty: the batch is still ours */
}

int ea_sys_recv(ea_sys_client_t *cl, ea_sys_event_t *ev)
{
    if (cl == NULL || cl->conn == NULL || ev == NULL)
        return EA_ERR_INVAL;
    memset(ev, 0, sizeof *ev);
    int rc;
    if (cl->bcargo.conn != NULL && (rc = batch_next(cl, ev)) != EA_ERR_EMPTY) {
        cl->rejected += rc != EA_OK;
        return rc;
    }
    ea_cargo_t cargo;
    rc = ea_cargo_recv(cl->conn, &cargo);
    if (rc != EA_OK)
        return rc;
    ea_sys_msg_t m;
    if (cargo.len < sizeof m) {
        rc = EA_ERR_CORRUPT;
    } else {
        /* The one read of the header: everything below uses the copy. */
        memcpy(&m, cargo.data, sizeof m);
        if (m.op == (EA_SYS_BATCH | EA_SYS_DONE) && m.magic == EA_SYS_MAGIC && cl->batch &&
            m.arg >= 2 && m.len == cargo.len - sizeof m) {
            /* Only a client that asked gets batches; their records are
             * taken one by one from here on. */
            cl->bcargo = cargo;
            cl->boff = (uint32_t)sizeof m;
            cl->bleft = m.arg;
            rc = batch_next(cl, ev);
            cl->rejected += rc != EA_OK;
            return rc == EA_ERR_EMPTY ? EA_ERR_CORRUPT : rc;
        }
        rc = check(cl, &m, cargo.len);
    }
    if (rc != EA_OK) {
        ea_cargo_release(&cargo);
        cl->rejected++;
        return rc;
    }
    ev->msg = m;
    ev->data = (const uint8_t *)cargo.data + sizeof m;
    ev->cargo = cargo;
    return EA_OK;
}

const char *ea_sys_strstatus(int32_t status)
{
    if (status >= 0)
        return "ok";
    switch (status) {
    case EA_SYS_RESET: return "connection reset by peer";
    case EA_SYS_REFUSED: return "connection refused";
    case EA_SYS_ADDRINUSE: return "address in use";
    case EA_SYS_BADHANDLE: return "bad handle";
    case EA_SYS_NOENT: return "no such file";
    case EA_SYS_IO: return "I/O error";
    case EA_SYS_LIMIT: return "system actor out of handles";
    case EA_SYS_PIPE: return "peer shut down the connection";
    case EA_SYS_HANDLES: return "requester's handle limit reached";
    case EA_SYS_TIMERS: return "requester's timer limit reached";
    case EA_SYS_QUEUED: return "requester's queued-bytes limit reached";
    default: return ea_strerror(status);
    }
}
