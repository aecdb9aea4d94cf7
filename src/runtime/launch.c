/*
 * The launcher: parse, lay out the public arena, fork one process per `proc`
 * enclave, run the host and `none` enclaves in this process, supervise, and
 * report. eai_launch() is the list of these phases, in order; what they
 * print is in report.c.
 *
 * Design notes. Every enclave is forked before the launcher starts a thread
 * of its own, so children are single-threaded copies holding nothing but the
 * arena mapping and the parsed deployment. The supervisor sleeps on the
 * arena's `event` futex; actors bump it when the last one finishes or one
 * fails, and the signal handlers bump it on SIGINT, SIGTERM and SIGCHLD, so
 * the launcher reacts without polling. Stopping has a bounded budget: actors
 * get STOP_GRACE to finish, workers are then told to leave, and enclave
 * processes still alive after KILL_AFTER are killed, which keeps a stop
 * within two seconds (workers that are merely slow to be scheduled, on a
 * loaded machine, get 1.2 s to leave) and leaves no zombie.
 */
#include "runtime/launch.h"

#include <errno.h>
#include <stdatomic.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/rt.h"
#include "eos/eos_int.h"
#include "runtime/confine_host.h"
#include "runtime/deploy.h"
#include "runtime/image.h"
#include "runtime/pdclient.h"
#include "runtime/platformd.h"
#include "runtime/report.h"
#include "runtime/watchdog.h"
#include "sys/sys.h"
#include "trust/pservice.h"

/* After a stop, enclaves get KILL_AFTER_NS in all to exit before they are
 * killed. A sanitizer build gets four times as long: its processes exit
 * through the leak checker (a stop-the-world scan of every thread and the
 * heap), which on a loaded two-CPU machine once took an XMPP enclave past
 * 1.7 s, and a test then saw "killed" for a clean stop. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EA_SAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EA_SAN_BUILD 1
#endif
#endif
#define STOP_GRACE_NS (500u * 1000000u)
#ifdef EA_SAN_BUILD
#define KILL_AFTER_NS (6800ull * 1000000u)
#else
#define KILL_AFTER_NS (1700ull * 1000000u)
#endif

static struct eai_rt *the_rt; /* for the signal and fatal hooks */
static int the_enclave = -1;  /* in an enclave process: its index */
static char out_buf[8192];

static void notify_launcher(void)
{
    if (the_rt != NULL && the_rt->hdr != NULL) {
        atomic_fetch_add_explicit(&the_rt->hdr->event, 1, memory_order_seq_cst);
        eai_futex_wake(&the_rt->hdr->event, 1);
    }
}

/* Runs in an enclave process on a fatal signal (async-signal-safe). */
static void on_enclave_fatal(int sig, int syscall_nr)
{
    struct eai_encl_shm *e = &the_rt->encl[the_enclave];
    struct ea_actor *a = eai_current;
    atomic_store_explicit(&e->death_actor, a ? a->id + 1 : 0, memory_order_relaxed);
    atomic_store_explicit(&e->death_syscall, syscall_nr, memory_order_relaxed);
    atomic_store_explicit(&e->death_sig, sig, memory_order_release);
}

