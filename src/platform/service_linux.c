/*
 * What the platform daemon (`eactors platform run`) and its clients need
 * from the OS: a local record socket others can connect to, the kernel's
 * word on who connected, users, giving up root, and starting an enclave
 * process from a fixed binary with a clean environment under another user.
 *
 * Design notes. The enclave process is started with fork and execve, never
 * posix_spawn: between the two the child gives up its groups and user (the
 * daemon keeps only CAP_SETUID and CAP_SETGID for this), asks to die with
 * its parent, and moves exactly the descriptors it is given to 0, 1, 2, ...
 * closing every other one. execve gets an empty environment, so nothing the
 * host user set (LD_PRELOAD, LD_LIBRARY_PATH, ...) reaches the loader of the
 * new process. A failed exec is reported through a close-on-exec pipe, so
 * the caller learns it before it reports the enclave as started. Every
 * child is watched with a pidfd, which poll reports readable when it ends.
 */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <eactors/ea_err.h>

/* A record socket and the address of `path`. */
static int local_socket(const char *path, struct sockaddr_un *a, int *fd)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (path == NULL || strlen(path) >= sizeof a->sun_path)
        return EA_ERR_INVAL;
    memcpy(a->sun_path, path, strlen(path) + 1);
    *fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    return *fd >= 0 ? EA_OK : EA_ERR_SYS;
}

int eai_local_listen(const char *path, unsigned mode, int *fd)
{
    struct sockaddr_un a;
    int s, probe;
    int rc = local_socket(path, &a, &s);
    if (rc != EA_OK)
        return rc;
    /* A socket file nobody answers on was left by a daemon that ended; one
     * that answers belongs to a running daemon, which keeps it. */
    if (eai_local_connect(path, &probe) == EA_OK) {
        close(probe);
        close(s);
        errno = EADDRINUSE;
        return EA_ERR_BUSY;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        (void)unlink(path);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || chmod(path, (mode_t)mode) != 0 ||
        listen(s, 64) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return EA_ERR_SYS;
    }
    *fd = s;
    return EA_OK;
}

int eai_local_accept(int lfd, int *fd)
{
    int s;
    do
        s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    while (s < 0 && errno == EINTR);
    if (s < 0)
        return EA_ERR_SYS;
    *fd = s;
    return EA_OK;
}

int eai_local_connect(const char *path, int *fd)
{
    struct sockaddr_un a;
    int s;
    int rc = local_socket(path, &a, &s);
    if (rc != EA_OK)
        return rc;
    int r;
    do
        r = connect(s, (struct sockaddr *)&a, sizeof a);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        int e = errno;
        close(s);
        errno = e;
        return e == ENOENT || e == ECONNREFUSED ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    }
    *fd = s;
    return EA_OK;
}

int eai_sock_peer(int fd, pid_t *pid, uint32_t *uid)
{
    struct ucred uc;
    socklen_t len = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 || len != sizeof uc)
        return EA_ERR_SYS;
    if (pid != NULL)
        *pid = uc.pid;
    if (uid != NULL)
        *uid = uc.uid;
    return EA_OK;
}

uint32_t eai_uid(void)
{
    return (uint32_t)geteuid();
}

int eai_user_find(const char *name, uint32_t *uid, uint32_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
        return EA_ERR_NOTFOUND;
    *uid = (uint32_t)pw.pw_uid;
    *gid = (uint32_t)pw.pw_gid;
    return EA_OK;
}

int eai_user_name(uint32_t uid, char *out, size_t outlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL) {
        snprintf(out, outlen, "uid %u", uid);
        return EA_ERR_NOTFOUND;
    }
    snprintf(out, outlen, "%s", pw.pw_name);
    return EA_OK;
}

static int caps_keep_setid(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    uint32_t want = (1u << CAP_SETUID) | (1u << CAP_SETGID);
    d[0].effective = want;
    d[0].permitted = want;
    return syscall(SYS_capset, &h, d) == 0 ? EA_OK : EA_ERR_SYS;
}

int eai_become_user(uint32_t uid, uint32_t gid, bool keep_setid, char *err, size_t errlen)
{
    if (keep_setid && prctl(PR_SET_KEEPCAPS, 1) != 0)
        goto fail;
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        goto fail;
    if (keep_setid && (caps_keep_setid() != EA_OK || prctl(PR_SET_KEEPCAPS, 0) != 0))
        goto fail;
    if (getuid() != uid || geteuid() != uid || getgid() != gid) {
        snprintf(err, errlen, "the user did not change");
        return EA_ERR_PERM;
    }
    /* Changing the user resets it: set again. */
    if (prctl(PR_SET_DUMPABLE, 0) != 0)
        goto fail;
    return EA_OK;
fail:
    snprintf(err, errlen, "cannot become uid %u: %s", uid, strerror(errno));
    return EA_ERR_PERM;
}

bool eai_can_set_user(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return false;
    uint32_t want = (1u << CAP_SETUID) | (1u << CAP_SETGID);
    return (d[0].effective & want) == want;
}

int eai_set_undumpable(void)
{
    return prctl(PR_SET_DUMPABLE, 0) == 0 ? EA_OK : EA_ERR_SYS;
}

