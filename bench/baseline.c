/*
 * ea_bench_baseline: the two numbers the pingpong benchmark is read against.
 *
 * Design notes.
 *
 * `floor` is the least any design can pay to move `size` bytes from CPU 0
 * to CPU 1 and back through shared memory: thread A (CPU 0) writes every
 * byte of a request buffer, then stores an odd value into a shared counter;
 * thread B (CPU 1) spins until it sees that value, reads and checks every
 * byte, writes every byte of a response buffer and stores the next (even)
 * value; A spins for it and reads every byte of the response. At 16 bytes
 * this is one cache-line bounce each way. No queue, no allocation, no
 * scheduler: whatever eactors adds on top of this is its overhead.
 *
 * `pipe-call` is the call-per-message design the actor runtime replaces:
 * two processes (fork), parent on CPU 0 and child on CPU 1, doing a
 * synchronous request/response over a Unix SOCK_STREAM socketpair with the
 * kernel's default buffer sizes. Each message costs at least one write and
 * one read system call on each side plus a wakeup of the blocked peer.
 *
 * Both measure every round trip with clock_gettime(CLOCK_MONOTONIC) on the
 * CPU 0 side, after a warm-up, and print the median, the 99th percentile and
 * 2 * rounds / elapsed (messages per second, both directions counted) as CSV
 * rows with the columns of bench/run.sh.
 *
 * The round-trip window is the one examples/pingpong measures, so the
 * columns compare like with like: it opens before the CPU 0 side writes its
 * request and closes after it has read and checked every byte of the
 * response. Inside it: all four passes over the bytes (request written and
 * read, response written and read) and the hand-over each way (and, for
 * pipe-call, the system calls and the kernel's copies).
 *
 * Why the floor is race-free: the buffers are plain memory; every access to
 * them is ordered by the counter. A writes the request, then stores 2r+1 with
 * release; B loads 2r+1 with acquire, so it sees the whole request. B writes
 * the response and stores 2r+2 with release; A loads it with acquire. Until
 * a side publishes, the other only spins on the counter, so the buffers
 * never have a concurrent writer and reader.
 *
 * Usage: ea_bench_baseline [--sizes 16,1024,...] [--rounds N] [--no-header]
 * The rounds used for a size are max(200, min(N, N * 1024 / size)), the same
 * scaling bench/run.sh uses for the runtime, so both columns are comparable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#endif
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 32

/* The shared state of the floor benchmark. `turn` is written by both threads
 * in strict alternation and sits alone on its cache line so that the bounce
 * measured is that line's and nothing else's. The buffers are written by one
 * side and read by the other, handed over by `turn`. */
struct floor_shared {
    alignas(64) _Atomic uint64_t turn;
    char pad[64 - sizeof(uint64_t)];
    uint8_t *req;  /* written by A, read by B */
    uint8_t *resp; /* written by B, read by A */
    size_t size;
    uint64_t total;    /* rounds including warm-up; read-only once started */
    uint64_t errors_b; /* written by B only, read by A after join */
};
static_assert(offsetof(struct floor_shared, req) == 64, "turn must own its cache line");

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pins the calling thread; a failure is reported, and the benchmark goes on
 * (its numbers are then unpinned, which the warning says). */
static void pin_self(int cpu, const char *who)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        fprintf(stderr, "ea_bench_baseline: warning: cannot pin %s to CPU %d: %s\n", who, cpu,
                strerror(rc));
}

/* Writes every byte of a message; the same pattern as examples/pingpong. */
static void fill(uint8_t *p, size_t len, uint8_t b)
{
    memset(p, b, len);
}