static _Noreturn void enclave_main(struct eai_rt *rt, int e)
{
    char err[512];
    int d = 1 + e;
    the_enclave = e;
    struct eai_encl_shm *shm = &rt->encl[e];
    setvbuf(stdout, out_buf, _IOLBF, sizeof out_buf);
    /* Keep only this enclave's own line to the platform, and only the
     * files of its own persistent stores. */
    for (int i = 0; rt->platform_fds != NULL && i < rt->dep->nenclaves; i++)
        if (i != e && rt->platform_fds[i] >= 0) {
            eai_close(rt->platform_fds[i]);
            rt->platform_fds[i] = -1;
        }
    for (int i = 0; rt->store_fds != NULL && i < rt->dep->nstores; i++)
        if (rt->store_fds[i] >= 0 && rt->dep->stores[i].users[0] != e) {
            eai_close(rt->store_fds[i]);
            rt->store_fds[i] = -1;
        }
    int rc = eai_child_harden(err, sizeof err);
    if (rc == EA_OK)
        rc = eai_on_fatal(on_enclave_fatal) == EA_OK ? EA_OK : EA_ERR_SYS;
    if (rc == EA_OK)
        rc = eai_domain_start(rt, d, true, false, err, sizeof err);
    if (rc != EA_OK) {
        snprintf(shm->msg, sizeof shm->msg, "%s", err);
        atomic_store_explicit(&shm->ready, -1, memory_order_release);
        notify_launcher();
        eai_domain_wait(rt, d);
        fflush(stdout);
        eai_exit_now(3);
    }
    atomic_store_explicit(&shm->ready, 1, memory_order_release);
    /* Confined from here: only join the workers and leave; the kernel
     * reclaims the rest. */
    eai_domain_wait(rt, d);
    fflush(stdout);
    eai_exit_now(0);
}

struct child {
    pid_t pid;
    int enclave; /* -1: the platform service */
    bool reaped;
    int status;
    /* System mode: the daemon's child; its end comes as an EXIT record. */
    bool remote;
    _Atomic int exited; /* 1: status holds the daemon's report */
};

/* One run of a deployment, as its phases hand it on. */
struct run {
    const eai_run_opts_t *opts;
    eai_deploy_t *dep;  /* owned from load() until teardown() */
    struct eai_rt *rt;  /* set up by lay_out() */
    struct child *kids; /* the platform service and the proc enclaves */
    int nkids;
    uint64_t t0;      /* start of the run, for the summary */
    uint64_t stop_at; /* when the stop was requested, 0: not yet */
    int stop_sig;     /* the signal that stopped the run, 0: none */
    bool failed;      /* a start-up, an actor or an enclave failed */
    bool stuck;       /* a host worker did not leave within the budget */
    int code;         /* the exit code, once the run has ended */
    bool system;      /* system mode: enclaves come from the platform daemon */
    const char *mode; /* for the summary: "system", "development", or none yet */
    eai_pd_t pd;      /* the session with it */
};

/* Reaps the children that ended and reports them; returns how many are
 * still alive. */
static int reap_children(struct run *r, bool shutting_down)
{
    int alive = 0;
    int status;
    pid_t p;
    for (int i = 0; i < r->nkids; i++) {
        struct child *k = &r->kids[i];
        if (!k->remote || k->reaped)
            continue;
        bool lost = atomic_load_explicit(&r->pd.lost, memory_order_acquire) != 0;
        if (atomic_load_explicit(&k->exited, memory_order_acquire) == 0 && !lost)
            continue;
        k->reaped = true;
        if (atomic_load_explicit(&k->exited, memory_order_acquire) == 0) {
            fprintf(stderr, "eactors: the platform daemon ended; enclave '%s' is gone\n",
                    r->dep->enclaves[k->enclave].name);
            r->failed = true;
            continue;
        }
        if (eai_report_child(r->rt, k->enclave, k->status, shutting_down))
            r->failed = true;
    }
    while ((p = eai_reap(&status)) > 0) {
        for (int i = 0; i < r->nkids; i++) {
            if (r->kids[i].pid == p && !r->kids[i].reaped) {
                r->kids[i].reaped = true;
                r->kids[i].status = status;
                if (eai_report_child(r->rt, r->kids[i].enclave, status, shutting_down))
                    r->failed = true;
            }
        }
    }
    for (int i = 0; i < r->nkids; i++)
        alive += !r->kids[i].reaped;
    return alive;
}

static bool domain_used(const eai_deploy_t *d, int dom)
{
    for (int a = 0; a < d->nactors; a++)
        if (eai_domain_of_actor(d, a) == dom)
            return true;
    return false;
}

/*
 * Forks the platform service for the enclaves this run uses: one socketpair
 * per enclave, the service forked first with the service ends, the enclave
 * ends kept in rt->platform_fds for the enclave domains. Returns the
 * service's pid, 0 if no enclave is used, -1 on failure.
 */
