/*
 * https, the request handler (enclave `app`): HTTP/1.1 over the plaintext
 * the TLS front decrypted. Static files from the site directory, read
 * through the system actor and cached in enclave memory. Keep-alive,
 * 200/400/404/405/413, Content-Type and Content-Length. Request bytes are
 * parsed only by http_head.h, with explicit lengths.
 *
 * Parameters: site (the directory, must be granted to this enclave); app and
 * fs (the names of the two channels, default "app" and "fs": a deployment
 * with several pipelines names each one's own).
 * Channels: "app" to the front, "fs" to the system actor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_trust.h>
#include <eactors/eactors.h>
#include <eactors/ea_sys.h>

#include "http_head.h"
#include "proto.h"

#define MAX_HEAD 8192       /* request line + headers */
#define MAX_FILE (1u << 20) /* largest file served */
#define MAX_CACHE 64

struct file {
    char path[300];
    char *data; /* NULL while loading */
    uint32_t len;
    int missing;
    /* The head of its 200 response, by keep-alive (1) or not (0), made at
     * the first such response (hlen 0: not yet): no formatting per request. */
    char head[2][192];
    uint16_t hlen[2];
};

/* A request waiting for a file to load. */
struct wait {
    uint32_t conn;
    int head_only, keep;
    int file; /* index in cache */
};

struct conn {
    char buf[MAX_HEAD]; /* request bytes, not NUL-terminated */
    uint32_t len;
    int closed; /* a response closed the connection: ignore what follows */
};

struct load {
    int file;
    int32_t handle;
    int64_t req;
    uint32_t got;
};

struct app {
    ea_conn_t *front;
    ea_sys_client_t sys;
    char site[200];
    struct conn **conns; /* MAX_CONNS, allocated while a connection talks */
    struct file cache[MAX_CACHE];
    int nfiles;
    struct wait waits[256];
    int nwaits;
    struct load loads[MAX_CACHE];
    /* responses not yet sent (channel full): kept in order */
    struct out {
        uint32_t id, kind;
        char *data;
        uint32_t len;
    } outq[512];
#define OUTQ_READ_MAX 256 /* replies queued above which the front is not read */
    int nout;
    struct batch ob;     /* this step's responses, one message (proto.h) */
    char scratch[16384]; /* a small response, head and body together */
};

