/*
 * ea_bench_epoll_echo: the floor of bench/echo.sh, a plain TCP echo server
 * with nothing but the kernel in the path.
 *
 * Design notes.
 *
 * One thread, one epoll set, level-triggered, non-blocking sockets: the
 * least a user-space server pays per echoed message is one epoll_wait that
 * reports the socket, one recv and one send (plus the kernel's loopback
 * work, which the eactors system actor pays too). Whatever examples/echo
 * adds on top of that (the hand-over from the system actor's io thread to
 * its worker, the channel to the enclave and back) is its overhead, so the
 * ratio eactors / this is "hops per event" made visible.
 *
 * Level-triggered because it needs no drain loop: each readiness report
 * costs one recv of up to 64 KiB, and a message that arrived in pieces is
 * simply reported again. A send that does not take every byte (never at the
 * 64-byte messages of the bench, but a client could stop reading) keeps the
 * rest in the connection's buffer and swaps the interest from EPOLLIN to
 * EPOLLOUT until it is out, so one slow reader never makes the server
 * buffer without bound. Sockets get TCP_NODELAY, as the system actor's do.
 *
 * It prints "listening PORT" on stdout once it accepts, and exits 0 on
 * SIGINT or SIGTERM. The CPUs are the caller's business (bench/echo.sh
 * starts it under taskset).
 *
 * Usage: ea_bench_epoll_echo PORT
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_BYTES 65536
#define EVENTS 256

struct conn {
    int fd;
    size_t off, len; /* unsent bytes of buf: [off, off + len) */
    unsigned char buf[BUF_BYTES];
};

static volatile sig_atomic_t stop; /* set by the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The descriptor limit up to its hard limit, so that the bench's largest
 * connection count is not refused by the default soft limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void drop(int ep, struct conn *c)
{
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Accepts every pending connection; a failed allocation or epoll_ctl
 * closes that one connection and goes on. */
static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: try again on the next event */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

/* Sends what is pending; returns 0 when all is out, 1 when some is left,
 * -1 when the connection failed. */
static int flush(struct conn *c)
{
    while (c->len > 0) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        c->off += (size_t)n;
        c->len -= (size_t)n;
    }
    c->off = 0;
    return 0;
}

/* One readiness report of a connection: read and echo, or continue a
 * partial send. Returns -1 when the connection is to be dropped. */
static int serve(int ep, struct conn *c, uint32_t events)
{
    if (c->len == 0) {
        ssize_t n = recv(c->fd, c->buf, BUF_BYTES, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return -1;
        if (n < 0)
            return 0;
        c->len = (size_t)n;
    } else if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) {
        return 0;
    }
    int left = flush(c);
    if (left < 0)
        return -1;
    /* Swap the interest only when it changes: left over -> wait for room,
     * all out after a wait for room -> read again. */
    struct epoll_event ev = {.events = left ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    if ((left && !(events & EPOLLOUT)) || (!left && (events & EPOLLOUT)))
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: ea_bench_epoll_echo PORT\n");
        return 2;
    }
    raise_nofile();
    struct sigaction sa = {.sa_handler = on_signal};
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
        perror("epoll_echo: sigaction");
        return 1;
    }
    int lfd = listen_on(atoi(argv[1]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (lfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("epoll_echo: listen");
        return 1;
    }
    printf("listening %s\n", argv[1]);
    fflush(stdout);
    struct epoll_event evs[EVENTS];
    while (!stop) {
        int n = epoll_wait(ep, evs, EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_echo: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL)
                accept_all(ep, lfd);
            else if (serve(ep, c, evs[i].events) < 0)
                drop(ep, c);
        }
    }
    return 0;
}