/* In the child between fork and execve: only async-signal-safe calls. */
static _Noreturn void child_exec(const eai_spawn_t *s, int report, pid_t parent)
{
    int e = 0;
    if (s->set_user) {
        if (setgroups(0, NULL) != 0 || setresgid(s->gid, s->gid, s->gid) != 0 ||
            prctl(PR_SET_KEEPCAPS, 0) != 0 || setresuid(s->uid, s->uid, s->uid) != 0) {
            e = errno;
            goto out;
        }
        if (getuid() != s->uid || geteuid() != s->uid) {
            e = EPERM;
            goto out;
        }
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        e = ECHILD;
        goto out;
    }
    /* Every given descriptor above the target range first, then down to
     * 0, 1, 2, ...: a source may sit on another one's target. */
    int high[16];
    int n = s->nfds < 16 ? s->nfds : 16;
    int top = 64;
    for (int i = 0; i < n; i++) {
        int src = s->fds[i];
        if (src < 0)
            src = open("/dev/null", O_RDWR);
        high[i] = src < 0 ? -1 : fcntl(src, F_DUPFD, 64);
        if (high[i] < 0) {
            e = errno;
            goto out;
        }
        if (high[i] > top)
            top = high[i];
    }
    int r = fcntl(report, F_DUPFD_CLOEXEC, top + 1);
    if (r < 0) {
        e = errno;
        goto out;
    }
    report = r;
    for (int i = 0; i < n; i++)
        if (dup2(high[i], i) != i) {
            e = errno;
            goto out;
        }
    /* Nothing else of the parent's survives. */
    (void)syscall(SYS_close_range, (unsigned)n, (unsigned)report - 1, 0);
    (void)syscall(SYS_close_range, (unsigned)report + 1, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    char *const env[] = {NULL};
    execve(s->path, s->argv, env);
    e = errno;
out:
    (void)!write(report, &e, sizeof e);
    _exit(127);
}

int eai_spawn(const eai_spawn_t *s, pid_t *pid, int *pidfd, char *err, size_t errlen)
{
    if (s->nfds < 0 || s->nfds > 16) { /* child_exec's table */
        snprintf(err, errlen, "cannot start '%s': %d descriptors (at most 16)", s->path, s->nfds);
        return EA_ERR_INVAL;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return EA_ERR_SYS;
    }
    pid_t parent = getpid();
    pid_t c = fork();
    if (c < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return EA_ERR_SYS;
    }
    if (c == 0) {
        close(p[0]);
        child_exec(s, p[1], parent);
    }
    close(p[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(p[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n > 0) {
        int st;
        (void)waitpid(c, &st, 0);
        snprintf(err, errlen, "cannot start '%s': %s", s->path, strerror(e));
        return EA_ERR_SYS;
    }
    int fd = (int)syscall(SYS_pidfd_open, c, 0);
    if (fd < 0) {
        snprintf(err, errlen, "pidfd_open: %s", strerror(errno));
        kill(c, SIGKILL);
        int st;
        (void)waitpid(c, &st, 0);
        return EA_ERR_SYS;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    *pid = c;
    *pidfd = fd;
    return EA_OK;
}

int eai_wait_child(pid_t pid, int *status)
{
    pid_t r;
    do
        r = waitpid(pid, status, 0);
    while (r < 0 && errno == EINTR);
    return r == pid ? EA_OK : EA_ERR_SYS;
}

int eai_poll_readable(const int *fds, int n, uint8_t *ready, int timeout_ms)
{
    struct pollfd *pfd = calloc((size_t)(n > 0 ? n : 1), sizeof *pfd);
    if (pfd == NULL)
        return EA_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    int r = poll(pfd, (nfds_t)n, timeout_ms);
    if (r < 0) {
        int e = errno;
        free(pfd);
        return e == EINTR ? 0 : EA_ERR_SYS;
    }
    for (int i = 0; i < n; i++)
        ready[i] = fds[i] >= 0 && pfd[i].revents != 0;
    free(pfd);
    return r;
}

int eai_exe_path(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return EA_ERR_SYS;
    buf[n] = '\0';
    return EA_OK;
}

int eai_path_root_owned(const char *path, char *why, size_t whylen)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
        return EA_ERR_INVAL;
    for (;;) {
        struct stat st;
        if (lstat(p, &st) != 0) {
            snprintf(why, whylen, "'%s': %s", p, strerror(errno));
            return EA_ERR_SYS;
        }
        bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
        if (st.st_uid != 0 || (!sticky_dir && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)) {
            snprintf(why, whylen, "'%s' is not owned by root and writable by root alone", p);
            return EA_ERR_PERM;
        }
        char *slash = strrchr(p, '/');
        if (slash == NULL || slash == p)
            return EA_OK;
        *slash = '\0';
    }
}

int eai_run_program(char *const argv[], int *status)
{
    pid_t c = fork();
    if (c < 0)
        return EA_ERR_SYS;
    if (c == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    return eai_wait_child(c, status);
}

int eai_path_chown(const char *path, uint32_t uid, uint32_t gid, unsigned mode)
{
    if (lchown(path, uid, gid) != 0 || chmod(path, (mode_t)mode) != 0)
        return EA_ERR_SYS;
    return EA_OK;
}

int eai_file_open_read(const char *path, int *fd)
{
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0)
        return errno == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    *fd = f;
    return EA_OK;
}

bool eai_fd_is_file(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

int eai_fd_file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        return EA_ERR_INVAL;
    *size = (uint64_t)st.st_size;
    return EA_OK;
}

int eai_shm_attach(int fd, size_t size, void **addr)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size)
        return EA_ERR_INVAL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return EA_ERR_NOMEM;
    *addr = p;
    return EA_OK;
}

void eai_signal_ignore_pipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

int eai_pidfd_open(pid_t pid, int *fd)
{
    int f = (int)syscall(SYS_pidfd_open, pid, 0);
    if (f < 0)
        return EA_ERR_SYS;
    (void)fcntl(f, F_SETFD, FD_CLOEXEC);
    *fd = f;
    return EA_OK;
}

int eai_sock_shutdown(int fd)
{
    return shutdown(fd, SHUT_RDWR) == 0 ? EA_OK : EA_ERR_SYS;
}