static const char *mime(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL)
        return "application/octet-stream";
    if (!strcmp(dot, ".html") || !strcmp(dot, ".htm"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css";
    if (!strcmp(dot, ".js"))
        return "text/javascript";
    if (!strcmp(dot, ".txt"))
        return "text/plain; charset=utf-8";
    if (!strcmp(dot, ".png"))
        return "image/png";
    if (!strcmp(dot, ".svg"))
        return "image/svg+xml";
    if (!strcmp(dot, ".json"))
        return "application/json";
    return "application/octet-stream";
}

/* Sends (or queues) one message to the front; the body may be split. */
static void emit(struct app *s, uint32_t id, uint32_t kind, const char *data, uint32_t len)
{
    size_t room = batch_room_max(s->front);
    do {
        uint32_t n = len > room ? (uint32_t)room : len;
        /* Into this step's batch, sent when the step ends (app_body). */
        if (s->nout == 0 &&
            batch_put(s->front, &s->ob, id, len > n ? KIND_DATA : kind, data, n) == EA_OK) {
            data += n;
            len -= n;
            continue;
        }
        if (s->nout == (int)(sizeof s->outq / sizeof s->outq[0]))
            return; /* front not draining at all: drop (the front will time out) */
        struct out *o = &s->outq[s->nout++];
        o->id = id;
        o->kind = len > n ? KIND_DATA : kind;
        o->data = malloc(n ? n : 1);
        if (o->data == NULL) {
            s->nout--;
            return;
        }
        memcpy(o->data, data, n);
        o->len = n;
        data += n;
        len -= n;
    } while (len > 0);
}

static void flush_out(struct app *s)
{
    int i = 0;
    for (; i < s->nout; i++) {
        struct out *o = &s->outq[i];
        if (batch_put(s->front, &s->ob, o->id, o->kind, o->data, o->len) != EA_OK)
            break;
        free(o->data);
    }
    memmove(s->outq, s->outq + i, (size_t)(s->nout - i) * sizeof s->outq[0]);
    s->nout -= i;
    (void)batch_send(&s->ob);
}

static void error_page(struct app *s, uint32_t id, int code, const char *reason, int keep,
                       const char *extra);

static int make_head(char *head, size_t cap, int code, const char *reason, const char *type,
                     uint32_t blen, int keep, const char *extra)
{
    int n = snprintf(head, cap,
                     "HTTP/1.1 %d %s\r\nServer: eactors\r\nContent-Type: %s\r\n"
                     "Content-Length: %u\r\nConnection: %s\r\n%s\r\n",
                     code, reason, type, blen, keep ? "keep-alive" : "close", extra ? extra : "");
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* Sends a response whose head (n bytes) is made. */
static void send_response(struct app *s, uint32_t id, const char *head, int n, const char *body,
                          uint32_t blen, int head_only, int keep)
{
    uint32_t kind = keep ? KIND_DATA : KIND_CLOSE;
    if (head_only || blen == 0) {
        emit(s, id, kind, head, (uint32_t)n);
        return;
    }
    /* Head and body in one message when they fit: one TLS record, one send. */
    if ((size_t)n + blen <= sizeof s->scratch) {
        memcpy(s->scratch, head, (size_t)n);
        memcpy(s->scratch + n, body, blen);
        emit(s, id, kind, s->scratch, (uint32_t)n + blen);
        return;
    }
    emit(s, id, KIND_DATA, head, (uint32_t)n);
    emit(s, id, kind, body, blen);
}

static void respond(struct app *s, uint32_t id, int code, const char *reason, const char *type,
                    const char *body, uint32_t blen, int head_only, int keep, const char *extra)
{
    char head[512];
    int n = make_head(head, sizeof head, code, reason, type, blen, keep, extra);
    if (n < 0) {
        error_page(s, id, 500, "Internal Server Error", 0, NULL);
        return;
    }
    send_response(s, id, head, n, body, blen, head_only, keep);
}

static void error_page(struct app *s, uint32_t id, int code, const char *reason, int keep,
                       const char *extra)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%d %s\n", code, reason);
    respond(s, id, code, reason, "text/plain; charset=utf-8", body, (uint32_t)n, 0, keep, extra);
}

static void serve_file(struct app *s, uint32_t id, int f, int head_only, int keep)
{
    struct file *fl = &s->cache[f];
    keep = keep != 0;
    if (fl->missing) {
        error_page(s, id, 404, "Not Found", keep, NULL);
        return;
    }
    if (fl->hlen[keep] == 0) {
        int n = make_head(fl->head[keep], sizeof fl->head[keep], 200, "OK", mime(fl->path), fl->len,
                          keep, NULL);
        if (n < 0) {
            respond(s, id, 200, "OK", mime(fl->path), fl->data, fl->len, head_only, keep, NULL);
            return;
        }
        fl->hlen[keep] = (uint16_t)n;
    }
    send_response(s, id, fl->head[keep], fl->hlen[keep], fl->data, fl->len, head_only, keep);
}

static int start_load(struct app *s, const char *path)
{
    for (int i = 0; i < s->nfiles; i++)
        if (strcmp(s->cache[i].path, path) == 0)
            return i;
    if (s->nfiles == MAX_CACHE)
        return -1;
    int f = s->nfiles++;
    struct file *fl = &s->cache[f];
    memset(fl, 0, sizeof *fl);
    snprintf(fl->path, sizeof fl->path, "%s", path);
    char full[512];
    snprintf(full, sizeof full, "%s%s", s->site, path);
    struct load *ld = &s->loads[f];
    memset(ld, 0, sizeof *ld);
    ld->file = f;
    ld->handle = -1;
    ld->req = ea_file_open(&s->sys, full, EA_FILE_RDONLY);
    if (ld->req < 0)
        fl->missing = 1;
    return f;
}

/*
 * Answers one complete request head (hlen bytes at head, "\r\n\r\n"
 * included; not NUL-terminated). Returns whether the connection stays open:
 * after a response that closes it, nothing more of it is read.
 */
static int handle_request(struct app *s, uint32_t id, const char *head, uint32_t hlen)
{
    struct http_req r;
    int v = http_parse_head(head, hlen, &r);
    if (v != HTTP_OK) {
        if (v == HTTP_BODY)
            error_page(s, id, 413, "Payload Too Large", 0, NULL);
        else
            error_page(s, id, 400, "Bad Request", 0, NULL);
        return 0;
    }
    int keep = r.keep;
    char *target = r.target; /* NUL-terminated by http_parse_head */
    int head_only = strcmp(r.method, "HEAD") == 0;
    if (!head_only && strcmp(r.method, "GET") != 0) {
        error_page(s, id, 405, "Method Not Allowed", keep, "Allow: GET, HEAD\r\n");
        return keep;
    }
    char *q = strchr(target, '?');
    if (q != NULL)
        *q = '\0';
    if (strstr(target, "..") != NULL || strstr(target, "//") != NULL) {
        error_page(s, id, 404, "Not Found", keep, NULL);
        return keep;
    }
    if (strcmp(target, "/") == 0)
        snprintf(r.target, sizeof r.target, "/index.html");
    int f = start_load(s, target);
    if (f < 0) {
        error_page(s, id, 404, "Not Found", keep, NULL);
        return keep;
    }
    if (s->cache[f].data != NULL || s->cache[f].missing) {
        serve_file(s, id, f, head_only, keep);
        return keep;
    }
    if (s->nwaits == (int)(sizeof s->waits / sizeof s->waits[0])) {
        error_page(s, id, 503, "Service Unavailable", 0, NULL);
        return 0;
    }
    s->waits[s->nwaits++] = (struct wait){id, head_only, keep, f};
    return keep;
}

static void on_data(struct app *s, uint32_t id, const char *data, uint32_t len)
{
    if (s->conns[id] == NULL && (s->conns[id] = calloc(1, sizeof **s->conns)) == NULL) {
        error_page(s, id, 503, "Service Unavailable", 0, NULL);
        return;
    }
    struct conn *c = s->conns[id];
    while (len > 0 && !c->closed) {
        uint32_t n = len < MAX_HEAD - c->len ? len : MAX_HEAD - c->len;
        memcpy(c->buf + c->len, data, n);
        c->len += n;
        data += n;
        len -= n;
        for (size_t hlen; !c->closed && (hlen = http_head_len(c->buf, c->len)) > 0;) {
            c->closed = !handle_request(s, id, c->buf, (uint32_t)hlen);
            memmove(c->buf, c->buf + hlen, c->len - hlen);
            c->len -= (uint32_t)hlen;
        }
        if (!c->closed && c->len == MAX_HEAD) {
            /* A request line or head larger than we accept. */
            error_page(s, id, 413, "Payload Too Large", 0, NULL);
            c->closed = 1;
        }
    }
}

static void file_event(struct app *s, ea_sys_event_t *ev)
{
    for (int f = 0; f < s->nfiles; f++) {
        struct load *ld = &s->loads[f];
        struct file *fl = &s->cache[f];
        if (ld->req != (int64_t)ev->msg.req_id)
            continue;
        ld->req = 0;
        if (ev->msg.status < 0) {
            if (ld->handle >= 0)
                ea_file_close(&s->sys, ld->handle);
            fl->missing = 1;
        } else if ((ev->msg.op & ~EA_SYS_DONE) == EA_FILE_OPEN) {
            ld->handle = ev->msg.status;
            fl->data = NULL;
            ld->req = ea_file_read(&s->sys, ld->handle, 0, MAX_FILE);
        } else if ((ev->msg.op & ~EA_SYS_DONE) == EA_FILE_READ) {
            fl->data = malloc(ev->msg.len ? ev->msg.len : 1);
            if (fl->data != NULL) {
                memcpy(fl->data, ev->data, ev->msg.len);
                fl->len = ev->msg.len;
            } else {
                fl->missing = 1;
            }
            ea_file_close(&s->sys, ld->handle);
            ld->handle = -1;
        }
        if (fl->data == NULL && !fl->missing)
            return;
        /* Answer everyone who waited for this file. */
        int j = 0;
        for (int i = 0; i < s->nwaits; i++) {
            if (s->waits[i].file == f)
                serve_file(s, s->waits[i].conn, f, s->waits[i].head_only, s->waits[i].keep);
            else
                s->waits[j++] = s->waits[i];
        }
        s->nwaits = j;
        return;
    }
}

/* One message (or batch record) from the front. */
static void app_one(struct app *s, uint32_t id, uint32_t kind, const char *data, uint32_t len)
{
    if (id >= MAX_CONNS)
        return;
    if (kind == KIND_DATA) {
        on_data(s, id, data, len);
    } else if (kind == KIND_CLOSED) {
        free(s->conns[id]);
        s->conns[id] = NULL;
    }
}

static int app_ctor(ea_actor_t *self, void *state)
{
    struct app *s = state;
    const char *app = ea_param(self, "app"), *fs = ea_param(self, "fs");
    s->front = ea_conn(self, app ? app : "app");
    ea_conn_t *io = ea_conn(self, fs ? fs : "fs");
    const char *site = ea_param(self, "site");
    if (s->front == NULL || io == NULL || site == NULL)
        return EA_ERR_NOTFOUND;
    snprintf(s->site, sizeof s->site, "%s", site);
    ea_sys_client_init(&s->sys, io);
    s->conns = calloc(MAX_CONNS, sizeof *s->conns);
    return s->conns ? EA_OK : EA_ERR_NOMEM;
}

static int app_body(ea_actor_t *self, void *state)
{
    struct app *s = state;
    if (ea_stopping(self)) {
        for (uint32_t i = 0; i < MAX_CONNS; i++)
            free(s->conns[i]);
        free(s->conns);
        s->conns = NULL;
        for (int i = 0; i < s->nfiles; i++)
            free(s->cache[i].data);
        for (int i = 0; i < s->nout; i++)
            free(s->outq[i].data);
        batch_drop(&s->ob);
        return EA_DONE;
    }
    flush_out(s);
    ea_sys_event_t ev;
    int rc;
    while ((rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
        if (rc == EA_OK) {
            file_event(s, &ev);
            ea_cargo_release(&ev.cargo);
        }
    }
    /* Replies that wait for a node (nout > 0) may be waiting for one that
     * the front's own messages hold: the channel's two directions share one
     * pool, and a storm of new connections can fill it with messages to
     * us. Only reading them frees nodes, so they are still read, one at a
     * time and each followed by a flush, while the queue of replies is
     * short (it grows by about one reply per message read, and each read
     * frees the node one queued reply then goes out in). */
    int budget = 64;
    for (; budget > 0 && s->nout < OUTQ_READ_MAX; budget--) {
        ea_cargo_t m;
        if (ea_cargo_recv(s->front, &m) != EA_OK)
            break;
        struct hop h;
        if (m.len >= sizeof h) {
            memcpy(&h, m.data, sizeof h);
            const uint8_t *p = (const uint8_t *)m.data + sizeof h;
            size_t len = m.len - sizeof h;
            if (h.kind != KIND_BATCH) {
                app_one(s, h.id, h.kind, (const char *)p, (uint32_t)len);
            } else {
                /* The front's step in one message (proto.h); read up to
                 * the first record that does not fit. */
                struct rec r;
                const uint8_t *data;
                size_t off = 0;
                for (uint32_t i = 0; i < h.id && batch_next(p, len, &off, &r, &data); i++)
                    app_one(s, r.id, r.kind, (const char *)data, r.len);
            }
        }
        ea_cargo_release(&m);
        if (s->nout > 0) {
            (void)batch_send(&s->ob); /* goes before what waits in outq */
            flush_out(s);
        }
    }
    /* The step's responses in one message. A channel that failed loses
     * them, as it would lose messages sent one by one. */
    (void)batch_send(&s->ob);
    /* More may be waiting (budget used up) or queued for the front. */
    return s->nout > 0 || budget == 0 ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(http_app, struct app, app_ctor, app_body);

/* Decrypted HTTP crosses `app` (net_front, in this image too, is its other
 * end): the image insists that the channel ends in attested enclaves, so a
 * deployment cannot make it plain or move either actor into the host. One
 * policy per image. */
EA_CHANNEL_POLICY(.attested = EA_CHANNELS("app"));
