/*
 * Fuzz target: the system actor's request dispatcher and completion path
 * (src/sys), run in-process by tests/sys/sys_harness.c: two requesters in
 * two enclaves, r0 granted a read-write directory with small limits
 * (handles=12, timers=4, queued=64K), r1 a read-only directory with the
 * defaults. No network: the ops are timers, files (paths inside, beside and
 * outside the grants, with "..", symlinks), log lines, network ops on
 * handles that are not sockets, unknown ops, short and lying headers. The
 * input is a script of requests (each byte pattern picks a requester, an op,
 * a handle from those it was given, arguments), with body steps between.
 *
 * Checks besides the sanitizers: every completion a requester gets answers
 * a request it sent (no cross-talk between requesters), a FIRE names a timer
 * it was given, a new handle is never one another requester holds, the
 * limits of r0 are never passed, and when the run stops every descriptor the
 * system actor made is closed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys_harness.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NR 2
#define MH 64
#define MID 512

static char root[256], dirs[NR][300];
static char *files[NR][1];
static uint8_t ro[NR][1] = {{0}, {1}};

struct req_state {
    uint64_t next_id;
    uint64_t sent[MID]; /* ids sent and not answered, 0 = free */
    int32_t h[MH];
    bool timer[MH];
    int nh;
};

static struct req_state rs[NR];

static void setup_once(void)
{
    if (root[0] != '\0')
        return;
    char tmpl[] = "/tmp/fuzz-sys-XXXXXX";
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, root) == NULL)
        abort();
    for (int i = 0; i < NR; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/g%d", root, i);
        mkdir(dirs[i], 0700);
        files[i][0] = dirs[i];
    }
    char p[700];
    snprintf(p, sizeof p, "%s/outside", root);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/g0/out", root);
    if (symlink("../outside", p) != 0)
        abort();
    snprintf(p, sizeof p, "%s/g1/f", root);
    FILE *f = fopen(p, "w");
    if (f != NULL) {
        fputs("read-only content", f);
        fclose(f);
    }
}

/* A path chosen by sel, for requester r. */
static void path(uint32_t sel, unsigned r, char *p, size_t cap)
{
    static const char *names[] = {"f",       "a",       "b",       "out/x", "../outside/x",
                                  "../g1/f", "../g0/a", "nodir/x", ".",     "..",
                                  "",        "x/../f",  "./a"};
    uint32_t k = sel % (sizeof names / sizeof names[0]);
    switch (sel / 16 % 4) {
    case 0: snprintf(p, cap, "%s/%s", dirs[r], names[k]); break;
    case 1: snprintf(p, cap, "%s/%s", dirs[!r], names[k]); break;
    case 2: snprintf(p, cap, "/etc/%s", names[k]); break;
    default: snprintf(p, cap, "%s", names[k]); break; /* relative: invalid */
    }
}

