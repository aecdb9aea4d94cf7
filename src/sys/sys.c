/*
 * The system actor (DESIGN.md section 9): network, files, timers and log for
 * actors that may not make system calls, by messages. This file is its core:
 * the handle table, the backlog of completions, the rights, the io thread,
 * the actor's body and the dispatcher that hands each request to its family
 * (net.c, file.c, timer.c, log.c; their shared structs are in sys_int.h).
 *
 * Design notes.
 *
 * Threads. The actor's body runs on its host worker like any actor and does
 * every system call that acts on a request. It may never block: the worker
 * runs other actors, and the run's stop path needs it back. Readiness comes
 * from the epoll set, and the worker waits for it itself (park.c): when it
 * has nothing to run it sleeps in one io_uring wait on the epoll set and on
 * its own futex word, so a ready descriptor and a requester's wake-up both
 * end the same sleep; between steps it sees a ready descriptor by reading
 * the ring's memory, and the body then takes every ready event in one
 * epoll_wait(0) (drain_events). No thread sits between the kernel and the
 * actor. An idle system actor costs nothing: its worker sleeps in the
 * kernel.
 *
 * The io thread (fallback). Where io_uring or its futex wait is missing
 * (kernels before 6.7, a seccomp profile that refuses io_uring), or
 * EA_SYS_IO_THREAD=1 asks for it, one io thread per system actor, made in
 * the constructor (host constructors run unconfined on their worker),
 * blocks in epoll_wait and does nothing but report: for each ready
 * descriptor it sets the slot's `queued` flag (0 -> 1), pushes the slot
 * index into a private MPMC mbox (ea_queue.h) and wakes the actor. The flag
 * keeps each index in the mbox at most once, so the mbox (one cell per
 * slot) never overflows.
 *
 * Preemption. The actor's worker is a batch thread for the kernel's
 * scheduler (SCHED_BATCH, set in the constructor; EA_SYS_PREEMPT=1 keeps
 * the normal policy, to compare): a ready descriptor or a requester's wake
 * makes it runnable but does not preempt the worker running on its CPU. It
 * runs when that one parks, yields (a spinning worker does, every few
 * polls) or reaches its scheduler tick, and on an idle CPU at once. Where
 * the requesters' workers share the system actor's CPU and keep it busy
 * (the XMPP bench: the c2s enclave, the router and `io` on one CPU), the
 * normal policy let every readiness report preempt the enclave worker
 * in the middle of its round: ~2,300 switches each way per second for a
 * few sockets each; as a batch thread the actor takes what a whole round
 * made ready in one go (bench/README.md, xmpp stop 21). Latency on an idle
 * or lightly loaded CPU is unchanged; under load an I/O completion can
 * wait for the running worker's tick.
 *
 * Lost readiness. Descriptors are registered edge-triggered. With the
 * park, an edge after the body's epoll_wait wakes the epoll set's waiters,
 * which completes the ring's multishot poll (park.c). With the io thread,
 * the body pops
 * an index, clears its flag (sequentially consistent), and only then does
 * non-blocking I/O until EAGAIN. An edge that arrives before the clear is
 * covered by that I/O; one after it finds the flag clear and queues the
 * index again. A request that arrives while no edge is pending tries its
 * operation at once, so data that arrived earlier is never missed. Stale
 * indices (a slot closed and reused) only cause a harmless extra attempt.
 *
 * Handles are slot index | generation << 15: a closed slot bumps its
 * generation, so a stale handle is rejected (EA_SYS_BADHANDLE), and every
 * slot records the one connector (requester) that owns it.
 *
 * Completions are never dropped and never block: if the channel has no free
 * node, the completion waits in a per-connector FIFO (in order with later
 * ones); the failed allocation asked the requester's next release of a node
 * to wake us (ea_cargo_alloc), so the body goes idle instead of polling. While a connector's FIFO
 * is long, its further requests are left in the channel (back-pressure). The expirations of a
 * periodic timer whose previous EA_TIMER_FIRE still waits are added to that message instead of
 * queueing another (timer.c).
 *
 * Requests. The header is checked on the actor's own copy (the requester may
 * still write to its cargo), then the op code alone picks the family that
 * serves it; an op no family serves is EA_ERR_INVAL. A request that names a
 * handle is served only if its connector owns that handle and the handle is
 * of a kind the op acts on (eai_sys_handle_get).
 *
 * Limits. Each requester (connector) has its own: open handles (every
 * kind), timers among them, and bytes held for it (pending operations with
 * the bytes of sends not yet out, and completions waiting for a node),
 * from its <grant> or the defaults (sys_int.h). A handle is counted when it
 * is made and checked before any descriptor is (eai_sys_may_open), an
 * operation before it is queued (eai_sys_op_new), and each refusal has its
 * own status and a text naming the limit. What a requester holds is freed
 * when it ends, so its limits are its own: one at its limit leaves the
 * others theirs, as long as the limits of all fit the table and the
 * descriptor limit (the constructor warns when they do not). Completions
 * are still never dropped: while those waiting for a requester pass its
 * queued= limit, its further requests wait in the channel.
 *
 * Rights come from the deployment (<grant>), per requester domain
 * (eai_conn_peer_domain): ports to listen on and connect to, and directories
 * (file.c checks a path against them). The system actor is by nature the
 * layer that calls the OS for others, which is why it calls it directly
 * rather than through platform.h.
 *
 * End. When a requester ends (the core wakes us), every handle it owned is
 * closed. When the run stops, or every requester has ended, everything is
 * closed, the park is undone (or the io thread woken through its eventfd and
 * joined), a line with the handle and descriptor counts and the way I/O was
 * waited for is printed, and the body returns EA_DONE.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "platform/platform.h"
#include "sys/sys_int.h"

#define IDX_BITS 15
#define NSLOTS (1u << IDX_BITS) /* handles per system actor */
#define GEN_MASK 0xffffu
#define EVFD_TAG UINT32_MAX /* epoll data of the eventfd */
#define BACKLOG_MAX 1024    /* queued completions before requests wait */
#define REQS_PER_STEP 256   /* requests taken from one connector per step */
#define READY_PER_STEP 4096 /* ready slots handled per step */
#define EVENTS_PER_CALL 512 /* park mode: events taken per epoll_wait */
#define HDR ((uint32_t)sizeof(ea_sys_msg_t))
/* Bytes a record with `len` payload bytes takes in a batch (8-aligned). */
#define REC_SIZE(len) ((((uint64_t)HDR + (len)) + 7u) & ~(uint64_t)7u)

