/*
 * System-call allow-lists: every confined process of eactors (an enclave,
 * the platform service) is confined by one installer, eai_allowlist_install,
 * from one of the two tables below. The tables are data: a system call name
 * and the condition on its arguments. Both live here so that they can be
 * read side by side and changed in one style.
 *
 * Design notes. Names are resolved with libseccomp for the native
 * architecture; a name this architecture lacks is an error, not a silent
 * gap. A rule that compares an argument with a descriptor takes the
 * descriptor from the caller's `fds` array by slot, and a slot holding -1
 * drops the rule (an enclave without a platform socket gets no socket
 * calls at all). The enclave's filter traps (SIGSYS names the call before
 * the process dies) and is synchronised to all threads, because its
 * workers already run; the service's filter kills the process and covers
 * its only thread.
 */
#include "platform/platform.h"

#include <errno.h>
#include <seccomp.h>

#ifdef __clang__
/* libseccomp's SCMP_A* macros leave the second datum to zero: clang's
 * -Wmissing-field-initializers reports each use. */
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <eactors/ea_err.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

/* clang-format off */
#define ANY(n) {n, EAI_RULE_ANY, 0, 0, 0}
#define NOEXEC(n) {n, EAI_RULE_NOEXEC, 0, 0, 0}
#define FD(n, slot) {n, EAI_RULE_FD, slot, 0, 0}
#define FD_FD(n, slot) {n, EAI_RULE_FD_FD, slot, 0, 0}
#define EXEC_MAP(n, slot) {n, EAI_RULE_EXEC_MAP, slot, 0, 0}
#define THREAD(n) {n, EAI_RULE_THREAD, 0, 0, 0}
#define ENOSYS_(n) {n, EAI_RULE_ENOSYS, 0, 0, 0}
#define EQ01(n, v0, v1) {n, EAI_RULE_EQ01, 0, v0, v1}
/* clang-format on */

/* What an enclave process may do once its workers run: compute, wait on
 * futexes, manage its own memory (never executable), read clocks, get random
 * bytes, write to stdout/stderr, talk to the platform service on its one
 * socket, and exit. fds: {platform socket or -1, 1, 2}. */
static const eai_sysrule_t enclave_rules[] = {
    ANY("futex"),
    ANY("exit"),
    ANY("exit_group"),
    ANY("rt_sigreturn"),
    ANY("rt_sigprocmask"),
    ANY("sched_yield"),
    ANY("clock_gettime"),
    ANY("clock_nanosleep"),
    ANY("nanosleep"),
    ANY("gettid"),
    ANY("getpid"),
    ANY("getrandom"),
    ANY("brk"),
    ANY("munmap"),
    ANY("madvise"),
    ANY("mremap"),
    ANY("restart_syscall"),
    ANY("sched_getaffinity"),
    ANY("set_robust_list"),
    /* glibc's qsort asks sysinfo for the amount of physical memory; it
     * reveals only machine-wide totals and load averages. */
    ANY("sysinfo"),
    /* A persistent EOS store: the file the launcher opened is mapped
     * (mmap, below) and written back at each sync. msync acts only on
     * this process's own mappings. */
    ANY("msync"),
#ifdef EA_SANITIZED
    /* The sanitizer runtimes need a few more calls for their own
     * bookkeeping; sanitizer builds are test builds only. */
    ANY("sigaltstack"),
    ANY("rt_sigaction"),
    ANY("getrlimit"),
    ANY("prlimit64"),
    ANY("readlink"),
    ANY("openat"),
    ANY("close"),
    ANY("read"),
    ANY("newfstatat"),
    ANY("fstat"),
    ANY("mmap"),
    ANY("mprotect"),
    ANY("tgkill"),
    ANY("sched_setaffinity"),
#else
    /* Memory may be mapped and protected, but never executable. */
    NOEXEC("mmap"),
    NOEXEC("mprotect"),
#endif
    FD("write", 1),
    FD("writev", 1),
    FD("write", 2),
    FD("writev", 2),
    FD("sendmsg", 0),
    FD("recvfrom", 0),
    FD("recvmsg", 0),
};

const eai_allowlist_t eai_allowlist_enclave = {
    .name = "enclave",
    .trap = true,
    .all_threads = true,
    .rules = enclave_rules,
    .nrules = sizeof enclave_rules / sizeof enclave_rules[0],
};

