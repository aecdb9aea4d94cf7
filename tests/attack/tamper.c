/*
 * ea_tamper: a hostile host that corrupts the shared structures of channels
 * (pools, free-list links, mbox positions and cells, nodes) in the public
 * arena of a running `eactors run`, mapped through /proc/<pid>/fd/<fd>.
 * Plain C and libc; the layout comes from the launcher's
 * EACTORS_DEBUG_LAYOUT=1 lines, as for ea_attacker.
 *
 * Usage: ea_tamper --layout FILE --mode MODE [--channel NAME[,NAME...]]
 *                  [--seed X] [--duration-ms D] [--interval-us I] [--ctl-percent P]
 * Modes:
 *   random   for D ms, every I us (default 500): in the storage of a random
 *            one of the channels, either flip one random bit of a random
 *            byte or copy a random 64-byte block over another. P percent
 *            (default 50) of the writes go to the control parts (pool head
 *            and links, both mboxes), the rest anywhere in the storage
 *            (nodes are most of it);
 *   enq      move the enqueue position of the channel's mbox b (messages to
 *            its actor b) 1000 ahead;
 *   deq      move the dequeue position of its mbox a 5 ahead;
 *   head     set the pool head index out of range;
 *   link     set the free-list link of the node at the head out of range;
 *   lose     empty the pool: head = EA_NIL, the free nodes are lost;
 * The targeted modes write once, to the first channel named. Prints one
 * result line (with the seed) and exits 0; 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MBOX_CTL 128u
#define MAXCH 8

struct chan {
    char name[64];
    long long off, nodes_off, nodes, node_size, mbox[2], cap;
};

static long long field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static uint64_t rng = 1;
static uint64_t rnd(void)
{
    uint64_t x = rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(const char *msg)
{
    fprintf(stderr, "ea_tamper: %s\n", msg);
    exit(2);
}

/* Is `name` in the comma-separated list (NULL: every channel)? */
static int wanted(const char *list, const char *name)
{
    if (list == NULL)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0)
            return 1;
        p += l + (e != NULL);
    }
    return 0;
}

static size_t chan_end(const struct chan *c)
{
    return (size_t)(c->mbox[1] + MBOX_CTL + 8 * c->cap);
}

