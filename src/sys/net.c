/*
 * The system actor's sockets: LISTEN, ACCEPT, CONNECT, RECV, SEND, SHUTDOWN
 * and CLOSE on TCP over IPv4.
 *
 * Design notes.
 *
 * Readiness. Every socket is non-blocking and registered edge-triggered
 * (eai_sys_handle_new), and an edge is reported once. So an operation is
 * tried when it is asked for, and again on each readiness report, and every
 * try goes on until the kernel says EAGAIN: no data, connection or room the
 * kernel had at an edge is left behind without a later edge to report it.
 * One exception saves a system call per message: a recv that returned fewer
 * bytes than asked emptied the socket's queue, and bytes that arrive after
 * it make a new edge, so until a readiness report for the handle comes
 * (any report clears the mark, sys.c slot_ready) a new RECV waits for it
 * instead of asking the kernel to say EAGAIN.
 *
 * Order. Operations that cannot finish at once wait on their handle in two
 * FIFOs, served only from the head: `rq` for accepts, receives and the
 * connect, `wq` for sends and shutdowns. Completions therefore come in the
 * order of the requests, and a shutdown never cuts off the bytes of a send
 * asked for before it. A send is written straight from the request while
 * nothing waits before it; only the bytes the kernel did not take are copied
 * and continued, and its completion still counts every byte.
 *
 * Connecting. A connect that is in progress is finished on the first
 * readiness report that shows a result: SO_ERROR, and getpeername to tell a
 * connected socket from a report that came before the end of the handshake.
 * Until then the handle accepts nothing but CLOSE.
 *
 * Rights. The port of LISTEN and CONNECT is checked against the grant before
 * any socket is made; every other request acts on a handle the requester
 * owns (eai_sys_handle_get).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys/sys_int.h"

/* Handle kinds data requests act on. */
#define STREAM (1u << H_SOCK)

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
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)req->arg);
    if (req->arg < 1 || req->arg > 65535 || !parse_addr(p, req->len, &sa->sin_addr, listen)) {
        eai_sys_complete(s, ci, req, EA_ERR_INVAL);
        return -1;
    }
    if (!eai_sys_port_granted(s, ci, listen, req->arg)) {
        char what[128];
        eai_sys_who(s, ci, what, sizeof what);
        eai_sys_refuse(s, ci, req, "%s port %u is not granted to %s",
                       listen ? "listen on" : "connect to", req->arg, what);
        return -1;
    }
    if (!eai_sys_may_open(s, ci, req, listen ? H_LISTEN : H_SOCK))
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        eai_sys_complete_errno(s, ci, req, errno);
    return fd;
}

/* Appends o to the FIFO whose tail link is *tl. */
static void op_append(struct op ***tl, struct op *o)
{
    **tl = o;
    *tl = &o->next;
}

/* Takes the head off the FIFO q (tail link *tl); returns it. */
static struct op *op_take(struct op **q, struct op ***tl)
{
    struct op *o = *q;
    *q = o->next;
    if (*q == NULL)
        *tl = q;
    return o;
}

/* ---------------------------------------------------------- readiness -- */

/* Completes pending accepts of listener h while connections are waiting. */
static void try_accept(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    while (h->rq != NULL) {
        /* At its handle limit the requester's accepts fail, and the
         * connections wait in the kernel's backlog meanwhile. */
        if (!eai_sys_may_open(s, ci, &h->rq->req, H_SOCK)) {
            eai_sys_op_free(s, op_take(&h->rq, &h->rq_tl));
            continue;
        }
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        struct op *o = op_take(&h->rq, &h->rq_tl);
        if (fd < 0) {
            eai_sys_complete_errno(s, ci, &o->req, errno);
        } else {
            /* Requests and answers are whole messages: do not let Nagle's
             * algorithm hold back the last segment of one. */
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            struct handle *n =
                eai_sys_handle_new(s, ci, fd, H_SOCK, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
            if (n == NULL) {
                close(fd);
                eai_sys_complete(s, ci, &o->req, EA_SYS_LIMIT);
            } else {
                eai_sys_complete(s, ci, &o->req, eai_sys_handle_id(s, n));
            }
        }
        eai_sys_op_free(s, o);
    }
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
        eai_sys_complete(s, ci, &o->req, eai_sys_handle_id(s, h));
    } else {
        eai_sys_handle_close(s, h);
        eai_sys_complete_errno(s, ci, &o->req, err);
    }
    eai_sys_op_free(s, o);
}

