/*
 * The accounts enclave: the only place that holds credentials. Per user
 * and per hash (SHA-1, SHA-256) it keeps the SCRAM salt, iteration count,
 * StoredKey and ServerKey (RFC 5802), never a password, in a file sealed
 * to this image (MRENCLAVE policy: only this image on this platform
 * unseals it). Two actor types:
 *
 *   xmpp_accounts  serves the c2s actors: salt and iteration count for a
 *                  user (a fake pair for an unknown one, stable across
 *                  restarts, so a client cannot probe for accounts), the
 *                  check of a SCRAM client proof (returning the
 *                  ServerSignature for v=), and
 *                  the check of a PLAIN password (by recomputing StoredKey,
 *                  then wiping the password). Parameter: store (path of
 *                  the sealed file; missing = no users yet), register (1:
 *                  XEP-0077 registration creates accounts; the store is
 *                  rewritten after each, in the background). Channels: one
 *                  to each c2s actor, "dir" to the router, and "fs" to the
 *                  system actor.
 *   xmpp_useradm   one change to the store, run by the eactors-xmpp tool:
 *                  parameters op (adduser | deluser | passwd | list), user,
 *                  password, store, iterations (default 4096).
 *
 * The store is read once at start: a running server sees users added later
 * only after a restart. It is rewritten in place (the system actor has no
 * rename), so a crash during `eactors-xmpp adduser` can lose the store; the
 * tool keeps a copy (store.bak) before each change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_sys.h>
#include <eactors/ea_trust.h>
#include <eactors/eactors.h>

#include "../common/sys_file.h"
#include "proto.h"
#include "xcrypto.h"

#define STORE_MAGIC "XAC1"
#define STORE_AAD "eactors-xmpp accounts v1"
#define STORE_MAX (64u << 20)
#define SALT_LEN 16
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

/* Plaintext layout: magic, u32 count, then per user u16 name length, name,
 * and per hash u32 iterations, salt, StoredKey, ServerKey. */
static uint8_t *store_encode(const struct store *st, uint32_t *len)
{
    size_t n = 8;
    for (uint32_t i = 0; i < st->n; i++)
        n += 2 + strlen(st->a[i].name) + 2 * (4 + SALT_LEN) + 2 * (20 + 32);
    uint8_t *p = malloc(n), *o = p;
    if (p == NULL)
        return NULL;
    memcpy(o, STORE_MAGIC, 4);
    memcpy(o + 4, &st->n, 4);
    o += 8;
    for (uint32_t i = 0; i < st->n; i++) {
        uint16_t l = (uint16_t)strlen(st->a[i].name);
        memcpy(o, &l, 2);
        memcpy(o + 2, st->a[i].name, l);
        o += 2 + l;
        for (int h = 0; h < 2; h++) {
            size_t hl = h == 0 ? 20 : 32;
            const struct key *k = &st->a[i].k[h];
            memcpy(o, &k->iter, 4);
            memcpy(o + 4, k->salt, SALT_LEN);
            memcpy(o + 4 + SALT_LEN, k->stored, hl);
            memcpy(o + 4 + SALT_LEN + hl, k->server, hl);
            o += 4 + SALT_LEN + 2 * hl;
        }
    }
    *len = (uint32_t)n;
    return p;
}

static int store_decode(struct store *st, const uint8_t *p, size_t len)
{
    uint32_t n;
    if (len < 8 || memcmp(p, STORE_MAGIC, 4) != 0)
        return -1;
    memcpy(&n, p + 4, 4);
    if (n > len / 8)
        return -1;
    st->a = calloc(n ? n : 1, sizeof *st->a);
    if (st->a == NULL)
        return -1;
    st->cap = n ? n : 1;
    size_t off = 8;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t l;
        if (len - off < 2)
            return -1;
        memcpy(&l, p + off, 2);
        if (l == 0 || l > USER_MAX || len - off - 2 < l)
            return -1;
        memcpy(st->a[i].name, p + off + 2, l);
        off += 2 + l;
        for (int h = 0; h < 2; h++) {
            size_t hl = h == 0 ? 20 : 32;
            struct key *k = &st->a[i].k[h];
            if (len - off < 4 + SALT_LEN + 2 * hl)
                return -1;
            memcpy(&k->iter, p + off, 4);
            memcpy(k->salt, p + off + 4, SALT_LEN);
            memcpy(k->stored, p + off + 4 + SALT_LEN, hl);
            memcpy(k->server, p + off + 4 + SALT_LEN + hl, hl);
            off += 4 + SALT_LEN + 2 * hl;
        }
        st->n++;
    }
    return off == len ? 0 : -1;
}

