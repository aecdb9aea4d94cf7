/*
 * xmpp_c2s: the client connections (RFC 6120), one instance per worker of
 * the `c2s` enclave. It accepts TCP connections through the system actor,
 * runs STARTTLS inside the enclave (the host moves only ciphertext after
 * <proceed/>), parses the stream with expat (xstream.c) and runs the stream
 * state machine: headers with fresh ids, features, STARTTLS, SASL
 * (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN), restarts, bind, and the stream
 * errors. It never sees a credential: SCRAM proofs and PLAIN passwords go
 * to the accounts actor, which alone holds the salted keys. Bound sessions'
 * stanzas go to the router, stamped with the session's full JID.
 *
 * Parameters: port (5222), addr (127.0.0.1), domain (localhost),
 * plain_insecure (0: PLAIN is offered only after TLS; 1: also before, a
 * benchmark-only switch for tsung on loopback), plain_only (1: offer PLAIN
 * alone, for clients that cannot choose it, as libstrophe and profanity:
 * they take SCRAM whenever it is offered), register (1: XEP-0077 in-band
 * registration before authentication, over TLS or with plain_insecure;
 * the accounts actor must allow it too), preauth_timeout_s (30), shared
 * (1: listen with SO_REUSEPORT, ea_net_listen_shared, so that one instance
 * per worker accepts on the same port and the kernel spreads the
 * connections; every instance must say so).
 * Channels: "net" (system actor), "acc" (accounts), "rt" (router); the
 * parameters net, acc and rt name others (a second instance's channels).
 * batch (1: the system actor's completions of a round come in one message
 * and the round's requests go out in one, ea_sys_client_batch and
 * ea_sys_client_hold; 0: one message each).
 * Hot path: each round's deliveries for one connection go out as one TLS
 * record and one send (its ciphertext written straight into the request,
 * ea_net_send_alloc), the round's stanzas for the router as one channel
 * message (X_BATCH, proto.h), and the round's requests to the system actor
 * as one message.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <eactors/ea_sys.h>
#include <eactors/ea_tls.h>
#include <eactors/eactors.h>

#include "pki.h"
#include "proto.h"
#include "xcrypto.h"
#include "xstream.h"

/* The system actor's handle index space (the fuzz target's is smaller). */
#ifndef SLOTS
#define SLOTS 32768u
#endif
#define RECV_MAX 16384u
#define HELD_MAX 65536u
#define PEND_MAX (8u << 20)      /* bytes waiting for a node, per connection */
#define HOLD_CONN_MAX (1u << 20) /* held stanzas' bytes per connection */
#define HOLD_MAX (32u << 20)     /* and of all connections */
#define MAX_AUTH_FAILURES 5
#define TICK_MS 1000u

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_REGISTER "jabber:iq:register"
#define NS_BLOCKING "urn:xmpp:blocking"
#define STANZA_ERR(type, cond) \
    "<error type='" type "'><" cond " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"

enum { W_NONE, W_ACC, W_BIND };

/* The fields a round touches for every connection first (by_id, out_later,
 * c_flush, on_recv): a few cache lines, not spread around the parser. */
struct cx {
    int32_t h;
    uint32_t id; /* slot | generation << 15 */
    ea_tls_t *tls;
    int secure, authed, bound, hdr_sent, dead;
    int wait;
    int starttls_pending;
    int closing, eof, recv_out;
    uint32_t sends;
    char *pend; /* bytes for the network that found no node yet */
    uint32_t pend_len;
    char *held; /* plaintext received while waiting for another actor */
    uint32_t held_len;
    char *ob; /* deliveries of this round, written as one piece at its end */
    uint32_t ob_len, ob_cap;
    int dirty;                      /* on the round's flush list */
    uint32_t hold;                  /* bytes of its stanzas held for the router's R_REFs */
    uint32_t hold_serial, hold_agg; /* its entry in that chunk's agg (hold_commit) */
    int with_bytes;                 /* the router asked for a held stanza's bytes
                                     * (R_RESEND): the rest go with them */
    int carbons;                    /* asked for carbons (a hint: the router copies) */
    int failures;
    uint64_t t0;
    xbuf_t fa; /* " from='JID'" as forwarded stanzas carry it (xb_from_attr) */
    xs_t xs;
    /* SASL */
    int hash; /* 1, 256; 0 = PLAIN */
    int sasl_step;
    char user[256];
    char gs2[300];
    char *cfb;    /* client-first-message-bare */
    char *sfirst; /* server-first-message */
    char nonce[200];
    /* bind */
    char bind_id[256];
    char jid[1400];
};

struct c2s {
    ea_sys_client_t sys;
    struct outq acc, rt;
    ea_tls_ctx_t *ctx;
    int32_t listener;
    int accepting;
    int32_t timer;
    const char *domain;
    char conf[300]; /* "conference.<domain>" (hold_worth) */
    size_t conf_len;
    int plain_insecure;
    int plain_only;
    int reg;
    uint64_t preauth_ns;
    struct cx **c;
    uint32_t *gen;
    uint32_t live;
    int busy;
    int retry;       /* some connection waits for a node (send or receive) */
    uint32_t *dirty; /* ids of the connections with deliveries this round */
    uint32_t ndirty;
    xbuf_t fwd; /* forward()'s serialization, kept between stanzas */
    /* Stanzas sent to the router and held for its R_REFs: one chunk per
     * round, numbered from `first`, dropped at R_HELD_DONE. */
    struct hchunk *hhead, *htail, *hfree;
    unsigned nhfree;
    uint32_t hnext;   /* the next stanza's number */
    uint32_t hserial; /* chunks started (struct hchunk.serial) */
    int hsealed;      /* htail is closed (a new round starts a chunk) */
    size_t hbytes;
    uint64_t badrefs;
    uint64_t accepted, closed, logins;
    /* Why connections ended early (printed at stop): the client's EOF is
     * not counted; errors keep the first status seen. */
    uint64_t n_recv_err, n_send_err, n_tls_err, n_stream_err;
    uint64_t recv_later; /* receives refused with EA_SYS_QUEUED, asked again */
    int64_t first_recv_err, first_send_err;
    char buf[65536];
};

static void c_input(struct c2s *s, struct cx *c, const char *data, size_t len);
static void c_close(struct c2s *s, struct cx *c);

static struct cx *by_handle(struct c2s *s, int32_t h)
{
    if (h < 0)
        return NULL;
    struct cx *c = s->c[(uint32_t)h % SLOTS];
    return c != NULL && c->h == h ? c : NULL;
}

static struct cx *by_id(struct c2s *s, uint32_t id)
{
    struct cx *c = s->c[id % SLOTS];
    return c != NULL && c->id == id ? c : NULL;
}

/* ---------------------------------------------------------------- output */

static uint32_t payload_max(struct c2s *s)
{
    return (uint32_t)EA_SYS_PAYLOAD_MAX(s->sys.conn);
}

static void net_out(struct c2s *s, struct cx *c, const char *data, uint32_t len)
{
    while (len > 0 && c->pend_len == 0) {
        uint32_t n = len < payload_max(s) ? len : payload_max(s);
        if (ea_net_send(&s->sys, c->h, data, n) < 0)
            break;
        c->sends++;
        data += n;
        len -= n;
    }
    if (len > 0) {
        /* A client that does not read while nodes run out: drop it rather
         * than hold its output without bound. */
        char *p = (size_t)c->pend_len + len > PEND_MAX
                      ? NULL
                      : realloc(c->pend, (size_t)c->pend_len + len);
        if (p == NULL) {
            free(c->pend); /* lost anyway: the connection ends */
            c->pend = NULL;
            c->pend_len = 0;
            c->dead = c->closing = 1;
            return;
        }
        memcpy(p + c->pend_len, data, len);
        c->pend = p;
        c->pend_len += len;
        s->busy = s->retry = 1;
    }
}

static void retry_pend(struct c2s *s, struct cx *c)
{
    uint32_t off = 0;
    while (off < c->pend_len) {
        uint32_t n = c->pend_len - off < payload_max(s) ? c->pend_len - off : payload_max(s);
        if (ea_net_send(&s->sys, c->h, c->pend + off, n) < 0)
            break;
        c->sends++;
        off += n;
    }
    memmove(c->pend, c->pend + off, c->pend_len - off);
    c->pend_len -= off;
    if (c->pend_len > 0)
        s->busy = s->retry = 1;
}

/* Moves TLS output to the network: straight from the TLS connection into
 * SEND messages (ea_net_send_alloc, no copy through s->buf) while nothing
 * waits in `pend` and a node is free; otherwise through net_out. */
static void tls_flush(struct c2s *s, struct cx *c)
{
    if (c->tls != NULL && c->pend_len == 0) {
        uint32_t spilled;
        c->sends += ea_net_send_tls(&s->sys, c->h, c->tls, s->buf, sizeof s->buf, &spilled);
        if (spilled > 0) /* taken but not sent: kept in `pend` */
            net_out(s, c, s->buf, spilled);
    }
    while (c->tls != NULL && ea_tls_pending(c->tls) > 0) {
        uint32_t room = payload_max(s) < sizeof s->buf ? payload_max(s) : sizeof s->buf;
        int n = ea_tls_take(c->tls, s->buf, room);
        if (n <= 0)
            break;
        net_out(s, c, s->buf, (uint32_t)n);
    }
}

