/*
 * Checks the promise of ea_tls_init (include/eactors/ea_tls.h): once it has
 * run, TLS makes no system call outside the enclave allow-list, from
 * reading credentials out of memory to closing a connection.
 *
 * Built like tests/crypto/test_crypto_confined.c: a forked child calls
 * ea_tls_init, starts a helper thread that waits, installs a trapping
 * seccomp filter (synchronised to all its threads) that allows only what an
 * enclave may do once confined, and then the main thread and the helper
 * each run everything: contexts made from the PEM strings, a TLS 1.3 and a
 * TLS 1.2 handshake between an in-memory server and client, data both ways
 * (small and 256 KiB), a refused certificate, a tampered record and a clean
 * shutdown. The helper's run is the first TLS use of its thread (per-thread
 * DRBG and error state are built under the filter). A forbidden call
 * raises SIGSYS; the handler stores its number in a shared page and exits
 * with a distinct status, which the parent names.
 *
 * The filter is the enclave's own (eai_seccomp_confine). cmocka is not
 * used in the child: its runner installs signal handlers per test, which
 * the filter forbids.
 */
#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/platform.h"

#include <eactors/ea_tls.h>

#include "certs.h"
#include "tls_pair.h"

enum {
    EXIT_SYSCALL = 3, /* the filter trapped a system call */
    EXIT_SETUP = 4,   /* could not set the child up */
    EXIT_CHECK = 5,   /* a TLS call returned the wrong result */
};

/* Shared with the parent: the number of the trapped system call. */
static int *g_trapped;

/* Async-signal-safe: stores the number, writes a fixed line, exits. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    *g_trapped = si->si_syscall;
    static const char msg[] = "child: forbidden system call\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_SYSCALL);
}

/* Plain checks: the filter allows write to fd 2 and exit_group. */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            _exit(EXIT_CHECK);                                                       \
        }                                                                            \
    } while (0)

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

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_go, g_started;

/*
 * glibc's malloc, when it trims the heap of a thread's (non-main) arena,
 * reads /proc/sys/vm/overcommit_memory once per process (in
 * shrink_heap -> check_may_shrink_heap). The platform's thread preparation
 * (eai_thread_prepare) does not provoke that read before confinement yet,
 * so this test does: it fills and frees more than the trim threshold on
 * this thread. Without it the 256 KiB streams below die on that openat,
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

static void *helper(void *arg)
{
    (void)arg;
    prime_malloc_trim();
    pthread_mutex_lock(&g_lock);
    /* The thread's own start-up is done: the filter may go on now. */
    g_started = 1;
    pthread_cond_broadcast(&g_cond);
    while (!g_go)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
    run_all();
    return NULL;
}

/* The enclave's own allow-list, exactly as the runtime installs it. */
static int install_filter(char *err, size_t errlen)
{
    return eai_seccomp_confine(-1, err, errlen);
}

static void child(void)
{
    if (ea_tls_init() != EA_OK) {
        fprintf(stderr, "child: ea_tls_init failed\n");
        _exit(EXIT_SETUP);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    pthread_t t;
    if (sigaction(SIGSYS, &sa, NULL) != 0 || pthread_create(&t, NULL, helper, NULL) != 0) {
        fprintf(stderr, "child: setup failed\n");
        _exit(EXIT_SETUP);
    }
    /* stderr is unbuffered; flush stdout now so a later printf needs no
     * fstat. */
    fflush(stdout);
    pthread_mutex_lock(&g_lock);
    while (!g_started)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
    char why[160];
    int rc = install_filter(why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "child: cannot install filter: %s\n", why);
        _exit(EXIT_SETUP);
    }
    run_all();
    pthread_mutex_lock(&g_lock);
    g_go = 1;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    CHECK(pthread_join(t, NULL) == 0);
    _exit(0);
}

int main(void)
{
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    *shared = -1;
    g_trapped = shared;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0)
        child();

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok: TLS 1.3 and 1.2 sessions ran under the seccomp allow-list\n");
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SYSCALL) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, *shared);
        fprintf(stderr, "FAIL: forbidden system call %d (%s) after ea_tls_init\n", *shared,
                name != NULL ? name : "?");
        free(name);
    } else if (WIFEXITED(status)) {
        fprintf(stderr, "FAIL: child exited with status %d\n", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr, "FAIL: child killed by signal %d\n", WTERMSIG(status));
    }
    return 1;
}