/* Completes pending receives while data (or an end or error) is there.
 * The bytes go straight into the message their completion travels in
 * when it can leave in order (eai_sys_out_reserve), else into s->scratch
 * and are copied. */
static void try_recv(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    while (h->rq != NULL && !h->rd_empty) {
        ea_cargo_t cg;
        uint8_t *dst = eai_sys_out_reserve(s, ci, &h->rq->req, h->rq->max, &cg);
        bool direct = dst != NULL;
        ssize_t n = recv(h->fd, direct ? dst : s->scratch, h->rq->max, MSG_DONTWAIT);
        int e = errno;
        if (direct && n <= 0)
            eai_sys_out_cancel(&cg); /* nothing to carry but a status */
        if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
            h->rd_empty = true;
            return;
        }
        if (n < 0 && e == EINTR)
            continue;
        /* A short read emptied the queue: bytes that come later make a new
         * edge, so the next receive need not ask first. */
        h->rd_empty = n > 0 && (uint32_t)n < h->rq->max;
        struct op *o = op_take(&h->rq, &h->rq_tl);
        if (n < 0)
            eai_sys_complete_errno(s, ci, &o->req, e);
        else if (direct && n > 0)
            eai_sys_out_commit(s, ci, &o->req, (int32_t)n, &cg, (uint32_t)n);
        else
            eai_sys_complete_x(s, ci, &o->req, (int32_t)n, 0, 0, s->scratch, (uint32_t)n);
        eai_sys_op_free(s, o);
    }
}

/* Writes the rest of the send o; 0 when every byte is out, EAGAIN when the
 * socket is full, else the error. */
static int send_rest(struct handle *h, struct op *o)
{
    while (o->off < o->len) {
        ssize_t n = send(h->fd, o->buf + o->off, o->len - o->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return EAGAIN;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        o->off += (uint32_t)n;
    }
    return 0;
}

/* Continues queued sends (and a shutdown behind them) while there is room. */
static void try_send(struct sys *s, struct handle *h)
{
    unsigned ci = (unsigned)h->conn;
    while (h->wq != NULL) {
        struct op *o = h->wq;
        int err = 0;
        if (o->req.op == EA_NET_SEND) {
            err = send_rest(h, o);
            if (err == EAGAIN)
                return;
        } else if (shutdown(h->fd, SHUT_WR) != 0) {
            err = errno;
        }
        op_take(&h->wq, &h->wq_tl);
        if (err != 0)
            eai_sys_complete_errno(s, ci, &o->req, err);
        else
            eai_sys_complete(s, ci, &o->req, o->req.op == EA_NET_SEND ? (int32_t)o->req.len : 0);
        eai_sys_op_free(s, o);
    }
}

void eai_sys_net_ready(struct sys *s, struct handle *h)
{
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
    }
}

/* ----------------------------------------------------------- requests -- */

