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

static struct acct *find(struct store *st, const char *name)
{
    for (uint32_t i = 0; i < st->n; i++)
        if (strcmp(st->a[i].name, name) == 0)
            return &st->a[i];
    return NULL;
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

static struct acct *store_add(struct store *st, const char *user);

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
    struct acct *a = store_add(st, name);
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
static struct acct *store_add(struct store *st, const char *user)
{
    if (st->n == st->cap) {
        uint32_t cap = st->cap ? 2 * st->cap : 16;
        struct acct *na = realloc(st->a, cap * sizeof *na);
        if (na == NULL)
            return NULL;
        st->a = na;
        st->cap = cap;
    }
    struct acct *a = &st->a[st->n++];
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
                s->st.n--;
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
    char msg[400];
};

static void adm_free(struct useradm *s)
{
    if (s->st.a != NULL)
        memset(s->st.a, 0, s->st.cap * sizeof *s->st.a);
    free(s->st.a);
    s->st.a = NULL;
    ea_eos_close(s->db);
    s->db = NULL;
}

/* The change itself: 0 done, 1 nothing to write (list), or -1 with the
 * reason in s->msg. */
static int adm_apply(ea_actor_t *self, struct useradm *s)
{
    const char *op = s->op;
    if (strcmp(op, "list") == 0) {
        for (uint32_t i = 0; i < s->st.n; i++)
            printf("%s\n", s->st.a[i].name);
        fflush(stdout);
        return 1;
    }
    char user[USER_MAX + 1];
    if (s->user == NULL || strlen(s->user) == 0 || strlen(s->user) > USER_MAX) {
        snprintf(s->msg, sizeof s->msg, "a user name of 1 to %d bytes is needed", USER_MAX);
        return -1;
    }
    strcpy(user, s->user);
    for (char *p = user; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"&'/:<>@", ch) != NULL) {
            snprintf(s->msg, sizeof s->msg,
                     "'%.255s': a user name is printable ASCII without space or \" & ' / : < > @",
                     s->user);
            return -1;
        }
        if (ch >= 'A' && ch <= 'Z') {
            snprintf(s->msg, sizeof s->msg, "'%.255s': use lower case", s->user);
            return -1;
        }
    }
    struct acct *a = find(&s->st, user);
    if (strcmp(op, "deluser") == 0) {
        if (a == NULL) {
            snprintf(s->msg, sizeof s->msg, "no such user: %s", user);
            return -1;
        }
        if (store_remove(s->db, user, s->msg, sizeof s->msg) != 0)
            return -1;
        size_t i = (size_t)(a - s->st.a);
        memset(a, 0, sizeof *a);
        memmove(a, a + 1, (s->st.n - i - 1) * sizeof *a);
        s->st.n--;
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
    int r = store_load(s->db, &s->st, s->msg, sizeof s->msg);
    if (r == 0)
        r = adm_apply(self, s);
    if (r < 0) {
        fprintf(stderr, "eactors-xmpp: %s\n", s->msg);
        adm_free(s);
        return EA_ERR_ACTOR;
    }
    if (r == 0) {
        printf("eactors-xmpp: %s %s: done (%u accounts)\n", s->op, s->user ? s->user : "", s->st.n);
        fflush(stdout);
    }
    adm_free(s);
    return EA_DONE;
}

EA_ACTOR(xmpp_useradm, struct useradm, adm_ctor, adm_body);
