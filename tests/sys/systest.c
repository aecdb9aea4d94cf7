/*
 * Test image for the system actor: actor type `tester`, run in an enclave,
 * speaks the raw request/completion protocol of <eactors/ea_sys.h> (headers
 * built by hand, no client helpers) with the system actor on channel "sys".
 *
 * Network: listens on param `port`, accepts `conns` connections, echoes
 * `bytes` bytes on each (recv -> send of the same bytes -> recv ...), keeps
 * every connection open until all are echoed (so `conns` sockets are open at
 * once in the launcher), then receives once more on each and counts EOFs and
 * resets. At most MAXOUT requests are in flight, so completions always find
 * a node. Then (param `extra`=1) rights, files, stale handles and timers, and
 * finally an "FDCHECK" log line, after which it waits (periodic timer + STAT)
 * until the script creates `dir`/marker.
 *
 * Actor type `filetester` (below) attacks read-only file grants.
 *
 * Everything they report goes through EA_LOG lines the scripts check.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <eactors/ea_actor.h>
#include <eactors/ea_sys.h>

#define MAXOUT 96
#define MAXH 32768
#define RECV_MAX (128u * 1024u)

enum { P_LISTEN, P_NET, P_EXTRA, P_WAIT, P_END };

struct tester {
    ea_conn_t *c;
    int phase, step;
    uint64_t next_id;
    uint32_t port, conns, bytes, extra;
    const char *dir;
    int32_t listener, h, timer;
    uint32_t outstanding, accepts_out, accepted, done, open, closed, eofs, resets, errors;
    uint32_t fires, stat_out;
    uint32_t fhead, ftail, nparked;
    int32_t fifo[MAXH];
    int32_t parked[MAXH];
    uint32_t echoed[MAXH];
    uint8_t buf[8192];
};

/* Sends one raw request (header + payload) on `c` with the next id. */
static int send_req(ea_conn_t *c, uint64_t *next_id, uint16_t op, int32_t h, uint32_t arg,
                    uint64_t arg64, const void *data, uint32_t len)
{
    ea_cargo_t cg;
    int rc = ea_cargo_alloc(c, sizeof(ea_sys_msg_t) + len, &cg);
    if (rc != EA_OK)
        return rc;
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = op,
                      .req_id = ++*next_id,
                      .handle = h,
                      .len = len,
                      .arg = arg,
                      .arg64 = arg64};
    memcpy(cg.data, &m, sizeof m);
    if (len > 0)
        memcpy((uint8_t *)cg.data + sizeof m, data, len);
    rc = ea_cargo_send(&cg);
    if (rc != EA_OK)
        ea_cargo_release(&cg);
    return rc;
}

static int req(struct tester *t, uint16_t op, int32_t h, uint32_t arg, uint64_t arg64,
               const void *data, uint32_t len)
{
    int rc = send_req(t->c, &t->next_id, op, h, arg, arg64, data, len);
    if (rc != EA_OK)
        return rc;
    if (op != EA_LOG)
        t->outstanding++;
    return EA_OK;
}

__attribute__((format(printf, 2, 3))) static int logf_(struct tester *t, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EA_ERR_INVAL;
    return req(t, EA_LOG, -1, 0, 0, line, (uint32_t)strlen(line));
}

static int path_req(struct tester *t, uint16_t op, uint32_t flags, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", t->dir, name);
    return req(t, op, -1, flags, 0, p, (uint32_t)strlen(p));
}

static void pattern(uint8_t *b, uint32_t n, uint32_t off)
{
    for (uint32_t i = 0; i < n; i++)
        b[i] = (uint8_t)((off + i) * 7 + 3);
}

static int ctor(ea_actor_t *self, void *state)
{
    struct tester *t = state;
    t->c = ea_conn(self, "sys");
    if (t->c == NULL)
        return EA_ERR_NOTFOUND;
    t->port = (uint32_t)ea_param_int(self, "port", 0, NULL);
    t->conns = (uint32_t)ea_param_int(self, "conns", 1, NULL);
    t->bytes = (uint32_t)ea_param_int(self, "bytes", 100, NULL);
    t->extra = (uint32_t)ea_param_int(self, "extra", 0, NULL);
    t->dir = ea_param(self, "dir");
    t->listener = t->timer = -1;
    return t->conns <= MAXH && t->dir != NULL ? EA_OK : EA_ERR_INVAL;
}

