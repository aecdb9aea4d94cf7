/*
 * Test client for the system actor's echo test: opens N TCP connections to
 * 127.0.0.1:PORT at once (all connected before any byte is sent), sends
 * BYTES bytes of a per-connection pattern on each and checks that every byte
 * comes back in order. Modes:
 *   echo   then shut down writing on every connection (only once all are
 *          echoed) and wait for the server's close (EOF);
 *   slow   as echo, but with a 4 KiB receive buffer and a pause after every
 *          read of at most 1 KiB (the server's sends go partial);
 *   reset  close each connection with a reset (SO_LINGER 0) once echoed.
 * Usage: sysclient PORT N BYTES MODE. Exit 0 if every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct cn {
    int fd;
    int state; /* 0 connecting, 1 echoing, 2 echoed, 3 shut, 4 closed */
    size_t sent, got;
};

static unsigned char pat(size_t conn, size_t i)
{
    return (unsigned char)(conn * 131 + i * 7 + (i >> 8));
}

static int fail(const char *what)
{
    fprintf(stderr, "sysclient: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sysclient PORT N BYTES echo|slow|reset\n");
        return 2;
    }
    int port = atoi(argv[1]);
    size_t n = (size_t)atol(argv[2]), bytes = (size_t)atol(argv[3]);
    const char *mode = argv[4];
    int slow = strcmp(mode, "slow") == 0, reset = strcmp(mode, "reset") == 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        /* n sockets plus a few: raise the hard limit too when allowed. */
        if (rl.rlim_max < n + 64) {
            struct rlimit want = {.rlim_cur = n + 64, .rlim_max = n + 64};
            if (setrlimit(RLIMIT_NOFILE, &want) == 0)
                rl = want;
        }
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct cn *c = calloc(n, sizeof *c);
    unsigned char *buf = malloc(65536);
    int ep = epoll_create1(0);
    if (c == NULL || buf == NULL || ep < 0)
        return fail("setup");
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (size_t i = 0; i < n; i++) {
        c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c[i].fd < 0)
            return fail("socket");
        if (slow) {
            int sz = 4096;
            setsockopt(c[i].fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        }
        if (connect(c[i].fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
            return fail("connect");
        struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) != 0)
            return fail("epoll_ctl");
    }
    size_t connected = 0, echoed = 0, closed = 0;
    struct epoll_event evs[512];
    time_t start = time(NULL);
    while (closed < n) {
        if (time(NULL) - start > 100) {
            fprintf(stderr, "sysclient: timeout: connected %zu echoed %zu closed %zu\n", connected,
                    echoed, closed);
            return 1;
        }
        int k = epoll_wait(ep, evs, 512, 1000);
        if (k < 0 && errno != EINTR)
            return fail("epoll_wait");
        for (int e = 0; e < k; e++) {
            size_t i = evs[e].data.u64;
            struct cn *x = &c[i];
            if (x->state == 0) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                    errno = err;
                    return fail("connect (async)");
                }
                x->state = 1;
                struct epoll_event ev = {.events = 0, .data.u64 = i};
                epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                if (++connected == n) /* all open at once: now send */
                    for (size_t j = 0; j < n; j++) {
                        struct epoll_event ev2 = {.events = EPOLLIN | EPOLLOUT, .data.u64 = j};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c[j].fd, &ev2);
                    }
                continue;
            }
            if ((evs[e].events & EPOLLOUT) && x->state == 1 && x->sent < bytes) {
                size_t m = bytes - x->sent < 65536 ? bytes - x->sent : 65536;
                for (size_t b = 0; b < m; b++)
                    buf[b] = pat(i, x->sent + b);
                ssize_t r = send(x->fd, buf, m, MSG_NOSIGNAL);
                if (r < 0 && errno != EAGAIN)
                    return fail("send");
                if (r > 0)
                    x->sent += (size_t)r;
                if (x->sent == bytes) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                }
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t r = recv(x->fd, buf, slow ? 1024 : 65536, 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r < 0)
                return fail("recv");
            if (r == 0) {
                if (x->state != 3) {
                    fprintf(stderr, "sysclient: conn %zu: early EOF after %zu bytes\n", i, x->got);
                    return 1;
                }
                close(x->fd);
                x->state = 4;
                closed++;
                continue;
            }
            for (ssize_t b = 0; b < r; b++)
                if (x->got + (size_t)b >= bytes || buf[b] != pat(i, x->got + (size_t)b)) {
                    fprintf(stderr, "sysclient: conn %zu: bad byte at %zu\n", i,
                            x->got + (size_t)b);
                    return 1;
                }
            x->got += (size_t)r;
            if (slow) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
            if (x->got == bytes && x->state == 1) {
                x->state = 2;
                if (reset) {
                    struct linger lg = {1, 0};
                    setsockopt(x->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                    close(x->fd);
                    x->state = 4;
                    closed++;
                }
                if (++echoed == n && !reset) /* every connection echoed: now end them */
                    for (size_t j = 0; j < n; j++) {
                        shutdown(c[j].fd, SHUT_WR);
                        c[j].state = 3;
                    }
            }
        }
    }
    printf("sysclient ok: mode=%s conns=%zu bytes=%zu\n", mode, n, bytes);
    close(ep);
    free(buf);
    free(c);
    return 0;
}
