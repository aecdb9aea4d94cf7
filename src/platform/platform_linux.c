/*
 * Linux implementation of platform.h.
 *
 * Design notes: futexes are the non-private kind (no FUTEX_PRIVATE_FLAG)
 * because workers of different processes wait on words in the shared arena.
 * The system-call allow-lists and their installer are in confine_linux.c.
 */
#include "platform/platform.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <eactors/ea_err.h>

int eai_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? (int)n : 1;
}

uint64_t eai_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void eai_thread_yield(void)
{
    (void)sched_yield();
}

int eai_thread_batch(void)
{
    struct sched_param sp = {0};
    return sched_setscheduler(0, SCHED_BATCH, &sp) == 0 ? EA_OK : EA_ERR_SYS;
}

struct start_arg {
    void *(*fn)(void *);
    void *arg;
};

int eai_thread_start(eai_thread_t *t, const int *cpus, int ncpus, void *(*fn)(void *), void *arg,
                     char *err, size_t errlen)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create thread: %s", strerror(rc));
        return EA_ERR_SYS;
    }
    if (ncpus > 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int i = 0; i < ncpus; i++)
            CPU_SET(cpus[i], &set);
        /* Check each CPU against the set this process may use first, so
         * the message names the CPU that fails. */
        cpu_set_t allowed;
        CPU_ZERO(&allowed);
        if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
            CPU_ZERO(&allowed);
        for (int i = 0; i < ncpus; i++) {
            if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE || !CPU_ISSET(cpus[i], &allowed)) {
                snprintf(err, errlen, "cannot pin to CPU %d: not in this process's CPU set",
                         cpus[i]);
                pthread_attr_destroy(&attr);
                return EA_ERR_SYS;
            }
        }
        rc = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
        if (rc != 0) {
            snprintf(err, errlen, "cannot pin to CPU %d: %s", cpus[0], strerror(rc));
            pthread_attr_destroy(&attr);
            return EA_ERR_SYS;
        }
    }
    pthread_t id;
    rc = pthread_create(&id, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen,
                 ncpus > 0 ? "cannot start thread pinned to CPU %d: %s"
                           : "cannot start thread%.0d: %s",
                 ncpus > 0 ? cpus[0] : 0, strerror(rc));
        return EA_ERR_SYS;
    }
    t->id = (unsigned long)id;
    return EA_OK;
}

int eai_thread_join(eai_thread_t *t)
{
    return pthread_join((pthread_t)t->id, NULL) == 0 ? EA_OK : EA_ERR_SYS;
}

void eai_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns != 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long)(timeout_ns % 1000000000u);
        tsp = &ts;
    }
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, tsp, NULL, 0);
}

void eai_futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

int eai_shm_create(const char *name, size_t size, int *fd, void **addr)
{
    int f = memfd_create(name, MFD_CLOEXEC);
    if (f < 0)
        return EA_ERR_SYS;
    if (ftruncate(f, (off_t)size) != 0) {
        close(f);
        return EA_ERR_SYS;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (p == MAP_FAILED) {
        close(f);
        return EA_ERR_NOMEM;
    }
    *fd = f;
    *addr = p;
    return EA_OK;
}

void eai_shm_destroy(int fd, void *addr, size_t size)
{
    if (addr != NULL)
        munmap(addr, size);
    if (fd >= 0)
        close(fd);
}

void *eai_mem_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void eai_mem_hint_huge(void *addr, size_t size)
{
    /* A hint: where transparent huge pages are off or unavailable the
     * mapping keeps its small pages. */
    (void)madvise(addr, size, MADV_HUGEPAGE);
}

void eai_mem_unmap(void *addr, size_t size)
{
    if (addr != NULL)
        munmap(addr, size);
}

int eai_memfd_from_file(const char *path, int *fd, size_t *size, char *err, size_t errlen)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return EA_ERR_SYS;
    }
    int mfd = memfd_create("eactors-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) {
        snprintf(err, errlen, "memfd_create: %s", strerror(errno));
        close(in);
        return EA_ERR_SYS;
    }
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(mfd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                snprintf(err, errlen, "cannot copy '%s': %s", path, strerror(errno));
                goto fail;
            }
            off += w;
        }
        total += (size_t)n;
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        snprintf(err, errlen, "cannot seal image copy: %s", strerror(errno));
        goto fail;
    }
    close(in);
    *fd = mfd;
    *size = total;
    return EA_OK;
fail:
    close(in);
    close(mfd);
    return EA_ERR_SYS;
}

void *eai_dl_open_fd(int fd, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        snprintf(err, errlen, "%s", dlerror());
    return h;
}

void *eai_dl_sym(void *handle, const char *name)
{
    return dlsym(handle, name);
}

