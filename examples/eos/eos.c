/*
 * eos: the object store from actors in two enclaves and the host.
 *
 * `eos_peer` (one in each enclave) attaches the untrusted store `shared`
 * (public arena, AES-GCM, key sealed to the signer), writes a string and a
 * binary value under its own name, increments one shared counter by
 * compare-and-swap `rounds` times, waits until the counter reaches `total`
 * (both peers' increments: none lost), then reads the other enclave's
 * string and binary value. It also uses its private store (param
 * `private`): a trusted one (enclave memory, clear text) or a persistent
 * one, where it counts the runs and syncs. `eos_host` uses the host's own
 * trusted store and shows that the encrypted store is refused to it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <eactors/eactors.h>
#include <eactors/ea_eos.h>

#define BLOB 256
#define BATCH 50

struct peer {
    ea_eos_t *shared, *priv;
    const char *me, *other, *priv_name;
    uint64_t rounds, done, total, spins;
    int phase;
};

/* The binary value of enclave `who`: every byte value, zeros included. */
static void blob_of(const char *who, uint8_t out[BLOB])
{
    for (int i = 0; i < BLOB; i++)
        out[i] = (uint8_t)(i * 7 + (uint8_t)who[0]);
}

static void key_of(char *k, size_t n, const char *what, const char *who)
{
    snprintf(k, n, "%s/%s", what, who);
}

static int fail_with(const char *me, const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", me, what, ea_strerror(rc));
    return rc < 0 ? rc : EA_ERR_INVAL;
}

static int peer_ctor(ea_actor_t *self, void *state)
{
    struct peer *p = state;
    p->me = ea_name(self);
    p->other = ea_param(self, "other");
    p->priv_name = ea_param(self, "private");
    const char *r = ea_param(self, "rounds"), *t = ea_param(self, "total");
    if (p->other == NULL || p->priv_name == NULL || r == NULL || t == NULL)
        return EA_ERR_INVAL;
    p->rounds = strtoull(r, NULL, 10);
    p->total = strtoull(t, NULL, 10);
    int rc = ea_eos_attach(self, "shared", &p->shared);
    if (rc != EA_OK)
        return fail_with(p->me, "attach 'shared'", rc);
    rc = ea_eos_attach(self, p->priv_name, &p->priv);
    if (rc != EA_OK)
        return fail_with(p->me, "attach private store", rc);
    /* A string and a binary value under this enclave's name. */
    char k[64], v[64];
    uint8_t blob[BLOB];
    key_of(k, sizeof k, "greeting", p->me);
    int n = snprintf(v, sizeof v, "hello from %s", ea_domain(self));
    if ((rc = ea_eos_put(p->shared, k, strlen(k), v, (size_t)n, NULL)) != EA_OK)
        return fail_with(p->me, "put greeting", rc);
    key_of(k, sizeof k, "blob", p->me);
    blob_of(p->me, blob);
    if ((rc = ea_eos_put(p->shared, k, strlen(k), blob, BLOB, NULL)) != EA_OK)
        return fail_with(p->me, "put blob", rc);
    /* Another enclave's private store is not this one's. */
    ea_eos_t *no = NULL;
    const char *foreign = strcmp(p->priv_name, "journal") == 0 ? "cache" : "journal";
    rc = ea_eos_attach(self, foreign, &no);
    printf("%s: store '%s' of the other enclave: %s\n", p->me, foreign,
           rc == EA_OK ? "OPENED (wrong)" : ea_strerror(rc));
    ea_eos_close(no);
    return EA_OK;
}

/* One compare-and-swap increment of the 8-byte counter. */
static int increment(ea_eos_t *s)
{
    for (;;) {
        uint64_t cur = 0, ver = 0, next;
        size_t n = 0;
        int rc = ea_eos_get(s, "counter", 7, &cur, sizeof cur, &n, &ver);
        if (rc == EA_ERR_NOTFOUND) {
            cur = 0;
            ver = EA_EOS_ABSENT;
        } else if (rc != EA_OK || n != sizeof cur) {
            return rc != EA_OK ? rc : EA_ERR_CORRUPT;
        }
        next = cur + 1;
        rc = ea_eos_cas(s, "counter", 7, ver, &next, sizeof next, NULL);
        if (rc != EA_ERR_VERSION)
            return rc;
    }
}

static int private_store(struct peer *p)
{
    uint64_t runs = 0, ver = 0;
    size_t n = 0;
    int rc = ea_eos_get(p->priv, "runs", 4, &runs, sizeof runs, &n, &ver);
    if (rc == EA_ERR_NOTFOUND)
        runs = 0;
    else if (rc != EA_OK)
        return fail_with(p->me, "get runs", rc);
    runs++;
    if ((rc = ea_eos_put(p->priv, "runs", 4, &runs, sizeof runs, NULL)) != EA_OK)
        return fail_with(p->me, "put runs", rc);
    if ((rc = ea_eos_sync(p->priv)) != EA_OK)
        return fail_with(p->me, "sync", rc);
    ea_eos_stats_t st;
    ea_eos_stats(p->priv, &st);
    printf("%s: private store '%s': run %" PRIu64 " (sync counter %" PRIu64 ")\n", p->me,
           p->priv_name, runs, st.sync_counter);
    return EA_OK;
}

