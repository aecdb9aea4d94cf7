/*
 * xmpp_store: the store enclave. It alone keeps what must outlive a
 * restart of the router: roster items (with their subscription state) and
 * offline messages, in a persistent EOS store (`<store>` of the deployment:
 * a file, encrypted with a key sealed to this image, bound to a monotonic
 * counter at each sync, so a modified record or header and a file put back
 * from an older sync are refused when the server starts).
 *
 * Design notes. The router keeps its own copy of rosters and offline
 * messages in memory (the hot path never waits for this enclave) and
 * writes each change through to here over the AEAD channel "st", in the
 * order it made them (proto.h: S_ROSTER, S_OFFLINE, S_OFFLINE_DEL,
 * S_FORGET). At start this actor sends every kept item and message to the
 * router once, then S_LOADED; the router serves no client before that, so
 * a client never sees a roster from before the load. Each step applies
 * what arrives while it drains the channel (up to 4096 changes), then syncs
 * once (one msync and one counter increment for the batch), so under load
 * a sync covers many changes. What is
 * still in the channel when the server is stopped is applied and synced
 * before this actor ends, and so is what the router hands over while it
 * stops: it sends every change it still holds, then S_END, and this actor
 * waits for that (at most STOP_WAIT_NS) before it ends.
 *
 * Keys: 'r' user NUL contact  -> u32 bits, u32 name length, name, groups
 *       'b' user NUL JID      -> nothing (the user blocks JID, XEP-0191)
 *       'o' user NUL seq (u64 big-endian) -> the message
 * Offline messages of one user have consecutive sequence numbers from 0
 * (all of them are delivered, hence deleted, at once): this actor keeps each
 * user's range [lo, hi) in memory, so a delivery deletes exactly its keys
 * without a walk of the store.
 *
 * Parameter: store (the `<store>` name, default "xmppdata"). Channel: "st"
 * to the router.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_eos.h>
#include <eactors/eactors.h>

#include "proto.h"

#define USER_MAX 1023u
/* At a stop: how long this actor waits for the router's S_END (a little
 * longer than the router tries to send it; within the runtime's 500 ms). */
#define STOP_WAIT_NS (400u * 1000000u)
#define RANGE_BUCKETS 1024u

/* One user's offline messages: sequence numbers lo .. hi-1. */
struct range {
    struct range *next;
    uint64_t lo, hi;
    char user[];
};

/* A message found at load, before it is sorted. */
struct loaded {
    char *user;
    uint64_t seq;
    size_t len;
    char *xml;
};

struct xstore {
    ea_eos_t *db;
    const char *name;
    ea_conn_t *rt;
    struct outq out;
    struct range *ranges[RANGE_BUCKETS];
    struct loaded *ld;
    size_t nld, capld;
    int loaded, failed;
    int ended;        /* S_END came: the router has nothing more */
    uint64_t stop_at; /* when this actor saw the stop */
    uint64_t items, blocks, offline, writes, syncs, sync_ns, errors;
};

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* The range of `user` (n bytes), made empty if missing; NULL: no memory. */
static struct range *range_of(struct xstore *s, const char *user, size_t n)
{
    uint32_t b = hash(user, n) % RANGE_BUCKETS;
    for (struct range *r = s->ranges[b]; r; r = r->next)
        if (strlen(r->user) == n && memcmp(r->user, user, n) == 0)
            return r;
    struct range *r = calloc(1, sizeof *r + n + 1);
    if (r == NULL)
        return NULL;
    memcpy(r->user, user, n);
    r->next = s->ranges[b];
    s->ranges[b] = r;
    return r;
}

/* 'o' user NUL seq: the key of one offline message; its length. */
static size_t okey(char *k, const char *user, size_t n, uint64_t seq)
{
    k[0] = 'o';
    memcpy(k + 1, user, n);
    k[1 + n] = 0;
    for (int i = 0; i < 8; i++)
        k[2 + n + i] = (char)(seq >> (56 - 8 * i));
    return n + 10;
}

/* Says what failed, in words an operator can act on. */
static void report(struct xstore *s, const char *what, int rc)
{
    if (++s->errors > 10) /* a full store would say it for every change */
        return;
    if (rc == EA_ERR_ROLLBACK)
        fprintf(stderr,
                "store: %s: the data store '%s' was rolled back (its file is older than the last "
                "sync): refusing it; put the newest file back, or delete it to start empty\n",
                what, s->name);
    else if (rc == EA_ERR_TAMPERED || rc == EA_ERR_AUTH)
        fprintf(stderr,
                "store: %s: the data store '%s' was modified or is not this image's (%s): "
                "refusing it\n",
                what, s->name, ea_strerror(rc));
    else
        fprintf(stderr, "store: %s: data store '%s': %s%s\n", what, s->name, ea_strerror(rc),
                rc == EA_ERR_NOSPACE ? " (the change is kept in memory until the server stops)"
                                     : "");
    if (s->errors == 10)
        fprintf(stderr, "store: further errors are only counted (see the count at the end)\n");
}

