/*
 * The system actor's internals, shared by its files and by nothing else.
 *
 * sys.c is the request and completion core: the handle table, the backlog of
 * completions, the rights, the io thread, the actor's body and the dispatcher
 * of requests. Each family of operations has its own file: net.c (sockets),
 * file.c (granted files), timer.c (timerfds) and log.c (log lines). A family
 * acts on a request only through the core's functions below, and every
 * request it is handed is completed exactly once (or, for EA_LOG, never).
 *
 * Every function here runs on the actor's worker (the body, or park.c's
 * hooks between steps); none is called by the io thread.
 */
#ifndef EAI_SYS_INT_H
#define EAI_SYS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <eactors/ea_queue.h>

#include "sys/sys.h"

enum kind { H_FREE = 0, H_LISTEN, H_SOCK, H_CONNECTING, H_FILE, H_TIMER };

/* Per-requester limits when its <grant> does not set them (handles=,
 * timers=, queued=; see eai_sys_may_open and eai_sys_op_new). */
#define EAI_SYS_DEFAULT_HANDLES 4096u
#define EAI_SYS_DEFAULT_TIMERS 256u
#define EAI_SYS_DEFAULT_QUEUED (16u << 20)

/* One pending operation on a handle (accept, recv, connect, send, shutdown). */
struct op {
    struct op *next;
    unsigned ci;      /* the requester it is held for */
    uint32_t held;    /* bytes counted in that requester's `held` */
    ea_sys_msg_t req; /* private copy of the request header */
    uint32_t max;     /* RECV: bytes asked for (clamped to the channel) */
    uint32_t off;     /* SEND: bytes already sent */
    uint32_t len;     /* SEND: bytes in buf */
    uint8_t *buf;     /* SEND: the bytes not yet sent */
};

/* One completion waiting for a free node. */
struct out {
    struct out *next;
    uint32_t timer; /* FIRE of this slot + 1, or 0 */
    uint32_t held;  /* bytes counted in the requester's `held` and `out_bytes` */
    ea_sys_msg_t hdr;
    uint8_t data[];
};

/* Body-only fields, except that the io thread reads nothing here. */
struct handle {
    int fd;
    uint8_t kind;
    /* SOCK: the last recv found the kernel's queue empty (EAGAIN, or fewer
     * bytes than asked) and no readiness report came since, so a new
     * receive waits for the next edge without a recv that would say EAGAIN
     * (net.c). */
    bool rd_empty;
    uint16_t gen;
    int conn;               /* owning connector index */
    uint32_t next_free;     /* free list link */
    struct op *rq, **rq_tl; /* accepts / recvs / the connect, in order */
    struct op *wq, **wq_tl; /* sends and shutdowns, in order */
    uint64_t timer_req;     /* TIMER: request id the FIRE messages carry */
    struct out *fire;       /* TIMER: unsent FIRE in the backlog, or NULL */
};

struct client {
    struct out *head, **tail; /* completions waiting for a node */
    uint32_t nout;
    /* The last send of a waiting completion found no free node: the pool
     * the channel's two directions share is held by the requester's own
     * requests (or by completions it has not read yet). */
    bool starved;
    bool dead;  /* nothing more is sent to this requester */
    bool ended; /* its handles are closed */
    int domain;
    const eai_dep_grant_t *grant; /* NULL: no rights */
    /* Limits (from the grant, else the defaults) and what is used of them. */
    uint32_t max_handles, max_timers, max_queued;
    uint32_t nhandles, ntimers; /* open handles it owns, timers among them */
    uint64_t held;              /* bytes of its pending operations and waiting completions */
    uint64_t out_bytes;         /* of which waiting completions */
    /* The batch being filled this round (EA_SYS_BATCH, for completions of
     * requests with EA_SYS_F_BATCH): a node holding the outer header's
     * room and `bcount` records, `boff` bytes in all; sent at the end of
     * the round (sys.c, batch_send). */
    ea_cargo_t batch;
    bool batch_open;
    uint32_t boff, bcount;
};

struct eai_sys_park; /* park.c */

