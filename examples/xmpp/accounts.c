/*
 * The accounts enclave: the only place that holds credentials. Per user
 * and per hash (SHA-1, SHA-256) it keeps the SCRAM salt, iteration count,
 * StoredKey and ServerKey (RFC 5802), never a password, in a persistent
 * EOS store (the deployment's `<store>`, policy mrenclave: its key is
 * sealed to this image, so only this image on this platform opens it; a
 * modified record or header is refused, and so is a file put back from
 * before its last sync). Two actor types:
 *
 *   xmpp_accounts  serves the c2s actors: salt and iteration count for a
 *                  user (a fake pair for an unknown one, stable across
 *                  restarts, so a client cannot probe for accounts), the
 *                  check of a SCRAM client proof (returning the
 *                  ServerSignature for v=), and
 *                  the check of a PLAIN password (by recomputing StoredKey,
 *                  then wiping the password). Parameters: store (the
 *                  `<store>` name, default "accounts"; empty = no users
 *                  yet), register (1: XEP-0077 registration creates
 *                  accounts, each written and synced at once). Channels:
 *                  one to each c2s actor and "dir" to the router.
 *   xmpp_useradm   one change to the store, run by the eactors-xmpp tool:
 *                  parameters op (adduser | deluser | passwd | list), user,
 *                  password, store, iterations (default 4096).
 *
 * One record per user: key 'u' name, value per hash (SHA-1, then SHA-256)
 * the iterations (u32), salt, StoredKey and ServerKey. The store is read
 * once at start into memory: a running server sees users added later only
 * after a restart (and a persistent store is mapped by one process at a
 * time: the tool refuses to run beside the server). A change is one put or
 * delete and a sync, so a crash leaves the store as it was before or after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_eos.h>
#include <eactors/ea_trust.h>
#include <eactors/eactors.h>

#include "proto.h"
#include "xcrypto.h"

#define SALT_LEN 16
#define REC_LEN (2 * (4 + SALT_LEN) + 2 * (20 + 32)) /* one user's keys */
#define USER_MAX 255

struct key {
    uint32_t iter;
    uint8_t salt[SALT_LEN];
    uint8_t stored[XC_MAXH];
    uint8_t server[XC_MAXH];
};

struct acct {
    char name[USER_MAX + 1];
    struct key k[2]; /* [0] SHA-1, [1] SHA-256 */
};

struct store {
    struct acct *a;
    uint32_t n, cap;
};

static int kix(int hash)
{
    return hash == 1 ? 0 : 1;
}

/* The accounts are kept sorted by name: a login finds its user by binary
 * search. The index where `name` is, or would be inserted; *hit says which. */