/* Starts requests while the in-flight budget allows. */
static int pump(struct tester *t)
{
    int rc = EA_OK;
    while (rc == EA_OK && t->accepts_out < 16 && t->accepted + t->accepts_out < t->conns &&
           t->outstanding < MAXOUT) {
        rc = req(t, EA_NET_ACCEPT, t->listener, 0, 0, NULL, 0);
        t->accepts_out += rc == EA_OK;
    }
    while (rc == EA_OK && t->fhead != t->ftail && t->outstanding < MAXOUT) {
        int32_t h = t->fifo[t->fhead++ % MAXH];
        rc = req(t, EA_NET_RECV, h, RECV_MAX, 0, NULL, 0);
    }
    return rc;
}

static void fifo_push(struct tester *t, int32_t h)
{
    t->fifo[t->ftail++ % MAXH] = h;
}

static int net_event(struct tester *t, const ea_sys_msg_t *m, const uint8_t *data)
{
    uint16_t op = m->op & ~EA_SYS_DONE;
    int32_t st = m->status;
    switch (op) {
    case EA_NET_ACCEPT:
        t->accepts_out--;
        if (st < 0) {
            t->errors++;
            return logf_(t, "accept failed: %d", st);
        }
        t->accepted++;
        t->open++;
        t->echoed[st % MAXH] = 0;
        fifo_push(t, st);
        if (t->accepted == t->conns)
            return logf_(t, "accepted %u", t->accepted);
        return EA_OK;
    case EA_NET_RECV:
        if (st > 0) {
            if ((uint32_t)st > RECV_MAX || m->len != (uint32_t)st) {
                t->errors++;
                return logf_(t, "recv reported %d bytes, payload %u", st, m->len);
            }
            return req(t, EA_NET_SEND, m->handle, 0, 0, data, (uint32_t)st);
        }
        if (st == EA_SYS_EOF)
            t->eofs++;
        else if (st == EA_SYS_RESET)
            t->resets++;
        else
            t->errors++;
        return req(t, EA_NET_CLOSE, m->handle, 0, 0, NULL, 0);
    case EA_NET_SEND:
        if (st <= 0) {
            if (st == EA_SYS_RESET || st == EA_SYS_PIPE)
                t->resets++;
            else
                t->errors++;
            return req(t, EA_NET_CLOSE, m->handle, 0, 0, NULL, 0);
        }
        t->echoed[m->handle % MAXH] += (uint32_t)st;
        if (t->echoed[m->handle % MAXH] < t->bytes) {
            fifo_push(t, m->handle);
            return EA_OK;
        }
        t->parked[t->nparked++] = m->handle;
        if (++t->done == t->conns) {
            for (uint32_t i = 0; i < t->nparked; i++)
                fifo_push(t, t->parked[i]);
            return logf_(t, "all %u connections echoed, %u open at once", t->done, t->open);
        }
        return EA_OK;
    case EA_NET_CLOSE:
        if (st != 0)
            t->errors++;
        if (m->handle == t->listener) {
            t->listener = -1;
            t->phase = t->extra ? P_EXTRA : P_WAIT;
            t->step = 0;
            return EA_OK;
        }
        t->open--;
        if (++t->closed == t->conns) {
            int rc = logf_(t, "net done: conns=%u eofs=%u resets=%u errors=%u", t->conns, t->eofs,
                           t->resets, t->errors);
            return rc == EA_OK ? req(t, EA_NET_CLOSE, t->listener, 0, 0, NULL, 0) : rc;
        }
        return EA_OK;
    default: t->errors++; return logf_(t, "unexpected completion op %u", op);
    }
}

