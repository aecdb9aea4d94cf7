/*
 * Fuzz target: the XMPP example's router (examples/xmpp/router.c) against
 * hostile peers: what two c2s actors, the accounts directory, the store and
 * the MUC actor send it. The router trusts c2s for who a connection is (c2s
 * authenticated it), never for the shape of a message: every field is
 * checked. A compromised c2s or store enclave must not make the router
 * read out of bounds, leak, hang, emit malformed XML, or deliver to a
 * connection that is not bound.
 *
 * Seam: router.c is included whole; its body (router_body) runs round
 * after round on real channels (tests/common/conn_pair.h) as the runtime
 * calls it. This file plays the peers:
 *  - accounts: the directory "a b c d" at start (more names by command);
 *  - store: S_LOADED at start, forged records (S_ROSTER, S_BLOCK,
 *    S_OFFLINE) by command, before or after the load;
 *  - accounts also vouches for logins (A_VOUCH): before the bind, later,
 *    for another user, or never, as the input says;
 *  - two c2s links, eight connection slots each: binds (a slot binds once
 *    until it is closed), stanzas with fields from tables
 *    or raw fuzz bytes (NULs, over-long, lying item counts), closes, raw
 *    messages and batches;
 *  - muc: M_DELIVER to arbitrary full JIDs, with or without a sender.
 *
 * Input: one byte of configuration (bit 0: forged store records before
 * S_LOADED; bit 1: the c2s refuses every R_RESEND; bit 2: it never
 * answers one), then commands of one byte each, the low three bits the
 * command, bit 3 the link, bits 4-6 the slot: 0 bind  1 stanza  2 close
 * 3 raw message (2-byte length, bytes; a batch if its first op says so)
 * 4 MUC delivery  5 a store record  6 directory names  7 the late vouches. At the end every
 * connection closes and the router stops (the stop path frees everything: LeakSanitizer).
 *
 * Properties checked besides ASan and UBSan:
 *  - a connection is bound (R_BOUND with a = 1) only as a user the
 *    accounts actor vouched for on that connection since it was opened;
 *  - R_DELIVER, R_REF and R_KICK name only connections the router bound
 *    and that were neither closed nor kicked since;
 *  - delivery by reference: an R_REF names only a stanza held by the link
 *    it goes to (sent there as held) and not yet released by an
 *    R_HELD_DONE, which releases only what was sent (stanzas go as held or
 *    not as the input says, a held one with or without its bytes);
 *  - R_RESEND asks only for a stanza sent held without its bytes, by the
 *    connection that sent it, once, and no R_HELD_DONE releases it before
 *    the fake c2s has answered (R_BYTES after the round, or never);
 *  - every delivery is well-formed XML (expat, inside a wrapper element):
 *    the stanzas the fake c2s forwards are well-formed, so malformed output
 *    means the router built it (an attribute or text not escaped);
 *  - to the store only S_* changes, to the MUC actor only M_STANZA and
 *    M_GONE, each a well-formed message;
 *  - progress: every command settles in a bounded number of rounds.
 */
#include <expat.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.c"
#include "conn_pair.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The router's counters at each stop: not for every input. */
    if (freopen(getenv("ROUTER_STDOUT") ? getenv("ROUTER_STDOUT") : "/dev/null", "w", stdout) ==
        NULL)
        return 0;
    return 0;
}

#define LINKS 2
#define NSLOT 8
#define MAX_ROUNDS 200
#define NODE 16384u
#define HQ 512 /* > the held stanzas of one input (256 commands) */

#define FAIL(...)                                     \
    do {                                              \
        fprintf(stderr, "xmpp_router: " __VA_ARGS__); \
        fprintf(stderr, "\n");                        \
        abort();                                      \
    } while (0)

