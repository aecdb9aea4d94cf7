/*
 * The platform service and its client.
 *
 * Design notes. Requests and responses are fixed-size structs over
 * SOCK_SEQPACKET sockets, one request in flight per socket. The service
 * trusts nothing an enclave sends: sizes are fixed, the image is received as
 * a file descriptor that must be a memfd sealed against writing, growing and
 * shrinking (so the bytes it measures are the bytes the enclave maps), and
 * every request after EINIT is answered for the identity EINIT established
 * on that socket, never for one named in the request. The service process is
 * non-dumpable and confined by its own seccomp allow-list once the secret and
 * the counters directory are open.
 */
#include "trust/pservice.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"

enum { PS_EINIT = 1, PS_EREPORT, PS_EGETKEY, PS_MC };

struct ps_req {
    uint32_t op;
    uint32_t arg;
    union {
        struct {
            char image_name[160];
            uint32_t siglen;
            uint8_t sig[EAI_SIGSTRUCT_SIZE];
        } einit;
        struct {
            ea_target_info_t target;
            ea_report_data_t data;
        } ereport;
        ea_key_request_t keyreq;
        ea_mc_uuid_t uuid;
    } u;
};

struct ps_resp {
    int32_t rc;
    uint32_t pad;
    union {
        struct {
            eai_identity_t id;
            char err[256];
        } einit;
        ea_report_t report;
        uint8_t key[16];
        struct {
            ea_mc_uuid_t uuid;
            uint32_t value;
        } mc;
    } u;
};

/* ------------------------------------------------------------- service */

struct peer {
    int fd;
    int initted;
    eai_identity_t id;
};

static int confine_service(int dirfd)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL)
        return -1;
    static const int plain[] = {
        SCMP_SYS(poll),
        SCMP_SYS(ppoll),
        SCMP_SYS(recvmsg),
        SCMP_SYS(sendmsg),
        SCMP_SYS(sendto),
        SCMP_SYS(close),
        SCMP_SYS(fcntl),
        SCMP_SYS(fstat),
        SCMP_SYS(newfstatat),
        SCMP_SYS(munmap),
        SCMP_SYS(brk),
        SCMP_SYS(madvise),
        SCMP_SYS(futex),
        SCMP_SYS(getrandom),
        SCMP_SYS(exit_group),
        SCMP_SYS(exit),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(read),
        SCMP_SYS(pread64),
        SCMP_SYS(write),
        SCMP_SYS(pwrite64),
        SCMP_SYS(fsync),
        SCMP_SYS(fdatasync),
        SCMP_SYS(lseek),
        SCMP_SYS(clock_gettime),
        SCMP_SYS(getpid),
        SCMP_SYS(gettid),
        SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(sysinfo),
        SCMP_SYS(mremap),
        SCMP_SYS(ftruncate),
        SCMP_SYS(fchmod),
#ifdef EA_SANITIZED
        /* The sanitizer runtimes' own bookkeeping (test builds only). */
        SCMP_SYS(sigaltstack),
        SCMP_SYS(rt_sigaction),
        SCMP_SYS(prctl),
        SCMP_SYS(getrlimit),
        SCMP_SYS(prlimit64),
        SCMP_SYS(readlink),
        SCMP_SYS(sched_yield),
        SCMP_SYS(mprotect),
#endif
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof plain / sizeof plain[0]; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain[i], 0);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    /* Files only inside the counters directory. */
    static const int at[] = {SCMP_SYS(openat), SCMP_SYS(unlinkat), SCMP_SYS(mkdirat)};
    for (size_t i = 0; rc == 0 && i < sizeof at / sizeof at[0]; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, at[i], 1, SCMP_A0(SCMP_CMP_EQ, (uint64_t)dirfd));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat), 2,
                              SCMP_A0(SCMP_CMP_EQ, (uint64_t)dirfd),
                              SCMP_A2(SCMP_CMP_EQ, (uint64_t)dirfd));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat2), 2,
                              SCMP_A0(SCMP_CMP_EQ, (uint64_t)dirfd),
                              SCMP_A2(SCMP_CMP_EQ, (uint64_t)dirfd));
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc;
}

static int recv_req(int fd, struct ps_req *req, int *passed_fd)
{
    struct iovec iov = {.iov_base = req, .iov_len = sizeof *req};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    *passed_fd = -1;
    ssize_t n;
    do
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n >= 0 && c != NULL; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(passed_fd, CMSG_DATA(c), sizeof(int));
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof *req || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        return -1;
    return 1;
}