struct sys {
    ea_actor_t *self;
    int epfd, evfd;
    /* The worker waits in io_uring for the descriptors and for wake-ups
     * (park.c), or NULL: an io thread reports readiness (the fallback). */
    struct eai_sys_park *park;
    bool io_ready;     /* park: the epoll set may hold events */
    uint64_t io_waits; /* park: times the worker slept in the ring */
    uint64_t io_steps; /* park: epoll_wait calls that took events */
    pthread_t io;
    bool io_started;
    bool batch; /* the worker is a batch thread (sys.c, "Preemption") */
    /* Written by the body, read by the io thread: set before the eventfd
     * write that wakes it, so release/acquire is enough. */
    _Atomic int quit;
    /* Set by the io thread if a push ever fails (it cannot: see sys.c); the
     * body then tries every slot. Relaxed: followed by a wake. */
    _Atomic int rescan;
    /* Shared: per-slot "index is in the ready mbox" flags (see sys.c). */
    _Atomic uint8_t *queued;
    ea_mbox_t ready;
    void *ready_mem;
    /* Body only. */
    struct handle *h;
    uint32_t free_head, nopen, total_opened;
    uint64_t continued;        /* sends that did not go out at once */
    uint64_t batches, batched; /* EA_SYS_BATCH messages sent, completions in them */
    unsigned nconn;
    struct client *cl;
    uint8_t *scratch; /* RECV/READ buffer, the largest channel payload */
    uint32_t scratch_len;
    int fds_before;
};

/* ------------------------------------------------- core (sys.c): handles -- */

/* Payload room of a message on channel c (0 if not even a header fits). */
uint32_t eai_sys_payload_max(ea_conn_t *c);

/* The handle number of h, as it travels in messages. */
int32_t eai_sys_handle_id(const struct sys *s, const struct handle *h);

/* The handle `req` names if connector ci owns it and its kind is one of the
 * bits `kinds` (1 << H_...); otherwise completes `req` with EA_SYS_BADHANDLE
 * and returns NULL. Returns a borrowed pointer valid until the handle is
 * closed. */
struct handle *eai_sys_handle_get(struct sys *s, unsigned ci, const ea_sys_msg_t *req,
                                  unsigned kinds);

/* May connector ci open one more handle of `kind`? Checks its own limits
 * (handles, and timers for H_TIMER) and then the shared table. If not,
 * completes `req` with EA_SYS_HANDLES, EA_SYS_TIMERS (a text naming the
 * limit) or EA_SYS_LIMIT and returns false. Called before any descriptor is
 * made, so a requester at its limit costs the host nothing more. */
bool eai_sys_may_open(struct sys *s, unsigned ci, const ea_sys_msg_t *req, uint8_t kind);

/* Takes a free slot of `kind` for fd, owned by connector ci, registered for
 * `events` (edge-triggered; 0: not registered). Takes ownership of fd on
 * success only; NULL if no slot is left or epoll refuses fd. Counts the
 * handle against ci's limits (eai_sys_may_open checked them). */
struct handle *eai_sys_handle_new(struct sys *s, unsigned ci, int fd, uint8_t kind,
                                  uint32_t events);

/* Completes every pending operation of h with EA_SYS_BADHANDLE, closes its
 * descriptor and frees its slot (the generation moves on). */
void eai_sys_handle_close(struct sys *s, struct handle *h);

/* A CLOSE request: closes the handle `req` names (kinds as for
 * eai_sys_handle_get) and completes `req` with 0, or with EA_SYS_BADHANDLE. */
void eai_sys_close(struct sys *s, unsigned ci, const ea_sys_msg_t *req, unsigned kinds);

/* A pending operation for `req` of connector ci with room for `buflen`
 * bytes in o->buf (NULL if 0), counted against ci's queued= limit. If that
 * limit would be passed, completes `req` with EA_SYS_QUEUED (a text naming
 * the limit); if memory is short, with EA_ERR_NOMEM; NULL then. */
struct op *eai_sys_op_new(struct sys *s, unsigned ci, const ea_sys_msg_t *req, uint32_t buflen);

/* Frees a pending operation and the bytes it holds, and uncounts them. */
void eai_sys_op_free(struct sys *s, struct op *o);

