/*
 * xmpp_router: sessions and stanza routing for one domain (RFC 6120 §8,
 * §10; RFC 6121 §8.5), in its own enclave. It knows every bound session
 * (which c2s actor, which connection, full JID, availability, priority),
 * binds resources (a generated one if the client names none; a second
 * session with the same full JID replaces the first, which gets the
 * `conflict` stream error), routes messages, presence and iqs between
 * local users, answers what is addressed to the server or to an account
 * (roster get, ping, disco#info/#items, session) and gives every other
 * get/set exactly one error reply.
 *
 * Offline storage (XEP-0160): chat and normal messages with a body to a
 * user with no available resource are kept in order (with a XEP-0203
 * delay stamp) and delivered on the user's first available presence with a
 * non-negative priority, at most OFFLINE_MAX per user. Who exists comes
 * from the accounts enclave (names only) on channel "dir"; so do the
 * logins it accepted (A_VOUCH: this connection of that c2s actor is now
 * this user), and a connection binds only as the user its login was
 * vouched for, so a compromised c2s enclave cannot take over the session
 * of a user who does not log in through it. Carbons
 * (XEP-0280) copy chat messages to the user's other resources that enabled
 * them.
 *
 * Rosters and subscriptions between local users (RFC 6121 §2-§4) live here
 * too, and each user's blocklist (XEP-0191): stanzas between a user and a
 * JID it blocks are not routed either way (messages and iq requests get an
 * error, presence is dropped), and a blocked contact sees the user
 * unavailable. With no blocklist anywhere (`nblocked` 0) the routing path
 * checks nothing.
 *
 * Persistence: with a channel "st" to the store actor (store.c), rosters
 * and offline messages are kept there too. This actor's memory stays the
 * working copy (lookups never leave the enclave); every change is written
 * through to the store in order (proto.h, S_*), and at start the store sends
 * back what it kept: no client is served before that load is complete (the
 * directory first, so that data of deleted users is dropped: S_FORGET).
 *
 * MUC (muc.c) is another actor: stanzas to its domain go to it on channel
 * "muc" (with the sender's full JID), and what it sends back is delivered
 * to the sessions named; a session that ends or goes unavailable after
 * talking to it is reported (M_GONE), so that it leaves its rooms.
 *
 * Parameters: domain (localhost), muc_domain (conference.DOMAIN, used if
 * there is a "muc" channel). Channels: one to each c2s actor, "dir" from
 * the accounts actor, and optionally "muc" to the muc actor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <eactors/eactors.h>

#include "proto.h"
#include "xcrypto.h"
#include "xstream.h"

#define MAX_LINKS 64
#define DIRECTED_MAX 32
#define BUCKETS 4096u
#define JID_PART_MAX 1023

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_ROSTER "jabber:iq:roster"
#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_VERSION "jabber:iq:version"
#ifndef XMPP_SERVER_VERSION
#define XMPP_SERVER_VERSION "0"
#endif
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_BLOCKING "urn:xmpp:blocking"
#define OFFLINE_MAX 100u
#define OFFLINE_BYTES_MAX (64u << 20)
#define PARK_MAX 4096u            /* stanzas parked per session (R_RESEND) */
#define PARK_BYTES_MAX (4u << 20) /* and their bytes */

/* A stored message. */
struct omsg {
    struct omsg *next;
    size_t len;
    char xml[];
};

/* A user of the directory, with its offline messages. */
/* A roster item (RFC 6121 §2.1.2): subscription bits, pending-out (ask)
 * and pending-in (a subscribe waiting for the user's answer). */
enum { SUB_TO = 1, SUB_FROM = 2 };
struct ritem {
    struct ritem *next;
    char *jid; /* bare */
    char *name;
    char *groups; /* "g1 NUL g2 NUL ..." */
    size_t glen;
    int sub, ask, pending_in;
};

/* A blocked JID (XEP-0191), kept as given (normalized) and in parts. */
struct bitem {
    struct bitem *next;
    const char *local, *domain, *res; /* into jid[] after its NUL */
    char jid[];
};

struct user {
    struct user *next;
    struct omsg *head, *tail;
    unsigned n;
    struct ritem *roster;
    unsigned nroster;
    struct bitem *blocked;
    unsigned nblocked;
    char name[];
};
#define ROSTER_MAX 1000u
#define BLOCK_MAX 1000u
/* At a stop: how long the router keeps trying to hand its last changes to
 * the store (the runtime's grace for stopping actors is 500 ms). */
#define STOP_WAIT_NS (300u * 1000000u)

/* A login the accounts actor vouched for (A_VOUCH): connection `conn` of
 * link `link` authenticated as `user`; consumed by that connection's bind. */
struct vouch {
    struct vouch *next;
    unsigned link;
    uint32_t conn;
    uint64_t at;
    char user[];
};
#define VOUCH_TTL_NS (60ull * 1000000000u) /* an unbound login is forgotten */

/* A bind waiting for its vouch (which comes on another channel). */
struct pbind {
    struct pbind *next;
    unsigned link;
    uint32_t conn;
    uint64_t at;
    char user[256], res[JID_PART_MAX + 1];
};
#define PBIND_TTL_NS (10ull * 1000000000u) /* then refused: not-authorized */
#define PBIND_MAX 1024u

/* A stanza that waits behind one whose bytes the router asked its c2s for
 * (R_RESEND, see park): the R_STANZA as it came, and for a held one
 * without bytes, the bytes once its R_BYTES brings them. */
struct pk {
    struct pk *next;
    uint32_t ref; /* held number (if `ask`) */
    int ask;      /* held without bytes: asked for with an R_RESEND */
    int wait;     /* its R_BYTES has not come yet */
    int gone;     /* the c2s did not have it */
    char *bytes;
    size_t blen, len;
    char msg[];
};

struct sess {
    struct sess *next_user, *next_conn;
    struct sess *next_parked; /* on router.parked while pk_head != NULL */
    struct pk *pk_head, *pk_tail;
    unsigned npk;
    size_t pk_bytes;
    int close_pending; /* closed or kicked while stanzas were parked (detach) */
    int kicked;        /* a bind of the same full JID replaced it */
    unsigned link;
    uint32_t conn;
    int available;
    int prio;
    int carbons;
    int interested;               /* asked for the roster: gets pushes */
    int block_interested;         /* asked for the blocklist: gets pushes */
    int muc;                      /* sent something to the MUC service */
    char *last;                   /* its last available presence (for probes) */
    char *directed[DIRECTED_MAX]; /* targets of directed available presence */
    unsigned ndirected;
    size_t last_len;
    char *user, *res, *jid; /* jid = user@domain/res */
};

struct router {
    const char *domain;
    ea_conn_t *links[MAX_LINKS];
    struct outq out[MAX_LINKS];
    uint32_t held[MAX_LINKS];      /* the last held stanza number seen per link */
    int held_due[MAX_LINKS];       /* R_HELD_DONE owed at the end of the round */
    uint32_t done_sent[MAX_LINKS]; /* the last R_HELD_DONE sent (if done_any) */
    int done_any[MAX_LINKS];
    unsigned nlinks;
    struct sess *by_user[BUCKETS], *by_conn[BUCKETS];
    ea_conn_t *dir; /* from accounts: who exists, and which logins to bind */
    int dir_done;
    struct vouch *vouches[BUCKETS];
    uint64_t nvouches, vouch_sweep;
    struct pbind *pbinds; /* binds waiting for their vouch, oldest first */
    unsigned npbinds;
    ea_conn_t *muc; /* to the MUC actor, or NULL */
    struct outq muc_out;
    char muc_domain[JID_PART_MAX + 1];
    ea_conn_t *st; /* to the store actor, or NULL (memory only) */
    struct outq st_out;
    int st_loaded;
    int end_sent;                  /* S_END queued (the stop) */
    uint64_t stop_at;              /* when */
    char forgot[JID_PART_MAX + 1]; /* the last user S_FORGET was sent for */
    struct user *users[BUCKETS];
    size_t offline_bytes;
    uint64_t nblocked; /* blocked JIDs of all users: 0, nothing to check */
    uint64_t ncarbons; /* sessions with carbons enabled: 0, none to copy */
    uint64_t nsess, routed, errors, stored, refused;
    uint64_t by_ref;     /* of `routed`: delivered by reference (R_REF) */
    struct sess *parked; /* sessions with parked stanzas (few: a round trip) */
    uint64_t resends, bytes_refused, bad_bytes, nobytes;
};

static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static uint32_t conn_bucket(unsigned link, uint32_t conn)
{
    return (conn * 2654435761u ^ link * 40503u) % BUCKETS;
}

static struct sess *find_conn(struct router *r, unsigned link, uint32_t conn)
{
    for (struct sess *s = r->by_conn[conn_bucket(link, conn)]; s; s = s->next_conn)
        if (s->link == link && s->conn == conn)
            return s;
    return NULL;
}

/* The look-ups by user name take its fnv hash (h) where the caller has it
 * (a parsed JID's lhash), and compute it otherwise. */
static struct sess *first_of(struct router *r, const char *user)
{
    return r->by_user[fnv(user, strlen(user)) % BUCKETS];
}

static struct sess *find_full_h(struct router *r, const char *user, uint32_t h, const char *res)
{
    for (struct sess *s = r->by_user[h % BUCKETS]; s; s = s->next_user)
        if (strcmp(s->user, user) == 0 && strcmp(s->res, res) == 0)
            return s;
    return NULL;
}

static struct sess *find_full(struct router *r, const char *user, const char *res)
{
    return find_full_h(r, user, fnv(user, strlen(user)), res);
}

static struct user *find_user_h(struct router *r, const char *name, uint32_t h)
{
    for (struct user *u = r->users[h % BUCKETS]; u; u = u->next)
        if (strcmp(u->name, name) == 0)
            return u;
    return NULL;
}

static struct user *find_user(struct router *r, const char *name)
{
    return find_user_h(r, name, fnv(name, strlen(name)));
}

/* Does `name` exist? Without a directory: if it has a session now. */
static int exists_h(struct router *r, const char *name, uint32_t h)
{
    if (r->dir != NULL)
        return find_user_h(r, name, h) != NULL;
    for (struct sess *s = r->by_user[h % BUCKETS]; s; s = s->next_user)
        if (strcmp(s->user, name) == 0)
            return 1;
    return 0;
}

static int exists(struct router *r, const char *name)
{
    return exists_h(r, name, fnv(name, strlen(name)));
}

static void directory(struct router *r, const struct xmsg *m)
{
    if (m->n < 1)
        return;
    const char *p = m->f[0], *end = p + m->fl[0];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && n <= JID_PART_MAX && memchr(p, 0, n) == NULL) {
            struct user *u = calloc(1, sizeof *u + n + 1);
            if (u != NULL) {
                memcpy(u->name, p, n);
                if (find_user(r, u->name) != NULL) {
                    free(u);
                } else {
                    uint32_t b = fnv(u->name, n) % BUCKETS;
                    u->next = r->users[b];
                    r->users[b] = u;
                }
            }
        }
        p += n + 1;
    }
    if (m->h.a == 1 && !r->dir_done) {
        r->dir_done = 1;
        unsigned k = 0;
        for (unsigned b = 0; b < BUCKETS; b++)
            for (struct user *u = r->users[b]; u; u = u->next)
                k++;
        printf("router: directory of %u users\n", k);
        fflush(stdout);
    }
}

/* Takes s off the list of sessions with parked stanzas (router.parked). */
static void unlist_parked(struct router *r, struct sess *s)
{
    struct sess **pp = &r->parked;
    while (*pp && *pp != s)
        pp = &(*pp)->next_parked;
    if (*pp)
        *pp = s->next_parked;
}