struct sys_state {
    struct sys *s;
};

/* ------------------------------------------------------------ helpers -- */

/* The process's open descriptors. One count at a time: with several system
 * actors in the process (one per pipeline), each starts and stops on its
 * own worker, and a count running beside another one would see the other's
 * directory descriptor too. */
static int count_fds(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    int n = -1; /* the directory's own descriptor is not counted */
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    pthread_mutex_unlock(&lock);
    return n;
}

/* errno -> completion status (never a raw errno; EA_SYS_IO carries it). */
static int32_t map_errno(int e, uint32_t *arg)
{
    switch (e) {
    case ECONNRESET: return EA_SYS_RESET;
    case ECONNREFUSED: return EA_SYS_REFUSED;
    case EADDRINUSE: return EA_SYS_ADDRINUSE;
    case ENOENT: return EA_SYS_NOENT;
    case EMFILE:
    case ENFILE:
    case ENOBUFS: return EA_SYS_LIMIT;
    case EPIPE: return EA_SYS_PIPE;
    case EACCES:
    case EPERM: return EA_ERR_PERM;
    case ENOMEM: return EA_ERR_NOMEM;
    default: *arg = (uint32_t)e; return EA_SYS_IO;
    }
}

uint32_t eai_sys_payload_max(ea_conn_t *c)
{
    size_t m = ea_conn_max(c);
    return m > HDR ? (uint32_t)(m - HDR) : 0;
}

static struct handle *slot_of(struct sys *s, uint32_t idx)
{
    return idx < NSLOTS ? &s->h[idx] : NULL;
}

int32_t eai_sys_handle_id(const struct sys *s, const struct handle *h)
{
    return (int32_t)(((uint32_t)h->gen << IDX_BITS) | (uint32_t)(h - s->h));
}

/* The handle `id` if connector `ci` owns it and its kind is in `kinds`. */
static struct handle *lookup(struct sys *s, unsigned ci, int32_t id, unsigned kinds)
{
    if (id < 0)
        return NULL;
    struct handle *h = &s->h[(uint32_t)id & (NSLOTS - 1)];
    if (h->kind == H_FREE || h->gen != (((uint32_t)id >> IDX_BITS) & GEN_MASK) ||
        ((uint32_t)id >> (IDX_BITS + 16)) != 0 || h->conn != (int)ci || !(kinds & (1u << h->kind)))
        return NULL;
    return h;
}

struct handle *eai_sys_handle_get(struct sys *s, unsigned ci, const ea_sys_msg_t *req,
                                  unsigned kinds)
{
    struct handle *h = lookup(s, ci, req->handle, kinds);
    if (h == NULL)
        eai_sys_complete(s, ci, req, EA_SYS_BADHANDLE);
    return h;
}

bool eai_sys_may_open(struct sys *s, unsigned ci, const ea_sys_msg_t *req, uint8_t kind)
{
    struct client *cl = &s->cl[ci];
    char what[128];
    if (cl->nhandles >= cl->max_handles) {
        eai_sys_who(s, ci, what, sizeof what);
        eai_sys_fail_text(s, ci, req, EA_SYS_HANDLES,
                          "handle limit of %s reached: %u open (<grant handles=>)", what,
                          cl->nhandles);
        return false;
    }
    if (kind == H_TIMER && cl->ntimers >= cl->max_timers) {
        eai_sys_who(s, ci, what, sizeof what);
        eai_sys_fail_text(s, ci, req, EA_SYS_TIMERS,
                          "timer limit of %s reached: %u set (<grant timers=>)", what, cl->ntimers);
        return false;
    }
    if (s->free_head == EA_NIL) {
        eai_sys_complete(s, ci, req, EA_SYS_LIMIT);
        return false;
    }
    return true;
}

/* Takes a free slot for `fd` owned by `ci`; NULL if none is left or epoll
 * refuses fd. Takes ownership of fd on success only. */
struct handle *eai_sys_handle_new(struct sys *s, unsigned ci, int fd, uint8_t kind, uint32_t events)
{
    if (s->free_head == EA_NIL)
        return NULL;
    uint32_t idx = s->free_head;
    struct handle *h = &s->h[idx];
    if (events != 0) {
        struct epoll_event ev = {.events = events | EPOLLET, .data.u32 = idx};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            return NULL;
    }
    s->free_head = h->next_free;
    h->fd = fd;
    h->kind = kind;
    h->rd_empty = false;
    h->conn = (int)ci;
    h->rq = h->wq = NULL;
    h->rq_tl = &h->rq;
    h->wq_tl = &h->wq;
    h->fire = NULL;
    s->nopen++;
    s->total_opened++;
    s->cl[ci].nhandles++;
    s->cl[ci].ntimers += kind == H_TIMER;
    return h;
}