static pid_t fork_platform(struct eai_rt *rt, const char *dir)
{
    const eai_deploy_t *d = rt->dep;
    rt->platform_fds = malloc(sizeof(int) * (size_t)(d->nenclaves + 1));
    int *svc = malloc(sizeof(int) * (size_t)(d->nenclaves + 1));
    if (rt->platform_fds == NULL || svc == NULL) {
        free(svc);
        return -1;
    }
    int n = 0;
    for (int e = 0; e < d->nenclaves; e++) {
        rt->platform_fds[e] = -1;
        if (!domain_used(d, 1 + e))
            continue;
        int sv[2];
        if (eai_msg_pair(sv) != EA_OK) {
            for (int i = 0; i < n; i++)
                eai_close(svc[i]);
            for (int k = 0; k < e; k++)
                if (rt->platform_fds[k] >= 0)
                    eai_close(rt->platform_fds[k]);
            free(svc);
            return -1;
        }
        /* The service learns who sends each EINIT from the kernel; set
         * before the enclave exists, so no record arrives without. */
        (void)eai_msg_want_sender(sv[1]);
        rt->platform_fds[e] = sv[0];
        svc[n++] = sv[1];
    }
    if (n == 0) {
        free(svc);
        return 0;
    }
    /* The directory itself is checked and secured by the service. */
    (void)eai_mkdir_p(dir, 0700);
    pid_t pid = eai_fork();
    if (pid == 0) {
        for (int e = 0; e < d->nenclaves; e++)
            if (rt->platform_fds[e] >= 0)
                eai_close(rt->platform_fds[e]);
        const eai_ps_opts_t po = {.development = true, .control = -1};
        eai_pservice_main(dir, &po, svc, n, rt->hdr->platform_msg, sizeof rt->hdr->platform_msg);
    }
    for (int i = 0; i < n; i++)
        eai_close(svc[i]);
    free(svc);
    return pid;
}

/* Phase 1: parse and validate the deployment (`eactors check` ends here).
 * Returns false if the run ends. */
static bool load(struct run *r)
{
    const eai_run_opts_t *o = r->opts;
    char err[EAI_DEPLOY_ERRLEN]; /* every error of the file, one per line */
    int rc =
        eai_deploy_load(o->path, eai_cpu_count(), eai_image_probe, NULL, &r->dep, err, sizeof err);
    if (rc != EA_OK) {
        fprintf(stderr, "%s\n", err);
        r->code = 2;
        return false;
    }
    if (o->backend >= 0)
        for (int e = 0; e < r->dep->nenclaves; e++)
            r->dep->enclaves[e].backend = (eai_backend_t)o->backend;
    if (o->check_only) {
        eai_report_describe(r->dep);
        eai_deploy_free(r->dep);
        r->code = 0;
        return false;
    }
    eai_report_insecure(r->dep);
    return true;
}

/* Phase 2: lay out and create the public arena, install the signal
 * handlers. Returns false if the run ends. */
static bool lay_out(struct run *r)
{
    struct eai_rt *rt = r->rt;
    char err[512];
    memset(rt, 0, sizeof *rt);
    rt->dep = r->dep;
    rt->builtins[EAI_BUILTIN_SYS] = eai_sys_type();
    rt->arena_fd = -1;
    int rc = eai_layout_compute(rt, err, sizeof err);
    if (rc == EA_OK)
        rc = eai_arena_create(rt, err, sizeof err);
    if (rc != EA_OK) {
        fprintf(stderr, "eactors: %s\n", err);
        goto fail;
    }
    the_rt = rt;
    if (getenv("EACTORS_DEBUG_LAYOUT") != NULL)
        eai_report_layout(rt);
    fflush(stdout);
    fflush(stderr);
    if (eai_signals_install(notify_launcher) != EA_OK) {
        fprintf(stderr, "eactors: cannot install signal handlers\n");
        goto fail;
    }
    return true;
fail:
    eai_rt_fini(rt);
    eai_deploy_free(r->dep);
    r->code = 2;
    return false;
}

