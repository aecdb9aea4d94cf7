/*
 * Unit tests of TLS over memory buffers (src/tls/tls.c): a server and a
 * client ea_tls_t joined in memory by the test, with the test PKI made at
 * build time (certs.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eactors/ea_tls.h>

#include "certs.h"
#include "tls_pair.h"

static struct tls_pair connected(int min, int max)
{
    struct tls_pair p;
    assert_int_equal(pair_new(&p, 0, "localhost", min, max), EA_OK);
    char who;
    assert_int_equal(pair_handshake(&p, &who), EA_OK);
    assert_true(ea_tls_handshake_done(p.s));
    assert_true(ea_tls_handshake_done(p.c));
    return p;
}

/* Sends a short message each way and checks it arrives intact. */
static void ping_pong(struct tls_pair *p)
{
    char buf[64];
    assert_int_equal(ea_tls_write(p->c, "ping", 4), 4);
    assert_int_equal(pair_move(p->c, p->s, 0), EA_OK);
    assert_int_equal(ea_tls_read(p->s, buf, sizeof buf), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(ea_tls_read(p->s, buf, sizeof buf), EA_ERR_EMPTY);
    assert_int_equal(ea_tls_write(p->s, "pong!", 5), 5);
    assert_int_equal(pair_move(p->s, p->c, 0), EA_OK);
    assert_int_equal(ea_tls_read(p->c, buf, sizeof buf), 5);
    assert_memory_equal(buf, "pong!", 5);
    assert_int_equal(ea_tls_read(p->c, buf, sizeof buf), EA_ERR_EMPTY);
}

static void test_tls13(void **state)
{
    (void)state;
    struct tls_pair p = connected(EA_TLS_1_2, EA_TLS_1_3);
    assert_string_equal(ea_tls_version(p.s), "TLSv1.3");
    assert_string_equal(ea_tls_version(p.c), "TLSv1.3");
    assert_string_equal(ea_tls_cipher(p.c), "TLS_AES_256_GCM_SHA384");
    assert_string_equal(ea_tls_cipher(p.s), ea_tls_cipher(p.c));
    ping_pong(&p);
    assert_string_equal(ea_tls_error(p.c), "");
    pair_free(&p);
}

static void test_tls12(void **state)
{
    (void)state;
    struct tls_pair p = connected(EA_TLS_1_2, EA_TLS_1_2);
    assert_string_equal(ea_tls_version(p.s), "TLSv1.2");
    assert_string_equal(ea_tls_version(p.c), "TLSv1.2");
    assert_string_equal(ea_tls_cipher(p.c), "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    assert_string_equal(ea_tls_cipher(p.s), ea_tls_cipher(p.c));
    ping_pong(&p);
    pair_free(&p);
}

static void test_no_common_version(void **state)
{
    (void)state;
    struct tls_pair p;
    assert_int_equal(pair_new(&p, 0, "localhost", EA_TLS_1_2, EA_TLS_1_2), EA_OK);
    /* A server that wants 1.3 only meets a client that speaks 1.2 only. */
    ea_tls_ctx_t *s13;
    assert_int_equal(ea_tls_ctx_new_server(&s13, test_server_pem, test_server_pem_len,
                                           test_server_key, test_server_key_len, NULL, 0),
                     EA_OK);
    assert_int_equal(ea_tls_ctx_set_versions(s13, EA_TLS_1_3, EA_TLS_1_3), EA_OK);
    ea_tls_free(p.s);
    assert_int_equal(ea_tls_new(s13, &p.s), EA_OK);
    ea_tls_ctx_free(s13); /* the connection keeps what it needs */
    char who;
    assert_int_equal(pair_handshake(&p, &who), EA_ERR_CRYPTO);
    assert_int_equal(who, 's');
    assert_string_not_equal(ea_tls_error(p.s), "");
    assert_null(ea_tls_version(p.s));
    pair_free(&p);
    assert_int_equal(ea_tls_ctx_set_versions(NULL, EA_TLS_1_2, EA_TLS_1_3), EA_ERR_INVAL);
}

static void test_before_handshake(void **state)
{
    (void)state;
    struct tls_pair p;
    assert_int_equal(pair_new(&p, 0, "localhost", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_null(ea_tls_version(p.c));
    assert_null(ea_tls_cipher(p.c));
    assert_false(ea_tls_handshake_done(p.c));
    assert_int_equal(ea_tls_pending(p.c), 0);
    char buf[16];
    /* The server waits; the client's write starts the handshake instead. */
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), EA_ERR_EMPTY);
    assert_int_equal(ea_tls_write(p.c, "early", 5), EA_ERR_EMPTY);
    assert_true(ea_tls_pending(p.c) > 0);
    assert_int_equal(ea_tls_shutdown(p.c), EA_ERR_INVAL);
    char who;
    assert_int_equal(pair_handshake(&p, &who), EA_OK);
    assert_int_equal(ea_tls_write(p.c, "later", 5), 5);
    pair_free(&p);
}

/* ea_tls_feed_borrow reads the caller's bytes in place and keeps only what
 * no record took at ea_tls_feed_done (the buffer is overwritten after it);
 * ea_tls_write_into puts records into the caller's buffer while they fit,
 * the rest after them in the output, in order. */
static void test_borrow_and_write_into(void **state)
{
    (void)state;
    struct tls_pair p = connected(EA_TLS_1_2, EA_TLS_1_3);
    char msg[3000], got[4096], wire[8192], dst[8192];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 26);
    /* Three records, fed in pieces that cut them anywhere. */
    size_t wl = 0;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(ea_tls_write(p.c, msg, 1000), 1000);
        int n = ea_tls_take(p.c, wire + wl, sizeof wire - wl);
        assert_true(n > 0);
        wl += (size_t)n;
    }
    size_t cuts[] = {3, 700, 1, 1500, 4096};
    size_t off = 0, have = 0;
    char piece[4096];
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0] && off < wl; k++) {
        size_t n = cuts[k] < wl - off ? cuts[k] : wl - off;
        memcpy(piece, wire + off, n);
        off += n;
        assert_int_equal(ea_tls_feed_borrow(p.s, piece, n), EA_OK);
        int r;
        while ((r = ea_tls_read(p.s, got + have, sizeof got - have)) > 0)
            have += (size_t)r;
        assert_int_equal(r, EA_ERR_EMPTY);
        assert_int_equal(ea_tls_feed_done(p.s), EA_OK);
        memset(piece, 0x5a, sizeof piece); /* the borrowed bytes are gone */
    }
    assert_int_equal(off, wl);
    assert_int_equal(have, 3000);
    assert_memory_equal(got, msg, 1000);
    assert_memory_equal(got + 2000, msg, 1000);
    /* A borrow behind unread bytes of an earlier one: kept in order. */
    assert_int_equal(ea_tls_write(p.c, "hello", 5), 5);
    assert_int_equal(ea_tls_write(p.c, "world", 5), 5);
    int n = ea_tls_take(p.c, wire, sizeof wire);
    assert_true(n > 10);
    assert_int_equal(ea_tls_feed_borrow(p.s, wire, (size_t)n / 2), EA_OK);
    assert_int_equal(ea_tls_feed_done(p.s), EA_OK);
    memcpy(piece, wire + n / 2, (size_t)n - (size_t)n / 2);
    assert_int_equal(ea_tls_feed_borrow(p.s, piece, (size_t)n - (size_t)n / 2), EA_OK);
    assert_int_equal(ea_tls_read(p.s, got, 5), 5);
    assert_int_equal(ea_tls_read(p.s, got + 5, 5), 5);
    assert_memory_equal(got, "helloworld", 10);
    assert_int_equal(ea_tls_feed_done(p.s), EA_OK);

    /* write_into: one record fits; a 20,000-byte write does not (two
     * records): the first lands in dst, the second waits, in order. */
    size_t put = 99;
    assert_int_equal(ea_tls_write_into(p.s, "abc", 3, dst, sizeof dst, &put), 3);
    assert_true(put > 3);
    assert_int_equal(ea_tls_pending(p.s), 0);
    assert_int_equal(ea_tls_feed(p.c, dst, put), EA_OK);
    assert_int_equal(ea_tls_read(p.c, got, sizeof got), 3);
    assert_memory_equal(got, "abc", 3);
    static char big[20000], back[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    assert_int_equal(ea_tls_write_into(p.s, big, sizeof big, dst, sizeof dst, &put), 20000);
    assert_int_equal(put, 0); /* the first record (16 KiB) does not fit */
    assert_true(ea_tls_pending(p.s) > 20000);
    assert_int_equal(pair_move(p.s, p.c, 0), EA_OK);
    static char room[20000];
    assert_int_equal(ea_tls_write_into(p.s, big, 5000, room, sizeof room, &put), 5000);
    assert_true(put > 5000 && put < 5100);
    assert_int_equal(ea_tls_feed(p.c, room, put), EA_OK);
    size_t total = 0;
    int r;
    while ((r = ea_tls_read(p.c, back + total, sizeof back - total)) > 0)
        total += (size_t)r;
    assert_int_equal(total, 20000);
    assert_memory_equal(back, big, 20000);
    while ((r = ea_tls_read(p.c, back, sizeof back)) > 0)
        total += (size_t)r;
    assert_int_equal(total, 25000);
    assert_memory_equal(back, big, 5000);
    /* Output waiting already: nothing goes to dst, it follows in order. */
    assert_int_equal(ea_tls_write(p.s, "x", 1), 1);
    assert_int_equal(ea_tls_write_into(p.s, "y", 1, dst, sizeof dst, &put), 1);
    assert_int_equal(put, 0);
    assert_int_equal(ea_tls_write_into(p.s, "z", 1, NULL, 0, NULL), EA_ERR_INVAL);
    assert_int_equal(pair_move(p.s, p.c, 0), EA_OK);
    assert_int_equal(ea_tls_read(p.c, got, 1), 1);
    assert_int_equal(ea_tls_read(p.c, got + 1, 1), 1);
    assert_memory_equal(got, "xy", 2);
    pair_free(&p);
}

