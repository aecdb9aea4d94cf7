/*
 * Checks the promise of ea_tls_init (include/eactors/ea_tls.h): once it has
 * run, TLS makes no system call outside the enclave allow-list, from
 * reading credentials out of memory to closing a connection.
 *
 * The harness (tests/common/confined.h) calls ea_tls_init in a forked
 * child, installs the enclave's own seccomp filter, and then the main
 * thread and a helper thread each run everything: contexts made from the
 * PEM strings, a TLS 1.3 and a TLS 1.2 handshake between an in-memory
 * server and client, data both ways (small and 256 KiB), a refused
 * certificate, a tampered record and a clean shutdown. The helper's run is
 * the first TLS use of its thread (per-thread DRBG and error state are
 * built under the filter). The parent names a forbidden system call if
 * there was one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_tls.h>

#include "certs.h"
#include "confined.h"
#include "tls_pair.h"

static void session(int version, const char *want)
{
    struct tls_pair p;
    char who, buf[64];
    CHECK(pair_new(&p, 0, "localhost", version, version) == EA_OK);
    CHECK(pair_handshake(&p, &who) == EA_OK);
    CHECK(strcmp(ea_tls_version(p.c), want) == 0);
    CHECK(ea_tls_cipher(p.s) != NULL);
    CHECK(ea_tls_write(p.c, "ping", 4) == 4);
    CHECK(pair_move(p.c, p.s, 0) == EA_OK);
    CHECK(ea_tls_read(p.s, buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0);
    CHECK(pair_stream(p.c, p.s, 256 * 1024, 10007, 1500, 4093) == EA_OK);
    CHECK(pair_stream(p.s, p.c, 256 * 1024, 65536, 9000, 65536) == EA_OK);
    /* Clean shutdown both ways. */
    CHECK(ea_tls_shutdown(p.c) == EA_OK);
    CHECK(pair_move(p.c, p.s, 0) == EA_OK);
    CHECK(ea_tls_read(p.s, buf, sizeof buf) == 0);
    CHECK(ea_tls_shutdown(p.s) == EA_OK);
    CHECK(pair_move(p.s, p.c, 0) == EA_OK);
    CHECK(ea_tls_read(p.c, buf, sizeof buf) == 0);
    pair_free(&p);

    /* A tampered record. */
    CHECK(pair_new(&p, 0, "localhost", version, version) == EA_OK);
    CHECK(pair_handshake(&p, &who) == EA_OK);
    CHECK(ea_tls_write(p.c, "secret", 6) == 6);
    uint8_t rec[128];
    int n = ea_tls_take(p.c, rec, sizeof rec);
    CHECK(n > 6);
    rec[n - 1] ^= 1;
    CHECK(ea_tls_feed(p.s, rec, (size_t)n) == EA_OK);
    CHECK(ea_tls_read(p.s, buf, sizeof buf) == EA_ERR_AUTH);
    pair_free(&p);

    /* A certificate the client does not trust. */
    CHECK(pair_new(&p, 1, "localhost", version, version) == EA_OK);
    CHECK(pair_handshake(&p, &who) == EA_ERR_AUTH && who == 'c');
    pair_free(&p);
}

static void run_all(void)
{
    session(EA_TLS_1_3, "TLSv1.3");
    session(EA_TLS_1_2, "TLSv1.2");
}

/*
 * glibc's malloc, when it trims the heap of a thread's (non-main) arena,
 * reads /proc/sys/vm/overcommit_memory once per process (in
 * shrink_heap -> check_may_shrink_heap). The platform's thread preparation
 * (eai_thread_prepare) does not provoke that read before confinement yet,
 * so this test does: it fills and frees more than the trim threshold on
 * this thread. Without it the 256 KiB streams above die on that openat,
 * which is glibc's doing, not OpenSSL's; an enclave worker that frees that
 * much would too (reported for src/platform).
 */
static void prime_malloc_trim(void)
{
    enum { N = 128, SZ = 8 * 1024 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = malloc(SZ);
    for (int i = N - 1; i >= 0; i--)
        free(p[i]);
}

int main(void)
{
    static const struct ea_test_confined t = {
        .init = ea_tls_init,
        .init_name = "ea_tls_init",
        .thread_start = prime_malloc_trim,
        .run_all = run_all,
        .ok = "TLS 1.3 and 1.2 sessions ran under the seccomp allow-list",
    };
    return ea_test_confined_main(&t);
}