struct slot {
    uint32_t gen;
    int bound; /* R_BOUND a = 1 seen, not closed or kicked since */
    int asked; /* R_BIND sent, no R_BOUND yet */
    int late;  /* a vouch for `user` still to be sent (command 7) */
    char user[64];
    char buser[64];     /* the user of the bind waiting for its R_BOUND */
    char vusers[4][64]; /* the users accounts vouched for since the last close */
    int nv;
    int closing; /* R_CLOSED sent for generation gen - 1, which the router
                  * may not have read yet: what it sends there meanwhile is
                  * allowed (c2s drops it by the generation) */
};

static struct {
    struct ea_test_pair link[LINKS], dir, st, muc;
    struct router *r;
    struct slot s[LINKS][NSLOT];
    char names[8][64];
    int nnames;
    int unclean;              /* a string c2s could not have sent went in: stop checking XML */
    uint32_t next_ref[LINKS]; /* the next held stanza's number, per link */
    uint32_t done[LINKS];     /* held stanzas below this were released */
    struct {                  /* held stanzas by number % HQ */
        uint32_t conn, ref;
        int byteless, asked, answered;
        size_t len;
        char xml[512];
    } hq[LINKS][HQ];
    struct {
        unsigned link;
        uint32_t conn, ref;
    } ans[HQ]; /* R_RESENDs to answer after this drain */
    unsigned nans;
    uint32_t cfg;
} F;

static const char *const users[] = {"a", "b", "c", "d", "nobody"};
static const char *const kinds[] = {"message", "presence", "iq"};
static const char *const types[] = {
    "",           "chat",        "groupchat",    "headline",    "normal",
    "error",      "get",         "set",          "result",      "subscribe",
    "subscribed", "unsubscribe", "unsubscribed", "unavailable", "probe"};
static const char *const tos[] = {"",
                                  "localhost",
                                  "a@localhost",
                                  "b@localhost",
                                  "b@localhost/r1",
                                  "a@localhost/r2",
                                  "c@localhost/r1",
                                  "conference.localhost",
                                  "room@conference.localhost/nick",
                                  "x@other.org",
                                  "A@LOCALHOST/r1",
                                  "bad@@jid",
                                  "d@localhost/'\"<&>"};
static const char *const payloads[][2] = {{"urn:xmpp:ping", "ping"},
                                          {"jabber:iq:roster", "query"},
                                          {"http://jabber.org/protocol/disco#info", "query"},
                                          {"http://jabber.org/protocol/disco#items", "query"},
                                          {"urn:ietf:params:xml:ns:xmpp-session", "session"},
                                          {"urn:xmpp:carbons:2", "enable"},
                                          {"urn:xmpp:carbons:2", "disable"},
                                          {"urn:xmpp:blocking", "blocklist"},
                                          {"urn:xmpp:blocking", "block"},
                                          {"urn:xmpp:blocking", "unblock"},
                                          {"jabber:iq:register", "query"},
                                          {"", ""}};
static const char *const prios[] = {"", "0", "-1", "5", "200", "x"};
/* Items (NUL-separated): roster items as "jid NUL name NUL sub NUL groups",
 * blocklist items as "jid NUL jid". */
static const char items_roster[] = "b@localhost\0Bob\0both\0friends\0work";
static const char items_block[] = "c@localhost\0other.org\0a@localhost/r1";

static void send_raw(ea_conn_t *c, const void *p, size_t len)
{
    ea_cargo_t cg;
    if (ea_cargo_alloc(c, len, &cg) != EA_OK)
        return; /* the channel is full: the message is not sent (a peer may do that) */
    memcpy(cg.data, p, len);
    if (ea_cargo_send(&cg) != EA_OK)
        FAIL("fake peer's send failed");
}

static void send_xmsg(ea_conn_t *c, const struct xmsg *m)
{
    static char buf[NODE];
    size_t n = xmsg_size(m);
    if (n > sizeof buf)
        return;
    xmsg_write(m, buf);
    send_raw(c, buf, n);
}

/* Could `p` be character data that expat passed (what c2s forwards)?
 * UTF-8 without overlong forms, surrogates or U+FFFE/U+FFFF, and no
 * control characters but TAB, LF and CR. */
