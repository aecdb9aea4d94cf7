/*
 * ea_bench_xmpp_load: the load generator of bench/xmpp.sh, a lean XMPP
 * client-to-server load (RFC 6120/6121 subset) on raw sockets.
 *
 * Design notes.
 *
 * One thread, one level-triggered epoll set, non-blocking sockets with
 * TCP_NODELAY, OpenSSL for STARTTLS. Nothing parses XML: each state of the
 * login waits for the one tag it needs (`</stream:features>`, `<proceed`,
 * `<success`, the bind and session results), and the sending phase only
 * cuts the stream at `</message>` and reads the body. That keeps the
 * generator's own CPU per message small next to the servers' (it is
 * measured and printed, gen_us_per_msg), so it does not decide the result.
 *
 * Phases:
 *  1. login: clients userI@DOMAIN (I = FIRST..FIRST+N-1, one password),
 *     resource RES, at most LOGIN_PAR handshakes at a time: header,
 *     features, [STARTTLS, TLS handshake, header, features], SASL PLAIN,
 *     header, features, bind, session, initial presence.
 *  2. sending (measured): client i sends chat messages with a BODY-byte
 *     body to client (i+1) mod N's full JID, keeping WINDOW messages in
 *     flight: each delivery lets its sender send one more. The body carries
 *     the sender, a sequence number and the send time (CLOCK_MONOTONIC), so
 *     the receiver timestamps the delivery and the latency is exact; an
 *     error bounce (type='error') or a message at the wrong client is
 *     counted as an error, never as a delivery. After SECONDS no new message is sent and the
 * generator waits up to DRAIN seconds for those in flight; what has not arrived by then is lost.
 * Outgoing bytes are queued per connection and written once per event-loop turn, so a burst of
 * deliveries costs one write per sender.
 *  3. logout: `</stream:stream>` and close.
 *
 * Server CPU: with --pids P1,P2,..., utime+stime of those processes (all
 * their threads) is read from /proc/PID/stat at the start and at the end of
 * phase 2, so logins (password hashing) are not counted; with --tree PID,
 * that of PID and all its descendants as they are at each reading (a
 * launcher that forks its enclaves). Own CPU: getrusage
 * over the same interval.
 *
 * Prints one line on stdout:
 *   xmpp-load clients=N tls=0|1 window=W seconds=S sent=A received=B lost=L
 *   errors=E msgs_per_s=X p50_ms=Y p99_ms=Z server_cpu_s=C
 *   cpu_s_per_100k=K server_us_per_msg=U gen_us_per_msg=G login_s=T
 *   server_syscalls=Y syscalls_per_msg=Q stanzas_per_syscall=R
 * (system calls of the server processes over phase 2, counted with one perf
 * tracepoint counter, raw_syscalls:sys_enter, per server thread; -1 and NA
 * without the permission for it; a stanza is a message in or out);
 * and exits 1 when a login failed or nothing was delivered (the line is
 * still printed when phase 2 ran).
 *
 * Usage: ea_bench_xmpp_load [options], see usage() below.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX (64 * 1024) /* unconsumed input this big is a protocol error here */
#define EVENTS 512
#define HIST_US 100000           /* 1 us buckets up to 100 ms ... */
#define HIST_N (HIST_US + 60000) /* ... then 1 ms buckets up to 60 s */

enum state {
    S_CONNECT,
    S_FEAT0,
    S_PROCEED,
    S_HANDSHAKE,
    S_FEAT1,
    S_AUTH,
    S_FEAT2,
    S_BIND,
    S_SESSION,
    S_READY,
    S_DEAD
};

struct conn {
    int fd;
    enum state st;
    SSL *ssl;
    char *in; /* received, not yet consumed; owned */
    size_t in_len;
    char *out; /* queued for writing; owned */
    size_t out_len, out_cap;
    int want_out;      /* EPOLLOUT registered */
    int dirty;         /* on the flush list this turn */
    uint32_t inflight; /* own messages sent, not yet delivered */
    uint32_t seq;
};

