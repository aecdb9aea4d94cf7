/*
 * The system actor (DESIGN.md section 9): network, files, timers and log for
 * actors that may not make system calls, by messages.
 *
 * Design notes.
 *
 * Threads. The actor's body runs on its host worker like any actor and does
 * every system call that acts on a request. It may never block: the worker
 * runs other actors, and the run's stop path needs it back. Readiness comes
 * from one io thread per system actor, made in the constructor (host
 * constructors run unconfined on their worker), which blocks in epoll_wait
 * and does nothing but report: for each ready descriptor it sets the slot's
 * `queued` flag (0 -> 1), pushes the slot index into a private MPMC mbox
 * (ea_queue.h) and wakes the actor. The flag keeps each index in the mbox at
 * most once, so the mbox (one cell per slot) never overflows. An idle system
 * actor costs nothing: the io thread sleeps in the kernel, the worker parks.
 *
 * Lost readiness. Descriptors are registered edge-triggered. The body pops
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
 * queueing another.
 *
 * Rights come from the deployment (<grant>), per requester domain
 * (eai_conn_peer_domain). Paths: the directory part is resolved with
 * realpath and must lie inside a granted directory (checked again on the
 * directory actually opened, through /proc/self/fd); the final component is
 * opened relative to that directory with O_NOFOLLOW, and must not be "." or
 * "..". The system actor is by nature the layer that calls the OS for
 * others, which is why it calls it directly rather than through platform.h.
 *
 * End. When a requester ends (the core wakes us), every handle it owned is
 * closed. When the run stops, or every requester has ended, everything is
 * closed, the io thread is woken through its eventfd and joined, a line with
 * the handle and descriptor counts is printed, and the body returns EA_DONE.
 */
#include "sys/sys.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <eactors/ea_queue.h>

#define IDX_BITS 15
#define NSLOTS (1u << IDX_BITS) /* handles per system actor */
#define GEN_MASK 0xffffu
#define EVFD_TAG UINT32_MAX /* epoll data of the eventfd */
#define BACKLOG_MAX 1024    /* queued completions before requests wait */
#define REQS_PER_STEP 256   /* requests taken from one connector per step */
#define READY_PER_STEP 4096 /* ready slots handled per step */
#define HDR ((uint32_t)sizeof(ea_sys_msg_t))

enum kind { H_FREE = 0, H_LISTEN, H_SOCK, H_CONNECTING, H_FILE, H_TIMER };

/* One pending operation on a handle (accept, recv, connect, send, shutdown). */
struct op {
    struct op *next;
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
    ea_sys_msg_t hdr;
    uint8_t data[];
};

/* Body-only fields, except that the io thread reads nothing here. */
struct handle {
    int fd;
    uint8_t kind;
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
    bool dead;  /* nothing more is sent to this requester */
    bool ended; /* its handles are closed */
    int domain;
    const eai_dep_grant_t *grant; /* NULL: no rights */
};

struct sys {
    ea_actor_t *self;
    int epfd, evfd;
    pthread_t io;
    bool io_started;
    /* Written by the body, read by the io thread: set before the eventfd
     * write that wakes it, so release/acquire is enough. */
    _Atomic int quit;
    /* Set by the io thread if a push ever fails (it cannot: see above); the
     * body then tries every slot. Relaxed: followed by a wake. */
    _Atomic int rescan;
    /* Shared: per-slot "index is in the ready mbox" flags (see notes). */
    _Atomic uint8_t *queued;
    ea_mbox_t ready;
    void *ready_mem;
    /* Body only. */
    struct handle *h;
    uint32_t free_head, nopen, total_opened;
    uint64_t continued; /* sends that did not go out at once */
    unsigned nconn;
    struct client *cl;
    uint8_t *scratch; /* RECV/READ buffer, the largest channel payload */
    uint32_t scratch_len;
    int fds_before;
};

struct sys_state {
    struct sys *s;
};

/* ------------------------------------------------------------ helpers -- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
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

static uint32_t payload_max(ea_conn_t *c)
{
    size_t m = ea_conn_max(c);
    return m > HDR ? (uint32_t)(m - HDR) : 0;
}

static struct handle *slot_of(struct sys *s, uint32_t idx)
{
    return idx < NSLOTS ? &s->h[idx] : NULL;
}

static int32_t handle_id(const struct sys *s, const struct handle *h)
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

/* Takes a free slot for `fd` owned by `ci`; NULL if none is left. Takes
 * ownership of fd on success only. */