static int peer_body(ea_actor_t *self, void *state)
{
    (void)self;
    struct peer *p = state;
    int rc;
    if (p->phase == 0) {
        for (int i = 0; i < BATCH && p->done < p->rounds; i++, p->done++)
            if ((rc = increment(p->shared)) != EA_OK)
                return fail_with(p->me, "increment", rc);
        if (p->done < p->rounds)
            return EA_BUSY;
        p->phase = 1;
    }
    /* Wait for the other enclave's increments (bounded: about 20 s). */
    uint64_t c = 0;
    size_t n = 0;
    rc = ea_eos_get(p->shared, "counter", 7, &c, sizeof c, &n, NULL);
    if (rc != EA_OK)
        return fail_with(p->me, "get counter", rc);
    if (c < p->total) {
        if (++p->spins > 20000)
            return fail_with(p->me, "the other enclave's increments never came", EA_ERR_ACTOR);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        return EA_BUSY;
    }
    char k[64], v[64];
    uint8_t blob[BLOB], want[BLOB];
    uint64_t ver = 0;
    key_of(k, sizeof k, "greeting", p->other);
    if ((rc = ea_eos_get(p->shared, k, strlen(k), v, sizeof v - 1, &n, &ver)) != EA_OK)
        return fail_with(p->me, "get the other's greeting", rc);
    v[n] = '\0';
    printf("%s: '%s' = '%s' (version %" PRIu64 ")\n", p->me, k, v, ver);
    key_of(k, sizeof k, "blob", p->other);
    if ((rc = ea_eos_get(p->shared, k, strlen(k), blob, sizeof blob, &n, NULL)) != EA_OK)
        return fail_with(p->me, "get the other's blob", rc);
    blob_of(p->other, want);
    printf("%s: '%s' = %zu binary bytes, %s\n", p->me, k, n,
           n == BLOB && memcmp(blob, want, BLOB) == 0 ? "intact" : "WRONG");
    printf("%s: counter = %" PRIu64 " (expected %" PRIu64 ": %s)\n", p->me, c, p->total,
           c == p->total ? "no lost updates" : "WRONG");
    if (strcmp(p->priv_name, "journal") == 0) {
        if ((rc = private_store(p)) != EA_OK)
            return rc;
    } else {
        const char note[] = "kept in enclave memory, in the clear";
        if ((rc = ea_eos_put(p->priv, "note", 4, note, sizeof note - 1, NULL)) != EA_OK ||
            (rc = ea_eos_get(p->priv, "note", 4, v, sizeof v - 1, &n, NULL)) != EA_OK)
            return fail_with(p->me, "private store", rc);
        v[n] = '\0';
        printf("%s: private store '%s': note = '%s'\n", p->me, p->priv_name, v);
    }
    ea_eos_close(p->shared);
    ea_eos_close(p->priv);
    p->shared = p->priv = NULL;
    return EA_DONE;
}

EA_ACTOR(eos_peer, struct peer, peer_ctor, peer_body);

struct host {
    int unused;
};

static int host_body(ea_actor_t *self, void *state)
{
    (void)state;
    ea_eos_t *s = NULL;
    int rc = ea_eos_attach(self, "notes", &s);
    if (rc != EA_OK)
        return fail_with("host", "attach 'notes'", rc);
    const char motd[] = "plain text in the host's own memory";
    const uint8_t bin[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
    uint8_t got[64];
    size_t n = 0;
    uint64_t ver = 0;
    if ((rc = ea_eos_put(s, "motd", 4, motd, sizeof motd - 1, NULL)) != EA_OK ||
        (rc = ea_eos_put(s, "\x00\x01", 2, bin, sizeof bin, NULL)) != EA_OK ||
        (rc = ea_eos_put(s, "\x00\x01", 2, bin, sizeof bin, &ver)) != EA_OK)
        return fail_with("host", "put", rc);
    if ((rc = ea_eos_get(s, "motd", 4, got, sizeof got - 1, &n, NULL)) != EA_OK)
        return fail_with("host", "get", rc);
    got[n] = '\0';
    printf("host: 'motd' = '%s'\n", (const char *)got);
    if ((rc = ea_eos_get(s, "\x00\x01", 2, got, sizeof got, &n, &ver)) != EA_OK)
        return fail_with("host", "get binary", rc);
    printf("host: binary key 00 01 = %zu bytes, %s (version %" PRIu64 ")\n", n,
           n == sizeof bin && memcmp(got, bin, n) == 0 ? "intact" : "WRONG", ver);
    ea_eos_close(s);
    ea_eos_t *no = NULL;
    rc = ea_eos_attach(self, "shared", &no);
    printf("host: encrypted store 'shared': %s\n",
           rc == EA_OK ? "OPENED (wrong)" : ea_strerror(rc));
    ea_eos_close(no);
    no = NULL;
    rc = ea_eos_attach(self, "nosuch", &no);
    printf("host: store 'nosuch': %s\n", rc == EA_OK ? "OPENED (wrong)" : ea_strerror(rc));
    ea_eos_close(no);
    return EA_DONE;
}

EA_ACTOR(eos_host, struct host, NULL, host_body);