static void unlink_sess(struct router *r, struct sess *x)
{
    struct sess **pp = &r->by_user[fnv(x->user, strlen(x->user)) % BUCKETS];
    while (*pp && *pp != x)
        pp = &(*pp)->next_user;
    if (*pp)
        *pp = x->next_user;
    pp = &r->by_conn[conn_bucket(x->link, x->conn)];
    while (*pp && *pp != x)
        pp = &(*pp)->next_conn;
    if (*pp)
        *pp = x->next_conn;
    if (x->carbons)
        r->ncarbons--;
    if (x->pk_head != NULL) {
        r->held_due[x->link] = 1; /* what it waited for may go */
        unlist_parked(r, x);
    }
    while (x->pk_head != NULL) {
        struct pk *k = x->pk_head;
        x->pk_head = k->next;
        free(k->bytes);
        free(k);
    }
    free(x->user);
    free(x->res);
    free(x->jid);
    free(x->last);
    for (unsigned i = 0; i < x->ndirected; i++)
        free(x->directed[i]);
    free(x);
    r->nsess--;
}

/* ------------------------------------------------------------ output */

static void deliver(struct router *r, const struct sess *to, const char *xml, size_t len)
{
    struct xmsg m = {.h = {R_DELIVER, to->conn, 0, 0}};
    xmsg_add(&m, xml, len);
    if (outq_send(&r->out[to->link], &m) == 0)
        r->routed++;
}

static void deliver_buf(struct router *r, const struct sess *to, xbuf_t *b)
{
    if (!b->failed)
        deliver(r, to, b->p, b->len);
    xb_free(b);
}

static void attr(xbuf_t *b, const char *name, const char *val)
{
    if (val == NULL || val[0] == 0)
        return;
    xb_fmt(b, " %s='", name);
    xb_esc_attr(b, val, strlen(val));
    xb_str(b, "'");
}

/* The error reply to a stanza (RFC 6120 §8.3): addresses swapped, same id;
 * `app` (may be NULL) an application-specific condition element. */
static void error_reply_app(struct router *r, const struct sess *from, const char *kind,
                            const char *id, const char *orig_to, const char *etype,
                            const char *cond, const char *app)
{
    xbuf_t b = {0};
    xb_fmt(&b, "<%s type='error'", kind);
    attr(&b, "id", id);
    attr(&b, "from", orig_to);
    attr(&b, "to", from->jid);
    xb_fmt(&b, "><error type='%s'><%s xmlns='" NS_STANZAS "'/>%s</error></%s>", etype, cond,
           app ? app : "", kind);
    r->errors++;
    deliver_buf(r, from, &b);
}

static void error_reply(struct router *r, const struct sess *from, const char *kind, const char *id,
                        const char *orig_to, const char *etype, const char *cond)
{
    error_reply_app(r, from, kind, id, orig_to, etype, cond, NULL);
}

/* An iq result from the server, with an optional payload. */
static void iq_result(struct router *r, const struct sess *to, const char *id, const char *orig_to,
                      const char *payload)
{
    xbuf_t b = {0};
    xb_str(&b, "<iq type='result'");
    attr(&b, "id", id);
    attr(&b, "from", orig_to);
    attr(&b, "to", to->jid);
    if (payload != NULL) {
        xb_str(&b, ">");
        xb_str(&b, payload);
        xb_str(&b, "</iq>");
    } else {
        xb_str(&b, "/>");
    }
    deliver_buf(r, to, &b);
}

/* ------------------------------------------------------------ JIDs */

struct jid {
    char local[JID_PART_MAX + 1], domain[JID_PART_MAX + 1], res[JID_PART_MAX + 1];
    uint32_t lhash; /* fnv(local): the bucket of its user and sessions */
};

/* RFC 7622 subset: ASCII local part and domain, folded to lower case; the
 * resource is opaque. A character of a local part or domain as it is kept
 * (upper case folded to lower), or 0 where it is not allowed: space and
 * controls, non-ASCII, and " & ' / : < > @. One load per character. */
/* clang-format off */
static const unsigned char jid_fold[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 33, 0, 35, 36, 37, 0, 0, 40, 41, 42, 43, 44, 45, 46, 0,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 0, 59, 0, 61, 0, 63,
    0, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

/* Parses the n bytes at s (no NUL among them); -1 if malformed. Every part
 * is NUL-terminated, also when -1 is returned (no memset of the 3 KiB:
 * this runs for every stanza). */
static int jid_parse_n(const char *s, size_t n, struct jid *j)
{
    j->local[0] = j->domain[0] = j->res[0] = 0;
    j->lhash = fnv("", 0);
    const char *slash = memchr(s, '/', n);
    size_t bl = slash ? (size_t)(slash - s) : n;
    const char *at = memchr(s, '@', bl);
    const char *d = at ? at + 1 : s;
    size_t ll = at ? (size_t)(at - s) : 0, dl = bl - (size_t)(d - s);
    if ((at && ll == 0) || dl == 0 || ll > JID_PART_MAX || dl > JID_PART_MAX)
        return -1;
    size_t rl = slash ? n - bl - 1 : 0;
    if (slash && (rl == 0 || rl > JID_PART_MAX))
        return -1;
    j->local[ll] = 0;
    j->domain[dl] = 0;
    uint32_t h = fnv("", 0);
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = jid_fold[(unsigned char)s[i]];
        if (c == 0)
            return -1;
        j->local[i] = (char)c;
        h = (h ^ c) * 16777619u; /* fnv, one step */
    }
    for (size_t i = 0; i < dl; i++) {
        unsigned char c = jid_fold[(unsigned char)d[i]];
        if (c == 0)
            return -1;
        j->domain[i] = (char)c;
    }
    if (slash) {
        memcpy(j->res, slash + 1, rl);
        j->res[rl] = 0;
    }
    j->lhash = h;
    return 0;
}

static int jid_parse(const char *s, struct jid *j)
{
    return jid_parse_n(s, strlen(s), j);
}

/* ------------------------------------------------------------ blocking */

/* Does blocked item `b` cover JID (local, domain, res)? XEP-0191 §6 uses
 * the order of XEP-0016 §2.1: user@domain/res only itself, user@domain
 * every resource, domain/res only itself, domain everything at it. */
static int covers(const struct bitem *b, const char *local, const char *domain, const char *res)
{
    if (strcmp(b->domain, domain) != 0)
        return 0;
    if (b->local[0] == 0)
        return b->res[0] == 0 || (local[0] == 0 && strcmp(b->res, res) == 0);
    return strcmp(b->local, local) == 0 && (b->res[0] == 0 || strcmp(b->res, res) == 0);
}

/* Does local user `user` block (local, domain, res)? */
static int blocks(struct router *r, const char *user, const char *local, const char *domain,
                  const char *res)
{
    if (r->nblocked == 0)
        return 0;
    struct user *u = find_user(r, user);
    for (const struct bitem *b = u ? u->blocked : NULL; b; b = b->next)
        if (covers(b, local, domain, res))
            return 1;
    return 0;
}

/* May a stanza pass between local session `from` and local user `to`
 * (resource `res`, "" for the bare JID)? Neither may block the other, a
 * user never blocks itself. */
static int block_free(struct router *r, const struct sess *from, const char *to, const char *res)
{
    if (r->nblocked == 0 || strcmp(from->user, to) == 0)
        return 1;
    return !blocks(r, from->user, to, r->domain, res) &&
           !blocks(r, to, from->user, r->domain, from->res);
}

/* Adds `j` to u's blocklist; the item, or NULL (there already, or no
 * memory). `*added` says whether it is new. */
static void jid_norm(const struct jid *j, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s%s%s", j->local, j->local[0] ? "@" : "", j->domain,
             j->res[0] ? "/" : "", j->res);
}

static struct bitem *block_add(struct router *r, struct user *u, const struct jid *j, int *added)
{
    size_t ll = strlen(j->local), dl = strlen(j->domain), rl = strlen(j->res);
    char norm[3 * (JID_PART_MAX + 1)];
    jid_norm(j, norm, sizeof norm);
    *added = 0;
    for (struct bitem *b = u->blocked; b; b = b->next)
        if (strcmp(b->jid, norm) == 0)
            return b;
    size_t nl = strlen(norm);
    struct bitem *b = malloc(sizeof *b + nl + 1 + ll + 1 + dl + 1 + rl + 1);
    if (b == NULL)
        return NULL;
    char *p = b->jid;
    memcpy(p, norm, nl + 1);
    p += nl + 1;
    b->local = memcpy(p, j->local, ll + 1);
    p += ll + 1;
    b->domain = memcpy(p, j->domain, dl + 1);
    p += dl + 1;
    b->res = memcpy(p, j->res, rl + 1);
    b->next = u->blocked;
    u->blocked = b;
    u->nblocked++;
    r->nblocked++;
    *added = 1;
    return b;
}

/* Takes x off u's blocklist; the caller frees it. */
static void block_unlink(struct router *r, struct user *u, struct bitem *x)
{
    struct bitem **pp = &u->blocked;
    while (*pp && *pp != x)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    *pp = x->next;
    u->nblocked--;
    r->nblocked--;
}

/* ------------------------------------------------------------ binding */

static void muc_gone(struct router *r, struct sess *s);

/* R_BOUND with a = 0 and `why`. */
static void bind_refused(struct router *r, unsigned link, uint32_t conn, const char *why)
{
    struct xmsg a = {.h = {R_BOUND, conn, 0, 0}};
    xmsg_adds(&a, why);
    (void)outq_send(&r->out[link], &a);
}

static void bind_now(struct router *r, unsigned link, uint32_t conn, const char *user, char *res);
static void detach(struct router *r, struct sess *s);

/* Takes the vouch for (link, conn): 1 if it names `user`. A vouch for
 * another user is dropped too (the bind is not the login's). */
static int vouched(struct router *r, unsigned link, uint32_t conn, const char *user)
{
    struct vouch **pp = &r->vouches[conn_bucket(link, conn)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->link == link && (*pp)->conn == conn) {
            struct vouch *v = *pp;
            int ok = strcmp(v->user, user) == 0;
            *pp = v->next;
            free(v);
            r->nvouches--;
            return ok;
        }
    return 0;
}

/* A_VOUCH from the accounts actor: names a c2s actor (by its actor name,
 * which the router's link to it also has) and a connection of it. */
static void add_vouch(struct router *r, const struct xmsg *m)
{
    char c2s[128], user[256];
    if (xmsg_str(m, 0, c2s, sizeof c2s) < 0 || xmsg_str(m, 1, user, sizeof user) < 0)
        return;
    unsigned link = 0;
    while (link < r->nlinks && strcmp(ea_conn_peer(r->links[link]), c2s) != 0)
        link++;
    if (link == r->nlinks)
        return;
    (void)vouched(r, link, m->h.conn, ""); /* an older one for the connection goes */
    size_t ul = strlen(user);
    struct vouch *v = malloc(sizeof *v + ul + 1);
    if (v == NULL)
        return; /* its bind will be refused */
    v->link = link;
    v->conn = m->h.conn;
    v->at = ea_now_ns();
    memcpy(v->user, user, ul + 1);
    uint32_t b = conn_bucket(link, m->h.conn);
    v->next = r->vouches[b];
    r->vouches[b] = v;
    r->nvouches++;
}

/* Binds waiting for a vouch: bound once it came, refused once too old;
 * vouches never used are forgotten after VOUCH_TTL_NS (checked once a
 * second). */
static void pending_binds(struct router *r)
{
    uint64_t now = ea_now_ns();
    for (struct pbind **pp = &r->pbinds; *pp;) {
        struct pbind *p = *pp;
        int ok = vouched(r, p->link, p->conn, p->user);
        if (!ok && now - p->at < PBIND_TTL_NS) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        r->npbinds--;
        if (ok)
            bind_now(r, p->link, p->conn, p->user, p->res);
        else
            bind_refused(r, p->link, p->conn, "not-authorized");
        free(p);
    }
    if (r->nvouches == 0 || now - r->vouch_sweep < 1000000000u)
        return;
    r->vouch_sweep = now;
    for (unsigned b = 0; b < BUCKETS; b++)
        for (struct vouch **pp = &r->vouches[b]; *pp;) {
            struct vouch *v = *pp;
            if (now - v->at < VOUCH_TTL_NS) {
                pp = &v->next;
                continue;
            }
            *pp = v->next;
            free(v);
            r->nvouches--;
        }
}

