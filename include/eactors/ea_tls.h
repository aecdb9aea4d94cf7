/**
 * @file ea_tls.h
 * @brief TLS that terminates inside an enclave, over memory buffers.
 *
 * The host only ever moves ciphertext: an actor feeds the bytes it received
 * from the network (ea_net_recv completions) into an ea_tls_t, reads the
 * plaintext out, writes plaintext in, and takes the ciphertext to send
 * (ea_net_send). Nothing here makes a system call or reads a file:
 * certificates and keys come from memory (embedded in the image, or unsealed
 * by the enclave), and all I/O goes through the caller's buffers. The
 * implementation is OpenSSL libssl (TLS 1.2 and 1.3 only, compression and
 * renegotiation off, no session tickets or session cache).
 *
 * A typical actor loop:
 * @code
 *   // client start: produce the ClientHello
 *   ea_tls_handshake(t);
 *   // on every network completion with data:
 *   ea_tls_feed(t, ev.data, ev.msg.len);
 *   while ((n = ea_tls_read(t, buf, sizeof buf)) > 0) consume(buf, n);
 *   // n == 0: the peer closed cleanly; EA_ERR_EMPTY: need more input;
 *   // other negative values: the connection failed (see ea_tls_error)
 *   // whenever ea_tls_pending(t) > 0: ea_tls_take() and ea_net_send() it
 * @endcode
 *
 * Errors: every function returns EA_OK (or a count) or a negative ea_err.
 * EA_ERR_EMPTY means "not now: feed more ciphertext" (the non-blocking
 * want-read). EA_ERR_AUTH means the peer failed authentication (certificate
 * not signed by the trusted CA, wrong name, bad signature) or a record failed
 * its integrity check (modified, truncated or forged ciphertext).
 * EA_ERR_CRYPTO is any other TLS failure (malformed message, no common
 * version or cipher, an alert from the peer). A connection that failed
 * stays failed: every later call returns the same error (its output may
 * still hold an alert for the peer; take and send it, then close).
 * OpenSSL's own error codes never leak; ea_tls_error() gives a readable
 * reason.
 *
 * Thread-safety: a context may be shared by connections on any threads
 * once made (it is not changed after ea_tls_ctx_set_versions); a connection
 * belongs to one actor at a time.
 */
#ifndef EA_TLS_H
#define EA_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <eactors/ea_err.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque: settings and credentials shared by connections. */
typedef struct ea_tls_ctx ea_tls_ctx_t;
/** Opaque: one TLS connection. */
typedef struct ea_tls ea_tls_t;

/** Protocol versions (their wire values). */
enum ea_tls_version {
    EA_TLS_1_2 = 0x0303,
    EA_TLS_1_3 = 0x0304,
};

/**
 * Initialises libssl without reading any configuration file, and warms it
 * up (algorithm fetches, DRBG) so that later TLS calls make no system call
 * an enclave's seccomp allow-list forbids. The runtime calls it in every
 * enclave process before confinement; other callers need not (every
 * constructor below calls it), except before their own confinement.
 * Idempotent and thread-safe; the result is sticky.
 * @return EA_OK; EA_ERR_CRYPTO if OpenSSL could not be initialised.
 */
EA_API int ea_tls_init(void);

/**
 * Makes a server context from a PEM certificate chain (leaf first, then any
 * intermediates) and its PEM private key (unencrypted PKCS#8 or
 * traditional; EC or RSA). Both are read from memory; the caller keeps both
 * buffers (and should wipe the key's once done): the context holds its own
 * copies.
 * @param ctx receives the new context (the caller owns it: ea_tls_ctx_free)
 * @param err, errlen buffer for a message on failure (may be NULL/0)
 * @return EA_OK; EA_ERR_INVAL (missing argument); EA_ERR_TOOBIG (a buffer
 *         over 2 GiB); EA_ERR_PARSE (not PEM, or no certificate or key in
 *         it); EA_ERR_AUTH (the key does not match the certificate);
 *         EA_ERR_NOMEM; EA_ERR_CRYPTO.
 */