static void do_einit(struct peer *p, const struct ps_req *req, int imgfd, struct ps_resp *resp)
{
    char name[sizeof req->u.einit.image_name + 1];
    memcpy(name, req->u.einit.image_name, sizeof req->u.einit.image_name);
    name[sizeof name - 1] = '\0';
    char signame[sizeof name + 8];
    snprintf(signame, sizeof signame, "%s.sig", name);
    resp->rc = EA_ERR_PERM;
    if (p->initted) {
        snprintf(resp->u.einit.err, sizeof resp->u.einit.err, "enclave already initialised");
        return;
    }
    int seals = imgfd >= 0 ? fcntl(imgfd, F_GET_SEALS) : -1;
    int need = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
    struct stat st;
    if (seals < 0 || (seals & need) != need || fstat(imgfd, &st) != 0 || st.st_size <= 0) {
        snprintf(resp->u.einit.err, sizeof resp->u.einit.err,
                 "image '%s' was not handed over as a sealed copy", name);
        return;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, imgfd, 0);
    if (map == MAP_FAILED) {
        snprintf(resp->u.einit.err, sizeof resp->u.einit.err, "image '%s': cannot map", name);
        return;
    }
    uint32_t siglen = req->u.einit.siglen;
    if (siglen > sizeof req->u.einit.sig)
        siglen = sizeof req->u.einit.sig + 1; /* decode reports the wrong size */
    resp->rc = eai_einit(map, (size_t)st.st_size, req->u.einit.sig,
                         siglen > sizeof req->u.einit.sig ? 0 : siglen, name, signame,
                         &resp->u.einit.id, resp->u.einit.err, sizeof resp->u.einit.err);
    munmap(map, (size_t)st.st_size);
    if (resp->rc == EA_OK) {
        p->initted = 1;
        p->id = resp->u.einit.id;
    }
}

static void serve(const eai_pcore_t *pc, eai_counters_t *mc, struct peer *p,
                  const struct ps_req *req, int imgfd, struct ps_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    if (req->op == PS_EINIT) {
        do_einit(p, req, imgfd, resp);
        return;
    }
    if (!p->initted) {
        resp->rc = EA_ERR_PERM;
        return;
    }
    switch (req->op) {
    case PS_EREPORT:
        resp->rc = eai_pcore_ereport(pc, &p->id, &req->u.ereport.target, &req->u.ereport.data,
                                     &resp->u.report);
        break;
    case PS_EGETKEY: resp->rc = eai_pcore_egetkey(pc, &p->id, &req->u.keyreq, resp->u.key); break;
    case PS_MC: {
        ea_mc_uuid_t uuid = req->u.uuid;
        uint32_t value = 0;
        switch (req->arg) {
        case EAI_MC_CREATE: resp->rc = eai_mc_create(mc, p->id.mr_signer, &uuid, &value); break;
        case EAI_MC_READ: resp->rc = eai_mc_read(mc, p->id.mr_signer, &uuid, &value); break;
        case EAI_MC_INCREMENT:
            resp->rc = eai_mc_increment(mc, p->id.mr_signer, &uuid, &value);
            break;
        case EAI_MC_DESTROY: resp->rc = eai_mc_destroy(mc, p->id.mr_signer, &uuid); break;
        default: resp->rc = EA_ERR_INVAL; break;
        }
        resp->u.mc.uuid = uuid;
        resp->u.mc.value = value;
        break;
    }
    default: resp->rc = EA_ERR_INVAL; break;
    }
}

_Noreturn void eai_pservice_main(const char *dir, const int *fds, int n, char *msg, size_t msglen)
{
    char err[256] = "";
    eai_pcore_t pc;
    eai_counters_t mc;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_DUMPABLE, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    if (eai_crypto_init() != EA_OK) {
        snprintf(msg, msglen, "cannot initialise the crypto library");
        _exit(1);
    }
    if (eai_pcore_open(&pc, dir, err, sizeof err) != EA_OK ||
        eai_mc_open(&mc, &pc, dir, err, sizeof err) != EA_OK) {
        snprintf(msg, msglen, "%s", err);
        _exit(1);
    }
    if (confine_service(mc.dirfd) != 0) {
        snprintf(msg, msglen, "cannot confine the platform service");
        _exit(1);
    }
    struct peer *peers = calloc((size_t)n, sizeof *peers);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    if (peers == NULL || pfd == NULL)
        _exit(1);
    for (int i = 0; i < n; i++) {
        peers[i].fd = fds[i];
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN;
    }
    int open_count = n;
    while (open_count > 0) {
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            struct ps_req req;
            struct ps_resp resp;
            int imgfd;
            int r = (pfd[i].revents & (POLLIN)) ? recv_req(pfd[i].fd, &req, &imgfd) : 0;
            if (r <= 0) {
                /* Closed, or a malformed request: this enclave is cut off. */
                if (imgfd >= 0 && r < 0)
                    close(imgfd);
                close(pfd[i].fd);
                pfd[i].fd = -1;
                open_count--;
                continue;
            }
            serve(&pc, &mc, &peers[i], &req, imgfd, &resp);
            if (imgfd >= 0)
                close(imgfd);
            ssize_t w;
            do
                w = send(pfd[i].fd, &resp, sizeof resp, MSG_NOSIGNAL);
            while (w < 0 && errno == EINTR);
            eai_wipe(&resp, sizeof resp);
        }
    }
    eai_mc_close(&mc);
    eai_pcore_close(&pc);
    _exit(0);
}

