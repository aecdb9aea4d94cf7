/*
 * Design notes: the child may only make the calls the enclave allow-list
 * permits once the filter is on, so everything it needs afterwards is set
 * up before: the SIGSYS handler, the helper thread (whose start-up makes
 * calls of its own: robust list, rseq, signal mask) and a flushed stdout
 * (stderr is unbuffered; a later printf on stdout then needs no fstat).
 * The helper tells the main thread when its start-up is done, and waits
 * for the main thread's word to run the body, so its run happens under
 * the filter. The handler is async-signal-safe: it stores the number,
 * writes a fixed line and exits.
 */
#include "confined.h"

#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <eactors/ea_err.h>

#include "platform/platform.h"

/* Shared with the parent: the number of the trapped system call. */
static int *g_trapped;
static const struct ea_test_confined *g_test;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_go, g_started;

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    *g_trapped = si->si_syscall;
    static const char msg[] = "child: forbidden system call\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(EA_TEST_CONFINED_SYSCALL);
}

static void *helper(void *arg)
{
    (void)arg;
    if (g_test->thread_start != NULL)
        g_test->thread_start();
    pthread_mutex_lock(&g_lock);
    /* The thread's own start-up is done: the filter may go on now. */
    g_started = 1;
    pthread_cond_broadcast(&g_cond);
    while (!g_go)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
    g_test->run_all();
    return NULL;
}

static void child(void)
{
    if (g_test->init() != EA_OK) {
        fprintf(stderr, "child: %s failed\n", g_test->init_name);
        _exit(EA_TEST_CONFINED_SETUP);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    pthread_t t;
    if (sigaction(SIGSYS, &sa, NULL) != 0 || pthread_create(&t, NULL, helper, NULL) != 0) {
        fprintf(stderr, "child: setup failed\n");
        _exit(EA_TEST_CONFINED_SETUP);
    }
    fflush(stdout);
    pthread_mutex_lock(&g_lock);
    while (!g_started)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
    /* The enclave's own allow-list, exactly as the runtime installs it. */
    char why[160];
    if (eai_seccomp_confine(-1, why, sizeof why) != 0) {
        fprintf(stderr, "child: cannot install filter: %s\n", why);
        _exit(EA_TEST_CONFINED_SETUP);
    }
    g_test->run_all();
    pthread_mutex_lock(&g_lock);
    g_go = 1;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    CHECK(pthread_join(t, NULL) == 0);
    if (g_test->again)
        g_test->run_all();
    _exit(0);
}

int ea_test_confined_main(const struct ea_test_confined *t)
{
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    *shared = -1;
    g_trapped = shared;
    g_test = t;
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
        printf("ok: %s\n", t->ok);
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == EA_TEST_CONFINED_SYSCALL) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, *shared);
        fprintf(stderr, "FAIL: forbidden system call %d (%s) after %s\n", *shared,
                name != NULL ? name : "?", t->init_name);
        free(name);
    } else if (WIFEXITED(status)) {
        fprintf(stderr, "FAIL: child exited with status %d\n", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr, "FAIL: child killed by signal %d\n", WTERMSIG(status));
    }
    return 1;
}