/* Encrypts into a SEND message straight away (its records are written
 * into the message, not into the connection's TLS output and copied from
 * there) when nothing waits before them; what does not fit follows through
 * tls_flush. */
static int tls_out(struct c2s *s, struct cx *c, const char *data, size_t len)
{
    ea_net_sendbuf_t sb;
    /* A record adds at most 29 bytes (TLS 1.2 AES-GCM) per 16 KiB. */
    size_t want = len + 32 * (len / 16384 + 1), max = payload_max(s);
    if (max > sizeof s->buf) /* the spill below */
        max = sizeof s->buf;
    if (c->pend_len > 0 || ea_tls_pending(c->tls) > 0 || !ea_tls_handshake_done(c->tls) ||
        ea_net_send_alloc(&s->sys, c->h, (uint32_t)(want < max ? want : max), &sb) != EA_OK)
        return ea_tls_write(c->tls, data, len);
    size_t put = 0;
    int rc = ea_tls_write_into(c->tls, data, len, sb.data, sb.room, &put);
    if (put > 0 && ea_net_send_commit(&s->sys, &sb, (uint32_t)put) > 0) {
        c->sends++;
        return rc;
    }
    /* Nothing written, or not sent: copied out before the release (the room
     * may lie in the held batch), then sent its own way, before the rest. */
    if (put > 0)
        memcpy(s->buf, sb.data, put);
    ea_net_send_release(&sb);
    if (put > 0)
        net_out(s, c, s->buf, (uint32_t)put);
    return rc;
}

static void out_now(struct c2s *s, struct cx *c, const char *data, size_t len)
{
    if (len == 0 || c->dead)
        return;
    if (c->tls != NULL) {
        if (tls_out(s, c, data, len) < 0)
            c->dead = c->closing = 1;
        tls_flush(s, c);
    } else {
        net_out(s, c, data, (uint32_t)len);
    }
}

/* Writes the round's deliveries: one TLS record (or plaintext piece) and
 * one send for all of them, however many stanzas they are. */
static void c_flush(struct c2s *s, struct cx *c)
{
    if (c->ob_len == 0)
        return;
    uint32_t n = c->ob_len;
    c->ob_len = 0;
    out_now(s, c, c->ob, n);
}

/* Output in order: what the round deferred first. */
static void out(struct c2s *s, struct cx *c, const char *data, size_t len)
{
    c_flush(s, c);
    out_now(s, c, data, len);
}

/* A delivery: kept until the end of the round, so that everything due for
 * this connection goes out in one record and one system call. */
static void out_later(struct c2s *s, struct cx *c, const char *data, size_t len)
{
    if (len == 0 || c->dead)
        return;
    if ((size_t)c->ob_len + len > c->ob_cap) {
        size_t cap = c->ob_cap ? c->ob_cap : 4096;
        while (cap < (size_t)c->ob_len + len)
            cap *= 2;
        char *p = cap > PEND_MAX ? NULL : realloc(c->ob, cap);
        if (p == NULL) { /* as in net_out: a client that does not read */
            c->dead = c->closing = 1;
            return;
        }
        c->ob = p;
        c->ob_cap = (uint32_t)cap;
    }
    memcpy(c->ob + c->ob_len, data, len);
    c->ob_len += (uint32_t)len;
    if (!c->dirty) {
        if (s->ndirty == SLOTS) { /* closed connections' entries filled it: write now */
            c_flush(s, c);
            return;
        }
        c->dirty = 1;
        s->dirty[s->ndirty++] = c->id;
    }
}

static void outs(struct c2s *s, struct cx *c, const char *str)
{
    out(s, c, str, strlen(str));
}

static void send_header(struct c2s *s, struct cx *c)
{
    uint8_t r[12];
    char id[20];
    if (xc_random(r, sizeof r) < 0)
        memset(r, 0, sizeof r);
    xc_b64enc(r, sizeof r, id); /* 16 characters, fresh on every restart */
    for (char *p = id; *p; p++)
        if (*p == '+' || *p == '/')
            *p = 'x';
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' id='%s' from='%s' "
             "version='1.0' xml:lang='en'>",
             id, s->domain);
    outs(s, c, hdr);
    c->hdr_sent = 1;
}

/* A stream error: the header first if none went out, then the error and
 * the stream's end; the connection closes once that is sent. */
static void stream_error(struct c2s *s, struct cx *c, const char *cond, const char *text)
{
    if (c->dead)
        return;
    s->n_stream_err++;
    if (!c->hdr_sent)
        send_header(s, c);
    xbuf_t b = {0};
    xb_fmt(&b, "<stream:error><%s xmlns='" NS_STREAMS "'/>", cond);
    if (text != NULL) {
        xb_str(&b, "<text xmlns='" NS_STREAMS "'>");
        xb_esc(&b, text, strlen(text));
        xb_str(&b, "</text>");
    }
    xb_str(&b, "</stream:error></stream:stream>");
    if (!b.failed)
        out(s, c, b.p, b.len);
    xb_free(&b);
    if (c->tls != NULL && ea_tls_handshake_done(c->tls)) {
        ea_tls_shutdown(c->tls);
        tls_flush(s, c);
    }
    c->dead = 1;
    c->closing = 1;
    if (c->xs.parser != NULL)
        xs_stop(&c->xs);
}

static void send_features(struct c2s *s, struct cx *c)
{
    xbuf_t b = {0};
    xb_str(&b, "<stream:features>");
    if (!c->authed) {
        if (!c->secure)
            xb_str(&b, "<starttls xmlns='" NS_TLS "'/>");
        int plain = c->secure || s->plain_insecure;
        xb_str(&b, "<mechanisms xmlns='" NS_SASL "'>");
        if (!s->plain_only)
            xb_str(&b, "<mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>");
        if (plain)
            xb_str(&b, "<mechanism>PLAIN</mechanism>");
        xb_str(&b, "</mechanisms>");
        if (s->reg && plain)
            xb_str(&b, "<register xmlns='http://jabber.org/features/iq-register'/>");
    } else {
        xb_str(&b,
               "<bind xmlns='" NS_BIND "'/><session xmlns='" NS_SESSION "'><optional/></session>");
    }
    xb_str(&b, "</stream:features>");
    if (!b.failed)
        out(s, c, b.p, b.len);
    xb_free(&b);
}

/* An iq reply before authentication (the stream has no JID yet). */
static void iq_reply(struct c2s *s, struct cx *c, const char *id, const char *type,
                     const char *inner)
{
    xbuf_t b = {0};
    xb_fmt(&b, "<iq type='%s'", type);
    if (id != NULL) {
        xb_str(&b, " id='");
        xb_esc_attr(&b, id, strlen(id));
        xb_str(&b, "'");
    }
    if (inner != NULL) {
        xb_str(&b, ">");
        xb_str(&b, inner);
        xb_str(&b, "</iq>");
    } else {
        xb_str(&b, "/>");
    }
    if (!b.failed)
        out(s, c, b.p, b.len);
    xb_free(&b);
}

/* ---------------------------------------------------------------- SASL */

static void sasl_reset(struct cx *c)
{
    free(c->cfb);
    free(c->sfirst);
    c->cfb = c->sfirst = NULL;
    c->sasl_step = 0;
    c->hash = 0;
    c->user[0] = 0;
}

static void sasl_failure(struct c2s *s, struct cx *c, const char *cond)
{
    sasl_reset(c);
    char m[200];
    snprintf(m, sizeof m, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    outs(s, c, m);
    if (strcmp(cond, "aborted") != 0 && ++c->failures >= MAX_AUTH_FAILURES)
        stream_error(s, c, "policy-violation", "too many authentication attempts");
}

/* A localpart as this server accepts it (RFC 7622 subset: ASCII, lower
 * case after folding, none of " & ' / : < > @ or space). */
static int localpart_ok(char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > 1023)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)u[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"&'/:<>@", ch) != NULL)
            return 0;
        u[i] = (char)tolower(ch);
    }
    return 1;
}

static int send_acc(struct c2s *s, struct cx *c, struct xmsg *m)
{
    m->h.conn = c->id;
    if (outq_send(&s->acc, m) < 0) {
        stream_error(s, c, "internal-server-error", NULL);
        return -1;
    }
    c->wait = W_ACC;
    xs_suspend(&c->xs);
    return 0;
}

/* Decodes the base64 text of a SASL element into buf; -1 if malformed. */
static long sasl_data(const xel_t *el, uint8_t *buf, size_t cap)
{
    char text[XS_STANZA_PREAUTH + 1];
    size_t n = xel_text(el, text, sizeof text);
    if (n == 0)
        return 0;
    return xc_b64dec(text, n, buf, cap - 1);
}