/* The extra checks, one request at a time; `m` answers the previous one. */
static int extra_step(struct tester *t, const ea_sys_msg_t *m, const uint8_t *data)
{
    char text[600];
    uint32_t n = m != NULL && m->len < sizeof text ? m->len : 0;
    if (m != NULL)
        memcpy(text, data, n);
    text[n] = '\0';
    int32_t st = m != NULL ? m->status : 0;
#define EXPECT(cond)                                                                          \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            t->phase = P_WAIT;                                                                \
            t->step = 0;                                                                      \
            return logf_(t, "extra FAIL at step %d: status %d text '%s'", t->step, st, text); \
        }                                                                                     \
    } while (0)
    switch (t->step++) {
    case 0: return req(t, EA_NET_LISTEN, -1, 9, 0, "127.0.0.1", 9);
    case 1:
        EXPECT(st == EA_ERR_PERM);
        logf_(t, "perm: %s", text);
        return req(t, EA_NET_CONNECT, -1, 9, 0, "localhost", 9);
    case 2:
        EXPECT(st == EA_ERR_PERM);
        logf_(t, "perm: %s", text);
        return req(t, EA_FILE_OPEN, -1, EA_FILE_RDONLY, 0, "/etc/passwd", 11);
    case 3:
        EXPECT(st == EA_ERR_PERM);
        logf_(t, "perm: %s", text);
        return path_req(t, EA_FILE_OPEN, EA_FILE_CREAT | EA_FILE_WRONLY, "../escape.txt");
    case 4:
        EXPECT(st == EA_ERR_PERM);
        logf_(t, "perm: %s", text);
        return path_req(t, EA_FILE_OPEN, EA_FILE_CREAT | EA_FILE_RDWR | EA_FILE_TRUNC, "data.bin");
    case 5:
        EXPECT(st >= 0);
        t->h = st;
        pattern(t->buf, 3000, 0);
        return req(t, EA_FILE_WRITE, t->h, 0, 0, t->buf, 3000);
    case 6:
        EXPECT(st == 3000);
        pattern(t->buf, 1000, 3000);
        return req(t, EA_FILE_WRITE, t->h, 0, 3000, t->buf, 1000);
    case 7: EXPECT(st == 1000); return req(t, EA_FILE_FSYNC, t->h, 0, 0, NULL, 0);
    case 8: EXPECT(st == 0); return req(t, EA_FILE_READ, t->h, 8000, 0, NULL, 0);
    case 9: {
        uint8_t want[4000];
        pattern(want, 4000, 0);
        EXPECT(st == 4000 && m->len == 4000 && memcmp(data, want, 4000) == 0);
        return req(t, EA_FILE_READ, t->h, 5, 3990, NULL, 0);
    }
    case 10: {
        uint8_t want[5];
        pattern(want, 5, 3990);
        EXPECT(st == 5 && m->len == 5 && memcmp(data, want, 5) == 0);
        return path_req(t, EA_FILE_STAT, 0, "data.bin");
    }
    case 11: EXPECT(st == 0 && m->arg64 == 4000); return req(t, EA_FILE_CLOSE, t->h, 0, 0, NULL, 0);
    case 12: EXPECT(st == 0); return req(t, EA_FILE_READ, t->h, 10, 0, NULL, 0);
    case 13: EXPECT(st == EA_SYS_BADHANDLE); return req(t, EA_NET_RECV, 12345, 10, 0, NULL, 0);
    case 14: EXPECT(st == EA_SYS_BADHANDLE); return path_req(t, EA_FILE_UNLINK, 0, "data.bin");
    case 15: EXPECT(st == 0); return path_req(t, EA_FILE_STAT, 0, "data.bin");
    case 16:
        EXPECT(st == EA_SYS_NOENT);
        return path_req(t, EA_FILE_OPEN, EA_FILE_RDONLY, "nothere");
    case 17:
        EXPECT(st == EA_SYS_NOENT);
        return req(t, EA_TIMER_SET, -1, 0, 30u * 1000000u, NULL, 0); /* one-shot */
    case 18:
        EXPECT(st >= 0);
        t->timer = st;
        t->fires = 0;
        return EA_OK; /* wait for the FIRE */
    case 19:
        EXPECT(m->op == EA_TIMER_FIRE && m->handle == t->timer && m->arg64 == 1);
        return req(t, EA_TIMER_CANCEL, t->timer, 0, 0, NULL, 0);
    case 20:
        EXPECT(st == 0);
        return req(t, EA_TIMER_SET, -1, 10, 10u * 1000000u, NULL, 0); /* periodic */
    case 21:
        EXPECT(st >= 0);
        t->timer = st;
        return EA_OK;
    case 22:
        EXPECT(m->op == EA_TIMER_FIRE && m->handle == t->timer);
        t->fires += (uint32_t)m->arg64;
        if (t->fires < 5) {
            t->step--;
            return EA_OK;
        }
        return req(t, EA_TIMER_CANCEL, t->timer, 0, 0, NULL, 0);
    case 23:
        if (m->op == EA_TIMER_FIRE) { /* one more may have been on its way */
            t->step--;
            return EA_OK;
        }
        EXPECT(st == 0);
        t->timer = -1;
        t->phase = P_WAIT;
        t->step = 0;
        return logf_(t, "extra ok: fires=%u", t->fires);
    default: return EA_ERR_INVAL;
    }
