/*
 * TLS inside enclaves over in-memory BIOs (see <eactors/ea_tls.h>).
 *
 * Design notes.
 *
 * Transport. Each connection is one SSL object between two byte-buffer
 * BIOs of our own (struct bbuf; OpenSSL's memory BIO zeroes what it
 * appends before copying it in): `in` holds ciphertext the actor fed, `out`
 * ciphertext for the actor to take. Neither ever blocks: an empty `in`
 * reads as "retry", so OpenSSL reports SSL_ERROR_WANT_READ, which we
 * turn into EA_ERR_EMPTY; `out` grows as needed, so WANT_WRITE cannot
 * happen. ea_tls_feed_eof makes an empty `in` read as end of stream, so a stream that
 * ends without close_notify is reported as truncation instead of waiting
 * forever. Two copies can be left out by the caller: ea_tls_feed_borrow
 * lets `in` read the caller's bytes in place (after its own, if any) until
 * ea_tls_feed_done keeps what is left, and ea_tls_write_into points `out`
 * at the caller's buffer for one write (records go there while they fit
 * and `out` is empty, the rest into `out`, so the order holds).
 *
 * No files, no system calls. Enclaves run under a seccomp allow-list
 * (docs/ARCHITECTURE.md). OpenSSL reads openssl.cnf when it initialises
 * itself implicitly, and its default PEM password callback opens the
 * terminal. So: ea_tls_init runs OPENSSL_init_ssl with
 * OPENSSL_INIT_NO_LOAD_CONFIG (after eai_crypto_init, which makes the same
 * choice for libcrypto) before any other libssl call, every entry point
 * runs it first, PEM is only read from memory BIOs with a password callback
 * that refuses, and the client context trusts only the CA certificates it
 * was given (no default verify paths, no directory lookups). ea_tls_init
 * also runs one complete in-memory handshake of each version with a
 * throwaway key, so that every algorithm libssl fetches lazily (key
 * exchange groups, signature schemes, HKDF, the record ciphers, the PEM and
 * DER decoders) is in the provider's method cache before confinement, and
 * glibc's gmtime_r has read the time zone file it reads once per process
 * (OpenSSL converts certificate times with it); what is left afterwards is
 * getrandom for the DRBG. tests/tls checks this under
 * a real filter, including on a thread that never ran TLS before.
 *
 * Policy. TLS 1.2 minimum; OpenSSL 3's default cipher lists and groups
 * (forward-secret AEAD suites only at security level 2); compression,
 * renegotiation, session tickets and the session cache are off: an enclave
 * connection is not resumed, and there is no state that outlives it.
 * Received plaintext is wiped from OpenSSL's buffers once read
 * (SSL_OP_CLEANSE_PLAINTEXT); the caller's own buffers are the caller's.
 *
 * Errors. OpenSSL's per-thread error queue is cleared before each SSL call
 * (SSL_get_error needs that) and after a failure has been turned into an
 * ea_err plus a message, so nothing leaks to an unrelated caller. The first
 * fatal error is kept in the connection and returned by every later call:
 * the SSL object is unusable after one, and a caller that retries must not
 * see a different answer.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <eactors/ea_tls.h>

#include "crypto/crypto.h"

struct ea_tls_ctx {
    SSL_CTX *ssl;
    bool server;
    char *name;   /* client: the server's DNS name or IP literal */
    bool name_ip; /* `name` is an IP literal */
};

/* A BIO's bytes: [off, off + len) of p (capacity cap). An input may also
 * read borrowed bytes in place (`v`, vlen left; ea_tls_feed_borrow) after
 * its own; an output may write into a caller's buffer (`sink`: sink_len of
 * sink_cap used; ea_tls_write_into) while it has none of its own. */
struct bbuf {
    unsigned char *p;
    size_t off, len, cap;
    const unsigned char *v;
    size_t vlen;
    unsigned char *sink;
    size_t sink_len, sink_cap;
    bool eof; /* empty reads as end of stream, not "retry" */
};

struct ea_tls {
    SSL *ssl;
    BIO *in;          /* ciphertext from the peer (read by SSL) */
    BIO *out;         /* ciphertext to the peer (written by SSL) */
    struct bbuf *inb; /* their bytes (owned by the BIOs) */
    struct bbuf *outb;
    int failed;       /* sticky ea_err, 0 while healthy */
    bool eof;         /* ea_tls_feed_eof was called */
    bool established; /* the handshake completed (noted before each call) */
    bool closed_write;
    char why[160];
};

