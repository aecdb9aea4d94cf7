/*
 * ea_bench_smc_plain: the secure sum of examples/smc computed by plain
 * threads, without enclaves, encryption or the runtime: the baseline of
 * bench/smc.sh (what security costs).
 *
 * Same algorithm and placement as the example: N threads in a ring, thread
 * i pinned to CPU i mod 2; a round is party 0 drawing a fresh mask
 * (getrandom) and sending mask + x_0, each party adding its secret into the
 * next link's buffer, party 0 removing the mask and sending the result
 * round the ring, each party copying it into its own result buffer and
 * passing it on; one round in flight. A link is a buffer and a sequence
 * word; a waiting thread polls 2000 times (yielding every 64 polls, so that
 * a party sharing its CPU can run), then sleeps on a futex, as the
 * runtime's parking workers do (--spin P changes the polls; 2000 was the
 * fastest of 200, 2000 and 20000 here at 10 words with 8 parties).
 *
 * Usage: ea_bench_smc_plain --parties N --words W --rounds R [--spin P]
 * Prints: smc,plain,N,W,rounds_per_s,mb_per_s (MB/s = rounds/s x N x W x 8
 * bytes of inputs summed, as examples/smc reports it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAXP 16

struct link {
    _Alignas(64) _Atomic uint32_t seq; /* messages sent on this link */
    _Atomic uint32_t waiting;          /* the receiver sleeps on seq */
    _Alignas(64) uint64_t *buf;
};

static struct link links[MAXP]; /* link i: party i -> party i+1 mod N */
static int nparties;
static uint32_t words;
static uint64_t rounds;
static uint64_t t_start, t_end;
static int spin_polls = 2000;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits until link l has carried more than `seen` messages. */
static void recv_wait(struct link *l, uint32_t seen)
{
    /* Spin about as long as a runtime worker polls before it parks,
     * yielding now and then so that a party sharing this CPU can run. */
    for (int i = 0; i < spin_polls; i++) {
        if (atomic_load_explicit(&l->seq, memory_order_acquire) != seen)
            return;
        if (i % 64 == 63)
            sched_yield();
    }
    for (;;) {
        atomic_store_explicit(&l->waiting, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&l->seq, memory_order_seq_cst) != seen)
            break;
        syscall(SYS_futex, &l->seq, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
        if (atomic_load_explicit(&l->seq, memory_order_acquire) != seen)
            break;
    }
    atomic_store_explicit(&l->waiting, 0, memory_order_relaxed);
}

static void send_done(struct link *l)
{
    atomic_fetch_add_explicit(&l->seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&l->waiting, memory_order_seq_cst))
        syscall(SYS_futex, &l->seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void fill_random(uint64_t *v, size_t n)
{
    uint8_t *p = (uint8_t *)v;
    size_t left = n * 8;
    while (left > 0) {
        ssize_t got = getrandom(p, left, 0);
        if (got <= 0) {
            perror("getrandom");
            exit(1);
        }
        p += got;
        left -= (size_t)got;
    }
}

static void *party(void *arg)
{
    int i = (int)(intptr_t)arg;
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CPU_SET(i % 2, &cs);
    if (pthread_setaffinity_np(pthread_self(), sizeof cs, &cs) != 0) {
        fprintf(stderr, "ea_bench_smc_plain: cannot pin party %d\n", i);
        exit(1);
    }
    uint64_t *x = malloc((size_t)words * 8), *res = malloc((size_t)words * 8);
    uint64_t *mask = i == 0 ? malloc((size_t)words * 8) : NULL;
    if (x == NULL || res == NULL || (i == 0 && mask == NULL))
        exit(1);
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    for (uint32_t j = 0; j < words; j++)
        x[j] = seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    struct link *in = &links[(i + nparties - 1) % nparties], *out = &links[i];
    uint32_t seen = 0;
    if (i == 0)
        t_start = now_ns();
    for (uint64_t r = 0; r < rounds; r++) {
        if (i == 0) {
            fill_random(mask, words);
            for (uint32_t j = 0; j < words; j++)
                out->buf[j] = mask[j] + x[j];
            send_done(out);
            recv_wait(in, seen++);
            for (uint32_t j = 0; j < words; j++)
                out->buf[j] = res[j] = in->buf[j] - mask[j];
            send_done(out);
            recv_wait(in, seen++); /* the result came round: every party has it */
        } else {
            recv_wait(in, seen++);
            for (uint32_t j = 0; j < words; j++)
                out->buf[j] = in->buf[j] + x[j];
            send_done(out);
            recv_wait(in, seen++);
            memcpy(res, in->buf, (size_t)words * 8);
            memcpy(out->buf, in->buf, (size_t)words * 8);
            send_done(out);
        }
    }
    if (i == 0)
        t_end = now_ns();
    free(x);
    free(res);
    free(mask);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--parties") == 0)
            nparties = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--words") == 0)
            words = (uint32_t)strtoul(argv[a + 1], NULL, 10);
        else if (strcmp(argv[a], "--spin") == 0)
            spin_polls = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--rounds") == 0)
            rounds = strtoull(argv[a + 1], NULL, 10);
    }
    if (nparties < 2 || nparties > MAXP || words < 1 || rounds < 1) {
        fprintf(stderr, "usage: ea_bench_smc_plain --parties 2..16 --words W --rounds R\n");
        return 2;
    }
    for (int i = 0; i < nparties; i++)
        if ((links[i].buf = calloc(words, 8)) == NULL)
            return 1;
    pthread_t t[MAXP];
    for (int i = 0; i < nparties; i++)
        if (pthread_create(&t[i], NULL, party, (void *)(intptr_t)i) != 0)
            return 1;
    for (int i = 0; i < nparties; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(t_end - t_start) / 1e9;
    double rps = (double)rounds / secs;
    printf("smc,plain,%d,%u,%.1f,%.2f\n", nparties, words, rps, rps * nparties * words * 8.0 / 1e6);
    return 0;
}
