/*
 * The launcher: parse, lay out the public arena, fork one process per `proc`
 * enclave, run the host and `none` enclaves in this process, supervise, and
 * report.
 *
 * Design notes. Every enclave is forked before the launcher starts a thread
 * of its own, so children are single-threaded copies holding nothing but the
 * arena mapping and the parsed deployment. The supervisor sleeps on the
 * arena's `event` futex; actors bump it when the last one finishes or one
 * fails, and the signal handlers bump it on SIGINT, SIGTERM and SIGCHLD, so
 * the launcher reacts without polling. Stopping has a bounded budget: actors
 * get STOP_GRACE to finish, workers are then told to leave, and enclave
 * processes still alive after KILL_AFTER are killed, which keeps a stop
 * within one second and leaves no zombie: every child is reaped.
 */
#include "runtime/launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <sys/socket.h>
#include <unistd.h>

#include "core/rt.h"
#include "runtime/deploy.h"
#include "runtime/image.h"
#include "sys/sys.h"
#include "trust/pservice.h"

#define STOP_GRACE_NS (500u * 1000000u)
#define KILL_AFTER_NS (800u * 1000000u)

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
    char err[192];
    int d = 1 + e;
    the_enclave = e;
    struct eai_encl_shm *shm = &rt->encl[e];
    setvbuf(stdout, out_buf, _IOLBF, sizeof out_buf);
    /* Keep only this enclave's own line to the platform. */
    for (int i = 0; rt->platform_fds != NULL && i < rt->dep->nenclaves; i++)
        if (i != e && rt->platform_fds[i] >= 0) {
            close(rt->platform_fds[i]);
            rt->platform_fds[i] = -1;
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

static const char *actor_name(struct eai_rt *rt, uint32_t id, char *buf, size_t len)
{
    if (id < rt->lay.ndep_actors)
        return rt->dep->actors[id].name;
    if (id >= rt->lay.nactors)
        return "?";
    /* Spawned actors' names come from the arena: copy, bound and clean. */
    size_t i = 0;
    for (; i + 1 < len && i < EAI_NAME_MAX && rt->names[id - rt->lay.ndep_actors][i] != '\0'; i++) {
        char ch = rt->names[id - rt->lay.ndep_actors][i];
        buf[i] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
    }
    buf[i] = '\0';
    return buf;
}

static const char *actor_domain(struct eai_rt *rt, uint32_t id)
{
    if (id < rt->lay.ndep_actors) {
        int d = eai_domain_of_actor(rt->dep, (int)id);
        return d == 0 ? "host" : rt->dep->enclaves[d - 1].name;
    }
    for (int d = 0; d < rt->ndomains; d++)
        if (id >= rt->lay.slot_base[d] && id < rt->lay.slot_base[d] + rt->lay.slot_count[d])
            return d == 0 ? "host" : rt->dep->enclaves[d - 1].name;
    return "?";
}

struct child {
    pid_t pid;
    int enclave; /* -1: the platform service */
    bool reaped;
    int status;
};

/* Reports an enclave that ended; returns true if that was a failure. */
static bool report_child(struct eai_rt *rt, struct child *c, bool shutting_down)
{
    if (c->enclave < 0) {
        if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 && shutting_down)
            return false;
        char msg[sizeof rt->hdr->platform_msg];
        memcpy(msg, rt->hdr->platform_msg, sizeof msg);
        msg[sizeof msg - 1] = '\0';
        fprintf(stderr, "eactors: the platform service ended%s%s\n", msg[0] ? ": " : "",
                msg[0] ? msg : " unexpectedly");
        return true;
    }
    const char *en = rt->dep->enclaves[c->enclave].name;
    struct eai_encl_shm *e = &rt->encl[c->enclave];
    int sig = atomic_load_explicit(&e->death_sig, memory_order_acquire);
    uint32_t who = atomic_load_explicit(&e->death_actor, memory_order_relaxed);
    char nb[EAI_NAME_MAX];
    const char *an = who ? actor_name(rt, who - 1, nb, sizeof nb) : NULL;
    char actor[96];
    if (an != NULL)
        snprintf(actor, sizeof actor, "actor '%s'", an);
    else
        snprintf(actor, sizeof actor, "an unknown actor");
    if (sig == SIGSYS) {
        int nr = atomic_load_explicit(&e->death_syscall, memory_order_relaxed);
        const char *sn = eai_syscall_name(nr);
        fprintf(stderr, "eactors: enclave '%s' killed: %s made forbidden system call '%s' (%d)\n",
                en, actor, sn ? sn : "?", nr);
        return true;
    }
    if (sig != 0) {
        fprintf(stderr, "eactors: enclave '%s' died: %s crashed with %s\n", en, actor,
                eai_signal_name(sig));
        return true;
    }
    if (atomic_load_explicit(&e->ready, memory_order_acquire) < 0) {
        char msg[sizeof e->msg];
        memcpy(msg, e->msg, sizeof msg);
        msg[sizeof msg - 1] = '\0';
        fprintf(stderr, "eactors: enclave '%s' failed to start: %s\n", en, msg);
        return true;
    }
    if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 && shutting_down)
        return false;
    if (WIFSIGNALED(c->status))
        fprintf(stderr, "eactors: enclave '%s' was killed by %s\n", en,
                eai_signal_name(WTERMSIG(c->status)));
    else
        fprintf(stderr, "eactors: enclave '%s' exited unexpectedly (status %d)\n", en,
                WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1);
    return true;
}