static int store_unseal(struct store *st, const uint8_t *blob, size_t len, char *err, size_t el)
{
    uint8_t aad[sizeof STORE_AAD];
    uint32_t aadl = sizeof aad;
    if (len < sizeof(ea_sealed_data_t) || len > STORE_MAX) {
        snprintf(err, el, "not a sealed account store (%zu bytes)", len);
        return -1;
    }
    uint32_t pl = ea_get_encrypt_txt_len((const ea_sealed_data_t *)(const void *)blob);
    if (pl > STORE_MAX) {
        snprintf(err, el, "not a sealed account store");
        return -1;
    }
    uint8_t *plain = malloc(pl ? pl : 1);
    if (plain == NULL) {
        snprintf(err, el, "out of memory");
        return -1;
    }
    int rc = ea_unseal_data_ex((const ea_sealed_data_t *)(const void *)blob, (uint32_t)len, aad,
                               &aadl, plain, &pl);
    if (rc != EA_OK || aadl != sizeof STORE_AAD || memcmp(aad, STORE_AAD, aadl) != 0) {
        snprintf(err, el,
                 "cannot unseal the account store (%s): another image or platform sealed it, or "
                 "it was modified",
                 rc != EA_OK ? ea_strerror(rc) : "wrong label");
        free(plain);
        return -1;
    }
    rc = store_decode(st, plain, pl);
    memset(plain, 0, pl);
    free(plain);
    if (rc != 0)
        snprintf(err, el, "the account store is malformed");
    return rc;
}

