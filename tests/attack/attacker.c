/*
 * ea_attacker: a hostile host. Maps the public arena of a running
 * `eactors run` (through /proc/<pid>/fd/<fd>) and, for a bounded time,
 * tampers with the nodes and mboxes of one channel, or only reads the whole
 * arena looking for a plaintext marker. Plain C and libc; it knows the
 * layout only from what the launcher prints with EACTORS_DEBUG_LAYOUT=1
 * (a host can compute it from the deployment anyway).
 *
 * Usage: ea_attacker [--layout FILE [--channel NAME] [--actor NAME]] [--pid P
 *        --fd F --size S --nodes-offset O --nodes N --node-size Z --mbox-a A
 *        --mbox-b B --capacity C] --mode flip|replay|swap|scan|all|full|
 *        rerun|unstop|stop [--duration-ms D] [--max-ms M] [--min-fresh K]
 *        [--marker STRING] [--seed X] [--swap both|node|mbox] [--pushes P]
 * --layout reads the launcher's "eactors: layout:" lines (its stderr) and
 * takes the first channel (or channel NAME), the stop flag's offset, and
 * for --actor NAME that actor's record and its worker's ready queue and
 * futex word; explicit options override.
 *
 * Writing modes watch every node header. A header whose seq, tag or len
 * changed holds a message that was just written: a "fresh" node, in flight
 * or about to be. Each fresh node is tampered with at once (the receiver
 * may still read it: that is what the test wants detected), and between
 * fresh nodes a random in-use-looking node is tampered with every few
 * microseconds. Modes:
 *   flip    flip one random bit of the header (len, seq, tag; not the
 *           unauthenticated flags word) or of the ciphertext up to len;
 *   replay  snapshot node contents whenever they change and write an older
 *           snapshot (same node preferred) back over a fresh node;
 *   swap    swap the value fields of the next-to-pop mbox cell and another
 *           cell, or swap the whole contents of two nodes (in turn; --swap
 *           picks one kind);
 *   scan    never write (the mapping is read-only): memmem the whole arena
 *           for the marker, over and over, and count the hits;
 *   all     flip, replay and swap in turn;
 *   full    (not tampering with data) make both mboxes look full for
 *           ~200 us at a time, and scan the arena for the marker meanwhile:
 *           a sender that gets EA_ERR_FULL and sends the same cargo again
 *           must not reuse a nonce or leak plaintext (bad messages or marker
 *           hits show that it does).
 * Lifecycle modes (the arena's status and stop words, not messages):
 *   rerun   wait until the actor's arena status says DONE, then P times
 *           (default 5): write LIVE over it, set its `queued` word, push its
 *           id to its worker's ready queue as a waker would, wake the
 *           worker's futex, and wait for the worker to pop the id. Prints
 *           how many pushes were popped and the actor's `steps` counter
 *           before and after (the body must not have run again).
 *   unstop  wait for the stop flag, then until the actor's `steps` grew by
 *           2 (it runs after having seen the stop), then write 0 over the
 *           stop flag every ~20 us for D ms or until the target is gone.
 *   stop    write 1 to the stop flag at once (the launcher never asked),
 *           then wait until the target is gone (at most M ms).
 * Record words (one 64-byte line per actor): u32 queued at 0, u32 status
 * at 4 (1 live, 2 done), u64 steps at 48. Worker futex word: 1 = parked.
 * Ends after D ms once at least K (default 300) fresh nodes were tampered
 * with, at M ms (default 4 * D) in any case, or as soon as the target
 * process is gone (scan and full run for D; scan keeps scanning the still
 * valid mapping after the target ended). Prints one result line and exits 0; exit 2 on bad usage or
 * a layout that does not fit the arena.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HDR 32u /* node header: u32 len, u32 flags, u64 seq, u8 tag[16] */
#define MBOX_CTL 128u
#define HIST 4 /* snapshots kept per node (replay) */
#define REC_QUEUED 0u
#define REC_STATUS 4u
#define REC_STEPS 48u
#define A_LIVE 1u
#define A_DONE 2u
#define W_PARKED 1u

enum mode { M_FLIP, M_REPLAY, M_SWAP, M_SCAN, M_ALL, M_FULL, M_RERUN, M_UNSTOP, M_STOP, M_COUNT };
static const char *const mode_names[M_COUNT] = {"flip", "replay", "swap",   "scan", "all",
                                                "full", "rerun",  "unstop", "stop"};
enum swap { SW_BOTH, SW_NODE, SW_MBOX };