#undef EXPECT
}

/* Final: report, then wait until the script has counted the descriptors. */
static int wait_step(struct tester *t, const ea_sys_msg_t *m)
{
    if (t->step == 0) {
        t->step = 1;
        int rc = logf_(t, "FDCHECK");
        return rc == EA_OK ? req(t, EA_TIMER_SET, -1, 50, 50u * 1000000u, NULL, 0) : rc;
    }
    if (m == NULL)
        return EA_OK;
    uint16_t op = m->op & ~EA_SYS_DONE;
    if (op == EA_TIMER_SET) {
        t->timer = m->status;
    } else if (m->op == EA_TIMER_FIRE) {
        if (!t->stat_out) {
            t->stat_out = 1;
            return path_req(t, EA_FILE_STAT, 0, "marker");
        }
    } else if (op == EA_FILE_STAT) {
        t->stat_out = 0;
        if (m->status == 0 && t->timer >= 0)
            return req(t, EA_TIMER_CANCEL, t->timer, 0, 0, NULL, 0);
    } else if (op == EA_TIMER_CANCEL) {
        t->phase = P_END;
        return logf_(t, "tester done: errors=%u", t->errors);
    }
    return EA_OK;
}

static int body(ea_actor_t *self, void *state)
{
    struct tester *t = state;
    int rc = EA_OK;
    if (ea_stopping(self))
        return EA_DONE;
    if (t->phase == P_LISTEN && t->listener < 0 && t->outstanding == 0) {
        rc = req(t, EA_NET_LISTEN, -1, t->port, 0, "127.0.0.1", 9);
        if (rc != EA_OK)
            return rc;
    }
    for (int n = 0; n < 512 && rc == EA_OK; n++) {
        ea_cargo_t cg;
        if (ea_cargo_recv(t->c, &cg) != EA_OK)
            break;
        ea_sys_msg_t m;
        if (cg.len < sizeof m) {
            ea_cargo_release(&cg);
            return EA_ERR_CORRUPT;
        }
        memcpy(&m, cg.data, sizeof m);
        const uint8_t *data = (const uint8_t *)cg.data + sizeof m;
        if (m.magic != EA_SYS_MAGIC || m.len > cg.len - sizeof m) {
            ea_cargo_release(&cg);
            return EA_ERR_CORRUPT;
        }
        if (m.op & EA_SYS_DONE)
            t->outstanding--;
        switch (t->phase) {
        case P_LISTEN:
            if (m.status < 0) {
                rc = logf_(t, "listen failed: %d", m.status);
                t->phase = P_END;
            } else {
                t->listener = m.status;
                t->phase = P_NET;
                rc = logf_(t, "LISTENING port=%u", t->port);
            }
            break;
        case P_NET: rc = net_event(t, &m, data); break;
        case P_EXTRA: rc = extra_step(t, &m, data); break;
        case P_WAIT: rc = wait_step(t, &m); break;
        default: break;
        }
        ea_cargo_release(&cg);
    }
    if (rc == EA_OK && t->phase == P_NET)
        rc = pump(t);
    if (rc == EA_OK && t->phase == P_EXTRA && t->step == 0)
        rc = extra_step(t, NULL, NULL);
    if (rc == EA_OK && t->phase == P_WAIT && t->step == 0)
        rc = wait_step(t, NULL);
    if (rc != EA_OK)
        return rc;
    if (t->phase == P_END && t->outstanding == 0)
        return EA_DONE;
    return EA_IDLE;
}