/* ------------------------------------------------------------ errors */

static void put_err(char *err, size_t errlen, const char *what)
{
    if (err == NULL || errlen == 0)
        return;
    unsigned long e = ERR_peek_error();
    if (e != 0) {
        char detail[120];
        ERR_error_string_n(e, detail, sizeof detail);
        snprintf(err, errlen, "%s (%s)", what, detail);
    } else {
        snprintf(err, errlen, "%s", what);
    }
}

/* Ends every failing path: the message is taken, then the queue emptied. */
static int fail(int rc, char *err, size_t errlen, const char *what)
{
    put_err(err, errlen, what);
    ERR_clear_error();
    return rc;
}

/* Reasons that mean "the peer or its data failed authentication". */
static bool is_auth_reason(int lib, int reason)
{
    if (lib != ERR_LIB_SSL)
        return false;
    switch (reason) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_DECRYPTION_FAILED:
    case SSL_R_BAD_SIGNATURE:
    case SSL_R_SSLV3_ALERT_BAD_RECORD_MAC:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
    case SSL_R_TLSV1_ALERT_DECRYPTION_FAILED:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED: return true;
    default: return false;
    }
}

/* Turns the result `ret` of an SSL call into EA_ERR_EMPTY, 0 (clean close)
 * or a sticky failure. The whole error queue is read: the reason that
 * matters (bad record MAC, say) may sit above a provider's lower-level
 * entry ("cipher operation failed"). */
static int ssl_result(ea_tls_t *t, int ret)
{
    int e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return EA_ERR_EMPTY;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return 0;
    }
    bool auth = false, eof = false;
    unsigned long code, shown = 0;
    while ((code = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
            ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            eof = true;
        else if (is_auth_reason(ERR_GET_LIB(code), ERR_GET_REASON(code)))
            auth = true;
        /* The TLS layer's own entry explains best; else the first one. */
        if (shown == 0 || ERR_GET_LIB(code) == ERR_LIB_SSL)
            shown = code;
    }
    /* Memory BIOs make no system call: SSL_ERROR_SYSCALL is an end of
     * input, like an unexpected EOF. */
    if (e == SSL_ERROR_SYSCALL && shown == 0)
        eof = true;
    /* Asked of our flag: after a fatal error OpenSSL's state machine no
     * longer reports the handshake as finished. */
    bool done = t->established;
    int rc = EA_ERR_CRYPTO;
    const char *what = "TLS failure";
    if (auth) {
        rc = EA_ERR_AUTH;
        what = "TLS authentication failure";
    } else if (eof) {
        rc = done ? EA_ERR_AUTH : EA_ERR_STOPPED;
        what = done ? "stream truncated (no close_notify)" : "transport ended during the handshake";
    }
    char detail[120] = "";
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK) {
        rc = EA_ERR_AUTH;
        snprintf(t->why, sizeof t->why, "peer certificate refused: %s",
                 X509_verify_cert_error_string(vr));
    } else if (shown != 0) {
        ERR_error_string_n(shown, detail, sizeof detail);
        snprintf(t->why, sizeof t->why, "%s (%s)", what, detail);
    } else {
        snprintf(t->why, sizeof t->why, "%s", what);
    }
    ERR_clear_error();
    t->failed = rc;
    return rc;
}

/* Every SSL call on a connection starts here: SSL_get_error needs an empty
 * queue, and ssl_result needs to know whether the handshake had completed
 * before a failure. */
static void before_call(ea_tls_t *t)
{
    /* Only when something is queued: ERR_peek_error is what SSL_get_error
     * looks at, and clearing the empty queue (all of its 16 slots, several
     * times per request) was about 1% of the https example's CPU. */
    if (ERR_peek_error() != 0)
        ERR_clear_error();
    if (SSL_is_init_finished(t->ssl))
        t->established = true;
}

/* ------------------------------------------------------------ byte BIOs */

/* The transport BIOs. OpenSSL's memory BIO zeroes every byte it appends
 * (BUF_MEM_grow_clean) before copying it in, and is reached through
 * BIO_write/BIO_read/BIO_ctrl_pending from ea_tls_feed, _take and
 * _pending; its memset was 0.7 % of the xmpp example's c2s enclave. This
 * one appends with one copy, is read by SSL through the BIO interface and
 * by ea_tls_* directly. Ciphertext only: freed without wiping. */