static int clean(const char *p, size_t n)
{
    const uint8_t *u = (const uint8_t *)p;
    for (size_t i = 0; i < n;) {
        uint32_t c = u[i], need;
        if (c < 0x80)
            need = 0;
        else if (c >= 0xc2 && c < 0xe0)
            need = 1;
        else if (c >= 0xe0 && c < 0xf0)
            need = 2;
        else if (c >= 0xf0 && c < 0xf5)
            need = 3;
        else
            return 0;
        if (need == 0 && c < 0x20 && c != 9 && c != 10 && c != 13)
            return 0;
        if (i + need >= n && need > 0)
            return 0;
        if (need > 0) {
            c &= 0x3fu >> need;
            for (uint32_t k = 1; k <= need; k++) {
                if ((u[i + k] & 0xc0) != 0x80)
                    return 0;
                c = c << 6 | (u[i + k] & 0x3f);
            }
            if ((need == 2 && c < 0x800) || (need == 3 && (c < 0x10000 || c > 0x10ffff)) ||
                (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
                return 0;
        }
        i += 1 + need;
    }
    return 1;
}

/* A fuzz string: a length byte (0..63) and that many bytes (NULs and all). */
static size_t fstr(struct in *in, char *out)
{
    size_t n = take(in, 1) & 63;
    if (n > in->n)
        n = in->n;
    memcpy(out, in->d, n);
    out[n] = 0;
    in->d += n;
    in->n -= n;
    if (!clean(out, n))
        F.unclean = 1;
    return n;
}

/* From a table, or (the top index) a fuzz string. */
static const char *pick(struct in *in, const char *const *t, size_t nt, char *buf, size_t *len)
{
    uint32_t i = take(in, 1) % (uint32_t)(nt + 1);
    if (i == nt) {
        *len = fstr(in, buf);
        return buf;
    }
    *len = strlen(t[i]);
    return t[i];
}

static int well_formed(const char *xml, size_t len)
{
    XML_Parser p = XML_ParserCreate(NULL);
    if (p == NULL)
        FAIL("no parser");
    int ok = XML_Parse(p, "<w>", 3, 0) == XML_STATUS_OK &&
             XML_Parse(p, xml, (int)len, 0) == XML_STATUS_OK &&
             XML_Parse(p, "</w>", 4, 1) == XML_STATUS_OK;
    XML_ParserFree(p);
    return ok;
}

static struct slot *slot_of(unsigned link, uint32_t conn)
{
    uint32_t i = conn & 0xffffu;
    if (link >= LINKS || i >= NSLOT || F.s[link][i].gen != conn >> 16)
        return NULL;
    return &F.s[link][i];
}

/* Is `conn` a generation closed since the last quiet round? */
static int closing(unsigned link, uint32_t conn)
{
    uint32_t i = conn & 0xffffu;
    return link < LINKS && i < NSLOT && F.s[link][i].closing &&
           ((F.s[link][i].gen - 1) & 0xffffu) == conn >> 16;
}

static int trace; /* ROUTER_TRACE set: what goes to c2s, on stderr */

static void from_router_link(unsigned link, const struct xmsg *m)
{
    struct slot *s = slot_of(link, m->h.conn);
    if (trace)
        fprintf(stderr, "  link %u conn %#x (%s) op %u a %u: %.*s\n", link, m->h.conn,
                s == NULL  ? "no slot"
                : s->bound ? "bound"
                           : "unbound",
                m->h.op, m->h.a, (int)(m->n ? m->fl[0] : 0), m->n ? m->f[0] : "");
    switch (m->h.op) {
    case R_BOUND:
        if (closing(link, m->h.conn))
            break;
        if (s == NULL || !s->asked)
            FAIL("R_BOUND for connection %u on link %u, which asked for none", m->h.conn, link);
        if (m->h.a == 1) {
            int v = 0;
            for (int k = 0; k < s->nv; k++)
                v |= strcmp(s->vusers[k], s->buser) == 0;
            if (!v)
                FAIL("connection %u on link %u bound as '%s', which no login on it was vouched for",
                     m->h.conn, link, s->buser);
        }
        s->asked = 0;
        s->bound = m->h.a == 1;
        break;
    case R_DELIVER:
        if ((s == NULL || !s->bound) && !closing(link, m->h.conn))
            FAIL("delivery to connection %u on link %u, which is not bound", m->h.conn, link);
        if (m->n != 1 || (!F.unclean && !well_formed(m->f[0], m->fl[0])))
            FAIL("malformed delivery: %.*s", (int)(m->n ? m->fl[0] : 0), m->n ? m->f[0] : "");
        break;
    case R_REF:
        if ((s == NULL || !s->bound) && !closing(link, m->h.conn))
            FAIL("reference to connection %u on link %u, which is not bound", m->h.conn, link);
        if (!F.unclean && (m->n != 0 || m->h.a - F.done[link] >= F.next_ref[link] - F.done[link]))
            FAIL("reference to stanza %u on link %u, which does not hold it (held %u..%u)", m->h.a,
                 link, F.done[link], F.next_ref[link]);
        break;
    case R_HELD_DONE:
        if (!F.unclean && m->h.a + 1 != F.done[link]) { /* (up to the last: nothing new) */
            if (m->h.a - F.done[link] >= F.next_ref[link] - F.done[link])
                FAIL("stanzas up to %u on link %u released, which sent %u..%u", m->h.a, link,
                     F.done[link], F.next_ref[link]);
            for (uint32_t n = F.done[link]; n != m->h.a + 1; n++)
                if (F.hq[link][n % HQ].asked && !F.hq[link][n % HQ].answered)
                    FAIL("stanza %u on link %u released while its bytes are asked for", n, link);
            F.done[link] = m->h.a + 1;
        }
        break;
    case R_RESEND: {
        uint32_t n = m->h.a;
        if (!F.unclean) {
            if (n - F.done[link] >= F.next_ref[link] - F.done[link])
                FAIL("bytes of stanza %u asked on link %u, which holds %u..%u", n, link,
                     F.done[link], F.next_ref[link]);
            if (!F.hq[link][n % HQ].byteless || F.hq[link][n % HQ].conn != m->h.conn ||
                F.hq[link][n % HQ].asked)
                FAIL("bytes of stanza %u asked on link %u (conn %u): not one sent without them "
                     "by that connection, or asked twice",
                     n, link, m->h.conn);
        }
        F.hq[link][n % HQ].asked = 1;
        if (F.nans < HQ) {
            F.ans[F.nans].link = link;
            F.ans[F.nans].conn = m->h.conn;
            F.ans[F.nans++].ref = n;
        }
        break;
    }
    case R_KICK:
        if (closing(link, m->h.conn))
            break;
        if (s == NULL || !s->bound)
            FAIL("kick of connection %u on link %u, which is not bound", m->h.conn, link);
        s->bound = 0; /* the router forgot it */
        break;
    default: FAIL("unexpected message %u to c2s", m->h.op);
    }
}

/* Takes everything the router sent; 1 if anything. */
static int drain(void)
{
    int did = 0;
    ea_cargo_t cg;
    for (unsigned l = 0; l < LINKS; l++)
        while (ea_cargo_recv(&F.link[l].cb, &cg) == EA_OK) {
            struct xiter it;
            struct xmsg m;
            xiter_init(&it, cg.data, cg.len);
            while (xiter_next(&it, &m))
                from_router_link(l, &m);
            if (it.batch && it.off != it.len)
                FAIL("a malformed batch from the router");
            ea_cargo_release(&cg);
            did = 1;
        }
    /* The c2s answers what was asked (as its configuration says). */
    for (unsigned k = 0; k < F.nans && !(F.cfg & 4); k++) {
        unsigned l = F.ans[k].link;
        uint32_t n = F.ans[k].ref;
        struct xmsg a = {.h = {R_BYTES, F.ans[k].conn, n, 1}};
        if (!(F.cfg & 2) && F.hq[l][n % HQ].conn == F.ans[k].conn) {
            a.h.b = 0;
            xmsg_add(&a, F.hq[l][n % HQ].xml, F.hq[l][n % HQ].len);
        }
        F.hq[l][n % HQ].answered = 1;
        send_xmsg(&F.link[l].cb, &a);
    }
    F.nans = 0;
    while (ea_cargo_recv(&F.st.cb, &cg) == EA_OK) {
        struct xmsg m;
        if (xmsg_parse(&m, cg.data, cg.len) < 0 || m.h.op < S_ROSTER || m.h.op > S_END ||
            m.h.op == S_LOADED)
            FAIL("unexpected message to the store (op %u, %zu bytes)", m.h.op, cg.len);
        ea_cargo_release(&cg);
        did = 1;
    }
    while (ea_cargo_recv(&F.muc.cb, &cg) == EA_OK) {
        struct xmsg m;
        if (xmsg_parse(&m, cg.data, cg.len) < 0 || (m.h.op != M_STANZA && m.h.op != M_GONE))
            FAIL("unexpected message to the MUC actor");
        ea_cargo_release(&cg);
        did = 1;
    }
    while (ea_cargo_recv(&F.dir.cb, &cg) == EA_OK)
        FAIL("the router wrote to the directory");
    return did;
}

static void settle(void)
{
    for (int n = 0;; n++) {
        if (n == MAX_ROUNDS)
            FAIL("no quiet after %d rounds", MAX_ROUNDS);
        int busy = router_body(&F.link[0].a, F.r) == EA_BUSY;
        /* message_needs_bytes and route_message must agree: a stanza the
         * first let through without its bytes that the second then needs
         * the bytes of is dropped (router.c deliver_st). */
        if (F.r->nobytes != 0)
            FAIL("a stanza routed without the bytes it needed (message_needs_bytes "
                 "disagrees with route_message)");
        if (!drain() && !busy)
            break;
    }
    for (unsigned l = 0; l < LINKS; l++)
        for (unsigned i = 0; i < NSLOT; i++)
            F.s[l][i].closing = 0;
}

/* The accounts actor's word that this slot's connection logged in as
 * `user` (A_VOUCH on "dir", naming the c2s actor). */
static void vouch_for(unsigned link, unsigned i, const char *user, size_t ul)
{
    struct slot *s = &F.s[link][i];
    if (ul < sizeof s->vusers[0] && memchr(user, 0, ul) == NULL) {
        int k = s->nv < 4 ? s->nv++ : 3;
        memcpy(s->vusers[k], user, ul);
        s->vusers[k][ul] = 0;
    }
    struct xmsg v = {.h = {A_VOUCH, i | s->gen << 16, 0, 0}};
    xmsg_adds(&v, link ? "c2s1" : "c2s0");
    xmsg_add(&v, user, ul);
    send_xmsg(&F.dir.cb, &v);
}

/* A bind, after (or, by the input, without, for another user, or later
 * than) the vouch for its login. */
static void fz_bind(struct in *in, unsigned link, unsigned i)
{
    struct slot *s = &F.s[link][i];
    char ubuf[64], rbuf[64];
    size_t ul, rl;
    if (s->bound || s->asked) /* c2s binds a connection once */
        return;
    const char *u;
    uint32_t k = take(in, 1);
    if (F.nnames > 0 && (k & 0x80))
        u = F.names[k % (uint32_t)F.nnames], ul = strlen(u);
    else
        u = pick(in, users, sizeof users / sizeof *users, ubuf, &ul);
    static const char *const res[] = {"r1", "r2", "", "'\"<&>"};
    const char *rs = pick(in, res, sizeof res / sizeof *res, rbuf, &rl);
    uint32_t how = take(in, 1) % 5;
    s->late = 0;
    /* (A user name with a NUL is never vouched for: the router refuses
     * it anyway, as bad-request.) */
    size_t bl = ul < sizeof s->buser && memchr(u, 0, ul) == NULL ? ul : 0;
    memcpy(s->buser, u, bl);
    s->buser[bl] = 0;
    if (bl == 0)
        strcpy(s->buser, "\1never"); /* matches no vouch */
    if (how <= 1 && bl > 0) {
        vouch_for(link, i, u, ul); /* as it happens: the vouch first */
    } else if (how == 2) {
        vouch_for(link, i, "d", 1); /* another user's login */
    } else if (how == 3 && bl > 0) {
        memcpy(s->user, u, ul);
        s->user[ul] = 0;
        s->late = 1; /* the bind waits for it */
    }
    struct xmsg m = {.h = {R_BIND, i | s->gen << 16, 0, 0}};
    xmsg_add(&m, u, ul);
    xmsg_add(&m, rs, rl);
    s->asked = 1;
    send_xmsg(&F.link[link].cb, &m);
}

/* Command 7: the vouches that were late arrive. */
static void late_vouches(void)
{
    for (unsigned l = 0; l < LINKS; l++)
        for (unsigned i = 0; i < NSLOT; i++)
            if (F.s[l][i].late) {
                vouch_for(l, i, F.s[l][i].user, strlen(F.s[l][i].user));
                F.s[l][i].late = 0;
            }
}

static void close_conn(unsigned link, unsigned i)
{
    struct slot *s = &F.s[link][i];
    /* A bind may be waiting for its vouch: the close drops it. */
    s->asked = s->late = s->nv = 0;
    struct xmsg m = {.h = {R_CLOSED, i | s->gen << 16, 0, 0}};
    send_xmsg(&F.link[link].cb, &m);
    s->bound = 0;
    s->closing = 1;
    s->gen = (s->gen + 1) & 0xffffu;
}

/* A stanza as c2s forwards it: fields from the tables or fuzz bytes; the
 * serialized stanza itself is well-formed (c2s wrote it). */
static void fz_stanza(struct in *in, unsigned link, unsigned i)
{
    char b[8][64], xml[512], body[64], rawi[64];
    size_t l[8];
    const char *f[8];
    struct slot *s = &F.s[link][i];
    f[0] = pick(in, kinds, 3, b[0], &l[0]);
    f[1] = pick(in, types, sizeof types / sizeof *types, b[1], &l[1]);
    f[2] = pick(in, tos, sizeof tos / sizeof *tos, b[2], &l[2]);
    l[3] = fstr(in, b[3]);
    f[3] = b[3];
    uint32_t pi = take(in, 1) % (sizeof payloads / sizeof *payloads + 1);
    if (pi < sizeof payloads / sizeof *payloads) {
        f[4] = payloads[pi][0], l[4] = strlen(f[4]);
        f[5] = payloads[pi][1], l[5] = strlen(f[5]);
    } else {
        l[4] = fstr(in, b[4]), f[4] = b[4];
        l[5] = fstr(in, b[5]), f[5] = b[5];
    }
    l[6] = (take(in, 1) & 1) ? fstr(in, b[6]) : (b[6][0] = 0, 0);
    f[6] = b[6];
    f[7] = pick(in, prios, sizeof prios / sizeof *prios, b[7], &l[7]);
    /* The serialized stanza: its kind as c2s would write it, a body of
     * escaped fuzz text (the router copies it into carbons and offline
     * messages). */
    size_t bl = fstr(in, body);
    xbuf_t t = {0};
    const char *k = strcmp(f[0], "message") == 0 || strcmp(f[0], "presence") == 0 ? f[0] : "iq";
    xb_fmt(&t, "<%s from='%s@localhost/r'", k, users[i % 4]);
    xb_str(&t, "><body>");
    xb_esc(&t, body, bl);
    xb_fmt(&t, "</body></%s>", k);
    size_t xl = t.failed || t.len > sizeof xml ? 0 : t.len;
    memcpy(xml, t.p ? t.p : "", xl);
    xb_free(&t);
    uint32_t a = take(in, 1), bb = take(in, 2);
    struct xmsg m = {.h = {R_STANZA, i | s->gen << 16, a & 3, bb}};
    for (int j = 0; j < 8; j++)
        xmsg_add(&m, f[j], l[j]);
    xmsg_add(&m, xml, xl);
    /* Held (delivery by reference) or not, as c2s decides; a held one
     * without its bytes, or with them. */
    uint32_t ref = F.next_ref[link];
    int held = (bb >> 15) & 1, byteless = held && ((bb >> 14) & 1) && xl > 0;
    if (byteless)
        m.fl[8] = 0;
    xmsg_add(&m, &ref, held ? 4 : 0);
    if (held) {
        F.next_ref[link]++;
        memset(&F.hq[link][ref % HQ], 0, sizeof F.hq[link][ref % HQ]);
        F.hq[link][ref % HQ].conn = m.h.conn;
        F.hq[link][ref % HQ].ref = ref;
        F.hq[link][ref % HQ].byteless = byteless;
        memcpy(F.hq[link][ref % HQ].xml, xml, xl);
        F.hq[link][ref % HQ].len = xl;
    }
    switch (a >> 6) {
    case 1: xmsg_add(&m, items_roster, sizeof items_roster); break;
    case 2: xmsg_add(&m, items_block, (bb >> 4) % sizeof items_block); break;
    case 3: {
        size_t rl = fstr(in, rawi);
        xmsg_add(&m, rawi, rl);
        break;
    }
    default: break;
    }
    send_xmsg(&F.link[link].cb, &m);
}

/* Raw bytes as a message from c2s; binds and closes in it would bypass
 * the connection model, so a message holding one is not sent. */
static void raw(struct in *in, unsigned link)
{
    uint32_t n = take(in, 2) % 2048;
    if (n > in->n)
        n = (uint32_t)in->n;
    struct xiter it;
    struct xmsg m;
    int ok = n > 0;
    xiter_init(&it, in->d, n);
    while (ok && xiter_next(&it, &m))
        if (m.h.op == R_BIND || m.h.op == R_CLOSED)
            ok = 0;
    if (ok) {
        F.unclean = 1; /* any bytes at all */
        send_raw(&F.link[link].cb, in->d, n);
    }
    in->d += n;
    in->n -= n;
}

static void muc_deliver_cmd(struct in *in)
{
    static const char *const to[] = {"a@localhost/r1", "b@localhost/r2", "a@localhost", "nobody"};
    char jb[64], fb[64]; /* pick's buffers live until the send */
    size_t jl;
    const char *j = pick(in, to, 4, jb, &jl);
    static const char x[] = "<message from='room@conference.localhost/n' type='groupchat'>"
                            "<body>hi</body></message>";
    struct xmsg m = {.h = {M_DELIVER, 0, 0, 0}};
    xmsg_add(&m, j, jl);
    if (take(in, 1) & 1) {
        xmsg_add(&m, x, sizeof x - 1);
        /* the sender, checked against blocklists (may be malformed) */
        static const char *const from[] = {"room@conference.localhost/n", "conference.localhost",
                                           "example.org", "e@localhost"};
        size_t fl;
        const char *f = pick(in, from, 4, fb, &fl);
        if (take(in, 1) & 1)
            xmsg_add(&m, f, fl);
    }
    send_xmsg(&F.muc.cb, &m);
}

static void store_record(struct in *in)
{
    static const uint32_t ops[] = {S_ROSTER, S_BLOCK, S_OFFLINE, S_LOADED, S_FORGET};
    char f[4][64];
    size_t l[4];
    uint32_t op = ops[take(in, 1) % 5], a = take(in, 1), n = take(in, 1) % 5;
    struct xmsg m = {.h = {op, 0, a, 0}};
    /* The store returns what the router wrote: an offline message is one
     * the router stored (well-formed); names and groups may be anything. */
    static const char kept[] = "<message from='b@localhost/r' type='chat'><body>kept</body>"
                               "<delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/>"
                               "</message>";
    for (uint32_t i = 0; i < n; i++) {
        l[i] = fstr(in, f[i]);
        if (i == 0 && l[i] == 0) { /* mostly a real user */
            f[0][0] = (char)('a' + (a & 3));
            l[0] = 1;
        }
        if (op == S_OFFLINE && i == 1)
            xmsg_add(&m, kept, sizeof kept - 1);
        else
            xmsg_add(&m, f[i], l[i]);
    }
    send_xmsg(&F.st.cb, &m);
}

static void names(struct in *in)
{
    char b[64];
    size_t n = fstr(in, b);
    struct xmsg m = {.h = {R_USERS, 0, 1, 0}};
    xmsg_add(&m, b, n);
    send_xmsg(&F.dir.cb, &m);
    if (F.nnames < 8 && n > 0 && memchr(b, 0, n) == NULL && memchr(b, '\n', n) == NULL)
        snprintf(F.names[F.nnames++], sizeof F.names[0], "%s", b);
}

static void setup(struct in *in, uint32_t cfg)
{
    static struct router *mem;
    if (mem == NULL && (mem = malloc(sizeof *mem)) == NULL)
        FAIL("out of memory");
    struct router *r = mem;
    memset(r, 0, sizeof *r);
    F.r = r;
    for (unsigned l = 0; l < LINKS; l++) {
        ea_test_pair_init(&F.link[l], 16, NODE, "rt");
        F.link[l].ca.peer_name = l ? "c2s1" : "c2s0"; /* what A_VOUCH names */
        r->links[l] = r->out[l].c = &F.link[l].ca;
        r->out[l].batch = 1;
    }
    r->nlinks = LINKS;
    ea_test_pair_init(&F.dir, 8, 8192, "dir");
    ea_test_pair_init(&F.st, 16, NODE, "st");
    ea_test_pair_init(&F.muc, 16, NODE, "muc");
    r->dir = &F.dir.ca;
    r->st = r->st_out.c = &F.st.ca;
    r->muc = r->muc_out.c = &F.muc.ca;
    r->domain = "localhost";
    snprintf(r->muc_domain, sizeof r->muc_domain, "conference.localhost");
    struct xmsg d = {.h = {R_USERS, 0, 1, 0}};
    xmsg_adds(&d, "a\nb\nc\nd");
    send_xmsg(&F.dir.cb, &d);
    for (int i = 0; (cfg & 1) && i < 4; i++)
        store_record(in);
    struct xmsg ld = {.h = {S_LOADED, 0, 0, 0}};
    send_xmsg(&F.st.cb, &ld);
    settle();
}

static void teardown(void)
{
    for (unsigned l = 0; l < LINKS; l++)
        for (unsigned i = 0; i < NSLOT; i++)
            close_conn(l, i);
    settle();
    atomic_store(&F.link[0].dom.stopping, 1);
    /* The stop hands the store what is left, then S_END (drained here). */
    int rc = EA_BUSY;
    for (int n = 0; n < MAX_ROUNDS && rc == EA_BUSY; n++) {
        rc = router_body(&F.link[0].a, F.r);
        (void)drain();
    }
    if (rc != EA_DONE)
        FAIL("the stop path did not finish");
    for (unsigned l = 0; l < LINKS; l++)
        ea_test_pair_fini(&F.link[l]);
    ea_test_pair_fini(&F.dir);
    ea_test_pair_fini(&F.st);
    ea_test_pair_fini(&F.muc);
    memset(&F, 0, sizeof F);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    memset(&F, 0, sizeof F);
    F.cfg = take(&in, 1);
    setup(&in, F.cfg);
    trace = getenv("ROUTER_TRACE") != NULL;
    for (int step = 0; in.n > 0 && step < 256; step++) {
        uint32_t cmd = take(&in, 1);
        unsigned link = (cmd >> 3) & 1, i = (cmd >> 4) & 7;
        if (trace)
            fprintf(stderr, "command %u link %u slot %u\n", cmd & 7, link, i);
        switch (cmd & 7) {
        case 0: fz_bind(&in, link, i); break;
        case 1: fz_stanza(&in, link, i); break;
        case 2: close_conn(link, i); break;
        case 3: raw(&in, link); break;
        case 4: muc_deliver_cmd(&in); break;
        case 5: store_record(&in); break;
        case 6: names(&in); break;
        case 7: late_vouches(); break;
        }
        settle();
    }
    teardown();
    return 0;
}
