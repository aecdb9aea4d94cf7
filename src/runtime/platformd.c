/*
 * The platform daemon: `eactors platform run`.
 *
 * Design notes. Two processes. The daemon proper (this file's loop) holds
 * no secret: it accepts launchers, checks what they send, starts enclave
 * processes and reports their ends. The platform service (pservice.c),
 * forked from it at start, holds the platform secret and the counters and
 * answers EINIT, EREPORT, EGETKEY and the counters, confined as in a
 * launcher's private platform; the daemon hands it each new enclave's
 * socket over a control socket, with the pid of the process it started for
 * it, so only that process counts as isolated on that socket.
 *
 * An enclave process is a fresh execve of this daemon's own executable
 * (`eactors enclave-exec`), which installation makes root-owned, with an
 * empty environment, exactly eight descriptors (nothing of the launcher but
 * what it passed: its output, the arena, the deployment, the image and its
 * signature file) and from descriptor 8 the files of its persistent stores
 * the launcher opened, under the enclave user, dying with the daemon. The
 * launcher is not its parent: it cannot trace it from birth, preload code
 * into it, or read its memory, environment or descriptors (another user,
 * not dumpable).
 *
 * One loop, one poll over the listening socket, the service's pidfd, every
 * session and every enclave's pidfd; each request is answered at once, no
 * request blocks on another launcher. A malformed record ends its session,
 * and an ended session's enclaves are killed.
 */
#include "runtime/platformd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform.h"
#include "trust/pservice.h"

#include <eactors/ea_err.h>

struct encl {
    int index; /* in the session's deployment */
    pid_t pid;
    int pidfd; /* -1 once reaped */
};

struct session {
    int fd;      /* -1: ended */
    bool broken; /* an answer could not be sent: end it */
    pid_t pid;
    uint32_t uid;
    int arena, deploy, out, errput;
    int image[EAI_PD_MAX_ENCLAVES], sig[EAI_PD_MAX_ENCLAVES];
    int store[EAI_PD_MAX_ENCLAVES][EAI_PD_MAX_STORE_FDS]; /* until SPAWN */
    struct encl *encls;
    int nencls;
};

struct daemon {
    const eai_pd_opts_t *o;
    char exe[4096];
    bool set_user;
    uint32_t euid, egid; /* the enclaves' user */
    int lfd;
    int control; /* to the platform service */
    pid_t svc_pid;
    int svc_pidfd;
    char *svc_msg; /* shared: the service's start-up failure */
    int svc_msg_fd;
    struct session *s[EAI_PD_MAX_SESSIONS];
};

static void closefd(int *fd)
{
    if (*fd >= 0)
        eai_close(*fd);
    *fd = -1;
}

static void answer(struct session *s, uint32_t op, int enclave, int value, int fd, const char *text)
{
    struct eai_pd_msg m;
    memset(&m, 0, sizeof m);
    m.op = op;
    m.enclave = enclave;
    m.value = value;
    if (text != NULL)
        snprintf(m.text, sizeof m.text, "%.*s", (int)sizeof m.text - 1, text);
    /* A launcher that does not read its answers loses its session; it
     * never holds up the daemon (and so the other users). */
    if (eai_msg_send_nowait(s->fd, &m, sizeof m, fd) != EA_OK)
        s->broken = true;
}

/* ------------------------------------------------------------ sessions */

static struct session *session_new(int fd)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->fd = fd;
    s->arena = s->deploy = s->out = s->errput = -1;
    for (int i = 0; i < EAI_PD_MAX_ENCLAVES; i++) {
        s->image[i] = s->sig[i] = -1;
        for (int k = 0; k < EAI_PD_MAX_STORE_FDS; k++)
            s->store[i][k] = -1;
    }
    (void)eai_sock_peer(fd, &s->pid, &s->uid);
    return s;
}

/* Ends a session: its enclaves are killed (their pidfds stay watched until
 * they are reaped), its descriptors closed. */