static int reap_children(struct eai_rt *rt, struct child *kids, int nkids, bool shutting_down,
                         bool *failed)
{
    int alive = 0;
    int status;
    pid_t p;
    while ((p = eai_reap(&status)) > 0) {
        for (int i = 0; i < nkids; i++) {
            if (kids[i].pid == p && !kids[i].reaped) {
                kids[i].reaped = true;
                kids[i].status = status;
                if (report_child(rt, &kids[i], shutting_down))
                    *failed = true;
            }
        }
    }
    for (int i = 0; i < nkids; i++)
        alive += !kids[i].reaped;
    return alive;
}

static void print_summary(struct eai_rt *rt, double secs, FILE *out)
{
    static const char *const st[] = {"unused", "live", "done", "FAILED"};
    fprintf(out, "eactors: summary after %.3f s\n", secs);
    fprintf(out, "%-20s %-10s %-7s %12s %14s %12s %14s %12s %7s\n", "actor", "domain", "status",
            "sent", "sent_bytes", "recv", "recv_bytes", "steps", "errors");
    for (uint32_t id = 0; id < rt->lay.nactors; id++) {
        uint32_t s = atomic_load_explicit(&rt->rec[id].status, memory_order_acquire);
        if (s == EAI_A_UNUSED || s > EAI_A_FAILED)
            continue;
        struct eai_rec *x = &rt->rec[id];
        char nb[EAI_NAME_MAX];
        fprintf(out, "%-20s %-10s %-7s %12llu %14llu %12llu %14llu %12llu %7u\n",
                actor_name(rt, id, nb, sizeof nb), actor_domain(rt, id), st[s],
                (unsigned long long)atomic_load(&x->sent),
                (unsigned long long)atomic_load(&x->sent_bytes),
                (unsigned long long)atomic_load(&x->recv),
                (unsigned long long)atomic_load(&x->recv_bytes),
                (unsigned long long)atomic_load(&x->steps), atomic_load(&x->errors));
    }
}

static void clean_copy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n && src[i] != '\0'; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

/* Per channel: protection and, for AEAD channels, the peer each end
 * accepted and how many messages failed authentication. */
static void print_channels(struct eai_rt *rt, FILE *out)
{
    const eai_deploy_t *d = rt->dep;
    for (int c = 0; c < d->nchannels; c++) {
        const eai_dep_channel_t *ch = &d->channels[c];
        int da = eai_domain_of_actor(d, ch->a), db = eai_domain_of_actor(d, ch->b);
        const char *kind = rt->lay.chan_aead[c] ? "AEAD (AES-128-GCM), public arena"
                           : da == db           ? "plain, private memory"
                           : (da > 0 && db > 0) ? "plain, public arena, INSECURE (protect=plain)"
                                                : "plain, public arena (host endpoint)";
        fprintf(out, "channel %-14s %s <-> %s: %s\n", ch->name, d->actors[ch->a].name,
                d->actors[ch->b].name, kind);
        if (!rt->lay.chan_aead[c])
            continue;
        for (int end = 0; end < 2; end++) {
            struct eai_chan_shm *cs = &rt->cshm[c];
            char acc[sizeof cs->accepted[0]];
            clean_copy(acc, cs->accepted[end], sizeof acc);
            int failed = atomic_load_explicit(&cs->failed[end], memory_order_relaxed);
            fprintf(out, "  %s accepted %s; auth failures %u%s%s\n",
                    d->actors[end == 0 ? ch->a : ch->b].name, acc[0] ? acc : "(no peer yet)",
                    atomic_load_explicit(&cs->auth_fail[end], memory_order_relaxed),
                    failed ? "; FAILED: " : "", failed ? ea_strerror(failed) : "");
        }
    }
}

