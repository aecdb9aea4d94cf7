/*
 * The XMPP router (examples/xmpp/router.c, included whole) with held
 * stanzas sent WITHOUT their bytes (proto.h R_STANZA, R_RESEND, R_BYTES),
 * driven by two fake c2s links, the accounts directory and a fake MUC
 * actor on real channels (tests/common/conn_pair.h):
 *  - a recipient on the sender's c2s is served by reference (R_REF), and
 *    nothing is asked for;
 *  - a recipient on the other c2s, offline storage, a carbon and the MUC
 *    each make the router ask for the bytes (R_RESEND), and use them once
 *    they come (R_BYTES);
 *  - order (RFC 6120 §10.1): the sender's later stanzas, held or not,
 *    wait behind the one asked for and are routed after it, in order;
 *    offline messages come out at login in the order sent;
 *  - R_HELD_DONE never passes a stanza whose bytes are still asked for;
 *  - a refusal (b = 1) gets the sender an error and lets the rest go; a
 *    close while bytes are on their way delivers them first; answers that
 *    match no request (another number, another connection) are ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router.c"
#include "conn_pair.h"

#define LINKS 2
#define NODE 16384u
#define LOGMAX 512

struct rec {
    unsigned link; /* LINKS: the MUC channel */
    struct xhdr h;
    char f0[1024];
    size_t l0;
};

static struct {
    struct ea_test_pair link[LINKS], dir, muc;
    struct router *r;
    struct rec log[LOGMAX];
    unsigned nlog;
    uint32_t next_ref[LINKS];
    uint32_t done[LINKS]; /* the last R_HELD_DONE seen + 1 */
    int any_done[LINKS];
} F;

static void send_xmsg(ea_conn_t *c, const struct xmsg *m)
{
    static char buf[NODE];
    size_t n = xmsg_size(m);
    assert_true(n <= sizeof buf);
    xmsg_write(m, buf);
    ea_cargo_t cg;
    assert_int_equal(ea_cargo_alloc(c, n, &cg), EA_OK);
    memcpy(cg.data, buf, n);
    assert_int_equal(ea_cargo_send(&cg), EA_OK);
}

static void logit(unsigned link, const struct xmsg *m)
{
    assert_true(F.nlog < LOGMAX);
    struct rec *e = &F.log[F.nlog++];
    e->link = link;
    e->h = m->h;
    e->l0 = 0;
    if (m->n >= 1) {
        e->l0 = m->fl[0] < sizeof e->f0 - 1 ? m->fl[0] : sizeof e->f0 - 1;
        memcpy(e->f0, m->f[0], e->l0);
    }
    if (link == LINKS && m->n >= 2) { /* M_STANZA: the stanza is field 1 */
        e->l0 = m->fl[1] < sizeof e->f0 - 1 ? m->fl[1] : sizeof e->f0 - 1;
        memcpy(e->f0, m->f[1], e->l0);
    }
    e->f0[e->l0] = 0;
    if (link < LINKS && m->h.op == R_HELD_DONE) {
        F.done[link] = m->h.a + 1;
        F.any_done[link] = 1;
    }
}

/* Rounds of the router until it is quiet; what it sent goes to the log. */
static void settle(void)
{
    for (int n = 0; n < 100; n++) {
        int busy = router_body(&F.link[0].a, F.r) == EA_BUSY, did = 0;
        ea_cargo_t cg;
        for (unsigned l = 0; l < LINKS; l++)
            while (ea_cargo_recv(&F.link[l].cb, &cg) == EA_OK) {
                struct xiter it;
                struct xmsg m;
                xiter_init(&it, cg.data, cg.len);
                while (xiter_next(&it, &m))
                    logit(l, &m);
                ea_cargo_release(&cg);
                did = 1;
            }
        while (ea_cargo_recv(&F.muc.cb, &cg) == EA_OK) {
            struct xmsg m;
            assert_int_equal(xmsg_parse(&m, cg.data, cg.len), 0);
            logit(LINKS, &m);
            ea_cargo_release(&cg);
            did = 1;
        }
        if (!busy && !did)
            return;
    }
    fail_msg("the router did not settle");
}

