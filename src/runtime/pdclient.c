/*
 * The launcher's side of a session with the platform daemon (system mode):
 * hand over the arena, the deployment, the output and each enclave's image
 * and signature file, get enclaves started, and learn when they end.
 *
 * Design notes. Requests are answered in order, one at a time, until the
 * enclaves are started; from then on a listener thread owns the receiving
 * side: it records each EXIT and wakes the supervisor through the `notify`
 * hook (the arena's event futex), and notices the daemon going away (end of
 * stream). The launcher's only request after that, KILL, is answered to the
 * listener, which ignores the answer.
 */
#include "runtime/pdclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform.h"
#include "runtime/platformd.h"

#include <eactors/ea_err.h>

static int request_value(eai_pd_t *pd, uint32_t op, int enclave, int value, int fd,
                         const char *text, struct eai_pd_msg *ans, int *got_fd)
{
    struct eai_pd_msg m;
    memset(&m, 0, sizeof m);
    m.op = op;
    m.enclave = enclave;
    m.value = value;
    if (text != NULL)
        snprintf(m.text, sizeof m.text, "%.*s", (int)sizeof m.text - 1, text);
    if (eai_msg_send(pd->fd, &m, sizeof m, fd) != EA_OK ||
        eai_msg_recv(pd->fd, ans, sizeof *ans, got_fd) != EA_OK) {
        snprintf(pd->err, sizeof pd->err, "the platform daemon closed the session");
        return EA_ERR_SYS;
    }
    ans->text[sizeof ans->text - 1] = '\0';
    if (ans->op == EAI_PD_ERR) {
        snprintf(pd->err, sizeof pd->err, "%s", ans->text);
        return EA_ERR_PERM;
    }
    return EA_OK;
}

static int request(eai_pd_t *pd, uint32_t op, int enclave, int fd, const char *text,
                   struct eai_pd_msg *ans, int *got_fd)
{
    return request_value(pd, op, enclave, 0, fd, text, ans, got_fd);
}

int eai_pd_connect(eai_pd_t *pd, const char *socket)
{
    memset(pd, 0, sizeof *pd);
    pd->fd = -1;
    snprintf(pd->socket, sizeof pd->socket, "%s", socket);
    int rc = eai_local_connect(socket, &pd->fd);
    if (rc != EA_OK) {
        snprintf(pd->err, sizeof pd->err, "no platform daemon answers at %s", socket);
        return rc;
    }
    /* A daemon answers there from now on: whatever goes wrong is an
     * error, never a reason to fall back to development mode. */
    struct eai_pd_msg ans;
    rc = eai_msg_recv(pd->fd, &ans, sizeof ans, NULL) == EA_OK ? EA_OK : EA_ERR_SYS;
    ans.text[sizeof ans.text - 1] = '\0';
    if (rc != EA_OK)
        snprintf(pd->err, sizeof pd->err, "the platform daemon closed the session");
    else if (ans.op != EAI_PD_OK) {
        snprintf(pd->err, sizeof pd->err, "%s", ans.text);
        rc = EA_ERR_PERM;
    }
    if (rc == EA_OK)
        rc = request(pd, EAI_PD_HELLO, 0, -1, EAI_PD_VERSION, &ans, NULL);
    if (rc != EA_OK) {
        eai_close(pd->fd);
        pd->fd = -1;
        char why[sizeof pd->err];
        snprintf(why, sizeof why, "%s", pd->err);
        snprintf(pd->err, sizeof pd->err, "the platform daemon at %.100s refused: %.300s", socket,
                 why);
        return EA_ERR_PERM;
    }
    pid_t pid;
    (void)eai_sock_peer(pd->fd, &pid, &pd->daemon_uid);
    return EA_OK;
}

int eai_pd_setup(eai_pd_t *pd, int arena_fd, const char *deployment)
{
    struct eai_pd_msg ans;
    int dfd;
    size_t size;
    char why[256];
    /* A sealed copy: every enclave reads the bytes the launcher laid out. */
    if (eai_memfd_from_file(deployment, &dfd, &size, why, sizeof why) != EA_OK) {
        snprintf(pd->err, sizeof pd->err, "%s", why);
        return EA_ERR_SYS;
    }
    int rc = request(pd, EAI_PD_ARENA, 0, arena_fd, NULL, &ans, NULL);
    if (rc == EA_OK)
        rc = request(pd, EAI_PD_DEPLOY, 0, dfd, NULL, &ans, NULL);
    eai_close(dfd);
    if (rc == EA_OK)
        rc = request(pd, EAI_PD_OUTPUT, 0, 1, NULL, &ans, NULL);
    if (rc == EA_OK)
        rc = request(pd, EAI_PD_ERRPUT, 0, 2, NULL, &ans, NULL);
    return rc;
}