/* Phase 3: the platform service, forked before any enclave. The run's clock
 * starts here. */
/* The mode of the run: system when a platform daemon answers (and not
 * development asked for), else development. False if the run cannot go on. */
static bool choose_platform(struct run *r)
{
    const eai_run_opts_t *o = r->opts;
    const char *sock = o->platform_socket ? o->platform_socket : eai_pd_socket_default();
    r->pd.fd = -1;
    if (o->platform_mode != EAI_PLATFORM_DEVELOPMENT) {
        int rc = eai_pd_connect(&r->pd, sock);
        if (rc == EA_OK)
            r->system = true;
        else if (o->platform_mode == EAI_PLATFORM_SYSTEM || rc != EA_ERR_NOTFOUND) {
            fprintf(stderr, "eactors: system mode: %s\n", r->pd.err);
            return false;
        }
    }
    if (!r->system && r->dep->require_system) {
        fprintf(stderr,
                "eactors: %s requires system mode (platform=\"system\"), and no platform "
                "daemon answers at %s (start one: eactors platform run, as root)\n",
                r->dep->path, sock);
        return false;
    }
    r->mode = r->system ? "system" : "development";
    if (!o->quiet)
        fprintf(stderr, "eactors: platform: %s\n",
                r->system ? "system (the platform daemon starts the enclaves)"
                          : "development (private to this user: enclaves run with DEBUG)");
    return true;
}

static void on_remote_exit(void *ctx, int enclave, int status)
{
    struct run *r = ctx;
    for (int i = 0; enclave >= 0 && i < r->nkids; i++)
        if (r->kids[i].remote && r->kids[i].enclave == enclave) {
            r->kids[i].status = status;
            atomic_store_explicit(&r->kids[i].exited, 1, memory_order_release);
        }
    notify_launcher();
}

/* System mode: the session with the daemon, and a platform socket from it
 * for each `none` enclave used. */
static void start_session(struct run *r)
{
    struct eai_rt *rt = r->rt;
    const eai_deploy_t *d = r->dep;
    rt->platform_fds = malloc(sizeof(int) * (size_t)(d->nenclaves + 1));
    if (rt->platform_fds == NULL) {
        r->failed = true;
        return;
    }
    for (int e = 0; e < d->nenclaves; e++)
        rt->platform_fds[e] = -1;
    if (eai_pd_setup(&r->pd, rt->arena_fd, d->path) != EA_OK) {
        fprintf(stderr, "eactors: system mode: %s\n", r->pd.err);
        r->failed = true;
        return;
    }
    for (int e = 0; e < d->nenclaves; e++) {
        if (d->enclaves[e].backend != EAI_BACKEND_NONE || !domain_used(d, 1 + e))
            continue;
        if (eai_pd_local(&r->pd, e, &rt->platform_fds[e]) != EA_OK) {
            fprintf(stderr, "eactors: enclave '%s': %s\n", d->enclaves[e].name, r->pd.err);
            r->failed = true;
            return;
        }
    }
}

static void start_platform(struct run *r)
{
    r->t0 = eai_clock_ns();
    r->kids = calloc((size_t)r->dep->nenclaves + 2, sizeof *r->kids);
    if (!choose_platform(r)) {
        r->failed = true;
        return;
    }
    if (r->system) {
        start_session(r);
        return;
    }
    char *pdir = r->opts->platform_dir ? strdup(r->opts->platform_dir) : eai_platform_dir_default();
    pid_t ppid = r->kids && pdir ? fork_platform(r->rt, pdir) : -1;
    free(pdir);
    if (ppid < 0) {
        fprintf(stderr, "eactors: cannot start the platform service (no platform directory: "
                        "set EACTORS_PLATFORM_DIR or HOME)\n");
        r->failed = true;
    } else if (ppid > 0) {
        r->kids[r->nkids++] = (struct child){.pid = ppid, .enclave = -1};
    }
}