static BIO_METHOD *g_bbuf_method;

/* Appends n bytes; false without memory. */
static bool bbuf_put(struct bbuf *b, const void *data, size_t n)
{
    if (b->cap - b->off - b->len < n) {
        if (b->off > 0 && b->cap - b->len >= n) { /* room once the read part is gone */
            memmove(b->p, b->p + b->off, b->len);
            b->off = 0;
        } else {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap - b->len < n) {
                if (cap > SIZE_MAX / 2)
                    return false;
                cap *= 2;
            }
            unsigned char *q = malloc(cap);
            if (q == NULL)
                return false;
            if (b->len > 0)
                memcpy(q, b->p + b->off, b->len);
            free(b->p);
            b->p = q;
            b->off = 0;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->off + b->len, data, n);
    b->len += n;
    return true;
}

static size_t bbuf_get(struct bbuf *b, void *buf, size_t n)
{
    if (n > b->len)
        n = b->len;
    if (n == 0)
        return 0;
    memcpy(buf, b->p + b->off, n);
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
    return n;
}

static int bbuf_write(BIO *bio, const char *data, int n)
{
    struct bbuf *b = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (n <= 0)
        return 0;
    /* Into the caller's buffer while it has room and nothing of ours comes
     * first (what does not fit, and all after it, stays here, in order). */
    if (b->sink != NULL && b->len == 0 && b->sink_cap - b->sink_len >= (size_t)n) {
        memcpy(b->sink + b->sink_len, data, (size_t)n);
        b->sink_len += (size_t)n;
        return n;
    }
    return bbuf_put(b, data, (size_t)n) ? n : -1;
}

static int bbuf_read(BIO *bio, char *buf, int n)
{
    struct bbuf *b = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (n <= 0)
        return 0;
    size_t got = bbuf_get(b, buf, (size_t)n);
    if (got == 0 && b->vlen > 0) { /* borrowed bytes, after our own */
        got = b->vlen < (size_t)n ? b->vlen : (size_t)n;
        memcpy(buf, b->v, got);
        b->v += got;
        b->vlen -= got;
    }
    if (got > 0)
        return (int)got;
    if (b->eof)
        return 0;
    BIO_set_retry_read(bio); /* empty: "retry", SSL_ERROR_WANT_READ */
    return -1;
}

static long bbuf_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct bbuf *b = BIO_get_data(bio);
    switch (cmd) {
    case BIO_CTRL_PENDING: return b->len + b->vlen > LONG_MAX ? LONG_MAX : (long)(b->len + b->vlen);
    case BIO_CTRL_EOF: return b->len + b->vlen == 0 && b->eof;
    case BIO_CTRL_FLUSH: return 1;
    default: return 0;
    }
}

static int bbuf_create(BIO *bio)
{
    struct bbuf *b = calloc(1, sizeof *b);
    if (b == NULL)
        return 0;
    BIO_set_data(bio, b);
    BIO_set_init(bio, 1);
    return 1;
}

static int bbuf_destroy(BIO *bio)
{
    struct bbuf *b = BIO_get_data(bio);
    if (b != NULL) {
        free(b->p);
        free(b);
        BIO_set_data(bio, NULL);
    }
    return 1;
}

static int make_bbuf_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ea_tls bytes");
    if (m == NULL || BIO_meth_set_write(m, bbuf_write) != 1 ||
        BIO_meth_set_read(m, bbuf_read) != 1 || BIO_meth_set_ctrl(m, bbuf_ctrl) != 1 ||
        BIO_meth_set_create(m, bbuf_create) != 1 || BIO_meth_set_destroy(m, bbuf_destroy) != 1) {
        BIO_meth_free(m);
        ERR_clear_error();
        return EA_ERR_CRYPTO;
    }
    g_bbuf_method = m;
    return EA_OK;
}

/* ------------------------------------------------------------ init */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc = EA_ERR_CRYPTO;
/* Set only on the thread running do_init, while it runs the warm-up
 * handshakes through the public functions (which call ensure_init). */
static _Thread_local int t_in_init;

static int warm_up(void);