struct op *eai_sys_op_new(struct sys *s, unsigned ci, const ea_sys_msg_t *req, uint32_t buflen)
{
    struct client *cl = &s->cl[ci];
    uint32_t held = (uint32_t)sizeof(struct op) + buflen;
    if (cl->held + held > cl->max_queued) {
        char what[128];
        eai_sys_who(s, ci, what, sizeof what);
        eai_sys_fail_text(s, ci, req, EA_SYS_QUEUED,
                          "queued-bytes limit of %s reached: %llu bytes held, %u more asked "
                          "(<grant queued=>)",
                          what, (unsigned long long)cl->held, held);
        return NULL;
    }
    struct op *o = calloc(1, sizeof *o);
    if (o != NULL && buflen > 0 && (o->buf = malloc(buflen)) == NULL) {
        free(o);
        o = NULL;
    }
    if (o == NULL) {
        eai_sys_complete(s, ci, req, EA_ERR_NOMEM);
        return NULL;
    }
    o->req = *req;
    o->ci = ci;
    o->held = held;
    cl->held += held;
    return o;
}

void eai_sys_op_free(struct sys *s, struct op *o)
{
    s->cl[o->ci].held -= o->held;
    free(o->buf);
    free(o);
}

/* ------------------------------------------------------- completions -- */

/* Sends client ci's batch, if one is open: as one EA_SYS_BATCH message,
 * or, holding a single completion, as that completion alone (its record
 * moved to the front), so a lone completion looks as it always did. */
static void batch_send(struct sys *s, unsigned ci)
{
    struct client *cl = &s->cl[ci];
    if (!cl->batch_open)
        return;
    cl->batch_open = false;
    uint8_t *p = cl->batch.data;
    if (cl->bcount == 0 || cl->dead) {
        ea_cargo_release(&cl->batch);
        return;
    }
    ea_sys_msg_t m;
    if (cl->bcount == 1) {
        memcpy(&m, p + HDR, HDR);
        memmove(p, p + HDR, HDR + m.len);
        cl->batch.len = HDR + m.len;
    } else {
        m = (ea_sys_msg_t){.magic = EA_SYS_MAGIC,
                           .op = EA_SYS_BATCH | EA_SYS_DONE,
                           .handle = -1,
                           .len = cl->boff - HDR,
                           .arg = cl->bcount};
        memcpy(p, &m, HDR);
        cl->batch.len = cl->boff;
        s->batches++;
        s->batched += cl->bcount;
    }
    if (ea_cargo_send(&cl->batch) != EA_OK) {
        ea_cargo_release(&cl->batch);
        cl->dead = true; /* failed channel: nothing can reach the peer */
    }
}

/* Room for a record with `len` payload bytes in client ci's batch: its
 * header and payload at the batch's end, opening a batch (taking a node)
 * or sending the full one first if need be. Returns where the record
 * goes, or NULL when it cannot be batched now (completions wait in the
 * backlog, the requester is gone, no node is free, or the record is too
 * big to share a message): it then takes the ordinary way. */
static uint8_t *batch_room(struct sys *s, unsigned ci, uint32_t len)
{
    struct client *cl = &s->cl[ci];
    if (cl->dead || cl->head != NULL)
        return NULL;
    ea_conn_t *c = ea_conn_at(s->self, ci);
    uint64_t cap = ea_conn_max(c);
    uint64_t need = REC_SIZE(len);
    if (HDR + need > cap)
        return NULL;
    if (cl->batch_open && cl->boff + need > cap)
        batch_send(s, ci);
    if (!cl->batch_open) {
        if (ea_cargo_alloc(c, (size_t)cap, &cl->batch) != EA_OK)
            return NULL;
        cl->batch_open = true;
        cl->boff = HDR; /* room for the outer header */
        cl->bcount = 0;
    }
    return (uint8_t *)cl->batch.data + cl->boff;
}

/* Adds the record whose payload is already in place at `rec` + HDR. */
static void batch_put(struct client *cl, uint8_t *rec, const ea_sys_msg_t *m)
{
    memcpy(rec, m, HDR);
    cl->boff += (uint32_t)REC_SIZE(m->len);
    cl->bcount++;
}

/* Tries to put one message on connector ci now. EA_OK, or the send error. */
static int send_now(struct sys *s, unsigned ci, const ea_sys_msg_t *hdr, const void *data)
{
    ea_conn_t *c = ea_conn_at(s->self, ci);
    ea_cargo_t cg;
    int rc = ea_cargo_alloc(c, HDR + hdr->len, &cg);
    if (rc != EA_OK)
        return rc;
    memcpy(cg.data, hdr, HDR);
    if (hdr->len > 0)
        memcpy((uint8_t *)cg.data + HDR, data, hdr->len);
    rc = ea_cargo_send(&cg);
    if (rc != EA_OK)
        ea_cargo_release(&cg);
    return rc;
}

static bool transient(int rc)
{
    return rc == EA_ERR_NOBUFS || rc == EA_ERR_FULL || rc == EA_ERR_BUSY;
}

