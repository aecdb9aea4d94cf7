/*
 * Checks the promise of eai_crypto_init (src/crypto/crypto.h): once it has
 * run, the wrappers make no system call outside the enclave allow-list.
 *
 * A forked child calls eai_crypto_init, starts a helper thread that waits,
 * then installs a seccomp filter (synchronised to all its threads) that
 * allows only what an enclave process may do after confinement, with a
 * trapping default action. Then the main thread and the helper thread each
 * run every wrapper once; the helper's run is the first crypto call of that
 * thread, as for a worker started before confinement, so OpenSSL's
 * per-thread state (DRBGs, error queue) is built under the filter. A
 * forbidden call raises SIGSYS; the handler records the system call number
 * in a shared page and exits with a distinct status. The parent checks the
 * exit status and names the system call if there was one.
 *
 * The filter is the enclave's own (eai_seccomp_confine), so the test
 * checks what an enclave really gets. cmocka is not used in the child: its
 * runner installs signal handlers per test, which the filter forbids.
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

#include "crypto/crypto.h"
#include "platform/platform.h"

enum {
    EXIT_SYSCALL = 3, /* the filter trapped a system call */
    EXIT_SETUP = 4,   /* could not set the child up */
    EXIT_CHECK = 5,   /* a wrapper returned the wrong result */
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

/* One call of every wrapper, each checked for the right result. */
static void run_all(void)
{
    uint8_t buf[100], out[100], h[32], h2[32], tag[16], key[32], iv[12];
    uint8_t pub[32], priv[32], pub2[32], priv2[32], s1[32], s2[32], sig[64];

    CHECK(eai_random(buf, sizeof buf) == EA_OK);
    CHECK(eai_random(key, sizeof key) == EA_OK);
    CHECK(eai_random(iv, sizeof iv) == EA_OK);
    CHECK(eai_ct_equal(buf, buf, sizeof buf) == 1);

    CHECK(eai_sha256(buf, sizeof buf, h) == EA_OK);
    eai_sha256_ctx_t c;
    CHECK(eai_sha256_init(&c) == EA_OK);
    CHECK(eai_sha256_update(&c, buf, 10) == EA_OK);
    CHECK(eai_sha256_update(&c, buf + 10, sizeof buf - 10) == EA_OK);
    CHECK(eai_sha256_final(&c, h2) == EA_OK);
    CHECK(memcmp(h, h2, 32) == 0);
    CHECK(eai_sha256_init(&c) == EA_OK);
    eai_sha256_abort(&c);

    CHECK(eai_hkdf_sha256(buf, 13, buf, 22, buf, 10, out, 42) == EA_OK);
    CHECK(eai_hkdf_sha256(NULL, 0, buf, 22, NULL, 0, out, 64) == EA_OK);
    CHECK(eai_cmac_aes128(key, buf, 40, tag) == EA_OK);

    for (size_t keylen = 16; keylen <= 32; keylen += 16) {
        eai_aead_t a;
        CHECK(eai_aead_init(&a, key, keylen) == EA_OK);
        CHECK(eai_aead_seal(&a, iv, buf, 20, buf, sizeof buf, out, tag) == EA_OK);
        CHECK(eai_aead_open(&a, iv, buf, 20, out, sizeof buf, out, tag) == EA_OK);
        CHECK(memcmp(out, buf, sizeof buf) == 0);
        CHECK(eai_aead_seal(&a, iv, buf, 20, out, sizeof buf, out, tag) == EA_OK);
        tag[5] ^= 1;
        CHECK(eai_aead_open(&a, iv, buf, 20, out, sizeof buf, out, tag) == EA_ERR_AUTH);
        eai_aead_fini(&a);
    }

    CHECK(eai_ed25519_keygen(pub, priv) == EA_OK);
    CHECK(eai_ed25519_public(priv, pub2) == EA_OK);
    CHECK(memcmp(pub, pub2, 32) == 0);
    CHECK(eai_ed25519_sign(priv, buf, sizeof buf, sig) == EA_OK);
    CHECK(eai_ed25519_verify(pub, buf, sizeof buf, sig) == EA_OK);
    sig[63] ^= 1;
    CHECK(eai_ed25519_verify(pub, buf, sizeof buf, sig) == EA_ERR_AUTH);

    CHECK(eai_x25519_keygen(pub, priv) == EA_OK);
    CHECK(eai_x25519_keygen(pub2, priv2) == EA_OK);
    CHECK(eai_x25519(priv, pub2, s1) == EA_OK);
    CHECK(eai_x25519(priv2, pub, s2) == EA_OK);
    CHECK(memcmp(s1, s2, 32) == 0);
    uint8_t zero[32] = {0};
    CHECK(eai_x25519(priv, zero, s1) == EA_ERR_AUTH);

    eai_wipe(priv, sizeof priv);
    eai_wipe(priv2, sizeof priv2);
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_go, g_started;

static void *helper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_lock);
    /* The thread's own start-up (robust list, rseq, signal mask) is done:
     * the filter may go on now. */
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
    if (eai_crypto_init() != EA_OK) {
        fprintf(stderr, "child: eai_crypto_init failed\n");
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
    /* A second round on both threads finds everything in place. */
    run_all();
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
        printf("ok: every crypto wrapper ran under the seccomp allow-list\n");
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SYSCALL) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, *shared);
        fprintf(stderr, "FAIL: forbidden system call %d (%s) after eai_crypto_init\n", *shared,
                name != NULL ? name : "?");
        free(name);
    } else if (WIFEXITED(status)) {
        fprintf(stderr, "FAIL: child exited with status %d\n", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr, "FAIL: child killed by signal %d\n", WTERMSIG(status));
    }
    return 1;
}