static void do_init(void)
{
    if (eai_crypto_init() != EA_OK)
        return;
    uint64_t opts = OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT;
    if (OPENSSL_init_ssl(opts, NULL) != 1) {
        ERR_clear_error();
        return;
    }
    if (make_bbuf_method() != EA_OK)
        return;
    t_in_init = 1;
    g_init_rc = warm_up();
    t_in_init = 0;
}

static int ensure_init(void)
{
    if (t_in_init)
        return EA_OK;
    if (pthread_once(&g_once, do_init) != 0)
        return EA_ERR_CRYPTO;
    return g_init_rc;
}

int ea_tls_init(void)
{
    return ensure_init();
}

/* ------------------------------------------------------------ contexts */

/* PEM password callback: keys must be unencrypted. OpenSSL's default
 * callback would prompt on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static BIO *mem_view(const char *pem, size_t len)
{
    return BIO_new_mem_buf(pem, (int)len);
}

/* True if the error queue's last entry says "no more PEM blocks". */
static bool pem_at_end(void)
{
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static int ctx_common(ea_tls_ctx_t **out, bool server, char *err, size_t errlen)
{
    *out = NULL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return fail(rc, err, errlen, "cannot initialise OpenSSL");
    ea_tls_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return fail(EA_ERR_NOMEM, err, errlen, "out of memory");
    c->server = server;
    c->ssl = SSL_CTX_new(TLS_method());
    if (c->ssl == NULL) {
        free(c);
        return fail(EA_ERR_NOMEM, err, errlen, "cannot make an SSL context");
    }
    SSL_CTX *s = c->ssl;
    if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_CRYPTO, err, errlen, "cannot set the protocol versions");
    }
    /* CLEANSE_PLAINTEXT: received plaintext is wiped from OpenSSL's record
     * buffer once handed to the caller, not left until overwritten. */
    SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_CLEANSE_PLAINTEXT);
    SSL_CTX_set_num_tickets(s, 0);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_security_level(s, 2);
    SSL_CTX_set_mode(s, SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_default_passwd_cb(s, no_password);
    *out = c;
    return EA_OK;
}

int ea_tls_ctx_new_server(ea_tls_ctx_t **ctx, const char *cert_pem, size_t cert_len,
                          const char *key_pem, size_t key_len, char *err, size_t errlen)
{
    if (ctx == NULL)
        return fail(EA_ERR_INVAL, err, errlen, "no context pointer");
    *ctx = NULL;
    if (cert_pem == NULL || cert_len == 0 || key_pem == NULL || key_len == 0)
        return fail(EA_ERR_INVAL, err, errlen, "certificate and key are required");
    if (cert_len > INT_MAX || key_len > INT_MAX)
        return fail(EA_ERR_TOOBIG, err, errlen, "certificate or key too large");
    ea_tls_ctx_t *c;
    int rc = ctx_common(&c, true, err, errlen);
    if (rc != EA_OK)
        return rc;

    BIO *b = mem_view(cert_pem, cert_len);
    if (b == NULL) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_NOMEM, err, errlen, "out of memory");
    }
    /* Leaf first, then the chain up to (not necessarily including) a root. */
    X509 *leaf = PEM_read_bio_X509(b, NULL, no_password, NULL);
    if (leaf == NULL || SSL_CTX_use_certificate(c->ssl, leaf) != 1) {
        X509_free(leaf);
        BIO_free(b);
        ea_tls_ctx_free(c);
        return fail(EA_ERR_PARSE, err, errlen, "no usable certificate in the PEM");
    }
    X509_free(leaf);
    for (;;) {
        X509 *x = PEM_read_bio_X509(b, NULL, no_password, NULL);
        if (x == NULL)
            break;
        if (SSL_CTX_add0_chain_cert(c->ssl, x) != 1) {
            X509_free(x);
            BIO_free(b);
            ea_tls_ctx_free(c);
            return fail(EA_ERR_CRYPTO, err, errlen, "cannot add a chain certificate");
        }
    }
    BIO_free(b);
    if (!pem_at_end()) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_PARSE, err, errlen, "malformed certificate chain");
    }
    ERR_clear_error();

    b = mem_view(key_pem, key_len);
    if (b == NULL) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_NOMEM, err, errlen, "out of memory");
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
    BIO_free(b);
    if (key == NULL) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_PARSE, err, errlen, "no usable private key in the PEM");
    }
    int ok = SSL_CTX_use_PrivateKey(c->ssl, key);
    EVP_PKEY_free(key);
    if (ok != 1 || SSL_CTX_check_private_key(c->ssl) != 1) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_AUTH, err, errlen, "the key does not match the certificate");
    }
    *ctx = c;
    return EA_OK;
}