static void test_large_data(void **state)
{
    (void)state;
    struct tls_pair p = connected(EA_TLS_1_2, EA_TLS_1_3);
    const size_t MiB = 1u << 20;
    /* Odd piece sizes, so no write, packet or read lines up with a record. */
    assert_int_equal(pair_stream(p.c, p.s, MiB, 10007, 1500, 4093), EA_OK);
    assert_int_equal(pair_stream(p.s, p.c, MiB, 65536, 9000, 65536), EA_OK);
    /* One write larger than a record (16 KiB) becomes several records. */
    assert_int_equal(pair_stream(p.s, p.c, MiB, MiB, 16384, 100000), EA_OK);
    pair_free(&p);

    p = connected(EA_TLS_1_2, EA_TLS_1_2);
    assert_int_equal(pair_stream(p.c, p.s, MiB, 10007, 1500, 4093), EA_OK);
    assert_int_equal(pair_stream(p.s, p.c, MiB, 65536, 9000, 65536), EA_OK);
    pair_free(&p);
}

/* Flips one bit of a record in flight: the receiver must refuse it, and
 * keep refusing. */
static void corrupt_record(int min, int max, size_t at)
{
    struct tls_pair p = connected(min, max);
    assert_int_equal(ea_tls_write(p.c, "secret data", 11), 11);
    uint8_t rec[256];
    int n = ea_tls_take(p.c, rec, sizeof rec);
    assert_true(n > 11);
    assert_int_equal(ea_tls_pending(p.c), 0);
    rec[at < (size_t)n ? at : (size_t)n - 1] ^= 0x20;
    assert_int_equal(ea_tls_feed(p.s, rec, (size_t)n), EA_OK);
    char buf[64];
    int rc = ea_tls_read(p.s, buf, sizeof buf);
    if (rc == EA_ERR_EMPTY) {
        /* A longer length in the header: the receiver waits for the rest,
         * and the end of the stream reveals the truncation. */
        assert_int_equal(ea_tls_feed_eof(p.s), EA_OK);
        rc = ea_tls_read(p.s, buf, sizeof buf);
        assert_int_equal(rc, EA_ERR_AUTH);
    }
    assert_true(rc < 0 && rc != EA_ERR_EMPTY);
    assert_string_not_equal(ea_tls_error(p.s), "");
    /* Sticky: the same answer, whatever comes next. */
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), rc);
    assert_int_equal(ea_tls_write(p.s, "x", 1), rc);
    assert_int_equal(ea_tls_feed(p.s, "x", 1), rc);
    assert_int_equal(ea_tls_shutdown(p.s), rc);
    /* The alert it queued makes the client fail too. */
    assert_true(ea_tls_pending(p.s) > 0);
    assert_int_equal(pair_move(p.s, p.c, 0), EA_OK);
    assert_true(ea_tls_read(p.c, buf, sizeof buf) < 0);
    pair_free(&p);
    if (at >= 5) /* in the encrypted part: an integrity failure */
        assert_int_equal(rc, EA_ERR_AUTH);
}