/* Which of enclave e's persistent stores store i is (0, 1, ... in
 * deployment order), or -1 if it is not one of them: the record and the
 * descriptor number of its file in system mode (EAI_PD_STORE_FD0 + k), for
 * the launcher and `eactors enclave-exec` alike. */
static int store_ordinal(const eai_deploy_t *dep, int e, int i)
{
    const eai_dep_store_t *s = &dep->stores[i];
    if (s->kind != EAI_STORE_PERSISTENT || s->nusers < 1 || s->users[0] != e)
        return -1;
    int k = 0;
    for (int j = 0; j < i; j++)
        k += dep->stores[j].kind == EAI_STORE_PERSISTENT && dep->stores[j].nusers > 0 &&
             dep->stores[j].users[0] == e;
    return k;
}

/* The files of the persistent stores, opened (created, sized) here because
 * a confined enclave cannot open files: each enclave inherits its own
 * store's descriptor and maps it (src/eos/attach.c); in system mode the
 * launcher passes it to the platform daemon, which gives it to the enclave
 * process it starts (fork_enclaves). The launcher keeps its copies until
 * teardown (eai_eos_rt_fini), so an enclave's exit is never the file's last
 * close (which the file system may turn into a flush that outlasts the stop
 * budget). */
static void open_store_files(struct run *r)
{
    const eai_deploy_t *dep = r->dep;
    struct eai_rt *rt = r->rt;
    if (dep->nstores == 0)
        return;
    rt->store_fds = malloc(sizeof(int) * (size_t)dep->nstores);
    if (rt->store_fds == NULL) {
        r->failed = true;
        return;
    }
    for (int i = 0; i < dep->nstores; i++)
        rt->store_fds[i] = -1;
    for (int i = 0; i < dep->nstores && !r->failed; i++) {
        const eai_dep_store_t *s = &dep->stores[i];
        if (s->kind != EAI_STORE_PERSISTENT || !domain_used(dep, 1 + s->users[0]))
            continue;
        const eai_dep_enclave_t *en = &dep->enclaves[s->users[0]];
        if (r->system && en->backend == EAI_BACKEND_PROC &&
            store_ordinal(dep, s->users[0], i) >= EAI_PD_MAX_STORE_FDS) {
            fprintf(stderr,
                    "eactors: store '%s' (line %d): enclave '%s' has more than %d persistent "
                    "stores, the most the platform daemon passes to one enclave\n",
                    s->name, s->line, en->name, EAI_PD_MAX_STORE_FDS);
            r->failed = true;
            break;
        }
        int rc = eai_file_open_sized(s->path_abs, (size_t)s->size, &rt->store_fds[i]);
        if (rc != EA_OK) {
            if (rc == EA_ERR_INVAL)
                fprintf(stderr,
                        "eactors: store '%s' (line %d): '%s' is not a regular file of %llu bytes\n",
                        s->name, s->line, s->path_abs, (unsigned long long)s->size);
            else
                fprintf(stderr, "eactors: store '%s' (line %d): cannot open '%s': %s\n", s->name,
                        s->line, s->path_abs, strerror(errno));
            rt->store_fds[i] = -1;
            r->failed = true;
        }
    }
}

/* Forks every proc enclave the run uses, before this process starts any
 * thread. */