static void session_end(struct session *s)
{
    for (int i = 0; i < s->nencls; i++)
        if (s->encls[i].pidfd >= 0)
            eai_kill(s->encls[i].pid, SIGKILL);
    closefd(&s->fd);
    closefd(&s->arena);
    closefd(&s->deploy);
    closefd(&s->out);
    closefd(&s->errput);
    for (int i = 0; i < EAI_PD_MAX_ENCLAVES; i++) {
        closefd(&s->image[i]);
        closefd(&s->sig[i]);
        for (int k = 0; k < EAI_PD_MAX_STORE_FDS; k++)
            closefd(&s->store[i][k]);
    }
}

static bool session_done(const struct session *s)
{
    if (s->fd >= 0)
        return false;
    for (int i = 0; i < s->nencls; i++)
        if (s->encls[i].pidfd >= 0)
            return false;
    return true;
}

/* A new enclave's platform socket pair. The service learns who sends each
 * EINIT from the kernel: asked for before anyone holds the other end, so
 * no record arrives without. */
static int platform_pair(int sv[2])
{
    if (eai_msg_pair(sv) != EA_OK)
        return EA_ERR_SYS;
    (void)eai_msg_want_sender(sv[1]);
    return EA_OK;
}

/* Hands the service end of a pair to the platform service (and closes it
 * here), with the process that alone counts as isolated on it. */
static int to_service(struct daemon *dm, int fd, pid_t expect, bool debug)
{
    struct eai_ps_add add = {.expect = (int32_t)expect, .debug = debug ? 1u : 0u};
    int rc = eai_msg_send(dm->control, &add, sizeof add, fd);
    eai_close(fd);
    return rc;
}

static void do_spawn(struct daemon *dm, struct session *s, const struct eai_pd_msg *m)
{
    int e = m->enclave;
    char err[512];
    if (s->arena < 0 || s->deploy < 0 || s->image[e] < 0 || s->sig[e] < 0) {
        answer(s, EAI_PD_ERR, e, 0, -1,
               "SPAWN before the arena, the deployment, the image and its signature file");
        return;
    }
    struct encl *en = realloc(s->encls, (size_t)(s->nencls + 1) * sizeof *en);
    if (en == NULL) {
        answer(s, EAI_PD_ERR, e, 0, -1, "the platform daemon is out of memory");
        return;
    }
    s->encls = en;
    int line[2];
    if (platform_pair(line) != EA_OK) {
        answer(s, EAI_PD_ERR, e, 0, -1, "cannot make a platform socket");
        return;
    }
    char idx[16], name[sizeof m->text + 1];
    snprintf(idx, sizeof idx, "%d", e);
    memcpy(name, m->text, sizeof m->text);
    name[sizeof m->text] = '\0';
    for (char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '/')
            *p = '?';
    char *argv[] = {dm->exe, "enclave-exec", idx, name, NULL};
    /* 0 /dev/null, 1 and 2 the launcher's output, 3 the platform socket,
     * 4 the arena, 5 the deployment, 6 the image, 7 its signature file,
     * from 8 the files of its persistent stores (a store the launcher did
     * not send is /dev/null there, which the enclave refuses to map). */
    int fds[EAI_PD_STORE_FD0 + EAI_PD_MAX_STORE_FDS] = {
        -1, s->out, s->errput, line[0], s->arena, s->deploy, s->image[e], s->sig[e]};
    int nfds = EAI_PD_STORE_FD0;
    for (int k = 0; k < EAI_PD_MAX_STORE_FDS; k++) {
        fds[EAI_PD_STORE_FD0 + k] = s->store[e][k];
        if (s->store[e][k] >= 0)
            nfds = EAI_PD_STORE_FD0 + k + 1;
    }
    eai_spawn_t sp = {.path = dm->exe,
                      .argv = argv,
                      .fds = fds,
                      .nfds = nfds,
                      .set_user = dm->set_user,
                      .uid = dm->euid,
                      .gid = dm->egid};
    pid_t pid;
    int pidfd;
    int rc = eai_spawn(&sp, &pid, &pidfd, err, sizeof err);
    eai_close(line[0]);
    closefd(&s->image[e]);
    closefd(&s->sig[e]);
    for (int k = 0; k < EAI_PD_MAX_STORE_FDS; k++)
        closefd(&s->store[e][k]);
    if (rc != EA_OK) {
        eai_close(line[1]);
        answer(s, EAI_PD_ERR, e, 0, -1, err);
        return;
    }
    /* The enclave's first record (EINIT) waits in its socket until the
     * service has the other end, with the pid it must come from. */
    rc = to_service(dm, line[1], pid, false);
    s->encls[s->nencls++] = (struct encl){.index = e, .pid = pid, .pidfd = pidfd};
    if (rc != EA_OK) {
        eai_kill(pid, SIGKILL);
        answer(s, EAI_PD_ERR, e, 0, -1, "the platform service is gone");
        return;
    }
    answer(s, EAI_PD_STARTED, e, (int)pid, -1, NULL);
}