int eai_pd_local(eai_pd_t *pd, int enclave, int *platform_fd)
{
    struct eai_pd_msg ans;
    int fd = -1;
    int rc = request(pd, EAI_PD_LOCAL, enclave, -1, NULL, &ans, &fd);
    if (rc == EA_OK && fd < 0) {
        snprintf(pd->err, sizeof pd->err, "the platform daemon sent no socket");
        rc = EA_ERR_SYS;
    }
    *platform_fd = fd;
    return rc;
}

int eai_pd_store(eai_pd_t *pd, int enclave, int k, int fd)
{
    struct eai_pd_msg ans;
    return request_value(pd, EAI_PD_STORE, enclave, k, fd, NULL, &ans, NULL);
}

int eai_pd_spawn(eai_pd_t *pd, int enclave, const char *image_path, const char *image_name,
                 pid_t *pid)
{
    struct eai_pd_msg ans;
    int ifd, sfd;
    char sig[4200];
    snprintf(sig, sizeof sig, "%s.sig", image_path);
    if (eai_file_open_read(image_path, &ifd) != EA_OK) {
        snprintf(pd->err, sizeof pd->err, "cannot load image '%s'", image_path);
        return EA_ERR_SYS;
    }
    if (eai_file_open_read(sig, &sfd) != EA_OK) {
        eai_close(ifd);
        snprintf(pd->err, sizeof pd->err, "image '%s' refused: signature file '%s.sig' is missing",
                 image_name, image_name);
        return EA_ERR_AUTH;
    }
    int rc = request(pd, EAI_PD_IMAGE, enclave, ifd, NULL, &ans, NULL);
    if (rc == EA_OK)
        rc = request(pd, EAI_PD_SIG, enclave, sfd, NULL, &ans, NULL);
    eai_close(ifd);
    eai_close(sfd);
    if (rc == EA_OK)
        rc = request(pd, EAI_PD_SPAWN, enclave, -1, image_name, &ans, NULL);
    if (rc == EA_OK)
        *pid = (pid_t)ans.value;
    return rc;
}

static void *listen_main(void *arg)
{
    eai_pd_t *pd = arg;
    for (;;) {
        struct eai_pd_msg m;
        if (eai_msg_recv(pd->fd, &m, sizeof m, NULL) != EA_OK)
            break;
        if (m.op == EAI_PD_EXIT && pd->on_exit != NULL)
            pd->on_exit(pd->ctx, m.enclave, m.value);
    }
    atomic_store_explicit(&pd->lost, 1, memory_order_release);
    if (pd->on_exit != NULL)
        pd->on_exit(pd->ctx, -1, 0);
    return NULL;
}

int eai_pd_listen(eai_pd_t *pd, void (*on_exit)(void *ctx, int enclave, int status), void *ctx)
{
    char err[256];
    pd->on_exit = on_exit;
    pd->ctx = ctx;
    if (eai_thread_start(&pd->listener, NULL, 0, listen_main, pd, err, sizeof err) != EA_OK) {
        snprintf(pd->err, sizeof pd->err, "%s", err);
        return EA_ERR_SYS;
    }
    pd->listening = true;
    return EA_OK;
}

void eai_pd_kill(eai_pd_t *pd)
{
    struct eai_pd_msg m;
    memset(&m, 0, sizeof m);
    m.op = EAI_PD_KILL;
    (void)eai_msg_send(pd->fd, &m, sizeof m, -1);
}

void eai_pd_close(eai_pd_t *pd)
{
    if (pd->fd < 0)
        return;
    /* Ends the session (the daemon kills what is left) and the listener's
     * receive. */
    (void)eai_sock_shutdown(pd->fd);
    if (pd->listening)
        (void)eai_thread_join(&pd->listener);
    eai_close(pd->fd);
    pd->fd = -1;
}