static void on_auth(struct c2s *s, struct cx *c, const xel_t *el)
{
    const char *mech = xel_attr(el, "mechanism");
    sasl_reset(c);
    int plain_ok = c->secure || s->plain_insecure;
    int scram_ok = !s->plain_only;
    if (mech == NULL ||
        !((scram_ok && (strcmp(mech, "SCRAM-SHA-256") == 0 || strcmp(mech, "SCRAM-SHA-1") == 0)) ||
          (plain_ok && strcmp(mech, "PLAIN") == 0))) {
        sasl_failure(s, c, "invalid-mechanism");
        return;
    }
    uint8_t d[4096];
    long n = sasl_data(el, d, sizeof d);
    if (n < 0) {
        sasl_failure(s, c, "incorrect-encoding");
        return;
    }
    d[n] = 0;
    if (strcmp(mech, "PLAIN") == 0) {
        /* authzid NUL authcid NUL password (RFC 4616) */
        const uint8_t *z1 = memchr(d, 0, (size_t)n);
        const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(d + n - z1 - 1)) : NULL;
        if (z2 == NULL || (size_t)(z2 - z1 - 1) >= sizeof c->user) {
            sasl_failure(s, c, "malformed-request");
            return;
        }
        memcpy(c->user, z1 + 1, (size_t)(z2 - z1 - 1));
        c->user[z2 - z1 - 1] = 0;
        char authz[300];
        size_t zl = (size_t)(z1 - d);
        if (zl >= sizeof authz || !localpart_ok(c->user)) {
            sasl_failure(s, c, "not-authorized");
            return;
        }
        memcpy(authz, d, zl);
        authz[zl] = 0;
        char self[600];
        snprintf(self, sizeof self, "%s@%s", c->user, s->domain);
        if (zl > 0 && strcmp(authz, self) != 0 && strcmp(authz, c->user) != 0) {
            sasl_failure(s, c, "invalid-authzid");
            return;
        }
        struct xmsg m = {.h = {A_PLAIN, 0, 0, 0}};
        xmsg_adds(&m, c->user);
        xmsg_add(&m, z2 + 1, (size_t)(d + n - z2 - 1));
        c->hash = 0;
        c->sasl_step = 3;
        send_acc(s, c, &m);
        memset(d, 0, sizeof d);
        return;
    }
    c->hash = strcmp(mech, "SCRAM-SHA-1") == 0 ? 1 : 256;
    /* gs2-header: "n,," or "y,," (no channel binding offered); "p=" is
     * refused; an authzid must name the account itself. */
    char *msg = (char *)d;
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        sasl_failure(s, c, msg[0] == 'p' ? "not-authorized" : "malformed-request");
        return;
    }
    char *comma = strchr(msg + 2, ',');
    if (comma == NULL || (size_t)(comma + 1 - msg) >= sizeof c->gs2) {
        sasl_failure(s, c, "malformed-request");
        return;
    }
    memcpy(c->gs2, msg, (size_t)(comma + 1 - msg));
    c->gs2[comma + 1 - msg] = 0;
    char *authz = msg + 2;
    *comma = 0;
    char *bare = comma + 1;
    if (strncmp(bare, "n=", 2) != 0) {
        sasl_failure(s, c, "malformed-request");
        return;
    }
    char *r = strstr(bare, ",r=");
    if (r == NULL) {
        sasl_failure(s, c, "malformed-request");
        return;
    }
    /* saslname: =2C is ',', =3D is '=' */
    size_t u = 0;
    for (char *p = bare + 2; p < r; p++) {
        char ch = *p;
        if (ch == '=') {
            if (strncmp(p, "=2C", 3) == 0)
                ch = ',';
            else if (strncmp(p, "=3D", 3) == 0)
                ch = '=';
            else {
                sasl_failure(s, c, "malformed-request");
                return;
            }
            p += 2;
        }
        if (u + 1 >= sizeof c->user) {
            sasl_failure(s, c, "not-authorized");
            return;
        }
        c->user[u++] = ch;
    }
    c->user[u] = 0;
    char *nonce = r + 3, *end = strchr(nonce, ',');
    size_t nl = end ? (size_t)(end - nonce) : strlen(nonce);
    if (nl == 0 || nl > 100 || !localpart_ok(c->user)) {
        sasl_failure(s, c, "not-authorized");
        return;
    }
    if (authz[0] != 0) {
        char self[600];
        snprintf(self, sizeof self, "a=%s@%s", c->user, s->domain);
        if (strcmp(authz, self) != 0) {
            sasl_failure(s, c, "invalid-authzid");
            return;
        }
    }
    memcpy(c->nonce, nonce, nl);
    c->nonce[nl] = 0;
    c->cfb = strdup(bare);
    if (c->cfb == NULL) {
        stream_error(s, c, "resource-constraint", NULL);
        return;
    }
    struct xmsg m = {.h = {A_SCRAM_START, 0, (uint32_t)c->hash, 0}};
    xmsg_adds(&m, c->user);
    c->sasl_step = 1;
    send_acc(s, c, &m);
}

static void on_salt(struct c2s *s, struct cx *c, const struct xmsg *m)
{
    if (c->sasl_step != 1 || m->n < 1 || m->fl[0] > 64)
        return;
    uint8_t r[18];
    char sn[32], salt[100];
    if (xc_random(r, sizeof r) < 0) {
        stream_error(s, c, "internal-server-error", NULL);
        return;
    }
    xc_b64enc(r, sizeof r, sn);
    xc_b64enc(m->f[0], m->fl[0], salt);
    strcat(c->nonce, sn); /* client nonce (<= 100) + 24 */
    char sf[400];
    snprintf(sf, sizeof sf, "r=%s,s=%s,i=%u", c->nonce, salt, m->h.a);
    c->sfirst = strdup(sf);
    char b64[600];
    xc_b64enc(sf, strlen(sf), b64);
    char msg[800];
    snprintf(msg, sizeof msg, "<challenge xmlns='" NS_SASL "'>%s</challenge>", b64);
    if (c->sfirst == NULL) {
        stream_error(s, c, "resource-constraint", NULL);
        return;
    }
    outs(s, c, msg);
    c->sasl_step = 2;
}

static void on_response(struct c2s *s, struct cx *c, const xel_t *el)
{
    if (c->sasl_step != 2) {
        sasl_failure(s, c, "malformed-request");
        return;
    }
    uint8_t d[4096];
    long n = sasl_data(el, d, sizeof d);
    if (n <= 0) {
        sasl_failure(s, c, n < 0 ? "incorrect-encoding" : "malformed-request");
        return;
    }
    d[n] = 0;
    char *msg = (char *)d;
    if (strlen(msg) != (size_t)n) {
        sasl_failure(s, c, "malformed-request");
        return;
    }
    /* c=base64(gs2 header),r=nonce[,...],p=proof (the proof is last) */
    char *p = strstr(msg, ",p=");
    char cb[420];
    xc_b64enc(c->gs2, strlen(c->gs2), cb);
    size_t cbl = strlen(cb), nl = strlen(c->nonce);
    if (p == NULL || strncmp(msg, "c=", 2) != 0 || strncmp(msg + 2, cb, cbl) != 0 ||
        strncmp(msg + 2 + cbl, ",r=", 3) != 0 || strncmp(msg + 5 + cbl, c->nonce, nl) != 0 ||
        (msg[5 + cbl + nl] != ',')) {
        sasl_failure(s, c, "not-authorized");
        return;
    }
    uint8_t proof[64];
    long pl = xc_b64dec(p + 3, strlen(p + 3), proof, sizeof proof);
    if (pl != (long)xc_hlen(c->hash)) {
        sasl_failure(s, c, "not-authorized");
        return;
    }
    xbuf_t am = {0};
    xb_str(&am, c->cfb);
    xb_str(&am, ",");
    xb_str(&am, c->sfirst);
    xb_str(&am, ",");
    xb_add(&am, msg, (size_t)(p - msg));
    if (am.failed) {
        xb_free(&am);
        stream_error(s, c, "resource-constraint", NULL);
        return;
    }
    struct xmsg m = {.h = {A_SCRAM_FINAL, 0, (uint32_t)c->hash, 0}};
    xmsg_adds(&m, c->user);
    xmsg_add(&m, proof, (size_t)pl);
    xmsg_add(&m, am.p, am.len);
    c->sasl_step = 3;
    send_acc(s, c, &m);
    xb_free(&am);
}

/* The accounts actor's verdict. */
static void on_verdict(struct c2s *s, struct cx *c, const struct xmsg *m)
{
    if (c->sasl_step == 4) {
        c->sasl_step = 0;
        iq_reply(s, c, c->bind_id, m->h.a == 1 ? "result" : "error",
                 m->h.a == 1   ? NULL
                 : m->h.a == 2 ? STANZA_ERR("cancel", "conflict")
                               : STANZA_ERR("cancel", "not-allowed"));
        return;
    }
    if (c->sasl_step != 3)
        return;
    if (m->h.a != 1) {
        sasl_failure(s, c, "not-authorized");
        return;
    }
    char msg[400];
    if (c->hash != 0) {
        if (m->n < 1 || m->fl[0] != xc_hlen(c->hash)) {
            sasl_failure(s, c, "temporary-auth-failure");
            return;
        }
        char v[80], sig[64], b64[120];
        xc_b64enc(m->f[0], m->fl[0], sig);
        snprintf(v, sizeof v, "v=%s", sig);
        xc_b64enc(v, strlen(v), b64);
        snprintf(msg, sizeof msg, "<success xmlns='" NS_SASL "'>%s</success>", b64);
    } else {
        snprintf(msg, sizeof msg, "<success xmlns='" NS_SASL "'/>");
    }
    outs(s, c, msg);
    c->authed = 1;
    s->logins++;
    ea_log(&s->sys, "xmpp: %s@%s authenticated with %s%s", c->user, s->domain,
           c->hash == 256 ? "SCRAM-SHA-256"
           : c->hash == 1 ? "SCRAM-SHA-1"
                          : "PLAIN",
           c->secure ? " over TLS" : " without TLS");
    free(c->cfb);
    free(c->sfirst);
    c->cfb = c->sfirst = NULL;
    c->sasl_step = 0;
    /* Restart: a new parser; what the client pipelined after its
     * <auth>/<response> belongs to the old stream and is dropped. */
    c->held_len = 0;
    if (xs_restart(&c->xs, XS_STANZA_MAX) != 0)
        stream_error(s, c, "resource-constraint", NULL);
    c->hdr_sent = 0;
}