/* Keeps a descriptor the launcher passed in *slot; only files (memfds
 * included) for what an enclave maps or reads. */
static void keep(struct session *s, const struct eai_pd_msg *m, int fd, int *slot, bool file)
{
    if (fd < 0 || (file && !eai_fd_is_file(fd))) {
        closefd(&fd);
        answer(s, EAI_PD_ERR, m->enclave, 0, -1, "the record needs a descriptor of a file");
        return;
    }
    closefd(slot);
    *slot = fd;
    answer(s, EAI_PD_OK, m->enclave, 0, -1, NULL);
}

/* Sessions and live enclaves of user uid. */
static int user_sessions(const struct daemon *dm, uint32_t uid)
{
    int n = 0;
    for (int i = 0; i < EAI_PD_MAX_SESSIONS; i++)
        n += dm->s[i] != NULL && dm->s[i]->fd >= 0 && dm->s[i]->uid == uid;
    return n;
}

static int user_enclaves(const struct daemon *dm, uint32_t uid)
{
    int n = 0;
    for (int i = 0; i < EAI_PD_MAX_SESSIONS; i++)
        for (int k = 0; dm->s[i] != NULL && dm->s[i]->uid == uid && k < dm->s[i]->nencls; k++)
            n += dm->s[i]->encls[k].pidfd >= 0;
    return n;
}