/* Sends or queues one message; returns the queued entry or NULL. */
struct out *eai_sys_emit(struct sys *s, unsigned ci, const ea_sys_msg_t *hdr, const void *data)
{
    struct client *cl = &s->cl[ci];
    if (cl->dead)
        return NULL; /* nobody to tell: the requester ended */
    if (hdr->flags & EA_SYS_F_BATCH) {
        uint8_t *rec = batch_room(s, ci, hdr->len);
        if (rec != NULL) {
            if (hdr->len > 0)
                memcpy(rec + HDR, data, hdr->len);
            batch_put(cl, rec, hdr);
            return NULL;
        }
    }
    batch_send(s, ci); /* what is batched goes before this */
    if (cl->head == NULL) {
        int rc = send_now(s, ci, hdr, data);
        if (rc == EA_OK)
            return NULL;
        if (!transient(rc)) {
            cl->dead = true; /* failed channel: nothing can reach the peer */
            return NULL;
        }
    }
    struct out *o = malloc(sizeof *o + hdr->len);
    if (o == NULL) {
        fprintf(stderr, "eactors: sys '%s': out of memory, completion lost\n", ea_name(s->self));
        return NULL;
    }
    o->next = NULL;
    o->timer = 0;
    o->held = (uint32_t)sizeof *o + hdr->len;
    o->hdr = *hdr;
    if (hdr->len > 0)
        memcpy(o->data, data, hdr->len);
    *cl->tail = o;
    cl->tail = &o->next;
    cl->nout++;
    cl->held += o->held;
    cl->out_bytes += o->held;
    return o;
}

/* Takes the first waiting completion of client cl off its FIFO; returns it
 * (the caller frees it). */
static struct out *out_take(struct client *cl)
{
    struct out *o = cl->head;
    cl->head = o->next;
    if (cl->head == NULL)
        cl->tail = &cl->head;
    cl->nout--;
    cl->held -= o->held;
    cl->out_bytes -= o->held;
    return o;
}

/* The completion of request `req` with `status` (and optional payload). */
void eai_sys_complete_x(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                        uint32_t arg, uint64_t arg64, const void *data, uint32_t len)
{
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = (uint16_t)(req->op | EA_SYS_DONE),
                      .flags = (uint16_t)(req->flags & EA_SYS_F_BATCH),
                      .req_id = req->req_id,
                      .handle = req->handle,
                      .status = status,
                      .len = len,
                      .arg = arg,
                      .arg64 = arg64};
    eai_sys_emit(s, ci, &m, data);
}

uint8_t *eai_sys_out_reserve(struct sys *s, unsigned ci, const ea_sys_msg_t *req, uint32_t len,
                             ea_cargo_t *cg)
{
    struct client *cl = &s->cl[ci];
    memset(cg, 0, sizeof *cg); /* conn NULL: the record is in the batch */
    if (req->flags & EA_SYS_F_BATCH) {
        uint8_t *rec = batch_room(s, ci, len);
        if (rec != NULL)
            return rec + HDR;
    }
    /* A node of its own, only when it would go out at once. */
    if (cl->dead || cl->head != NULL)
        return NULL;
    batch_send(s, ci); /* what is batched goes first */
    if (ea_cargo_alloc(ea_conn_at(s->self, ci), HDR + len, cg) != EA_OK)
        return NULL;
    return (uint8_t *)cg->data + HDR;
}

void eai_sys_out_commit(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                        ea_cargo_t *cg, uint32_t len)
{
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = (uint16_t)(req->op | EA_SYS_DONE),
                      .flags = (uint16_t)(req->flags & EA_SYS_F_BATCH),
                      .req_id = req->req_id,
                      .handle = req->handle,
                      .status = status,
                      .len = len};
    if (cg->conn == NULL) {
        struct client *cl = &s->cl[ci];
        batch_put(cl, (uint8_t *)cl->batch.data + cl->boff, &m);
        return;
    }
    memcpy(cg->data, &m, HDR);
    cg->len = HDR + len;
    int rc = ea_cargo_send(cg);
    if (rc == EA_OK)
        return;
    /* Not sent: the completion takes the ordinary way (a copy that waits
     * in the backlog, or a dead requester), then the node goes back. */
    if (!transient(rc))
        s->cl[ci].dead = true;
    else
        eai_sys_emit(s, ci, &m, (const uint8_t *)cg->data + HDR);
    ea_cargo_release(cg);
}

void eai_sys_out_cancel(ea_cargo_t *cg)
{
    ea_cargo_release(cg); /* a no-op for a record in the batch */
}

void eai_sys_complete(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status)
{
    eai_sys_complete_x(s, ci, req, status, 0, 0, NULL, 0);
}

void eai_sys_complete_errno(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int e)
{
    uint32_t arg = 0;
    int32_t st = map_errno(e, &arg);
    eai_sys_complete_x(s, ci, req, st, arg, 0, NULL, 0);
}

/* An error completion with a text, cut to EA_SYS_ERRTEXT_MAX and the channel. */
static void fail_textv(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                       const char *fmt, va_list ap)
{
    char text[EA_SYS_ERRTEXT_MAX + 1];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    uint32_t len = n < 0 ? 0 : (uint32_t)n >= sizeof text ? (uint32_t)sizeof text - 1 : (uint32_t)n;
    uint32_t max = eai_sys_payload_max(ea_conn_at(s->self, ci));
    eai_sys_complete_x(s, ci, req, status, 0, 0, text, len < max ? len : max);
}

void eai_sys_fail_text(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_textv(s, ci, req, status, fmt, ap);
    va_end(ap);
}

/* EA_ERR_PERM with a text naming the missing right. */
void eai_sys_refuse(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_textv(s, ci, req, EA_ERR_PERM, fmt, ap);
    va_end(ap);
}