static struct {
    const char *host, *domain, *prefix, *password, *resource, *ca;
    int port, tls, nclients, first, window, body, login_par, tree;
    double seconds, drain, login_timeout;
    char pids[512];
} opt = {
    .host = "127.0.0.1",
    .domain = "localhost",
    .prefix = "user",
    .password = "pass",
    .resource = "bench",
    .port = 5222,
    .nclients = 100,
    .first = 1,
    .window = 4,
    .body = 64,
    .login_par = 32,
    .seconds = 10,
    .drain = 15,
    .login_timeout = 60,
};

static struct conn *conns;
static int epfd;
static SSL_CTX *tls_ctx;
static int *flush_list;
static int flush_n;
static int sending;                               /* phase 2: send more on each delivery */
static uint64_t n_sent, n_recv, n_err, n_bounced; /* n_err: failures of any kind */
static uint32_t *hist;
static uint64_t now_cache;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("xmpp_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("out of memory");
    return p;
}

static void usage(void)
{
    fprintf(stderr, "usage: ea_bench_xmpp_load [--host H] [--port P] [--domain D] [--clients N]\n"
                    "  [--first I] [--prefix user] [--password pass] [--resource R] [--tls]\n"
                    "  [--ca FILE] [--window W] [--body BYTES] [--seconds S] [--drain S]\n"
                    "  [--login-par K] [--login-timeout S] [--pids P1,P2,...] [--tree PID]\n");
    exit(2);
}

/* ---- server CPU from /proc ------------------------------------------------ */

/* utime+stime in clock ticks of every pid in opt.pids; a pid that is gone
 * counts 0 (and is reported). */
static uint64_t pids_ticks(void)
{
    uint64_t sum = 0;
    char list[sizeof opt.pids], *save = NULL;
    memcpy(list, opt.pids, sizeof list);
    for (char *p = strtok_r(list, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
        char path[64], buf[2048];
        snprintf(path, sizeof path, "/proc/%s/stat", p);
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "xmpp_load: server pid %s is gone\n", p);
            continue;
        }
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')'); /* the command name may hold spaces */
        unsigned long long ut = 0, stt = 0;
        if (rp &&
            sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) == 2)
            sum += ut + stt;
    }
    return sum;
}

/* utime+stime in clock ticks of process opt.tree and all its descendants,
 * as they are now (an eactors launcher forks its enclaves); their pids go to
 * `out` (up to `cap`, the number in *nout) when out is not NULL. */
static uint64_t tree_walk(int *out, int cap, int *nout)
{
    enum { MAXP = 65536 };
    static int pid[MAXP], ppid[MAXP], in[MAXP];
    static uint64_t tk[MAXP];
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAXP) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], buf[2048];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t r = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[r] = 0;
        char *rp = strrchr(buf, ')');
        int pp = 0;
        unsigned long long ut = 0, st = 0;
        if (!rp || sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut,
                          &st) != 3)
            continue;
        pid[n] = atoi(e->d_name);
        ppid[n] = pp;
        tk[n] = ut + st;
        in[n] = pid[n] == opt.tree;
        n++;
    }
    closedir(d);
    for (int more = 1; more;) {
        more = 0;
        for (int k = 0; k < n; k++) {
            if (in[k])
                continue;
            for (int j = 0; j < n; j++) {
                if (in[j] && pid[j] == ppid[k]) {
                    in[k] = more = 1;
                    break;
                }
            }
        }
    }
    uint64_t sum = 0;
    for (int k = 0; k < n; k++)
        if (in[k]) {
            sum += tk[k];
            if (out != NULL && *nout < cap)
                out[(*nout)++] = pid[k];
        }
    return sum;
}

static uint64_t server_ticks(void)
{
    return pids_ticks() + (opt.tree > 0 ? tree_walk(NULL, 0, NULL) : 0);
}