/* One record of a session; false ends it. */
static bool session_serve(struct daemon *dm, struct session *s)
{
    struct eai_pd_msg m;
    int fd = -1;
    if (eai_msg_recv(s->fd, &m, sizeof m, &fd) != EA_OK)
        return false;
    bool has_enclave = m.op == EAI_PD_IMAGE || m.op == EAI_PD_SIG || m.op == EAI_PD_SPAWN ||
                       m.op == EAI_PD_LOCAL || m.op == EAI_PD_STORE;
    if (has_enclave && (m.enclave < 0 || m.enclave >= EAI_PD_MAX_ENCLAVES)) {
        closefd(&fd);
        return false;
    }
    if (m.op == EAI_PD_SPAWN && s->nencls >= EAI_PD_MAX_ENCLAVES) {
        closefd(&fd);
        answer(s, EAI_PD_ERR, m.enclave, 0, -1, "too many enclaves in one session");
        return true;
    }
    if (m.op == EAI_PD_SPAWN && user_enclaves(dm, s->uid) >= EAI_PD_USER_ENCLAVES) {
        closefd(&fd);
        answer(s, EAI_PD_ERR, m.enclave, 0, -1,
               "this user already runs the most enclaves the platform daemon allows one user");
        return true;
    }
    switch (m.op) {
    case EAI_PD_HELLO: {
        closefd(&fd);
        m.text[sizeof m.text - 1] = '\0';
        if (strcmp(m.text, EAI_PD_VERSION) != 0)
            return false;
        answer(s, EAI_PD_OK, 0, 0, -1, dm->o->socket);
        return true;
    }
    case EAI_PD_ARENA: keep(s, &m, fd, &s->arena, true); return true;
    case EAI_PD_DEPLOY: keep(s, &m, fd, &s->deploy, true); return true;
    case EAI_PD_OUTPUT: keep(s, &m, fd, &s->out, false); return true;
    case EAI_PD_ERRPUT: keep(s, &m, fd, &s->errput, false); return true;
    case EAI_PD_IMAGE: keep(s, &m, fd, &s->image[m.enclave], true); return true;
    case EAI_PD_SIG: keep(s, &m, fd, &s->sig[m.enclave], true); return true;
    case EAI_PD_STORE:
        if (m.value < 0 || m.value >= EAI_PD_MAX_STORE_FDS) {
            closefd(&fd);
            answer(s, EAI_PD_ERR, m.enclave, 0, -1, "too many persistent stores for one enclave");
            return true;
        }
        keep(s, &m, fd, &s->store[m.enclave][m.value], true);
        return true;
    case EAI_PD_SPAWN:
        closefd(&fd);
        do_spawn(dm, s, &m);
        return true;
    case EAI_PD_LOCAL: {
        closefd(&fd);
        int line[2];
        if (platform_pair(line) != EA_OK) {
            answer(s, EAI_PD_ERR, m.enclave, 0, -1, "cannot make a platform socket");
            return true;
        }
        if (to_service(dm, line[1], 0, true) != EA_OK) {
            eai_close(line[0]);
            answer(s, EAI_PD_ERR, m.enclave, 0, -1, "the platform service is gone");
            return true;
        }
        answer(s, EAI_PD_OK, m.enclave, 0, line[0], NULL);
        eai_close(line[0]);
        return true;
    }
    case EAI_PD_KILL:
        closefd(&fd);
        for (int i = 0; i < s->nencls; i++)
            if (s->encls[i].pidfd >= 0)
                eai_kill(s->encls[i].pid, SIGKILL);
        answer(s, EAI_PD_OK, 0, 0, -1, NULL);
        return true;
    default: closefd(&fd); return false;
    }
}

/* ------------------------------------------------------------- start-up */

static int start_service(struct daemon *dm, const char *dir)
{
    int ctl[2];
    if (eai_msg_pair(ctl) != EA_OK ||
        eai_shm_create("eactors-pd-msg", 4096, &dm->svc_msg_fd, (void **)&dm->svc_msg) != EA_OK) {
        fprintf(stderr, "eactors platform: cannot start the platform service\n");
        return 1;
    }
    pid_t pid = eai_fork();
    if (pid == 0) {
        eai_close(ctl[0]);
        eai_close(dm->lfd);
        const eai_ps_opts_t po = {.development = false, .control = ctl[1]};
        eai_pservice_main(dir, &po, NULL, 0, dm->svc_msg, 4096);
    }
    eai_close(ctl[1]);
    if (pid < 0 || eai_pidfd_open(pid, &dm->svc_pidfd) != EA_OK) {
        fprintf(stderr, "eactors platform: cannot start the platform service\n");
        return 1;
    }
    dm->control = ctl[0];
    dm->svc_pid = pid;
    return 0;
}

/* The platform directory (0700, given to the daemon's user by the caller)
 * under parents everyone may pass through. */
static void make_dir(const char *dir)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        (void)eai_mkdir_p(parent, 0755);
    }
    (void)eai_mkdir_p(dir, 0700);
}

/* As root: the socket directory and the platform directory belong to the
 * daemon's user, then the daemon becomes it. */