static uint32_t locate(const struct store *st, const char *name, int *hit)
{
    uint32_t lo = 0, hi = st->n;
    *hit = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->a[mid].name, name);
        if (c == 0) {
            *hit = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct acct *find(struct store *st, const char *name)
{
    int hit;
    uint32_t i = locate(st, name, &hit);
    return hit ? &st->a[i] : NULL;
}

/* Takes account `a` out of the array (wiped; the order stays). */
static void store_drop(struct store *st, struct acct *a)
{
    size_t i = (size_t)(a - st->a);
    memset(a, 0, sizeof *a);
    memmove(a, a + 1, (st->n - i - 1) * sizeof *a);
    st->n--;
}

/* The record of `a`: per hash the iterations, salt, StoredKey, ServerKey. */
static void rec_encode(const struct acct *a, uint8_t out[REC_LEN])
{
    uint8_t *o = out;
    for (int h = 0; h < 2; h++) {
        size_t hl = h == 0 ? 20 : 32;
        const struct key *k = &a->k[h];
        memcpy(o, &k->iter, 4);
        memcpy(o + 4, k->salt, SALT_LEN);
        memcpy(o + 4 + SALT_LEN, k->stored, hl);
        memcpy(o + 4 + SALT_LEN + hl, k->server, hl);
        o += 4 + SALT_LEN + 2 * hl;
    }
}

static void rec_decode(struct acct *a, const uint8_t *p)
{
    for (int h = 0; h < 2; h++) {
        size_t hl = h == 0 ? 20 : 32;
        struct key *k = &a->k[h];
        memcpy(&k->iter, p, 4);
        memcpy(k->salt, p + 4, SALT_LEN);
        memcpy(k->stored, p + 4 + SALT_LEN, hl);
        memcpy(k->server, p + 4 + SALT_LEN + hl, hl);
        p += 4 + SALT_LEN + 2 * hl;
    }
}

/* 'u' name: the key of a user's record; its length. */
static size_t ukey(char k[USER_MAX + 2], const char *name)
{
    size_t n = strlen(name);
    k[0] = 'u';
    memcpy(k + 1, name, n);
    return n + 1;
}

static struct acct *store_append(struct store *st, const char *user);

static int load_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t version)
{
    struct store *st = arg;
    const char *k = key;
    (void)version;
    if (klen < 2 || klen > USER_MAX + 1 || vlen != REC_LEN || memchr(k + 1, 0, klen - 1) != NULL)
        return EA_ERR_CORRUPT;
    char name[USER_MAX + 1];
    memcpy(name, k + 1, klen - 1);
    name[klen - 1] = 0;
    struct acct *a = store_append(st, name);
    if (a == NULL)
        return EA_ERR_NOMEM;
    rec_decode(a, val);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct acct *)a)->name, ((const struct acct *)b)->name);
}

/* Says what a store error means, in words an operator can act on. */
static void store_why(int rc, char *err, size_t el)
{
    if (rc == EA_ERR_ROLLBACK)
        snprintf(err, el,
                 "the account store was rolled back (its file is older than its last change): "
                 "refused; put the newest file back");
    else if (rc == EA_ERR_TAMPERED || rc == EA_ERR_AUTH)
        snprintf(err, el,
                 "the account store was modified, or another image or platform made it (%s): "
                 "refused",
                 ea_strerror(rc));
    else if (rc == EA_ERR_CORRUPT)
        snprintf(err, el, "the account store holds a malformed record: refused");
    else
        snprintf(err, el, "account store: %s", ea_strerror(rc));
}

/* Reads every account into `st` (sorted by name); 0, or -1 with the reason
 * in err. On failure `st` is emptied (and wiped). */
static int store_load(ea_eos_t *db, struct store *st, char *err, size_t el)
{
    int rc = ea_eos_iter(db, "u", 1, load_one, st);
    if (rc != EA_OK) {
        store_why(rc, err, el);
        memset(st->a, 0, st->cap * sizeof *st->a);
        free(st->a);
        memset(st, 0, sizeof *st);
        return -1;
    }
    if (st->n > 1)
        qsort(st->a, st->n, sizeof *st->a, by_name);
    return 0;
}

/* Writes one account and syncs; 0, or -1 with the reason in err. */
static int store_save(ea_eos_t *db, const struct acct *a, char *err, size_t el)
{
    char k[USER_MAX + 2];
    uint8_t v[REC_LEN];
    rec_encode(a, v);
    int rc = ea_eos_put(db, k, ukey(k, a->name), v, sizeof v, NULL);
    memset(v, 0, sizeof v);
    if (rc == EA_OK)
        rc = ea_eos_sync(db);
    if (rc != EA_OK) {
        store_why(rc, err, el);
        return -1;
    }
    return 0;
}

/* Deletes one account and syncs; 0, or -1 with the reason in err. */
static int store_remove(ea_eos_t *db, const char *name, char *err, size_t el)
{
    char k[USER_MAX + 2];
    int rc = ea_eos_del(db, k, ukey(k, name), EA_EOS_ANY);
    if (rc == EA_OK)
        rc = ea_eos_sync(db);
    if (rc != EA_OK) {
        store_why(rc, err, el);
        return -1;
    }
    return 0;
}

