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
 * non-dumpable and confined by its own allow-list (eai_allowlist_service,
 * platform/confine_linux.c) once the secret and the counters directory are
 * open.
 */
#include "trust/pservice.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "platform/platform.h"

/* ------------------------------------------------------------- service */

/* 1: a request (and maybe a descriptor) arrived; 0: the enclave closed its
 * end; -1: a malformed request. */
static int recv_req(int fd, struct eai_ps_req *req, int *passed_fd, pid_t *sender)
{
    int rc = eai_msg_recv_from(fd, req, sizeof *req, passed_fd, sender);
    return rc == EA_OK ? 1 : rc == EA_ERR_STOPPED ? 0 : -1;
}

static void do_einit(eai_ppeer_t *p, const struct eai_ps_req *req, int imgfd, bool isolated,
                     const char *why_debug, struct eai_ps_resp *resp)
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
    const void *map;
    size_t size;
    int rc = eai_memfd_map_sealed(imgfd, &map, &size);
    if (rc == EA_ERR_PERM) {
        snprintf(resp->u.einit.err, sizeof resp->u.einit.err,
                 "image '%s' was not handed over as a sealed copy", name);
        return;
    }
    if (rc != EA_OK) {
        snprintf(resp->u.einit.err, sizeof resp->u.einit.err, "image '%s': cannot map", name);
        return;
    }
    uint32_t siglen = req->u.einit.siglen;
    if (siglen > sizeof req->u.einit.sig)
        siglen = sizeof req->u.einit.sig + 1; /* decode reports the wrong size */
    resp->rc =
        eai_einit(map, size, req->u.einit.sig, siglen > sizeof req->u.einit.sig ? 0 : siglen, name,
                  signame, &resp->u.einit.id, resp->u.einit.err, sizeof resp->u.einit.err);
    eai_mem_unmap((void *)map, size);
    eai_sigstruct_t ss;
    char ignore[8];
    if (resp->rc == EA_OK && !isolated &&
        eai_sigstruct_decode(req->u.einit.sig, siglen, &ss, ignore, sizeof ignore) == EA_OK &&
        (ss.launch & EAI_SIG_SYSTEM_ONLY) != 0) {
        resp->rc = EA_ERR_PERM;
        snprintf(resp->u.einit.err, sizeof resp->u.einit.err,
                 "image '%.60s' is signed to run in system mode only, and this enclave would "
                 "run with the DEBUG attribute (%.60s)",
                 name, why_debug);
        return;
    }
    if (resp->rc == EA_OK) {
        /* Keys follow isolation, as on SGX: an enclave the kernel does not
         * show confined (the `none` backend, or a process that skipped its
         * confinement) runs as DEBUG, so its reports say so and none of its
         * keys is a production key. MRENCLAVE stays what was signed. */
        if (!isolated)
            resp->u.einit.id.attributes.flags |= EA_FLAGS_DEBUG;
        p->initted = 1;
        p->id = resp->u.einit.id;
    }
}