/* ---------------------------------------------------------------- stream */

/* The xstream callbacks get the connection; the actor is found here. */
static __thread struct c2s *cur_s;

static void on_header(void *ctx, xs_t *xs, const xs_header_t *h)
{
    struct cx *c = ctx;
    struct c2s *s = cur_s;
    if (h->to != NULL && strcasecmp(h->to, s->domain) != 0) {
        stream_error(s, c, "host-unknown", NULL);
        xs_stop(xs);
        return;
    }
    if (h->version == NULL || h->version[0] != '1' || h->version[1] != '.') {
        stream_error(s, c, "unsupported-version", NULL);
        xs_stop(xs);
        return;
    }
    send_header(s, c);
    send_features(s, c);
}

/* ------------------------------------------------------------ held stanzas
 * Delivery by reference (proto.h R_REF): the bytes of a message this c2s
 * sent the router stay here, numbered, until the router has routed it
 * (R_HELD_DONE), and the R_STANZA goes WITHOUT them (its field 8 empty):
 * a recipient on this c2s gets an R_REF (a header) in place of the bytes.
 * When the router needs them after all (a recipient on another c2s,
 * offline storage, a carbon, the MUC), it asks (R_RESEND) and parks that
 * connection's later stanzas until they come (R_BYTES, see resend); the
 * connection's messages then go with their bytes too (held all the same:
 * a recipient here still gets an R_REF) for the rest of its life
 * (cx.with_bytes). So does a message that will surely need them (to the
 * conference domain, or from a connection that enabled carbons:
 * bytes_due). An entry: sender id, length, bytes. */
struct hagg {
    uint32_t id, bytes;
};

/* A chunk's bytes held per connection (`agg`: one entry per connection
 * that held a stanza in it, found through cx.hold_serial/hold_agg) are
 * given back when it goes: each sender's struct cx is touched once per
 * chunk, not again for every stanza after the round trip. */
struct hchunk {
    struct hchunk *next;
    uint32_t first, n, ncap;
    uint32_t serial;
    uint32_t *off; /* entry i at buf + off[i] */
    char *buf;
    size_t len, cap;
    struct hagg *agg;
    uint32_t nagg, aggcap;
};

static void hchunk_free(struct hchunk *h)
{
    free(h->agg);
    free(h->off);
    free(h->buf);
    free(h);
}

/* The chunk this round's held stanzas go to, with room for an entry's
 * header and a stanza of usual size after its bytes (the stanza is
 * serialized there, xbuf_t-style, then hold_commit); NULL without memory. */
static struct hchunk *hold_chunk(struct c2s *s)
{
    struct hchunk *h = s->htail;
    if (h == NULL || s->hsealed) {
        h = s->hfree;
        if (h != NULL) {
            s->hfree = h->next;
            s->nhfree--;
        } else if ((h = calloc(1, sizeof *h)) == NULL)
            return NULL;
        h->next = NULL;
        h->first = s->hnext;
        h->serial = ++s->hserial;
        h->n = 0;
        h->len = 0;
        h->nagg = 0;
        if (s->htail)
            s->htail->next = h;
        else
            s->hhead = h;
        s->htail = h;
        s->hsealed = 0;
    }
    size_t need = h->len + 8 + 1024;
    if (need > h->cap) {
        size_t cap = h->cap ? h->cap : 16384;
        while (cap < need)
            cap *= 2;
        char *q = realloc(h->buf, cap);
        if (q == NULL)
            return NULL;
        h->buf = q;
        h->cap = cap;
    }
    return h;
}

/* The array p (*cap elements of `size` bytes) doubled (`first` elements
 * when empty), *cap updated; NULL without memory (p and *cap unchanged). */
static void *grow_array(void *p, uint32_t *cap, uint32_t first, size_t size)
{
    uint32_t nc = *cap ? 2 * *cap : first;
    void *q = realloc(p, (size_t)nc * size);
    if (q != NULL)
        *cap = nc;
    return q;
}

/* Holds the `len` bytes from connection c written at h->buf + h->len + 8
 * (h from hold_chunk); its number, or -1 (not held: over the connection's
 * or the actor's budget, or no memory; the bytes stay readable there until
 * the next stanza is written). */
static int64_t hold_commit(struct c2s *s, struct cx *c, struct hchunk *h, size_t len)
{
    if ((size_t)c->hold + len > HOLD_CONN_MAX || s->hbytes + len > HOLD_MAX)
        return -1;
    if (h->n == h->ncap) {
        uint32_t *o = grow_array(h->off, &h->ncap, 256, sizeof *o);
        if (o == NULL)
            return -1;
        h->off = o;
    }
    uint32_t l = (uint32_t)len;
    if (c->hold_serial != h->serial || c->hold_agg >= h->nagg || h->agg[c->hold_agg].id != c->id) {
        if (h->nagg == h->aggcap) {
            struct hagg *a = grow_array(h->agg, &h->aggcap, 64, sizeof *a);
            if (a == NULL)
                return -1;
            h->agg = a;
        }
        h->agg[h->nagg] = (struct hagg){c->id, 0};
        c->hold_serial = h->serial;
        c->hold_agg = h->nagg++;
    }
    h->agg[c->hold_agg].bytes += l;
    memcpy(h->buf + h->len, &c->id, 4);
    memcpy(h->buf + h->len + 4, &l, 4);
    h->off[h->n++] = (uint32_t)h->len;
    h->len += 8 + len;
    c->hold += l;
    s->hbytes += l;
    return s->hnext++;
}

/* Undoes the last hold_commit (its R_STANZA was not sent). */
static void hold_undo(struct c2s *s, struct cx *c)
{
    struct hchunk *h = s->htail;
    uint32_t l;
    memcpy(&l, h->buf + h->off[h->n - 1] + 4, 4);
    h->len = h->off[--h->n];
    h->agg[c->hold_agg].bytes -= l; /* hold_commit just made or found it */
    c->hold -= l;
    s->hbytes -= l;
    s->hnext--;
}

/* Held stanza `n`: its bytes (and in *id the connection that sent it), or
 * NULL if none is held under that number. */
static const char *hold_entry(struct c2s *s, uint32_t n, uint32_t *id, uint32_t *len)
{
    for (struct hchunk *h = s->hhead; h != NULL; h = h->next)
        if (n - h->first < h->n) {
            const char *e = h->buf + h->off[n - h->first];
            memcpy(id, e, 4);
            memcpy(len, e + 4, 4);
            return e + 8;
        }
    return NULL;
}

static const char *hold_get(struct c2s *s, uint32_t n, uint32_t *len)
{
    uint32_t id;
    return hold_entry(s, n, &id, len);
}

/* R_RESEND: the router needs the bytes of held stanza `n` from connection
 * `conn` (which may have closed since: what it sent is still held). Each
 * request gets one R_BYTES, in order: the bytes, or b = 1 if no stanza of
 * that connection is held under n (a stale or forged request: refused,
 * nothing is read outside the hold). */
static void resend(struct c2s *s, uint32_t conn, uint32_t n)
{
    uint32_t id = 0, len = 0;
    const char *p = hold_entry(s, n, &id, &len);
    struct xmsg m = {.h = {R_BYTES, conn, n, 0}};
    if (p != NULL && id == conn) {
        xmsg_add(&m, p, len);
    } else {
        m.h.b = 1;
        if (s->badrefs++ < 10)
            fprintf(stderr, "c2s: the router asked for stanza %u, which is not held: refused\n", n);
    }
    struct cx *c = by_id(s, conn);
    if (c != NULL)
        c->with_bytes = 1; /* its next stanzas would be asked for too */
    if (outq_send(&s->rt, &m) < 0 && m.h.b == 0) {
        m.h.b = 1; /* no memory: the router is told it will not come */
        m.n = 0;
        (void)outq_send(&s->rt, &m);
    }
}

/* The router has routed every held stanza up to `n`: whole chunks up to it
 * go (a chunk whose last stanza is later stays whole, a round at most). */