/* ------------------------------------------------------------ load */

static int load_item(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t version)
{
    struct xstore *s = arg;
    const char *k = key, *v = val;
    (void)version;
    const char *z = memchr(k + 1, 0, klen - 1);
    uint32_t bits, nl;
    if (z == NULL || vlen < 8)
        return 0; /* not an item this actor wrote: left alone */
    memcpy(&bits, v, 4);
    memcpy(&nl, v + 4, 4);
    if (nl > vlen - 8)
        return 0;
    struct xmsg m = {.h = {S_ROSTER, 0, bits, 0}};
    xmsg_add(&m, k + 1, (size_t)(z - k - 1));
    xmsg_add(&m, z + 1, klen - (size_t)(z - k) - 1);
    xmsg_add(&m, v + 8, nl);
    xmsg_add(&m, v + 8 + nl, vlen - 8 - nl);
    if (outq_send(&s->out, &m) == 0)
        s->items++;
    return 0;
}

static int load_block(void *arg, const void *key, size_t klen)
{
    struct xstore *s = arg;
    const char *k = key;
    const char *z = memchr(k + 1, 0, klen - 1);
    if (z == NULL || z == k + 1 || (size_t)(z - k) + 1 >= klen)
        return 0;
    struct xmsg m = {.h = {S_BLOCK, 0, 0, 0}};
    xmsg_add(&m, k + 1, (size_t)(z - k - 1));
    xmsg_add(&m, z + 1, klen - (size_t)(z - k) - 1);
    if (outq_send(&s->out, &m) == 0)
        s->blocks++;
    return 0;
}

static int load_offline(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                        uint64_t version)
{
    struct xstore *s = arg;
    const char *k = key;
    (void)version;
    if (klen < 11 || k[klen - 9] != 0 || memchr(k + 1, 0, klen - 10) != NULL)
        return 0;
    if (s->nld == s->capld) {
        size_t cap = s->capld ? 2 * s->capld : 64;
        struct loaded *n = realloc(s->ld, cap * sizeof *n);
        if (n == NULL)
            return EA_ERR_NOMEM;
        s->ld = n;
        s->capld = cap;
    }
    struct loaded *l = &s->ld[s->nld];
    l->user = malloc(klen - 9);
    l->xml = malloc(vlen ? vlen : 1);
    if (l->user == NULL || l->xml == NULL) {
        free(l->user);
        free(l->xml);
        return EA_ERR_NOMEM;
    }
    memcpy(l->user, k + 1, klen - 10);
    l->user[klen - 10] = 0;
    memcpy(l->xml, val, vlen);
    l->len = vlen;
    l->seq = 0;
    for (int i = 0; i < 8; i++)
        l->seq = l->seq << 8 | (uint8_t)k[klen - 8 + i];
    s->nld++;
    return 0;
}