struct cfg {
    long long pid, fd, size, nodes_off, nodes, node_size, mbox[2], cap;
    enum mode mode;
    enum swap swap;
    long long duration_ms, max_ms, min_fresh;
    const char *marker, *layout, *channel;
    uint64_t seed;
    /* Lifecycle modes: the stop flag, and the actor's record, id and
     * worker (ready queue and its capacity, futex word). */
    const char *actor;
    long long stop_off, rec_off, actor_id, ready_off, ready_cap, state_off, pushes;
};

struct snap {
    uint32_t bytes; /* 0: empty */
    uint8_t *buf;
};

struct st {
    const struct cfg *c;
    uint8_t *arena;
    size_t maxlen;
    uint8_t (*last)[HDR];
    struct snap *hist; /* nodes * HIST */
    uint32_t *hist_next;
    uint8_t *tmp_a, *tmp_b;
    uint8_t *copy; /* scan: private copy of the arena */
    uint64_t rng;
    unsigned rot;   /* M_ALL: which attack is next */
    unsigned swaps; /* M_SWAP: which kind of swap is next */
    unsigned long long fresh, flips, replays, node_swaps, mbox_swaps, scans, hits, blind, blocks;
    long long first_hit;
};

static void die_usage(const char *msg)
{
    fprintf(stderr, "ea_attacker: %s\n", msg);
    exit(2);
}

static uint64_t rnd(struct st *s)
{
    uint64_t x = s->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The target is gone once /proc/<pid> is gone or a zombie. */
static int target_alive(long long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL || p[1] == '\0' || p[2] == '\0')
        return 0;
    return p[2] != 'Z' && p[2] != 'X';
}

/* Racy copies to and from shared memory, byte by byte through volatile so
 * the compiler neither merges nor drops them. */