int ea_tls_ctx_new_client(ea_tls_ctx_t **ctx, const char *ca_pem, size_t ca_len,
                          const char *server_name, char *err, size_t errlen)
{
    if (ctx == NULL)
        return fail(EA_ERR_INVAL, err, errlen, "no context pointer");
    *ctx = NULL;
    if (ca_pem == NULL || ca_len == 0 || server_name == NULL || server_name[0] == '\0')
        return fail(EA_ERR_INVAL, err, errlen, "CA certificates and server name are required");
    if (ca_len > INT_MAX)
        return fail(EA_ERR_TOOBIG, err, errlen, "CA certificates too large");
    ea_tls_ctx_t *c;
    int rc = ctx_common(&c, false, err, errlen);
    if (rc != EA_OK)
        return rc;
    c->name = strdup(server_name);
    if (c->name == NULL) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_NOMEM, err, errlen, "out of memory");
    }
    unsigned char addr[16];
    c->name_ip =
        inet_pton(AF_INET, server_name, addr) == 1 || inet_pton(AF_INET6, server_name, addr) == 1;

    /* The store gets exactly the given certificates: no default paths. */
    X509_STORE *store = SSL_CTX_get_cert_store(c->ssl);
    BIO *b = mem_view(ca_pem, ca_len);
    if (b == NULL) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_NOMEM, err, errlen, "out of memory");
    }
    int n = 0;
    for (;;) {
        X509 *x = PEM_read_bio_X509(b, NULL, no_password, NULL);
        if (x == NULL)
            break;
        if (X509_STORE_add_cert(store, x) != 1) {
            X509_free(x);
            BIO_free(b);
            ea_tls_ctx_free(c);
            return fail(EA_ERR_CRYPTO, err, errlen, "cannot add a CA certificate");
        }
        X509_free(x);
        n++;
    }
    BIO_free(b);
    if (n == 0 || !pem_at_end()) {
        ea_tls_ctx_free(c);
        return fail(EA_ERR_PARSE, err, errlen,
                    n == 0 ? "no CA certificate in the PEM" : "malformed CA certificate");
    }
    ERR_clear_error();
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    *ctx = c;
    return EA_OK;
}

int ea_tls_ctx_set_versions(ea_tls_ctx_t *ctx, int min, int max)
{
    bool okv = (min == EA_TLS_1_2 || min == EA_TLS_1_3) && (max == EA_TLS_1_2 || max == EA_TLS_1_3);
    if (ctx == NULL || !okv || min > max)
        return EA_ERR_INVAL;
    /* The ea_tls_version values are the wire values OpenSSL uses too. */
    if (SSL_CTX_set_min_proto_version(ctx->ssl, min) != 1 ||
        SSL_CTX_set_max_proto_version(ctx->ssl, max) != 1)
        return fail(EA_ERR_CRYPTO, NULL, 0, NULL);
    return EA_OK;
}

void ea_tls_ctx_free(ea_tls_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    /* SSL_CTX_free clears the private key (EVP_PKEY frees wipe it). */
    SSL_CTX_free(ctx->ssl);
    free(ctx->name);
    free(ctx);
}

/* ------------------------------------------------------------ connections */

int ea_tls_new(ea_tls_ctx_t *ctx, ea_tls_t **out)
{
    if (out == NULL)
        return EA_ERR_INVAL;
    *out = NULL;
    if (ctx == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    ea_tls_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return EA_ERR_NOMEM;
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(g_bbuf_method);
    t->out = BIO_new(g_bbuf_method);
    if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
        SSL_free(t->ssl);
        BIO_free(t->in);
        BIO_free(t->out);
        free(t);
        return fail(EA_ERR_NOMEM, NULL, 0, NULL);
    }
    /* An empty input means "retry later", never end of stream (bbuf_read
     * until ea_tls_feed_eof). */
    t->inb = BIO_get_data(t->in);
    t->outb = BIO_get_data(t->out);
    SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns both BIOs now */
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        int ok = ctx->name_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ctx->name)
                              : (SSL_set_tlsext_host_name(t->ssl, ctx->name) == 1 &&
                                 SSL_set1_host(t->ssl, ctx->name) == 1);
        if (!ok) {
            SSL_free(t->ssl);
            free(t);
            return fail(EA_ERR_CRYPTO, NULL, 0, NULL);
        }
    }
    *out = t;
    return EA_OK;
}