EA_ACTOR(tester, struct tester, ctor, body);

/* ------------------------------------------------------------------------
 * Actor type `filetester`: an attacker against read-only file grants.
 *
 * Params `ro` and `rw` each list directories (space-separated, at most
 * MAXT in all) in which the script has put `victim` holding "ORIGINAL". In
 * every directory the same probes run, one request at a time: read the
 * victim, write through the read-only handle, open it for writing, for
 * reading and writing, for appending, create new files (also with a
 * read-only open), truncate it through a read-only open, unlink it. In an
 * `ro` directory every change must be refused with EA_ERR_PERM and the
 * victim must still read "ORIGINAL"; in an `rw` directory (the control) the
 * same requests succeed, so the refusals are the grant's doing. Each
 * refusal is logged as "refused <probe> in <dir>: <text>", each directory as
 * "<dir>: ro ok" or "<dir>: rw ok", the end as "files done: errors=N".
 */

#define MAXT 8

enum expect { X_HANDLE, X_ZERO, X_PERM, X_LEN, X_ORIG, X_SIZE, X_NOENT };

struct probe {
    const char *name;
    uint16_t op;
    uint32_t flags;
    const char *file;
    int slot;           /* handle slot the op acts on or an OPEN fills, or -1 */
    enum expect ro, rw; /* in a read-only and in a read-write directory */
    uint64_t size;      /* X_SIZE: expected size in ro, then in rw */
    uint64_t size_rw;
};

#define ORIG "ORIGINAL"
#define EVIL "ATTACKED"

/* A probe on a slot that holds no handle is skipped: in a read-only
 * directory the OPEN that would have filled it was refused. */
static const struct probe probes[] = {
    {"open-read", EA_FILE_OPEN, EA_FILE_RDONLY, "victim", 0, X_HANDLE, X_HANDLE, 0, 0},
    {"read", EA_FILE_READ, 0, NULL, 0, X_ORIG, X_ORIG, 0, 0},
    {"write-read-handle", EA_FILE_WRITE, 0, NULL, 0, X_PERM, X_PERM, 0, 0},
    {"close", EA_FILE_CLOSE, 0, NULL, 0, X_ZERO, X_ZERO, 0, 0},
    {"open-write", EA_FILE_OPEN, EA_FILE_WRONLY, "victim", 1, X_PERM, X_HANDLE, 0, 0},
    {"write", EA_FILE_WRITE, 0, NULL, 1, X_PERM, X_LEN, 0, 0},
    {"close", EA_FILE_CLOSE, 0, NULL, 1, X_ZERO, X_ZERO, 0, 0},
    {"open-rdwr", EA_FILE_OPEN, EA_FILE_RDWR, "victim", 1, X_PERM, X_HANDLE, 0, 0},
    {"close", EA_FILE_CLOSE, 0, NULL, 1, X_ZERO, X_ZERO, 0, 0},
    {"open-append", EA_FILE_OPEN, EA_FILE_RDONLY | EA_FILE_APPEND, "victim", 1, X_PERM, X_HANDLE, 0,
     0},
    {"close", EA_FILE_CLOSE, 0, NULL, 1, X_ZERO, X_ZERO, 0, 0},
    {"create", EA_FILE_OPEN, EA_FILE_CREAT | EA_FILE_WRONLY, "new", 1, X_PERM, X_HANDLE, 0, 0},
    {"close", EA_FILE_CLOSE, 0, NULL, 1, X_ZERO, X_ZERO, 0, 0},
    {"create-rdonly", EA_FILE_OPEN, EA_FILE_CREAT, "new-rdonly", 1, X_PERM, X_HANDLE, 0, 0},
    {"close", EA_FILE_CLOSE, 0, NULL, 1, X_ZERO, X_ZERO, 0, 0},
    {"stat-before-truncate", EA_FILE_STAT, 0, "victim", -1, X_SIZE, X_SIZE, 8, 8},
    {"truncate", EA_FILE_OPEN, EA_FILE_RDONLY | EA_FILE_TRUNC, "victim", 1, X_PERM, X_HANDLE, 0, 0},
    {"close", EA_FILE_CLOSE, 0, NULL, 1, X_ZERO, X_ZERO, 0, 0},
    {"stat-after-truncate", EA_FILE_STAT, 0, "victim", -1, X_SIZE, X_SIZE, 8, 0},
    {"unlink", EA_FILE_UNLINK, 0, "victim", -1, X_PERM, X_ZERO, 0, 0},
    {"stat-after-unlink", EA_FILE_STAT, 0, "victim", -1, X_SIZE, X_NOENT, 8, 0},
};
#define NPROBES ((int)(sizeof probes / sizeof probes[0]))