/* The index of the first log entry from `from` on with this op, link and
 * conn whose field 0 contains `has` (NULL: any); -1 if none. */
static int find(unsigned from, unsigned link, uint32_t op, uint32_t conn, const char *has)
{
    for (unsigned i = from; i < F.nlog; i++) {
        const struct rec *e = &F.log[i];
        if (e->link == link && e->h.op == op && (link == LINKS || e->h.conn == conn) &&
            (has == NULL || strstr(e->f0, has) != NULL))
            return (int)i;
    }
    return -1;
}

static int count(unsigned from, unsigned link, uint32_t op)
{
    int n = 0;
    for (unsigned i = from; i < F.nlog; i++)
        n += F.log[i].link == link && F.log[i].h.op == op;
    return n;
}

/* Sessions: A = a/r1 on link 0 conn 1, B = b/r1 on link 0 conn 2, C =
 * c/r1 on link 1 conn 1, A2 = a/r2 on link 0 conn 3 (bound, available). */
#define A 0, 1
#define B 0, 2
#define C 1, 1
#define A2 0, 3

static void fbind(unsigned link, uint32_t conn, const char *user, const char *res)
{
    struct xmsg v = {.h = {A_VOUCH, conn, 0, 0}};
    xmsg_adds(&v, link ? "c2s1" : "c2s0");
    xmsg_adds(&v, user);
    send_xmsg(&F.dir.cb, &v);
    struct xmsg m = {.h = {R_BIND, conn, 0, 0}};
    xmsg_adds(&m, user);
    xmsg_adds(&m, res);
    send_xmsg(&F.link[link].cb, &m);
    unsigned at = F.nlog;
    settle();
    int i = find(at, link, R_BOUND, conn, NULL);
    assert_true(i >= 0);
    assert_int_equal(F.log[i].h.a, 1);
}

/* A stanza as c2s forwards it; held: sent without its bytes (its number
 * returned, the bytes to be given with answer()), else with them. */
static uint32_t fstanza(unsigned link, uint32_t conn, const char *kind, const char *type,
                        const char *to, const char *xml, int held, uint32_t flags, const char *pns,
                        const char *pname)
{
    struct xmsg m = {.h = {R_STANZA, conn, pns ? 1 : 0, flags}};
    xmsg_adds(&m, kind);
    xmsg_adds(&m, type);
    xmsg_adds(&m, to);
    xmsg_adds(&m, "id1");
    xmsg_adds(&m, pns ? pns : "");
    xmsg_adds(&m, pname ? pname : "");
    xmsg_adds(&m, "");
    xmsg_adds(&m, "");
    uint32_t ref = F.next_ref[link];
    xmsg_add(&m, xml, held ? 0 : strlen(xml));
    xmsg_add(&m, &ref, held ? 4 : 0);
    if (held)
        F.next_ref[link]++;
    send_xmsg(&F.link[link].cb, &m);
    return ref;
}

static uint32_t msg(unsigned link, uint32_t conn, const char *to, const char *body, int held)
{
    char xml[512];
    snprintf(xml, sizeof xml, "<message type='chat' to='%s'><body>%s</body></message>", to, body);
    return fstanza(link, conn, "message", "chat", to, xml, held, 1, NULL, NULL);
}

/* The fake c2s's answer to R_RESEND n: the bytes, or a refusal. */
static void answer(unsigned link, uint32_t conn, uint32_t n, const char *xml)
{
    struct xmsg m = {.h = {R_BYTES, conn, n, xml ? 0 : 1}};
    if (xml != NULL)
        xmsg_adds(&m, xml);
    send_xmsg(&F.link[link].cb, &m);
}