static void issue(struct sys_harness *h, struct in *in)
{
    unsigned r = take(in, 1) % NR;
    struct req_state *q = &rs[r];
    static const uint16_t ops[] = {EA_TIMER_SET,    EA_TIMER_CANCEL, EA_FILE_OPEN,  EA_FILE_READ,
                                   EA_FILE_WRITE,   EA_FILE_FSYNC,   EA_FILE_CLOSE, EA_FILE_UNLINK,
                                   EA_FILE_STAT,    EA_LOG,          EA_NET_RECV,   EA_NET_SEND,
                                   EA_NET_SHUTDOWN, EA_NET_CLOSE,    EA_NET_ACCEPT, 99};
    uint32_t sel = take(in, 1);
    uint16_t op = ops[sel % (sizeof ops / sizeof ops[0])];
    uint32_t hsel = take(in, 1);
    int32_t handle = q->nh > 0 && hsel < 220 ? q->h[hsel % (uint32_t)q->nh] : (int32_t)hsel - 230;
    ea_sys_msg_t m = {.op = op, .handle = handle, .arg = take(in, 2), .arg64 = take(in, 4)};
    char payload[1024];
    uint32_t len = 0;
    if (op == EA_TIMER_SET) {
        /* Soon (fires during the run) or never; periodic 1..3 ms or not. */
        m.arg64 = (m.arg64 & 1) ? 1 + m.arg64 % 2000000 : 3600ull * 1000000000ull;
        m.arg %= 4;
    }
    if (op == EA_FILE_OPEN || op == EA_FILE_UNLINK || op == EA_FILE_STAT) {
        path(take(in, 1), r, payload, sizeof payload);
        len = (uint32_t)strlen(payload);
        m.arg &= 0x3f;
    } else if (op == EA_FILE_WRITE || op == EA_NET_SEND || op == EA_LOG) {
        len = take(in, 1) * 4;
        memset(payload, 'w', len);
        m.arg64 %= 1u << 20;
    }
    if (sel & 0x80) /* a lying length: more than the payload */
        m.len = len + 1 + take(in, 1);
    uint64_t id = ++q->next_id;
    m.req_id = id;
    uint32_t wrap = take(in, 1);
    if (wrap & 1)
        m.flags = EA_SYS_F_BATCH; /* its completion may come in a batch */
    if ((wrap & 2) && !(sel & 0x80)) {
        /* Inside an EA_SYS_BATCH of requests (ea_sys_client_hold), alone
         * or after a record that lies about its length (the batch then
         * ends with EA_ERR_INVAL for that record, whose id is 0 here). */
        uint8_t b[sizeof m + 8 + sizeof payload + 8];
        uint32_t off = 0, n = 1;
        if (wrap & 4) {
            ea_sys_msg_t bad = {.magic = EA_SYS_MAGIC, .op = EA_NET_SEND, .len = 5000};
            memcpy(b, &bad, sizeof bad);
            off = sizeof bad;
            n = 2;
        } else {
            m.magic = EA_SYS_MAGIC;
            m.len = len;
            memcpy(b, &m, sizeof m);
            memcpy(b + sizeof m, payload, len);
            off = (uint32_t)((sizeof m + len + 7u) & ~(size_t)7u);
        }
        ea_sys_msg_t outer = {.op = EA_SYS_BATCH, .handle = -1, .arg = (wrap & 8) ? n + 3 : n};
        if (sys_h_send(h, r, outer, b, off) != EA_OK)
            return;
        if (!(wrap & 4))
            q->sent[id % MID] = id;
        return;
    }
    if (sel & 0x80) {
        /* Built by hand: sys_h_send would set len and magic. */
        ea_cargo_t cg;
        if (ea_cargo_alloc(sys_h_conn(h, r), sizeof m + len, &cg) != EA_OK)
            return;
        m.magic = (sel & 0x40) ? 0 : EA_SYS_MAGIC;
        memcpy(cg.data, &m, sizeof m);
        memcpy((uint8_t *)cg.data + sizeof m, payload, len);
        if (ea_cargo_send(&cg) != EA_OK) {
            ea_cargo_release(&cg);
            return;
        }
    } else if (sys_h_send(h, r, m, payload, len) != EA_OK) {
        return;
    }
    if (op != EA_LOG || (sel & 0x80))
        q->sent[id % MID] = id;
}

static void check_one(unsigned r, ea_sys_msg_t m);

/* Takes and checks what requester r got; a batch of completions is
 * checked record by record (the system actor is trusted here: a record
 * that does not fit is a bug). */
static void drain(struct sys_harness *h, unsigned r)
{
    ea_sys_msg_t m;
    static char text[8192];
    while (sys_h_recv(h, r, &m, text, sizeof text, 0)) {
        if (m.magic != EA_SYS_MAGIC)
            abort();
        if (m.op != (EA_SYS_BATCH | EA_SYS_DONE)) {
            check_one(r, m);
            continue;
        }
        size_t off = 0;
        if (m.arg < 2)
            abort(); /* a lone completion travels alone */
        for (uint32_t i = 0; i < m.arg; i++) {
            ea_sys_msg_t rec;
            if (m.len - off < sizeof rec)
                abort();
            memcpy(&rec, text + off, sizeof rec);
            if (rec.magic != EA_SYS_MAGIC || rec.len > m.len - off - sizeof rec ||
                !(rec.flags & EA_SYS_F_BATCH))
                abort();
            check_one(r, rec);
            off += (sizeof rec + rec.len + 7u) & ~(size_t)7u;
        }
        if (off != m.len)
            abort();
    }
}