static int by_user_seq(const void *a, const void *b)
{
    const struct loaded *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void free_loaded(struct xstore *s)
{
    for (size_t i = 0; i < s->nld; i++) {
        free(s->ld[i].user);
        free(s->ld[i].xml);
    }
    free(s->ld);
    s->ld = NULL;
    s->nld = s->capld = 0;
}

/* One walk over the store (each record is decrypted to be seen at all, so
 * one walk rather than one per prefix). */
static int load_any(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t version)
{
    const char *k = key;
    if (klen >= 2 && k[0] == 'r')
        return load_item(arg, key, klen, val, vlen, version);
    if (klen >= 2 && k[0] == 'o')
        return load_offline(arg, key, klen, val, vlen, version);
    if (klen >= 2 && k[0] == 'b')
        return load_block(arg, key, klen);
    return 0;
}

/* Sends everything kept to the router, then S_LOADED; 0, or an error. */
static int load(struct xstore *s)
{
    int rc = ea_eos_iter(s->db, NULL, 0, load_any, s);
    if (rc != EA_OK) {
        free_loaded(s);
        return rc;
    }
    if (s->nld > 1)
        qsort(s->ld, s->nld, sizeof *s->ld, by_user_seq);
    for (size_t i = 0; i < s->nld; i++) {
        struct loaded *l = &s->ld[i];
        struct range *r = range_of(s, l->user, strlen(l->user));
        if (r == NULL) {
            free_loaded(s);
            return EA_ERR_NOMEM;
        }
        if (r->hi == r->lo) /* the first one of this user */
            r->lo = l->seq;
        r->hi = l->seq + 1;
        struct xmsg m = {.h = {S_OFFLINE, 0, 0, 0}};
        xmsg_adds(&m, l->user);
        xmsg_add(&m, l->xml, l->len);
        if (outq_send(&s->out, &m) == 0)
            s->offline++;
    }
    free_loaded(s);
    struct xmsg m = {.h = {S_LOADED, 0, (uint32_t)s->items, (uint32_t)s->offline}};
    (void)outq_send(&s->out, &m);
    printf("store: %llu roster items, %llu blocked JIDs and %llu offline messages loaded from "
           "'%s'\n",
           (unsigned long long)s->items, (unsigned long long)s->blocks,
           (unsigned long long)s->offline, s->name);
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------ changes */

static void put(struct xstore *s, const void *k, size_t kl, const void *v, size_t vl)
{
    int rc = ea_eos_put(s->db, k, kl, v, vl, NULL);
    if (rc != EA_OK)
        report(s, "keeping a change", rc);
    s->writes++;
}

static void del(struct xstore *s, const void *k, size_t kl)
{
    int rc = ea_eos_del(s->db, k, kl, EA_EOS_ANY);
    if (rc != EA_OK && rc != EA_ERR_NOTFOUND)
        report(s, "deleting", rc);
    s->writes++;
}

/* The key of a roster item or a blocked JID: `tag` user NUL contact; its
 * length, or 0 for fields no router writes. */
static size_t item_key(char *k, char tag, const struct xmsg *m)
{
    if (m->n < 2 || m->fl[0] == 0 || m->fl[0] > USER_MAX || m->fl[1] == 0 ||
        m->fl[1] > 2 * USER_MAX + 1 || memchr(m->f[0], 0, m->fl[0]) != NULL ||
        memchr(m->f[1], 0, m->fl[1]) != NULL)
        return 0;
    k[0] = tag;
    memcpy(k + 1, m->f[0], m->fl[0]);
    k[1 + m->fl[0]] = 0;
    memcpy(k + 2 + m->fl[0], m->f[1], m->fl[1]);
    return 2 + (size_t)m->fl[0] + m->fl[1];
}

static void block_change(struct xstore *s, const struct xmsg *m)
{
    char k[2 + USER_MAX + 2 * USER_MAX + 1];
    size_t kl = item_key(k, 'b', m);
    if (kl == 0)
        return;
    if (m->h.b == 1)
        del(s, k, kl);
    else
        put(s, k, kl, "", 0);
}

static void roster_change(struct xstore *s, const struct xmsg *m)
{
    char k[2 + USER_MAX + 2 * USER_MAX + 1];
    size_t kl = item_key(k, 'r', m);
    if (kl == 0 || m->n < (m->h.b == 1 ? 2u : 4u))
        return;
    if (m->h.b == 1) {
        del(s, k, kl);
        return;
    }
    size_t vl = 8 + (size_t)m->fl[2] + m->fl[3];
    char *v = vl <= EA_EOS_VALUE_MAX ? malloc(vl) : NULL;
    if (v == NULL) {
        report(s, "keeping a roster item", EA_ERR_NOMEM);
        return;
    }
    memcpy(v, &m->h.a, 4);
    memcpy(v + 4, &m->fl[2], 4);
    memcpy(v + 8, m->f[2], m->fl[2]);
    memcpy(v + 8 + m->fl[2], m->f[3], m->fl[3]);
    put(s, k, kl, v, vl);
    free(v);
}

/* Deletes the offline messages of `user` (n bytes). */
static void offline_del(struct xstore *s, const char *user, size_t n)
{
    struct range *r = range_of(s, user, n);
    char k[USER_MAX + 10];
    for (uint64_t q = r ? r->lo : 0; r != NULL && q < r->hi; q++)
        del(s, k, okey(k, user, n, q));
    if (r != NULL)
        r->lo = r->hi = 0;
}

static int forget_item(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t version)
{
    (void)val;
    (void)vlen;
    (void)version;
    struct xstore *s = arg;
    int rc = ea_eos_del(s->db, key, klen, EA_EOS_ANY);
    s->writes++;
    return rc == EA_OK || rc == EA_ERR_NOTFOUND ? 0 : rc;
}

static void change(struct xstore *s, const struct xmsg *m)
{
    if (m->h.op == S_ROSTER) {
        roster_change(s, m);
        return;
    }
    if (m->h.op == S_BLOCK) {
        block_change(s, m);
        return;
    }
    if (m->h.op == S_END) {
        s->ended = 1;
        return;
    }
    if (m->n < 1 || m->fl[0] == 0 || m->fl[0] > USER_MAX || memchr(m->f[0], 0, m->fl[0]) != NULL)
        return;
    const char *user = m->f[0];
    size_t n = m->fl[0];
    if (m->h.op == S_OFFLINE && m->n >= 2) {
        struct range *r = range_of(s, user, n);
        if (r == NULL) {
            report(s, "keeping an offline message", EA_ERR_NOMEM);
            return;
        }
        char k[USER_MAX + 10];
        put(s, k, okey(k, user, n, r->hi), m->f[1], m->fl[1]);
        r->hi++;
    } else if (m->h.op == S_OFFLINE_DEL) {
        offline_del(s, user, n);
    } else if (m->h.op == S_FORGET) {
        char p[USER_MAX + 2];
        p[0] = 'r';
        memcpy(p + 1, user, n);
        p[1 + n] = 0;
        int rc = ea_eos_iter(s->db, p, n + 2, forget_item, s);
        p[0] = 'b';
        if (rc == EA_OK)
            rc = ea_eos_iter(s->db, p, n + 2, forget_item, s);
        if (rc != EA_OK)
            report(s, "forgetting a user", rc);
        offline_del(s, user, n);
    }
}

/* Applies up to `max` changes from the router; the number applied. */
static int drain(struct xstore *s, int max)
{
    int n = 0;
    for (; n < max; n++) {
        ea_cargo_t cg;
        struct xmsg m;
        if (ea_cargo_recv(s->rt, &cg) != EA_OK)
            break;
        if (xmsg_parse(&m, cg.data, cg.len) == 0)
            change(s, &m);
        ea_cargo_release(&cg);
    }
    return n;
}

static void sync_now(struct xstore *s)
{
    uint64_t t0 = ea_now_ns();
    int rc = ea_eos_sync(s->db);
    if (rc != EA_OK)
        report(s, "sync", rc);
    s->sync_ns += ea_now_ns() - t0;
    s->syncs++;
}

/* ------------------------------------------------------------ actor */

static int store_ctor(ea_actor_t *self, void *state)
{
    struct xstore *s = state;
    s->name = ea_param(self, "store") ? ea_param(self, "store") : "xmppdata";
    s->rt = s->out.c = ea_conn(self, "st");
    if (s->rt == NULL) {
        fprintf(stderr, "%s: needs channel st to the router\n", ea_name(self));
        return EA_ERR_NOTFOUND;
    }
    int rc = ea_eos_attach(self, s->name, &s->db);
    if (rc != EA_OK) {
        report(s, "opening", rc);
        return rc;
    }
    return EA_OK;
}

static int store_body(ea_actor_t *self, void *state)
{
    struct xstore *s = state;
    if (ea_stopping(self)) {
        /* What the router sends until its S_END is applied and synced
         * (each step syncs what it applied, so a router that never says it
         * is done loses nothing that arrived). */
        if (s->loaded && !s->failed) {
            if (s->stop_at == 0)
                s->stop_at = ea_now_ns();
            uint64_t w = s->writes;
            while (drain(s, 256) > 0)
                ;
            if (s->writes != w)
                sync_now(s);
            if (!s->ended && ea_now_ns() - s->stop_at < STOP_WAIT_NS)
                return EA_BUSY;
            if (!s->ended)
                fprintf(stderr, "store: the router did not hand over its last changes at the "
                                "stop; what arrived is synced\n");
        }
        outq_clear(&s->out);
        for (unsigned b = 0; b < RANGE_BUCKETS; b++)
            while (s->ranges[b] != NULL) {
                struct range *r = s->ranges[b];
                s->ranges[b] = r->next;
                free(r);
            }
        ea_eos_close(s->db);
        s->db = NULL;
        printf("%s: %llu writes, %llu syncs (%llu us each), %llu errors\n", ea_name(self),
               (unsigned long long)s->writes, (unsigned long long)s->syncs,
               (unsigned long long)(s->syncs ? s->sync_ns / s->syncs / 1000 : 0),
               (unsigned long long)s->errors);
        fflush(stdout);
        return EA_DONE;
    }
    if (s->failed)
        return EA_IDLE;
    if (!s->loaded) {
        int rc = load(s);
        if (rc != 0) {
            report(s, "loading", rc);
            s->failed = 1;
            return EA_ERR_ACTOR;
        }
        s->loaded = 1;
    }
    /* Group commit: everything that arrives while this step drains (up to
     * 4096 changes) is covered by one sync. */
    int busy = outq_flush(&s->out);
    uint64_t w = s->writes;
    int n = 0, got;
    while (n < 4096 && (got = drain(s, 256)) > 0)
        n += got;
    if (n >= 4096)
        busy = 1;
    if (s->writes != w)
        sync_now(s);
    return busy ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(xmpp_store, struct xstore, store_ctor, store_body);
