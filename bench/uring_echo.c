/*
 * ea_bench_uring_echo: the io_uring counterpart of ea_bench_epoll_echo, for
 * bench/echo.sh: a plain TCP echo server whose receives and sends are
 * io_uring operations (Debian's liburing) instead of readiness reports
 * and system calls, so that the two ways of doing the data path are
 * compared with the same load generator in the same run.
 *
 * Design notes.
 *
 * One thread, one ring. Each connection always has exactly one operation
 * in the ring: a receive into its buffer, or the send of what that receive
 * got (continued until every byte is out, then the next receive). A
 * multishot accept takes new connections. The loop is one
 * io_uring_submit_and_wait per round: it hands the kernel every operation
 * the previous round's completions asked for and sleeps until at least
 * one completes, so a round of N ready connections costs one system call
 * where the epoll server makes 1 + 2N (epoll_wait, recv and send each).
 * The ring is set up single-issuer with deferred task running where the
 * kernel has it (6.1), else cooperative task running, else plain.
 *
 * user_data is the connection's address with the operation in its low bit
 * (connections are 8-aligned); the listener's accept has user_data 0.
 *
 * It prints "listening PORT" on stdout once it accepts, and exits 0 on
 * SIGINT or SIGTERM. Usage: ea_bench_uring_echo PORT
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_BYTES 65536
#define RING_ENTRIES 4096
#define OP_SEND 1u

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
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

/* A free submission entry, submitting what is queued when none is left. */
static struct io_uring_sqe *sqe_get(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    while (sqe == NULL) {
        if (io_uring_submit(ring) < 0)
            return NULL;
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static int arm_accept(struct io_uring *ring, int lfd)
{
    struct io_uring_sqe *sqe = sqe_get(ring);
    if (sqe == NULL)
        return -1;
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, 0);
    return 0;
}

static int arm_recv(struct io_uring *ring, struct conn *c)
{
    struct io_uring_sqe *sqe = sqe_get(ring);
    if (sqe == NULL)
        return -1;
    io_uring_prep_recv(sqe, c->fd, c->buf, BUF_BYTES, 0);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c);
    return 0;
}

static int arm_send(struct io_uring *ring, struct conn *c)
{
    struct io_uring_sqe *sqe = sqe_get(ring);
    if (sqe == NULL)
        return -1;
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_SEND);
    return 0;
}

static void drop(struct conn *c)
{
    close(c->fd);
    free(c);
}

static void on_accept(struct io_uring *ring, int lfd, const struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE) && !stop)
        (void)arm_accept(ring, lfd); /* the multishot ended: ask again */
    if (cqe->res < 0)
        return; /* out of descriptors and the like: the next one may work */
    int fd = cqe->res, one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = malloc(sizeof *c);
    if (c == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->off = c->len = 0;
    if (arm_recv(ring, c) < 0)
        drop(c);
}

/* A receive or send of connection c completed with `res`. */
static void on_io(struct io_uring *ring, struct conn *c, bool send, int res)
{
    if (!send) {
        if (res <= 0 && res != -EAGAIN && res != -EINTR) {
            drop(c); /* end of stream or an error */
            return;
        }
        if (res > 0) {
            c->off = 0;
            c->len = (size_t)res;
            if (arm_send(ring, c) < 0)
                drop(c);
        } else if (arm_recv(ring, c) < 0) {
            drop(c);
        }
        return;
    }
    if (res < 0 && res != -EAGAIN && res != -EINTR) {
        drop(c);
        return;
    }
    if (res > 0) {
        c->off += (size_t)res;
        c->len -= (size_t)res;
    }
    if ((c->len > 0 ? arm_send(ring, c) : arm_recv(ring, c)) < 0)
        drop(c);
}

static int ring_init(struct io_uring *ring)
{
    if (io_uring_queue_init(RING_ENTRIES, ring,
                            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN) == 0)
        return 0;
    if (io_uring_queue_init(RING_ENTRIES, ring,
                            IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG) == 0)
        return 0;
    return io_uring_queue_init(RING_ENTRIES, ring, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: ea_bench_uring_echo PORT\n");
        return 2;
    }
    raise_nofile();
    struct sigaction sa = {.sa_handler = on_signal};
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
        perror("uring_echo: sigaction");
        return 1;
    }
    int lfd = listen_on(atoi(argv[1]));
    struct io_uring ring;
    int rc = lfd < 0 ? -errno : ring_init(&ring);
    if (rc < 0) {
        fprintf(stderr, "uring_echo: set-up: %s\n", strerror(-rc));
        return 1;
    }
    if (arm_accept(&ring, lfd) < 0) {
        fprintf(stderr, "uring_echo: no submission entry\n");
        return 1;
    }
    printf("listening %s\n", argv[1]);
    fflush(stdout);
    while (!stop) {
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "uring_echo: io_uring_enter: %s\n", strerror(-rc));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            n++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud == 0)
                on_accept(&ring, lfd, cqe);
            else
                on_io(&ring, (struct conn *)(uintptr_t)(ud & ~(uint64_t)OP_SEND),
                      (ud & OP_SEND) != 0, cqe->res);
        }
        io_uring_cq_advance(&ring, n);
    }
    io_uring_queue_exit(&ring);
    close(lfd);
    return 0;
}