/* Reads every byte of a message; returns 1 when all equal `b`. */
static int check(const uint8_t *p, size_t len, uint8_t b)
{
    uint8_t bad = 0;
    for (size_t i = 0; i < len; i++)
        bad |= (uint8_t)(p[i] ^ b);
    return bad == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rounds_for(uint64_t n, size_t size)
{
    uint64_t r = size > 1024 ? n * 1024 / size : n;
    return r < 200 ? 200 : r;
}

static uint64_t warmup_for(uint64_t rounds)
{
    uint64_t w = rounds / 10;
    return w < 50 ? 50 : w;
}

/* Sorts `rtt` and prints one CSV row. */
static void report(const char *placement, size_t size, uint64_t *rtt, uint64_t rounds,
                   uint64_t elapsed_ns)
{
    qsort(rtt, rounds, sizeof *rtt, cmp_u64);
    uint64_t p99i = rounds * 99 / 100;
    if (p99i >= rounds)
        p99i = rounds - 1;
    printf("pingpong,%s,%zu,%llu,%llu,%llu,%.0f\n", placement, size, (unsigned long long)rounds,
           (unsigned long long)rtt[rounds / 2], (unsigned long long)rtt[p99i],
           2.0 * (double)rounds / ((double)elapsed_ns / 1e9));
    fflush(stdout);
}

/* Thread B of the floor: answers every request. */
static void *floor_b(void *arg)
{
    struct floor_shared *sh = arg;
    pin_self(1, "floor thread B");
    for (uint64_t r = 0; r < sh->total; r++) {
        uint64_t want = 2 * r + 1;
        /* Acquire pairs with A's release store of 2r+1: the request is
         * complete when the value is seen. */
        while (atomic_load_explicit(&sh->turn, memory_order_acquire) != want)
            ;
        if (!check(sh->req, sh->size, (uint8_t)r))
            sh->errors_b++;
        fill(sh->resp, sh->size, (uint8_t)(r ^ 0x5a));
        /* Release publishes the response to A's acquire load of 2r+2. */
        atomic_store_explicit(&sh->turn, want + 1, memory_order_release);
    }
    return NULL;
}

static void free_all(struct floor_shared *sh, uint64_t *rtt, uint8_t *req, uint8_t *resp)
{
    free(sh);
    free(rtt);
    free(req);
    free(resp);
}

static int bench_floor(size_t size, uint64_t rounds)
{
    struct floor_shared *sh = aligned_alloc(64, sizeof *sh);
    uint64_t *rtt = calloc(rounds, sizeof *rtt);
    size_t bufsz = (size + 63) / 64 * 64;
    uint8_t *req = aligned_alloc(64, bufsz), *resp = aligned_alloc(64, bufsz);
    if (sh == NULL || rtt == NULL || req == NULL || resp == NULL) {
        fprintf(stderr, "ea_bench_baseline: out of memory\n");
        free_all(sh, rtt, req, resp);
        return -1;
    }
    memset(sh, 0, sizeof *sh);
    atomic_init(&sh->turn, 0);
    memset(req, 0, bufsz);
    memset(resp, 0, bufsz);
    sh->req = req;
    sh->resp = resp;
    sh->size = size;
    uint64_t warm = warmup_for(rounds);
    sh->total = warm + rounds;

    pin_self(0, "floor thread A");
    pthread_t tb;
    int rc = pthread_create(&tb, NULL, floor_b, sh);
    if (rc != 0) {
        fprintf(stderr, "ea_bench_baseline: pthread_create: %s\n", strerror(rc));
        free_all(sh, rtt, req, resp);
        return -1;
    }
    uint64_t errors = 0, t_start = 0;
    for (uint64_t r = 0; r < sh->total; r++) {
        if (r == warm)
            t_start = now_ns();
        uint64_t t0 = now_ns();
        fill(req, size, (uint8_t)r);
        /* Release publishes the request to B's acquire load of 2r+1. */
        atomic_store_explicit(&sh->turn, 2 * r + 1, memory_order_release);
        /* Acquire pairs with B's release store of 2r+2. */
        while (atomic_load_explicit(&sh->turn, memory_order_acquire) != 2 * r + 2)
            ;
        if (!check(resp, size, (uint8_t)(r ^ 0x5a)))
            errors++;
        uint64_t t1 = now_ns();
        if (r >= warm)
            rtt[r - warm] = t1 - t0;
    }
    uint64_t elapsed = now_ns() - t_start;
    rc = pthread_join(tb, NULL);
    if (rc != 0)
        fprintf(stderr, "ea_bench_baseline: pthread_join: %s\n", strerror(rc));
    errors += sh->errors_b;
    if (errors)
        fprintf(stderr, "ea_bench_baseline: floor %zu B: %llu corrupt messages\n", size,
                (unsigned long long)errors);
    report("floor", size, rtt, rounds, elapsed);
    free_all(sh, rtt, req, resp);
    return errors ? -1 : 0;
}

/* Writes all `len` bytes; returns 0, or -1 on error or a closed peer. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly `len` bytes; returns 0, 1 on end of file before any byte,
 * or -1 on error or a short message. */
static int read_all(int fd, uint8_t *p, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return got == 0 ? 1 : -1;
        got += (size_t)n;
    }
    return 0;
}