static int drop_root(struct daemon *dm, const char *dir)
{
    const eai_pd_opts_t *o = dm->o;
    const char *user = o->user ? o->user : EAI_PD_USER;
    uint32_t uid, gid;
    char err[256];
    if (eai_user_find(user, &uid, &gid) != EA_OK) {
        fprintf(stderr, "eactors platform: no user '%s' (`eactors platform install` creates it)\n",
                user);
        return 2;
    }
    make_dir(dir);
    if (eai_path_chown(dir, uid, gid, 0700) != EA_OK) {
        fprintf(stderr, "eactors platform: cannot give '%s' to '%s'\n", dir, user);
        return 1;
    }
    if (eai_path_chown(o->socket, uid, gid, 0666) != EA_OK) {
        fprintf(stderr, "eactors platform: cannot give '%s' to '%s'\n", o->socket, user);
        return 1;
    }
    if (eai_become_user(uid, gid, dm->set_user, err, sizeof err) != EA_OK) {
        fprintf(stderr, "eactors platform: %s\n", err);
        return 1;
    }
    return 0;
}

static int setup(struct daemon *dm, const char *dir)
{
    const eai_pd_opts_t *o = dm->o;
    if (eai_exe_path(dm->exe, sizeof dm->exe) != EA_OK) {
        fprintf(stderr, "eactors platform: cannot find its own executable\n");
        return 1;
    }
    char why[512];
    if (eai_path_root_owned(dm->exe, why, sizeof why) != EA_OK)
        fprintf(stderr,
                "eactors platform: WARNING: enclave binary %s: %s; whoever can change it "
                "controls every enclave (install eactors as root)\n",
                dm->exe, why);
    const char *euser = o->enclave_user ? o->enclave_user : EAI_PD_ENCLAVE_USER;
    bool root = eai_uid() == 0;
    if (strcmp(euser, "-") != 0) {
        if (eai_user_find(euser, &dm->euid, &dm->egid) != EA_OK) {
            fprintf(stderr,
                    "eactors platform: no user '%s' for enclaves (`eactors platform install` "
                    "creates it; --enclave-user - runs them as the daemon's user)\n",
                    euser);
            return 2;
        }
        dm->set_user = true;
    }
    /* The socket's directory: reachable by everyone, writable by root. */
    char sdir[4096];
    snprintf(sdir, sizeof sdir, "%s", o->socket);
    char *slash = strrchr(sdir, '/');
    if (slash != NULL && slash != sdir) {
        *slash = '\0';
        (void)eai_mkdir_p(sdir, 0755);
    }
    int rc = eai_local_listen(o->socket, 0666, &dm->lfd);
    if (rc == EA_ERR_BUSY) {
        fprintf(stderr, "eactors platform: a platform daemon already serves '%s'\n", o->socket);
        return 1;
    }
    if (rc != EA_OK) {
        fprintf(stderr, "eactors platform: cannot listen on '%s'\n", o->socket);
        return 1;
    }
    if (root) {
        int code = drop_root(dm, dir);
        if (code != 0)
            return code;
    } else {
        (void)eai_set_undumpable();
        if (dm->set_user && !eai_can_set_user()) {
            fprintf(stderr,
                    "eactors platform: cannot start enclaves as '%s' without CAP_SETUID and "
                    "CAP_SETGID (start as root, or --enclave-user -)\n",
                    euser);
            return 1;
        }
    }
    /* Nothing the daemon or an enclave executes gains privileges. */
    if (eai_no_new_privs() != EA_OK) {
        fprintf(stderr, "eactors platform: cannot set no_new_privs\n");
        return 1;
    }
    return start_service(dm, dir);
}

/* ----------------------------------------------------------------- loop */

static void reap(struct session *s, struct encl *en)
{
    int status = 0;
    (void)eai_wait_child(en->pid, &status);
    closefd(&en->pidfd);
    if (s->fd >= 0)
        answer(s, EAI_PD_EXIT, en->index, status, -1, NULL);
}