EA_API int ea_tls_ctx_new_server(ea_tls_ctx_t **ctx, const char *cert_pem, size_t cert_len,
                                 const char *key_pem, size_t key_len, char *err, size_t errlen);

/**
 * Makes a client context that trusts only the CA certificates in `ca_pem`
 * (one or more PEM certificates; the system's trust store is never read)
 * and requires the server's certificate to name `server_name` (a DNS name,
 * checked against subjectAltName, and sent as SNI; or an IPv4/IPv6 literal,
 * checked against an IP subjectAltName). The caller keeps `ca_pem` and
 * `server_name`; the context holds copies.
 * @param ctx receives the new context (the caller owns it: ea_tls_ctx_free)
 * @return EA_OK; EA_ERR_INVAL (missing or empty argument); EA_ERR_TOOBIG;
 *         EA_ERR_PARSE (no certificate in `ca_pem`, or a malformed one);
 *         EA_ERR_NOMEM; EA_ERR_CRYPTO.
 */
EA_API int ea_tls_ctx_new_client(ea_tls_ctx_t **ctx, const char *ca_pem, size_t ca_len,
                                 const char *server_name, char *err, size_t errlen);

/**
 * Restricts the protocol versions of connections made from now on
 * (default: TLS 1.2 to TLS 1.3). Call before sharing the context.
 * @return EA_OK; EA_ERR_INVAL (not an ea_tls_version, or min > max).
 */
EA_API int ea_tls_ctx_set_versions(ea_tls_ctx_t *ctx, int min, int max);

/**
 * Frees a context. Connections made from it stay usable (each holds its own
 * reference to what it needs). Key material is wiped. NULL is ignored.
 */
EA_API void ea_tls_ctx_free(ea_tls_ctx_t *ctx);

/**
 * Makes a connection (server or client, as the context).
 * @param t receives the connection (the caller owns it: ea_tls_free)
 * @return EA_OK; EA_ERR_INVAL; EA_ERR_NOMEM; EA_ERR_CRYPTO.
 */
EA_API int ea_tls_new(ea_tls_ctx_t *ctx, ea_tls_t **t);

/**
 * Frees a connection; its traffic keys are wiped (received plaintext is
 * already wiped from the library's buffers as it is read). NULL is ignored.
 */
EA_API void ea_tls_free(ea_tls_t *t);

/**
 * Hands over `n` bytes of ciphertext received from the peer. They are
 * copied; nothing is decrypted until ea_tls_read or ea_tls_handshake.
 * @return EA_OK; EA_ERR_INVAL; EA_ERR_STOPPED (after ea_tls_feed_eof);
 *         EA_ERR_NOMEM; the sticky error of a failed connection.
 */
EA_API int ea_tls_feed(ea_tls_t *t, const void *ciphertext, size_t n);

/**
 * As ea_tls_feed, without the copy: the bytes are read in place, so they
 * must stay valid and unchanged until ea_tls_feed_done (call it after the
 * ea_tls_read loop, before the buffer goes). Behind bytes still held from
 * an earlier feed they are copied as by ea_tls_feed.
 * @return as ea_tls_feed.
 */
EA_API int ea_tls_feed_borrow(ea_tls_t *t, const void *ciphertext, size_t n);

/**
 * Ends a borrow (ea_tls_feed_borrow): the part the library has not read
 * yet, if any (normally none: it takes a partial record into its own
 * buffer), is copied. A no-op without a borrow.
 * @return EA_OK; EA_ERR_INVAL; EA_ERR_NOMEM (the connection has failed).
 */
EA_API int ea_tls_feed_done(ea_tls_t *t);

/**
 * Tells the connection that the transport ended (EA_NET_RECV returned 0).
 * From then on ea_tls_read returns 0 if the peer's close_notify arrived
 * before, and EA_ERR_AUTH (truncation) once the remaining input runs out
 * without one.
 * @return EA_OK; EA_ERR_INVAL.
 */