static void rd(void *dst, const uint8_t *src, size_t n)
{
    const volatile uint8_t *s = src;
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

static void wr(uint8_t *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

static uint8_t *node(struct st *s, uint32_t i)
{
    return s->arena + s->c->nodes_off + (size_t)i * (size_t)s->c->node_size;
}

static uint32_t hdr_len(const uint8_t h[HDR])
{
    uint32_t len;
    memcpy(&len, h, 4);
    return len;
}

/* A header that a sender wrote: not all zero, length within the node. */
static int plausible(struct st *s, const uint8_t h[HDR])
{
    if (hdr_len(h) > s->maxlen)
        return 0;
    for (unsigned i = 0; i < HDR; i++)
        if (i >= 8 && h[i] != 0)
            return 1;
    return hdr_len(h) != 0;
}

/* len, seq and tag: what a new message changes (flags is not used). */
static int same_msg(const uint8_t a[HDR], const uint8_t b[HDR])
{
    return memcmp(a, b, 4) == 0 && memcmp(a + 8, b + 8, HDR - 8) == 0;
}

static void remember(struct st *s, uint32_t i)
{
    rd(s->last[i], node(s, i), HDR);
}

static size_t node_bytes(struct st *s, const uint8_t h[HDR])
{
    uint32_t len = hdr_len(h);
    return HDR + (len <= s->maxlen ? len : 0);
}

/* Flips one bit of node i: in len, seq, tag or the ciphertext up to len. */
static void do_flip(struct st *s, uint32_t i)
{
    uint8_t h[HDR];
    rd(h, node(s, i), HDR);
    size_t span = node_bytes(s, h) - 4; /* all but the flags word */
    size_t off = (size_t)(rnd(s) % span);
    off = off < 4 ? off : off + 4;
    uint8_t bit = (uint8_t)(1u << (rnd(s) % 8));
    __atomic_fetch_xor(node(s, i) + off, bit, __ATOMIC_SEQ_CST);
    s->flips++;
}

/* Keeps a copy of node i's current message (if not kept already). */
static void snapshot(struct st *s, uint32_t i)
{
    uint8_t h[HDR];
    rd(h, node(s, i), HDR);
    if (!plausible(s, h))
        return;
    struct snap *ring = s->hist + (size_t)i * HIST;
    uint32_t prev = (s->hist_next[i] + HIST - 1) % HIST;
    if (ring[prev].bytes != 0 && same_msg(ring[prev].buf, h))
        return;
    struct snap *x = &ring[s->hist_next[i]];
    size_t n = node_bytes(s, h);
    rd(x->buf, node(s, i), n);
    memcpy(x->buf, h, HDR); /* the header that was checked */
    x->bytes = (uint32_t)n;
    s->hist_next[i] = (s->hist_next[i] + 1) % HIST;
}

/* Writes an older message over node i: one of its own (the most recent
 * different one), else one of another node. Payload first, header last. */
static int do_replay(struct st *s, uint32_t i)
{
    uint8_t h[HDR];
    rd(h, node(s, i), HDR);
    const struct snap *pick = NULL;
    struct snap *ring = s->hist + (size_t)i * HIST;
    for (uint32_t k = 1; k <= HIST && pick == NULL; k++) {
        const struct snap *x = &ring[(s->hist_next[i] + HIST - k) % HIST];
        if (x->bytes != 0 && !same_msg(x->buf, h))
            pick = x;
    }
    uint32_t n = (uint32_t)s->c->nodes;
    for (uint32_t j0 = (uint32_t)(rnd(s) % n), k = 0; k < n * HIST && pick == NULL; k++) {
        const struct snap *x = &s->hist[(size_t)((j0 * HIST + k) % (n * HIST))];
        if (x->bytes != 0 && !same_msg(x->buf, h))
            pick = x;
    }
    if (pick == NULL)
        return 0;
    wr(node(s, i) + HDR, pick->buf + HDR, pick->bytes - HDR);
    wr(node(s, i), pick->buf, HDR);
    s->replays++;
    return 1;
}

/* Swaps the whole contents (header and payload) of node i and another node
 * that holds a different message (or none: then node i is cleared). */
static int do_node_swap(struct st *s, uint32_t i)
{
    uint32_t n = (uint32_t)s->c->nodes;
    if (n < 2)
        return 0;
    uint8_t hi[HDR], hj[HDR];
    rd(hi, node(s, i), HDR);
    uint32_t j = i;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t cand = (uint32_t)((i + 1 + rnd(s) % (n - 1)) % n);
        rd(hj, node(s, cand), HDR);
        if (!same_msg(hi, hj) && hdr_len(hj) <= s->maxlen) {
            j = cand;
            break;
        }
    }
    if (j == i)
        return 0;
    size_t bi = node_bytes(s, hi), bj = node_bytes(s, hj);
    size_t b = bi > bj ? bi : bj;
    rd(s->tmp_a, node(s, i), b);
    rd(s->tmp_b, node(s, j), b);
    wr(node(s, i), s->tmp_b, b);
    wr(node(s, j), s->tmp_a, b);
    remember(s, j);
    s->node_swaps++;
    return 1;
}

/* Mbox storage: {enq u32 on its own line, deq u32 on its own line}, then
 * cells {u32 seq, u32 value}. */
static uint32_t *mbox_word(struct st *s, int m, size_t off)
{
    return (uint32_t *)(void *)(s->arena + s->c->mbox[m] + off);
}

/* Swaps the value of the next cell to pop in an mbox that holds a message
 * (after a fresh node: waiting up to ~20 us for the push that follows it)
 * with the value of another cell that differs. */
static int do_mbox_swap(struct st *s, int wait)
{
    uint32_t cap = (uint32_t)s->c->cap;
    uint64_t until = now_ns() + (wait ? 20000 : 0);
    do {
        int first = (int)(rnd(s) & 1);
        for (int k = 0; k < 2; k++) {
            int m = first ^ k;
            uint32_t enq = __atomic_load_n(mbox_word(s, m, 0), __ATOMIC_ACQUIRE);
            uint32_t deq = __atomic_load_n(mbox_word(s, m, 64), __ATOMIC_ACQUIRE);
            if (enq == deq)
                continue;
            uint32_t a = deq & (cap - 1);
            uint32_t *va = mbox_word(s, m, MBOX_CTL + (size_t)a * 8 + 4);
            uint32_t x = __atomic_load_n(va, __ATOMIC_ACQUIRE);
            for (uint32_t t = 1; t < cap; t++) {
                uint32_t b = (a + t) & (cap - 1);
                uint32_t *vb = mbox_word(s, m, MBOX_CTL + (size_t)b * 8 + 4);
                uint32_t y = __atomic_load_n(vb, __ATOMIC_ACQUIRE);
                if (y != x) {
                    __atomic_store_n(va, y, __ATOMIC_RELEASE);
                    __atomic_store_n(vb, x, __ATOMIC_RELEASE);
                    s->mbox_swaps++;
                    return 1;
                }
            }
        }
    } while (now_ns() < until);
    return 0;
}

/* Makes each mbox look full for ~200 us: the free cell at the enqueue
 * position gets the seq of a cell not yet popped (seq = pos - 1), then its
 * own seq back. Only a cell that is free is touched (compare-exchange), so
 * no message is lost; the sender just sees EA_ERR_FULL meanwhile. */
static void do_full(struct st *s)
{
    uint32_t cap = (uint32_t)s->c->cap;
    uint32_t *held[2] = {NULL, NULL}, pos[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        uint32_t e = __atomic_load_n(mbox_word(s, m, 0), __ATOMIC_ACQUIRE);
        uint32_t *seq = mbox_word(s, m, MBOX_CTL + (size_t)(e & (cap - 1)) * 8);
        uint32_t want = e;
        if (__atomic_compare_exchange_n(seq, &want, e - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            held[m] = seq;
            pos[m] = e;
            s->blocks++;
        }
    }
    uint64_t until = now_ns() + 200000;
    while (now_ns() < until)
        ;
    for (int m = 0; m < 2; m++) {
        uint32_t want = pos[m] - 1;
        if (held[m] != NULL)
            __atomic_compare_exchange_n(held[m], &want, pos[m], 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
    }
}

/* One attack on node i; returns whether anything was written. */
static int attack(struct st *s, uint32_t i, int fresh)
{
    enum mode m = s->c->mode;
    if (m == M_ALL)
        m = (enum mode)(s->rot++ % 3);
    int did = 0;
    switch (m) {
    case M_FLIP:
        do_flip(s, i);
        did = 1;
        break;
    case M_REPLAY: did = do_replay(s, i); break;
    case M_SWAP:
        /* The two kinds of swap in turn (unless --swap chose one); a node
         * swap when no mbox holds a message. */
        if (s->c->swap != SW_NODE && (s->c->swap == SW_MBOX || (s->swaps++ & 1) == 0))
            did = do_mbox_swap(s, fresh);
        if (!did && s->c->swap != SW_MBOX)
            did = do_node_swap(s, i);
        break;
    default: break;
    }
    remember(s, i);
    return did;
}

/* Copies the arena (it changes under our feet) and counts the marker in
 * the copy. */
static unsigned long long scan_once(struct st *s)
{
    const char *m = s->c->marker;
    size_t ml = strlen(m), size = (size_t)s->c->size, off = 0;
    unsigned long long n = 0;
    rd(s->copy, s->arena, size);
    while (off + ml <= size) {
        const uint8_t *p = memmem(s->copy + off, size - off, m, ml);
        if (p == NULL)
            break;
        if (s->first_hit < 0)
            s->first_hit = (long long)(p - s->copy);
        n++;
        off = (size_t)(p - s->copy) + 1;
    }
    return n;
}

static long long num(const char *v, const char *opt)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 0);
    if (errno != 0 || end == v || *end != '\0' || x < 0) {
        fprintf(stderr, "ea_attacker: %s: bad number '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

/* Value of `key=` in a layout line, or -1. */
static long long field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        return -1;
    return strtoll(p + strlen(pat), NULL, 10);
}

static void read_layout(struct cfg *c)
{
    FILE *f = fopen(c->layout, "r");
    if (f == NULL) {
        perror(c->layout);
        exit(2);
    }
    char line[1024], worker[64] = "";
    int have_chan = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "eactors: layout: ", 17) != 0)
            continue;
        if (strstr(line, " pid=") != NULL) {
            if (c->pid < 0)
                c->pid = field(line, "pid");
            if (c->fd < 0)
                c->fd = field(line, "arena_fd");
            if (c->size < 0)
                c->size = field(line, "arena_size");
            if (c->stop_off < 0)
                c->stop_off = field(line, "stop_offset");
            continue;
        }
        if (c->actor != NULL && strncmp(line, "eactors: layout: actor=", 23) == 0) {
            size_t l = strlen(c->actor);
            if (strncmp(line + 23, c->actor, l) == 0 && line[23 + l] == ' ') {
                const char *w = strstr(line, " worker=");
                if (w != NULL)
                    sscanf(w + 8, "%63s", worker);
                if (c->actor_id < 0)
                    c->actor_id = field(line, "id");
                if (c->rec_off < 0)
                    c->rec_off = field(line, "record_offset");
            }
            continue;
        }
        const char *ch = strstr(line, " channel=");
        if (ch == NULL || have_chan)
            continue;
        if (c->channel != NULL) {
            size_t l = strlen(c->channel);
            if (strncmp(ch + 9, c->channel, l) != 0 || ch[9 + l] != ' ')
                continue;
        }
        have_chan = 1;
        if (c->nodes_off < 0)
            c->nodes_off = field(line, "nodes_offset");
        if (c->nodes < 0)
            c->nodes = field(line, "nodes");
        if (c->node_size < 0)
            c->node_size = field(line, "node_size");
        if (c->mbox[0] < 0)
            c->mbox[0] = field(line, "mbox_a_offset");
        if (c->mbox[1] < 0)
            c->mbox[1] = field(line, "mbox_b_offset");
        if (c->cap < 0)
            c->cap = field(line, "mbox_capacity");
    }
    /* The actor's worker: its ready queue and futex word. */
    rewind(f);
    size_t wl = strlen(worker);
    while (wl > 0 && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "eactors: layout: worker=", 24) != 0 ||
            strncmp(line + 24, worker, wl) != 0 || line[24 + wl] != ' ')
            continue;
        if (c->ready_off < 0)
            c->ready_off = field(line, "ready_offset");
        if (c->ready_cap < 0)
            c->ready_cap = field(line, "ready_capacity");
        if (c->state_off < 0)
            c->state_off = field(line, "state_offset");
    }
    fclose(f);
}