static void fork_enclaves(struct run *r)
{
    const eai_deploy_t *dep = r->dep;
    for (int e = 0; e < dep->nenclaves && r->kids != NULL && !r->failed; e++) {
        if (dep->enclaves[e].backend != EAI_BACKEND_PROC || !domain_used(dep, 1 + e))
            continue;
        if (r->system) {
            const char *img = dep->enclaves[e].image_path;
            const char *slash = strrchr(img, '/');
            pid_t pid;
            int rc = EA_OK;
            for (int i = 0; i < dep->nstores && rc == EA_OK; i++) {
                int k = store_ordinal(dep, e, i);
                if (k >= 0 && r->rt->store_fds != NULL && r->rt->store_fds[i] >= 0)
                    rc = eai_pd_store(&r->pd, e, k, r->rt->store_fds[i]);
            }
            if (rc == EA_OK)
                rc = eai_pd_spawn(&r->pd, e, img, slash ? slash + 1 : img, &pid);
            if (rc != EA_OK) {
                fprintf(stderr, "eactors: enclave '%s' failed to start: %s\n",
                        dep->enclaves[e].name, r->pd.err);
                r->failed = true;
                break;
            }
            r->kids[r->nkids++] = (struct child){.pid = pid, .enclave = e, .remote = true};
            if (!r->opts->quiet)
                fprintf(stderr, "eactors: enclave '%s' is process %d of the platform daemon\n",
                        dep->enclaves[e].name, (int)pid);
            continue;
        }
        pid_t pid = eai_fork();
        if (pid == 0)
            enclave_main(r->rt, e);
        if (pid < 0) {
            fprintf(stderr, "eactors: cannot fork enclave '%s'\n", dep->enclaves[e].name);
            r->failed = true;
            break;
        }
        r->kids[r->nkids++] = (struct child){.pid = pid, .enclave = e};
        /* A host knows its children anyway; tests use it to stop or kill one. */
        if (getenv("EACTORS_DEBUG_LAYOUT") != NULL)
            fprintf(stderr, "eactors: layout: enclave=%s process=%d\n", dep->enclaves[e].name,
                    (int)pid);
        /* The enclave has its end of the platform line; the launcher does
         * not keep it. */
        eai_close(r->rt->platform_fds[e]);
        r->rt->platform_fds[e] = -1;
    }
}

/* Starts the host and the `none` enclaves in this process. */
static void start_local_domains(struct run *r)
{
    const eai_deploy_t *dep = r->dep;
    char err[512];
    for (int d = 0; d < r->rt->ndomains && !r->failed; d++) {
        if (d > 0 && dep->enclaves[d - 1].backend == EAI_BACKEND_PROC)
            continue;
        if (!domain_used(dep, d))
            continue;
        int rc = eai_domain_start(r->rt, d, false, true, err, sizeof err);
        if (rc != EA_OK) {
            fprintf(stderr, "eactors: %s '%s': %s\n", d == 0 ? "domain" : "enclave",
                    d == 0 ? "host" : dep->enclaves[d - 1].name, err);
            r->failed = true;
        }
    }
}

/* Phase 4: every enclave and the host domain; a failed start stops the
 * run. */
static void start_enclaves(struct run *r)
{
    if (!r->failed)
        open_store_files(r);
    if (!r->failed)
        fork_enclaves(r);
    if (r->system && r->pd.fd >= 0 && eai_pd_listen(&r->pd, on_remote_exit, r) != EA_OK) {
        fprintf(stderr, "eactors: system mode: %s\n", r->pd.err);
        r->failed = true;
    }
    if (!r->failed) {
        char err[512];
        if (eai_host_confine(r->rt->dep, err, sizeof err) != EA_OK) {
            fprintf(stderr, "eactors: cannot confine the launcher: %s\n", err);
            r->failed = true;
        }
    }
    if (!r->failed)
        start_local_domains(r);
    if (r->failed)
        eai_request_stop(r->rt);
}

/* Phase 5: sleep on the arena's event futex until every actor has ended or
 * the stop budget (STOP_GRACE) after a stop request is spent. */
static void supervise(struct run *r)
{
    struct eai_rt *rt = r->rt;
    r->stop_at = r->failed ? eai_clock_ns() : 0;
    for (;;) {
        uint32_t ev = atomic_load_explicit(&rt->hdr->event, memory_order_seq_cst);
        int s = eai_signal_take();
        if (s != 0 && r->stop_sig == 0) {
            r->stop_sig = s;
            fprintf(stderr, "eactors: stopping on %s\n", eai_signal_name(s));
            eai_request_stop(rt);
        }
        reap_children(r, false);
        if (r->failed && r->stop_at == 0)
            eai_request_stop(rt);
        if (atomic_load_explicit(&rt->hdr->fail_actor, memory_order_acquire) != 0)
            r->failed = true;
        if (atomic_load_explicit(&rt->hdr->stop, memory_order_acquire) && r->stop_at == 0)
            r->stop_at = eai_clock_ns();
        if (atomic_load_explicit(&rt->hdr->live, memory_order_acquire) == 0)
            break;
        eai_watchdog_tick(rt);
        uint64_t now = eai_clock_ns();
        if (r->stop_at != 0 && now - r->stop_at >= STOP_GRACE_NS)
            break;
        eai_futex_wait(&rt->hdr->event, ev,
                       r->stop_at != 0 ? STOP_GRACE_NS - (now - r->stop_at) : 200u * 1000000u);
    }
}