/* Checks one message requester r got. */
static void check_one(unsigned r, ea_sys_msg_t m)
{
    struct req_state *q = &rs[r];
    if (m.op == EA_TIMER_FIRE) {
        /* A FIRE may still name a timer just cancelled; never another
         * requester's. */
        for (int i = 0; i < rs[!r].nh; i++)
            if (rs[!r].h[i] == m.handle)
                abort();
        return;
    }
    if (m.req_id == 0 && m.status == EA_ERR_INVAL)
        return; /* a request too short to have an id */
    if (m.req_id == 0 || q->sent[m.req_id % MID] != m.req_id)
        abort(); /* no request of r has this id */
    q->sent[m.req_id % MID] = 0;
    uint16_t op = m.op & (uint16_t)~EA_SYS_DONE;
    if (m.status >= 0 && (op == EA_TIMER_SET || op == EA_FILE_OPEN)) {
        for (int i = 0; i < rs[!r].nh; i++)
            if (rs[!r].h[i] == m.status)
                abort(); /* another requester's handle */
        if (q->nh < MH) {
            q->timer[q->nh] = op == EA_TIMER_SET;
            q->h[q->nh++] = m.status;
        }
    }
    if (m.status >= 0 && (op == EA_TIMER_CANCEL || op == EA_FILE_CLOSE))
        for (int i = 0; i < q->nh; i++)
            if (q->h[i] == m.handle) {
                q->h[i] = q->h[--q->nh];
                q->timer[i] = q->timer[q->nh];
                break;
            }
    /* r0's limits: handles=12, timers=4. */
    if (r == 0) {
        int timers = 0;
        for (int i = 0; i < q->nh; i++)
            timers += q->timer[i];
        if (q->nh > 12 || timers > 4)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    /* Counted per input: libFuzzer's symbolizer opens pipes of its own. */
    int fds = sys_h_fds();
    memset(rs, 0, sizeof rs);
    struct sys_harness *h = sys_h_new(NR, 32, 4096);
    if (h == NULL)
        abort();
    for (unsigned i = 0; i < NR; i++) {
        eai_dep_grant_t *g = sys_h_grant(h, i);
        g->files = files[i];
        g->files_ro = ro[i];
        g->nfiles = 1;
    }
    sys_h_grant(h, 0)->max_handles = 12;
    sys_h_grant(h, 0)->max_timers = 4;
    sys_h_grant(h, 0)->max_queued = 64 * 1024;
    if (sys_h_start(h) != EA_OK)
        abort();
    struct in in = {data, size};
    for (int step = 0; in.n > 0 && step < 300; step++) {
        uint32_t cmd = take(&in, 1);
        if (cmd < 200) {
            issue(h, &in);
        } else if (cmd < 250) {
            (void)sys_h_step(h);
        } else {
            sys_h_end(h, 1); /* r1 goes away: what it held is closed */
            (void)sys_h_step(h);
        }
        for (unsigned r = 0; r < NR; r++)
            drain(h, r);
    }
    for (int k = 0; k < 3; k++) {
        (void)sys_h_step(h);
        for (unsigned r = 0; r < NR; r++)
            drain(h, r);
    }
    if (sys_h_free(h) != EA_DONE)
        abort();
    if (sys_h_fds() != fds)
        abort(); /* a descriptor of the system actor outlived it */
    /* Files made by r0 go, so inputs do not depend on each other. */
    static const char *made[] = {"f", "a", "b"};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dirs[0], made[i]);
        unlink(p);
    }
    return 0;
}