static void accept_one(struct daemon *dm)
{
    int fd;
    if (eai_local_accept(dm->lfd, &fd) != EA_OK)
        return;
    for (int i = 0; i < EAI_PD_MAX_SESSIONS; i++)
        if (dm->s[i] == NULL) {
            struct session *s = session_new(fd);
            if (s == NULL)
                break;
            if (user_sessions(dm, s->uid) >= EAI_PD_USER_SESSIONS) {
                answer(s, EAI_PD_ERR, 0, 0, -1,
                       "this user already holds the most sessions the platform daemon allows "
                       "one user");
                session_end(s);
                free(s);
                return;
            }
            dm->s[i] = s;
            /* The greeting: a launcher sends nothing before it, so a
             * refusal (above) is read before the connection closes. */
            answer(s, EAI_PD_OK, 0, 0, -1, EAI_PD_VERSION);
            if (s->broken)
                session_end(s);
            return;
        }
    /* Full: the launcher is told, or sees the connection close. */
    struct eai_pd_msg m = {.op = EAI_PD_ERR};
    snprintf(m.text, sizeof m.text, "the platform daemon serves the most sessions it can");
    (void)eai_msg_send_nowait(fd, &m, sizeof m, -1);
    eai_close(fd);
}

int eai_platformd_main(const eai_pd_opts_t *opts)
{
    eai_pd_opts_t o = *opts;
    if (o.socket == NULL)
        o.socket = EAI_PD_SOCKET;
    const char *dir = o.dir ? o.dir : EAI_PD_DIR;
    struct daemon dm = {.o = &o, .lfd = -1, .control = -1, .svc_pidfd = -1};
    eai_signal_ignore_pipe();
    int rc = setup(&dm, dir);
    if (rc != 0)
        return rc;
    char me[64], eu[64];
    eai_user_name(eai_uid(), me, sizeof me);
    if (dm.set_user)
        eai_user_name(dm.euid, eu, sizeof eu);
    printf("eactors platform: serving %s as %s; enclaves run as %s; platform directory %s\n",
           o.socket, me, dm.set_user ? eu : me, dir);
    fflush(stdout);
    int cap = 2 + EAI_PD_MAX_SESSIONS * (1 + EAI_PD_MAX_ENCLAVES);
    int *fds = malloc(sizeof(int) * (size_t)cap);
    uint8_t *ready = malloc((size_t)cap);
    if (fds == NULL || ready == NULL)
        return 1;
    for (;;) {
        int n = 0;
        fds[n++] = dm.lfd;
        fds[n++] = dm.svc_pidfd;
        for (int i = 0; i < EAI_PD_MAX_SESSIONS; i++) {
            struct session *s = dm.s[i];
            if (s == NULL)
                continue;
            fds[n++] = s->fd;
            for (int k = 0; k < s->nencls; k++)
                fds[n++] = s->encls[k].pidfd;
        }
        if (eai_poll_readable(fds, n, ready, -1) < 0)
            continue;
        if (ready[1]) {
            int status;
            (void)eai_wait_child(dm.svc_pid, &status);
            dm.svc_msg[4095] = '\0';
            fprintf(stderr, "eactors platform: the platform service ended%s%s\n",
                    dm.svc_msg[0] ? ": " : "", dm.svc_msg);
            return 1; /* its enclaves die with the daemon (PDEATHSIG) */
        }
        int k = 2;
        for (int i = 0; i < EAI_PD_MAX_SESSIONS; i++) {
            struct session *s = dm.s[i];
            if (s == NULL)
                continue;
            int polled = s->nencls; /* a SPAWN below adds one */
            if (ready[k++] && s->fd >= 0 && (!session_serve(&dm, s) || s->broken))
                session_end(s);
            for (int j = 0; j < polled; j++)
                if (ready[k++] && s->encls[j].pidfd >= 0)
                    reap(s, &s->encls[j]);
            if (session_done(s)) {
                free(s->encls);
                free(s);
                dm.s[i] = NULL;
            }
        }
        if (ready[0])
            accept_one(&dm);
    }
}