/* -------------------------------------------------------------- client */

static int call(eai_pclient_t *c, const struct ps_req *req, int passfd, struct ps_resp *resp)
{
    struct iovec iov = {.iov_base = (void *)req, .iov_len = sizeof *req};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (passfd >= 0) {
        memset(&cm, 0, sizeof cm);
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof cm.buf;
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &passfd, sizeof(int));
    }
    int rc = EA_ERR_SYS;
    pthread_mutex_lock(&c->lock);
    ssize_t n;
    do
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof *req) {
        do
            n = recv(c->fd, resp, sizeof *resp, 0);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)sizeof *resp)
            rc = EA_OK;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int op_ereport(void *ctx, const ea_target_info_t *target, const ea_report_data_t *data,
                      ea_report_t *report)
{
    struct ps_req req;
    struct ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = PS_EREPORT;
    req.u.ereport.target = *target;
    if (data != NULL)
        req.u.ereport.data = *data;
    int rc = call(ctx, &req, -1, &resp);
    if (rc == EA_OK && (rc = resp.rc) == EA_OK)
        *report = resp.u.report;
    return rc;
}

static int op_egetkey(void *ctx, const ea_key_request_t *kr, uint8_t key[16])
{
    struct ps_req req;
    struct ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = PS_EGETKEY;
    req.u.keyreq = *kr;
    int rc = call(ctx, &req, -1, &resp);
    if (rc == EA_OK && (rc = resp.rc) == EA_OK)
        memcpy(key, resp.u.key, 16);
    eai_wipe(&resp, sizeof resp);
    return rc;
}

static int op_identity(void *ctx, eai_identity_t *id)
{
    eai_pclient_t *c = ctx;
    if (!c->initted)
        return EA_ERR_PERM;
    *id = c->id;
    return EA_OK;
}

static int op_mc(void *ctx, int op, ea_mc_uuid_t *uuid, uint32_t *value)
{
    struct ps_req req;
    struct ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = PS_MC;
    req.arg = (uint32_t)op;
    if (uuid != NULL)
        req.u.uuid = *uuid;
    int rc = call(ctx, &req, -1, &resp);
    if (rc == EA_OK && (rc = resp.rc) == EA_OK) {
        if (uuid != NULL)
            *uuid = resp.u.mc.uuid;
        if (value != NULL)
            *value = resp.u.mc.value;
    }
    return rc;
}

void eai_pclient_init(eai_pclient_t *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    pthread_mutex_init(&c->lock, NULL);
    c->ops.ctx = c;
    c->ops.ereport = op_ereport;
    c->ops.egetkey = op_egetkey;
    c->ops.identity = op_identity;
    c->ops.mc = op_mc;
}

void eai_pclient_fini(eai_pclient_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    pthread_mutex_destroy(&c->lock);
}

int eai_pclient_einit(eai_pclient_t *c, int image_fd, const char *image_name, const uint8_t *sig,
                      size_t siglen, char *err, size_t errlen)
{
    struct ps_req req;
    struct ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = PS_EINIT;
    snprintf(req.u.einit.image_name, sizeof req.u.einit.image_name, "%s", image_name);
    req.u.einit.siglen = (uint32_t)siglen;
    memcpy(req.u.einit.sig, sig, siglen < sizeof req.u.einit.sig ? siglen : sizeof req.u.einit.sig);
    int rc = call(c, &req, image_fd, &resp);
    if (rc != EA_OK) {
        snprintf(err, errlen, "the platform service is not available");
        return rc;
    }
    if (resp.rc != EA_OK) {
        resp.u.einit.err[sizeof resp.u.einit.err - 1] = '\0';
        snprintf(err, errlen, "%s", resp.u.einit.err);
        return resp.rc;
    }
    c->id = resp.u.einit.id;
    c->initted = 1;
    return EA_OK;
}

char *eai_platform_dir_default(void)
{
    const char *env = getenv("EACTORS_PLATFORM_DIR");
    char *out = NULL;
    if (env != NULL && env[0] != '\0')
        return strdup(env);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/') {
        if (asprintf(&out, "%s/eactors/platform", xdg) < 0)
            return NULL;
    } else if (home != NULL && home[0] == '/') {
        if (asprintf(&out, "%s/.local/share/eactors/platform", home) < 0)
            return NULL;
    }
    return out;
}