/* Sends what waits on every connector, in order, until a node is missing. */
static void flush(struct sys *s)
{
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        struct client *cl = &s->cl[ci];
        while (cl->head != NULL) {
            struct out *o = cl->head;
            int rc = cl->dead ? EA_ERR_FAILED : send_now(s, ci, &o->hdr, o->data);
            cl->starved = rc == EA_ERR_NOBUFS;
            if (rc != EA_OK && transient(rc))
                break;
            if (rc != EA_OK)
                cl->dead = true;
            out_take(cl);
            if (o->timer != 0 && s->h[o->timer - 1].fire == o)
                s->h[o->timer - 1].fire = NULL;
            free(o);
        }
    }
}

/* ------------------------------------------------------------ closing -- */

/* Fails every pending operation of `h` and closes it. */
void eai_sys_handle_close(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    for (struct op **q = &h->rq;; q = &h->wq) {
        while (*q != NULL) {
            struct op *o = *q;
            *q = o->next;
            eai_sys_complete(s, ci, &o->req, EA_SYS_BADHANDLE);
            eai_sys_op_free(s, o);
        }
        if (q == &h->wq)
            break;
    }
    if (h->fire != NULL)
        h->fire->timer = 0; /* the queued FIRE stays; it names a closed handle */
    if (h->kind != H_FILE)
        (void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, h->fd, NULL);
    close(h->fd);
    s->cl[h->conn].nhandles--;
    s->cl[h->conn].ntimers -= h->kind == H_TIMER;
    h->fd = -1;
    h->kind = H_FREE;
    h->fire = NULL;
    h->gen = (uint16_t)(h->gen + 1);
    uint32_t idx = (uint32_t)(h - s->h);
    h->next_free = s->free_head;
    s->free_head = idx;
    s->nopen--;
}

void eai_sys_close(struct sys *s, unsigned ci, const ea_sys_msg_t *req, unsigned kinds)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, kinds);
    if (h == NULL)
        return;
    eai_sys_handle_close(s, h);
    eai_sys_complete(s, ci, req, 0);
}

/* Closes everything connector ci owns and drops what waits for it. */
static void client_end(struct sys *s, unsigned ci)
{
    struct client *cl = &s->cl[ci];
    cl->dead = true;
    cl->ended = true;
    batch_send(s, ci); /* dead: the node goes back unsent */
    for (uint32_t i = 0; i < NSLOTS; i++)
        if (s->h[i].kind != H_FREE && s->h[i].conn == (int)ci)
            eai_sys_handle_close(s, &s->h[i]);
    while (cl->head != NULL) {
        struct out *o = out_take(cl);
        if (o->timer != 0 && s->h[o->timer - 1].fire == o)
            s->h[o->timer - 1].fire = NULL;
        free(o);
    }
}

/* ------------------------------------------------------------- rights -- */

static bool port_in(const uint16_t *ports, int n, unsigned port)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (ports[mid] == port)
            return true;
        if (ports[mid] < port)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return false;
}

bool eai_sys_port_granted(const struct sys *s, unsigned ci, bool listen, unsigned port)
{
    const eai_dep_grant_t *g = s->cl[ci].grant;
    return g != NULL &&
           (listen ? port_in(g->listen, g->nlisten, port) : port_in(g->connect, g->nconnect, port));
}

void eai_sys_who(struct sys *s, unsigned ci, char *buf, size_t len)
{
    int d = s->cl[ci].domain;
    if (d == 0)
        snprintf(buf, len, "the host");
    else
        snprintf(buf, len, "enclave '%s'", eai_domain_name(s->self, d));
}

/* ----------------------------------------------------------- requests -- */

static void request(struct sys *s, unsigned ci, const uint8_t *msg, size_t len, bool top);

/* An EA_SYS_BATCH of requests (`outer`, its header, already copied and
 * checked against the cargo): `p` holds outer->len bytes of records, each
 * a request header and its payload padded to 8 bytes. Each record is
 * served as if it had come alone (request() copies and checks its header
 * again, within the bytes this function gives it; a nested batch is
 * dropped there). A record that does not fit what is left ends the batch
 * with an EA_ERR_INVAL completion of that record; a batch with fewer
 * records than it announces just ends (it has no id of its own). */
static void request_batch(struct sys *s, unsigned ci, const ea_sys_msg_t *outer, const uint8_t *p)
{
    size_t off = 0, len = outer->len;
    for (uint32_t i = 0; i < outer->arg; i++) {
        ea_sys_msg_t r;
        if (len - off < HDR)
            return; /* fewer records than announced: the batch has no id to answer */
        memcpy(&r, p + off, HDR);
        if (r.len > len - off - HDR) {
            if (r.op != EA_SYS_BATCH)
                eai_sys_complete(s, ci, &r, EA_ERR_INVAL);
            return;
        }
        request(s, ci, p + off, HDR + (size_t)r.len, false);
        off += REC_SIZE(r.len);
        if (off > len)
            off = len;
    }
}

/* One request from connector ci: `msg` (len bytes) points into its cargo;
 * `top`: it is the whole message (only then may it be a batch). */