void ea_tls_free(ea_tls_t *t)
{
    if (t == NULL)
        return;
    /* Frees both BIOs (ciphertext only, nothing secret); OpenSSL clears
     * the traffic keys, and SSL_OP_CLEANSE_PLAINTEXT its record buffers. */
    SSL_free(t->ssl);
    OPENSSL_cleanse(t, sizeof *t);
    free(t);
}

/* What ea_tls_feed and ea_tls_feed_borrow refuse before they take bytes. */
static int feed_check(const ea_tls_t *t, const void *ciphertext, size_t n)
{
    if (t == NULL || (ciphertext == NULL && n > 0))
        return EA_ERR_INVAL;
    if (t->failed)
        return t->failed;
    return t->eof ? EA_ERR_STOPPED : EA_OK;
}

int ea_tls_feed(ea_tls_t *t, const void *ciphertext, size_t n)
{
    int rc = feed_check(t, ciphertext, n);
    if (rc != EA_OK)
        return rc;
    if (ea_tls_feed_done(t) != EA_OK) /* borrowed bytes first, in order */
        return EA_ERR_NOMEM;
    if (n > 0 && !bbuf_put(t->inb, ciphertext, n))
        return EA_ERR_NOMEM;
    return EA_OK;
}

int ea_tls_feed_borrow(ea_tls_t *t, const void *ciphertext, size_t n)
{
    int rc = feed_check(t, ciphertext, n);
    if (rc != EA_OK)
        return rc;
    struct bbuf *b = t->inb;
    if (b->len > 0 || b->vlen > 0) /* behind bytes of our own: copied */
        return ea_tls_feed(t, ciphertext, n);
    b->v = ciphertext;
    b->vlen = n;
    return EA_OK;
}

int ea_tls_feed_done(ea_tls_t *t)
{
    if (t == NULL)
        return EA_ERR_INVAL;
    struct bbuf *b = t->inb;
    if (b->vlen == 0) {
        b->v = NULL;
        return EA_OK;
    }
    /* OpenSSL takes whatever part of a record there is into its own
     * buffer, so this is rare: a tail it has not asked for yet. */
    const unsigned char *v = b->v;
    size_t n = b->vlen;
    b->v = NULL;
    b->vlen = 0;
    if (!bbuf_put(b, v, n)) {
        t->failed = EA_ERR_NOMEM;
        snprintf(t->why, sizeof t->why, "out of memory for received ciphertext");
        return EA_ERR_NOMEM;
    }
    return EA_OK;
}

int ea_tls_feed_eof(ea_tls_t *t)
{
    if (t == NULL)
        return EA_ERR_INVAL;
    t->eof = true;
    t->inb->eof = true;
    return EA_OK;
}

int ea_tls_handshake(ea_tls_t *t)
{
    if (t == NULL)
        return EA_ERR_INVAL;
    if (t->failed)
        return t->failed;
    if (SSL_is_init_finished(t->ssl))
        return EA_OK;
    before_call(t);
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1) {
        t->established = true;
        return EA_OK;
    }
    int rc = ssl_result(t, ret);
    /* A close_notify instead of a handshake answer is a failure here. */
    if (rc == 0) {
        t->failed = EA_ERR_STOPPED;
        snprintf(t->why, sizeof t->why, "peer closed during the handshake");
        return t->failed;
    }
    return rc;
}

bool ea_tls_handshake_done(const ea_tls_t *t)
{
    return t != NULL && SSL_is_init_finished(t->ssl);
}

int ea_tls_read(ea_tls_t *t, void *buf, size_t n)
{
    if (t == NULL || buf == NULL || n == 0)
        return EA_ERR_INVAL;
    if (t->failed)
        return t->failed;
    if (n > INT_MAX)
        n = INT_MAX;
    /* The last call of a read loop: nothing fed and nothing buffered, so
     * no record can complete and SSL_read_ex would only say so (after its
     * error-queue work). Not before the handshake is done, after the
     * transport's end or the peer's close_notify, whose answers differ. */
    if (t->established && !t->eof && t->inb->len == 0 && t->inb->vlen == 0 &&
        !SSL_has_pending(t->ssl) && (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) == 0)
        return EA_ERR_EMPTY;
    before_call(t);
    size_t got = 0;
    if (SSL_read_ex(t->ssl, buf, n, &got) == 1)
        return (int)got;
    return ssl_result(t, 0);
}