struct filetester {
    ea_conn_t *c;
    uint64_t next_id;
    char dirs[2048];
    const char *dir[MAXT];
    bool ro[MAXT];
    int ndirs, target, probe, tfails;
    int32_t slot[2];
    bool waiting, done;
    uint32_t errors;
};

static int freq(struct filetester *t, uint16_t op, int32_t h, uint32_t arg, uint64_t arg64,
                const void *data, uint32_t len)
{
    return send_req(t->c, &t->next_id, op, h, arg, arg64, data, len);
}

__attribute__((format(printf, 2, 3))) static int flog(struct filetester *t, const char *fmt, ...)
{
    char line[900];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EA_ERR_INVAL;
    return freq(t, EA_LOG, -1, 0, 0, line, (uint32_t)strlen(line));
}

/* Splits the space-separated list `s` into t->dir, marking each `ro`. */
static int add_dirs(struct filetester *t, const char *s, bool ro, size_t *used)
{
    size_t n = strlen(s) + 1;
    if (*used + n > sizeof t->dirs)
        return EA_ERR_INVAL;
    char *p = memcpy(t->dirs + *used, s, n);
    *used += n;
    for (char *save = NULL, *d = strtok_r(p, " ", &save); d != NULL;
         d = strtok_r(NULL, " ", &save)) {
        if (t->ndirs == MAXT)
            return EA_ERR_INVAL;
        t->ro[t->ndirs] = ro;
        t->dir[t->ndirs++] = d;
    }
    return EA_OK;
}

static int fctor(ea_actor_t *self, void *state)
{
    struct filetester *t = state;
    t->c = ea_conn(self, "sys");
    const char *ro = ea_param(self, "ro"), *rw = ea_param(self, "rw");
    size_t used = 0;
    int rc = t->c != NULL ? EA_OK : EA_ERR_NOTFOUND;
    if (rc == EA_OK && ro != NULL)
        rc = add_dirs(t, ro, true, &used);
    if (rc == EA_OK && rw != NULL)
        rc = add_dirs(t, rw, false, &used);
    t->slot[0] = t->slot[1] = -1;
    return rc;
}

/* Issues the current probe, skipping those on an empty slot; after the last
 * probe of a directory reports it and moves on to the next. */