static struct handle *slot_new(struct sys *s, unsigned ci, int fd, uint8_t kind, uint32_t events)
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
    h->conn = (int)ci;
    h->rq = h->wq = NULL;
    h->rq_tl = &h->rq;
    h->wq_tl = &h->wq;
    h->fire = NULL;
    s->nopen++;
    s->total_opened++;
    return h;
}

static void op_free(struct op *o)
{
    free(o->buf);
    free(o);
}

/* ------------------------------------------------------- completions -- */

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
static struct out *emit(struct sys *s, unsigned ci, const ea_sys_msg_t *hdr, const void *data)
{
    struct client *cl = &s->cl[ci];
    if (cl->dead)
        return NULL; /* nobody to tell: the requester ended */
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
    o->hdr = *hdr;
    if (hdr->len > 0)
        memcpy(o->data, data, hdr->len);
    *cl->tail = o;
    cl->tail = &o->next;
    cl->nout++;
    return o;
}

/* The completion of request `req` with `status` (and optional payload). */
static void complete_x(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status,
                       uint32_t arg, uint64_t arg64, const void *data, uint32_t len)
{
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = (uint16_t)(req->op | EA_SYS_DONE),
                      .req_id = req->req_id,
                      .handle = req->handle,
                      .status = status,
                      .len = len,
                      .arg = arg,
                      .arg64 = arg64};
    emit(s, ci, &m, data);
}

static void complete(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int32_t status)
{
    complete_x(s, ci, req, status, 0, 0, NULL, 0);
}

static void complete_errno(struct sys *s, unsigned ci, const ea_sys_msg_t *req, int e)
{
    uint32_t arg = 0;
    int32_t st = map_errno(e, &arg);
    complete_x(s, ci, req, st, arg, 0, NULL, 0);
}

/* EA_ERR_PERM with a text naming the missing right. */
__attribute__((format(printf, 4, 5))) static void
refuse(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    uint32_t len = n < 0 ? 0 : (uint32_t)n >= sizeof text ? (uint32_t)sizeof text - 1 : (uint32_t)n;
    uint32_t max = payload_max(ea_conn_at(s->self, ci));
    complete_x(s, ci, req, EA_ERR_PERM, 0, 0, text, len < max ? len : max);
}

/* Sends what waits on every connector, in order, until a node is missing. */
static void flush(struct sys *s)
{
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        struct client *cl = &s->cl[ci];
        while (cl->head != NULL) {
            struct out *o = cl->head;
            int rc = cl->dead ? EA_ERR_FAILED : send_now(s, ci, &o->hdr, o->data);
            if (rc != EA_OK && transient(rc))
                break;
            if (rc != EA_OK)
                cl->dead = true;
            cl->head = o->next;
            if (cl->head == NULL)
                cl->tail = &cl->head;
            cl->nout--;
            if (o->timer != 0 && s->h[o->timer - 1].fire == o)
                s->h[o->timer - 1].fire = NULL;
            free(o);
        }
    }
}

/* ------------------------------------------------------------ closing -- */

/* Fails every pending operation of `h` and closes it. */
static void handle_close(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    for (struct op **q = &h->rq;; q = &h->wq) {
        while (*q != NULL) {
            struct op *o = *q;
            *q = o->next;
            complete(s, ci, &o->req, EA_SYS_BADHANDLE);
            op_free(o);
        }
        if (q == &h->wq)
            break;
    }
    if (h->fire != NULL)
        h->fire->timer = 0; /* the queued FIRE stays; it names a closed handle */
    if (h->kind != H_FILE)
        (void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, h->fd, NULL);
    close(h->fd);
    h->fd = -1;
    h->kind = H_FREE;
    h->fire = NULL;
    h->gen = (uint16_t)(h->gen + 1);
    uint32_t idx = (uint32_t)(h - s->h);
    h->next_free = s->free_head;
    s->free_head = idx;
    s->nopen--;
}