static void body_of(char *out, size_t cap, const char *to, const char *body)
{
    snprintf(out, cap, "<message type='chat' to='%s'><body>%s</body></message>", to, body);
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    struct router *r = calloc(1, sizeof *r);
    assert_non_null(r);
    F.r = r;
    for (unsigned l = 0; l < LINKS; l++) {
        ea_test_pair_init(&F.link[l], 16, NODE, "rt");
        F.link[l].ca.peer_name = l ? "c2s1" : "c2s0";
        r->links[l] = r->out[l].c = &F.link[l].ca;
        r->out[l].batch = 1;
    }
    r->nlinks = LINKS;
    ea_test_pair_init(&F.dir, 8, 8192, "dir");
    ea_test_pair_init(&F.muc, 16, NODE, "muc");
    r->dir = &F.dir.ca;
    r->muc = r->muc_out.c = &F.muc.ca;
    r->domain = "localhost";
    snprintf(r->muc_domain, sizeof r->muc_domain, "conference.localhost");
    struct xmsg d = {.h = {R_USERS, 0, 1, 0}};
    xmsg_adds(&d, "a\nb\nc\nd");
    send_xmsg(&F.dir.cb, &d);
    settle();
    fbind(A, "a", "r1");
    fbind(B, "b", "r1");
    fbind(C, "c", "r1");
    fbind(A2, "a", "r2");
    /* all available (presence goes with its bytes: only messages are held) */
    fstanza(A, "presence", "", "", "<presence/>", 0, 0, NULL, NULL);
    fstanza(B, "presence", "", "", "<presence/>", 0, 0, NULL, NULL);
    fstanza(C, "presence", "", "", "<presence/>", 0, 0, NULL, NULL);
    fstanza(A2, "presence", "", "", "<presence/>", 0, 0, NULL, NULL);
    settle();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&F.link[0].dom.stopping, 1);
    int rc = EA_BUSY;
    for (int n = 0; n < 100 && rc == EA_BUSY; n++)
        rc = router_body(&F.link[0].a, F.r);
    assert_int_equal(rc, EA_DONE);
    for (unsigned l = 0; l < LINKS; l++)
        ea_test_pair_fini(&F.link[l]);
    ea_test_pair_fini(&F.dir);
    ea_test_pair_fini(&F.muc);
    free(F.r);
    return 0;
}

/* A to B (same c2s): by reference, nothing asked for. */
static void test_same_link_by_ref(void **state)
{
    (void)state;
    unsigned at = F.nlog;
    uint32_t n = msg(A, "b@localhost/r1", "hi", 1);
    settle();
    int i = find(at, 0, R_REF, 2, NULL);
    assert_true(i >= 0);
    assert_int_equal(F.log[i].h.a, n);
    assert_int_equal(count(at, 0, R_RESEND), 0);
    assert_int_equal(count(at, 0, R_DELIVER), 0);
    assert_true(F.any_done[0] && F.done[0] == n + 1);
}

/* A to C (the other c2s): asked for; A's later stanzas (held or not) wait
 * behind it and reach C in order; R_HELD_DONE stays below it meanwhile. */
static void test_other_link_order(void **state)
{
    (void)state;
    char x1[256], x3[256];
    body_of(x1, sizeof x1, "c@localhost/r1", "one");
    body_of(x3, sizeof x3, "b@localhost/r1", "three");
    unsigned at = F.nlog;
    uint32_t n1 = msg(A, "c@localhost/r1", "one", 1);
    msg(A, "c@localhost/r1", "two", 0);                 /* with its bytes: still waits */
    uint32_t n3 = msg(A, "b@localhost/r1", "three", 1); /* same c2s: waits too */
    msg(B, "c@localhost/r1", "other sender", 0);        /* another session goes on */
    settle();
    int r1 = find(at, 0, R_RESEND, 1, NULL);
    assert_true(r1 >= 0);
    assert_int_equal(F.log[r1].h.a, n1);
    int r3 = find((unsigned)r1 + 1, 0, R_RESEND, 1, NULL);
    assert_true(r3 >= 0);
    assert_int_equal(F.log[r3].h.a, n3);
    assert_int_equal(find(at, 1, R_DELIVER, 1, "one"), -1);
    assert_int_equal(find(at, 1, R_DELIVER, 1, "two"), -1);
    assert_int_equal(find(at, 0, R_REF, 2, NULL), -1);
    assert_true(find(at, 1, R_DELIVER, 1, "other sender") >= 0);
    assert_true(!F.any_done[0] || (int32_t)(F.done[0] - n1) <= 0); /* n1 still held */
    /* A later round with nothing new keeps it so */
    msg(B, "a@localhost/r2", "ping", 1);
    settle();
    assert_true((int32_t)(F.done[0] - n1) <= 0);
    unsigned mid = F.nlog;
    answer(A, n1, x1);
    answer(A, n3, x3);
    settle();
    int d1 = find(mid, 1, R_DELIVER, 1, "one"), d2 = find(mid, 1, R_DELIVER, 1, "two");
    assert_true(d1 >= 0 && d2 > d1);
    assert_string_equal(F.log[d1].f0, x1);
    int d3 = find(mid, 0, R_DELIVER, 2, "three");
    assert_true(d3 >= 0);
    assert_true(F.done[0] == F.next_ref[0]); /* everything may go now */
    assert_int_equal(F.r->resends, 2);
}