int main(int argc, char **argv)
{
    const char *layout = NULL, *mode = NULL, *channels = NULL;
    long long dur_ms = 3000, interval_us = 500, ctl_pct = 50;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--layout") == 0)
            layout = v;
        else if (strcmp(o, "--mode") == 0)
            mode = v;
        else if (strcmp(o, "--channel") == 0)
            channels = v;
        else if (strcmp(o, "--seed") == 0)
            seed = strtoull(v, NULL, 0);
        else if (strcmp(o, "--duration-ms") == 0)
            dur_ms = strtoll(v, NULL, 0);
        else if (strcmp(o, "--interval-us") == 0)
            interval_us = strtoll(v, NULL, 0);
        else if (strcmp(o, "--ctl-percent") == 0)
            ctl_pct = strtoll(v, NULL, 0);
        else
            usage("unknown option");
    }
    if (layout == NULL || mode == NULL || (argc - 1) % 2 != 0)
        usage("need --layout FILE --mode MODE");
    rng = seed ? seed : 0x9E3779B97F4A7C15ULL;

    FILE *f = fopen(layout, "r");
    if (f == NULL)
        usage("cannot read the layout file");
    long long pid = -1, fd = -1, size = -1;
    struct chan ch[MAXCH];
    int nch = 0;
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "eactors: layout: ", 17) != 0)
            continue;
        if (strstr(line, " pid=") != NULL) {
            pid = field(line, "pid");
            fd = field(line, "arena_fd");
            size = field(line, "arena_size");
            continue;
        }
        const char *p = strstr(line, " channel=");
        if (p == NULL || nch == MAXCH)
            continue;
        struct chan *c = &ch[nch];
        if (sscanf(p + 9, "%63s", c->name) != 1 || !wanted(channels, c->name))
            continue;
        c->off = field(line, "offset");
        c->nodes_off = field(line, "nodes_offset");
        c->nodes = field(line, "nodes");
        c->node_size = field(line, "node_size");
        c->mbox[0] = field(line, "mbox_a_offset");
        c->mbox[1] = field(line, "mbox_b_offset");
        c->cap = field(line, "mbox_capacity");
        if (c->off < 0 || c->nodes <= 0 || c->cap < 2 || c->mbox[1] < 0)
            usage("bad channel line in the layout");
        nch++;
    }
    fclose(f);
    if (pid <= 0 || fd < 0 || size <= 0 || nch == 0)
        usage("no arena or no matching channel in the layout");
    for (int i = 0; i < nch; i++)
        if ((long long)chan_end(&ch[i]) > size)
            usage("channel does not fit the arena");

    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/fd/%lld", pid, fd);
    int afd = open(path, O_RDWR | O_CLOEXEC);
    if (afd < 0) {
        fprintf(stderr, "ea_tamper: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    uint8_t *a = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
    close(afd);
    if (a == MAP_FAILED)
        usage("mmap failed");

    struct chan *c = &ch[0];
    uint64_t *head = (uint64_t *)(void *)(a + c->off);
    uint32_t *links = (uint32_t *)(void *)(a + c->off + 64);
    unsigned long long flips = 0, copies = 0;
    if (strcmp(mode, "random") == 0) {
        uint64_t t0 = now_ns(), next = t0;
        while (now_ns() - t0 < (uint64_t)dur_ms * 1000000ull) {
            if (now_ns() < next)
                continue;
            next += (uint64_t)interval_us * 1000ull;
            struct chan *t = &ch[rnd() % (uint64_t)nch];
            size_t lo = (size_t)t->off, span = chan_end(t) - lo;
            if ((long long)(rnd() % 100) < ctl_pct) {
                /* Control parts: pool head and links, or the mboxes. */
                if (rnd() & 1) {
                    span = (size_t)(t->nodes_off - t->off);
                } else {
                    lo = (size_t)t->mbox[0];
                    span = chan_end(t) - lo;
                }
            }
            if (rnd() & 1) {
                __atomic_fetch_xor(a + lo + rnd() % span, (uint8_t)(1u << (rnd() % 8)),
                                   __ATOMIC_SEQ_CST);
                flips++;
            } else if (span > 64) {
                uint8_t blk[64];
                size_t from = lo + rnd() % (span - 64), to = lo + rnd() % (span - 64);
                for (int k = 0; k < 64; k++)
                    blk[k] = __atomic_load_n(a + from + k, __ATOMIC_RELAXED);
                for (int k = 0; k < 64; k++)
                    __atomic_store_n(a + to + k, blk[k], __ATOMIC_RELAXED);
                copies++;
            }
        }
    } else if (strcmp(mode, "enq") == 0) {
        __atomic_fetch_add((uint32_t *)(void *)(a + c->mbox[1]), 1000u, __ATOMIC_SEQ_CST);
    } else if (strcmp(mode, "deq") == 0) {
        __atomic_fetch_add((uint32_t *)(void *)(a + c->mbox[0] + 64), 5u, __ATOMIC_SEQ_CST);
    } else if (strcmp(mode, "head") == 0) {
        uint64_t h = __atomic_load_n(head, __ATOMIC_SEQ_CST);
        __atomic_store_n(head, (h & ~(uint64_t)UINT32_MAX) | (uint32_t)(c->nodes + 100),
                         __ATOMIC_SEQ_CST);
    } else if (strcmp(mode, "link") == 0) {
        uint32_t top = (uint32_t)__atomic_load_n(head, __ATOMIC_SEQ_CST);
        if (top >= (uint32_t)c->nodes)
            usage("link: the pool is empty or its head already corrupt");
        __atomic_store_n(&links[top], (uint32_t)(c->nodes + 100), __ATOMIC_SEQ_CST);
    } else if (strcmp(mode, "lose") == 0) {
        uint64_t h = __atomic_load_n(head, __ATOMIC_SEQ_CST);
        __atomic_store_n(head, (h & ~(uint64_t)UINT32_MAX) | UINT32_MAX, __ATOMIC_SEQ_CST);
    } else {
        usage("--mode: random, enq, deq, head, link or lose");
    }
    printf("ea_tamper: mode=%s seed=%llu channels=%d first=%s flips=%llu copies=%llu\n", mode,
           (unsigned long long)seed, nch, c->name, flips, copies);
    munmap(a, (size_t)size);
    return 0;
}