static void hold_done(struct c2s *s, uint32_t n)
{
    while (s->hhead != NULL) {
        struct hchunk *h = s->hhead;
        uint32_t last = h->first + h->n - 1;
        if (h->n == 0) { /* emptied by hold_undo: goes unless still filling */
            if (h == s->htail && !s->hsealed)
                break;
        } else if ((int32_t)(n - last) < 0 || (int32_t)(s->hnext - 1 - n) < 0) {
            break; /* not yet routed, or (from a forged number) not yet sent */
        }
        for (uint32_t i = 0; i < h->nagg; i++) {
            struct cx *c = by_id(s, h->agg[i].id);
            if (c != NULL)
                c->hold -= h->agg[i].bytes;
            s->hbytes -= h->agg[i].bytes;
        }
        s->hhead = h->next;
        if (s->htail == h) {
            s->htail = NULL;
            s->hsealed = 0;
        }
        if (s->nhfree >= 4) {
            hchunk_free(h);
        } else { /* kept for a next round: no allocation */
            h->next = s->hfree;
            s->hfree = h;
            s->nhfree++;
        }
    }
}

static void hold_clear(struct c2s *s)
{
    struct hchunk *lists[2] = {s->hhead, s->hfree};
    for (int k = 0; k < 2; k++)
        while (lists[k] != NULL) {
            struct hchunk *h = lists[k];
            lists[k] = h->next;
            hchunk_free(h);
        }
    s->hhead = s->htail = s->hfree = NULL;
    s->nhfree = 0;
}

/* Should a held message to `to` go with its bytes all the same? When the
 * router will surely ask for them: to the conference domain (the MUC gets
 * the bytes), from a connection that enabled carbons, or after an
 * R_RESEND for the connection. A hint: the router asks when it must. */
static int bytes_due(const struct c2s *s, const struct cx *c, const xattr_t *to)
{
    if (c->with_bytes || c->carbons)
        return 1;
    if (to == NULL || s->conf_len == 0)
        return 0;
    const char *d = to->val, *e = to->val + to->vlen;
    const char *at = memchr(d, '@', to->vlen), *sl = memchr(d, '/', to->vlen);
    if (at != NULL && (sl == NULL || at < sl))
        d = at + 1;
    if (sl != NULL && sl >= d)
        e = sl;
    return (size_t)(e - d) == s->conf_len && strncasecmp(d, s->conf, s->conf_len) == 0;
}

static void forward(struct c2s *s, struct cx *c, xel_t *el)
{
    /* type=, to= and id= (no namespace) with their lengths, in one pass. */
    const xattr_t *av[3] = {NULL, NULL, NULL};
    for (unsigned i = 0; i < el->nattrs; i++) {
        const xattr_t *a = &el->attrs[i];
        const char *n = a->name;
        int k = -1;
        if (a->ns[0] != 0)
            continue;
        if (n[0] == 't' && n[1] == 'o' && n[2] == 0)
            k = 1;
        else if (n[0] == 't' && strcmp(n, "type") == 0)
            k = 0;
        else if (n[0] == 'i' && n[1] == 'd' && n[2] == 0)
            k = 2;
        if (k >= 0 && av[k] == NULL)
            av[k] = a;
    }
    /* A message is held for the router's R_REF (the hot path: a chat to a
     * client on this c2s), so it is written straight into the chunk that
     * holds it; other stanzas go by value only, from s->fwd. */
    struct hchunk *h = el->kind == XK_MESSAGE ? hold_chunk(s) : NULL;
    size_t at = 0;
    xbuf_t b;
    if (h != NULL) {
        at = h->len + 8;
        b = (xbuf_t){h->buf, at, h->cap, 0};
    } else {
        b = s->fwd; /* no allocation per stanza */
        b.len = 0;
        b.failed = 0;
        s->fwd = (xbuf_t){0};
    }
    /* The bytes as they arrived, from= stamped, when they mean the same in
     * the recipient's stream; else re-serialized (xstream.h). */
    xel_forward_fa(&b, &c->xs, el, c->jid, c->fa.p, c->fa.len);
    if (h != NULL) { /* b's buffer is the chunk's (moved if it grew) */
        h->buf = b.p;
        h->cap = b.cap;
    }
    if (b.failed) {
        if (h == NULL)
            xb_free(&b);
        stream_error(s, c, "resource-constraint", NULL);
        return;
    }
    const char *sp = b.p + at; /* the stanza's bytes */
    size_t sl = b.len - at;
    xel_t *pl = xel_first(el);
    char prio[16] = "";
    if (el->kind == XK_PRESENCE) {
        xel_t *pr = xel_child(el, XS_NS_CLIENT, "priority");
        if (pr != NULL)
            xel_text(pr, prio, sizeof prio);
    }
    /* b: bit 0 a <body> (a message worth storing offline), bit 1 carbons
     * <private/> or <no-copy/> (XEP-0280 §6, XEP-0334). */
    /* The children counted and looked at in one pass: <body> by the kind
     * the parser gave it (jabber:client), the two hints by name. */
    uint32_t flags = 0, nkids = 0;
    for (const xel_t *k = el->kids; k != NULL; k = k->next) {
        if (k->name == NULL)
            continue;
        nkids++;
        if (el->kind != XK_MESSAGE)
            continue;
        if (k->kind == XK_BODY)
            flags |= 1;
        else if ((k->name[0] == 'p' && strcmp(k->name, "private") == 0 &&
                  strcmp(k->ns, "urn:xmpp:carbons:2") == 0) ||
                 (k->name[0] == 'n' && strcmp(k->name, "no-copy") == 0 &&
                  strcmp(k->ns, "urn:xmpp:hints") == 0))
            flags |= 2;
    }
    struct xmsg m = {.h = {R_STANZA, c->id, nkids, flags}};
    xmsg_adds(&m, el->name);
    for (int k = 0; k < 3; k++)
        xmsg_add(&m, av[k] ? av[k]->val : "", av[k] ? av[k]->vlen : 0);
    /* The payload's namespace, name and node= only for an iq: the router
     * reads them for nothing else (fewer bytes to seal and copy). */
    xel_t *ipl = el->kind == XK_IQ ? pl : NULL;
    xmsg_adds(&m, ipl ? ipl->ns : "");
    xmsg_adds(&m, ipl ? ipl->name : "");
    xmsg_adds(&m, ipl ? xel_attr(ipl, "node") : "");
    xmsg_adds(&m, prio);
    /* Held: the reference, without the bytes unless they are due (the
     * router asks for them if it needs them, R_RESEND); else the bytes. */
    int64_t held = h != NULL ? hold_commit(s, c, h, sl) : -1;
    uint32_t ref = (uint32_t)held;
    xmsg_add(&m, sp, held < 0 || bytes_due(s, c, av[1]) ? sl : 0);
    xmsg_add(&m, &ref, held >= 0 ? 4 : 0);
    /* A roster set: its item as "jid NUL name NUL subscription NUL group
     * NUL group...", and the number of items in b bits 8-15 (RFC 6121 §2.3:
     * exactly one is allowed). */
    xbuf_t item = {0};
    if (pl != NULL && el->kind == XK_IQ && strcmp(pl->ns, "jabber:iq:roster") == 0) {
        unsigned nitems = 0;
        xel_t *it = NULL;
        for (xel_t *k = pl->kids; k; k = k->next)
            if (k->name && strcmp(k->name, "item") == 0 && strcmp(k->ns, "jabber:iq:roster") == 0) {
                if (nitems++ == 0)
                    it = k;
            }
        m.h.b |= (nitems > 255 ? 255u : nitems) << 8;
        if (it != NULL) {
            const char *v[3] = {xel_attr(it, "jid"), xel_attr(it, "name"),
                                xel_attr(it, "subscription")};
            for (int i = 0; i < 3; i++) {
                xb_str(&item, v[i] ? v[i] : "");
                xb_add(&item, "", 1);
            }
            for (xel_t *g = it->kids; g; g = g->next)
                if (g->name && strcmp(g->name, "group") == 0) {
                    char gt[1024];
                    xel_text(g, gt, sizeof gt);
                    xb_str(&item, gt);
                    xb_add(&item, "", 1);
                }
        }
        xmsg_add(&m, item.p, item.len);
    } else if (pl != NULL && el->kind == XK_IQ && strcmp(pl->ns, NS_BLOCKING) == 0) {
        /* A block or unblock (XEP-0191): the items' JIDs as "jid NUL jid
         * NUL ...", their number in b bits 8-15 (255: 255 or more, which
         * the router refuses; an item without a jid counts, as "", so
         * that the router can refuse it). */
        unsigned nitems = 0;
        for (xel_t *k = pl->kids; k; k = k->next)
            if (k->name && strcmp(k->name, "item") == 0 && strcmp(k->ns, NS_BLOCKING) == 0) {
                const char *jid = xel_attr(k, "jid");
                xb_str(&item, jid ? jid : "");
                xb_add(&item, "", 1);
                nitems++;
            }
        m.h.b |= (nitems > 255 ? 255u : nitems) << 8;
        xmsg_add(&m, item.p, item.len);
    } else if (pl != NULL && el->kind == XK_IQ && strcmp(pl->ns, "urn:xmpp:carbons:2") == 0 &&
               av[0] != NULL && strcmp(av[0]->val, "set") == 0) {
        c->carbons = strcmp(pl->name, "enable") == 0; /* bytes_due's hint */
    }
    if (item.failed) {
        if (held >= 0)
            hold_undo(s, c);
        xb_free(&item);
        if (h == NULL)
            xb_free(&b);
        stream_error(s, c, "resource-constraint", NULL);
        return;
    }
    /* Too big for the router with its bytes (which it may ask for) or
     * without: refused either way. */
    if ((m.fl[8] == 0 && xmsg_size(&m) + sl > ea_conn_max(s->rt.c)) || outq_send(&s->rt, &m) < 0) {
        if (held >= 0)
            hold_undo(s, c);
        stream_error(s, c, "policy-violation", "stanza too big for the router");
    }
    if (h == NULL) {        /* (else b is the chunk's buffer) */
        if (b.cap <= 16384) /* kept for the next stanza; a big one is not */
            s->fwd = b;
        else
            xb_free(&b);
    }
    xb_free(&item);
}