static void parse(int argc, char **argv, struct cfg *c)
{
    *c = (struct cfg){.pid = -1,
                      .fd = -1,
                      .size = -1,
                      .nodes_off = -1,
                      .nodes = -1,
                      .node_size = -1,
                      .mbox = {-1, -1},
                      .cap = -1,
                      .mode = M_FLIP,
                      .duration_ms = 1500,
                      .max_ms = -1,
                      .min_fresh = 300,
                      .marker = "EACTORS-SECRET-PLAINTEXT-0123456789",
                      .seed = 1,
                      .stop_off = -1,
                      .rec_off = -1,
                      .actor_id = -1,
                      .ready_off = -1,
                      .ready_cap = -1,
                      .state_off = -1,
                      .pushes = 5};
    int have_mode = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc)
            die_usage("every option takes a value");
        const char *v = argv[++i];
        if (strcmp(o, "--pid") == 0)
            c->pid = num(v, o);
        else if (strcmp(o, "--fd") == 0)
            c->fd = num(v, o);
        else if (strcmp(o, "--size") == 0)
            c->size = num(v, o);
        else if (strcmp(o, "--nodes-offset") == 0)
            c->nodes_off = num(v, o);
        else if (strcmp(o, "--nodes") == 0)
            c->nodes = num(v, o);
        else if (strcmp(o, "--node-size") == 0)
            c->node_size = num(v, o);
        else if (strcmp(o, "--mbox-a") == 0)
            c->mbox[0] = num(v, o);
        else if (strcmp(o, "--mbox-b") == 0)
            c->mbox[1] = num(v, o);
        else if (strcmp(o, "--capacity") == 0)
            c->cap = num(v, o);
        else if (strcmp(o, "--duration-ms") == 0)
            c->duration_ms = num(v, o);
        else if (strcmp(o, "--max-ms") == 0)
            c->max_ms = num(v, o);
        else if (strcmp(o, "--min-fresh") == 0)
            c->min_fresh = num(v, o);
        else if (strcmp(o, "--marker") == 0)
            c->marker = v;
        else if (strcmp(o, "--seed") == 0)
            c->seed = (uint64_t)num(v, o);
        else if (strcmp(o, "--layout") == 0)
            c->layout = v;
        else if (strcmp(o, "--channel") == 0)
            c->channel = v;
        else if (strcmp(o, "--actor") == 0)
            c->actor = v;
        else if (strcmp(o, "--pushes") == 0)
            c->pushes = num(v, o);
        else if (strcmp(o, "--swap") == 0) {
            if (strcmp(v, "both") == 0)
                c->swap = SW_BOTH;
            else if (strcmp(v, "node") == 0)
                c->swap = SW_NODE;
            else if (strcmp(v, "mbox") == 0)
                c->swap = SW_MBOX;
            else
                die_usage("--swap: expected both, node or mbox");
        } else if (strcmp(o, "--mode") == 0) {
            have_mode = 0;
            for (int k = 0; k < M_COUNT; k++)
                if (strcmp(v, mode_names[k]) == 0) {
                    c->mode = (enum mode)k;
                    have_mode = 1;
                }
            if (!have_mode)
                die_usage("--mode: expected flip, replay, swap, scan, all, full, rerun, unstop "
                          "or stop");
        } else {
            fprintf(stderr, "ea_attacker: unknown option %s\n", o);
            exit(2);
        }
    }
    if (!have_mode)
        die_usage("--mode is required");
    if (c->layout != NULL)
        read_layout(c);
    if (c->max_ms < 0)
        c->max_ms = 4 * c->duration_ms;
    if (c->max_ms < c->duration_ms)
        c->max_ms = c->duration_ms;
    if (c->seed == 0)
        c->seed = 0x9E3779B97F4A7C15ULL;
    if (c->pid <= 0 || c->fd < 0 || c->size <= 0)
        die_usage("need --pid, --fd and --size (or a --layout file with them)");
    if (c->mode == M_RERUN || c->mode == M_UNSTOP) {
        if (c->rec_off < 0 || c->rec_off + 64 > c->size || (c->rec_off & 63) != 0)
            die_usage("need the actor's record (--actor NAME and a --layout file with it)");
        if (c->mode == M_RERUN &&
            (c->actor_id < 0 || c->ready_off < 0 || c->state_off < 0 || c->ready_cap < 2 ||
             (c->ready_cap & (c->ready_cap - 1)) != 0 || (c->ready_off & 63) != 0 ||
             c->ready_off + (long long)MBOX_CTL + 8 * c->ready_cap > c->size ||
             c->state_off + 4 > c->size))
            die_usage("need the actor's worker (ready queue and futex word) in the layout");
    }
    if ((c->mode == M_UNSTOP || c->mode == M_STOP) &&
        (c->stop_off < 0 || c->stop_off + 4 > c->size || (c->stop_off & 3) != 0))
        die_usage("need the stop flag's offset (a --layout file with stop_offset)");
    if (c->mode <= M_FULL && c->mode != M_SCAN) {
        if (c->nodes_off < 0 || c->nodes <= 0 || c->node_size <= (long long)HDR || c->mbox[0] < 0 ||
            c->mbox[1] < 0 || c->cap < 2 || (c->cap & (c->cap - 1)) != 0)
            die_usage("need the channel layout (--nodes-offset, --nodes, --node-size, "
                      "--mbox-a, --mbox-b, --capacity, or a --layout file with a channel)");
        if (c->nodes_off + c->nodes * c->node_size > c->size ||
            c->mbox[0] + (long long)MBOX_CTL + 8 * c->cap > c->size ||
            c->mbox[1] + (long long)MBOX_CTL + 8 * c->cap > c->size || (c->mbox[0] & 63) != 0 ||
            (c->mbox[1] & 63) != 0)
            die_usage("channel layout does not fit the arena");
    }
    if (c->marker[0] == '\0')
        die_usage("--marker must not be empty");
}