static void do_listen(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    if ((req->arg64 & ~(uint64_t)EA_NET_LISTEN_SHARED) != 0) {
        eai_sys_complete(s, ci, req, EA_ERR_INVAL);
        return;
    }
    struct sockaddr_in sa;
    int fd = tcp_socket(s, ci, req, p, true, &sa);
    if (fd < 0)
        return;
    int one = 1;
    /* Shared: every listener that asked for it on this port (each one
     * granted the port) gets a share of the connections from the kernel;
     * a listener that did not ask keeps the port to itself. */
    bool shared = (req->arg64 & EA_NET_LISTEN_SHARED) != 0;
    if ((shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        eai_sys_complete_errno(s, ci, req, e);
        return;
    }
    struct handle *h = eai_sys_handle_new(s, ci, fd, H_LISTEN, EPOLLIN);
    if (h == NULL) {
        close(fd);
        eai_sys_complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    eai_sys_complete(s, ci, req, eai_sys_handle_id(s, h));
}

static void do_accept(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, 1u << H_LISTEN);
    if (h == NULL)
        return;
    struct op *o = eai_sys_op_new(s, ci, req, 0);
    if (o == NULL)
        return;
    op_append(&h->rq_tl, o);
    try_accept(s, h);
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
        eai_sys_complete_errno(s, ci, req, e);
        return;
    }
    struct handle *h = eai_sys_handle_new(s, ci, fd, rc == 0 ? H_SOCK : H_CONNECTING,
                                          EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (h == NULL) {
        close(fd);
        eai_sys_complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    if (rc == 0) {
        eai_sys_complete(s, ci, req, eai_sys_handle_id(s, h));
        return;
    }
    struct op *o = eai_sys_op_new(s, ci, req, 0);
    if (o == NULL) {
        eai_sys_handle_close(s, h);
        return;
    }
    op_append(&h->rq_tl, o);
}

static void do_recv(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, STREAM);
    if (h == NULL)
        return;
    if (req->arg == 0) {
        eai_sys_complete(s, ci, req, EA_ERR_INVAL);
        return;
    }
    struct op *o = eai_sys_op_new(s, ci, req, 0);
    if (o == NULL)
        return;
    uint32_t max = eai_sys_payload_max(ea_conn_at(s->self, ci));
    o->max = req->arg < max ? req->arg : max;
    op_append(&h->rq_tl, o);
    try_recv(s, h);
}

/* Writes what the socket takes of a send straight from the request; returns
 * the bytes written, or -1 once the request has been completed with the
 * error. */
static int64_t send_direct(struct sys *s, unsigned ci, struct handle *h, const ea_sys_msg_t *req,
                           const uint8_t *p)
{
    uint32_t off = 0;
    while (off < req->len) {
        ssize_t n = send(h->fd, p + off, req->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            eai_sys_complete_errno(s, ci, req, errno);
            return -1;
        }
        off += (uint32_t)n;
    }
    return off;
}

/* Queues the bytes of a send from `off` on, to be continued on readiness. */
static void send_later(struct sys *s, unsigned ci, struct handle *h, const ea_sys_msg_t *req,
                       const uint8_t *p, uint32_t off)
{
    s->continued++;
    /* Only the rest is kept (counted against queued=); the completion
     * still counts every byte. */
    struct op *o = eai_sys_op_new(s, ci, req, req->len - off);
    if (o == NULL)
        return;
    o->len = req->len - off;
    if (o->len > 0) /* a zero-length send behind others has no buffer */
        memcpy(o->buf, p + off, o->len);
    op_append(&h->wq_tl, o);
}

static void do_send(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, STREAM);
    if (h == NULL)
        return;
    uint32_t off = 0;
    if (h->wq == NULL) {
        /* Straight from the message while nothing waits before it. */
        int64_t n = send_direct(s, ci, h, req, p);
        if (n < 0)
            return;
        off = (uint32_t)n;
        if (off == req->len) {
            eai_sys_complete(s, ci, req, (int32_t)req->len);
            return;
        }
    }
    send_later(s, ci, h, req, p, off);
}

static void do_shutdown(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, STREAM);
    if (h == NULL)
        return;
    struct op *o = eai_sys_op_new(s, ci, req, 0);
    if (o == NULL)
        return;
    op_append(&h->wq_tl, o);
    try_send(s, h);
}

void eai_sys_net(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    switch (req->op) {
    case EA_NET_LISTEN: do_listen(s, ci, req, p); break;
    case EA_NET_ACCEPT: do_accept(s, ci, req); break;
    case EA_NET_CONNECT: do_connect(s, ci, req, p); break;
    case EA_NET_RECV: do_recv(s, ci, req); break;
    case EA_NET_SEND: do_send(s, ci, req, p); break;
    case EA_NET_SHUTDOWN: do_shutdown(s, ci, req); break;
    case EA_NET_CLOSE:
        eai_sys_close(s, ci, req, STREAM | 1u << H_LISTEN | 1u << H_CONNECTING);
        break;
    }
}
