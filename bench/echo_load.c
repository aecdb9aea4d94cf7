/*
 * ea_bench_echo_load: the load generator of bench/echo.sh, a closed-loop
 * TCP echo client.
 *
 * Design notes.
 *
 * N connections to 127.0.0.1:PORT; each sends one message of SIZE bytes,
 * waits until all SIZE bytes have come back and match, and sends the next:
 * at most one message in flight per connection, so requests/s is N over the
 * mean round trip and the server can never be flooded. One thread, one
 * level-triggered epoll set: the generator itself pays one epoll_wait, one
 * recv and one send per message, the same for every server it measures, so
 * comparing two servers under it compares their costs.
 *
 * A round trip is timed from just before its send to the recv that
 * completes it (CLOCK_MONOTONIC). The first WARMUP seconds are run but not
 * counted (connections and caches settle); then every round trip that
 * completes within the next SECONDS is counted and its time kept, and
 * requests/s is that count over SECONDS. Each message carries the
 * connection's number and a sequence number, so an echo that is short,
 * reordered or mixed up between connections is an error, not a round trip.
 * A connection that fails is closed and counted in errors=; the others go
 * on.
 *
 * Prints one line on stdout:
 *   echo-load conns=N size=B seconds=S requests=R rps=X p50_us=A p99_us=B errors=E
 * and exits 1 when nothing was counted or a connection failed.
 *
 * Usage: ea_bench_echo_load PORT CONNS SECONDS [SIZE [WARMUP]]
 *   (SIZE 64 by default, at most 4096; WARMUP 0.5 s by default)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 4096
#define EVENTS 256

struct conn {
    int fd;
    uint32_t id, seq;
    size_t got;    /* bytes of the current echo received */
    uint64_t sent; /* when the current message was sent, ns */
    unsigned char want[MSG_MAX];
};

struct lat {
    uint64_t *v; /* round-trip times, ns; owned */
    size_t n, cap;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* n connections plus a few: raise the hard limit too when allowed (as
 * tests/sys/sysclient.c does). */
static void raise_nofile(size_t n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_max < n + 64) {
        struct rlimit want = {.rlim_cur = n + 64, .rlim_max = n + 64};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
}

static int lat_push(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 65536;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int connect_one(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends the connection's next message: its id and sequence number, then a
 * pattern that depends on both. Returns -1 when the send failed or was
 * short (a 64-byte send into an empty socket buffer is never short). */
static int send_next(struct conn *c, size_t size)
{
    c->seq++;
    for (size_t i = 0; i < size; i++)
        c->want[i] = (unsigned char)(c->id * 131u + c->seq * 7u + i);
    memcpy(c->want, &c->id, size >= 4 ? 4 : size);
    if (size >= 8)
        memcpy(c->want + 4, &c->seq, 4);
    c->got = 0;
    c->sent = now_ns();
    ssize_t n = send(c->fd, c->want, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n == (ssize_t)size ? 0 : -1;
}

/* Reads what has come back of the current message. Returns 1 when the
 * echo is complete and correct, 0 when more is to come, -1 on failure. */
static int recv_echo(struct conn *c, size_t size)
{
    unsigned char buf[MSG_MAX];
    errno = 0; /* so that a wrong echo is not reported with a stale errno */
    ssize_t n = recv(c->fd, buf, size - c->got, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0 || memcmp(buf, c->want + c->got, (size_t)n) != 0)
        return -1;
    c->got += (size_t)n;
    return c->got == size;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: ea_bench_echo_load PORT CONNS SECONDS [SIZE [WARMUP]]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long nconn = atol(argv[2]);
    double secs = atof(argv[3]), warm = argc > 5 ? atof(argv[5]) : 0.5;
    long size = argc > 4 ? atol(argv[4]) : 64;
    if (port <= 0 || port > 65535 || nconn < 1 || secs <= 0 || warm < 0 || size < 1 ||
        size > MSG_MAX) {
        fprintf(stderr, "echo_load: bad arguments\n");
        return 2;
    }
    raise_nofile((size_t)nconn);
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (cs == NULL || ep < 0) {
        perror("echo_load: setup");
        return 1;
    }
    for (long i = 0; i < nconn; i++) {
        cs[i].id = (uint32_t)i;
        cs[i].fd = connect_one(port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (cs[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0) {
            fprintf(stderr, "echo_load: connection %ld of %ld: %s\n", i + 1, nconn,
                    strerror(errno));
            return 1;
        }
    }

    struct lat lat = {0};
    long live = nconn, errors = 0;
    uint64_t t0 = now_ns();
    uint64_t from = t0 + (uint64_t)(warm * 1e9), to = from + (uint64_t)(secs * 1e9);
    for (long i = 0; i < nconn; i++)
        if (send_next(&cs[i], (size_t)size) < 0) {
            close(cs[i].fd);
            cs[i].fd = -1;
            errors++;
            live--;
        }
    struct epoll_event evs[EVENTS];
    uint64_t t = now_ns();
    while (live > 0 && t < to) {
        int wait_ms = (int)((to - t) / 1000000u) + 1;
        int n = epoll_wait(ep, evs, EVENTS, wait_ms);
        if (n < 0 && errno != EINTR) {
            perror("echo_load: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            int r = recv_echo(c, (size_t)size);
            if (r == 1) {
                t = now_ns();
                if (t >= from && t < to && lat_push(&lat, t - c->sent) < 0) {
                    fprintf(stderr, "echo_load: out of memory\n");
                    return 1;
                }
                if (t < to)
                    r = send_next(c, (size_t)size);
            }
            if (r < 0) {
                fprintf(stderr, "echo_load: connection %u failed (%s)\n", c->id,
                        errno ? strerror(errno) : "short or wrong echo");
                close(c->fd);
                c->fd = -1;
                errors++;
                live--;
            }
        }
        t = now_ns();
    }

    double p50 = 0, p99 = 0;
    if (lat.n > 0) {
        qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
        p50 = (double)lat.v[lat.n / 2] / 1e3;
        p99 = (double)lat.v[lat.n * 99 / 100] / 1e3;
    }
    printf("echo-load conns=%ld size=%ld seconds=%.3f requests=%zu rps=%.1f p50_us=%.2f "
           "p99_us=%.2f errors=%ld\n",
           nconn, size, secs, lat.n, (double)lat.n / secs, p50, p99, errors);
    for (long i = 0; i < nconn; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    free(lat.v);
    close(ep);
    return lat.n > 0 && errors == 0 ? 0 : 1;
}