/* XEP-0077 before authentication: the form, or a new account. */
static void on_register(struct c2s *s, struct cx *c, const xel_t *el)
{
    const char *type = xel_attr(el, "type"), *id = xel_attr(el, "id");
    xel_t *q = xel_child(el, NS_REGISTER, "query");
    if (id == NULL || strlen(id) >= sizeof c->bind_id || type == NULL) {
        iq_reply(s, c, id, "error", STANZA_ERR("modify", "bad-request"));
        return;
    }
    if (strcmp(type, "get") == 0) {
        iq_reply(s, c, id, "result",
                 "<query xmlns='" NS_REGISTER "'><instructions>Choose a user name and "
                 "password.</instructions><username/><password/></query>");
        return;
    }
    if (strcmp(type, "set") != 0) {
        if (strcmp(type, "result") != 0 && strcmp(type, "error") != 0)
            iq_reply(s, c, id, "error", STANZA_ERR("modify", "bad-request"));
        return;
    }
    xel_t *u = xel_child(q, NS_REGISTER, "username"), *p = xel_child(q, NS_REGISTER, "password");
    char user[256], pw[1024];
    if (xel_child(q, NS_REGISTER, "remove") != NULL) {
        iq_reply(s, c, id, "error", STANZA_ERR("cancel", "not-allowed")); /* needs a login */
        return;
    }
    if (u == NULL || p == NULL || xel_text(u, user, sizeof user) >= sizeof user - 1 ||
        xel_text(p, pw, sizeof pw) >= sizeof pw - 1 || pw[0] == 0 || !localpart_ok(user)) {
        iq_reply(s, c, id, "error", STANZA_ERR("modify", "not-acceptable"));
        memset(pw, 0, sizeof pw);
        return;
    }
    strcpy(c->bind_id, id);
    struct xmsg m = {.h = {A_REGISTER, 0, 0, 0}};
    xmsg_adds(&m, user);
    xmsg_adds(&m, pw);
    c->sasl_step = 4; /* waiting for the registration's verdict */
    send_acc(s, c, &m);
    memset(pw, 0, sizeof pw);
}

static void on_element(void *ctx, xs_t *xs, xel_t *el)
{
    struct cx *c = ctx;
    struct c2s *s = cur_s;
    (void)xs;
    if (c->dead)
        return;
    if (!c->authed) {
        if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
            if (c->secure) {
                outs(s, c, "<failure xmlns='" NS_TLS "'/></stream:stream>");
                c->dead = c->closing = 1;
                xs_stop(&c->xs);
                return;
            }
            outs(s, c, "<proceed xmlns='" NS_TLS "'/>");
            /* Nothing after <starttls/> in this plaintext is processed
             * (command injection, RFC 6120 §5.3.3): stop here. */
            c->starttls_pending = 1;
            xs_stop(&c->xs);
            return;
        }
        if (strcmp(el->ns, NS_SASL) == 0) {
            if (strcmp(el->name, "auth") == 0)
                on_auth(s, c, el);
            else if (strcmp(el->name, "response") == 0)
                on_response(s, c, el);
            else if (strcmp(el->name, "abort") == 0)
                sasl_failure(s, c, "aborted");
            else
                stream_error(s, c, "not-authorized", NULL);
            if (c->dead)
                xs_stop(&c->xs);
            return;
        }
        if (s->reg && (c->secure || s->plain_insecure) && strcmp(el->ns, XS_NS_CLIENT) == 0 &&
            strcmp(el->name, "iq") == 0 && xel_child(el, NS_REGISTER, "query") != NULL) {
            on_register(s, c, el);
            return;
        }
        stream_error(s, c, "not-authorized", NULL);
        xs_stop(&c->xs);
        return;
    }
    /* kind: the parser's answer to "a jabber:client message, presence or
     * iq?" (xstream.h) */
    if (el->kind != XK_MESSAGE && el->kind != XK_PRESENCE && el->kind != XK_IQ) {
        stream_error(s, c, "unsupported-stanza-type", NULL);
        xs_stop(&c->xs);
        return;
    }
    if (!c->bound) {
        const char *type = xel_attr(el, "type");
        const char *id = xel_attr(el, "id");
        xel_t *b = xel_child(el, NS_BIND, "bind");
        if (strcmp(el->name, "iq") != 0 || type == NULL || strcmp(type, "set") != 0 || b == NULL ||
            id == NULL || strlen(id) >= sizeof c->bind_id) {
            stream_error(s, c, "not-authorized", "bind a resource first");
            xs_stop(&c->xs);
            return;
        }
        char res[1100] = "";
        xel_t *r = xel_child(b, NS_BIND, "resource");
        if (r != NULL && xel_text(r, res, sizeof res) >= sizeof res - 1) {
            xbuf_t e = {0};
            xb_str(&e, "<iq type='error' id='");
            xb_esc_attr(&e, id, strlen(id));
            xb_str(&e, "'><error type='modify'><bad-request "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
            if (!e.failed)
                out(s, c, e.p, e.len);
            xb_free(&e);
            return;
        }
        strcpy(c->bind_id, id);
        struct xmsg m = {.h = {R_BIND, c->id, 0, 0}};
        xmsg_adds(&m, c->user);
        xmsg_adds(&m, res);
        if (outq_send(&s->rt, &m) < 0) {
            stream_error(s, c, "internal-server-error", NULL);
            xs_stop(&c->xs);
            return;
        }
        c->wait = W_BIND;
        xs_suspend(&c->xs);
        return;
    }
    forward(s, c, el);
}

static void on_end(void *ctx, xs_t *xs)
{
    struct cx *c = ctx;
    struct c2s *s = cur_s;
    (void)xs;
    /* The client closed its stream: close ours (RFC 6120 §4.4). */
    outs(s, c, "</stream:stream>");
    if (c->tls != NULL && ea_tls_handshake_done(c->tls)) {
        ea_tls_shutdown(c->tls);
        tls_flush(s, c);
    }
    c->dead = c->closing = 1;
}

static const xs_cbs_t cbs = {on_header, on_element, on_end};

static void after_parse(struct c2s *s, struct cx *c, int rc)
{
    if (rc == XS_ERROR) {
        stream_error(s, c, c->xs.err, c->xs.err_text);
        return;
    }
    if (c->starttls_pending && !c->dead) {
        c->starttls_pending = 0;
        if (ea_tls_new(s->ctx, &c->tls) != EA_OK || xs_restart(&c->xs, XS_STANZA_PREAUTH) != 0) {
            c->dead = c->closing = 1;
            return;
        }
        c->secure = 1;
        c->hdr_sent = 0;
        c->held_len = 0;
    }
}

/* Plaintext from the client. */
static void c_input(struct c2s *s, struct cx *c, const char *data, size_t len)
{
    if (c->dead || len == 0)
        return;
    if (c->wait != W_NONE) {
        if ((size_t)c->held_len + len > HELD_MAX) {
            stream_error(s, c, "policy-violation", "too much input while waiting");
            return;
        }
        char *p = realloc(c->held, c->held_len + len);
        if (p == NULL) {
            stream_error(s, c, "resource-constraint", NULL);
            return;
        }
        memcpy(p + c->held_len, data, len);
        c->held = p;
        c->held_len += (uint32_t)len;
        return;
    }
    cur_s = s;
    after_parse(s, c, xs_feed(&c->xs, data, len));
}

/* Another actor answered: go on parsing where the stream was suspended,
 * then what arrived meanwhile. */
static void c_continue(struct c2s *s, struct cx *c)
{
    c->wait = W_NONE;
    if (c->dead)
        return;
    cur_s = s;
    if (c->xs.suspended) {
        after_parse(s, c, xs_resume(&c->xs));
        if (c->wait != W_NONE || c->dead)
            return;
    }
    while (c->held_len > 0 && c->wait == W_NONE && !c->dead) {
        char *p = c->held;
        uint32_t n = c->held_len;
        c->held = NULL;
        c->held_len = 0;
        after_parse(s, c, xs_feed(&c->xs, p, n));
        free(p);
    }
}

/* ---------------------------------------------------------------- connections */