/* The child of pipe-call: answers requests until the parent closes. */
static void pipe_child(int fd, size_t size)
{
    uint8_t *buf = malloc(size);
    if (buf == NULL)
        _exit(2);
    pin_self(1, "pipe-call child");
    uint64_t errors = 0;
    for (uint64_t r = 0;; r++) {
        int rc = read_all(fd, buf, size);
        if (rc == 1)
            break;
        if (rc != 0)
            _exit(3);
        if (!check(buf, size, (uint8_t)r))
            errors++;
        fill(buf, size, (uint8_t)(r ^ 0x5a));
        if (write_all(fd, buf, size) != 0)
            _exit(3);
    }
    _exit(errors ? 4 : 0);
}

static int bench_pipe(size_t size, uint64_t rounds)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("ea_bench_baseline: socketpair");
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("ea_bench_baseline: fork");
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        pipe_child(sv[1], size);
    }
    close(sv[1]);
    int fd = sv[0];
    pin_self(0, "pipe-call parent");

    uint64_t *rtt = calloc(rounds, sizeof *rtt);
    uint8_t *buf = malloc(size);
    int failed = rtt == NULL || buf == NULL;
    uint64_t warm = warmup_for(rounds), errors = 0, t_start = 0;
    for (uint64_t r = 0; !failed && r < warm + rounds; r++) {
        if (r == warm)
            t_start = now_ns();
        uint64_t t0 = now_ns();
        fill(buf, size, (uint8_t)r);
        if (write_all(fd, buf, size) != 0 || read_all(fd, buf, size) != 0) {
            failed = 1;
            break;
        }
        if (!check(buf, size, (uint8_t)(r ^ 0x5a)))
            errors++;
        uint64_t t1 = now_ns();
        if (r >= warm)
            rtt[r - warm] = t1 - t0;
    }
    uint64_t elapsed = now_ns() - t_start;
    close(fd); /* the child sees end of file and exits */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ea_bench_baseline: pipe-call %zu B: child failed (status 0x%x)\n", size,
                (unsigned)status);
        failed = 1;
    }
    if (errors)
        fprintf(stderr, "ea_bench_baseline: pipe-call %zu B: %llu corrupt messages\n", size,
                (unsigned long long)errors);
    if (failed)
        fprintf(stderr, "ea_bench_baseline: pipe-call %zu B failed\n", size);
    else
        report("pipe-call", size, rtt, rounds, elapsed);
    free(rtt);
    free(buf);
    return failed || errors ? -1 : 0;
}

static int parse_sizes(const char *s, size_t *out, int max)
{
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || errno != 0 || v == 0 || n == max)
            return -1;
        if (*end == 'K' || *end == 'k')
            v *= 1024, end++;
        else if (*end == 'M' || *end == 'm')
            v *= 1024 * 1024, end++;
        out[n++] = (size_t)v;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return -1;
        s = end;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: ea_bench_baseline [--sizes 16,1024,16384,65536,524288] "
                    "[--rounds N] [--no-header]\n");
}

int main(int argc, char **argv)
{
    size_t sizes[MAX_SIZES] = {16, 1024, 16384, 65536, 524288};
    int nsizes = 5;
    uint64_t rounds = 100000;
    int header = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
            nsizes = parse_sizes(argv[++i], sizes, MAX_SIZES);
            if (nsizes <= 0) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            char *end;
            rounds = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || rounds == 0) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--no-header") == 0) {
            header = 0;
        } else {
            usage();
            return 2;
        }
    }
    if (header)
        printf("bench,placement,size_bytes,rounds,rtt_ns_median,rtt_ns_p99,msgs_per_s\n");
    int failed = 0;
    for (int i = 0; i < nsizes; i++)
        failed |= bench_floor(sizes[i], rounds_for(rounds, sizes[i])) != 0;
    for (int i = 0; i < nsizes; i++)
        failed |= bench_pipe(sizes[i], rounds_for(rounds, sizes[i])) != 0;
    return failed ? 1 : 0;
}