int ea_tls_write(ea_tls_t *t, const void *buf, size_t n)
{
    if (t == NULL || (buf == NULL && n > 0))
        return EA_ERR_INVAL;
    if (t->failed)
        return t->failed;
    if (n > INT_MAX)
        return EA_ERR_TOOBIG;
    if (t->closed_write)
        return EA_ERR_STOPPED;
    if (n == 0)
        return SSL_is_init_finished(t->ssl) ? 0 : ea_tls_handshake(t);
    before_call(t);
    size_t put = 0;
    if (SSL_write_ex(t->ssl, buf, n, &put) == 1)
        return (int)put;
    int rc = ssl_result(t, 0);
    if (rc == 0) {
        /* The peer's close_notify arrived while we wanted to write. */
        t->failed = EA_ERR_STOPPED;
        snprintf(t->why, sizeof t->why, "peer closed the connection");
        return t->failed;
    }
    return rc;
}

int ea_tls_write_into(ea_tls_t *t, const void *buf, size_t n, void *dst, size_t cap,
                      size_t *dst_len)
{
    if (dst_len == NULL || (dst == NULL && cap > 0))
        return EA_ERR_INVAL;
    *dst_len = 0;
    if (t == NULL)
        return EA_ERR_INVAL;
    struct bbuf *b = t->outb;
    b->sink = dst;
    b->sink_len = 0;
    b->sink_cap = cap;
    int rc = ea_tls_write(t, buf, n);
    *dst_len = b->sink_len;
    b->sink = NULL;
    b->sink_len = b->sink_cap = 0;
    return rc;
}

size_t ea_tls_pending(const ea_tls_t *t)
{
    return t == NULL ? 0 : t->outb->len;
}

int ea_tls_take(ea_tls_t *t, void *buf, size_t n)
{
    if (t == NULL || buf == NULL)
        return EA_ERR_INVAL;
    if (n > INT_MAX)
        n = INT_MAX;
    return (int)bbuf_get(t->outb, buf, n);
}

int ea_tls_shutdown(ea_tls_t *t)
{
    if (t == NULL)
        return EA_ERR_INVAL;
    if (t->failed)
        return t->failed;
    if (!SSL_is_init_finished(t->ssl))
        return EA_ERR_INVAL;
    if (t->closed_write)
        return EA_OK;
    before_call(t);
    /* 0: our close_notify is queued, the peer's not seen yet; 1: both. */
    int ret = SSL_shutdown(t->ssl);
    if (ret < 0)
        return ssl_result(t, ret);
    t->closed_write = true;
    return EA_OK;
}

const char *ea_tls_version(const ea_tls_t *t)
{
    if (t == NULL || !SSL_is_init_finished(t->ssl))
        return NULL;
    return SSL_get_version(t->ssl);
}

const char *ea_tls_cipher(const ea_tls_t *t)
{
    if (t == NULL || !SSL_is_init_finished(t->ssl))
        return NULL;
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    return c != NULL ? SSL_CIPHER_standard_name(c) : NULL;
}

const char *ea_tls_error(const ea_tls_t *t)
{
    return t == NULL ? "" : t->why;
}

/* ------------------------------------------------------------ warm-up */

/* A throwaway P-256 key and a self-signed certificate for `name`, as PEM in
 * memory BIOs. */
static int make_credentials(const char *name, BIO **cert_pem, BIO **key_pem)
{
    int rc = EA_ERR_CRYPTO;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    char san[96];
    snprintf(san, sizeof san, "DNS:%s", name);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    *cert_pem = BIO_new(BIO_s_mem());
    *key_pem = BIO_new(BIO_s_mem());
    if (key != NULL && x != NULL && n != NULL && ext != NULL && *cert_pem != NULL &&
        *key_pem != NULL && X509_set_version(x, X509_VERSION_3) == 1 &&
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
        X509_gmtime_adj(X509_getm_notBefore(x), -60) != NULL &&
        X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) ==
            1 &&
        X509_set_subject_name(x, n) == 1 && X509_set_issuer_name(x, n) == 1 &&
        X509_add_ext(x, ext, -1) == 1 && X509_set_pubkey(x, key) == 1 &&
        X509_sign(x, key, EVP_sha256()) > 0 && PEM_write_bio_X509(*cert_pem, x) == 1 &&
        PEM_write_bio_PrivateKey(*key_pem, key, NULL, NULL, 0, NULL, NULL) == 1)
        rc = EA_OK;
    X509_EXTENSION_free(ext);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* Moves all waiting ciphertext from `a` to `b`. */