static void ask_recv(struct c2s *s, struct cx *c)
{
    if (c->recv_out || c->closing || c->wait != W_NONE)
        return;
    int64_t rc = ea_net_recv(&s->sys, c->h, RECV_MAX);
    if (rc == EA_ERR_NOBUFS || rc == EA_ERR_LIMIT || rc == EA_ERR_FULL) {
        s->busy = s->retry = 1; /* asked again at the next step */
        return;
    }
    if (rc < 0) {
        c->dead = c->closing = 1;
        return;
    }
    c->recv_out = 1;
}

static void maybe_finish(struct c2s *s, struct cx *c)
{
    if (c->closing)
        c_flush(s, c);
    if (c->closing && c->sends == 0 && c->pend_len == 0)
        c_close(s, c);
}

static void c_close(struct c2s *s, struct cx *c)
{
    uint32_t slot = c->id % SLOTS;
    /* No node for the request now: the connection stays, closing, and asks
     * again at the next step; a lost CLOSE would leave the socket open in
     * the system actor for good. */
    int64_t rc = ea_net_close(&s->sys, c->h);
    if (rc == EA_ERR_NOBUFS || rc == EA_ERR_LIMIT || rc == EA_ERR_FULL) {
        s->busy = s->retry = 1;
        return;
    }
    if (c->bound || c->wait == W_BIND) {
        struct xmsg m = {.h = {R_CLOSED, c->id, 0, 0}};
        (void)outq_send(&s->rt, &m);
    }
    ea_tls_free(c->tls);
    xs_free(&c->xs);
    free(c->pend);
    free(c->held);
    free(c->ob);
    free(c->cfb);
    free(c->sfirst);
    xb_free(&c->fa);
    memset(c, 0, sizeof *c);
    free(c);
    s->c[slot] = NULL;
    s->live--;
    s->closed++;
}

static void on_recv(struct c2s *s, struct cx *c, const ea_sys_event_t *ev)
{
    c->recv_out = 0;
    if (ev->msg.status == EA_SYS_QUEUED) {
        /* The system actor holds as many bytes for this actor as its
         * grant's queued= allows: back-pressure, not an error of the
         * connection. Asked again at the next step. */
        s->recv_later++;
        s->busy = s->retry = 1;
        return;
    }
    if (ev->msg.status <= 0) {
        if (ev->msg.status < 0 && s->n_recv_err++ == 0)
            s->first_recv_err = ev->msg.status;
        c->eof = c->closing = c->dead = 1;
        maybe_finish(s, c);
        return;
    }
    if (c->tls != NULL) {
        /* Read in place from the message (valid until on_sys returns); the
         * part no record took yet, if any, is kept by ea_tls_feed_done. */
        if (ea_tls_feed_borrow(c->tls, ev->data, ev->msg.len) != EA_OK) {
            c->dead = c->closing = 1;
            s->n_tls_err++;
        } else {
            int n;
            while (!c->dead && (n = ea_tls_read(c->tls, s->buf, sizeof s->buf)) > 0)
                c_input(s, c, s->buf, (size_t)n);
            if (!c->dead && n != EA_ERR_EMPTY) {
                c->dead = c->closing = 1;
                s->n_tls_err++;
            }
        }
        if (ea_tls_feed_done(c->tls) != EA_OK)
            c->dead = c->closing = 1;
        tls_flush(s, c);
    } else {
        c_input(s, c, ev->data, ev->msg.len);
    }
    ask_recv(s, c);
    maybe_finish(s, c);
}

static void on_accept(struct c2s *s, int32_t h)
{
    uint32_t slot = (uint32_t)h % SLOTS;
    struct cx *c = s->c[slot] == NULL ? calloc(1, sizeof *c) : NULL;
    unsigned long salt = 0;
    if (c == NULL || xc_random(&salt, sizeof salt) < 0) {
        free(c);
        ea_net_close(&s->sys, h);
        return;
    }
    c->h = h;
    c->id = slot | (++s->gen[slot] << 15);
    c->t0 = ea_now_ns();
    if (xs_init(&c->xs, &cbs, c, salt, XS_MEM_DEFAULT, XS_STANZA_PREAUTH) != 0) {
        free(c);
        ea_net_close(&s->sys, h);
        return;
    }
    s->c[slot] = c;
    s->live++;
    s->accepted++;
    ask_recv(s, c);
}

static void arm_accept(struct c2s *s)
{
    if (s->listener < 0 || s->accepting)
        return;
    if (ea_net_accept(&s->sys, s->listener) < 0) {
        s->busy = 1;
        return;
    }
    s->accepting = 1;
}

/* Pre-authentication timeout (RFC 6120 §4.6.2: connection-timeout). */
static void tick(struct c2s *s)
{
    uint64_t now = ea_now_ns();
    for (uint32_t i = 0; s->live > 0 && i < SLOTS; i++) {
        struct cx *c = s->c[i];
        if (c != NULL && !c->authed && !c->dead && now - c->t0 > s->preauth_ns) {
            stream_error(s, c, "connection-timeout", NULL);
            maybe_finish(s, c);
        }
    }
}

static void on_sys(ea_actor_t *self, struct c2s *s, const ea_sys_event_t *ev)
{
    uint16_t op = ev->msg.op & (uint16_t)~EA_SYS_DONE;
    switch (op) {
    case EA_NET_LISTEN:
        if (ev->msg.status < 0) {
            printf("%s: cannot listen: %s\n", ea_name(self), ea_sys_strstatus(ev->msg.status));
            fflush(stdout);
            return;
        }
        s->listener = ev->msg.status;
        printf("%s: listening (XMPP c2s, domain %s, STARTTLS)\n", ea_name(self), s->domain);
        fflush(stdout);
        arm_accept(s);
        break;
    case EA_NET_ACCEPT:
        s->accepting = 0;
        if (ev->msg.status >= 0)
            on_accept(s, ev->msg.status);
        arm_accept(s);
        break;
    case EA_NET_RECV: {
        struct cx *c = by_handle(s, ev->msg.handle);
        if (c != NULL)
            on_recv(s, c, ev);
        break;
    }
    case EA_NET_SEND: {
        struct cx *c = by_handle(s, ev->msg.handle);
        if (c == NULL)
            break;
        c->sends--;
        if (ev->msg.status < 0) {
            if (!c->dead && s->n_send_err++ == 0)
                s->first_send_err = ev->msg.status;
            c->dead = c->closing = 1;
        }
        maybe_finish(s, c);
        break;
    }
    case EA_TIMER_SET:
        if (ev->msg.status >= 0)
            s->timer = ev->msg.status;
        break;
    case EA_TIMER_FIRE: tick(s); break;
    default: break;
    }
}

static void on_acc(struct c2s *s, const ea_cargo_t *cg)
{
    struct xmsg m;
    if (xmsg_parse(&m, cg->data, cg->len) < 0)
        return;
    struct cx *c = by_id(s, m.h.conn);
    if (c == NULL || c->wait != W_ACC)
        return;
    if (m.h.op == A_SCRAM_SALT)
        on_salt(s, c, &m);
    else if (m.h.op == A_RESULT)
        on_verdict(s, c, &m);
    else
        return;
    /* Parse on: after a challenge or a failure, where the stream stopped;
     * after success the parser is new and nothing is held. */
    c_continue(s, c);
    ask_recv(s, c);
    maybe_finish(s, c);
}

/* m points into the router's message (no copy of the 144 bytes). */
static void on_rt(struct c2s *s, const struct xmsg *m)
{
    if (m->h.op == R_HELD_DONE) {
        hold_done(s, m->h.a);
        return;
    }
    if (m->h.op == R_RESEND) { /* before by_id: the connection may have closed */
        resend(s, m->h.conn, m->h.a);
        return;
    }
    struct cx *c = by_id(s, m->h.conn);
    if (c == NULL)
        return;
    switch (m->h.op) {
    case R_BOUND:
        if (c->wait != W_BIND)
            return;
        if (m->h.a == 1 && xmsg_str(m, 0, c->jid, sizeof c->jid) == 0) {
            c->fa.len = 0;
            xb_from_attr(&c->fa, c->jid);
            if (c->fa.failed) {
                stream_error(s, c, "resource-constraint", NULL);
                break;
            }
            c->bound = 1;
            xbuf_t b = {0};
            xb_str(&b, "<iq type='result' id='");
            xb_esc_attr(&b, c->bind_id, strlen(c->bind_id));
            xb_str(&b, "'><bind xmlns='" NS_BIND "'><jid>");
            xb_esc(&b, c->jid, strlen(c->jid));
            xb_str(&b, "</jid></bind></iq>");
            if (!b.failed)
                out(s, c, b.p, b.len);
            xb_free(&b);
        } else {
            char cond[64] = "not-allowed";
            (void)xmsg_str(m, 0, cond, sizeof cond);
            xbuf_t b = {0};
            xb_str(&b, "<iq type='error' id='");
            xb_esc_attr(&b, c->bind_id, strlen(c->bind_id));
            xb_fmt(&b,
                   "'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                   "</error></iq>",
                   cond);
            if (!b.failed)
                out(s, c, b.p, b.len);
            xb_free(&b);
        }
        c_continue(s, c);
        break;
    case R_DELIVER:
        if (m->n >= 1)
            out_later(s, c, m->f[0], m->fl[0]);
        break;
    case R_REF: {
        uint32_t len;
        const char *p = hold_get(s, m->h.a, &len);
        if (p != NULL) {
            out_later(s, c, p, len);
        } else if (s->badrefs++ < 10) {
            /* stale or forged (a router bug, or a compromised one): this
             * delivery is refused, nothing else changes */
            fprintf(stderr, "c2s: the router referred to stanza %u, which is not held: refused\n",
                    m->h.a);
        }
        break;
    }
    case R_KICK: {
        char cond[64] = "conflict";
        (void)xmsg_str(m, 0, cond, sizeof cond);
        c->bound = 0; /* the router has dropped the session already */
        stream_error(s, c, cond, NULL);
        break;
    }
    default: return;
    }
    ask_recv(s, c);
    maybe_finish(s, c);
}