EA_API int ea_tls_feed_eof(ea_tls_t *t);

/**
 * Advances the handshake as far as the input allows. A client's first call
 * produces its ClientHello (take it with ea_tls_take). ea_tls_read and
 * ea_tls_write also advance it, so calling this is only needed to start a
 * client, or to finish a handshake before there is data.
 * @return EA_OK (handshake done); EA_ERR_EMPTY (needs more input: send
 *         what ea_tls_pending reports, feed the answer); EA_ERR_AUTH;
 *         EA_ERR_CRYPTO; EA_ERR_STOPPED (the transport ended first).
 */
EA_API int ea_tls_handshake(ea_tls_t *t);

/** True once the handshake has completed. */
EA_API bool ea_tls_handshake_done(const ea_tls_t *t);

/**
 * Reads up to `n` bytes of plaintext (n <= INT_MAX is used), advancing the
 * handshake first if needed.
 * @return bytes read (> 0); 0 if the peer closed the connection cleanly
 *         (close_notify); EA_ERR_EMPTY if no plaintext is available yet;
 *         EA_ERR_AUTH (a record failed its integrity check, the peer's
 *         certificate was refused, or the stream was truncated);
 *         EA_ERR_CRYPTO; EA_ERR_INVAL.
 */
EA_API int ea_tls_read(ea_tls_t *t, void *buf, size_t n);

/**
 * Encrypts `n` bytes of plaintext (at most INT_MAX) into the output, all or
 * nothing. Before the handshake has completed it advances it and returns
 * EA_ERR_EMPTY (try again after feeding the peer's answer).
 * @return n; EA_ERR_EMPTY; EA_ERR_TOOBIG; EA_ERR_STOPPED (after
 *         ea_tls_shutdown); EA_ERR_AUTH; EA_ERR_CRYPTO; EA_ERR_INVAL.
 */
EA_API int ea_tls_write(ea_tls_t *t, const void *buf, size_t n);

/**
 * As ea_tls_write, with the ciphertext written straight into `dst` (cap
 * bytes) while it fits and no earlier output waits: *dst_len receives the
 * bytes put there, which come before anything ea_tls_pending reports
 * afterwards (what did not fit waits there, in order).
 * @return as ea_tls_write (EA_ERR_INVAL also for a NULL dst_len).
 */
EA_API int ea_tls_write_into(ea_tls_t *t, const void *buf, size_t n, void *dst, size_t cap,
                             size_t *dst_len);

/** Bytes of ciphertext waiting to be sent to the peer. */
EA_API size_t ea_tls_pending(const ea_tls_t *t);

/**
 * Moves up to `n` bytes (n <= INT_MAX is used) of the waiting ciphertext
 * into `buf`, in order.
 * @return bytes copied (0 if none is waiting); EA_ERR_INVAL.
 */
EA_API int ea_tls_take(ea_tls_t *t, void *buf, size_t n);

/**
 * Queues a close_notify for the peer (take and send it). Writing is then
 * refused; reading goes on until the peer's close_notify (ea_tls_read
 * returns 0).
 * @return EA_OK; EA_ERR_INVAL (handshake not finished: just close the
 *         transport); the sticky error of a failed connection.
 */
EA_API int ea_tls_shutdown(ea_tls_t *t);

/**
 * Negotiated version ("TLSv1.3", "TLSv1.2"), or NULL before the handshake
 * completed. Static string.
 */
EA_API const char *ea_tls_version(const ea_tls_t *t);

/**
 * Negotiated cipher suite by its IANA name ("TLS_AES_256_GCM_SHA384",
 * "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"), or NULL before the handshake
 * completed. Static string.
 */
EA_API const char *ea_tls_cipher(const ea_tls_t *t);

/**
 * Why the connection failed ("" if it did not). Borrowed, valid until the
 * connection is freed.
 */
EA_API const char *ea_tls_error(const ea_tls_t *t);

#ifdef __cplusplus
}
#endif
#endif