/* Memory of the run: the arena's per-actor and per-channel parts, and each
 * domain's private part as it reported it. */
static void print_memory(struct eai_rt *rt, FILE *out)
{
    const struct eai_layout *l = &rt->lay;
    uint64_t arena_actors = (uint64_t)l->nactors * sizeof(struct eai_rec) +
                            (uint64_t)(l->nactors - l->ndep_actors) * EAI_NAME_MAX;
    for (int w = 0; w < rt->dep->nworkers; w++)
        arena_actors += ea_mbox_footprint(l->ready_cap[w]);
    uint64_t arena_chans = 0, priv_actors = 0, priv_chans = 0;
    for (int c = 0; c < rt->dep->nchannels; c++)
        if (l->off_chan[c] != SIZE_MAX)
            arena_chans += l->chan[c].size;
    for (int d = 0; d < rt->ndomains; d++) {
        struct eai_encl_shm *shm = eai_domain_shm(rt, d);
        priv_actors += atomic_load_explicit(&shm->mem_actors, memory_order_relaxed);
        priv_chans += atomic_load_explicit(&shm->mem_chans, memory_order_relaxed);
    }
    unsigned n = (unsigned)rt->dep->nactors;
    fprintf(out,
            "eactors: memory: %u actors (+%u spawn slots): arena %llu B, private %llu B "
            "(%.1f B per actor); %d channels: arena %llu B, private %llu B; arena total %zu B\n",
            n, l->nactors - n, (unsigned long long)arena_actors, (unsigned long long)priv_actors,
            n ? (double)(arena_actors + priv_actors) / n : 0.0, rt->dep->nchannels,
            (unsigned long long)arena_chans, (unsigned long long)priv_chans, l->size);
}

static bool domain_used(const eai_deploy_t *d, int dom)
{
    for (int a = 0; a < d->nactors; a++)
        if (eai_domain_of_actor(d, a) == dom)
            return true;
    return false;
}

/*
 * Starts the platform service for the enclaves this run uses: one socketpair
 * per enclave, the service forked first with the service ends, the enclave
 * ends kept in rt->platform_fds for the enclave domains. Returns the
 * service's pid, 0 if no enclave is used, -1 on failure.
 */
static pid_t start_platform(struct eai_rt *rt, const char *dir)
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
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            free(svc);
            return -1;
        }
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
                close(rt->platform_fds[e]);
        eai_pservice_main(dir, svc, n, rt->hdr->platform_msg, sizeof rt->hdr->platform_msg);
    }
    for (int i = 0; i < n; i++)
        close(svc[i]);
    free(svc);
    return pid;
}

/* The public arena's layout, for tests that play a hostile host: a host
 * can compute all of it from the deployment anyway. */
static void print_layout(struct eai_rt *rt)
{
    const struct eai_layout *l = &rt->lay;
    fprintf(stderr, "eactors: layout: pid=%d arena_fd=%d arena_size=%zu\n", (int)getpid(),
            rt->arena_fd, l->size);
    for (int c = 0; c < rt->dep->nchannels; c++) {
        if (l->off_chan[c] == SIZE_MAX)
            continue;
        const eai_dep_channel_t *ch = &rt->dep->channels[c];
        const struct eai_chan_layout *cl = &l->chan[c];
        ea_pool_t p;
        if (ea_pool_attach(&p, rt->arena + l->off_chan[c] + cl->off_pool, ch->nodes,
                           cl->node_size) != EA_OK)
            continue;
        fprintf(stderr,
                "eactors: layout: channel=%s offset=%zu nodes_offset=%zu nodes=%u node_size=%u "
                "mbox_a_offset=%zu mbox_b_offset=%zu mbox_capacity=%u aead=%u\n",
                ch->name, l->off_chan[c], (size_t)((uint8_t *)ea_pool_node(&p, 0) - rt->arena),
                ch->nodes, cl->node_size, l->off_chan[c] + cl->off_mbox_a,
                l->off_chan[c] + cl->off_mbox_b, cl->mbox_cap, l->chan_aead[c]);
    }
}

static void describe(const eai_deploy_t *d)
{
    printf("%s: valid: %d enclave(s), %d worker(s), %d actor(s), %d channel(s)\n", d->path,
           d->nenclaves, d->nworkers, d->nactors, d->nchannels);
}