/* To D, offline: each asked for, stored in order, delivered in order at
 * D's login (with delay stamps). */
static void test_offline_order(void **state)
{
    (void)state;
    const char *bodies[] = {"m1", "m2", "m3", "m4"};
    uint32_t n[4];
    char x[4][256];
    unsigned at = F.nlog;
    for (int k = 0; k < 4; k++) {
        body_of(x[k], sizeof x[k], "d@localhost", bodies[k]);
        n[k] = msg(A, "d@localhost", bodies[k], k != 2); /* m3 with its bytes */
    }
    settle();
    assert_int_equal(count(at, 0, R_RESEND), 3);
    assert_int_equal(F.r->stored, 0);
    for (int k = 0; k < 4; k++)
        if (k != 2)
            answer(A, n[k], x[k]);
    settle();
    assert_int_equal(F.r->stored, 4);
    unsigned mid = F.nlog;
    fbind(1, 2, "d", "r1");
    fstanza(1, 2, "presence", "", "", "<presence/>", 0, 0, NULL, NULL);
    settle();
    int prev = -1;
    for (int k = 0; k < 4; k++) {
        int i = find(mid, 1, R_DELIVER, 2, bodies[k]);
        assert_true(i > prev);
        assert_non_null(strstr(F.log[i].f0, "urn:xmpp:delay"));
        prev = i;
    }
}

/* A2 enables carbons: A's chat to B (same c2s) needs the bytes for A2's
 * <sent/> copy. */
static void test_carbons(void **state)
{
    (void)state;
    fstanza(A2, "iq", "set", "", "<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>",
            0, 0, "urn:xmpp:carbons:2", "enable");
    settle();
    char x[256];
    body_of(x, sizeof x, "b@localhost/r1", "carbon");
    unsigned at = F.nlog;
    uint32_t n = msg(A, "b@localhost/r1", "carbon", 1);
    settle();
    assert_true(find(at, 0, R_RESEND, 1, NULL) >= 0);
    assert_int_equal(find(at, 0, R_DELIVER, 3, "<sent"), -1);
    answer(A, n, x);
    settle();
    assert_true(find(at, 0, R_DELIVER, 2, "carbon") >= 0);
    int c = find(at, 0, R_DELIVER, 3, "<sent");
    assert_true(c >= 0);
    assert_non_null(strstr(F.log[c].f0, "carbon"));
}

/* To a room: the MUC actor gets the bytes. */
static void test_muc(void **state)
{
    (void)state;
    char x[256];
    body_of(x, sizeof x, "room@conference.localhost", "to the room");
    unsigned at = F.nlog;
    uint32_t n = msg(A, "room@conference.localhost", "to the room", 1);
    settle();
    assert_true(find(at, 0, R_RESEND, 1, NULL) >= 0);
    assert_int_equal(find(at, LINKS, M_STANZA, 0, NULL), -1);
    answer(A, n, x);
    settle();
    int i = find(at, LINKS, M_STANZA, 0, "to the room");
    assert_true(i >= 0);
    assert_string_equal(F.log[i].f0, x);
}

/* A refusal: the sender gets an error for it, the next stanza goes on;
 * answers for other numbers or connections are ignored. */