static int shuttle(ea_tls_t *a, ea_tls_t *b)
{
    char buf[4096];
    int n;
    while ((n = ea_tls_take(a, buf, sizeof buf)) > 0)
        if (ea_tls_feed(b, buf, (size_t)n) != EA_OK)
            return EA_ERR_CRYPTO;
    return n;
}

/* One connection of protocol version `v`: handshake, a record each way, a
 * tampered record (the failure path), close. */
static int warm_session(ea_tls_ctx_t *sctx, ea_tls_ctx_t *cctx)
{
    ea_tls_t *s = NULL, *c = NULL;
    int rc = ea_tls_new(sctx, &s);
    if (rc == EA_OK)
        rc = ea_tls_new(cctx, &c);
    for (int i = 0; rc == EA_OK && i < 8 && !(ea_tls_handshake_done(s) && ea_tls_handshake_done(c));
         i++) {
        int hc = ea_tls_handshake(c), hs = ea_tls_handshake(s);
        if ((hc != EA_OK && hc != EA_ERR_EMPTY) || (hs != EA_OK && hs != EA_ERR_EMPTY))
            rc = EA_ERR_CRYPTO;
        if (rc == EA_OK)
            rc = shuttle(c, s);
        if (rc == EA_OK)
            rc = shuttle(s, c);
    }
    char b[8];
    if (rc == EA_OK && (ea_tls_write(c, "ping", 4) != 4 || shuttle(c, s) != EA_OK ||
                        ea_tls_read(s, b, sizeof b) != 4 || ea_tls_write(s, "pong", 4) != 4))
        rc = EA_ERR_CRYPTO;
    /* Flip a bit of the server's record: the client must refuse it. */
    if (rc == EA_OK) {
        char rec[64];
        int n = ea_tls_take(s, rec, sizeof rec);
        if (n <= 0) {
            rc = EA_ERR_CRYPTO;
        } else {
            rec[n - 1] ^= 1;
            if (ea_tls_feed(c, rec, (size_t)n) != EA_OK ||
                ea_tls_read(c, b, sizeof b) != EA_ERR_AUTH)
                rc = EA_ERR_CRYPTO;
        }
    }
    if (rc == EA_OK && (ea_tls_shutdown(s) != EA_OK || ea_tls_error(c)[0] == '\0'))
        rc = EA_ERR_CRYPTO;
    ea_tls_free(s);
    ea_tls_free(c);
    return rc;
}

static int warm_up(void)
{
    static const char name[] = "warm-up.invalid";
    BIO *cert = NULL, *key = NULL;
    ea_tls_ctx_t *sctx = NULL, *cctx = NULL;
    int rc = make_credentials(name, &cert, &key);
    char *cp = NULL, *kp = NULL;
    long cl = cert != NULL ? BIO_get_mem_data(cert, &cp) : 0;
    long kl = key != NULL ? BIO_get_mem_data(key, &kp) : 0;
    if (rc == EA_OK && (cl <= 0 || kl <= 0))
        rc = EA_ERR_CRYPTO;
    if (rc == EA_OK)
        rc = ea_tls_ctx_new_server(&sctx, cp, (size_t)cl, kp, (size_t)kl, NULL, 0);
    if (rc == EA_OK)
        rc = ea_tls_ctx_new_client(&cctx, cp, (size_t)cl, name, NULL, 0);
    if (rc == EA_OK)
        rc = warm_session(sctx, cctx);
    if (rc == EA_OK)
        rc = ea_tls_ctx_set_versions(cctx, EA_TLS_1_2, EA_TLS_1_2);
    if (rc == EA_OK)
        rc = warm_session(sctx, cctx);
    if (kl > 0)
        OPENSSL_cleanse(kp, (size_t)kl);
    ea_tls_ctx_free(sctx);
    ea_tls_ctx_free(cctx);
    BIO_free(cert);
    BIO_free(key);
    ERR_clear_error();
    return rc == EA_OK ? EA_OK : EA_ERR_CRYPTO;
}