static uint8_t *store_seal(const struct store *st, uint32_t *len)
{
    uint32_t pl;
    uint8_t *plain = store_encode(st, &pl);
    if (plain == NULL)
        return NULL;
    uint32_t sz = ea_calc_sealed_data_size(sizeof STORE_AAD, pl);
    uint8_t *blob = sz != UINT32_MAX ? malloc(sz) : NULL;
    ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
    if (blob != NULL && ea_seal_data_ex(EA_KEYPOLICY_MRENCLAVE, mask, 0, sizeof STORE_AAD,
                                        (const uint8_t *)STORE_AAD, pl, plain, sz,
                                        (ea_sealed_data_t *)(void *)blob) != EA_OK) {
        free(blob);
        blob = NULL;
    }
    memset(plain, 0, pl);
    free(plain);
    *len = sz;
    return blob;
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

static ea_conn_t *sys_conn(ea_actor_t *self)
{
    ea_conn_t *c = ea_conn(self, "fs");
    if (c == NULL)
        fprintf(stderr, "%s: needs channel fs to the system actor\n", ea_name(self));
    return c;
}

/* ------------------------------------------------------------ accounts */

struct accounts {
    ea_sys_client_t sys;
    struct fio f;
    struct store st;
    int loaded;
    uint8_t secret[32]; /* fake salts for unknown users (stable: seal key) */
    ea_conn_t *links[64];
    struct outq out[64];
    unsigned nlinks;
    struct outq dir; /* to the router: the user directory (optional) */
    int reg;         /* XEP-0077 allowed (parameter register=1) */
    int dirty;       /* the store changed since the last write began */
    uint8_t *blob;   /* the sealed store being written */
    const char *path;
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
        /* XEP-0077: a new account, written to the sealed store in the
         * background (the reply does not wait for the disk). */
        if (!s->reg || m.n < 2 || m.fl[1] == 0 || m.fl[1] > 1023)
            break;
        if (a != NULL) {
            reply(s, li, m.h.conn, A_RESULT, 2, NULL, 0);
            return;
        }
        struct acct *na = store_add(&s->st, user);
        int ok = na != NULL && make_keys(na, m.f[1], m.fl[1], 4096) == 0;
        memset((char *)m.f[1], 0, m.fl[1]);
        if (!ok) {
            if (na != NULL)
                s->st.n--;
            break;
        }
        s->dirty = 1;
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

/* Writes the store again if it changed and no write is under way. */
static void persist(struct accounts *s, const char *who)
{
    if (s->f.step > F_IDLE && s->f.step < F_DONE) {
        ea_sys_event_t ev;
        int rc;
        while ((rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY)
            if (rc == EA_OK) {
                fio_event(&s->f, &s->sys, &ev);
                ea_cargo_release(&ev.cargo);
            }
        fio_pending(&s->f, &s->sys);
        if (s->f.step == F_ERROR)
            fprintf(stderr, "%s: writing the account store: %s\n", who, s->f.err);
        if (s->f.step > F_IDLE && s->f.step < F_DONE)
            return;
        free(s->blob);
        s->blob = NULL;
    }
    if (!s->dirty)
        return;
    uint32_t len;
    s->blob = store_seal(&s->st, &len);
    if (s->blob == NULL) {
        fprintf(stderr, "%s: sealing the account store failed\n", who);
        return;
    }
    s->dirty = 0;
    fio_write(&s->f, &s->sys, s->path, s->blob, len, 1);
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
    ea_conn_t *fs = sys_conn(self);
    if (fs == NULL)
        return EA_ERR_NOTFOUND;
    ea_sys_client_init(&s->sys, fs);
    for (unsigned i = 0; i < ea_conn_count(self); i++) {
        ea_conn_t *c = ea_conn_at(self, i);
        if (c == fs)
            continue;
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
    const char *path = ea_param(self, "store");
    s->path = path;
    s->reg = ea_param_int(self, "register", 0, NULL) == 1;
    if (path == NULL) {
        fprintf(stderr, "%s: needs parameter store (the sealed account file)\n", ea_name(self));
        return EA_ERR_INVAL;
    }
    fio_read(&s->f, &s->sys, path, STORE_MAX, 1);
    return EA_OK;
}

static int acc_body(ea_actor_t *self, void *state)
{
    struct accounts *s = state;
    if (ea_stopping(self)) {
        memset(s->st.a, 0, s->st.n * sizeof *s->st.a);
        free(s->st.a);
        s->st.a = NULL;
        for (unsigned i = 0; i < s->nlinks; i++)
            outq_clear(&s->out[i]);
        outq_clear(&s->dir);
        free(s->blob);
        s->blob = NULL;
        printf("%s: %llu logins accepted, %llu refused\n", ea_name(self), (unsigned long long)s->ok,
               (unsigned long long)s->refused);
        fflush(stdout);
        return EA_DONE;
    }
    int busy = 0;
    if (!s->loaded) {
        ea_sys_event_t ev;
        int rc;
        while ((rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
            if (rc == EA_OK) {
                fio_event(&s->f, &s->sys, &ev);
                ea_cargo_release(&ev.cargo);
            }
        }
        fio_pending(&s->f, &s->sys);
        if (s->f.step == F_ERROR) {
            fprintf(stderr, "%s: %s\n", ea_name(self), s->f.err);
            free(s->f.buf);
            return EA_ERR_ACTOR;
        }
        if (s->f.step == F_NOFILE) {
            printf("%s: %s does not exist: no users yet (add them with eactors-xmpp adduser)\n",
                   ea_name(self), s->f.path);
            s->st.a = calloc(1, sizeof *s->st.a);
            s->st.cap = 1;
        } else if (s->f.step == F_DONE) {
            char err[300];
            int rc2 = store_unseal(&s->st, s->f.buf, s->f.size, err, sizeof err);
            free(s->f.buf);
            s->f.buf = NULL;
            if (rc2 != 0) {
                fprintf(stderr, "%s: %s: %s\n", ea_name(self), s->f.path, err);
                return EA_ERR_ACTOR;
            }
            printf("%s: %u accounts unsealed\n", ea_name(self), s->st.n);
        } else {
            return EA_IDLE;
        }
        fflush(stdout);
        s->loaded = 1;
        send_directory(s);
    }
    if (s->dir.c != NULL && outq_flush(&s->dir))
        busy = 1;
    persist(s, ea_name(self));
    if (s->dirty || (s->f.step > F_IDLE && s->f.step < F_DONE))
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
    ea_sys_client_t sys;
    struct fio f;
    struct store st;
    int phase;
    const char *op, *user, *store;
    uint8_t *blob;
    char msg[400];
};

static int adm_fail(ea_actor_t *self, struct useradm *s, const char *fmt, const char *arg)
{
    fprintf(stderr, "eactors-xmpp: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    (void)self;
    free(s->st.a);
    s->st.a = NULL;
    free(s->blob);
    s->blob = NULL;
    return EA_ERR_ACTOR;
}

/* The change itself; 0, or -1 with the reason in s->msg. */
static int adm_apply(ea_actor_t *self, struct useradm *s)
{
    const char *op = s->op;
    if (strcmp(op, "list") == 0) {
        for (uint32_t i = 0; i < s->st.n; i++)
            printf("%s\n", s->st.a[i].name);
        fflush(stdout);
        return 1; /* nothing to write */
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
        size_t i = (size_t)(a - s->st.a);
        memset(a, 0, sizeof *a);
        memmove(a, a + 1, (s->st.n - i - 1) * sizeof *a); /* the order stays */
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
    return 0;
}

static int adm_ctor(ea_actor_t *self, void *state)
{
    struct useradm *s = state;
    ea_conn_t *fs = sys_conn(self);
    if (fs == NULL)
        return EA_ERR_NOTFOUND;
    ea_sys_client_init(&s->sys, fs);
    s->op = ea_param(self, "op");
    s->user = ea_param(self, "user");
    s->store = ea_param(self, "store");
    if (s->op == NULL || s->store == NULL) {
        fprintf(stderr, "eactors-xmpp: needs parameters op and store\n");
        return EA_ERR_INVAL;
    }
    return EA_OK;
}

static int adm_body(ea_actor_t *self, void *state)
{
    struct useradm *s = state;
    if (ea_stopping(self))
        return EA_DONE;
    if (s->phase == 0) {
        s->phase = 1;
        fio_read(&s->f, &s->sys, s->store, STORE_MAX, 1);
    }
    ea_sys_event_t ev;
    int rc;
    while ((rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
        if (rc == EA_OK) {
            fio_event(&s->f, &s->sys, &ev);
            ea_cargo_release(&ev.cargo);
        }
    }
    fio_pending(&s->f, &s->sys);
    if (s->f.step == F_ERROR) {
        free(s->f.buf);
        s->f.buf = NULL;
        return adm_fail(self, s, "%s", s->f.err);
    }
    if (s->f.step != F_DONE && s->f.step != F_NOFILE)
        return EA_IDLE;
    if (s->phase == 1) {
        char err[300];
        if (s->f.step == F_DONE) {
            int bad = store_unseal(&s->st, s->f.buf, s->f.size, err, sizeof err);
            free(s->f.buf);
            s->f.buf = NULL;
            if (bad)
                return adm_fail(self, s, "%s", err);
        }
        int r = adm_apply(self, s);
        if (r < 0)
            return adm_fail(self, s, "%s", s->msg);
        if (r > 0) {
            free(s->st.a);
            s->st.a = NULL;
            return EA_DONE;
        }
        uint32_t len;
        s->blob = store_seal(&s->st, &len);
        if (s->blob == NULL)
            return adm_fail(self, s, "%s", "sealing the account store failed");
        s->phase = 2;
        fio_write(&s->f, &s->sys, s->store, s->blob, len, 1);
        return EA_BUSY;
    }
    printf("eactors-xmpp: %s %s: done (%u accounts in %s)\n", s->op, s->user ? s->user : "",
           s->st.n, s->store);
    fflush(stdout);
    memset(s->st.a, 0, s->st.n * sizeof *s->st.a);
    free(s->st.a);
    s->st.a = NULL;
    free(s->blob);
    s->blob = NULL;
    return EA_DONE;
}

EA_ACTOR(xmpp_useradm, struct useradm, adm_ctor, adm_body);