static void test_refused_and_forged(void **state)
{
    (void)state;
    unsigned at = F.nlog;
    uint32_t n1 = msg(A, "c@localhost/r1", "lost", 1);
    msg(A, "c@localhost/r1", "after", 0);
    settle();
    answer(A, n1 + 100, "<message><body>forged</body></message>");
    answer(B, n1, "<message><body>forged</body></message>");
    settle();
    assert_int_equal(find(at, 1, R_DELIVER, 1, NULL), -1);
    assert_int_equal(F.r->bad_bytes, 2);
    answer(A, n1, NULL);
    settle();
    assert_int_equal(find(at, 1, R_DELIVER, 1, "lost"), -1);
    assert_true(find(at, 1, R_DELIVER, 1, "after") >= 0);
    int e = find(at, 0, R_DELIVER, 1, "resource-constraint");
    assert_true(e >= 0);
    assert_int_equal(F.r->bytes_refused, 1);
    assert_true(F.done[0] == F.next_ref[0]);
}

/* A closes while its bytes are on their way: they are delivered first,
 * then its unavailable presence goes out; meanwhile nothing is routed to
 * it. */
static void test_close_meanwhile(void **state)
{
    (void)state;
    char x[256];
    body_of(x, sizeof x, "c@localhost/r1", "last words");
    unsigned at = F.nlog;
    uint32_t n = msg(A, "c@localhost/r1", "last words", 1);
    struct xmsg cl = {.h = {R_CLOSED, 1, 0, 0}};
    send_xmsg(&F.link[0].cb, &cl);
    settle();
    assert_non_null(find_conn(F.r, 0, 1));
    assert_int_equal(find(at, 0, R_DELIVER, 3, "unavailable"), -1);
    /* closed: nothing goes to it meanwhile (a/r1 is a's other resource now) */
    unsigned mid = F.nlog;
    uint32_t m = msg(B, "a@localhost/r1", "too late", 1);
    settle();
    assert_int_equal(find(mid, 0, R_REF, 1, NULL), -1);
    int i = find(mid, 0, R_REF, 3, NULL);
    assert_true(i >= 0);
    assert_int_equal(F.log[i].h.a, m);
    answer(A, n, x);
    settle();
    assert_true(find(at, 1, R_DELIVER, 1, "last words") >= 0);
    assert_true(find(at, 0, R_DELIVER, 3, "unavailable") >= 0);
    assert_null(find_conn(F.r, 0, 1));
    assert_true(F.done[0] == F.next_ref[0]);
}

/* A session kicked (replaced by a new bind of the same JID) with bytes on
 * their way: what it sent is still routed when they come; the new session
 * gets what is sent to the JID meanwhile; nothing goes to the old one. */
static void test_kicked_meanwhile(void **state)
{
    (void)state;
    char x[256];
    body_of(x, sizeof x, "c@localhost/r1", "kicked");
    unsigned at = F.nlog;
    uint32_t n = msg(A, "c@localhost/r1", "kicked", 1);
    settle();
    fbind(0, 9, "a", "r1"); /* conflict: A is kicked */
    assert_true(find(at, 0, R_KICK, 1, NULL) >= 0);
    assert_true(F.done[0] <= n || !F.any_done[0]); /* still held */
    unsigned mid = F.nlog;
    uint32_t m = msg(B, "a@localhost/r1", "to the new one", 1);
    settle();
    int i = find(mid, 0, R_REF, 9, NULL);
    assert_true(i >= 0);
    assert_int_equal(F.log[i].h.a, m);
    assert_int_equal(find(mid, 0, R_REF, 1, NULL), -1);
    answer(A, n, x);
    struct xmsg cl = {.h = {R_CLOSED, 1, 0, 0}}; /* the c2s closes it */
    send_xmsg(&F.link[0].cb, &cl);
    settle();
    assert_true(find(mid, 1, R_DELIVER, 1, "kicked") >= 0);
    assert_int_equal(F.r->bad_bytes, 0);
    assert_null(F.r->parked);
    assert_null(find_conn(F.r, 0, 1));
    assert_non_null(find_conn(F.r, 0, 9));
    assert_int_equal(find(mid, 0, R_DELIVER, 3, "unavailable"), -1); /* no presence for it */
    assert_true(F.done[0] == F.next_ref[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_link_by_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_link_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_carbons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_muc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_forged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_meanwhile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kicked_meanwhile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