/* Closes everything connector ci owns and drops what waits for it. */
static void client_end(struct sys *s, unsigned ci)
{
    struct client *cl = &s->cl[ci];
    cl->dead = true;
    cl->ended = true;
    for (uint32_t i = 0; i < NSLOTS; i++)
        if (s->h[i].kind != H_FREE && s->h[i].conn == (int)ci)
            handle_close(s, &s->h[i]);
    while (cl->head != NULL) {
        struct out *o = cl->head;
        cl->head = o->next;
        free(o);
    }
    cl->tail = &cl->head;
    cl->nout = 0;
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

static void who(struct sys *s, unsigned ci, char *buf, size_t len)
{
    int d = s->cl[ci].domain;
    if (d == 0)
        snprintf(buf, len, "the host");
    else
        snprintf(buf, len, "enclave '%s'", eai_domain_name(s->self, d));
}

/* Is `dir` (resolved) inside a granted directory of connector ci? */
static bool dir_granted(const struct client *cl, const char *dir)
{
    if (cl->grant == NULL)
        return false;
    for (int i = 0; i < cl->grant->nfiles; i++) {
        const char *g = cl->grant->files[i];
        size_t n = strlen(g);
        if (strcmp(g, "/") == 0)
            return true;
        if (strncmp(dir, g, n) == 0 && (dir[n] == '\0' || dir[n] == '/'))
            return true;
    }
    return false;
}

/*
 * Checks the path of a file request (payload) and opens its directory.
 * On success returns EA_OK with *dirfd (the caller closes it) and the final
 * component in `base`; otherwise the request is already completed.
 */
static int path_open(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *payload,
                     int *dirfd, char *base, size_t baselen)
{
    char path[PATH_MAX], what[128];
    if (req->len == 0 || req->len >= sizeof path || memchr(payload, '\0', req->len) != NULL) {
        complete(s, ci, req, EA_ERR_INVAL);
        return EA_ERR_INVAL;
    }
    memcpy(path, payload, req->len);
    path[req->len] = '\0';
    char *slash = strrchr(path, '/');
    if (path[0] != '/' || slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
        strcmp(slash + 1, "..") == 0 || strlen(slash + 1) >= baselen) {
        complete(s, ci, req, EA_ERR_INVAL);
        return EA_ERR_INVAL;
    }
    snprintf(base, baselen, "%s", slash + 1);
    *slash = '\0';
    const char *dir = path[0] != '\0' ? path : "/";
    char real[PATH_MAX];
    who(s, ci, what, sizeof what);
    if (realpath(dir, real) == NULL) {
        int e = errno;
        /* Existence is only revealed inside granted directories. */
        if (e == ENOENT && dir_granted(&s->cl[ci], dir))
            complete(s, ci, req, EA_SYS_NOENT);
        else
            refuse(s, ci, req, "files in '%s' are not granted to %s", dir, what);
        return EA_ERR_PERM;
    }
    if (!dir_granted(&s->cl[ci], real)) {
        refuse(s, ci, req, "files in '%s' are not granted to %s", real, what);
        return EA_ERR_PERM;
    }
    *dirfd = open(real, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*dirfd < 0) {
        complete_errno(s, ci, req, errno);
        return EA_ERR_SYS;
    }
    /* Check the directory actually opened, not only the name resolved a
     * moment before: another process may have swapped a component for a
     * symlink in between. The final component is then opened relative to
     * this descriptor with O_NOFOLLOW, so it cannot leave the directory. */
    char link[64], opened[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", *dirfd);
    ssize_t n = readlink(link, opened, sizeof opened - 1);
    if (n <= 0 || (size_t)n >= sizeof opened - 1) {
        close(*dirfd);
        complete(s, ci, req, EA_SYS_IO);
        return EA_ERR_SYS;
    }
    opened[n] = '\0';
    if (!dir_granted(&s->cl[ci], opened)) {
        close(*dirfd);
        refuse(s, ci, req, "files in '%s' are not granted to %s", opened, what);
        return EA_ERR_PERM;
    }
    return EA_OK;
}

/* -------------------------------------------------------------- network -- */

static bool parse_addr(const uint8_t *p, uint32_t len, struct in_addr *out, bool listen)
{
    char a[64];
    if (len >= sizeof a || memchr(p, '\0', len) != NULL)
        return false;
    memcpy(a, p, len);
    a[len] = '\0';
    if (len == 0) {
        out->s_addr = htonl(listen ? INADDR_ANY : INADDR_LOOPBACK);
        return true;
    }
    if (strcmp(a, "localhost") == 0) {
        out->s_addr = htonl(INADDR_LOOPBACK);
        return true;
    }
    return inet_pton(AF_INET, a, out) == 1;
}

/*
 * Common first part of LISTEN and CONNECT: the address and port of the
 * request, the requester's right to that port, a non-blocking socket.
 * Returns the socket, or -1 once the request has been completed with the
 * error.
 */
static int tcp_socket(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p,
                      bool listen, struct sockaddr_in *sa)
{
    const struct client *cl = &s->cl[ci];
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)req->arg);
    if (req->arg < 1 || req->arg > 65535 || !parse_addr(p, req->len, &sa->sin_addr, listen)) {
        complete(s, ci, req, EA_ERR_INVAL);
        return -1;
    }
    bool granted =
        cl->grant != NULL && (listen ? port_in(cl->grant->listen, cl->grant->nlisten, req->arg)
                                     : port_in(cl->grant->connect, cl->grant->nconnect, req->arg));
    if (!granted) {
        char what[128];
        who(s, ci, what, sizeof what);
        refuse(s, ci, req, "%s port %u is not granted to %s", listen ? "listen on" : "connect to",
               req->arg, what);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        complete_errno(s, ci, req, errno);
    return fd;
}

static void do_listen(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    struct sockaddr_in sa;
    int fd = tcp_socket(s, ci, req, p, true, &sa);
    if (fd < 0)
        return;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        complete_errno(s, ci, req, e);
        return;
    }
    struct handle *h = slot_new(s, ci, fd, H_LISTEN, EPOLLIN);
    if (h == NULL) {
        close(fd);
        complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    complete(s, ci, req, handle_id(s, h));
}

/* Completes pending accepts of listener h while connections are waiting. */
static void try_accept(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    while (h->rq != NULL) {
        struct op *o = h->rq;
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        h->rq = o->next;
        if (h->rq == NULL)
            h->rq_tl = &h->rq;
        if (fd < 0) {
            complete_errno(s, ci, &o->req, errno);
        } else {
            /* Requests and answers are whole messages: do not let Nagle's
             * algorithm hold back the last segment of one. */
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            struct handle *n = slot_new(s, ci, fd, H_SOCK, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
            if (n == NULL) {
                close(fd);
                complete(s, ci, &o->req, EA_SYS_LIMIT);
            } else {
                complete(s, ci, &o->req, handle_id(s, n));
            }
        }
        op_free(o);
    }
}

static void do_connect(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    struct sockaddr_in sa;
    int fd = tcp_socket(s, ci, req, p, false, &sa);
    if (fd < 0)
        return;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        complete_errno(s, ci, req, e);
        return;
    }
    struct handle *h =
        slot_new(s, ci, fd, rc == 0 ? H_SOCK : H_CONNECTING, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (h == NULL) {
        close(fd);
        complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    if (rc == 0) {
        complete(s, ci, req, handle_id(s, h));
        return;
    }
    struct op *o = calloc(1, sizeof *o);
    if (o == NULL) {
        handle_close(s, h);
        complete(s, ci, req, EA_ERR_NOMEM);
        return;
    }
    o->req = *req;
    *h->rq_tl = o;
    h->rq_tl = &o->next;
}

/* A connect in progress became ready (or it is a stale readiness). */
static void check_connect(struct sys *s, struct handle *h)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (getpeername(h->fd, (struct sockaddr *)&peer, &pl) != 0)
            return; /* still in progress */
    }
    struct op *o = h->rq;
    h->rq = NULL;
    h->rq_tl = &h->rq;
    unsigned ci = (unsigned)h->conn;
    if (err == 0) {
        h->kind = H_SOCK;
        complete(s, ci, &o->req, handle_id(s, h));
    } else {
        handle_close(s, h);
        complete_errno(s, ci, &o->req, err);
    }
    op_free(o);
}

/* Completes pending receives while data (or an end or error) is there. */
static void try_recv(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    while (h->rq != NULL) {
        struct op *o = h->rq;
        ssize_t n = recv(h->fd, s->scratch, o->max, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        h->rq = o->next;
        if (h->rq == NULL)
            h->rq_tl = &h->rq;
        if (n < 0)
            complete_errno(s, ci, &o->req, errno);
        else
            complete_x(s, ci, &o->req, (int32_t)n, 0, 0, s->scratch, (uint32_t)n);
        op_free(o);
    }
}

/* Continues queued sends (and a shutdown behind them) while there is room. */
static void try_send(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    while (h->wq != NULL) {
        struct op *o = h->wq;
        int err = 0;
        if (o->req.op == EA_NET_SEND) {
            while (o->off < o->len) {
                ssize_t n =
                    send(h->fd, o->buf + o->off, o->len - o->off, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    return;
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    err = errno;
                    break;
                }
                o->off += (uint32_t)n;
            }
        } else if (shutdown(h->fd, SHUT_WR) != 0) {
            err = errno;
        }
        h->wq = o->next;
        if (h->wq == NULL)
            h->wq_tl = &h->wq;
        if (err != 0)
            complete_errno(s, ci, &o->req, err);
        else
            complete(s, ci, &o->req, o->req.op == EA_NET_SEND ? (int32_t)o->req.len : 0);
        op_free(o);
    }
}

static struct op *op_new(const ea_sys_msg_t *req)
{
    struct op *o = calloc(1, sizeof *o);
    if (o != NULL)
        o->req = *req;
    return o;
}

static void do_send(struct sys *s, unsigned ci, struct handle *h, const ea_sys_msg_t *req,
                    const uint8_t *p)
{
    uint32_t off = 0;
    if (h->wq == NULL) {
        /* Straight from the message while nothing waits before it. */
        while (off < req->len) {
            ssize_t n = send(h->fd, p + off, req->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n < 0) {
                complete_errno(s, ci, req, errno);
                return;
            }
            off += (uint32_t)n;
        }
        if (off == req->len) {
            complete(s, ci, req, (int32_t)req->len);
            return;
        }
    }
    s->continued++;
    struct op *o = op_new(req);
    if (o != NULL && req->len > off) {
        o->buf = malloc(req->len - off);
        if (o->buf == NULL) {
            free(o);
            o = NULL;
        }
    }
    if (o == NULL) {
        complete(s, ci, req, EA_ERR_NOMEM);
        return;
    }
    /* Only the rest is kept; the completion still counts every byte. */
    o->len = req->len - off;
    memcpy(o->buf, p + off, o->len);
    *h->wq_tl = o;
    h->wq_tl = &o->next;
}

/* -------------------------------------------------------------- files -- */

static void do_open(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    uint32_t f = req->arg;
    int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
    if ((f & ~0x1fu) != 0 || (f & 3u) == 3u) {
        complete(s, ci, req, EA_ERR_INVAL);
        return;
    }
    flags |= (f & 3u) == EA_FILE_WRONLY ? O_WRONLY : (f & 3u) == EA_FILE_RDWR ? O_RDWR : O_RDONLY;
    flags |= (f & EA_FILE_CREAT) ? O_CREAT : 0;
    flags |= (f & EA_FILE_TRUNC) ? O_TRUNC : 0;
    flags |= (f & EA_FILE_APPEND) ? O_APPEND : 0;
    int dfd;
    char base[NAME_MAX + 1];
    if (path_open(s, ci, req, p, &dfd, base, sizeof base) != EA_OK)
        return;
    int fd = openat(dfd, base, flags, 0644);
    int e = errno;
    close(dfd);
    if (fd < 0) {
        if (e == ELOOP) {
            char what[128];
            who(s, ci, what, sizeof what);
            refuse(s, ci, req, "'%s' is a symbolic link: not granted to %s", base, what);
        } else {
            complete_errno(s, ci, req, e);
        }
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        char what[128];
        who(s, ci, what, sizeof what);
        refuse(s, ci, req, "'%s' is not a regular file: not granted to %s", base, what);
        return;
    }
    /* Regular files never block on readiness; only the flag is dropped. */
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct handle *h = slot_new(s, ci, fd, H_FILE, 0);
    if (h == NULL) {
        close(fd);
        complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    complete(s, ci, req, handle_id(s, h));
}

static void do_path_op(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    int dfd;
    char base[NAME_MAX + 1];
    if (path_open(s, ci, req, p, &dfd, base, sizeof base) != EA_OK)
        return;
    if (req->op == EA_FILE_UNLINK) {
        int rc = unlinkat(dfd, base, 0);
        int e = errno;
        close(dfd);
        if (rc != 0)
            complete_errno(s, ci, req, e);
        else
            complete(s, ci, req, 0);
        return;
    }
    struct stat sb;
    int rc = fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    close(dfd);
    if (rc != 0)
        complete_errno(s, ci, req, e);
    else
        complete_x(s, ci, req, 0, (uint32_t)sb.st_mtim.tv_sec, (uint64_t)sb.st_size, NULL, 0);
}

/* ------------------------------------------------------------- timers -- */

static void do_timer_set(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    uint64_t first = req->arg64 != 0 ? req->arg64 : 1; /* 0 would disarm */
    struct itimerspec its = {
        .it_value = {(time_t)(first / 1000000000u), (long)(first % 1000000000u)},
        .it_interval = {(time_t)(req->arg / 1000u), (long)(req->arg % 1000u) * 1000000L}};
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        complete_errno(s, ci, req, errno);
        return;
    }
    struct handle *h = slot_new(s, ci, fd, H_TIMER, EPOLLIN);
    if (h == NULL) {
        close(fd);
        complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    h->timer_req = req->req_id;
    if (timerfd_settime(fd, 0, &its, NULL) != 0) {
        int e = errno;
        handle_close(s, h);
        complete_errno(s, ci, req, e);
        return;
    }
    complete(s, ci, req, handle_id(s, h));
}

static void timer_ready(struct sys *s, struct handle *h)
{
    uint64_t n = 0;
    if (read(h->fd, &n, sizeof n) != (ssize_t)sizeof n || n == 0)
        return;
    if (h->fire != NULL) { /* the last FIRE still waits: count into it */
        h->fire->hdr.arg64 += n;
        return;
    }
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = EA_TIMER_FIRE,
                      .req_id = h->timer_req,
                      .handle = handle_id(s, h),
                      .arg64 = n};
    struct out *o = emit(s, (unsigned)h->conn, &m, NULL);
    if (o != NULL) {
        o->timer = (uint32_t)(h - s->h) + 1;
        h->fire = o;
    }
}

/* ------------------------------------------------------------ requests -- */

static void do_log(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    char line[1024];
    uint32_t n = req->len < sizeof line - 1 ? req->len : (uint32_t)sizeof line - 1;
    memcpy(line, p, n);
    while (n > 0 && line[n - 1] == '\n')
        n--;
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[n] = '\0';
    ea_conn_t *c = ea_conn_at(s->self, ci);
    fprintf(stderr, "[%s/%s] %s\n", eai_domain_name(s->self, s->cl[ci].domain), ea_conn_peer(c),
            line);
}

/* One request from connector ci: `msg` (len bytes) points into its cargo. */
static void request(struct sys *s, unsigned ci, const uint8_t *msg, size_t len)
{
    ea_sys_msg_t req;
    ea_conn_t *c = ea_conn_at(s->self, ci);
    if (len < HDR) {
        ea_sys_msg_t bad = {.handle = -1};
        complete(s, ci, &bad, EA_ERR_INVAL);
        return;
    }
    memcpy(&req, msg, HDR); /* the header is checked on our own copy */
    const uint8_t *p = msg + HDR;
    if (req.magic != EA_SYS_MAGIC || req.len > len - HDR || (req.op & EA_SYS_DONE)) {
        complete(s, ci, &req, EA_ERR_INVAL);
        return;
    }
    struct handle *h = NULL;
    const unsigned net = 1u << H_SOCK;
    switch (req.op) {
    case EA_NET_LISTEN: do_listen(s, ci, &req, p); return;
    case EA_NET_CONNECT: do_connect(s, ci, &req, p); return;
    case EA_FILE_OPEN: do_open(s, ci, &req, p); return;
    case EA_FILE_UNLINK:
    case EA_FILE_STAT: do_path_op(s, ci, &req, p); return;
    case EA_TIMER_SET: do_timer_set(s, ci, &req); return;
    case EA_LOG: do_log(s, ci, &req, p); return;
    case EA_NET_ACCEPT:
        if ((h = lookup(s, ci, req.handle, 1u << H_LISTEN)) == NULL)
            break;
        {
            struct op *o = op_new(&req);
            if (o == NULL) {
                complete(s, ci, &req, EA_ERR_NOMEM);
                return;
            }
            *h->rq_tl = o;
            h->rq_tl = &o->next;
            try_accept(s, h);
        }
        return;
    case EA_NET_RECV:
        if ((h = lookup(s, ci, req.handle, net)) == NULL)
            break;
        if (req.arg == 0) {
            complete(s, ci, &req, EA_ERR_INVAL);
            return;
        }
        {
            struct op *o = op_new(&req);
            if (o == NULL) {
                complete(s, ci, &req, EA_ERR_NOMEM);
                return;
            }
            uint32_t max = payload_max(c);
            o->max = req.arg < max ? req.arg : max;
            *h->rq_tl = o;
            h->rq_tl = &o->next;
            try_recv(s, h);
        }
        return;
    case EA_NET_SEND:
        if ((h = lookup(s, ci, req.handle, net)) == NULL)
            break;
        do_send(s, ci, h, &req, p);
        return;
    case EA_NET_SHUTDOWN:
        if ((h = lookup(s, ci, req.handle, net)) == NULL)
            break;
        {
            struct op *o = op_new(&req);
            if (o == NULL) {
                complete(s, ci, &req, EA_ERR_NOMEM);
                return;
            }
            *h->wq_tl = o;
            h->wq_tl = &o->next;
            try_send(s, h);
        }
        return;
    case EA_NET_CLOSE:
        if ((h = lookup(s, ci, req.handle, net | (1u << H_LISTEN) | (1u << H_CONNECTING))) == NULL)
            break;
        handle_close(s, h);
        complete(s, ci, &req, 0);
        return;
    case EA_FILE_READ: {
        if ((h = lookup(s, ci, req.handle, 1u << H_FILE)) == NULL)
            break;
        uint32_t max = payload_max(c);
        max = req.arg < max ? req.arg : max;
        ssize_t n = pread(h->fd, s->scratch, max, (off_t)req.arg64);
        if (req.arg64 > (uint64_t)INT64_MAX || n < 0)
            complete_errno(s, ci, &req, req.arg64 > (uint64_t)INT64_MAX ? EINVAL : errno);
        else
            complete_x(s, ci, &req, (int32_t)n, 0, 0, s->scratch, (uint32_t)n);
        return;
    }
    case EA_FILE_WRITE: {
        if ((h = lookup(s, ci, req.handle, 1u << H_FILE)) == NULL)
            break;
        uint32_t done = 0;
        int e = req.arg64 > (uint64_t)INT64_MAX - req.len ? EINVAL : 0;
        while (e == 0 && done < req.len) {
            ssize_t n = pwrite(h->fd, p + done, req.len - done, (off_t)(req.arg64 + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                e = n < 0 ? errno : EIO;
                break;
            }
            done += (uint32_t)n;
        }
        if (e != 0)
            complete_errno(s, ci, &req, e);
        else
            complete(s, ci, &req, (int32_t)done);
        return;
    }
    case EA_FILE_FSYNC:
        if ((h = lookup(s, ci, req.handle, 1u << H_FILE)) == NULL)
            break;
        if (fsync(h->fd) != 0)
            complete_errno(s, ci, &req, errno);
        else
            complete(s, ci, &req, 0);
        return;
    case EA_FILE_CLOSE:
    case EA_TIMER_CANCEL:
        if ((h = lookup(s, ci, req.handle, 1u << (req.op == EA_FILE_CLOSE ? H_FILE : H_TIMER))) ==
            NULL)
            break;
        handle_close(s, h);
        complete(s, ci, &req, 0);
        return;
    default: complete(s, ci, &req, EA_ERR_INVAL); return;
    }
    complete(s, ci, &req, EA_SYS_BADHANDLE);
}

/* --------------------------------------------------------- readiness -- */

static void slot_ready(struct sys *s, uint32_t idx)
{
    struct handle *h = slot_of(s, idx);
    if (h == NULL)
        return;
    switch (h->kind) {
    case H_LISTEN: try_accept(s, h); break;
    case H_SOCK:
        try_recv(s, h);
        try_send(s, h);
        break;
    case H_CONNECTING:
        if (h->rq != NULL)
            check_connect(s, h);
        break;
    case H_TIMER: timer_ready(s, h); break;
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
    for (unsigned ci = 0; s->cl != NULL && ci < s->nconn; ci++)
        s->cl[ci].dead = true;
    for (uint32_t i = 0; s->h != NULL && i < NSLOTS; i++)
        if (s->h[i].kind != H_FREE)
            handle_close(s, &s->h[i]);
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

static int sys_ctor(ea_actor_t *self, void *state)
{
    struct sys_state *st = state;
    struct sys *s = calloc(1, sizeof *s);
    if (s == NULL)
        return EA_ERR_NOMEM;
    s->self = self;
    s->epfd = s->evfd = -1;
    s->fds_before = count_fds();
    /* Many sockets: the soft descriptor limit goes up to the hard one. */
    struct rlimit rl;
    /* Room for every handle slot: raise the hard limit too when allowed
     * (root), else take the soft limit up to the hard one. */
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
    const eai_dep_actor_t *da = eai_actor_dep(self);
    s->nconn = ea_conn_count(self);
    s->h = calloc(NSLOTS, sizeof *s->h);
    s->queued = calloc(NSLOTS, sizeof *s->queued);
    s->cl = calloc((size_t)s->nconn + 1, sizeof *s->cl);
    size_t fp = ea_mbox_footprint(NSLOTS);
    s->ready_mem = aligned_alloc(64, fp);
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        uint32_t m = payload_max(ea_conn_at(self, ci));
        s->scratch_len = m > s->scratch_len ? m : s->scratch_len;
    }
    s->scratch = malloc((size_t)s->scratch_len + 1);
    if (s->h == NULL || s->queued == NULL || s->cl == NULL || s->ready_mem == NULL ||
        s->scratch == NULL || ea_mbox_init(&s->ready, s->ready_mem, NSLOTS) != EA_OK) {
        sys_free(s);
        return EA_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < NSLOTS; i++) {
        s->h[i].fd = -1;
        s->h[i].gen = 1;
        s->h[i].next_free = i + 1 < NSLOTS ? i + 1 : EA_NIL;
    }
    s->free_head = 0;
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        struct client *cl = &s->cl[ci];
        cl->tail = &cl->head;
        cl->domain = eai_conn_peer_domain(ea_conn_at(self, ci));
        int want = cl->domain == 0 ? EAI_HOST : cl->domain - 1;
        for (int g = 0; da != NULL && g < da->ngrants; g++)
            if (da->grants[g].enclave == want)
                cl->grant = &da->grants[g];
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EVFD_TAG};
    if (s->epfd < 0 || s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) != 0) {
        fprintf(stderr, "eactors: sys '%s': epoll: %s\n", ea_name(self), strerror(errno));
        sys_free(s);
        return EA_ERR_SYS;
    }
    int rc = pthread_create(&s->io, NULL, io_main, s);
    if (rc != 0) {
        fprintf(stderr, "eactors: sys '%s': cannot start the io thread: %s\n", ea_name(self),
                strerror(rc));
        sys_free(s);
        return EA_ERR_SYS;
    }
    s->io_started = true;
    st->s = s;
    return EA_OK;
}

static int finish(struct sys_state *st, const char *why)
{
    struct sys *s = st->s;
    uint32_t open = s->nopen, total = s->total_opened;
    unsigned long long continued = (unsigned long long)s->continued;
    int before = s->fds_before;
    const char *name = ea_name(s->self);
    sys_free(s);
    st->s = NULL;
    fprintf(stderr,
            "eactors: sys '%s': %s: %u handles open at the end (closed now), %u opened in all, "
            "%llu sends continued; descriptors %d before, %d after\n",
            name, why, open, total, continued, before, count_fds());
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
                do_log(s, ci, &req, (const uint8_t *)cg.data + HDR);
        }
        ea_cargo_release(&cg);
    }
}

static int sys_body(ea_actor_t *self, void *state)
{
    struct sys_state *st = state;
    struct sys *s = st->s;
    if (s == NULL)
        return EA_DONE;
    if (ea_stopping(self))
        return finish(st, "stopped");
    bool more = false;
    unsigned live = 0;
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        ea_conn_t *c = ea_conn_at(self, ci);
        if (!s->cl[ci].ended && (s->cl[ci].dead || !eai_conn_peer_live(c))) {
            last_logs(s, ci);
            client_end(s, ci);
        }
        live += !s->cl[ci].ended;
    }
    if (live == 0)
        return finish(st, "no requester left");
    flush(s);
    more |= drain_ready(s);
    for (unsigned ci = 0; ci < s->nconn; ci++) {
        ea_conn_t *c = ea_conn_at(self, ci);
        for (unsigned n = 0; !s->cl[ci].dead; n++) {
            if (s->cl[ci].nout >= BACKLOG_MAX)
                break; /* back-pressure: the requester reads completions first */
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
            request(s, ci, cg.data, cg.len);
            ea_cargo_release(&cg);
        }
    }
    flush(s);
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