/* SCRAM keys of `a` for password pw (n bytes): fresh salts, both hashes. */
static int make_keys(struct acct *a, const char *pw, size_t n, uint32_t iter)
{
    for (int h = 0; h < 2; h++) {
        struct key *k = &a->k[h];
        k->iter = iter;
        if (xc_random(k->salt, SALT_LEN) < 0 ||
            xc_scram_keys(h == 0 ? 1 : 256, pw, n, k->salt, SALT_LEN, iter, k->stored, k->server) <
                0)
            return -1;
    }
    return 0;
}

/* A new, empty account at the end of the store (NULL: out of memory). */
/* Room for one more account; -1: out of memory. */
static int store_grow(struct store *st)
{
    if (st->n < st->cap)
        return 0;
    uint32_t cap = st->cap ? 2 * st->cap : 16;
    struct acct *na = realloc(st->a, cap * sizeof *na);
    if (na == NULL)
        return -1;
    st->a = na;
    st->cap = cap;
    return 0;
}

/* A new, empty account at the end (the load sorts once at the end); NULL:
 * out of memory. */
static struct acct *store_append(struct store *st, const char *user)
{
    if (store_grow(st) < 0)
        return NULL;
    struct acct *a = &st->a[st->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", user);
    return a;
}

/* A new, empty account `user` (not present) in its sorted place; NULL: out
 * of memory. */
static struct acct *store_add(struct store *st, const char *user)
{
    int hit;
    if (store_grow(st) < 0)
        return NULL;
    uint32_t i = locate(st, user, &hit);
    struct acct *a = &st->a[i];
    memmove(a + 1, a, (st->n - i) * sizeof *a);
    st->n++;
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", user);
    return a;
}

/* Attaches the account store named by parameter store (default
 * "accounts"); 0, or -1 after saying why on stderr (prefix `who`). */
static int store_open(ea_actor_t *self, const char *who, ea_eos_t **db)
{
    const char *name = ea_param(self, "store") ? ea_param(self, "store") : "accounts";
    int rc = ea_eos_attach(self, name, db);
    if (rc == EA_OK)
        return 0;
    char err[300];
    if (rc == EA_ERR_NOTFOUND)
        snprintf(err, sizeof err, "the deployment declares no <store name=\"%s\">", name);
    else
        store_why(rc, err, sizeof err);
    fprintf(stderr, "%s: %s\n", who, err);
    return -1;
}

/* ------------------------------------------------------------ accounts */

struct accounts {
    ea_eos_t *db;
    struct store st;
    int loaded;
    uint8_t secret[32]; /* fake salts for unknown users (stable: seal key) */
    ea_conn_t *links[64];
    struct outq out[64];
    unsigned nlinks;
    struct outq dir; /* to the router: the user directory (optional) */
    int reg;         /* XEP-0077 allowed (parameter register=1) */
    uint64_t ok, refused;
};

static void fake_key(struct accounts *s, const char *user, int hash, struct key *k)
{
    uint8_t mac[32];
    char in[USER_MAX + 8];
    int n = snprintf(in, sizeof in, "%d:%s", hash, user);
    xc_hmac(256, s->secret, sizeof s->secret, in, (size_t)n, mac);
    memset(k, 0, sizeof *k);
    k->iter = 4096;
    memcpy(k->salt, mac, SALT_LEN);
    /* A StoredKey no proof can match (the hash of a secret). */
    xc_hmac(256, s->secret, sizeof s->secret, mac, sizeof mac, k->stored);
    memcpy(k->server, k->stored, sizeof k->server);
}

static void reply(struct accounts *s, unsigned li, uint32_t conn, uint32_t op, uint32_t a,
                  const void *f, size_t fl)
{
    struct xmsg r = {.h = {op, conn, a, 0}};
    if (f != NULL)
        xmsg_add(&r, f, fl);
    (void)outq_send(&s->out[li], &r);
}

/* Tells the router that connection `conn` of the c2s actor on link li has
 * just authenticated as `user`: the router binds only logins this actor
 * vouched for, so a compromised c2s enclave cannot bind as a user who did
 * not log in through it. Sent before the A_RESULT (the router also waits
 * for a vouch that comes late). */
static void vouch(struct accounts *s, unsigned li, uint32_t conn, const char *user)
{
    if (s->dir.c == NULL)
        return;
    struct xmsg v = {.h = {A_VOUCH, conn, 0, 0}};
    xmsg_adds(&v, ea_conn_peer(s->links[li]));
    xmsg_adds(&v, user);
    if (outq_send(&s->dir, &v) != 0)
        fprintf(stderr, "accounts: a login could not be vouched for (no memory): its bind will "
                        "be refused\n");
}

static void serve(struct accounts *s, unsigned li, const ea_cargo_t *cg)
{
    struct xmsg m;
    char user[USER_MAX + 1];
    if (xmsg_parse(&m, cg->data, cg->len) < 0 || xmsg_str(&m, 0, user, sizeof user) < 0)
        return;
    int hash = m.h.a == 1 ? 1 : 256;
    size_t hl = xc_hlen(hash);
    struct acct *a = find(&s->st, user);
    struct key fake, *k;
    if (a != NULL) {
        k = &a->k[kix(hash)];
    } else {
        fake_key(s, user, hash, &fake);
        k = &fake;
    }
    switch (m.h.op) {
    case A_SCRAM_START: reply(s, li, m.h.conn, A_SCRAM_SALT, k->iter, k->salt, SALT_LEN); return;
    case A_SCRAM_FINAL: {
        if (m.n < 3 || m.fl[1] != hl)
            break;
        uint8_t sig[XC_MAXH], ck[XC_MAXH], sk[XC_MAXH];
        xc_hmac(hash, k->stored, hl, m.f[2], m.fl[2], sig);
        for (size_t i = 0; i < hl; i++)
            ck[i] = (uint8_t)m.f[1][i] ^ sig[i];
        xc_hash(hash, ck, hl, sk);
        int good = xc_memeq(sk, k->stored, hl) && a != NULL;
        memset(ck, 0, sizeof ck);
        if (!good)
            break;
        xc_hmac(hash, k->server, hl, m.f[2], m.fl[2], sig);
        s->ok++;
        vouch(s, li, m.h.conn, user);
        reply(s, li, m.h.conn, A_RESULT, 1, sig, hl);
        return;
    }
    case A_PLAIN: {
        if (m.n < 2)
            break;
        k = a != NULL ? &a->k[1] : &fake;
        if (a == NULL)
            fake_key(s, user, 256, &fake);
        uint8_t stored[XC_MAXH], server[XC_MAXH];
        int good =
            xc_scram_keys(256, m.f[1], m.fl[1], k->salt, SALT_LEN, k->iter, stored, server) == 0 &&
            xc_memeq(stored, k->stored, 32) && a != NULL;
        memset(server, 0, sizeof server);
        /* The password is wiped from the message before it goes back. */
        memset((char *)m.f[1], 0, m.fl[1]);
        if (!good)
            break;
        s->ok++;
        vouch(s, li, m.h.conn, user);
        reply(s, li, m.h.conn, A_RESULT, 1, NULL, 0);
        return;
    }
    case A_REGISTER: {
        /* XEP-0077: a new account, written to the store and synced before
         * the answer. */
        if (!s->reg || m.n < 2 || m.fl[1] == 0 || m.fl[1] > 1023)
            break;
        if (a != NULL) {
            reply(s, li, m.h.conn, A_RESULT, 2, NULL, 0);
            return;
        }
        struct acct *na = store_add(&s->st, user);
        int ok = na != NULL && make_keys(na, m.f[1], m.fl[1], 4096) == 0;
        memset((char *)m.f[1], 0, m.fl[1]);
        char err[200];
        if (ok && store_save(s->db, na, err, sizeof err) != 0) {
            fprintf(stderr, "accounts: %s\n", err);
            ok = 0;
        }
        if (!ok) {
            if (na != NULL)
                store_drop(&s->st, na);
            break;
        }
        struct xmsg d = {.h = {R_USERS, 0, 0, 0}};
        char line[USER_MAX + 2];
        int ln = snprintf(line, sizeof line, "%s\n", user);
        xmsg_add(&d, line, (size_t)ln);
        if (s->dir.c != NULL)
            (void)outq_send(&s->dir, &d);
        reply(s, li, m.h.conn, A_RESULT, 1, NULL, 0);
        return;
    }
    default: return;
    }
    s->refused++;
    reply(s, li, m.h.conn, A_RESULT, 0, NULL, 0);
}

/* The router learns who exists (names only, never keys): it stores
 * messages for users who are offline and refuses those for nobody. */
static void send_directory(struct accounts *s)
{
    if (s->dir.c == NULL)
        return;
    size_t room = ea_conn_max(s->dir.c) - sizeof(struct xhdr) - 8;
    char *buf = malloc(room);
    if (buf == NULL)
        return;
    size_t len = 0;
    for (uint32_t i = 0; i <= s->st.n; i++) {
        size_t nl = i < s->st.n ? strlen(s->st.a[i].name) + 1 : 0;
        if (i == s->st.n || len + nl > room) {
            struct xmsg m = {.h = {R_USERS, 0, i == s->st.n, 0}};
            xmsg_add(&m, buf, len);
            (void)outq_send(&s->dir, &m);
            len = 0;
        }
        if (i < s->st.n) {
            memcpy(buf + len, s->st.a[i].name, nl - 1);
            buf[len + nl - 1] = '\n';
            len += nl;
        }
    }
    free(buf);
}

static int acc_ctor(ea_actor_t *self, void *state)
{
    struct accounts *s = state;
    for (unsigned i = 0; i < ea_conn_count(self); i++) {
        ea_conn_t *c = ea_conn_at(self, i);
        if (strcmp(ea_conn_name(c), "dir") == 0) {
            s->dir.c = c;
            continue;
        }
        if (s->nlinks == 64)
            return EA_ERR_LIMIT;
        s->links[s->nlinks] = c;
        s->out[s->nlinks++].c = c;
    }
    /* The fake salts must not change across restarts (a salt that changes
     * would tell an unknown user from a real one): their secret is derived
     * from this image's seal key on this platform. */
    ea_key_request_t kr;
    memset(&kr, 0, sizeof kr);
    kr.key_name = EA_KEYSELECT_SEAL;
    kr.key_policy = EA_KEYPOLICY_MRENCLAVE;
    kr.attribute_mask.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG;
    xc_hash(256, "eactors-xmpp fake salts", 23, kr.key_id);
    uint8_t key[EA_KEY_SIZE];
    if (ea_get_key(&kr, key) != EA_OK ||
        xc_hmac(256, key, sizeof key, "fake salt secret", 16, s->secret) < 0) {
        fprintf(stderr, "%s: cannot derive the fake-salt key\n", ea_name(self));
        return EA_ERR_CRYPTO;
    }
    memset(key, 0, sizeof key);
    s->reg = ea_param_int(self, "register", 0, NULL) == 1;
    if (store_open(self, ea_name(self), &s->db) < 0)
        return EA_ERR_ACTOR;
    return EA_OK;
}

static int acc_body(ea_actor_t *self, void *state)
{
    struct accounts *s = state;
    if (ea_stopping(self)) {
        memset(s->st.a, 0, s->st.cap * sizeof *s->st.a);
        free(s->st.a);
        s->st.a = NULL;
        for (unsigned i = 0; i < s->nlinks; i++)
            outq_clear(&s->out[i]);
        outq_clear(&s->dir);
        ea_eos_close(s->db);
        s->db = NULL;
        printf("%s: %llu logins accepted, %llu refused\n", ea_name(self), (unsigned long long)s->ok,
               (unsigned long long)s->refused);
        fflush(stdout);
        return EA_DONE;
    }
    int busy = 0;
    if (!s->loaded) {
        char err[300];
        if (store_load(s->db, &s->st, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", ea_name(self), err);
            return EA_ERR_ACTOR;
        }
        if (s->st.n == 0)
            printf("%s: no users yet (add them with eactors-xmpp adduser)\n", ea_name(self));
        else
            printf("%s: %u accounts unsealed\n", ea_name(self), s->st.n);
        fflush(stdout);
        s->loaded = 1;
        send_directory(s);
    }
    if (s->dir.c != NULL && outq_flush(&s->dir))
        busy = 1;
    for (unsigned i = 0; i < s->nlinks; i++) {
        if (outq_flush(&s->out[i])) {
            busy = 1;
            continue; /* its answers wait: serve it later */
        }
        for (int n = 0; n < 64; n++) {
            ea_cargo_t m;
            if (ea_cargo_recv(s->links[i], &m) != EA_OK)
                break;
            serve(s, i, &m);
            ea_cargo_release(&m);
            if (n == 63)
                busy = 1;
        }
    }
    return busy ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(xmpp_accounts, struct accounts, acc_ctor, acc_body);

/* ------------------------------------------------------------ user admin */

struct useradm {
    ea_eos_t *db;
    struct store st;
    const char *op, *user;
    char *batch; /* import: a copy of parameter users, lines "name password" */
    size_t blen, pos;
    uint32_t added;
    int importing;
    char msg[400];
};

static void adm_free(struct useradm *s)
{
    if (s->st.a != NULL)
        memset(s->st.a, 0, s->st.cap * sizeof *s->st.a);
    free(s->st.a);
    s->st.a = NULL;
    if (s->batch != NULL)
        memset(s->batch, 0, s->blen); /* passwords */
    free(s->batch);
    s->batch = NULL;
    ea_eos_close(s->db);
    s->db = NULL;
}

/* Is `user` a name this server takes? 0, or -1 with the reason in msg. */
static int check_user(const char *user, char *msg, size_t ml)
{
    size_t n = strlen(user);
    if (n == 0 || n > USER_MAX) {
        snprintf(msg, ml, "a user name of 1 to %d bytes is needed", USER_MAX);
        return -1;
    }
    for (const char *p = user; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"&'/:<>@", ch) != NULL) {
            snprintf(msg, ml,
                     "'%.255s': a user name is printable ASCII without space or \" & ' / : < > @",
                     user);
            return -1;
        }
        if (ch >= 'A' && ch <= 'Z') {
            snprintf(msg, ml, "'%.255s': use lower case", user);
            return -1;
        }
    }
    return 0;
}

/* The line of `buf` (`len` bytes) at *off, "name password": name and
 * password as pointers into buf (NUL-terminated in place), *off moved past
 * it. 0, 1 at the end, or -1 with the reason in msg (`line` names it). */
static int batch_line(char *buf, size_t len, size_t *off, unsigned line, char **name, char **pw,
                      char *msg, size_t ml)
{
    if (*off >= len)
        return 1;
    char *l = buf + *off, *nl = memchr(l, '\n', len - *off);
    size_t n = nl != NULL ? (size_t)(nl - l) : len - *off;
    l[n] = 0;
    *off += n + 1;
    char *sp = strchr(l, ' ');
    if (sp == NULL || sp[1] == 0 || strlen(sp + 1) > 1023) {
        snprintf(msg, ml, "line %u: expected NAME PASSWORD (a password of 1 to 1023 bytes)", line);
        return -1;
    }
    *sp = 0;
    *name = l;
    *pw = sp + 1;
    char why[300];
    if (check_user(l, why, sizeof why) != 0) {
        snprintf(msg, ml, "line %u: %s", line, why);
        return -1;
    }
    return 0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Import, first phase: every line well-formed, no name twice, none taken
 * yet, checked on a copy (nothing is written unless all lines pass). 0, or
 * -1 (msg). */
static int import_check(ea_actor_t *self, struct useradm *s)
{
    const char *u = ea_param(self, "users");
    if (u == NULL || u[0] == 0) {
        snprintf(s->msg, sizeof s->msg, "no users to import");
        return -1;
    }
    long long iter = ea_param_int(self, "iterations", 4096, NULL);
    if (iter < 4096 || iter > 1000000) {
        snprintf(s->msg, sizeof s->msg, "iterations must be 4096 to 1000000");
        return -1;
    }
    s->blen = strlen(u);
    s->batch = malloc(s->blen + 1);
    char *copy = malloc(s->blen + 1);
    size_t lines = 1;
    for (size_t i = 0; i < s->blen; i++)
        lines += u[i] == '\n';
    char **names = calloc(lines, sizeof *names);
    int rc = 0;
    if (s->batch == NULL || copy == NULL || names == NULL) {
        snprintf(s->msg, sizeof s->msg, "out of memory");
        rc = -1;
    } else {
        memcpy(s->batch, u, s->blen + 1);
        memcpy(copy, u, s->blen + 1);
    }
    size_t n = 0, off = 0;
    for (int r; rc == 0; n++) {
        char *name, *pw;
        r = batch_line(copy, s->blen, &off, (unsigned)n + 1, &name, &pw, s->msg, sizeof s->msg);
        if (r == 1)
            break;
        if (r == 0 && find(&s->st, name) != NULL) {
            snprintf(s->msg, sizeof s->msg, "line %zu: user %s exists", n + 1, name);
            r = -1;
        }
        rc = r;
        if (r == 0)
            names[n] = name;
    }
    if (rc == 0 && n > 1) {
        qsort(names, n, sizeof *names, by_str);
        for (size_t i = 1; i < n && rc == 0; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                snprintf(s->msg, sizeof s->msg, "user %s is listed twice", names[i]);
                rc = -1;
            }
    }
    if (copy != NULL)
        memset(copy, 0, s->blen + 1);
    free(copy);
    free(names);
    return rc;
}

/* Import, second phase: up to `max` users per step (each one is two key
 * derivations, so the step stays short); one sync at the end. 0 more to
 * do, 1 done, -1 failed (msg; what was written before it is synced). */
static int import_some(ea_actor_t *self, struct useradm *s, int max)
{
    long long iter = ea_param_int(self, "iterations", 4096, NULL);
    for (int k = 0; k < max; k++) {
        char *name, *pw;
        int r =
            batch_line(s->batch, s->blen, &s->pos, s->added + 1, &name, &pw, s->msg, sizeof s->msg);
        if (r == 1)
            break;
        if (r < 0)
            return -1; /* not after import_check passed it */
        struct acct *a = store_add(&s->st, name);
        uint8_t v[REC_LEN];
        char key[USER_MAX + 2];
        int rc = EA_ERR_NOMEM;
        if (a != NULL && make_keys(a, pw, strlen(pw), (uint32_t)iter) == 0) {
            rec_encode(a, v);
            rc = ea_eos_put(s->db, key, ukey(key, name), v, sizeof v, NULL);
            memset(v, 0, sizeof v);
        }
        memset(pw, 0, strlen(pw));
        if (rc != EA_OK) {
            char why[300];
            store_why(rc, why, sizeof why);
            snprintf(s->msg, sizeof s->msg, "import stopped at %s (%u added before it): %s", name,
                     s->added, why);
            (void)ea_eos_sync(s->db);
            return -1;
        }
        s->added++;
    }
    if (s->pos < s->blen)
        return 0;
    int rc = ea_eos_sync(s->db);
    if (rc != EA_OK) {
        store_why(rc, s->msg, sizeof s->msg);
        return -1;
    }
    return 1;
}

/* The change itself: 0 done, 1 nothing to write (list), 2 an import goes
 * on in the next steps, or -1 with the reason in s->msg. */
static int adm_apply(ea_actor_t *self, struct useradm *s)
{
    const char *op = s->op;
    if (strcmp(op, "list") == 0) {
        for (uint32_t i = 0; i < s->st.n; i++)
            printf("%s\n", s->st.a[i].name);
        fflush(stdout);
        return 1;
    }
    if (strcmp(op, "import") == 0) {
        if (import_check(self, s) < 0)
            return -1;
        s->importing = 1;
        return 2;
    }
    char user[USER_MAX + 1];
    if (check_user(s->user != NULL ? s->user : "", s->msg, sizeof s->msg) < 0)
        return -1;
    strcpy(user, s->user);
    struct acct *a = find(&s->st, user);
    if (strcmp(op, "deluser") == 0) {
        if (a == NULL) {
            snprintf(s->msg, sizeof s->msg, "no such user: %s", user);
            return -1;
        }
        if (store_remove(s->db, user, s->msg, sizeof s->msg) != 0)
            return -1;
        store_drop(&s->st, a);
        return 0;
    }
    if (strcmp(op, "adduser") != 0 && strcmp(op, "passwd") != 0) {
        snprintf(s->msg, sizeof s->msg, "unknown operation %.100s", op);
        return -1;
    }
    if (strcmp(op, "adduser") == 0 && a != NULL) {
        snprintf(s->msg, sizeof s->msg, "user %s exists (use passwd to change the password)", user);
        return -1;
    }
    if (strcmp(op, "passwd") == 0 && a == NULL) {
        snprintf(s->msg, sizeof s->msg, "no such user: %s", user);
        return -1;
    }
    const char *pw = ea_param(self, "password");
    if (pw == NULL || strlen(pw) == 0 || strlen(pw) > 1023) {
        snprintf(s->msg, sizeof s->msg, "a password of 1 to 1023 bytes is needed");
        return -1;
    }
    long long iter = ea_param_int(self, "iterations", 4096, NULL);
    if (iter < 4096 || iter > 1000000) {
        snprintf(s->msg, sizeof s->msg, "iterations must be 4096 to 1000000");
        return -1;
    }
    if (a == NULL && (a = store_add(&s->st, user)) == NULL) {
        snprintf(s->msg, sizeof s->msg, "out of memory");
        return -1;
    }
    if (make_keys(a, pw, strlen(pw), (uint32_t)iter) < 0) {
        snprintf(s->msg, sizeof s->msg, "key derivation failed");
        return -1;
    }
    return store_save(s->db, a, s->msg, sizeof s->msg);
}

static int adm_ctor(ea_actor_t *self, void *state)
{
    struct useradm *s = state;
    s->op = ea_param(self, "op");
    s->user = ea_param(self, "user");
    if (s->op == NULL) {
        fprintf(stderr, "eactors-xmpp: needs parameter op\n");
        return EA_ERR_INVAL;
    }
    if (store_open(self, "eactors-xmpp", &s->db) < 0)
        return EA_ERR_ACTOR;
    return EA_OK;
}

static int adm_body(ea_actor_t *self, void *state)
{
    struct useradm *s = state;
    if (ea_stopping(self) || s->db == NULL) {
        adm_free(s);
        return EA_DONE;
    }
    int r;
    if (s->importing) {
        r = import_some(self, s, 16);
        if (r == 0)
            return EA_BUSY;
        r = r < 0 ? -1 : 0;
    } else {
        r = store_load(s->db, &s->st, s->msg, sizeof s->msg);
        if (r == 0)
            r = adm_apply(self, s);
        if (r == 2)
            return EA_BUSY;
    }
    if (r < 0) {
        fprintf(stderr, "eactors-xmpp: %s\n", s->msg);
        adm_free(s);
        return EA_ERR_ACTOR;
    }
    if (r == 0 && s->importing)
        printf("eactors-xmpp: import: done (%u users added, %u accounts)\n", s->added, s->st.n);
    else if (r == 0)
        printf("eactors-xmpp: %s %s: done (%u accounts)\n", s->op, s->user ? s->user : "", s->st.n);
    fflush(stdout);
    adm_free(s);
    return EA_DONE;
}

EA_ACTOR(xmpp_useradm, struct useradm, adm_ctor, adm_body);