static void warn_insecure(const eai_deploy_t *d)
{
    for (int c = 0; c < d->nchannels; c++) {
        const eai_dep_channel_t *ch = &d->channels[c];
        int da = eai_domain_of_actor(d, ch->a), db = eai_domain_of_actor(d, ch->b);
        if (ch->protect == EAI_PROTECT_PLAIN && da > 0 && db > 0 && da != db)
            fprintf(stderr,
                    "eactors: WARNING: channel '%s' between enclaves '%s' and '%s' is plain "
                    "(protect=\"plain\"): INSECURE, the host can read and forge its messages\n",
                    ch->name, d->enclaves[da - 1].name, d->enclaves[db - 1].name);
    }
    for (int e = 0; e < d->nenclaves; e++)
        if (d->enclaves[e].backend == EAI_BACKEND_NONE)
            fprintf(stderr,
                    "eactors: WARNING: enclave '%s' runs with backend 'none': INSECURE, "
                    "no isolation (for debugging only)\n",
                    d->enclaves[e].name);
}

int eai_launch(const eai_run_opts_t *o)
{
    char err[512];
    eai_deploy_t *dep = NULL;
    int rc =
        eai_deploy_load(o->path, eai_cpu_count(), eai_image_probe, NULL, &dep, err, sizeof err);
    if (rc != EA_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (o->backend >= 0)
        for (int e = 0; e < dep->nenclaves; e++)
            dep->enclaves[e].backend = (eai_backend_t)o->backend;
    if (o->check_only) {
        describe(dep);
        eai_deploy_free(dep);
        return 0;
    }
    warn_insecure(dep);

    static struct eai_rt rt;
    memset(&rt, 0, sizeof rt);
    rt.dep = dep;
    rt.builtins[EAI_BUILTIN_SYS] = eai_sys_type();
    rt.arena_fd = -1;
    rc = eai_layout_compute(&rt, err, sizeof err);
    if (rc == EA_OK)
        rc = eai_arena_create(&rt, err, sizeof err);
    if (rc != EA_OK) {
        fprintf(stderr, "eactors: %s\n", err);
        eai_rt_fini(&rt);
        eai_deploy_free(dep);
        return 2;
    }
    the_rt = &rt;
    if (getenv("EACTORS_DEBUG_LAYOUT") != NULL)
        print_layout(&rt);
    fflush(stdout);
    fflush(stderr);
    if (eai_signals_install(notify_launcher) != EA_OK) {
        fprintf(stderr, "eactors: cannot install signal handlers\n");
        eai_rt_fini(&rt);
        eai_deploy_free(dep);
        return 2;
    }

    uint64_t t0 = eai_clock_ns();
    bool failed = false;
    struct child *kids = calloc((size_t)dep->nenclaves + 2, sizeof *kids);
    int nkids = 0;
    char *pdir = o->platform_dir ? strdup(o->platform_dir) : eai_platform_dir_default();
    pid_t ppid = kids && pdir ? start_platform(&rt, pdir) : -1;
    free(pdir);
    if (ppid < 0) {
        fprintf(stderr, "eactors: cannot start the platform service (no platform directory: "
                        "set EACTORS_PLATFORM_DIR or HOME)\n");
        failed = true;
    } else if (ppid > 0) {
        kids[nkids++] = (struct child){.pid = ppid, .enclave = -1};
    }
    /* Fork every proc enclave before this process starts any thread. */
    for (int e = 0; e < dep->nenclaves && kids != NULL && !failed; e++) {
        if (dep->enclaves[e].backend != EAI_BACKEND_PROC || !domain_used(dep, 1 + e))
            continue;
        pid_t pid = eai_fork();
        if (pid == 0)
            enclave_main(&rt, e);
        if (pid < 0) {
            fprintf(stderr, "eactors: cannot fork enclave '%s'\n", dep->enclaves[e].name);
            failed = true;
            break;
        }
        kids[nkids++] = (struct child){.pid = pid, .enclave = e};
        /* The enclave has its end of the platform line; the launcher does
         * not keep it. */
        close(rt.platform_fds[e]);
        rt.platform_fds[e] = -1;
    }
    for (int d = 0; d < rt.ndomains && !failed; d++) {
        if (d > 0 && dep->enclaves[d - 1].backend == EAI_BACKEND_PROC)
            continue;
        if (!domain_used(dep, d))
            continue;
        rc = eai_domain_start(&rt, d, false, true, err, sizeof err);
        if (rc != EA_OK) {
            fprintf(stderr, "eactors: %s '%s': %s\n", d == 0 ? "domain" : "enclave",
                    d == 0 ? "host" : dep->enclaves[d - 1].name, err);
            failed = true;
        }
    }
    if (failed)
        eai_request_stop(&rt);

    /* Supervise. */
    int stop_sig = 0;
    uint64_t stop_at = failed ? eai_clock_ns() : 0;
    for (;;) {
        uint32_t ev = atomic_load_explicit(&rt.hdr->event, memory_order_seq_cst);
        int s = eai_signal_take();
        if (s != 0 && stop_sig == 0) {
            stop_sig = s;
            fprintf(stderr, "eactors: stopping on %s\n", eai_signal_name(s));
            eai_request_stop(&rt);
        }
        reap_children(&rt, kids, nkids, false, &failed);
        if (failed && stop_at == 0)
            eai_request_stop(&rt);
        if (atomic_load_explicit(&rt.hdr->fail_actor, memory_order_acquire) != 0)
            failed = true;
        if (atomic_load_explicit(&rt.hdr->stop, memory_order_acquire) && stop_at == 0)
            stop_at = eai_clock_ns();
        if (atomic_load_explicit(&rt.hdr->live, memory_order_acquire) == 0)
            break;
        uint64_t now = eai_clock_ns();
        if (stop_at != 0 && now - stop_at >= STOP_GRACE_NS)
            break;
        eai_futex_wait(&rt.hdr->event, ev,
                       stop_at != 0 ? STOP_GRACE_NS - (now - stop_at) : 200u * 1000000u);
    }

    /* Shut down: workers leave their loops; enclaves exit or are killed. */
    atomic_store_explicit(&rt.hdr->shutdown, 1, memory_order_seq_cst);
    eai_wake_all_workers(&rt);
    uint64_t kill_at = eai_clock_ns() + (KILL_AFTER_NS - STOP_GRACE_NS);
    bool stuck = false;
    for (int d = 0; d < rt.ndomains; d++)
        if (eai_domain_wait_until(&rt, d, kill_at) != EA_OK)
            stuck = true;
    for (int d = 0; d < rt.ndomains; d++)
        if (rt.domains[d] != NULL)
            eai_domain_close_platform(rt.domains[d]);
    while (reap_children(&rt, kids, nkids, true, &failed) > 0) {
        if (eai_clock_ns() >= kill_at) {
            for (int i = 0; i < nkids; i++)
                if (!kids[i].reaped) {
                    if (kids[i].enclave >= 0)
                        fprintf(stderr, "eactors: enclave '%s' did not stop in time; killing it\n",
                                dep->enclaves[kids[i].enclave].name);
                    eai_kill(kids[i].pid, SIGKILL);
                }
            kill_at = UINT64_MAX;
        }
        eai_sleep_ns(2000000u);
    }

    uint32_t fa = atomic_load_explicit(&rt.hdr->fail_actor, memory_order_acquire);
    if (fa != 0 && fa <= rt.lay.nactors) {
        char nb[EAI_NAME_MAX];
        int ferr = atomic_load_explicit(&rt.hdr->fail_err, memory_order_relaxed);
        const char *dn = actor_domain(&rt, fa - 1);
        fprintf(stderr, "eactors: actor '%s' in %s%s%s failed: %s (%d)\n",
                actor_name(&rt, fa - 1, nb, sizeof nb), strcmp(dn, "host") ? "enclave '" : "", dn,
                strcmp(dn, "host") ? "'" : "", ea_strerror(ferr), ferr);
        failed = true;
    }
    if (stuck)
        fprintf(stderr, "eactors: a host actor did not return within the stop budget\n");
    if (!o->quiet) {
        print_summary(&rt, (double)(eai_clock_ns() - t0) / 1e9, stderr);
        print_channels(&rt, stderr);
        print_memory(&rt, stderr);
    }
    fflush(stdout);
    int code = failed ? 1 : stop_sig != 0 ? 128 + stop_sig : 0;
    if (stuck) {
        /* A host thread is still inside an actor body: its memory cannot be
         * freed under it. Leave without tearing down. */
        fflush(stderr);
        eai_exit_now(code);
    }
    for (int d = 0; d < rt.ndomains; d++)
        eai_domain_join(&rt, d);
    free(kids);
    the_rt = NULL;
    eai_rt_fini(&rt);
    eai_deploy_free(dep);
    return code;
}