/* xiter_next for the router's batches: a message that is only a header
 * (R_REF, R_HELD_DONE: nearly all of them at load) is taken without
 * xmsg_parse zeroing the whole struct xmsg; its n is 0, and on_rt reads no
 * field of such a message (xmsg_str and the R_DELIVER check look at n). */
static int rt_next(struct xiter *it, struct xmsg *m)
{
    uint32_t l;
    if (it->batch && !it->done && it->len - it->off >= 4 + sizeof m->h) {
        memcpy(&l, it->p + it->off, 4);
        if (l == sizeof m->h) {
            memcpy(&m->h, it->p + it->off + 4, sizeof m->h);
            if (m->h.op != X_BATCH) {
                m->n = 0;
                it->off += 4 + l;
                return 1;
            }
        }
    }
    return xiter_next(it, m);
}

static int c2s_ctor(ea_actor_t *self, void *state)
{
    struct c2s *s = state;
    const char *net = ea_param(self, "net"), *acc = ea_param(self, "acc"),
               *rt = ea_param(self, "rt");
    net = net ? net : "net";
    acc = acc ? acc : "acc";
    rt = rt ? rt : "rt";
    ea_conn_t *io = ea_conn(self, net);
    s->acc.c = ea_conn(self, acc);
    s->rt.c = ea_conn(self, rt);
    s->rt.batch = 1; /* the router reads X_BATCH */
    if (io == NULL || s->acc.c == NULL || s->rt.c == NULL) {
        printf("%s: needs channels %s, %s and %s\n", ea_name(self), net, acc, rt);
        return EA_ERR_NOTFOUND;
    }
    ea_sys_client_init(&s->sys, io);
    /* Every completion of a round in one message (ev.data is then valid
     * until the next ea_sys_recv, which on_sys never outlives). */
    int batch = ea_param_int(self, "batch", 1, NULL) != 0;
    ea_sys_client_batch(&s->sys, batch);
    s->domain = ea_param(self, "domain") ? ea_param(self, "domain") : "localhost";
    int cl = snprintf(s->conf, sizeof s->conf, "conference.%s", s->domain);
    s->conf_len = cl > 0 && (size_t)cl < sizeof s->conf ? (size_t)cl : 0;
    s->plain_insecure = (int)ea_param_int(self, "plain_insecure", 0, NULL);
    s->plain_only = (int)ea_param_int(self, "plain_only", 0, NULL);
    s->reg = (int)ea_param_int(self, "register", 0, NULL) == 1;
    s->preauth_ns = (uint64_t)ea_param_int(self, "preauth_timeout_s", 30, NULL) * 1000000000u;
    s->listener = s->timer = -1;
    s->c = calloc(SLOTS, sizeof *s->c);
    s->gen = calloc(SLOTS, sizeof *s->gen);
    s->dirty = calloc(SLOTS, sizeof *s->dirty);
    if (s->c == NULL || s->gen == NULL || s->dirty == NULL)
        return EA_ERR_NOMEM;
    char err[200];
    int rc = ea_tls_ctx_new_server(&s->ctx, pki_server_pem, pki_server_pem_len, pki_server_key,
                                   pki_server_key_len, err, sizeof err);
    if (rc != EA_OK) {
        printf("%s: TLS set-up failed: %s\n", ea_name(self), err);
        return rc;
    }
    if (!xs_reparse_deferral_off())
        printf("%s: warning: this expat cannot turn reparse deferral off\n", ea_name(self));
    const char *addr = ea_param(self, "addr");
    long long port = ea_param_int(self, "port", 5222, NULL);
    int shared = (int)ea_param_int(self, "shared", 0, NULL) == 1;
    if ((shared ? ea_net_listen_shared : ea_net_listen)(&s->sys, addr ? addr : "127.0.0.1",
                                                        (uint16_t)port) <= 0)
        return EA_ERR_NOBUFS;
    if (ea_timer_set(&s->sys, (uint64_t)TICK_MS * 1000000u, TICK_MS) <= 0)
        return EA_ERR_NOBUFS;
    /* The requests of a round (receives, sends, closes) go out together,
     * in one message, when the body ends (ea_sys_flush there). */
    ea_sys_client_hold(&s->sys, batch);
    return EA_OK;
}

static int c2s_body(ea_actor_t *self, void *state)
{
    struct c2s *s = state;
    if (ea_stopping(self)) {
        for (uint32_t i = 0; i < SLOTS; i++)
            if (s->c[i] != NULL) {
                struct cx *c = s->c[i];
                ea_tls_free(c->tls);
                xs_free(&c->xs);
                free(c->pend);
                free(c->held);
                free(c->ob);
                free(c->cfb);
                free(c->sfirst);
                xb_free(&c->fa);
                free(c);
                s->c[i] = NULL;
            }
        free(s->c);
        free(s->gen);
        free(s->dirty);
        xb_free(&s->fwd);
        hold_clear(s);
        s->c = NULL;
        ea_tls_ctx_free(s->ctx);
        s->ctx = NULL;
        outq_clear(&s->acc);
        outq_clear(&s->rt);
        printf("%s: %llu connections accepted, %llu closed, %llu logins\n", ea_name(self),
               (unsigned long long)s->accepted, (unsigned long long)s->closed,
               (unsigned long long)s->logins);
        if (s->n_recv_err + s->n_send_err + s->n_tls_err + s->n_stream_err > 0)
            printf("%s: ended by the server: %llu receive errors (first %lld), %llu send errors "
                   "(first %lld), %llu TLS errors, %llu stream errors\n",
                   ea_name(self), (unsigned long long)s->n_recv_err, (long long)s->first_recv_err,
                   (unsigned long long)s->n_send_err, (long long)s->first_send_err,
                   (unsigned long long)s->n_tls_err, (unsigned long long)s->n_stream_err);
        if (s->recv_later > 0)
            printf("%s: %llu receives asked again (the system actor held queued= bytes)\n",
                   ea_name(self), (unsigned long long)s->recv_later);
        if (s->badrefs > 0)
            printf("%s: %llu references from the router refused\n", ea_name(self),
                   (unsigned long long)s->badrefs);
        fflush(stdout);
        return EA_DONE;
    }
    s->busy = 0;
    arm_accept(s);
    if (outq_flush(&s->acc) | outq_flush(&s->rt))
        s->busy = 1;
    int retry = s->retry;
    s->retry = 0;
    for (uint32_t i = 0; retry && s->live > 0 && i < SLOTS; i++) {
        struct cx *c = s->c[i];
        if (c == NULL)
            continue;
        if (c->pend_len > 0)
            retry_pend(s, c);
        if (!c->recv_out && !c->closing && c->wait == W_NONE)
            ask_recv(s, c);
        if (s->c[i] != NULL)
            maybe_finish(s, c);
    }
    int budget = 256, rc;
    ea_sys_event_t ev;
    while (budget-- > 0 && (rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
        if (rc == EA_OK) {
            on_sys(self, s, &ev);
            ea_cargo_release(&ev.cargo);
        }
    }
    if (budget < 0)
        s->busy = 1;
    for (int n = 0; n < 256; n++) {
        ea_cargo_t m;
        if (ea_cargo_recv(s->acc.c, &m) != EA_OK)
            break;
        on_acc(s, &m);
        ea_cargo_release(&m);
        if (n == 255)
            s->busy = 1;
    }
    for (int n = 0; n < 256; n++) {
        ea_cargo_t m;
        if (ea_cargo_recv(s->rt.c, &m) != EA_OK)
            break;
        struct xiter it;
        struct xmsg x;
        xiter_init(&it, m.data, m.len);
        while (rt_next(&it, &x))
            on_rt(s, &x);
        ea_cargo_release(&m);
        if (n == 255)
            s->busy = 1;
    }
    for (uint32_t i = 0; i < s->ndirty; i++) {
        struct cx *c = by_id(s, s->dirty[i]);
        if (c == NULL)
            continue;
        c->dirty = 0;
        c_flush(s, c);
        maybe_finish(s, c);
    }
    s->ndirty = 0;
    /* This round's stanzas for the router: one channel message. */
    if (outq_flush(&s->rt))
        s->busy = 1;
    s->hsealed = 1; /* the next round's held stanzas start a chunk */
    /* The round's requests to the system actor, held since it began, in
     * one message. A channel that failed leaves nothing to do; the next
     * round finds out. */
    (void)ea_sys_flush(&s->sys);
    return s->busy ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(xmpp_c2s, struct c2s, c2s_ctor, c2s_body);