static int probe_next(struct filetester *t)
{
    while (t->target < t->ndirs) {
        if (t->probe == NPROBES) {
            const char *d = t->dir[t->target];
            int rc =
                t->tfails == 0 ? flog(t, "%s: %s ok", d, t->ro[t->target] ? "ro" : "rw") : EA_OK;
            t->target++;
            t->probe = t->tfails = 0;
            t->slot[0] = t->slot[1] = -1;
            if (rc != EA_OK)
                return rc;
            continue;
        }
        const struct probe *pr = &probes[t->probe];
        bool on_handle = pr->op != EA_FILE_OPEN && pr->slot >= 0;
        if (on_handle && t->slot[pr->slot] < 0) {
            t->probe++;
            continue;
        }
        t->waiting = true;
        if (on_handle) {
            int32_t h = t->slot[pr->slot];
            if (pr->op == EA_FILE_READ)
                return freq(t, pr->op, h, 100, 0, NULL, 0);
            if (pr->op == EA_FILE_WRITE)
                return freq(t, pr->op, h, 0, 0, EVIL, 8);
            return freq(t, pr->op, h, 0, 0, NULL, 0);
        }
        char path[600];
        snprintf(path, sizeof path, "%s/%s", t->dir[t->target], pr->file);
        return freq(t, pr->op, -1, pr->flags, 0, path, (uint32_t)strlen(path));
    }
    t->done = true;
    return flog(t, "files done: errors=%u", t->errors);
}

/* Checks the completion m of the current probe against its expectation. */
static int probe_check(struct filetester *t, const ea_sys_msg_t *m, const uint8_t *data)
{
    const struct probe *pr = &probes[t->probe];
    bool ro = t->ro[t->target];
    enum expect x = ro ? pr->ro : pr->rw;
    int32_t st = m->status;
    char text[600];
    uint32_t n = m->len < sizeof text ? m->len : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    bool ok;
    switch (x) {
    case X_HANDLE: ok = st >= 0; break;
    case X_ZERO: ok = st == 0; break;
    case X_PERM: ok = st == EA_ERR_PERM && n > 0; break;
    case X_LEN: ok = st == 8; break;
    case X_ORIG: ok = st == 8 && m->len == 8 && memcmp(data, ORIG, 8) == 0; break;
    case X_SIZE: ok = st == 0 && m->arg64 == (ro ? pr->size : pr->size_rw); break;
    case X_NOENT: ok = st == EA_SYS_NOENT; break;
    default: ok = false; break;
    }
    int rc = EA_OK;
    if (!ok) {
        t->errors++;
        t->tfails++;
        rc = flog(t, "FAIL %s in %s (%s): status %d text '%s'", pr->name, t->dir[t->target],
                  ro ? "ro" : "rw", st, text);
    } else if (x == X_PERM) {
        rc = flog(t, "refused %s in %s: %s", pr->name, t->dir[t->target], text);
    }
    /* Slots follow what the system actor did, whatever was expected, so no
     * handle is left open. */
    if (pr->slot >= 0 && pr->op == EA_FILE_OPEN && st >= 0)
        t->slot[pr->slot] = st;
    if (pr->slot >= 0 && pr->op == EA_FILE_CLOSE)
        t->slot[pr->slot] = -1;
    t->probe++;
    return rc;
}

static int fbody(ea_actor_t *self, void *state)
{
    struct filetester *t = state;
    if (ea_stopping(self))
        return EA_DONE;
    int rc = EA_OK;
    ea_cargo_t cg;
    while (rc == EA_OK && ea_cargo_recv(t->c, &cg) == EA_OK) {
        ea_sys_msg_t m;
        if (cg.len < sizeof m) {
            ea_cargo_release(&cg);
            return EA_ERR_CORRUPT;
        }
        memcpy(&m, cg.data, sizeof m);
        const uint8_t *data = (const uint8_t *)cg.data + sizeof m;
        if (m.magic != EA_SYS_MAGIC || m.len > cg.len - sizeof m || !t->waiting) {
            ea_cargo_release(&cg);
            return EA_ERR_CORRUPT;
        }
        t->waiting = false;
        rc = probe_check(t, &m, data);
        ea_cargo_release(&cg);
    }
    if (rc == EA_OK && !t->waiting && !t->done)
        rc = probe_next(t);
    if (rc != EA_OK)
        return rc;
    return t->done ? EA_DONE : EA_IDLE;
}

EA_ACTOR(filetester, struct filetester, fctor, fbody);