void eai_dl_close(void *handle)
{
    if (handle != NULL)
        dlclose(handle);
}

pid_t eai_fork(void)
{
    return fork();
}

pid_t eai_pid(void)
{
    return getpid();
}

pid_t eai_parent_pid(void)
{
    return getppid();
}

int eai_child_harden(char *err, size_t errlen)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || prctl(PR_SET_DUMPABLE, 0) != 0) {
        snprintf(err, errlen, "prctl: %s", strerror(errno));
        return EA_ERR_SYS;
    }
    /* The launcher decides when the run stops; Ctrl-C reaches the whole
     * process group, so the enclave ignores it and waits for the arena's
     * stop flag. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    return EA_OK;
}

const char *eai_syscall_name(int nr)
{
    static __thread char name[64];
    char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (s == NULL)
        return NULL;
    snprintf(name, sizeof name, "%s", s);
    free(s);
    return name;
}

static void (*fatal_fn)(int, int);

static void on_fatal_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int nr = -1;
    if (sig == SIGSYS)
        nr = si->si_syscall;
    if (fatal_fn != NULL)
        fatal_fn(sig, nr);
    syscall(SYS_exit_group, 128 + sig);
    for (;;)
        ;
}

int eai_on_fatal(void (*fn)(int sig, int syscall_nr))
{
    static const int sigs[] = {SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    fatal_fn = fn;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return EA_ERR_SYS;
    return EA_OK;
}

int eai_thread_prepare(void)
{
    /* The C library sets up this thread's malloc arena on first use, with
     * system calls (sysinfo, open of /sys files) that the enclave filter
     * forbids, and the first time it shrinks a thread heap it reads
     * /proc/sys/vm/overcommit_memory: do both now, before confinement.
     * The heap shrinks only once its free top reaches the trim threshold,
     * which glibc raises (up to 64 MiB) each time a freed chunk was
     * mmapped, as the launcher's may have been: fixed at 128 KiB, the
     * 1 MiB below is sure to shrink it (an XMPP router storing 10,000
     * offline messages was killed for that open, the warm-up not having
     * shrunk anything). */
    (void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    enum { N = 128, SZ = 8 * 1024 };
    void *blocks[N];
    for (int i = 0; i < N; i++)
        blocks[i] = malloc(SZ);
    for (int i = N - 1; i >= 0; i--)
        free(blocks[i]);
    size_t size = 64 * 1024;
    void *p = eai_mem_map(size);
    if (p == NULL)
        return EA_ERR_NOMEM;
    stack_t st = {.ss_sp = p, .ss_size = size, .ss_flags = 0};
    return sigaltstack(&st, NULL) == 0 ? EA_OK : EA_ERR_SYS;
}

_Noreturn void eai_exit_now(int status)
{
    syscall(SYS_exit_group, status);
    for (;;)
        ;
}

int eai_thread_join_until(eai_thread_t *t, uint64_t deadline_ns)
{
    struct timespec now_rt;
    clock_gettime(CLOCK_REALTIME, &now_rt);
    uint64_t now = eai_clock_ns();
    uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
    uint64_t abs_ns = (uint64_t)now_rt.tv_sec * 1000000000u + (uint64_t)now_rt.tv_nsec + left;
    struct timespec ts = {.tv_sec = (time_t)(abs_ns / 1000000000u),
                          .tv_nsec = (long)(abs_ns % 1000000000u)};
    int rc = pthread_timedjoin_np((pthread_t)t->id, NULL, &ts);
    return rc == 0 ? EA_OK : EA_ERR_BUSY;
}

pid_t eai_reap(int *status)
{
    pid_t p;
    do
        p = waitpid(-1, status, WNOHANG);
    while (p < 0 && errno == EINTR);
    return p;
}

void eai_kill(pid_t pid, int sig)
{
    if (pid > 0)
        kill(pid, sig);
}

void eai_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

static void (*signal_notify)(void);
static volatile sig_atomic_t stop_signal;

static void on_launcher_signal(int sig)
{
    if (sig == SIGINT || sig == SIGTERM)
        stop_signal = sig;
    if (signal_notify != NULL)
        signal_notify();
}

int eai_signals_install(void (*notify)(void))
{
    signal_notify = notify;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_launcher_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return EA_ERR_SYS;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        return EA_ERR_SYS;
    return EA_OK;
}

int eai_signal_take(void)
{
    int s = stop_signal;
    stop_signal = 0;
    return s;
}

const char *eai_signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGSYS: return "SIGSYS";
    case SIGKILL: return "SIGKILL";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "signal";
    }
}

int eai_mkdir_p(const char *path, unsigned mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return EA_ERR_INVAL;
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
            return EA_ERR_SYS;
        *p = '/';
    }
    if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
        return EA_ERR_SYS;
    return EA_OK;
}