static void request(struct sys *s, unsigned ci, const uint8_t *msg, size_t len, bool top)
{
    ea_sys_msg_t req;
    if (len < HDR) {
        ea_sys_msg_t bad = {.handle = -1};
        eai_sys_complete(s, ci, &bad, EA_ERR_INVAL);
        return;
    }
    memcpy(&req, msg, HDR); /* the header is checked on our own copy */
    const uint8_t *p = msg + HDR;
    if (req.magic != EA_SYS_MAGIC || req.len > len - HDR || (req.op & EA_SYS_DONE)) {
        eai_sys_complete(s, ci, &req, EA_ERR_INVAL);
        return;
    }
    switch (req.op) {
    case EA_NET_LISTEN:
    case EA_NET_ACCEPT:
    case EA_NET_CONNECT:
    case EA_NET_RECV:
    case EA_NET_SEND:
    case EA_NET_SHUTDOWN:
    case EA_NET_CLOSE: eai_sys_net(s, ci, &req, p); break;
    case EA_FILE_OPEN:
    case EA_FILE_READ:
    case EA_FILE_WRITE:
    case EA_FILE_FSYNC:
    case EA_FILE_CLOSE:
    case EA_FILE_UNLINK:
    case EA_FILE_STAT: eai_sys_file(s, ci, &req, p); break;
    case EA_TIMER_SET:
    case EA_TIMER_CANCEL: eai_sys_timer(s, ci, &req); break;
    case EA_LOG: eai_sys_log(s, ci, &req, p); break;
    case EA_SYS_BATCH:
        /* A batch inside a batch is dropped unanswered: its completion
         * would read as a batch of completions (EA_SYS_BATCH | DONE). */
        if (top)
            request_batch(s, ci, &req, p);
        break;
    default: eai_sys_complete(s, ci, &req, EA_ERR_INVAL); break;
    }
}

/* --------------------------------------------------------- readiness -- */

static void slot_ready(struct sys *s, uint32_t idx)
{
    struct handle *h = slot_of(s, idx);
    if (h == NULL)
        return;
    h->rd_empty = false; /* any report may mean new bytes (net.c) */
    switch (h->kind) {
    case H_LISTEN:
    case H_SOCK:
    case H_CONNECTING: eai_sys_net_ready(s, h); break;
    case H_TIMER: eai_sys_timer_ready(s, h); break;
    default: break; /* closed since: a stale index */
    }
}

/* Returns true if more ready slots may be waiting. */
static bool drain_ready(struct sys *s)
{
    if (atomic_exchange_explicit(&s->rescan, 0, memory_order_acquire)) {
        for (uint32_t i = 0; i < NSLOTS; i++)
            if (s->h[i].kind != H_FREE && s->h[i].kind != H_FILE)
                slot_ready(s, i);
    }
    for (unsigned n = 0; n < READY_PER_STEP; n++) {
        uint32_t idx;
        if (ea_mbox_try_pop(&s->ready, &idx) != EA_OK)
            return false;
        if (idx >= NSLOTS)
            continue;
        /* Pairs with the io thread's exchange: an edge after this store
         * queues the index again (see the design notes). */
        atomic_store_explicit(&s->queued[idx], 0, memory_order_seq_cst);
        slot_ready(s, idx);
    }
    return true;
}

/* Park mode: every event the epoll set holds, up to a batch, in one call.
 * Returns true if more may be waiting. */
static bool drain_events(struct sys *s)
{
    if (!s->io_ready)
        return false;
    struct epoll_event ev[EVENTS_PER_CALL];
    int n = epoll_wait(s->epfd, ev, EVENTS_PER_CALL, 0);
    if (n < 0) {
        if (errno == EINTR)
            return true;
        fprintf(stderr, "eactors: sys '%s': epoll_wait: %s\n", ea_name(s->self), strerror(errno));
        s->io_ready = false;
        return false;
    }
    /* A full batch may have left events behind; else the set is empty and
     * the ring's poll reports the next one. */
    s->io_ready = n == EVENTS_PER_CALL;
    s->io_steps += n > 0;
    for (int i = 0; i < n; i++)
        slot_ready(s, ev[i].data.u32);
    return s->io_ready;
}

static void *io_main(void *arg)
{
    struct sys *s = arg;
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(s->epfd, ev, 256, -1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "eactors: sys '%s': epoll_wait: %s\n", ea_name(s->self),
                    strerror(errno));
            return NULL;
        }
        bool any = false;
        for (int i = 0; i < n; i++) {
            uint32_t idx = ev[i].data.u32;
            if (idx == EVFD_TAG) {
                uint64_t v;
                (void)!read(s->evfd, &v, sizeof v);
                continue;
            }
            if (idx >= NSLOTS)
                continue;
            any = true;
            if (atomic_exchange_explicit(&s->queued[idx], 1, memory_order_seq_cst) == 0 &&
                ea_mbox_try_push(&s->ready, idx) != EA_OK)
                atomic_store_explicit(&s->rescan, 1, memory_order_release);
        }
        /* Pairs with the body's release store of quit before the eventfd
         * write that woke us. */
        if (atomic_load_explicit(&s->quit, memory_order_acquire))
            return NULL;
        if (any)
            eai_actor_wake(s->self);
    }
}

/* --------------------------------------------------------- life cycle -- */

static void sys_free(struct sys *s)
{
    eai_sys_park_stop(s);
    if (s->io_started) {
        atomic_store_explicit(&s->quit, 1, memory_order_release);
        uint64_t one = 1;
        (void)!write(s->evfd, &one, sizeof one);
        int rc = pthread_join(s->io, NULL);
        if (rc != 0)
            fprintf(stderr, "eactors: sys '%s': cannot join the io thread: %s\n", ea_name(s->self),
                    strerror(rc));
    }
    /* Nobody is told about the operations cut short: the run is over. */
    for (unsigned ci = 0; s->cl != NULL && ci < s->nconn; ci++) {
        s->cl[ci].dead = true;
        batch_send(s, ci); /* dead: the node goes back unsent */
    }
    for (uint32_t i = 0; s->h != NULL && i < NSLOTS; i++)
        if (s->h[i].kind != H_FREE)
            eai_sys_handle_close(s, &s->h[i]);
    for (unsigned ci = 0; s->cl != NULL && ci < s->nconn; ci++)
        client_end(s, ci);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->evfd >= 0)
        close(s->evfd);
    free(s->h);
    free((void *)s->queued);
    free(s->ready_mem);
    free(s->cl);
    free(s->scratch);
    free(s);
}

