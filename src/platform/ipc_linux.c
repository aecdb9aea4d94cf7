/*
 * Messages between the platform service and its enclaves: fixed-size
 * records over SOCK_SEQPACKET sockets, one descriptor passed with a record,
 * and the sealed image memfd mapped read-only for measurement.
 *
 * Design notes. A seqpacket record arrives whole or not at all, so a short
 * or truncated read (MSG_TRUNC, MSG_CTRUNC) is a malformed record, never a
 * part of one. The kernel installs every descriptor a record carries in
 * the receiver (close-on-exec: MSG_CMSG_CLOEXEC) before we can look at
 * them, so a hostile sender chooses how many arrive: the receive walks
 * every SCM_RIGHTS message, hands over one descriptor only when the record
 * is well formed and carried exactly one, and closes every other one
 * itself. Two or more descriptors, or a truncated control part, make the
 * record malformed. A caller never has a descriptor to close after a
 * failed receive. eai_memfd_map_sealed refuses a descriptor that is not sealed
 * against writing, growing and shrinking: what the caller measures is what
 * anyone else mapping that memfd sees. The sender of a record is the
 * kernel's word (SCM_CREDENTIALS on a socket with SO_PASSCRED): a process
 * can only claim its own pid. eai_proc_confined reads the kernel's view of
 * that process: a seccomp filter installed and no_new_privs set.
 */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eactors/ea_err.h>

int eai_msg_pair(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0 ? EA_OK : EA_ERR_SYS;
}

static int send_record(int fd, const void *buf, size_t len, int pass_fd, int flags);

int eai_msg_send(int fd, const void *buf, size_t len, int pass_fd)
{
    return send_record(fd, buf, len, pass_fd, 0);
}

int eai_msg_send_nowait(int fd, const void *buf, size_t len, int pass_fd)
{
    return send_record(fd, buf, len, pass_fd, MSG_DONTWAIT);
}

static int send_record(int fd, const void *buf, size_t len, int pass_fd, int flags)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (pass_fd >= 0) {
        memset(&cm, 0, sizeof cm);
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof cm.buf;
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(fd, &msg, MSG_NOSIGNAL | flags);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return EA_ERR_BUSY;
    return n == (ssize_t)len ? EA_OK : EA_ERR_SYS;
}

int eai_msg_want_sender(int fd)
{
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0 ? EA_OK : EA_ERR_SYS;
}

/* Every descriptor in SCM_RIGHTS messages of `msg`, in order: closes all of
 * them but the first, which it returns (-1 if none), and counts them in
 * *count. The kernel installed each one in this process (close-on-exec),
 * whatever the record looks like, so each must be kept or closed here. */
static int take_fds(struct msghdr *msg, int *count)
{
    int first = -1;
    *count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (first < 0)
                first = got;
            else
                close(got);
            (*count)++;
        }
    }
    return first;
}

static pid_t take_sender(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            struct ucred uc;
            memcpy(&uc, CMSG_DATA(c), sizeof uc);
            return uc.pid;
        }
    return 0;
}

int eai_msg_recv_from(int fd, void *buf, size_t len, int *passed_fd, pid_t *sender)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    /* Room for credentials and one descriptor, and a little more so that a
     * record with a few extra descriptors is seen whole (and refused)
     * rather than truncated; what does not fit the kernel drops itself. */
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
    } cm;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (passed_fd != NULL)
        *passed_fd = -1;
    if (sender != NULL)
        *sender = 0;
    if (passed_fd != NULL || sender != NULL) {
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof cm.buf;
    }
    ssize_t n;
    do
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return EA_ERR_SYS;
    int nfds = 0;
    int got = msg.msg_control != NULL ? take_fds(&msg, &nfds) : -1;
    if (sender != NULL && msg.msg_control != NULL)
        *sender = take_sender(&msg);
    int rc = EA_OK;
    if (n == 0)
        rc = EA_ERR_STOPPED; /* end of stream, or an empty record: no request */
    else if (n != (ssize_t)len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > 1)
        rc = EA_ERR_PARSE;
    /* A descriptor is handed over only with a well-formed record that
     * carried exactly one and a caller that asked for one. */
    if (rc == EA_OK && passed_fd != NULL)
        *passed_fd = got;
    else if (got >= 0)
        close(got);
    return rc;
}

int eai_msg_recv(int fd, void *buf, size_t len, int *passed_fd)
{
    return eai_msg_recv_from(fd, buf, len, passed_fd, NULL);
}

int eai_proc_open(int *procfd)
{
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return EA_ERR_SYS;
    *procfd = fd;
    return EA_OK;
}

bool eai_proc_confined(int procfd, pid_t pid)
{
    char name[32], text[4096];
    if (pid <= 0)
        return false;
    snprintf(name, sizeof name, "%d/status", (int)pid);
    int fd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t got = 0;
    while (got < sizeof text - 1) {
        ssize_t r = read(fd, text + got, sizeof text - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    text[got] = '\0';
    /* Mode 2 is a filter (our allow-list); no_new_privs comes with it; and
     * no tracer (a debugger or strace attached from the launcher's birth
     * follows every fork and reads enclave memory). */
    return strstr(text, "\nSeccomp:\t2\n") != NULL && strstr(text, "\nNoNewPrivs:\t1\n") != NULL &&
           strstr(text, "\nTracerPid:\t0\n") != NULL;
}

const char *eai_loader_env_used(void)
{
    /* Variables that make the dynamic loader map code other than the
     * installed libraries into the launcher, and so into every enclave
     * forked from it. */
    static const char *const vars[] = {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0')
            return vars[i];
    }
    struct stat st;
    if (stat("/etc/ld.so.preload", &st) == 0 && st.st_size > 0)
        return "/etc/ld.so.preload";
    return NULL;
}

int eai_wait_readable(const int *fds, int n, uint8_t *ready)
{
    int r;
    do
        r = eai_poll_readable(fds, n, ready, -1); /* 0: a signal, wait again */
    while (r == 0);
    return r < 0 ? r : EA_OK;
}

int eai_memfd_map_sealed(int fd, const void **map, size_t *size)
{
    int need = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
    int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;
    struct stat st;
    if (seals < 0 || (seals & need) != need || fstat(fd, &st) != 0 || st.st_size <= 0)
        return EA_ERR_PERM;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return EA_ERR_SYS;
    *map = p;
    *size = (size_t)st.st_size;
    return EA_OK;
}