/* --------------------------------------------- core (sys.c): completions -- */

/* Sends message hdr (and hdr->len bytes of data) to connector ci now, or
 * queues a copy behind what already waits for it. Returns the queued entry
 * (owned by the backlog, valid until it is sent or dropped), or
 * NULL if it was sent or cannot be delivered. */
struct out *eai_sys_emit(struct sys *s, unsigned ci, const ea_sys_msg_t *hdr, const void *data);

/* The completion of `req` with `status`, the two arguments and len bytes of
 * data (copied). */
void eai_sys_complete_x(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                        uint32_t arg, uint64_t arg64, const void *data, uint32_t len);

/* Receiving straight into the message a completion travels in (no copy
 * through s->scratch): returns where up to `len` payload bytes of the
 * completion of `req` to connector ci go, if it can leave this round in
 * order (no completion waits before it, the requester lives, a node is
 * free): in the client's batch (EA_SYS_F_BATCH) or in a node of its own
 * (*cg). NULL otherwise: the caller uses s->scratch and eai_sys_complete_x.
 * Nothing else may be completed for ci until the caller has called
 * eai_sys_out_commit or eai_sys_out_cancel. */
uint8_t *eai_sys_out_reserve(struct sys *s, unsigned ci, const ea_sys_msg_t *req, uint32_t len,
                             ea_cargo_t *cg);

/* Completes `req` with `status` and the `len` bytes already written where
 * eai_sys_out_reserve said. Takes ownership of cg. */
void eai_sys_out_commit(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                        ea_cargo_t *cg, uint32_t len);

/* Gives back what eai_sys_out_reserve reserved, unused. */
void eai_sys_out_cancel(ea_cargo_t *cg);

/* The completion of `req` with `status` and nothing else. */
void eai_sys_complete(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status);

/* The completion of `req` with the status that errno value e maps to. */
void eai_sys_complete_errno(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int e);

/* The completion of `req` with EA_ERR_PERM and a text naming the missing
 * right (printf format). */
__attribute__((format(printf, 4, 5))) void
eai_sys_refuse(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const char *fmt, ...);

/* The completion of `req` with the error `status` and a text (printf
 * format), cut to EA_SYS_ERRTEXT_MAX and to the channel. */
__attribute__((format(printf, 5, 6))) void eai_sys_fail_text(struct sys *s, unsigned ci,
                                                             const ea_sys_msg_t *req,
                                                             int32_t status, const char *fmt, ...);

/* -------------------------------------------------- core (sys.c): rights -- */

/* "the host" or "enclave 'name'": the requester on connector ci, for texts. */
void eai_sys_who(struct sys *s, unsigned ci, char *buf, size_t len);

/* May connector ci listen on (listen) or connect to (!listen) `port`? */
bool eai_sys_port_granted(const struct sys *s, unsigned ci, bool listen, unsigned port);

/* ------------------------------------------------------- park (park.c) -- */

/* Makes the actor's worker park in an io_uring wait on the epoll set and on
 * its futex word (sys.c then runs no io thread). False if the kernel or the
 * worker does not allow it; nothing is changed then. */
bool eai_sys_park_start(struct sys *s);
/* Takes the ring's completions; sets s->io_ready if the epoll set has news. */
void eai_sys_park_reap(struct sys *s);
/* Undoes eai_sys_park_start (no-op if it did not succeed). */
void eai_sys_park_stop(struct sys *s);

/* ------------------------------------------------------- op families -- */

/* Each serves one request `req` of its family from connector ci; p points to
 * req->len payload bytes, borrowed for the call. */
void eai_sys_net(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p);
void eai_sys_file(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p);
void eai_sys_timer(struct sys *s, unsigned ci, const ea_sys_msg_t *req);
void eai_sys_log(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p);

/* Readiness of a socket (H_LISTEN, H_SOCK, H_CONNECTING) or a timer h: does
 * what became possible. */
void eai_sys_net_ready(struct sys *s, struct handle *h);
void eai_sys_timer_ready(struct sys *s, struct handle *h);

#endif