static void serve(eai_pservice_t *sv, eai_ppeer_t *p, const struct eai_ps_req *req, int imgfd,
                  pid_t sender, struct eai_ps_resp *resp)
{
    const eai_pcore_t *pc = &sv->pc;
    eai_counters_t *mc = &sv->mc;
    memset(resp, 0, sizeof *resp);
    if (req->op == EAI_PS_EINIT) {
        /* Isolated: a process of its own (not the launcher, where `none`
         * enclaves and host code run) that the kernel shows confined and
         * untraced, started without the loader's environment. */
        const char *why = NULL;
        if (sv->development)
            why = "development platform";
        else if (p->debug)
            why = "runs in the launcher";
        else if (sv->foreign)
            why = "the platform was started with the loader's environment";
        else if (sender <= 0 || sender == sv->launcher || (p->expect > 0 && sender != p->expect))
            why = "not the process the platform started";
        else if (!eai_proc_confined(sv->procfd, sender))
            why = "not confined, or traced";
        do_einit(p, req, imgfd, why == NULL, why, resp);
        return;
    }
    if (!p->initted) {
        resp->rc = EA_ERR_PERM;
        return;
    }
    switch (req->op) {
    case EAI_PS_EREPORT:
        resp->rc = eai_pcore_ereport(pc, &p->id, &req->u.ereport.target, &req->u.ereport.data,
                                     &resp->u.report);
        break;
    case EAI_PS_EGETKEY:
        resp->rc = eai_pcore_egetkey(pc, &p->id, &req->u.keyreq, resp->u.key);
        break;
    case EAI_PS_MC: {
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

int eai_pservice_open(eai_pservice_t *sv, const char *dir, char *err, size_t errlen)
{
    memset(sv, 0, sizeof *sv);
    sv->procfd = -1;
    if (eai_crypto_init() != EA_OK) {
        snprintf(err, errlen, "cannot initialise the crypto library");
        return EA_ERR_CRYPTO;
    }
    int rc = eai_pcore_open(&sv->pc, dir, err, errlen);
    if (rc != EA_OK)
        return rc;
    rc = eai_mc_open(&sv->mc, &sv->pc, dir, err, errlen);
    if (rc != EA_OK) {
        eai_pcore_close(&sv->pc);
        return rc;
    }
    sv->launcher = eai_parent_pid();
    /* Enclaves are forks of the launcher, which the service is a fork of:
     * code the loader's environment put into it is in every enclave. */
    sv->foreign = eai_loader_env_used() != NULL;
    if (eai_proc_open(&sv->procfd) != EA_OK) {
        snprintf(err, errlen, "cannot open /proc");
        eai_mc_close(&sv->mc);
        eai_pcore_close(&sv->pc);
        return EA_ERR_SYS;
    }
    return EA_OK;
}

void eai_pservice_close(eai_pservice_t *sv)
{
    if (sv->procfd >= 0)
        eai_close(sv->procfd);
    sv->procfd = -1;
    eai_mc_close(&sv->mc);
    eai_pcore_close(&sv->pc);
}

/* Hardens the process, opens the service and confines it; on failure
 * writes the reason into msg and ends the process. */
static void service_start(const char *dir, eai_pservice_t *sv, char *msg, size_t msglen)
{
    char err[256] = "";
    if (eai_child_harden(err, sizeof err) != EA_OK ||
        eai_pservice_open(sv, dir, err, sizeof err) != EA_OK) {
        snprintf(msg, msglen, "%s", err);
        eai_exit_now(1);
    }
    /* The kernel keeps the service inside its counters directory (the
     * secret is in memory now) and /proc; the allow-list keeps it to its
     * sockets and those two directories. */
    char counters[4200];
    snprintf(counters, sizeof counters, "%s/counters", dir);
    const eai_fs_grant_t grants[] = {{counters, EAI_FS_WRITE}, {"/proc", EAI_FS_READ}};
    if (eai_landlock_confine(grants, 2, true, err, sizeof err) != EA_OK) {
        snprintf(msg, msglen, "cannot confine the platform service: %s", err);
        eai_exit_now(1);
    }
    const int fds[] = {sv->mc.dirfd, sv->procfd};
    if (eai_allowlist_install(&eai_allowlist_service, fds, 2, err, sizeof err) != EA_OK) {
        snprintf(msg, msglen, "cannot confine the platform service: %s", err);
        eai_exit_now(1);
    }
}

bool eai_pservice_serve_one(eai_pservice_t *sv, eai_ppeer_t *p)
{
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    int imgfd;
    pid_t sender;
    int r = recv_req(p->fd, &req, &imgfd, &sender);
    if (r > 0)
        serve(sv, p, &req, imgfd, sender, &resp);
    /* Closed before the answer goes out: whoever gets the answer sees the
     * service holding no descriptor of the request any more. */
    if (imgfd >= 0)
        eai_close(imgfd);
    if (r > 0) {
        r = eai_msg_send(p->fd, &resp, sizeof resp, -1) == EA_OK ? 1 : 0;
        eai_wipe(&resp, sizeof resp);
    }
    eai_wipe(&req, sizeof req);
    return r > 0;
}

/* Grows the peer table by one: the descriptor of a new enclave's socket. */
static bool add_peer(eai_ppeer_t **peers, int **live, uint8_t **ready, int *n, int fd, pid_t expect,
                     bool debug)
{
    eai_ppeer_t *p = realloc(*peers, (size_t)(*n + 1) * sizeof *p);
    if (p != NULL)
        *peers = p;
    int *l = realloc(*live, (size_t)(*n + 2) * sizeof *l);
    if (l != NULL)
        *live = l;
    uint8_t *r = realloc(*ready, (size_t)(*n + 2));
    if (r != NULL)
        *ready = r;
    if (p == NULL || l == NULL || r == NULL)
        return false;
    /* The control socket, if any, stays the last entry of live. */
    l[*n + 1] = l[*n];
    p[*n] = (eai_ppeer_t){.fd = fd, .expect = expect, .debug = debug};
    l[*n] = fd;
    (*n)++;
    return true;
}

/* One record on the control socket: a new peer. False when the control
 * socket closed (the daemon ended) or sent something malformed. */
static bool take_control(int control, eai_ppeer_t **peers, int **live, uint8_t **ready, int *n,
                         int *open_count)
{
    struct eai_ps_add add;
    int fd = -1;
    if (eai_msg_recv(control, &add, sizeof add, &fd) != EA_OK)
        return false;
    if (fd < 0)
        return true;
    if (!add_peer(peers, live, ready, n, fd, (pid_t)add.expect, add.debug != 0)) {
        eai_close(fd);
        return true;
    }
    (*open_count)++;
    return true;
}

_Noreturn void eai_pservice_main(const char *dir, const eai_ps_opts_t *o, const int *fds, int n,
                                 char *msg, size_t msglen)
{
    eai_pservice_t sv;
    service_start(dir, &sv, msg, msglen);
    sv.development = o->development;
    int control = o->control;
    eai_ppeer_t *peers = calloc((size_t)n + 1, sizeof *peers);
    int *live = calloc((size_t)n + 1, sizeof *live);
    uint8_t *ready = calloc((size_t)n + 1, 1);
    if (peers == NULL || live == NULL || ready == NULL)
        eai_exit_now(1);
    for (int i = 0; i < n; i++)
        peers[i].fd = live[i] = fds[i];
    live[n] = control;
    int open_count = n;
    /* A launcher's service ends with its last enclave; the daemon's with
     * the daemon (its control socket). */
    while ((control >= 0 || open_count > 0) &&
           eai_wait_readable(live, n + (control >= 0), ready) == EA_OK) {
        for (int i = 0; i < n; i++) {
            if (!ready[i] || eai_pservice_serve_one(&sv, &peers[i]))
                continue;
            eai_close(live[i]);
            live[i] = -1;
            peers[i].fd = -1;
            open_count--;
        }
        if (control >= 0 && ready[n] &&
            !take_control(control, &peers, &live, &ready, &n, &open_count))
            break;
    }
    eai_pservice_close(&sv);
    eai_exit_now(0);
}

/* -------------------------------------------------------------- client */

static int call(eai_pclient_t *c, const struct eai_ps_req *req, int passfd,
                struct eai_ps_resp *resp)
{
    pthread_mutex_lock(&c->lock);
    int rc = eai_msg_send(c->fd, req, sizeof *req, passfd);
    if (rc == EA_OK)
        rc = eai_msg_recv(c->fd, resp, sizeof *resp, NULL);
    pthread_mutex_unlock(&c->lock);
    return rc == EA_OK ? EA_OK : EA_ERR_SYS;
}

static int op_ereport(void *ctx, const ea_target_info_t *target, const ea_report_data_t *data,
                      ea_report_t *report)
{
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EREPORT;
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
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EGETKEY;
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
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_MC;
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
        eai_close(c->fd);
    c->fd = -1;
    pthread_mutex_destroy(&c->lock);
}

int eai_pclient_einit(eai_pclient_t *c, int image_fd, const char *image_name, const uint8_t *sig,
                      size_t siglen, char *err, size_t errlen)
{
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EINIT;
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