/* ---- server system calls (perf tracepoint raw_syscalls:sys_enter) -------- */

/* One counting perf event per thread of every server process (as they are
 * at the start of phase 2; threads they create later are inherited). Needs
 * the permission to trace other processes (root); without it, NA. */
#define SC_MAX 4096
static int sc_fd[SC_MAX], sc_n;
static const char *sc_why = "not started";

static long sc_tracepoint_id(void)
{
    const char *paths[] = {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                           "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"};
    for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        FILE *f = fopen(paths[i], "r");
        long id = -1;
        if (f == NULL)
            continue;
        if (fscanf(f, "%ld", &id) != 1)
            id = -1;
        fclose(f);
        if (id >= 0)
            return id;
    }
    return -1;
}

static void sc_open_pid(long tp, int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && sc_n < SC_MAX) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.type = PERF_TYPE_TRACEPOINT;
        a.size = sizeof a;
        a.config = (uint64_t)tp;
        a.inherit = 1;
        int fd =
            (int)syscall(SYS_perf_event_open, &a, atoi(e->d_name), -1, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            sc_why = strerror(errno);
            continue;
        }
        sc_fd[sc_n++] = fd;
    }
    closedir(d);
}

static void sc_start(void)
{
    long tp = sc_tracepoint_id();
    if (tp < 0) {
        sc_why = "no tracefs (raw_syscalls:sys_enter)";
        return;
    }
    static int pid[SC_MAX];
    int n = 0;
    char list[sizeof opt.pids], *save = NULL;
    memcpy(list, opt.pids, sizeof list);
    for (char *p = strtok_r(list, ", ", &save); p && n < SC_MAX; p = strtok_r(NULL, ", ", &save))
        pid[n++] = atoi(p);
    if (opt.tree > 0)
        tree_walk(pid, SC_MAX, &n);
    for (int i = 0; i < n; i++)
        sc_open_pid(tp, pid[i]);
    if (sc_n == 0)
        fprintf(stderr, "xmpp_load: server system calls not counted: %s\n", sc_why);
}

/* The server's system calls since sc_start; -1 if they were not counted. */
static long long sc_stop(void)
{
    if (sc_n == 0)
        return -1;
    long long sum = 0;
    for (int i = 0; i < sc_n; i++) {
        uint64_t v = 0;
        if (read(sc_fd[i], &v, sizeof v) == (ssize_t)sizeof v)
            sum += (long long)v;
        close(sc_fd[i]);
    }
    sc_n = 0;
    return sum;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- output --------------------------------------------------------------- */

static void out_add(int i, const char *s, size_t n)
{
    struct conn *c = &conns[i];
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out)
            die("out of memory");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    if (!c->dirty) {
        c->dirty = 1;
        flush_list[flush_n++] = i;
    }
}

static void out_str(int i, const char *s)
{
    out_add(i, s, strlen(s));
}

static void set_events(int i, int out)
{
    struct conn *c = &conns[i];
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->want_out = out;
}

static void login_finished(int i);

/* Closes client i after a failure; a client still logging in counts as
 * finished (failed), so the login phase does not wait for it. */
static void kill_conn(int i, const char *why)
{
    struct conn *c = &conns[i];
    if (c->st == S_DEAD)
        return;
    int was_login = c->st != S_READY;
    static int shown;
    if (shown++ < 5)
        fprintf(stderr, "xmpp_load: client %d (%s%d): %s\n", i, opt.prefix, opt.first + i, why);
    else if (shown == 6)
        fprintf(stderr, "xmpp_load: (more client failures not shown)\n");
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->st = S_DEAD;
    n_err++;
    if (was_login)
        login_finished(i);
}

/* Writes what is queued; 0 when done or would block, -1 on error. */
static int flush_conn(int i)
{
    struct conn *c = &conns[i];
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_write(c->ssl, c->out + off, (int)(c->out_len - off));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    break;
                return -1;
            }
            n = r;
        } else {
            n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                return -1;
            }
        }
        off += (size_t)n;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    set_events(i, c->out_len > 0);
    return 0;
}