/* Phase 6: workers leave their loops; enclave processes exit, or are killed
 * once KILL_AFTER is spent; every child is reaped. */
static void stop(struct run *r)
{
    struct eai_rt *rt = r->rt;
    atomic_store_explicit(&rt->hdr->shutdown, 1, memory_order_seq_cst);
    eai_wake_all_workers(rt);
    uint64_t kill_at = eai_clock_ns() + (KILL_AFTER_NS - STOP_GRACE_NS);
    for (int d = 0; d < rt->ndomains; d++)
        if (eai_domain_wait_until(rt, d, kill_at) != EA_OK)
            r->stuck = true;
    for (int d = 0; d < rt->ndomains; d++)
        if (rt->domains[d] != NULL)
            eai_domain_close_platform(rt->domains[d]);
    while (reap_children(r, true) > 0) {
        if (eai_clock_ns() >= kill_at) {
            if (r->system)
                eai_pd_kill(&r->pd);
            for (int i = 0; i < r->nkids; i++)
                if (!r->kids[i].reaped && !r->kids[i].remote) {
                    if (r->kids[i].enclave >= 0)
                        fprintf(stderr, "eactors: enclave '%s' did not stop in time; killing it\n",
                                r->dep->enclaves[r->kids[i].enclave].name);
                    eai_kill(r->kids[i].pid, SIGKILL);
                }
            for (int i = 0; i < r->nkids; i++)
                if (!r->kids[i].reaped && r->kids[i].remote)
                    fprintf(stderr, "eactors: enclave '%s' did not stop in time; killing it\n",
                            r->dep->enclaves[r->kids[i].enclave].name);
            kill_at = UINT64_MAX;
        }
        eai_sleep_ns(2000000u);
    }
}

/* Phase 7: the failed actor, the summary, channel and memory reports, and
 * the exit code. */
static void report(struct run *r)
{
    if (eai_report_actor_failure(r->rt))
        r->failed = true;
    if (r->stuck)
        fprintf(stderr, "eactors: a host actor did not return within the stop budget\n");
    if (!r->opts->quiet) {
        eai_report_summary(r->rt, (double)(eai_clock_ns() - r->t0) / 1e9,
                           r->mode != NULL ? r->mode : "none started", stderr);
        eai_report_channels(r->rt, stderr);
        eai_report_memory(r->rt, stderr);
    }
    fflush(stdout);
    r->code = r->failed ? 1 : r->stop_sig != 0 ? 128 + r->stop_sig : 0;
}

/* Phase 8: free the domains, the arena and the deployment. */
static void teardown(struct run *r)
{
    if (r->stuck) {
        /* A host thread is still inside an actor body: its memory cannot be
         * freed under it. Leave without tearing down. */
        fflush(stderr);
        eai_exit_now(r->code);
    }
    for (int d = 0; d < r->rt->ndomains; d++)
        eai_domain_join(r->rt, d);
    eai_pd_close(&r->pd);
    free(r->kids);
    the_rt = NULL;
    eai_eos_rt_fini(r->rt);
    eai_rt_fini(r->rt);
    eai_deploy_free(r->dep);
}

int eai_launch(const eai_run_opts_t *o)
{
    static struct eai_rt rt; /* reached by the signal and fatal hooks */
    static struct run r;     /* reached by the daemon session's listener */
    r = (struct run){.opts = o, .rt = &rt};
    r.pd.fd = -1;
    if (!load(&r) || !lay_out(&r))
        return r.code;
    start_platform(&r);
    start_enclaves(&r);
    supervise(&r);
    stop(&r);
    report(&r);
    teardown(&r);
    return r.code;
}