static const char *mode_name(enum mode m)
{
    return mode_names[m];
}

/* --- lifecycle modes ---------------------------------------------------- */

static uint32_t *w32(const struct st *s, long long off)
{
    return (uint32_t *)(void *)(s->arena + off);
}

static uint64_t *w64(const struct st *s, long long off)
{
    return (uint64_t *)(void *)(s->arena + off);
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

/* Pushes v onto the mbox at `off` as any producer would (the bounded MPMC
 * queue's protocol); returns the position taken, or -1 if it looks full. */
static long long mbox_push(const struct st *s, long long off, uint32_t cap, uint32_t v)
{
    uint32_t *enq = w32(s, off);
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t pos = __atomic_load_n(enq, __ATOMIC_ACQUIRE);
        uint32_t *cell = w32(s, off + MBOX_CTL + (long long)(pos & (cap - 1)) * 8);
        uint32_t seq = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
        if (seq != pos) {
            if ((int32_t)(seq - pos) < 0)
                return -1;
            continue;
        }
        if (__atomic_compare_exchange_n(enq, &pos, pos + 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            __atomic_store_n(cell + 1, v, __ATOMIC_RELAXED);
            __atomic_store_n(cell, pos + 1, __ATOMIC_RELEASE);
            return pos;
        }
    }
    return -1;
}

/* Wakes a parked worker as a waker would: flip its futex word and wake it
 * (a shared futex on the same memfd). */
static void wake_worker(const struct st *s, long long state_off)
{
    uint32_t *st = w32(s, state_off), parked = W_PARKED;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_compare_exchange_n(st, &parked, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        syscall(SYS_futex, st, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Waits until *w == want (or, want_nonzero, *w != 0) while the target
 * lives, at most ms; returns whether it happened. */
static int wait_word(const struct st *s, const uint32_t *w, uint32_t want, int want_nonzero,
                     long long ms)
{
    uint64_t until = now_ns() + (uint64_t)ms * 1000000ull, t_alive = 0;
    for (;;) {
        uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
        if (want_nonzero ? v != 0 : v == want)
            return 1;
        uint64_t t = now_ns();
        if (t >= until)
            return 0;
        if (t - t_alive >= 1000000ull) {
            t_alive = t;
            if (!target_alive(s->c->pid))
                return 0;
        }
        sleep_us(20);
    }
}

static void attack_rerun(struct st *s)
{
    const struct cfg *c = s->c;
    uint32_t *queued = w32(s, c->rec_off + REC_QUEUED), *status = w32(s, c->rec_off + REC_STATUS);
    uint64_t *steps = w64(s, c->rec_off + REC_STEPS);
    uint32_t *deq = w32(s, c->ready_off + 64);
    int done = wait_word(s, status, A_DONE, 0, c->max_ms);
    unsigned long long before = __atomic_load_n(steps, __ATOMIC_ACQUIRE);
    unsigned pushes = 0, popped = 0, refused = 0;
    for (long long k = 0; done && k < c->pushes; k++) {
        __atomic_store_n(status, A_LIVE, __ATOMIC_SEQ_CST);
        __atomic_store_n(queued, 1, __ATOMIC_SEQ_CST);
        long long pos = mbox_push(s, c->ready_off, (uint32_t)c->ready_cap, (uint32_t)c->actor_id);
        if (pos < 0) {
            refused++;
            continue;
        }
        pushes++;
        wake_worker(s, c->state_off);
        uint64_t until = now_ns() + 1000000000ull;
        while (now_ns() < until) {
            if ((int32_t)(__atomic_load_n(deq, __ATOMIC_ACQUIRE) - (uint32_t)pos - 1) >= 0) {
                popped++;
                break;
            }
            sleep_us(100);
        }
        sleep_us(20000);
    }
    sleep_us(100000);
    printf("ea_attacker: mode=rerun actor=%s id=%lld done_seen=%d pushes=%u popped=%u "
           "refused=%u steps_before=%llu steps_after=%llu status_now=%u\n",
           c->actor, c->actor_id, done, pushes, popped, refused, before,
           (unsigned long long)__atomic_load_n(steps, __ATOMIC_ACQUIRE),
           __atomic_load_n(status, __ATOMIC_ACQUIRE));
}

static void attack_unstop(struct st *s)
{
    const struct cfg *c = s->c;
    uint32_t *stop = w32(s, c->stop_off);
    uint64_t *steps = w64(s, c->rec_off + REC_STEPS);
    /* Tells the test that the arena is mapped: it may ask for the stop. */
    printf("ea_attacker: watching the stop flag\n");
    fflush(stdout);
    int seen = wait_word(s, stop, 0, 1, c->max_ms);
    unsigned long long at_stop = __atomic_load_n(steps, __ATOMIC_ACQUIRE), at_unstop = 0;
    int lingering = 0;
    for (uint64_t until = now_ns() + 5000000000ull; seen && now_ns() < until;) {
        if (__atomic_load_n(steps, __ATOMIC_ACQUIRE) >= at_stop + 2) {
            lingering = 1;
            break;
        }
        sleep_us(20);
    }
    unsigned long long writes = 0;
    int ended = 0;
    if (lingering) {
        at_unstop = __atomic_load_n(steps, __ATOMIC_ACQUIRE);
        uint64_t t0 = now_ns(), t_alive = t0;
        while (now_ns() - t0 < (uint64_t)c->duration_ms * 1000000ull) {
            __atomic_store_n(stop, 0, __ATOMIC_SEQ_CST);
            writes++;
            if (now_ns() - t_alive >= 1000000ull) {
                t_alive = now_ns();
                if ((ended = !target_alive(c->pid)) != 0)
                    break;
            }
            sleep_us(20);
        }
    }
    unsigned long long end = __atomic_load_n(steps, __ATOMIC_ACQUIRE);
    printf("ea_attacker: mode=unstop actor=%s stop_seen=%d lingering=%d steps_at_stop=%llu "
           "steps_at_unstop=%llu steps_after_unstop=%llu writes=%llu target_ended=%d\n",
           c->actor, seen, lingering, at_stop, at_unstop, lingering ? end - at_unstop : 0, writes,
           ended);
}

static void attack_stop(struct st *s)
{
    const struct cfg *c = s->c;
    uint64_t t0 = now_ns();
    __atomic_store_n(w32(s, c->stop_off), 1, __ATOMIC_SEQ_CST);
    int ended = 0;
    while (!ended && now_ns() - t0 < (uint64_t)c->max_ms * 1000000ull) {
        sleep_us(1000);
        ended = !target_alive(c->pid);
    }
    printf("ea_attacker: mode=stop set=1 target_ended=%d ms_to_end=%llu\n", ended,
           (unsigned long long)((now_ns() - t0) / 1000000ull));
}

int main(int argc, char **argv)
{
    struct cfg c;
    parse(argc, argv, &c);
    int ro = c.mode == M_SCAN;
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/fd/%lld", c.pid, c.fd);
    int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "ea_attacker: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < c.size) {
        fprintf(stderr, "ea_attacker: %s is smaller than the arena size %lld\n", path, c.size);
        close(fd);
        return 2;
    }
    void *map =
        mmap(NULL, (size_t)c.size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "ea_attacker: mmap %s: %s\n", path, strerror(errno));
        return 2;
    }

    struct st s = {.c = &c, .arena = map, .rng = c.seed, .first_hit = -1};
    if (c.mode > M_FULL) {
        if (c.mode == M_RERUN)
            attack_rerun(&s);
        else if (c.mode == M_UNSTOP)
            attack_unstop(&s);
        else
            attack_stop(&s);
        fflush(stdout);
        munmap(map, (size_t)c.size);
        return 0;
    }
    uint32_t n = 0;
    int timed = ro || c.mode == M_FULL; /* runs for D, whatever it sees */
    if ((ro || c.mode == M_FULL) && (s.copy = malloc((size_t)c.size)) == NULL)
        die_usage("out of memory");
    if (!ro) {
        n = (uint32_t)c.nodes;
        s.maxlen = (size_t)c.node_size - HDR;
        s.last = calloc(n, sizeof *s.last);
        s.hist = calloc((size_t)n * HIST, sizeof *s.hist);
        s.hist_next = calloc(n, sizeof *s.hist_next);
        s.tmp_a = malloc((size_t)c.node_size);
        s.tmp_b = malloc((size_t)c.node_size);
        if (!s.last || !s.hist || !s.hist_next || !s.tmp_a || !s.tmp_b)
            die_usage("out of memory");
        for (size_t k = 0; k < (size_t)n * HIST; k++)
            if ((s.hist[k].buf = malloc((size_t)c.node_size)) == NULL)
                die_usage("out of memory");
        for (uint32_t i = 0; i < n; i++)
            remember(&s, i);
    }

    uint64_t t0 = now_ns(), t_alive = t0, t_blind = t0;
    uint64_t dur = (uint64_t)c.duration_ms * 1000000ull, max = (uint64_t)c.max_ms * 1000000ull;
    int ended = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t - t0 >= max)
            break;
        if (t - t0 >= dur && (timed || ended || s.fresh >= (unsigned long long)c.min_fresh))
            break;
        if (!ended && t - t_alive >= 1000000ull) {
            t_alive = t;
            ended = !target_alive(c.pid);
            if (ended && !ro)
                break;
        }
        if (ro) {
            s.hits += scan_once(&s);
            s.scans++;
            continue;
        }
        if (c.mode == M_FULL) {
            do_full(&s);
            s.hits += scan_once(&s);
            s.scans++;
            continue;
        }
        /* Fresh nodes first: a message that was just written. */
        int any = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint8_t h[HDR];
            rd(h, node(&s, i), HDR);
            if (same_msg(h, s.last[i]))
                continue;
            memcpy(s.last[i], h, HDR);
            if (!plausible(&s, h))
                continue;
            if (c.mode == M_REPLAY || c.mode == M_ALL)
                snapshot(&s, i);
            if (attack(&s, i, 1)) {
                s.fresh++;
                any = 1;
            }
        }
        /* Between fresh nodes: a random in-use-looking node every ~5 us. */
        if (!any && t - t_blind >= 5000) {
            t_blind = t;
            uint32_t i = (uint32_t)(rnd(&s) % n);
            uint8_t h[HDR];
            rd(h, node(&s, i), HDR);
            if (plausible(&s, h)) {
                if (c.mode == M_REPLAY || c.mode == M_ALL)
                    snapshot(&s, i);
                s.blind += (unsigned long long)attack(&s, i, 0);
            }
        }
    }
    printf("ea_attacker: mode=%s elapsed_ms=%llu target_ended=%d fresh=%llu blind=%llu "
           "flips=%llu replays=%llu node_swaps=%llu mbox_swaps=%llu scans=%llu "
           "blocks=%llu marker_hits=%llu first_hit_offset=%lld\n",
           mode_name(c.mode), (unsigned long long)((now_ns() - t0) / 1000000ull), ended, s.fresh,
           s.blind, s.flips, s.replays, s.node_swaps, s.mbox_swaps, s.scans, s.blocks, s.hits,
           s.first_hit);
    fflush(stdout);
    if (!ro) {
        for (size_t k = 0; k < (size_t)n * HIST; k++)
            free(s.hist[k].buf);
        free(s.hist);
        free(s.hist_next);
        free(s.last);
        free(s.tmp_a);
        free(s.tmp_b);
    }
    free(s.copy);
    munmap(map, (size_t)c.size);
    return 0;
}