static void flush_all(void)
{
    for (int k = 0; k < flush_n; k++) {
        int i = flush_list[k];
        conns[i].dirty = 0;
        if (conns[i].st != S_DEAD && conns[i].st != S_HANDSHAKE && conns[i].st != S_CONNECT &&
            flush_conn(i) != 0)
            kill_conn(i, "write failed");
    }
    flush_n = 0;
}

/* ---- login ---------------------------------------------------------------- */

static void send_header(int i)
{
    char b[256];
    snprintf(b, sizeof b,
             "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
             opt.domain);
    out_str(i, b);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t k = 0; k < n; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16;
        if (k + 1 < n)
            v |= (uint32_t)in[k + 1] << 8;
        if (k + 2 < n)
            v |= in[k + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = k + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = k + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

static void send_auth(int i)
{
    unsigned char raw[256];
    char enc[400], b[512];
    int n = snprintf((char *)raw + 1, sizeof raw - 1, "%s%d", opt.prefix, opt.first + i);
    raw[0] = 0;
    size_t len = 1 + (size_t)n;
    raw[len++] = 0;
    size_t pl = strlen(opt.password);
    memcpy(raw + len, opt.password, pl);
    len += pl;
    b64(raw, len, enc);
    snprintf(b, sizeof b,
             "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", enc);
    out_str(i, b);
}

static int logins_active, logins_done, logins_next;

static void start_login(int i)
{
    struct conn *c = &conns[i];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        die("bad host %s (an IPv4 address)", opt.host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
    c->want_out = 1;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->st = S_CONNECT;
    logins_active++;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        kill_conn(i, strerror(errno));
        return;
    }
    send_header(i);
}

static void login_finished(int i)
{
    (void)i;
    logins_active--;
    logins_done++;
    while (logins_active < opt.login_par && logins_next < opt.nclients)
        start_login(logins_next++);
}

static void tls_step(int i)
{
    struct conn *c = &conns[i];
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->st = S_FEAT1;
        c->in_len = 0;
        send_header(i);
        set_events(i, 1); /* the flush happens at the end of the turn */
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        set_events(i, 0);
    else if (e == SSL_ERROR_WANT_WRITE)
        set_events(i, 1);
    else {
        char b[160];
        snprintf(b, sizeof b, "TLS handshake failed: %s", ERR_error_string(ERR_get_error(), NULL));
        kill_conn(i, b);
    }
}

/* Does the buffer hold the end of a features element? */
static char *features_end(struct conn *c)
{
    char *p = memmem(c->in, c->in_len, "features>", 9); /* </stream:features> */
    if (p)
        return p + 9;
    p = memmem(c->in, c->in_len, "features/>", 10);
    return p ? p + 10 : NULL;
}

static void consume(struct conn *c, char *upto)
{
    size_t n = (size_t)(upto - c->in);
    memmove(c->in, upto, c->in_len - n);
    c->in_len -= n;
}

/* Advances the login of client i on the input it has; returns 1 when the
 * state changed (call again), 0 when it needs more input. */
static int login_step(int i)
{
    struct conn *c = &conns[i];
    char *p, b[400];
    if (memmem(c->in, c->in_len, "stream:error", 12) || memmem(c->in, c->in_len, "<failure", 8)) {
        size_t show = c->in_len < 300 ? c->in_len : 300;
        snprintf(b, sizeof b, "login refused in state %d: %.*s", c->st, (int)show, c->in);
        kill_conn(i, b);
        return 0;
    }
    switch (c->st) {
    case S_FEAT0:
        if (!(p = features_end(c)))
            return 0;
        consume(c, p);
        if (opt.tls) {
            out_str(i, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
            c->st = S_PROCEED;
        } else {
            send_auth(i);
            c->st = S_AUTH;
        }
        return 1;
    case S_FEAT1:
        if (!(p = features_end(c)))
            return 0;
        consume(c, p);
        send_auth(i);
        c->st = S_AUTH;
        return 1;
    case S_AUTH:
        if (!(p = memmem(c->in, c->in_len, "<success", 8)))
            return 0;
        c->in_len = 0; /* a restart: nothing before the new header counts */
        send_header(i);
        c->st = S_FEAT2;
        return 1;
    case S_FEAT2:
        if (!(p = features_end(c)))
            return 0;
        consume(c, p);
        snprintf(b, sizeof b,
                 "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 "<resource>%s</resource></bind></iq>",
                 opt.resource);
        out_str(i, b);
        c->st = S_BIND;
        return 1;
    case S_BIND:
        if (!(p = memmem(c->in, c->in_len, "</iq>", 5)))
            return 0;
        if (!memmem(c->in, c->in_len, "<jid>", 5)) {
            snprintf(b, sizeof b, "bind failed: %.*s", (int)(c->in_len < 300 ? c->in_len : 300),
                     c->in);
            kill_conn(i, b);
            return 0;
        }
        consume(c, p + 5);
        out_str(i, "<iq type='set' id='sess1'><session "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
        c->st = S_SESSION;
        return 1;
    case S_SESSION:
        if (!(p = memmem(c->in, c->in_len, "sess1", 5)))
            return 0;
        if (!(p = memmem(p, c->in_len - (size_t)(p - c->in), ">", 1)))
            return 0;
        if (memmem(c->in, (size_t)(p - c->in), "'error'", 7) ||
            memmem(c->in, (size_t)(p - c->in), "\"error\"", 7)) {
            kill_conn(i, "session refused");
            return 0;
        }
        c->in_len = 0;
        out_str(i, "<presence/>");
        c->st = S_READY;
        login_finished(i);
        return 0;
    default: return 0;
    }
}

/* ---- messages ------------------------------------------------------------- */

static void send_msg(int i)
{
    struct conn *c = &conns[i];
    int to = (i + 1) % opt.nclients;
    char body[1024], b[1400];
    /* sender:seq:send-time, padded to opt.body bytes */
    int n = snprintf(body, sizeof body, "%d:%u:%llu:", i, c->seq, (unsigned long long)now_cache);
    if (n < opt.body) {
        memset(body + n, 'x', (size_t)(opt.body - n));
        n = opt.body;
    }
    body[n] = 0;
    n = snprintf(b, sizeof b,
                 "<message to='%s%d@%s/%s' type='chat' id='m%u'><body>%s</body></message>",
                 opt.prefix, opt.first + to, opt.domain, opt.resource, c->seq, body);
    c->seq++;
    c->inflight++;
    n_sent++;
    out_add(i, b, (size_t)n);
}

static void hist_add(uint64_t ns)
{
    uint64_t us = ns / 1000;
    size_t k = us < HIST_US ? us : HIST_US + (us - HIST_US) / 1000;
    if (k >= HIST_N)
        k = HIST_N - 1;
    hist[k]++;
}

static double hist_q(double q)
{
    uint64_t tot = 0, acc = 0;
    for (size_t k = 0; k < HIST_N; k++)
        tot += hist[k];
    if (!tot)
        return 0;
    uint64_t want = (uint64_t)(q * (double)tot);
    if (want >= tot)
        want = tot - 1;
    for (size_t k = 0; k < HIST_N; k++) {
        acc += hist[k];
        if (acc > want)
            return k < HIST_US ? (double)k / 1000.0
                               : (double)(HIST_US + (k - HIST_US) * 1000) / 1000.0;
    }
    return 0;
}

/* Consumes complete <message .../message> stanzas; other stanzas are left
 * in the buffer until a message end passes them. */
static void ready_input(int i)
{
    struct conn *c = &conns[i];
    char *start = c->in, *end = c->in + c->in_len;
    for (;;) {
        char *m = memmem(start, (size_t)(end - start), "<message", 8);
        if (!m)
            break;
        char *e = memmem(m, (size_t)(end - m), "</message>", 10);
        if (!e)
            break;
        char *gt = memchr(m, '>', (size_t)(e - m));
        int is_err = gt && (memmem(m, (size_t)(gt - m), "type='error'", 12) ||
                            memmem(m, (size_t)(gt - m), "type=\"error\"", 12));
        char *bd = memmem(m, (size_t)(e - m), "<body>", 6);
        int from = -1;
        unsigned long long ts = 0;
        if (bd && sscanf(bd + 6, "%d:%*u:%llu:", &from, &ts) == 2 && from >= 0 &&
            from < opt.nclients) {
            struct conn *s = &conns[from];
            if (is_err) {
                n_err++;
                n_bounced++;
            } else if ((from + 1) % opt.nclients != i) {
                n_err++; /* at the wrong client: an error, not a delivery */
                n_bounced++;
            } else {
                n_recv++;
                hist_add(now_cache > ts ? now_cache - ts : 0);
            }
            if (s->inflight)
                s->inflight--;
            if (sending && s->st == S_READY)
                send_msg(from);
        } else {
            n_err++;
        }
        start = e + 10;
    }
    /* Drop what was consumed; keep a tail that may begin a tag. */
    char *keep = start;
    char *lt = memrchr(start, '<', (size_t)(end - start));
    if (!memmem(start, (size_t)(end - start), "<message", 8)) {
        keep = lt ? lt : end;
    } else {
        keep = memmem(start, (size_t)(end - start), "<message", 8);
    }
    consume(c, keep);
}

/* ---- event loop ----------------------------------------------------------- */

static void on_readable(int i)
{
    struct conn *c = &conns[i];
    for (;;) {
        if (c->in_len == IN_MAX) {
            kill_conn(i, "input too big");
            return;
        }
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, c->in + c->in_len, (int)(IN_MAX - c->in_len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                kill_conn(i, "TLS read failed or closed");
                return;
            }
            n = r;
        } else {
            n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                kill_conn(i, strerror(errno));
                return;
            }
            if (n == 0) {
                kill_conn(i, "closed by the server");
                return;
            }
        }
        size_t asked = IN_MAX - c->in_len;
        c->in_len += (size_t)n;
        if (!c->ssl && c->st == S_PROCEED)
            break; /* read nothing past <proceed/>: the TLS bytes are SSL's */
        if (!c->ssl && (size_t)n < asked)
            break; /* drained: epoll (level-triggered) reports what comes next */
    }
    if (c->st == S_READY) {
        ready_input(i);
        return;
    }
    if (c->st == S_PROCEED) {
        if (!memmem(c->in, c->in_len, "<proceed", 8)) {
            if (memmem(c->in, c->in_len, "<failure", 8))
                kill_conn(i, "STARTTLS refused");
            return;
        }
        c->in_len = 0;
        c->ssl = SSL_new(tls_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
            die("SSL_new failed");
        SSL_set_tlsext_host_name(c->ssl, opt.domain);
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        c->st = S_HANDSHAKE;
        tls_step(i);
        return;
    }
    while (login_step(i))
        ;
}

static void on_event(int i, uint32_t ev)
{
    struct conn *c = &conns[i];
    if (c->st == S_DEAD)
        return;
    if (c->st == S_CONNECT) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            kill_conn(i, strerror(err));
            return;
        }
        c->st = S_FEAT0;
    }
    if (c->st == S_HANDSHAKE) {
        tls_step(i);
        return;
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(i);
    if (c->st != S_DEAD && (ev & EPOLLOUT) && c->out_len && !c->dirty && c->st != S_HANDSHAKE) {
        if (flush_conn(i) != 0)
            kill_conn(i, "write failed");
    }
}

/* Runs the loop until stop() says so or the deadline passes. */
static void loop(int (*stop)(void), uint64_t deadline)
{
    struct epoll_event evs[EVENTS];
    while (!stop()) {
        now_cache = now_ns();
        if (now_cache >= deadline)
            break;
        int ms = (int)((deadline - now_cache) / 1000000) + 1;
        if (ms > 100)
            ms = 100;
        int n = epoll_wait(epfd, evs, EVENTS, ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        now_cache = now_ns();
        for (int k = 0; k < n; k++)
            on_event((int)evs[k].data.u32, evs[k].events);
        flush_all();
    }
}

static int logins_over(void)
{
    return logins_done >= opt.nclients;
}
static int never(void)
{
    return 0;
}
static int drained(void)
{
    return n_sent == n_recv + n_bounced;
}

/* ---- main ----------------------------------------------------------------- */

static void parse_args(int argc, char **argv)
{
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (k++, 1))
        if (strcmp(a, "--tls") == 0)
            opt.tls = 1;
        else if (ARG("--host"))
            opt.host = v;
        else if (ARG("--port"))
            opt.port = atoi(v);
        else if (ARG("--domain"))
            opt.domain = v;
        else if (ARG("--clients"))
            opt.nclients = atoi(v);
        else if (ARG("--first"))
            opt.first = atoi(v);
        else if (ARG("--prefix"))
            opt.prefix = v;
        else if (ARG("--password"))
            opt.password = v;
        else if (ARG("--resource"))
            opt.resource = v;
        else if (ARG("--ca"))
            opt.ca = v;
        else if (ARG("--window"))
            opt.window = atoi(v);
        else if (ARG("--body"))
            opt.body = atoi(v);
        else if (ARG("--seconds"))
            opt.seconds = atof(v);
        else if (ARG("--login-timeout"))
            opt.login_timeout = atof(v);
        else if (ARG("--drain"))
            opt.drain = atof(v);
        else if (ARG("--login-par"))
            opt.login_par = atoi(v);
        else if (ARG("--tree"))
            opt.tree = atoi(v);
        else if (ARG("--pids"))
            snprintf(opt.pids, sizeof opt.pids, "%s", v);
        else
            usage();
#undef ARG
    }
    if (opt.nclients < 2 || opt.nclients > 100000 || opt.window < 1 || opt.window > 1000 ||
        opt.body < 40 || opt.body > 900 || opt.seconds <= 0 || opt.port <= 0 || opt.port > 65535 ||
        opt.login_par < 1 || strlen(opt.prefix) > 64 || strlen(opt.password) > 64 ||
        strlen(opt.resource) > 64 || strlen(opt.domain) > 64)
        usage();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)opt.nclients + 64;
        if (rl.rlim_max < want) {
            rl.rlim_max = want;
        }
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)opt.nclients + 16)
            die("cannot raise the open-files limit to %d", opt.nclients + 64);
    }
    conns = calloc((size_t)opt.nclients, sizeof *conns);
    flush_list = xmalloc((size_t)opt.nclients * sizeof *flush_list);
    hist = calloc(HIST_N, sizeof *hist);
    if (!conns || !hist)
        die("out of memory");
    for (int i = 0; i < opt.nclients; i++) {
        conns[i].in = xmalloc(IN_MAX);
        conns[i].fd = -1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    if (opt.tls) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        if (!tls_ctx)
            die("SSL_CTX_new failed");
        if (opt.ca) {
            if (SSL_CTX_load_verify_locations(tls_ctx, opt.ca, NULL) != 1)
                die("cannot load CA file %s", opt.ca);
            SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
        }
    }

    /* Phase 1: logins. */
    uint64_t t0 = now_ns();
    now_cache = t0;
    while (logins_active < opt.login_par && logins_next < opt.nclients)
        start_login(logins_next++);
    flush_all();
    loop(logins_over, t0 + (uint64_t)(opt.login_timeout * 1e9));
    double login_s = (double)(now_ns() - t0) / 1e9;
    int ready = 0;
    for (int i = 0; i < opt.nclients; i++)
        ready += conns[i].st == S_READY;
    fprintf(stderr, "xmpp_load: %d of %d clients logged in in %.2f s\n", ready, opt.nclients,
            login_s);
    if (ready < opt.nclients) {
        fprintf(stderr, "xmpp_load: not every client logged in; no measurement\n");
        return 1;
    }
    /* Let self-presence and the like arrive before the measurement. */
    loop(never, now_ns() + 500000000u);
    for (int i = 0; i < opt.nclients; i++)
        conns[i].in_len = 0;
    n_err = 0;

    /* Phase 2: sending, measured. */
    sc_start();
    uint64_t srv0 = server_ticks();
    double gen0 = self_cpu_s();
    uint64_t ts = now_ns();
    now_cache = ts;
    sending = 1;
    for (int i = 0; i < opt.nclients; i++)
        for (int w = 0; w < opt.window; w++)
            send_msg(i);
    flush_all();
    loop(never, ts + (uint64_t)(opt.seconds * 1e9));
    sending = 0;
    loop(drained, now_ns() + (uint64_t)(opt.drain * 1e9));
    uint64_t te = now_ns();
    uint64_t srv1 = server_ticks();
    long long sysc = sc_stop();
    double gen1 = self_cpu_s();
    /* Stanzas per server system call: each message is one stanza in and
     * one out of the server. */
    char sc_per_msg[32] = "NA", st_per_sc[32] = "NA";
    if (sysc > 0 && n_recv > 0) {
        snprintf(sc_per_msg, sizeof sc_per_msg, "%.3f", (double)sysc / (double)n_recv);
        snprintf(st_per_sc, sizeof st_per_sc, "%.2f", 2.0 * (double)n_recv / (double)sysc);
    }

    double secs = (double)(te - ts) / 1e9;
    double srv_s = (double)(srv1 - srv0) / (double)sysconf(_SC_CLK_TCK);
    uint64_t lost = n_sent - n_recv - n_bounced;
    double per = n_recv ? 1.0 / (double)n_recv : 0;
    printf("xmpp-load clients=%d tls=%d window=%d seconds=%.2f sent=%llu received=%llu lost=%llu "
           "errors=%llu "
           "msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f server_cpu_s=%.2f cpu_s_per_100k=%.3f "
           "server_us_per_msg=%.2f gen_us_per_msg=%.2f login_s=%.2f server_syscalls=%lld "
           "syscalls_per_msg=%s stanzas_per_syscall=%s\n",
           opt.nclients, opt.tls, opt.window, secs, (unsigned long long)n_sent,
           (unsigned long long)n_recv, (unsigned long long)lost, (unsigned long long)n_err,
           (double)n_recv / secs, hist_q(0.50), hist_q(0.99), srv_s, srv_s * 100000.0 * per,
           srv_s * 1e6 * per, (gen1 - gen0) * 1e6 * per, login_s, sysc, sc_per_msg, st_per_sc);
    fflush(stdout);

    /* Phase 3: logout. */
    for (int i = 0; i < opt.nclients; i++)
        if (conns[i].st == S_READY)
            out_str(i, "<presence type='unavailable'/></stream:stream>");
    flush_all();
    for (int i = 0; i < opt.nclients; i++) {
        if (conns[i].st != S_DEAD) {
            if (conns[i].ssl) {
                SSL_shutdown(conns[i].ssl);
                SSL_free(conns[i].ssl);
            }
            close(conns[i].fd);
        }
        free(conns[i].in);
        free(conns[i].out);
    }
    free(conns);
    free(flush_list);
    free(hist);
    if (tls_ctx)
        SSL_CTX_free(tls_ctx);
    return (n_recv == 0 || n_err) ? 1 : 0;
}