/* Many sockets: room for every handle slot. Raises the hard descriptor
 * limit too when allowed (root), else takes the soft limit up to the hard
 * one. */
static void raise_fd_limit(ea_actor_t *self)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < NSLOTS + 256) {
        struct rlimit want = {.rlim_cur = NSLOTS + 256, .rlim_max = NSLOTS + 256};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "eactors: sys '%s': cannot raise the descriptor limit: %s\n",
                    ea_name(self), strerror(errno));
    }
}

/* The handle table (every slot free), the ready flags and mbox, the client
 * records and the scratch buffer. EA_OK or EA_ERR_NOMEM (sys_free cleans
 * up what was made). */
static int tables_new(struct sys *s)
{
    s->h = calloc(NSLOTS, sizeof *s->h);
    s->queued = calloc(NSLOTS, sizeof *s->queued);
    s->cl = calloc((size_t)s->nconn + 1, sizeof *s->cl);
    size_t fp = ea_mbox_footprint(NSLOTS);
    s->ready_mem = aligned_alloc(64, fp);
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        uint32_t m = eai_sys_payload_max(ea_conn_at(s->self, ci));
        s->scratch_len = m > s->scratch_len ? m : s->scratch_len;
    }
    s->scratch = malloc((size_t)s->scratch_len + 1);
    if (s->h == NULL || s->queued == NULL || s->cl == NULL || s->ready_mem == NULL ||
        s->scratch == NULL || ea_mbox_init(&s->ready, s->ready_mem, NSLOTS) != EA_OK)
        return EA_ERR_NOMEM;
    for (uint32_t i = 0; i < NSLOTS; i++) {
        s->h[i].fd = -1;
        s->h[i].gen = 1;
        s->h[i].next_free = i + 1 < NSLOTS ? i + 1 : EA_NIL;
    }
    s->free_head = 0;
    return EA_OK;
}

/* Each connector's requester: its domain and the grant of that domain. */
static void clients_init(struct sys *s)
{
    const eai_dep_actor_t *da = eai_actor_dep(s->self);
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        struct client *cl = &s->cl[ci];
        cl->tail = &cl->head;
        cl->domain = eai_conn_peer_domain(ea_conn_at(s->self, ci));
        int want = cl->domain == 0 ? EAI_HOST : cl->domain - 1;
        for (int g = 0; da != NULL && g < da->ngrants; g++)
            if (da->grants[g].enclave == want)
                cl->grant = &da->grants[g];
        const eai_dep_grant_t *g = cl->grant;
        cl->max_handles = g != NULL && g->max_handles ? g->max_handles : EAI_SYS_DEFAULT_HANDLES;
        cl->max_timers = g != NULL && g->max_timers ? g->max_timers : EAI_SYS_DEFAULT_TIMERS;
        cl->max_queued = g != NULL && g->max_queued ? g->max_queued : EAI_SYS_DEFAULT_QUEUED;
    }
}

/* Warns if the handle limits of all requesters together do not fit the
 * table or the descriptor limit: then one requester may still run the
 * system actor out of handles for the others. */
static void limits_check(struct sys *s)
{
    uint64_t sum = 0;
    for (unsigned ci = 0; ci < s->nconn; ci++)
        sum += s->cl[ci].max_handles;
    struct rlimit rl;
    uint64_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (uint64_t)rl.rlim_cur
                       : UINT64_MAX;
    if (sum > NSLOTS || sum + 64 > fds)
        fprintf(stderr,
                "eactors: sys '%s': warning: the requesters' handle limits add up to %llu, more "
                "than the %u handles and %llu descriptors there are: they are not isolated\n",
                ea_name(s->self), (unsigned long long)sum, NSLOTS, (unsigned long long)fds);
}

/* The epoll set with the eventfd in it, and the worker's park in io_uring
 * (park.c) or, where that is not to be had (or EA_SYS_IO_THREAD=1 asks for
 * it, to compare), the io thread. EA_OK or EA_ERR_SYS (printed; sys_free
 * cleans up what was made). */
static int io_start(struct sys *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EVFD_TAG};
    if (s->epfd < 0 || s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) != 0) {
        fprintf(stderr, "eactors: sys '%s': epoll: %s\n", ea_name(s->self), strerror(errno));
        return EA_ERR_SYS;
    }
    /* Batch scheduling for the worker (design notes, "Preemption"). */
    const char *pre = getenv("EA_SYS_PREEMPT");
    if (pre == NULL || strcmp(pre, "1") != 0) {
        s->batch = eai_thread_batch() == EA_OK;
        if (!s->batch)
            fprintf(stderr, "eactors: sys '%s': warning: the worker stays preemptive: %s\n",
                    ea_name(s->self), strerror(errno));
    }
    const char *force = getenv("EA_SYS_IO_THREAD");
    if ((force == NULL || strcmp(force, "1") != 0) && eai_sys_park_start(s))
        return EA_OK;
    int rc = pthread_create(&s->io, NULL, io_main, s);
    if (rc != 0) {
        fprintf(stderr, "eactors: sys '%s': cannot start the io thread: %s\n", ea_name(s->self),
                strerror(rc));
        return EA_ERR_SYS;
    }
    s->io_started = true;
    return EA_OK;
}