/* A connection ended: its vouch and waiting bind go. */
static void forget_login(struct router *r, unsigned link, uint32_t conn)
{
    (void)vouched(r, link, conn, "");
    for (struct pbind **pp = &r->pbinds; *pp;) {
        struct pbind *p = *pp;
        if (p->link == link && p->conn == conn) {
            *pp = p->next;
            r->npbinds--;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

/* R_BIND: with a directory, only a login the accounts actor vouched for
 * binds (the vouch may still be on its way: the bind waits for it). */
static void do_bind(struct router *r, unsigned link, const struct xmsg *m)
{
    char user[256], res[JID_PART_MAX + 1];
    if (xmsg_str(m, 0, user, sizeof user) < 0 || xmsg_str(m, 1, res, sizeof res) < 0) {
        bind_refused(r, link, m->h.conn, "bad-request");
        return;
    }
    for (char *p = res; *p; p++)
        if ((unsigned char)*p < 0x20) {
            bind_refused(r, link, m->h.conn, "bad-request");
            return;
        }
    if (r->dir == NULL || vouched(r, link, m->h.conn, user)) {
        bind_now(r, link, m->h.conn, user, res);
        return;
    }
    struct pbind *p = r->npbinds < PBIND_MAX ? malloc(sizeof *p) : NULL;
    if (p == NULL) {
        bind_refused(r, link, m->h.conn, "resource-constraint");
        return;
    }
    p->link = link;
    p->conn = m->h.conn;
    p->at = ea_now_ns();
    memcpy(p->user, user, sizeof p->user);
    memcpy(p->res, res, sizeof p->res);
    p->next = NULL;
    struct pbind **pp = &r->pbinds;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    r->npbinds++;
}

static void bind_now(struct router *r, unsigned link, uint32_t conn, const char *user, char *res)
{
    struct xmsg a = {.h = {R_BOUND, conn, 0, 0}};
    if (res[0] == 0) {
        uint8_t rnd[6];
        if (xc_random(rnd, sizeof rnd) < 0)
            memset(rnd, 0, sizeof rnd);
        snprintf(res, JID_PART_MAX + 1, "eactors-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5]);
    }
    /* The same full JID again: the old session goes (RFC 6120 §7.7.2.2). */
    struct sess *old = find_full(r, user, res);
    if (old != NULL) {
        struct xmsg k = {.h = {R_KICK, old->conn, 0, 0}};
        xmsg_adds(&k, "conflict");
        (void)outq_send(&r->out[old->link], &k);
        muc_gone(r, old); /* its rooms must not follow the new session */
        old->kicked = 1;
        if (old->pk_head != NULL)
            detach(r, old); /* what it sent before is routed first */
        else
            unlink_sess(r, old);
    }
    struct sess *s = calloc(1, sizeof *s);
    size_t jl = strlen(user) + strlen(r->domain) + strlen(res) + 3;
    if (s != NULL) {
        s->user = strdup(user);
        s->res = strdup(res);
        s->jid = malloc(jl);
    }
    if (s == NULL || s->user == NULL || s->res == NULL || s->jid == NULL) {
        if (s) {
            free(s->user);
            free(s->res);
            free(s->jid);
        }
        free(s);
        xmsg_adds(&a, "resource-constraint");
        (void)outq_send(&r->out[link], &a);
        return;
    }
    snprintf(s->jid, jl, "%s@%s/%s", user, r->domain, res);
    s->link = link;
    s->conn = conn;
    uint32_t ub = fnv(user, strlen(user)) % BUCKETS, cb = conn_bucket(link, conn);
    s->next_user = r->by_user[ub];
    r->by_user[ub] = s;
    s->next_conn = r->by_conn[cb];
    r->by_conn[cb] = s;
    r->nsess++;
    a.h.a = 1;
    xmsg_adds(&a, s->jid);
    (void)outq_send(&r->out[link], &a);
}

/* Sends presence `xml` to every available session of `user`. */
static void to_available(struct router *r, const char *user, const char *xml, size_t len)
{
    for (struct sess *s = first_of(r, user); s; s = s->next_user)
        if (s->available && strcmp(s->user, user) == 0)
            deliver(r, s, xml, len);
}

static void to_contacts(struct router *r, const struct sess *s, const char *xml, size_t len);

/* Unavailable from session s to the targets of its directed presence. */
static void to_directed(struct router *r, struct sess *s)
{
    for (unsigned i = 0; i < s->ndirected; i++) {
        struct jid j;
        if (jid_parse(s->directed[i], &j) == 0) {
            xbuf_t b = {0};
            xb_str(&b, "<presence type='unavailable'");
            attr(&b, "from", s->jid);
            attr(&b, "to", s->directed[i]);
            xb_str(&b, "/>");
            if (!b.failed) {
                struct sess *t = j.res[0] ? find_full(r, j.local, j.res) : NULL;
                if (t != NULL && t != s) /* not to itself: it may be closing */
                    deliver(r, t, b.p, b.len);
                else if (j.res[0] == 0)
                    to_available(r, j.local, b.p, b.len);
            }
            xb_free(&b);
        }
        free(s->directed[i]);
    }
    s->ndirected = 0;
}

/* Session s leaves every room (it ended or went unavailable). */
static void muc_gone(struct router *r, struct sess *s)
{
    if (r->muc == NULL || !s->muc)
        return;
    struct xmsg m = {.h = {M_GONE, 0, 0, 0}};
    xmsg_adds(&m, s->jid);
    (void)outq_send(&r->muc_out, &m);
    s->muc = 0;
}

/* Something from the MUC actor for a local session. */
static void muc_deliver(struct router *r, const struct xmsg *m)
{
    char to[3 * (JID_PART_MAX + 1)];
    struct jid j;
    if (m->n < 2 || xmsg_str(m, 0, to, sizeof to) < 0 || jid_parse(to, &j) < 0 ||
        strcmp(j.domain, r->domain) != 0 || j.res[0] == 0)
        return;
    struct sess *s = find_full(r, j.local, j.res);
    if (s == NULL)
        return;
    /* XEP-0191 §3.5: nothing from a room, an occupant or the service the
     * user blocks (the MUC names the sender in field 2). */
    char from[3 * (JID_PART_MAX + 1)];
    struct jid fj;
    if (r->nblocked != 0 && m->n >= 3 && xmsg_str(m, 2, from, sizeof from) == 0 &&
        jid_parse(from, &fj) == 0 && blocks(r, s->user, fj.local, fj.domain, fj.res)) {
        r->refused++;
        return;
    }
    deliver(r, s, m->f[1], m->fl[1]);
}

/* Session s has ended (closed or kicked) while stanzas it sent wait for
 * their bytes (park): gone for everyone else now (nothing is routed to it,
 * a new bind of its JID does not meet it), it stays, found by its
 * connection alone, until they are routed (unpark calls closed). */
static void detach(struct router *r, struct sess *s)
{
    if (s->close_pending)
        return;
    s->close_pending = 1;
    struct sess **pp = &r->by_user[fnv(s->user, strlen(s->user)) % BUCKETS];
    while (*pp && *pp != s)
        pp = &(*pp)->next_user;
    if (*pp)
        *pp = s->next_user;
}

static void closed(struct router *r, unsigned link, uint32_t conn)
{
    forget_login(r, link, conn);
    struct sess *s = find_conn(r, link, conn);
    if (s == NULL)
        return;
    if (s->pk_head != NULL) { /* what it sent before goes first (unpark) */
        detach(r, s);
        return;
    }
    if (s->kicked) { /* its successor has the JID: no presence for it */
        unlink_sess(r, s);
        return;
    }
    if (s->available) {
        s->available = 0;
        xbuf_t b = {0};
        xb_str(&b, "<presence type='unavailable'");
        attr(&b, "from", s->jid);
        xb_str(&b, "/>");
        if (!b.failed) {
            to_available(r, s->user, b.p, b.len);
            to_contacts(r, s, b.p, b.len);
        }
        xb_free(&b);
    }
    to_directed(r, s);
    muc_gone(r, s);
    unlink_sess(r, s);
}

/* ------------------------------------------------------------ stanzas */

/* A stanza's kind and its most common types, as codes (kind_code,
 * type_code): compared on every stanza, where a strcmp each added up. */
enum { K_OTHER, K_MESSAGE, K_PRESENCE, K_IQ };
enum {
    T_OTHER,
    T_NONE, /* no type= */
    T_CHAT,
    T_ERROR,
    T_GROUPCHAT,
    T_HEADLINE,
    T_NORMAL,
    T_GET,
    T_SET,
    T_RESULT,
    T_UNAVAILABLE,
};

struct st {
    int k, ty; /* kind and type codes */
    char kind[16], type[32], to[3 * (JID_PART_MAX + 1)], id[1024];
    char pns[256], pname[256], node[512], prio[16];
    const char *xml;
    size_t xlen;
    unsigned npay;
    uint32_t flags; /* R_STANZA b */
    unsigned link;  /* the sender's c2s link */
    int held;       /* that c2s holds the stanza as number `ref` */
    uint32_t ref;
    const char *item; /* roster set: jid NUL name NUL subscription NUL groups */
    size_t ilen;
};

/* Stanza `t` itself for `to`: by reference when `to` is on the c2s that
 * sent it and that c2s holds it (R_REF, a header and no bytes), else its
 * bytes (R_DELIVER). Either way in the same queue, so in order. */
static void deliver_st(struct router *r, const struct sess *to, const struct st *t)
{
    if (!t->held || to->link != t->link) {
        if (t->xlen > 0)
            deliver(r, to, t->xml, t->xlen);
        else if (r->nobytes++ < 10) /* message_needs_bytes said no: a bug */
            fprintf(stderr, "router: a stanza without its bytes for another c2s: dropped\n");
        return;
    }
    struct xmsg m = {.h = {R_REF, to->conn, t->ref, 0}};
    if (outq_send(&r->out[to->link], &m) == 0) {
        r->routed++;
        r->by_ref++;
    }
}

static int is_type(const struct st *t, const char *v)
{
    return strcmp(t->type, v) == 0;
}

#define IS(s, n, lit) ((n) == sizeof lit - 1 && memcmp(s, lit, sizeof lit - 1) == 0)

static int kind_code(const char *k, size_t n)
{
    return IS(k, n, "message")    ? K_MESSAGE
           : IS(k, n, "presence") ? K_PRESENCE
           : IS(k, n, "iq")       ? K_IQ
                                  : K_OTHER;
}

static int type_code(const char *v, size_t n)
{
    switch (n) {
    case 0: return T_NONE;
    case 3: return IS(v, n, "get") ? T_GET : IS(v, n, "set") ? T_SET : T_OTHER;
    case 4: return IS(v, n, "chat") ? T_CHAT : T_OTHER;
    case 5: return IS(v, n, "error") ? T_ERROR : T_OTHER;
    case 6: return IS(v, n, "normal") ? T_NORMAL : IS(v, n, "result") ? T_RESULT : T_OTHER;
    case 8: return IS(v, n, "headline") ? T_HEADLINE : T_OTHER;
    case 9: return IS(v, n, "groupchat") ? T_GROUPCHAT : T_OTHER;
    case 11: return IS(v, n, "unavailable") ? T_UNAVAILABLE : T_OTHER;
    default: return T_OTHER;
    }
}
#undef IS

/* What happens to a message or iq between `from` and local `to` that a
 * blocklist stops (XEP-0191 §3.5, §3.6): the sender's own block is named
 * in the error (not-acceptable + <blocked/>); the recipient's looks like
 * an absent recipient (service-unavailable). Results, errors and presence
 * are dropped. 1 if the stanza was stopped. */
static int block_stop(struct router *r, const struct sess *from, const struct st *t,
                      const struct jid *j)
{
    if (block_free(r, from, j->local, j->res))
        return 0;
    r->refused++;
    int req =
        t->k == K_IQ ? t->ty == T_GET || t->ty == T_SET : t->k == K_MESSAGE && t->ty != T_ERROR;
    if (!req)
        return 1;
    if (blocks(r, from->user, j->local, j->domain, j->res))
        error_reply_app(r, from, t->kind, t->id, t->to, "cancel", "not-acceptable",
                        "<blocked xmlns='" NS_BLOCKING ":errors'/>");
    else
        error_reply(r, from, t->kind, t->id, t->to, "cancel", "service-unavailable");
    return 1;
}

/* A carbon copy (XEP-0280) of chat message `t` for session `to`:
 * dir is "received" or "sent". */
static void carbon(struct router *r, const struct sess *to, const char *dir, const struct st *t)
{
    if (t->xlen < 8 || memcmp(t->xml, "<message", 8) != 0)
        return;
    xbuf_t b = {0};
    xb_str(&b, "<message type='chat'");
    xb_str(&b, " from='");
    xb_esc_attr(&b, to->user, strlen(to->user));
    xb_fmt(&b, "@%s'", r->domain);
    attr(&b, "to", to->jid);
    xb_fmt(&b, "><%s xmlns='" NS_CARBONS "'><forwarded xmlns='urn:xmpp:forward:0'>", dir);
    xb_str(&b, "<message xmlns='jabber:client'");
    xb_add(&b, t->xml + 8, t->xlen - 8);
    xb_fmt(&b, "</forwarded></%s></message>", dir);
    deliver_buf(r, to, &b);
}

/* Copies to `user`'s other carbons-enabled, available sessions (all but
 * `skip`, and but those that got the message itself: `got`). With dir
 * NULL, nothing is sent: 1 if a copy would be (needs_bytes). */
static int carbons(struct router *r, const char *user, const struct sess *skip, int best,
                   int headline_all, const char *dir, const struct st *t)
{
    if (r->ncarbons == 0 || t->ty != T_CHAT || (t->flags & 2))
        return 0;
    for (struct sess *s = first_of(r, user); s; s = s->next_user) {
        if (s == skip || !s->carbons || !s->available || strcmp(s->user, user) != 0)
            continue;
        int got = best > -129 && s->prio >= 0 && (headline_all || s->prio == best);
        if (!got && dir == NULL)
            return 1;
        if (!got)
            carbon(r, s, dir, t);
    }
    return 0;
}

/* `t` (seconds since 1970, UTC) as XEP-0082 date-time. Not gmtime_r: its
 * first call in a process reads the time zone file, which a confined
 * enclave may not open. Days to civil date: H. Hinnant's algorithm. */
static void utc_stamp(int64_t t, char *buf, size_t cap)
{
    int64_t days = t / 86400, sec = t % 86400;
    if (sec < 0) {
        sec += 86400;
        days--;
    }
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, (int)m, (int)d,
             (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}

/* A change for the store actor (nothing without one). */
static void store_tell(struct router *r, const struct xmsg *m)
{
    if (r->st != NULL && outq_send(&r->st_out, m) != 0)
        fprintf(stderr, "router: a change for the store is lost (too large, or no memory)\n");
}

static int offline_append(struct router *r, struct user *u, const char *xml, size_t len);

/* Keeps a message for an offline user, with its delay stamp; 0 if kept. */
static int store_offline(struct router *r, struct user *u, const struct st *t)
{
    static const char tail[] = "</message>";
    size_t tl = sizeof tail - 1;
    if (u->n >= OFFLINE_MAX || r->offline_bytes + t->xlen > OFFLINE_BYTES_MAX || t->xlen < tl ||
        memcmp(t->xml + t->xlen - tl, tail, tl) != 0)
        return -1;
    char stamp[64];
    utc_stamp((int64_t)time(NULL), stamp, sizeof stamp);
    xbuf_t b = {0};
    xb_add(&b, t->xml, t->xlen - tl);
    xb_fmt(&b, "<delay xmlns='urn:xmpp:delay' from='%s' stamp='%s'>Offline Storage</delay>",
           r->domain, stamp);
    xb_add(&b, tail, tl);
    int rc = b.failed ? -1 : offline_append(r, u, b.p, b.len);
    xb_free(&b);
    if (rc == 0) {
        struct xmsg m = {.h = {S_OFFLINE, 0, 0, 0}};
        xmsg_adds(&m, u->name);
        xmsg_add(&m, u->tail->xml, u->tail->len);
        store_tell(r, &m);
        r->stored++;
    }
    return rc;
}

/* Appends a stamped message to u's offline queue; 0, or -1 (no memory). */
static int offline_append(struct router *r, struct user *u, const char *xml, size_t len)
{
    struct omsg *o = malloc(sizeof *o + len);
    if (o == NULL)
        return -1;
    memcpy(o->xml, xml, len);
    o->len = len;
    o->next = NULL;
    if (u->tail)
        u->tail->next = o;
    else
        u->head = o;
    u->tail = o;
    u->n++;
    r->offline_bytes += o->len;
    return 0;
}

static void flush_offline(struct router *r, struct sess *s)
{
    struct user *u = r->dir ? find_user(r, s->user) : NULL;
    if (u != NULL && u->head != NULL) {
        struct xmsg m = {.h = {S_OFFLINE_DEL, 0, 0, 0}};
        xmsg_adds(&m, u->name);
        store_tell(r, &m);
    }
    while (u != NULL && u->head != NULL) {
        struct omsg *o = u->head;
        deliver(r, s, o->xml, o->len);
        u->head = o->next;
        r->offline_bytes -= o->len;
        free(o);
        u->n--;
    }
    if (u != NULL)
        u->tail = NULL;
}

/* The highest non-negative priority among the available sessions of
 * j's user, or -129 if none (where a message to the bare JID goes). */
static int best_prio(struct router *r, const struct jid *j)
{
    int best = -129;
    for (struct sess *s = r->by_user[j->lhash % BUCKETS]; s; s = s->next_user)
        if (s->available && s->prio >= 0 && strcmp(s->user, j->local) == 0 && s->prio > best)
            best = s->prio;
    return best;
}

/* Would route_message(r, from, t, j) use t's bytes? It decides as
 * route_message does, step for step, and sends nothing: a recipient on
 * another c2s than the sender's, a carbon, or offline storage need them;
 * one on the sender's c2s (R_REF), an error reply or a drop do not. */
static int message_needs_bytes(struct router *r, const struct sess *from, const struct st *t,
                               const struct jid *j)
{
    if (strcmp(j->domain, r->domain) != 0 || j->local[0] == 0 || !exists_h(r, j->local, j->lhash))
        return 0;
    if (!block_free(r, from, j->local, j->res))
        return 0;
    if (carbons(r, from->user, from, -129, 0, NULL, t))
        return 1;
    if (j->res[0] != 0) {
        struct sess *s = find_full_h(r, j->local, j->lhash, j->res);
        if (s != NULL)
            return s->link != t->link || carbons(r, j->local, s, -129, 0, NULL, t);
    }
    if (t->ty == T_GROUPCHAT)
        return 0;
    int headline = t->ty == T_HEADLINE, best = best_prio(r, j), sent = 0;
    for (struct sess *s = r->by_user[j->lhash % BUCKETS]; s; s = s->next_user)
        if (s->available && s->prio >= 0 && strcmp(s->user, j->local) == 0 &&
            (headline || s->prio == best)) {
            if (s->link != t->link)
                return 1;
            sent = 1;
        }
    if (sent)
        return carbons(r, j->local, NULL, best, headline, NULL, t);
    return t->ty != T_ERROR && !headline && (t->flags & 1); /* offline storage */
}

static void route_message(struct router *r, struct sess *from, struct st *t, const struct jid *j)
{
    int err = t->ty == T_ERROR;
    if (strcmp(j->domain, r->domain) != 0) {
        if (!err)
            error_reply(r, from, "message", t->id, t->to, "cancel", "remote-server-not-found");
        return;
    }
    if (j->local[0] == 0 || !exists_h(r, j->local, j->lhash)) {
        if (!err)
            error_reply(r, from, "message", t->id, t->to, "cancel", "service-unavailable");
        return;
    }
    if (block_stop(r, from, t, j))
        return;
    /* The sender's other resources see what it sent (XEP-0280 <sent/>). */
    carbons(r, from->user, from, -129, 0, "sent", t);
    if (j->res[0] != 0) {
        struct sess *s = find_full_h(r, j->local, j->lhash, j->res);
        if (s != NULL) {
            deliver_st(r, s, t);
            carbons(r, j->local, s, -129, 0, "received", t);
            return;
        }
    }
    /* Bare JID, or an offline full JID (RFC 6121 §8.5.2, §8.5.3.2.1). */
    if (t->ty == T_GROUPCHAT) {
        error_reply(r, from, "message", t->id, t->to, "cancel", "service-unavailable");
        return;
    }
    int headline = t->ty == T_HEADLINE, best = best_prio(r, j), sent = 0;
    for (struct sess *s = r->by_user[j->lhash % BUCKETS]; s; s = s->next_user)
        if (s->available && s->prio >= 0 && strcmp(s->user, j->local) == 0 &&
            (headline || s->prio == best)) {
            deliver_st(r, s, t);
            sent = 1;
        }
    if (sent) {
        carbons(r, j->local, NULL, best, headline, "received", t);
        return;
    }
    if (err || headline)
        return; /* dropped (RFC 6121 §8.5.2.2) */
    /* No available resource: offline storage (XEP-0160), for messages with
     * a body (not chat states alone); full or without a directory: refused. */
    if (!(t->flags & 1))
        return;
    struct user *u = r->dir ? find_user_h(r, j->local, j->lhash) : NULL;
    if (u == NULL || store_offline(r, u, t) != 0)
        error_reply(r, from, "message", t->id, t->to, "cancel", "service-unavailable");
}

/* ------------------------------------------------------------ roster */

static struct ritem *ritem_find(struct user *u, const char *bare)
{
    for (struct ritem *it = u->roster; it; it = it->next)
        if (strcmp(it->jid, bare) == 0)
            return it;
    return NULL;
}

static struct ritem *ritem_add(struct user *u, const char *bare)
{
    struct ritem *it = ritem_find(u, bare);
    if (it != NULL || u->nroster >= ROSTER_MAX)
        return it;
    it = calloc(1, sizeof *it);
    if (it == NULL || (it->jid = strdup(bare)) == NULL) {
        free(it);
        return NULL;
    }
    it->next = u->roster;
    u->roster = it;
    u->nroster++;
    return it;
}

static void ritem_free(struct ritem *it)
{
    free(it->jid);
    free(it->name);
    free(it->groups);
    free(it);
}

static void ritem_remove(struct user *u, struct ritem *x)
{
    for (struct ritem **pp = &u->roster; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            ritem_free(x);
            u->nroster--;
            return;
        }
}

/* Writes item `it` of user `u` through to the store; it == NULL: the item
 * for contact `bare` was removed. */
static void save_item(struct router *r, const struct user *u, const struct ritem *it,
                      const char *bare)
{
    struct xmsg m = {.h = {S_ROSTER, 0, 0, it == NULL}};
    xmsg_adds(&m, u->name);
    xmsg_adds(&m, it != NULL ? it->jid : bare);
    if (it != NULL) {
        m.h.a = (uint32_t)((it->sub & 3) | (it->ask != 0) << 2 | (it->pending_in != 0) << 3);
        xmsg_adds(&m, it->name);
        xmsg_add(&m, it->groups, it->glen);
    }
    store_tell(r, &m);
}

static void item_xml(xbuf_t *b, const struct ritem *it, int removed)
{
    static const char *const subs[] = {"none", "to", "from", "both"};
    xb_str(b, "<item");
    attr(b, "jid", it->jid);
    attr(b, "name", it->name);
    xb_fmt(b, " subscription='%s'", removed ? "remove" : subs[it->sub & 3]);
    if (it->ask && !removed)
        xb_str(b, " ask='subscribe'");
    if (it->glen == 0 || removed) {
        xb_str(b, "/>");
        return;
    }
    xb_str(b, ">");
    for (size_t off = 0; off < it->glen;) {
        size_t n = strlen(it->groups + off);
        xb_str(b, "<group>");
        xb_esc(b, it->groups + off, n);
        xb_str(b, "</group>");
        off += n + 1;
    }
    xb_str(b, "</item>");
}

/* A roster push (no from: RFC 6121 §2.1.6) to every interested resource. */
static void push(struct router *r, struct user *u, const struct ritem *it, int removed)
{
    static uint64_t n;
    for (struct sess *s = first_of(r, u->name); s; s = s->next_user) {
        if (!s->interested || strcmp(s->user, u->name) != 0)
            continue;
        xbuf_t b = {0};
        xb_fmt(&b, "<iq type='set' id='push%llu'", (unsigned long long)++n);
        attr(&b, "to", s->jid);
        xb_str(&b, "><query xmlns='" NS_ROSTER "'>");
        item_xml(&b, it, removed);
        xb_str(&b, "</query></iq>");
        deliver_buf(r, s, &b);
    }
}

static void roster_get(struct router *r, struct sess *from, const struct st *t)
{
    struct user *u = find_user(r, from->user);
    from->interested = 1;
    xbuf_t b = {0};
    xb_str(&b, "<query xmlns='" NS_ROSTER "'>");
    for (struct ritem *it = u ? u->roster : NULL; it; it = it->next)
        item_xml(&b, it, 0);
    xb_str(&b, "</query>");
    xb_add(&b, "", 1); /* a C string */
    if (!b.failed)
        iq_result(r, from, t->id, t->to, b.p);
    xb_free(&b);
}

/* Delivers presence of `type` from bare `from_bare` (or from a full JID)
 * to every available resource of local user `to`. */
static void presence_to(struct router *r, const char *to, const char *type, const char *from_jid)
{
    xbuf_t b = {0};
    xb_str(&b, "<presence");
    attr(&b, "type", type);
    attr(&b, "from", from_jid);
    xb_str(&b, "/>");
    if (!b.failed)
        to_available(r, to, b.p, b.len);
    xb_free(&b);
}

static void bare_of(struct router *r, const char *user, char *out, size_t cap)
{
    snprintf(out, cap, "%s@%s", user, r->domain);
}

/* Contact `c`'s current presence (or unavailable) to user `u` (§3.1.6). */
static void current_presence(struct router *r, const char *c, const char *u)
{
    int any = 0;
    for (struct sess *s = first_of(r, c); s; s = s->next_user)
        if (s->available && s->last != NULL && strcmp(s->user, c) == 0) {
            to_available(r, u, s->last, s->last_len);
            any = 1;
        }
    if (!any) {
        char bare[JID_PART_MAX + 300];
        bare_of(r, c, bare, sizeof bare);
        presence_to(r, u, "unavailable", bare);
    }
}

/* A subscription presence from local user `uname` to local user `cname`
 * (RFC 6121 §3): both rosters change, pushes go out, and the stanza (from
 * the bare JID) is delivered or kept. */
static void subscription_apply(struct router *r, const char *uname, const char *type,
                               const char *cname)
{
    struct user *u = find_user(r, uname), *c = find_user(r, cname);
    if (u == NULL || c == NULL || strcmp(uname, cname) == 0)
        return;
    char ub[JID_PART_MAX + 300], cb[JID_PART_MAX + 300];
    bare_of(r, uname, ub, sizeof ub);
    bare_of(r, cname, cb, sizeof cb);
    struct ritem *ui = ritem_find(u, cb), *ci = ritem_find(c, ub);
    if (strcmp(type, "subscribe") == 0) {
        if (ui == NULL && (ui = ritem_add(u, cb)) == NULL)
            return;
        if (!(ui->sub & SUB_TO) && !ui->ask) {
            ui->ask = 1;
            push(r, u, ui, 0);
        }
        if (ci != NULL && (ci->sub & SUB_FROM)) { /* already approved */
            presence_to(r, uname, "subscribed", cb);
            return;
        }
        if (ci == NULL && (ci = ritem_add(c, ub)) == NULL)
            return;
        ci->pending_in = 1; /* delivered now, and again at the next login */
        presence_to(r, cname, "subscribe", ub);
    } else if (strcmp(type, "subscribed") == 0) {
        /* u approves c's request to see u. */
        if (ui == NULL || !ui->pending_in)
            return; /* no pre-approval */
        ui->pending_in = 0;
        ui->sub |= SUB_FROM;
        push(r, u, ui, 0);
        if (ci != NULL && ci->ask) {
            ci->ask = 0;
            ci->sub |= SUB_TO;
            push(r, c, ci, 0);
        }
        presence_to(r, cname, "subscribed", ub);
        current_presence(r, uname, cname);
    } else if (strcmp(type, "unsubscribe") == 0) {
        if (ui != NULL && ((ui->sub & SUB_TO) || ui->ask)) {
            ui->sub &= ~SUB_TO;
            ui->ask = 0;
            push(r, u, ui, 0);
        }
        if (ci != NULL && ((ci->sub & SUB_FROM) || ci->pending_in)) {
            ci->sub &= ~SUB_FROM;
            ci->pending_in = 0;
            push(r, c, ci, 0);
            presence_to(r, cname, "unsubscribe", ub);
            for (struct sess *s = first_of(r, cname); s; s = s->next_user)
                if (s->available && strcmp(s->user, cname) == 0)
                    presence_to(r, uname, "unavailable", s->jid);
        }
    } else if (strcmp(type, "unsubscribed") == 0) {
        /* u cancels c's subscription to u (or refuses a request). */
        if (ui != NULL && ((ui->sub & SUB_FROM) || ui->pending_in)) {
            ui->sub &= ~SUB_FROM;
            ui->pending_in = 0;
            push(r, u, ui, 0);
        }
        if (ci != NULL && ((ci->sub & SUB_TO) || ci->ask)) {
            ci->sub &= ~SUB_TO;
            ci->ask = 0;
            push(r, c, ci, 0);
            presence_to(r, cname, "unsubscribed", ub);
            for (struct sess *s = first_of(r, uname); s; s = s->next_user)
                if (s->available && strcmp(s->user, uname) == 0)
                    presence_to(r, cname, "unavailable", s->jid);
        }
    }
}

/* The same, then both items (as they are now) are written through. */
static void subscription(struct router *r, const char *uname, const char *type, const char *cname)
{
    subscription_apply(r, uname, type, cname);
    struct user *u = find_user(r, uname), *c = find_user(r, cname);
    if (r->st == NULL || u == NULL || c == NULL || strcmp(uname, cname) == 0)
        return;
    char ub[JID_PART_MAX + 300], cb[JID_PART_MAX + 300];
    bare_of(r, uname, ub, sizeof ub);
    bare_of(r, cname, cb, sizeof cb);
    struct ritem *ui = ritem_find(u, cb), *ci = ritem_find(c, ub);
    if (ui != NULL)
        save_item(r, u, ui, NULL);
    if (ci != NULL)
        save_item(r, c, ci, NULL);
}

static void roster_set(struct router *r, struct sess *from, const struct st *t)
{
    struct user *u = find_user(r, from->user);
    const char *f[64];
    size_t nf = 0;
    for (size_t off = 0; t->item != NULL && off < t->ilen && nf < 64;) {
        const char *z = memchr(t->item + off, 0, t->ilen - off);
        if (z == NULL)
            break;
        f[nf++] = t->item + off;
        off = (size_t)(z - t->item) + 1;
    }
    /* Exactly one item with a bare JID; a subscription other than remove
     * is ignored (RFC 6121 §2.1.2.5). */
    struct jid j;
    if (((t->flags >> 8) & 255) != 1 || nf < 3 || jid_parse(f[0], &j) < 0 || j.res[0] != 0) {
        error_reply(r, from, "iq", t->id, t->to, "modify", "bad-request");
        return;
    }
    if (u == NULL) {
        error_reply(r, from, "iq", t->id, t->to, "wait", "internal-server-error");
        return;
    }
    char bare[2 * JID_PART_MAX + 2];
    snprintf(bare, sizeof bare, "%s%s%s", j.local, j.local[0] ? "@" : "", j.domain);
    struct ritem *it = ritem_find(u, bare);
    if (strcmp(f[2], "remove") == 0) {
        if (it == NULL) {
            error_reply(r, from, "iq", t->id, t->to, "modify", "item-not-found");
            return;
        }
        iq_result(r, from, t->id, t->to, NULL);
        /* RFC 6121 §2.5.2: cancel both directions first. */
        if (j.local[0] != 0 && strcmp(j.domain, r->domain) == 0) {
            subscription(r, u->name, "unsubscribe", j.local);
            subscription(r, u->name, "unsubscribed", j.local);
        }
        it = ritem_find(u, bare);
        if (it != NULL) {
            push(r, u, it, 1);
            ritem_remove(u, it);
            save_item(r, u, NULL, bare);
        }
        return;
    }
    if (it == NULL && (it = ritem_add(u, bare)) == NULL) {
        error_reply(r, from, "iq", t->id, t->to, "wait", "resource-constraint");
        return;
    }
    free(it->name);
    it->name = f[1][0] ? strdup(f[1]) : NULL;
    free(it->groups);
    it->groups = NULL;
    it->glen = 0;
    if (nf > 3) {
        size_t glen = (size_t)(f[nf - 1] + strlen(f[nf - 1]) + 1 - f[3]);
        it->groups = malloc(glen);
        if (it->groups != NULL) {
            memcpy(it->groups, f[3], glen);
            it->glen = glen;
        }
    }
    iq_result(r, from, t->id, t->to, NULL);
    push(r, u, it, 0);
    save_item(r, u, it, NULL);
}

/* Presence `xml` from session `s` to its contacts with a from/both
 * subscription (their available resources). */
static void to_contacts(struct router *r, const struct sess *s, const char *xml, size_t len)
{
    struct user *u = r->dir ? find_user(r, s->user) : NULL;
    for (struct ritem *it = u ? u->roster : NULL; it; it = it->next) {
        struct jid j;
        if ((it->sub & SUB_FROM) && jid_parse(it->jid, &j) == 0 &&
            strcmp(j.domain, r->domain) == 0 && j.local[0] != 0 && block_free(r, s, j.local, ""))
            to_available(r, j.local, xml, len);
    }
}

/* At initial presence: the contacts' presence (probes resolved locally) and
 * the subscription requests waiting, to this session only (§4.2.2, §3.1.3). */
static void initial_presence(struct router *r, struct sess *s)
{
    struct user *u = r->dir ? find_user(r, s->user) : NULL;
    for (struct ritem *it = u ? u->roster : NULL; it; it = it->next) {
        struct jid j;
        if (jid_parse(it->jid, &j) < 0 || strcmp(j.domain, r->domain) != 0 || j.local[0] == 0 ||
            !block_free(r, s, j.local, ""))
            continue;
        if (it->sub & SUB_TO)
            for (struct sess *c = first_of(r, j.local); c; c = c->next_user)
                if (c->available && c->last != NULL && strcmp(c->user, j.local) == 0)
                    deliver(r, s, c->last, c->last_len);
        if (it->pending_in) {
            xbuf_t b = {0};
            xb_str(&b, "<presence type='subscribe'");
            attr(&b, "from", it->jid);
            xb_str(&b, "/>");
            deliver_buf(r, s, &b);
        }
    }
}

static void route_presence(struct router *r, struct sess *from, struct st *t, const struct jid *j)
{
    if (t->to[0] == 0) {
        if (t->type[0] == 0) {
            int initial = !from->available;
            from->available = 1;
            from->prio = atoi(t->prio);
            if (from->prio < -128 || from->prio > 127)
                from->prio = 0;
            char *last = malloc(t->xlen);
            if (last != NULL) {
                memcpy(last, t->xml, t->xlen);
                free(from->last);
                from->last = last;
                from->last_len = t->xlen;
            }
            to_available(r, from->user, t->xml, t->xlen);
            to_contacts(r, from, t->xml, t->xlen);
            if (initial)
                initial_presence(r, from);
            /* Offline messages, in order, once (XEP-0160 §5). */
            if (initial && from->prio >= 0)
                flush_offline(r, from);
        } else if (is_type(t, "unavailable")) {
            to_available(r, from->user, t->xml, t->xlen);
            to_contacts(r, from, t->xml, t->xlen);
            to_directed(r, from);
            muc_gone(r, from);
            from->available = 0;
        }
        return; /* other types without a to: nothing to do */
    }
    if (j == NULL || strcmp(j->domain, r->domain) != 0 || j->local[0] == 0)
        return; /* presence is never answered with an error */
    if (!block_free(r, from, j->local, j->res)) {
        r->refused++; /* dropped, subscriptions too (XEP-0191 §3.5) */
        return;
    }
    if (t->type[0] == 0 || is_type(t, "unavailable")) {
        /* Directed presence: remembered, so that the target hears when
         * this session goes (RFC 6121 §4.6.3). */
        xbuf_t tb = {0};
        xb_str(&tb, j->local);
        xb_str(&tb, "@");
        xb_str(&tb, j->domain);
        if (j->res[0]) {
            xb_str(&tb, "/");
            xb_str(&tb, j->res);
        }
        xb_add(&tb, "", 1);
        const char *target = tb.failed ? "" : tb.p;
        unsigned k = 0;
        while (k < from->ndirected && strcmp(from->directed[k], target) != 0)
            k++;
        if (t->type[0] == 0 && k == from->ndirected && k < DIRECTED_MAX &&
            (from->directed[k] = strdup(target)) != NULL)
            from->ndirected++;
        if (is_type(t, "unavailable") && k < from->ndirected) {
            free(from->directed[k]);
            from->directed[k] = from->directed[--from->ndirected];
        }
        xb_free(&tb);
        if (j->res[0] != 0) {
            struct sess *s = find_full(r, j->local, j->res);
            if (s != NULL)
                deliver(r, s, t->xml, t->xlen);
        } else {
            to_available(r, j->local, t->xml, t->xlen);
        }
    }
    if (r->dir != NULL && (is_type(t, "subscribe") || is_type(t, "subscribed") ||
                           is_type(t, "unsubscribe") || is_type(t, "unsubscribed")))
        subscription(r, from->user, t->type, j->local);
    /* Probes from clients: answered by the initial presence already. */
}

/* ------------------------------------------------------------ blocklist commands */

static void blocklist_get(struct router *r, struct sess *from, const struct st *t)
{
    struct user *u = r->dir ? find_user(r, from->user) : NULL;
    from->block_interested = 1;
    xbuf_t b = {0};
    xb_str(&b, "<blocklist xmlns='" NS_BLOCKING "'>");
    for (const struct bitem *it = u ? u->blocked : NULL; it; it = it->next) {
        xb_str(&b, "<item");
        attr(&b, "jid", it->jid);
        xb_str(&b, "/>");
    }
    xb_str(&b, "</blocklist>");
    xb_add(&b, "", 1); /* a C string */
    if (!b.failed)
        iq_result(r, from, t->id, t->to, b.p);
    else
        error_reply(r, from, "iq", t->id, t->to, "wait", "resource-constraint");
    xb_free(&b);
}

static void save_block(struct router *r, const struct user *u, const char *jid, int removed)
{
    struct xmsg m = {.h = {S_BLOCK, 0, 0, removed != 0}};
    xmsg_adds(&m, u->name);
    xmsg_adds(&m, jid);
    store_tell(r, &m);
}

/* What a block or unblock of `b` means for presence (XEP-0191 §3.3, §3.4):
 * the local contacts covered that are subscribed to u's presence see u go
 * unavailable (block), or get its current presence again (unblock); after
 * an unblock, u's resources get the presence of the contacts it is
 * subscribed to. */
static void block_presence(struct router *r, struct user *u, const struct bitem *b, int block)
{
    for (struct ritem *it = u->roster; it; it = it->next) {
        struct jid c;
        if (jid_parse(it->jid, &c) < 0 || strcmp(c.domain, r->domain) != 0 || c.local[0] == 0 ||
            !covers(b, c.local, c.domain, "") ||
            (!block && blocks(r, u->name, c.local, c.domain, "")))
            continue;
        for (struct sess *s = first_of(r, u->name); s; s = s->next_user) {
            if (!s->available || strcmp(s->user, u->name) != 0 || !(it->sub & SUB_FROM))
                continue;
            if (block)
                presence_to(r, c.local, "unavailable", s->jid);
            else if (s->last != NULL && !blocks(r, c.local, u->name, r->domain, s->res))
                to_available(r, c.local, s->last, s->last_len);
        }
        if (!block && (it->sub & SUB_TO) && !blocks(r, c.local, u->name, r->domain, ""))
            current_presence(r, c.local, u->name);
    }
}

/* A blocklist push (XEP-0191 §3.3) to every resource of u that asked for
 * the list: `items` the changed items' XML ("" for an unblock of all). */
static void block_push(struct router *r, struct user *u, const char *el, const xbuf_t *items)
{
    static uint64_t n;
    for (struct sess *s = first_of(r, u->name); s; s = s->next_user) {
        if (!s->block_interested || strcmp(s->user, u->name) != 0)
            continue;
        xbuf_t b = {0};
        xb_fmt(&b, "<iq type='set' id='block%llu'", (unsigned long long)++n);
        attr(&b, "to", s->jid);
        if (items->len == 0) {
            xb_fmt(&b, "><%s xmlns='" NS_BLOCKING "'/></iq>", el);
        } else {
            xb_fmt(&b, "><%s xmlns='" NS_BLOCKING "'>", el);
            xb_add(&b, items->p, items->len);
            xb_fmt(&b, "</%s></iq>", el);
        }
        deliver_buf(r, s, &b);
    }
}

/* <block/> or <unblock/> (XEP-0191 §3.3-§3.5): every item is checked
 * before any is applied; an unblock without items unblocks everything. */
static void block_set(struct router *r, struct sess *from, const struct st *t, int block)
{
    struct user *u = find_user(r, from->user);
    unsigned n = (t->flags >> 8) & 255;
    struct jid j;
    if (u == NULL) {
        error_reply(r, from, "iq", t->id, t->to, "cancel", "service-unavailable");
        return;
    }
    if ((block && n == 0) || n == 255) {
        error_reply(r, from, "iq", t->id, t->to, "modify", "bad-request");
        return;
    }
    const char *p = t->item, *end = t->item ? t->item + t->ilen : NULL;
    unsigned k = 0;
    for (; k < n && p != NULL && p < end; k++) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        if (z == NULL)
            break;
        if (jid_parse(p, &j) < 0) {
            error_reply(r, from, "iq", t->id, t->to, "modify", "jid-malformed");
            return;
        }
        p = z + 1;
    }
    if (k != n) {
        error_reply(r, from, "iq", t->id, t->to, "modify", "bad-request");
        return;
    }
    if (block && u->nblocked + n > BLOCK_MAX) {
        error_reply(r, from, "iq", t->id, t->to, "wait", "resource-constraint");
        return;
    }
    iq_result(r, from, t->id, t->to, NULL);
    xbuf_t items = {0};
    if (!block && n == 0) {
        while (u->blocked != NULL) {
            struct bitem *b = u->blocked;
            save_block(r, u, b->jid, 1);
            block_unlink(r, u, b);
            block_presence(r, u, b, 0);
            free(b);
        }
        block_push(r, u, "unblock", &items);
        return;
    }
    p = t->item;
    for (k = 0; k < n; k++, p += strlen(p) + 1) {
        char norm[3 * (JID_PART_MAX + 1)];
        (void)jid_parse(p, &j); /* checked above */
        jid_norm(&j, norm, sizeof norm);
        int added = 0;
        struct bitem *b = NULL;
        if (block) {
            b = block_add(r, u, &j, &added);
            if (b == NULL || !added)
                continue; /* no memory, or already there */
            save_block(r, u, b->jid, 0);
            block_presence(r, u, b, 1);
        } else {
            for (b = u->blocked; b && strcmp(b->jid, norm) != 0; b = b->next)
                ;
            if (b == NULL)
                continue;
            save_block(r, u, b->jid, 1);
            block_unlink(r, u, b);
            block_presence(r, u, b, 0);
            free(b);
        }
        xb_str(&items, "<item");
        attr(&items, "jid", norm);
        xb_str(&items, "/>");
    }
    if (!items.failed && items.len > 0)
        block_push(r, u, block ? "block" : "unblock", &items);
    xb_free(&items);
}

static void server_iq(struct router *r, struct sess *from, struct st *t, const struct jid *j)
{
    int get = is_type(t, "get"), set = is_type(t, "set");
    int to_domain = j != NULL && j->local[0] == 0;
    const char *ns = t->pns;
    if (strcmp(ns, NS_PING) == 0 && strcmp(t->pname, "ping") == 0 && get) {
        iq_result(r, from, t->id, t->to, NULL);
    } else if (strcmp(ns, NS_ROSTER) == 0 && strcmp(t->pname, "query") == 0) {
        if (get && r->dir != NULL)
            roster_get(r, from, t);
        else if (get)
            iq_result(r, from, t->id, t->to, "<query xmlns='" NS_ROSTER "'/>");
        else if (r->dir != NULL)
            roster_set(r, from, t);
        else
            error_reply(r, from, "iq", t->id, t->to, "cancel", "feature-not-implemented");
    } else if (strcmp(ns, NS_DISCO_INFO) == 0 && strcmp(t->pname, "query") == 0 && get) {
        if (t->node[0] != 0)
            error_reply(r, from, "iq", t->id, t->to, "cancel", "item-not-found");
        else if (to_domain)
            iq_result(r, from, t->id, t->to,
                      "<query xmlns='" NS_DISCO_INFO "'>"
                      "<identity category='server' type='im' name='eactors'/>"
                      "<feature var='" NS_DISCO_INFO "'/><feature var='" NS_DISCO_ITEMS "'/>"
                      "<feature var='" NS_PING "'/><feature var='msgoffline'/>"
                      "<feature var='" NS_CARBONS "'/><feature var='" NS_BLOCKING "'/>"
                      "<feature var='" NS_VERSION "'/></query>");
        else
            iq_result(r, from, t->id, t->to,
                      "<query xmlns='" NS_DISCO_INFO "'>"
                      "<identity category='account' type='registered'/>"
                      "<feature var='" NS_DISCO_INFO "'/></query>");
    } else if (strcmp(ns, NS_DISCO_ITEMS) == 0 && strcmp(t->pname, "query") == 0 && get) {
        if (t->node[0] != 0)
            error_reply(r, from, "iq", t->id, t->to, "cancel", "item-not-found");
        else if (to_domain && r->muc != NULL) {
            xbuf_t b = {0};
            xb_str(&b, "<query xmlns='" NS_DISCO_ITEMS "'><item");
            attr(&b, "jid", r->muc_domain);
            xb_str(&b, " name='Chatrooms'/></query>");
            xb_add(&b, "", 1);
            if (!b.failed)
                iq_result(r, from, t->id, t->to, b.p);
            xb_free(&b);
        } else
            iq_result(r, from, t->id, t->to, "<query xmlns='" NS_DISCO_ITEMS "'/>");
    } else if (strcmp(ns, NS_VERSION) == 0 && strcmp(t->pname, "query") == 0 && get && to_domain) {
        /* XEP-0092: the software's name and version, no <os/> (§5: an
         * OS and its version help an attacker more than a client). */
        iq_result(r, from, t->id, t->to,
                  "<query xmlns='" NS_VERSION "'><name>eactors-xmpp</name>"
                  "<version>" XMPP_SERVER_VERSION "</version></query>");
    } else if (strcmp(ns, NS_SESSION) == 0 && strcmp(t->pname, "session") == 0 && set) {
        iq_result(r, from, t->id, t->to, NULL);
    } else if (strcmp(ns, NS_CARBONS) == 0 && set &&
               (strcmp(t->pname, "enable") == 0 || strcmp(t->pname, "disable") == 0)) {
        int on = strcmp(t->pname, "enable") == 0;
        if (on != from->carbons)
            r->ncarbons += on ? 1 : (uint64_t)-1;
        from->carbons = on;
        iq_result(r, from, t->id, t->to, NULL);
    } else if (strcmp(ns, NS_BLOCKING) == 0 && strcmp(t->pname, "blocklist") == 0 && get) {
        blocklist_get(r, from, t);
    } else if (strcmp(ns, NS_BLOCKING) == 0 && set && r->dir != NULL &&
               (strcmp(t->pname, "block") == 0 || strcmp(t->pname, "unblock") == 0)) {
        block_set(r, from, t, strcmp(t->pname, "block") == 0);
    } else {
        error_reply(r, from, "iq", t->id, t->to, "cancel", "service-unavailable");
    }
}

static void route_iq(struct router *r, struct sess *from, struct st *t, const struct jid *j)
{
    int req = t->ty == T_GET || t->ty == T_SET;
    if (!req && !is_type(t, "result") && !is_type(t, "error"))
        return; /* c2s checked nothing here: an iq without a valid type is dropped */
    if (req && (t->npay != 1 || t->id[0] == 0)) {
        error_reply(r, from, "iq", t->id, t->to, "modify", "bad-request");
        return;
    }
    if (j != NULL && strcmp(j->domain, r->domain) != 0) {
        if (req)
            error_reply(r, from, "iq", t->id, t->to, "cancel", "remote-server-not-found");
        return;
    }
    /* For the server: no to, the domain, or a bare JID (handled by the
     * server on the account's behalf, RFC 6121 §8.5.1/§8.5.2). */
    if (j == NULL || j->res[0] == 0) {
        if (!req)
            return; /* results and errors to the server: push acks etc. */
        /* Another account: only its disco#info is answered (if it exists). */
        if (j != NULL && j->local[0] != 0 && strcmp(j->local, from->user) != 0 &&
            (!exists(r, j->local) || strcmp(t->pns, NS_DISCO_INFO) != 0)) {
            error_reply(r, from, "iq", t->id, t->to, "cancel", "service-unavailable");
            return;
        }
        if (j != NULL && j->local[0] != 0 && block_stop(r, from, t, j))
            return;
        server_iq(r, from, t, j);
        return;
    }
    if (block_stop(r, from, t, j))
        return;
    struct sess *s = find_full_h(r, j->local, j->lhash, j->res);
    if (s != NULL)
        deliver(r, s, t->xml, t->xlen);
    else if (req)
        error_reply(r, from, "iq", t->id, t->to, "cancel", "service-unavailable");
}

/* xmsg_str for the short fields of every stanza: copies field i into buf
 * as a C string, checking for a NUL on the way (one pass, no library
 * calls); -1 (and buf "") if absent, too long or holding a NUL. */
static int field_str(const struct xmsg *m, unsigned i, char *buf, size_t cap)
{
    if (i >= m->n || m->fl[i] >= cap)
        return -1;
    const char *p = m->f[i];
    size_t n = m->fl[i];
    for (size_t k = 0; k < n; k++) {
        if (p[k] == 0) {
            buf[0] = 0;
            return -1;
        }
        buf[k] = p[k];
    }
    buf[n] = 0;
    return 0;
}

static void park(struct router *r, struct sess *s, const struct xmsg *m, int held, uint32_t ref);

/* Stanza m from session `from`, held by its c2s as `ref` if `held`; `gone`:
 * its bytes were asked for and will not come (the sender gets an error
 * where one is due). */
static void route_stanza(struct router *r, struct sess *from, const struct xmsg *m, int held,
                         uint32_t ref, int gone)
{
    struct st t;
    t.link = from->link;
    t.held = held;
    t.ref = ref;
    /* Not a memset of the 5 KiB: each string is written whole by
     * xmsg_str, and empty until then. */
    t.kind[0] = t.type[0] = t.to[0] = t.id[0] = t.pns[0] = t.pname[0] = t.node[0] = t.prio[0] = 0;
    t.xml = t.item = NULL;
    t.xlen = t.ilen = 0;
    t.npay = 0;
    t.flags = 0;
    if (field_str(m, 0, t.kind, sizeof t.kind) < 0 || field_str(m, 1, t.type, sizeof t.type) < 0 ||
        field_str(m, 2, t.to, sizeof t.to) < 0 || field_str(m, 3, t.id, sizeof t.id) < 0 ||
        field_str(m, 4, t.pns, sizeof t.pns) < 0 || field_str(m, 5, t.pname, sizeof t.pname) < 0 ||
        field_str(m, 6, t.node, sizeof t.node) < 0 || field_str(m, 7, t.prio, sizeof t.prio) < 0) {
        /* Over-long attributes: refuse what can be refused. */
        if (strcmp(t.kind, "presence") != 0 && !is_type(&t, "error") && !is_type(&t, "result"))
            error_reply(r, from, strcmp(t.kind, "iq") == 0 ? "iq" : "message", NULL, NULL, "modify",
                        "bad-request");
        return;
    }
    /* c2s sends only these three: anything else is not answered (an
     * error reply would be named after it). */
    t.k = kind_code(t.kind, m->fl[0]);
    t.ty = type_code(t.type, m->fl[1]);
    if (t.k == K_OTHER)
        return;
    if (gone) {
        if ((t.k == K_MESSAGE && t.ty != T_ERROR) ||
            (t.k == K_IQ && (t.ty == T_GET || t.ty == T_SET)))
            error_reply(r, from, t.kind, t.id, t.to, "wait", "resource-constraint");
        return;
    }
    t.xml = m->f[8];
    t.xlen = m->fl[8];
    t.npay = m->h.a;
    t.flags = m->h.b;
    if (m->n >= 11) {
        t.item = m->f[10];
        t.ilen = m->fl[10];
    }
    struct jid j;
    int has_to = t.to[0] != 0;
    if (has_to && jid_parse_n(t.to, m->fl[2], &j) < 0) {
        if (t.k != K_PRESENCE && t.ty != T_ERROR && t.ty != T_RESULT)
            error_reply(r, from, t.kind, t.id, t.to, "modify", "jid-malformed");
        return;
    }
    if (t.k == K_MESSAGE && !has_to) { /* to the sender's own bare JID (RFC 6120 §10.3.1) */
        memset(&j, 0, sizeof j);
        snprintf(j.local, sizeof j.local, "%s", from->user);
        snprintf(j.domain, sizeof j.domain, "%s", r->domain);
        j.lhash = fnv(j.local, strlen(j.local));
    }
    int muc = has_to && r->muc != NULL && strcmp(j.domain, r->muc_domain) == 0;
    /* Held without its bytes (the c2s sends a message so): routed here by
     * reference if it can be; else asked for, and this session's stanzas
     * wait (park). Only messages are held; anything else is asked for. */
    if (t.held && t.xlen == 0) {
        int need = t.k != K_MESSAGE ||
                   (muc ? !(r->nblocked != 0 && blocks(r, from->user, j.local, j.domain, j.res))
                        : message_needs_bytes(r, from, &t, &j));
        if (need) {
            park(r, from, m, held, ref);
            return;
        }
    }
    if (muc) {
        /* XEP-0191 §3.6: a room (or occupant, or the service) the sender
         * blocks gets nothing; a message or request is answered with
         * not-acceptable + <blocked/>. */
        if (r->nblocked != 0 && blocks(r, from->user, j.local, j.domain, j.res)) {
            r->refused++;
            if ((t.k == K_MESSAGE && t.ty != T_ERROR) ||
                (t.k == K_IQ && (t.ty == T_GET || t.ty == T_SET)))
                error_reply_app(r, from, t.kind, t.id, t.to, "cancel", "not-acceptable",
                                "<blocked xmlns='" NS_BLOCKING ":errors'/>");
            return;
        }
        struct xmsg f = {.h = {M_STANZA, 0, 0, 0}};
        xmsg_adds(&f, from->jid);
        xmsg_add(&f, t.xml, t.xlen);
        if (outq_send(&r->muc_out, &f) == 0)
            from->muc = 1;
        else if (t.k != K_PRESENCE && t.ty != T_ERROR && t.ty != T_RESULT)
            error_reply(r, from, t.kind, t.id, t.to, "wait", "resource-constraint");
        return;
    }
    if (t.k == K_MESSAGE) {
        route_message(r, from, &t, &j);
    } else if (t.k == K_PRESENCE) {
        route_presence(r, from, &t, has_to ? &j : NULL);
    } else {
        route_iq(r, from, &t, has_to ? &j : NULL);
    }
}

/* ------------------------------------------------------------ parked stanzas
 * Order (RFC 6120 §10.1) when a held stanza's bytes must be fetched: the
 * router asks (R_RESEND N) and parks it, with every later stanza of the
 * same session (asking for each held one too), until the answers come
 * (R_BYTES, one per request, in order); then they are routed in the order
 * they came. Other sessions go on meanwhile. The c2s keeps N: the
 * R_HELD_DONE for its link stays below the first stanza still waiting for
 * its bytes (router_body). A close or kick meanwhile waits for them
 * (detach); the stop drops them. See ARCHITECTURE.md. */

/* Routes what is parked for s up to the first stanza still waiting. */
static void unpark(struct router *r, struct sess *s)
{
    while (s->pk_head != NULL && !s->pk_head->wait) {
        struct pk *k = s->pk_head;
        s->pk_head = k->next;
        if (s->pk_head == NULL)
            s->pk_tail = NULL;
        s->npk--;
        s->pk_bytes -= k->len + k->blen;
        struct xmsg m;
        if (xmsg_parse(&m, k->msg, k->len) == 0) {
            if (k->ask) {
                m.f[8] = k->bytes != NULL ? k->bytes : "";
                m.fl[8] = (uint32_t)k->blen;
            }
            route_stanza(r, s, &m, 0, 0, k->gone); /* by value now: never parks */
        }
        free(k->bytes);
        free(k);
    }
    if (s->pk_head != NULL)
        return;
    unlist_parked(r, s);
    if (s->close_pending)
        closed(r, s->link, s->conn); /* frees s */
}

/* Parks stanza m of session s (behind the ones parked already); asks for
 * its bytes if it is held without them. Over the session's bounds it is
 * refused (an error reply where one is due) instead. */
static void park(struct router *r, struct sess *s, const struct xmsg *m, int held, uint32_t ref)
{
    size_t len = xmsg_size(m);
    int ask = held && m->fl[8] == 0;
    struct pk *k =
        s->npk < PARK_MAX && s->pk_bytes + len <= PARK_BYTES_MAX ? malloc(sizeof *k + len) : NULL;
    if (k == NULL) {
        route_stanza(r, s, m, 0, 0, 1);
        return;
    }
    *k = (struct pk){.ref = ref, .ask = ask, .wait = ask, .len = len};
    xmsg_write(m, k->msg);
    if (s->pk_tail != NULL) {
        s->pk_tail->next = k;
    } else {
        s->pk_head = k;
        s->next_parked = r->parked;
        r->parked = s;
    }
    s->pk_tail = k;
    s->npk++;
    s->pk_bytes += len;
    if (ask) {
        struct xmsg q = {.h = {R_RESEND, s->conn, ref, 0}};
        if (outq_send(&r->out[s->link], &q) == 0) {
            r->resends++;
        } else {
            k->wait = 0;
            k->gone = 1;
            unpark(r, s);
        }
    }
}

/* R_BYTES from link: the answer to an R_RESEND. One that matches no
 * stanza waiting (late: the session went; or forged) is ignored. */
static void got_bytes(struct router *r, unsigned link, const struct xmsg *m)
{
    struct sess *s = find_conn(r, link, m->h.conn);
    struct pk *k = s != NULL ? s->pk_head : NULL;
    while (k != NULL && !(k->wait && k->ref == m->h.a))
        k = k->next;
    if (k == NULL) {
        r->bad_bytes++;
        return;
    }
    /* Answers come in the order asked: one asked before and still waiting
     * will not come. */
    for (struct pk *e = s->pk_head; e != k; e = e->next)
        if (e->wait) {
            e->wait = 0;
            e->gone = 1;
            r->bad_bytes++;
        }
    k->wait = 0;
    if ((m->h.b & 1) || m->n < 1 || m->fl[0] == 0 || (k->bytes = malloc(m->fl[0])) == NULL) {
        k->gone = 1;
        r->bytes_refused++;
    } else {
        memcpy(k->bytes, m->f[0], m->fl[0]);
        k->blen = m->fl[0];
        s->pk_bytes += k->blen;
    }
    r->held_due[link] = 1; /* what the c2s holds for it may go */
    unpark(r, s);
}

static void stanza(struct router *r, unsigned link, const struct xmsg *m)
{
    struct sess *from = find_conn(r, link, m->h.conn);
    int held = m->n >= 10 && m->fl[9] == 4;
    uint32_t ref = 0;
    if (held) { /* whatever happens to it, the c2s may drop it after this round */
        memcpy(&ref, m->f[9], 4);
        r->held[link] = ref;
        r->held_due[link] = 1;
    }
    if (from == NULL || m->n < 9)
        return;
    if (from->pk_head != NULL) /* behind one whose bytes are on their way */
        park(r, from, m, held, ref);
    else
        route_stanza(r, from, m, held, ref, 0);
}

/* ------------------------------------------------------------ store load */

/* What the store kept for `name`, a user the directory does not have (it
 * was deleted): the store forgets it (once per run of its items). */
static struct user *loaded_user(struct router *r, const struct xmsg *m)
{
    char name[JID_PART_MAX + 1];
    if (xmsg_str(m, 0, name, sizeof name) < 0)
        return NULL;
    struct user *u = find_user(r, name);
    if (u == NULL && strcmp(r->forgot, name) != 0) {
        struct xmsg f = {.h = {S_FORGET, 0, 0, 0}};
        xmsg_adds(&f, name);
        store_tell(r, &f);
        snprintf(r->forgot, sizeof r->forgot, "%s", name);
    }
    return u;
}

static void loaded_item(struct router *r, const struct xmsg *m)
{
    char bare[2 * JID_PART_MAX + 2];
    struct user *u = loaded_user(r, m);
    struct ritem *it;
    if (u == NULL || m->n < 4 || xmsg_str(m, 1, bare, sizeof bare) < 0 ||
        (it = ritem_add(u, bare)) == NULL)
        return;
    it->sub = (int)(m->h.a & 3);
    it->ask = (m->h.a >> 2) & 1;
    it->pending_in = (m->h.a >> 3) & 1;
    free(it->name);
    it->name = NULL;
    char name[JID_PART_MAX + 1];
    if (m->fl[2] > 0 && xmsg_str(m, 2, name, sizeof name) == 0)
        it->name = strdup(name);
    free(it->groups);
    it->groups = NULL;
    it->glen = 0;
    /* Groups: NUL-terminated names, as roster_set keeps them. */
    if (m->fl[3] > 0 && m->f[3][m->fl[3] - 1] == 0 && (it->groups = malloc(m->fl[3])) != NULL) {
        memcpy(it->groups, m->f[3], m->fl[3]);
        it->glen = m->fl[3];
    }
}

/* One message from the store actor; at start only (the load). */
static void from_store(struct router *r, const struct xmsg *m)
{
    struct user *u;
    if (m->h.op == S_ROSTER) {
        loaded_item(r, m);
    } else if (m->h.op == S_BLOCK) {
        char jid[3 * (JID_PART_MAX + 1)];
        struct jid j;
        int added;
        if ((u = loaded_user(r, m)) != NULL && m->n >= 2 && u->nblocked < BLOCK_MAX &&
            xmsg_str(m, 1, jid, sizeof jid) == 0 && jid_parse(jid, &j) == 0)
            (void)block_add(r, u, &j, &added);
    } else if (m->h.op == S_OFFLINE) {
        if ((u = loaded_user(r, m)) != NULL && m->n >= 2 && u->n < OFFLINE_MAX &&
            r->offline_bytes + m->fl[1] <= OFFLINE_BYTES_MAX &&
            offline_append(r, u, m->f[1], m->fl[1]) < 0)
            fprintf(stderr, "router: out of memory loading offline messages\n");
    } else if (m->h.op == S_LOADED && !r->st_loaded) {
        r->st_loaded = 1;
        printf("router: store loaded (%u roster items, %u offline messages)\n", m->h.a, m->h.b);
        fflush(stdout);
    }
}

static int router_ctor(ea_actor_t *self, void *state)
{
    struct router *r = state;
    r->domain = ea_param(self, "domain") ? ea_param(self, "domain") : "localhost";
    for (unsigned i = 0; i < ea_conn_count(self); i++) {
        if (strcmp(ea_conn_name(ea_conn_at(self, i)), "dir") == 0) {
            r->dir = ea_conn_at(self, i);
            continue;
        }
        if (strcmp(ea_conn_name(ea_conn_at(self, i)), "st") == 0) {
            r->st = r->st_out.c = ea_conn_at(self, i);
            continue;
        }
        if (strcmp(ea_conn_name(ea_conn_at(self, i)), "muc") == 0) {
            r->muc = r->muc_out.c = ea_conn_at(self, i);
            continue;
        }
        if (r->nlinks == MAX_LINKS)
            return EA_ERR_LIMIT;
        r->links[r->nlinks] = ea_conn_at(self, i);
        r->out[r->nlinks].batch = 1; /* c2s reads X_BATCH */
        r->out[r->nlinks++].c = ea_conn_at(self, i);
    }
    const char *md = ea_param(self, "muc_domain");
    if (md != NULL)
        snprintf(r->muc_domain, sizeof r->muc_domain, "%s", md);
    else
        snprintf(r->muc_domain, sizeof r->muc_domain, "conference.%s", r->domain);
    return r->nlinks > 0 ? EA_OK : EA_ERR_NOTFOUND;
}

static int router_body(ea_actor_t *self, void *state)
{
    struct router *r = state;
    if (ea_stopping(self)) {
        /* Every change not handed to the store yet goes first, then S_END,
         * so that the store syncs all of them before it ends (bounded: a
         * store that takes nothing for STOP_WAIT_NS is given up on). */
        if (r->st != NULL && r->st_loaded) {
            if (!r->end_sent) {
                struct xmsg e = {.h = {S_END, 0, 0, 0}};
                store_tell(r, &e);
                r->end_sent = 1;
                r->stop_at = ea_now_ns();
            }
            if (outq_flush(&r->st_out) != 0) {
                if (ea_now_ns() - r->stop_at < STOP_WAIT_NS)
                    return EA_BUSY;
                fprintf(stderr,
                        "router: %zu bytes of changes not handed to the store at the stop\n",
                        r->st_out.queued);
            }
        }
        for (unsigned b = 0; b < BUCKETS; b++)
            while (r->by_user[b] != NULL)
                unlink_sess(r, r->by_user[b]);
        while (r->parked != NULL) /* closed, waiting for bytes (closed()) */
            unlink_sess(r, r->parked);
        for (unsigned b = 0; b < BUCKETS; b++)
            while (r->vouches[b] != NULL) {
                struct vouch *v = r->vouches[b];
                r->vouches[b] = v->next;
                free(v);
            }
        while (r->pbinds != NULL) {
            struct pbind *p = r->pbinds;
            r->pbinds = p->next;
            free(p);
        }
        for (unsigned i = 0; i < r->nlinks; i++)
            outq_clear(&r->out[i]);
        outq_clear(&r->muc_out);
        outq_clear(&r->st_out);
        for (unsigned b = 0; b < BUCKETS; b++)
            while (r->users[b] != NULL) {
                struct user *u = r->users[b];
                while (u->head) {
                    struct omsg *o = u->head;
                    u->head = o->next;
                    free(o);
                }
                while (u->roster) {
                    struct ritem *it = u->roster;
                    u->roster = it->next;
                    ritem_free(it);
                }
                while (u->blocked) {
                    struct bitem *bi = u->blocked;
                    u->blocked = bi->next;
                    free(bi);
                }
                r->users[b] = u->next;
                free(u);
            }
        printf("%s: %llu stanzas delivered, %llu error replies, %llu messages stored offline, "
               "%llu stopped by a blocklist\n",
               ea_name(self), (unsigned long long)r->routed, (unsigned long long)r->errors,
               (unsigned long long)r->stored, (unsigned long long)r->refused);
        printf("%s: %llu of those deliveries by reference; %llu held stanzas' bytes asked "
               "for, %llu refused, %llu answers matching no request\n",
               ea_name(self), (unsigned long long)r->by_ref, (unsigned long long)r->resends,
               (unsigned long long)r->bytes_refused, (unsigned long long)r->bad_bytes);
        fflush(stdout);
        return EA_DONE;
    }
    int busy = 0;
    for (unsigned i = 0; i < r->nlinks; i++)
        busy |= outq_flush(&r->out[i]);
    busy |= outq_flush(&r->muc_out);
    busy |= outq_flush(&r->st_out);
    for (int n = 0; r->muc != NULL && n < 256; n++) {
        ea_cargo_t cg;
        struct xmsg m;
        if (ea_cargo_recv(r->muc, &cg) != EA_OK)
            break;
        if (xmsg_parse(&m, cg.data, cg.len) == 0 && m.h.op == M_DELIVER)
            muc_deliver(r, &m);
        ea_cargo_release(&cg);
        if (n == 255)
            busy = 1;
    }
    for (int n = 0; r->dir != NULL && n < 256; n++) {
        ea_cargo_t cg;
        struct xmsg m;
        if (ea_cargo_recv(r->dir, &cg) != EA_OK)
            break;
        if (xmsg_parse(&m, cg.data, cg.len) == 0) {
            if (m.h.op == R_USERS)
                directory(r, &m);
            else if (m.h.op == A_VOUCH)
                add_vouch(r, &m);
        }
        ea_cargo_release(&cg);
        if (n == 255)
            busy = 1;
    }
    /* The store's load, after the directory (it names who still exists);
     * clients wait for both. */
    for (int n = 0; r->st != NULL && (r->dir == NULL || r->dir_done) && n < 256; n++) {
        ea_cargo_t cg;
        struct xmsg m;
        if (ea_cargo_recv(r->st, &cg) != EA_OK)
            break;
        if (xmsg_parse(&m, cg.data, cg.len) == 0)
            from_store(r, &m);
        ea_cargo_release(&cg);
        if (n == 255)
            busy = 1;
    }
    if (r->st != NULL && !r->st_loaded)
        return busy ? EA_BUSY : EA_IDLE;
    if (r->npbinds > 0 || r->nvouches > 0)
        pending_binds(r);
    for (unsigned i = 0; i < r->nlinks; i++) {
        for (int n = 0; n < 256; n++) {
            ea_cargo_t cg;
            if (ea_cargo_recv(r->links[i], &cg) != EA_OK)
                break;
            struct xiter it;
            struct xmsg m;
            xiter_init(&it, cg.data, cg.len);
            while (xiter_next(&it, &m)) {
                if (m.h.op == R_BIND)
                    do_bind(r, i, &m);
                else if (m.h.op == R_STANZA)
                    stanza(r, i, &m);
                else if (m.h.op == R_CLOSED)
                    closed(r, i, m.h.conn);
                else if (m.h.op == R_BYTES)
                    got_bytes(r, i, &m);
            }
            ea_cargo_release(&cg);
            if (n == 255)
                busy = 1;
        }
    }
    /* This round's deliveries: one channel message per c2s actor, ending
     * with what its held stanzas may be dropped up to (after every R_REF
     * to them, in the same queue). */
    for (unsigned i = 0; i < r->nlinks; i++) {
        if (r->held_due[i]) {
            /* Not past a stanza whose bytes are still asked for (park). */
            uint32_t upto = r->held[i];
            for (const struct sess *s = r->parked; s != NULL; s = s->next_parked)
                for (const struct pk *k = s->link == i ? s->pk_head : NULL; k; k = k->next)
                    if (k->wait) {
                        if ((int32_t)(upto - (k->ref - 1)) > 0)
                            upto = k->ref - 1;
                        break;
                    }
            struct xmsg d = {.h = {R_HELD_DONE, 0, upto, 0}};
            /* (the same as the last: nothing new; lost, no memory: a later
             * one covers it) */
            if ((!r->done_any[i] || upto != r->done_sent[i]) && outq_send(&r->out[i], &d) == 0) {
                r->done_sent[i] = upto;
                r->done_any[i] = 1;
            }
            r->held_due[i] = 0;
        }
        busy |= outq_flush(&r->out[i]);
    }
    return busy ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(xmpp_router, struct router, router_ctor, router_body);