/* Stage 1, installed before the image is mapped (its ELF constructors run
 * under it): everything of the enclave's list, plus what loading the image
 * and starting the workers need. Files are the kernel's business here
 * (Landlock denies every file but memfds), so openat is allowed; executable
 * mappings only of a descriptor opened after confinement (fds[3] is the
 * highest one open before; Landlock lets only memfds be opened, and the
 * image's is the only memfd left), never writable, never anonymous; threads
 * only (clone with CLONE_THREAD; clone3's flags are out of the filter's
 * reach, so it answers ENOSYS and the C library falls back to clone).
 * fds: {platform socket or -1, 1, 2, highest inherited descriptor}. */
static const eai_sysrule_t load_rules[] = {
    ANY("openat"),
    ANY("read"),
    ANY("pread64"),
    ANY("close"),
    ANY("fstat"),
    ANY("newfstatat"),
    ANY("lseek"),
    ANY("sched_setaffinity"),
    ANY("rseq"),
    ANY("sigaltstack"),
    ANY("rt_sigaction"),
    EXEC_MAP("mmap", 3),
    THREAD("clone"),
    ENOSYS_("clone3"),
    /* Stage 2 goes on with TSYNC once the workers run; nothing else. */
    EQ01("seccomp", SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC),
    EQ01("seccomp", SECCOMP_SET_MODE_FILTER,
         SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH),
};

const eai_allowlist_t eai_allowlist_enclave_load = {
    .name = "enclave (loading)",
    .trap = true,
    .all_threads = true,
    .rules = load_rules,
    .nrules = sizeof load_rules / sizeof load_rules[0],
    .base = &eai_allowlist_enclave,
};

/* The platform service after it has read the secret and opened its counters
 * directory: its socket loop, memory, and files only relative to the
 * counters directory. fds: {counters directory}. */
static const eai_sysrule_t service_rules[] = {
    ANY("poll"),
    ANY("ppoll"),
    ANY("recvmsg"),
    ANY("sendmsg"),
    ANY("sendto"),
    ANY("close"),
    ANY("fcntl"),
    ANY("fstat"),
    ANY("newfstatat"),
    ANY("munmap"),
    ANY("brk"),
    ANY("madvise"),
    ANY("futex"),
    ANY("getrandom"),
    ANY("exit_group"),
    ANY("exit"),
    ANY("rt_sigreturn"),
    ANY("read"),
    ANY("pread64"),
    ANY("write"),
    ANY("pwrite64"),
    ANY("fsync"),
    ANY("fdatasync"),
    ANY("lseek"),
    ANY("clock_gettime"),
    ANY("getpid"),
    ANY("gettid"),
    ANY("rt_sigprocmask"),
    ANY("sysinfo"),
    ANY("mremap"),
    ANY("ftruncate"),
    ANY("fchmod"),
#ifdef EA_SANITIZED
    /* The sanitizer runtimes' own bookkeeping (test builds only). */
    ANY("sigaltstack"),
    ANY("rt_sigaction"),
    ANY("prctl"),
    ANY("getrlimit"),
    ANY("prlimit64"),
    ANY("readlink"),
    ANY("sched_yield"),
    ANY("mprotect"),
#endif
    NOEXEC("mmap"),
    /* Files only inside the counters directory (Landlock holds the process
     * beneath it too), and process status files in /proc. */
    FD("openat", 0),
    FD("openat", 1),
    FD("unlinkat", 0),
    FD("mkdirat", 0),
    FD_FD("renameat", 0),
    FD_FD("renameat2", 0),
};

const eai_allowlist_t eai_allowlist_service = {
    .name = "platform service",
    .trap = false,
    .all_threads = false,
    .rules = service_rules,
    .nrules = sizeof service_rules / sizeof service_rules[0],
};

/* The launcher after start-up, where host actors and system actors run:
 * untrusted code that does arbitrary I/O, so Landlock is its allow-list
 * (files and ports from the deployment's grants) and this list only takes
 * away what reaches other processes' memory or the kernel's wider state.
 * A denied call fails with EPERM. */
static const eai_sysrule_t host_denied[] = {
#ifndef EA_SANITIZED
    /* LeakSanitizer stops the world with ptrace (test builds only). */
    ANY("ptrace"),
#endif
    ANY("process_vm_readv"),
    ANY("process_vm_writev"),
    ANY("pidfd_getfd"),
    ANY("kcmp"),
    ANY("userfaultfd"),
    ANY("bpf"),
    ANY("perf_event_open"),
    ANY("open_by_handle_at"),
    ANY("mount"),
    ANY("umount2"),
    ANY("pivot_root"),
    ANY("chroot"),
    ANY("unshare"),
    ANY("setns"),
    ANY("keyctl"),
    ANY("add_key"),
    ANY("request_key"),
    ANY("init_module"),
    ANY("finit_module"),
    ANY("delete_module"),
    ANY("kexec_load"),
    ANY("kexec_file_load"),
    ANY("reboot"),
    ANY("swapon"),
    ANY("swapoff"),
    ANY("acct"),
    ANY("personality"),
    ANY("execve"),
    ANY("execveat"),
};