/* The files of enclave e's persistent stores in an enclave process the
 * platform daemon started: at EAI_PD_STORE_FD0 + k (store_ordinal). A
 * store whose descriptor is not a regular file of the declared size (the
 * launcher did not send it, or sent another file) gets none, and attaching
 * it is refused: checked here, before confinement (the running enclave may
 * not fstat), rather than found by a fault on a mapping past its end. */
static int exec_store_fds(struct eai_rt *rt, int e)
{
    const eai_deploy_t *dep = rt->dep;
    if (dep->nstores == 0)
        return EA_OK;
    rt->store_fds = malloc(sizeof(int) * (size_t)dep->nstores);
    if (rt->store_fds == NULL)
        return EA_ERR_NOMEM;
    for (int i = 0; i < dep->nstores; i++) {
        int k = store_ordinal(dep, e, i);
        int fd = EAI_PD_STORE_FD0 + k;
        uint64_t size = 0;
        bool ok = k >= 0 && k < EAI_PD_MAX_STORE_FDS && eai_fd_file_size(fd, &size) == EA_OK &&
                  size == dep->stores[i].size;
        rt->store_fds[i] = ok ? fd : -1;
    }
    return EA_OK;
}

/*
 * An enclave process the platform daemon started (`eactors enclave-exec`):
 * descriptors 3 the platform socket, 4 the arena, 5 the deployment, 6 the
 * image, 7 its signature file, from 8 the files of its persistent stores
 * (exec_store_fds). It parses the deployment itself (trusting
 * no layout from the host), attaches the arena, and runs as a forked
 * enclave does. Never returns.
 */
_Noreturn int eai_enclave_exec(int e, const char *image_name)
{
    static struct eai_rt rt;
    static char err[EAI_DEPLOY_ERRLEN];
    eai_deploy_t *dep = NULL;
    if (eai_child_harden(err, sizeof err) != EA_OK)
        eai_exit_now(3);
    int rc = eai_deploy_load_ex("/proc/self/fd/5", eai_cpu_count(), NULL, NULL, EAI_DEPLOY_OFFLINE,
                                &dep, err, sizeof err);
    if (rc == EA_OK && (e < 0 || e >= dep->nenclaves)) {
        snprintf(err, sizeof err, "no enclave %d in the deployment", e);
        rc = EA_ERR_INVAL;
    }
    if (rc == EA_OK) {
        memset(&rt, 0, sizeof rt);
        rt.dep = dep;
        rt.builtins[EAI_BUILTIN_SYS] = eai_sys_type();
        rt.arena_fd = -1;
        rc = eai_layout_compute(&rt, err, sizeof err);
    }
    if (rc == EA_OK)
        rc = eai_arena_attach(&rt, 4, err, sizeof err);
    if (rc == EA_OK) {
        rt.platform_fds = malloc(sizeof(int) * (size_t)dep->nenclaves);
        free(dep->enclaves[e].image_path);
        dep->enclaves[e].image_path = strdup("/proc/self/fd/6");
        if (rt.platform_fds == NULL || dep->enclaves[e].image_path == NULL)
            rc = EA_ERR_NOMEM;
    }
    if (rc == EA_OK && exec_store_fds(&rt, e) != EA_OK) {
        snprintf(err, sizeof err, "out of memory");
        rc = EA_ERR_NOMEM;
    }
    if (rc != EA_OK) {
        fprintf(stderr, "eactors: enclave process: %s\n", err);
        eai_exit_now(3);
    }
    for (int i = 0; i < dep->nenclaves; i++)
        rt.platform_fds[i] = i == e ? 3 : -1;
    rt.image_name = image_name;
    rt.sig_path = "/proc/self/fd/7";
    eai_close(5);
    the_rt = &rt;
    enclave_main(&rt, e);
}