/* A host that rewrites received bytes it still sees (ea_tls_feed_borrow
 * reads them in place from the public arena) after the borrow and before
 * libssl reads them: the record fails authentication, nothing of it is
 * returned, and the failure is sticky. Control: the same bytes untouched
 * are read. */
static void borrowed_rewrite(int rewrite)
{
    struct tls_pair p = connected(EA_TLS_1_3, EA_TLS_1_3);
    assert_int_equal(ea_tls_write(p.c, "secret data", 11), 11);
    uint8_t arena[256];
    int n = ea_tls_take(p.c, arena, sizeof arena);
    assert_true(n > 11);
    assert_int_equal(ea_tls_feed_borrow(p.s, arena, (size_t)n), EA_OK);
    if (rewrite)
        arena[n - 20] ^= 0x01;
    char buf[64];
    int rc = ea_tls_read(p.s, buf, sizeof buf);
    assert_int_equal(ea_tls_feed_done(p.s), EA_OK); /* the failure is read's */
    if (rewrite) {
        assert_int_equal(rc, EA_ERR_AUTH);
        assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), rc);
    } else {
        assert_int_equal(rc, 11);
        assert_memory_equal(buf, "secret data", 11);
    }
    pair_free(&p);
}

static void test_borrowed_rewritten(void **state)
{
    (void)state;
    borrowed_rewrite(0);
    borrowed_rewrite(1);
}