const eai_allowlist_t eai_denylist_host = {
    .name = "host",
    .deny = true,
    .all_threads = true,
    .rules = host_denied,
    .nrules = sizeof host_denied / sizeof host_denied[0],
};

static int add_rule(scmp_filter_ctx ctx, const eai_sysrule_t *r, int nr, const int *fds, int nfds,
                    bool *skip)
{
    *skip = false;
    if (r->kind == EAI_RULE_ANY)
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (r->kind == EAI_RULE_DENY)
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (r->kind == EAI_RULE_NOEXEC)
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (r->kind == EAI_RULE_THREAD)
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    if (r->kind == EAI_RULE_EQ01)
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, r->a0),
                                SCMP_A1(SCMP_CMP_EQ, r->a1));
    if (r->kind == EAI_RULE_ENOSYS)
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    if (r->slot < 0 || r->slot >= nfds)
        return -EINVAL;
    if (fds[r->slot] < 0) {
        *skip = true;
        return 0;
    }
    uint64_t fd = (uint64_t)fds[r->slot];
    if (r->kind == EAI_RULE_EXEC_MAP)
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 3,
                                SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC),
                                SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, 0),
                                SCMP_A4(SCMP_CMP_GT, fd));
    if (r->kind == EAI_RULE_FD)
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, fd));
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, fd),
                            SCMP_A2(SCMP_CMP_EQ, fd));
}

int eai_no_new_privs(void)
{
    /* Set before the first filter and Landlock ruleset, while the process
     * has one thread (or all its threads are the runtime's), so a plain
     * flag is enough; the kernel flag itself is inherited and permanent. */
    static _Atomic int done;
    if (atomic_load_explicit(&done, memory_order_acquire))
        return EA_OK;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return EA_ERR_SYS;
    atomic_store_explicit(&done, 1, memory_order_release);
    return EA_OK;
}

static int add_rules(scmp_filter_ctx ctx, const eai_allowlist_t *list, const int *fds, int nfds,
                     const char **bad)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->nrules; i++) {
        const eai_sysrule_t *r = &list->rules[i];
        int nr = seccomp_syscall_resolve_name(r->name);
        if (nr == __NR_SCMP_ERROR) {
            *bad = r->name;
            return -ENOSYS;
        }
        bool skip;
        eai_sysrule_t deny = {r->name, EAI_RULE_DENY, 0, 0, 0};
        rc = add_rule(ctx, list->deny ? &deny : r, nr, fds, nfds, &skip);
        if (rc != 0)
            *bad = r->name;
    }
    return rc;
}

int eai_allowlist_install(const eai_allowlist_t *list, const int *fds, int nfds, char *err,
                          size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(list->deny   ? SCMP_ACT_ALLOW
                                       : list->trap ? SCMP_ACT_TRAP
                                                    : SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL) {
        snprintf(err, errlen, "%s allow-list: seccomp_init failed", list->name);
        return EA_ERR_SYS;
    }
    /* no_new_privs is set once per process (eai_no_new_privs); a second
     * prctl would be refused by a filter already in force. */
    int rc = eai_no_new_privs() == EA_OK ? seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) : -EPERM;
    if (rc == 0 && list->all_threads)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    const char *bad = NULL;
    for (const eai_allowlist_t *l = list; rc == 0 && l != NULL; l = l->base)
        rc = add_rules(ctx, l, fds, nfds, &bad);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        if (bad != NULL)
            snprintf(err, errlen, "cannot install the %s allow-list: rule '%s': %s", list->name,
                     bad, strerror(-rc));
        else
            snprintf(err, errlen, "cannot install the %s allow-list: %s", list->name,
                     strerror(-rc));
        return EA_ERR_SYS;
    }
    return EA_OK;
}

int eai_confine_for_load(int platform_fd, int max_fd, char *err, size_t errlen)
{
    const int fds[] = {platform_fd, 1, 2, max_fd};
    return eai_allowlist_install(&eai_allowlist_enclave_load, fds, 4, err, errlen);
}

int eai_seccomp_confine(int platform_fd, char *err, size_t errlen)
{
    const int fds[] = {platform_fd, 1, 2};
    return eai_allowlist_install(&eai_allowlist_enclave, fds, 3, err, errlen);
}