static int sys_ctor(ea_actor_t *self, void *state)
{
    struct sys_state *st = state;
    struct sys *s = calloc(1, sizeof *s);
    if (s == NULL)
        return EA_ERR_NOMEM;
    s->self = self;
    s->epfd = s->evfd = -1;
    s->fds_before = count_fds();
    raise_fd_limit(self);
    s->nconn = ea_conn_count(self);
    int rc = tables_new(s);
    if (rc == EA_OK) {
        clients_init(s);
        limits_check(s);
        rc = io_start(s);
    }
    if (rc != EA_OK) {
        sys_free(s);
        return rc;
    }
    st->s = s;
    return EA_OK;
}

static int finish(struct sys_state *st, const char *why)
{
    struct sys *s = st->s;
    uint32_t open = s->nopen, total = s->total_opened;
    unsigned long long continued = (unsigned long long)s->continued;
    unsigned long long batched = (unsigned long long)s->batched;
    unsigned long long batches = (unsigned long long)s->batches;
    char how[160];
    if (s->park != NULL)
        snprintf(how, sizeof how, "I/O by the worker's io_uring park (%llu sleeps, %llu batches)%s",
                 (unsigned long long)s->io_waits, (unsigned long long)s->io_steps,
                 s->batch ? ", a batch thread" : "");
    else
        snprintf(how, sizeof how, "I/O by an io thread%s",
                 s->batch ? ", worker a batch thread" : "");
    int before = s->fds_before;
    const char *name = ea_name(s->self);
    sys_free(s);
    st->s = NULL;
    fprintf(
        stderr,
        "eactors: sys '%s': %s: %u handles open at the end (closed now), %u opened in all, "
        "%llu sends continued, %llu completions in %llu batch messages; descriptors %d before, %d "
        "after; %s\n",
        name, why, open, total, continued, batched, batches, before, count_fds(), how);
    return EA_DONE;
}

/* A requester that ended may have left requests behind; its last log
 * lines are still printed (nothing else is done for it any more). */
static void last_logs(struct sys *s, unsigned ci)
{
    ea_conn_t *c = ea_conn_at(s->self, ci);
    ea_cargo_t cg;
    for (unsigned n = 0; n < REQS_PER_STEP && ea_cargo_recv(c, &cg) == EA_OK; n++) {
        ea_sys_msg_t req;
        if (cg.len >= HDR) {
            memcpy(&req, cg.data, HDR);
            if (req.magic == EA_SYS_MAGIC && req.op == EA_LOG && req.len <= cg.len - HDR)
                eai_sys_log(s, ci, &req, (const uint8_t *)cg.data + HDR);
        }
        ea_cargo_release(&cg);
    }
}

/* Ends the requesters that have gone (their channel failed or their actor
 * ended) since the last step; returns how many are still there. */
static unsigned clients_check(struct sys *s)
{
    unsigned live = 0;
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        ea_conn_t *c = ea_conn_at(s->self, ci);
        if (!s->cl[ci].ended && (s->cl[ci].dead || !eai_conn_peer_live(c))) {
            last_logs(s, ci);
            client_end(s, ci);
        }
        live += !s->cl[ci].ended;
    }
    return live;
}

/* Serves the requests waiting on every connector, up to REQS_PER_STEP each
 * and while its backlog is short. Returns true if one had more left. */
static bool take_requests(struct sys *s)
{
    bool more = false;
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        ea_conn_t *c = ea_conn_at(s->self, ci);
        struct client *cl = &s->cl[ci];
        for (unsigned n = 0; !cl->dead; n++) {
            /* Back-pressure: the requester reads completions first. But
             * if they wait for a node while the requester's requests hold
             * the pool the two directions share, only taking a request
             * frees one (the deadlock of a requester that filled the pool
             * with requests): then take them one at a time, each followed
             * by a flush. That cannot grow the backlog: every request
             * taken frees the node one waiting completion then goes out
             * in, and taking stops when no request is left. */
            bool backlog = cl->nout >= BACKLOG_MAX || cl->out_bytes >= cl->max_queued;
            if (backlog && !cl->starved)
                break;
            if (n == REQS_PER_STEP) {
                more = true;
                break;
            }
            ea_cargo_t cg;
            int rc = ea_cargo_recv(c, &cg);
            if (rc == EA_ERR_EMPTY)
                break;
            if (rc != EA_OK) {
                s->cl[ci].dead = true; /* failed channel */
                break;
            }
            request(s, ci, cg.data, cg.len, true);
            ea_cargo_release(&cg);
            if (backlog)
                flush(s);
        }
    }
    return more;
}

static int sys_body(ea_actor_t *self, void *state)
{
    struct sys_state *st = state;
    struct sys *s = st->s;
    if (s == NULL)
        return EA_DONE;
    if (ea_stopping(self))
        return finish(st, "stopped");
    if (clients_check(s) == 0)
        return finish(st, "no requester left");
    flush(s);
    bool more;
    if (s->park != NULL) {
        eai_sys_park_reap(s);
        more = drain_events(s);
    } else {
        more = drain_ready(s);
    }
    more |= take_requests(s);
    flush(s);
    /* One message per requester for this round's batched completions. */
    for (unsigned ci = 0; ci < s->nconn; ci++)
        batch_send(s, ci);
    /* Completions still waiting for a free node need no polling: the failed
     * allocation asked the requester's next release to wake us. */
    return more ? EA_BUSY : EA_IDLE;
}

static const ea_actor_type_t sys_type = {EA_TYPE_ABI, "sys", sizeof(struct sys_state), sys_ctor,
                                         sys_body};

const ea_actor_type_t *eai_sys_type(void)
{
    return &sys_type;
}