static void test_corrupted_ciphertext(void **state)
{
    (void)state;
    corrupt_record(EA_TLS_1_3, EA_TLS_1_3, 20);   /* payload */
    corrupt_record(EA_TLS_1_3, EA_TLS_1_3, 1000); /* the tag (last byte) */
    corrupt_record(EA_TLS_1_2, EA_TLS_1_2, 20);
    corrupt_record(EA_TLS_1_2, EA_TLS_1_2, 1000);
    corrupt_record(EA_TLS_1_3, EA_TLS_1_3, 0); /* record type */
    corrupt_record(EA_TLS_1_3, EA_TLS_1_3, 3); /* record length, high byte */
    corrupt_record(EA_TLS_1_2, EA_TLS_1_2, 4); /* record length, low byte */
}

static void test_corrupted_handshake(void **state)
{
    (void)state;
    struct tls_pair p;
    assert_int_equal(pair_new(&p, 0, "localhost", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_int_equal(ea_tls_handshake(p.c), EA_ERR_EMPTY);
    assert_int_equal(pair_move(p.c, p.s, 0), EA_OK);
    assert_int_equal(ea_tls_handshake(p.s), EA_ERR_EMPTY);
    /* The server's flight: ServerHello, then encrypted extensions,
     * certificate, signature, Finished. Damage a byte near its end. */
    uint8_t buf[8192];
    int n = ea_tls_take(p.s, buf, sizeof buf);
    assert_true(n > 100);
    buf[n - 10] ^= 1;
    assert_int_equal(ea_tls_feed(p.c, buf, (size_t)n), EA_OK);
    assert_int_equal(ea_tls_handshake(p.c), EA_ERR_AUTH);
    assert_false(ea_tls_handshake_done(p.c));
    pair_free(&p);
}

static void test_untrusted_server(void **state)
{
    (void)state;
    const int vers[][2] = {{EA_TLS_1_3, EA_TLS_1_3}, {EA_TLS_1_2, EA_TLS_1_2}};
    for (int v = 0; v < 2; v++) {
        /* A self-signed "localhost" certificate, not from the client's CA. */
        struct tls_pair p;
        assert_int_equal(pair_new(&p, 1, "localhost", vers[v][0], vers[v][1]), EA_OK);
        char who;
        assert_int_equal(pair_handshake(&p, &who), EA_ERR_AUTH);
        assert_int_equal(who, 'c');
        assert_non_null(strstr(ea_tls_error(p.c), "certificate"));
        assert_false(ea_tls_handshake_done(p.c));
        /* Its alert tells the server. */
        assert_int_equal(pair_move(p.c, p.s, 0), EA_OK);
        assert_int_equal(ea_tls_handshake(p.s), EA_ERR_AUTH);
        pair_free(&p);
    }
}

static void test_server_name(void **state)
{
    (void)state;
    struct tls_pair p;
    char who;
    /* The right CA but the wrong name. */
    assert_int_equal(pair_new(&p, 0, "example.com", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_int_equal(pair_handshake(&p, &who), EA_ERR_AUTH);
    assert_int_equal(who, 'c');
    pair_free(&p);
    /* IP literals are checked against IP subjectAltNames. */
    assert_int_equal(pair_new(&p, 0, "127.0.0.1", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_int_equal(pair_handshake(&p, &who), EA_OK);
    pair_free(&p);
    assert_int_equal(pair_new(&p, 0, "127.0.0.2", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_int_equal(pair_handshake(&p, &who), EA_ERR_AUTH);
    pair_free(&p);
}

static void test_clean_shutdown(void **state)
{
    (void)state;
    struct tls_pair p = connected(EA_TLS_1_2, EA_TLS_1_3);
    char buf[64];
    /* Data written before the close_notify still arrives, then 0. */
    assert_int_equal(ea_tls_write(p.c, "bye", 3), 3);
    assert_int_equal(ea_tls_shutdown(p.c), EA_OK);
    assert_int_equal(ea_tls_shutdown(p.c), EA_OK);
    assert_int_equal(ea_tls_write(p.c, "more", 4), EA_ERR_STOPPED);
    assert_int_equal(pair_move(p.c, p.s, 0), EA_OK);
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), 3);
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), 0);
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), 0);
    /* The server answers with its own close_notify. */
    assert_int_equal(ea_tls_shutdown(p.s), EA_OK);
    assert_int_equal(pair_move(p.s, p.c, 0), EA_OK);
    assert_int_equal(ea_tls_read(p.c, buf, sizeof buf), 0);
    assert_string_equal(ea_tls_error(p.c), "");
    assert_string_equal(ea_tls_error(p.s), "");
    /* The transport may end now: still a clean close. */
    assert_int_equal(ea_tls_feed_eof(p.c), EA_OK);
    assert_int_equal(ea_tls_read(p.c, buf, sizeof buf), 0);
    pair_free(&p);
}

static void test_truncation(void **state)
{
    (void)state;
    struct tls_pair p = connected(EA_TLS_1_2, EA_TLS_1_3);
    char buf[64];
    assert_int_equal(ea_tls_write(p.c, "abc", 3), 3);
    assert_int_equal(pair_move(p.c, p.s, 0), EA_OK);
    assert_int_equal(ea_tls_feed_eof(p.s), EA_OK);
    assert_int_equal(ea_tls_feed(p.s, "x", 1), EA_ERR_STOPPED);
    /* What arrived is read; then the missing close_notify is an error. */
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), 3);
    assert_int_equal(ea_tls_read(p.s, buf, sizeof buf), EA_ERR_AUTH);
    assert_non_null(strstr(ea_tls_error(p.s), "truncated"));
    pair_free(&p);

    /* The transport ends during the handshake. */
    assert_int_equal(pair_new(&p, 0, "localhost", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_int_equal(ea_tls_handshake(p.c), EA_ERR_EMPTY);
    assert_int_equal(ea_tls_feed_eof(p.c), EA_OK);
    assert_int_equal(ea_tls_handshake(p.c), EA_ERR_STOPPED);
    pair_free(&p);
}

static void test_bad_credentials(void **state)
{
    (void)state;
    ea_tls_ctx_t *c = (ea_tls_ctx_t *)&c;
    char err[200] = "";
    static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                               "-----END CERTIFICATE-----\n";
    assert_int_equal(ea_tls_ctx_new_server(&c, junk, sizeof junk - 1, test_server_key,
                                           test_server_key_len, err, sizeof err),
                     EA_ERR_PARSE);
    assert_null(c);
    assert_string_not_equal(err, "");
    assert_int_equal(ea_tls_ctx_new_server(&c, "hello", 5, test_server_key, test_server_key_len,
                                           err, sizeof err),
                     EA_ERR_PARSE);
    /* A key is not a certificate, and a certificate is not a key. */
    assert_int_equal(ea_tls_ctx_new_server(&c, test_server_pem, test_server_pem_len,
                                           test_server_pem, test_server_pem_len, err, sizeof err),
                     EA_ERR_PARSE);
    /* The rogue key does not match the server certificate. */
    assert_int_equal(ea_tls_ctx_new_server(&c, test_server_pem, test_server_pem_len, test_rogue_key,
                                           test_rogue_key_len, err, sizeof err),
                     EA_ERR_AUTH);
    assert_non_null(strstr(err, "does not match"));
    assert_int_equal(
        ea_tls_ctx_new_server(&c, NULL, 0, test_server_key, test_server_key_len, err, sizeof err),
        EA_ERR_INVAL);
    assert_int_equal(ea_tls_ctx_new_client(&c, junk, sizeof junk - 1, "localhost", err, sizeof err),
                     EA_ERR_PARSE);
    assert_int_equal(ea_tls_ctx_new_client(&c, "x", 1, "localhost", err, sizeof err), EA_ERR_PARSE);
    assert_int_equal(ea_tls_ctx_new_client(&c, test_ca_pem, test_ca_pem_len, NULL, err, sizeof err),
                     EA_ERR_INVAL);
    assert_int_equal(ea_tls_ctx_new_client(&c, test_ca_pem, test_ca_pem_len, "", NULL, 0),
                     EA_ERR_INVAL);
    assert_null(c);
    /* A chain: leaf then CA is accepted; a CA bundle of two also. */
    char chain[8192];
    assert_true(test_server_pem_len + test_ca_pem_len < sizeof chain);
    memcpy(chain, test_server_pem, test_server_pem_len);
    memcpy(chain + test_server_pem_len, test_ca_pem, test_ca_pem_len);
    assert_int_equal(ea_tls_ctx_new_server(&c, chain, test_server_pem_len + test_ca_pem_len,
                                           test_server_key, test_server_key_len, err, sizeof err),
                     EA_OK);
    ea_tls_ctx_free(c);
    memcpy(chain, test_rogue_pem, test_rogue_pem_len);
    memcpy(chain + test_rogue_pem_len, test_ca_pem, test_ca_pem_len);
    assert_int_equal(ea_tls_ctx_new_client(&c, chain, test_rogue_pem_len + test_ca_pem_len,
                                           "localhost", err, sizeof err),
                     EA_OK);
    ea_tls_ctx_free(c);
    ea_tls_ctx_free(NULL);
    ea_tls_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls13),
        cmocka_unit_test(test_tls12),
        cmocka_unit_test(test_no_common_version),
        cmocka_unit_test(test_before_handshake),
        cmocka_unit_test(test_large_data),
        cmocka_unit_test(test_borrow_and_write_into),
        cmocka_unit_test(test_corrupted_ciphertext),
        cmocka_unit_test(test_borrowed_rewritten),
        cmocka_unit_test(test_corrupted_handshake),
        cmocka_unit_test(test_untrusted_server),
        cmocka_unit_test(test_server_name),
        cmocka_unit_test(test_clean_shutdown),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_credentials),
    };
    if (ea_tls_init() != EA_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