const char *eai_pd_socket_default(void)
{
    const char *env = getenv("EACTORS_PLATFORM_SOCKET");
    return env != NULL && env[0] != '\0' ? env : EAI_PD_SOCKET;
}

/* ---------------------------------------------------------- installation */

static int run(char *const argv[])
{
    int status;
    if (eai_run_program(argv, &status) != EA_OK || status != 0) {
        fprintf(stderr, "eactors platform install: '%s' failed\n", argv[0]);
        return 1;
    }
    return 0;
}

static int ensure_user(const char *name, const char *home)
{
    uint32_t uid, gid;
    if (eai_user_find(name, &uid, &gid) == EA_OK)
        return 0;
    char *argv[] = {"useradd",    "--system", "--user-group",      "--no-create-home", "--home-dir",
                    (char *)home, "--shell",  "/usr/sbin/nologin", (char *)name,       NULL};
    return run(argv);
}

static const char unit_text[] =
    "# The eactors platform daemon: the platform secret, the counters and the\n"
    "# enclave processes, under its own user (`eactors platform install`).\n"
    "[Unit]\n"
    "Description=eactors platform (enclave service)\n"
    "After=local-fs.target\n"
    "\n"
    "[Service]\n"
    "Type=simple\n"
    "ExecStart=%s platform run\n"
    "Restart=always\n"
    "RestartSec=1\n"
    "# Started as root: it creates /run/eactors, gives it and the platform\n"
    "# directory to the eactors user, and becomes that user, keeping only\n"
    "# CAP_SETUID and CAP_SETGID to start enclaves as eactors-enclave.\n"
    "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE\n"
    "NoNewPrivileges=no\n"
    "\n"
    "[Install]\n"
    "WantedBy=multi-user.target\n";

int eai_platformd_install(const char *unit_dir)
{
    if (eai_uid() != 0) {
        fprintf(stderr, "eactors platform install: run it as root\n");
        return 2;
    }
    if (ensure_user(EAI_PD_USER, EAI_PD_DIR) != 0 || ensure_user(EAI_PD_ENCLAVE_USER, "/") != 0)
        return 1;
    uint32_t uid, gid;
    if (eai_user_find(EAI_PD_USER, &uid, &gid) != EA_OK)
        return 1;
    make_dir(EAI_PD_DIR);
    if (eai_path_chown(EAI_PD_DIR, uid, gid, 0700) != EA_OK) {
        fprintf(stderr, "eactors platform install: cannot create %s\n", EAI_PD_DIR);
        return 1;
    }
    char exe[4096], why[512];
    if (eai_exe_path(exe, sizeof exe) != EA_OK)
        return 1;
    if (eai_path_root_owned(exe, why, sizeof why) != EA_OK)
        fprintf(stderr, "eactors platform install: WARNING: %s\n", why);
    const char *dir = unit_dir ? unit_dir : "/etc/systemd/system";
    char path[4200];
    snprintf(path, sizeof path, "%s/eactors-platform.service", dir);
    char text[sizeof unit_text + 4096];
    int len = snprintf(text, sizeof text, unit_text, exe);
    if (eai_mkdir_p(dir, 0755) != EA_OK ||
        eai_file_write_atomic(EAI_CWD, path, text, (size_t)len, 0644, EAI_WRITE_REPLACE, NULL) !=
            EA_OK) {
        fprintf(stderr, "eactors platform install: cannot write %s\n", path);
        return 1;
    }
    printf("eactors platform install: users %s and %s, %s (0700, %s), %s\n"
           "start it with: systemctl daemon-reload && systemctl enable --now eactors-platform\n",
           EAI_PD_USER, EAI_PD_ENCLAVE_USER, EAI_PD_DIR, EAI_PD_USER, path);
    return 0;
}
