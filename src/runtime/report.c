/*
 * Run reports: what the launcher prints before, during and after a run.
 *
 * Design notes. The reports read the deployment and the layout from the
 * launcher's private memory and the rest (statuses, counters, death records,
 * spawned actors' names, accepted identities) from the public arena, which
 * any process of the run may have scribbled on. So nothing here decides
 * anything on arena contents beyond what to print; every index read from the
 * arena is checked against the private layout, and every string copied from
 * it is bounded and cleaned of control characters before it reaches the
 * terminal.
 */
#include "runtime/report.h"

#include "platform/platform.h"

#include "runtime/watchdog.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* Name of actor `id`; spawned actors' names are copied from the arena into
 * `buf` (returns a borrowed pointer to `buf` or to the deployment). */
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

static void clean_copy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n && src[i] != '\0'; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

void eai_report_describe(const eai_deploy_t *d)
{
    printf("%s: valid: %d enclave(s), %d worker(s), %d actor(s), %d channel(s)", d->path,
           d->nenclaves, d->nworkers, d->nactors, d->nchannels);
    if (d->nstores > 0)
        printf(", %d store(s)", d->nstores);
    printf("\n");
}

void eai_report_insecure(const eai_deploy_t *d)
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
    const char *env = d->nenclaves > 0 ? eai_loader_env_used() : NULL;
    if (env != NULL)
        fprintf(stderr,
                "eactors: WARNING: %s is in use: the loader may have mapped foreign code into "
                "every enclave, so they run with the DEBUG attribute (no production keys)\n",
                env);
}

/* A host can compute all of this from the deployment anyway. */
void eai_report_layout(struct eai_rt *rt)
{
    const struct eai_layout *l = &rt->lay;
    fprintf(stderr, "eactors: layout: pid=%d arena_fd=%d arena_size=%zu stop_offset=%zu\n",
            (int)eai_pid(), rt->arena_fd, l->size, offsetof(struct eai_hdr, stop));
    for (int w = 0; w < rt->dep->nworkers; w++)
        fprintf(stderr,
                "eactors: layout: worker=%s ready_offset=%zu ready_capacity=%u "
                "state_offset=%zu\n",
                rt->dep->workers[w].name, l->off_ready[w], l->ready_cap[w],
                l->off_wk + (size_t)w * sizeof(struct eai_wk_shm));
    for (int a = 0; a < rt->dep->nactors; a++)
        fprintf(stderr, "eactors: layout: actor=%s id=%d worker=%s record_offset=%zu\n",
                rt->dep->actors[a].name, a, rt->dep->workers[rt->dep->actors[a].worker].name,
                l->off_rec + (size_t)a * sizeof(struct eai_rec));
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
    for (int i = 0; i < rt->dep->nstores; i++)
        if (l->off_store[i] != SIZE_MAX)
            fprintf(stderr, "eactors: layout: store=%s offset=%zu size=%llu\n",
                    rt->dep->stores[i].name, l->off_store[i],
                    (unsigned long long)rt->dep->stores[i].size);
}

/* The platform service ended: a failure unless it left cleanly at shutdown. */
static bool report_platform(struct eai_rt *rt, int status, bool shutting_down)
{
    /* Status 0: it left because every enclave closed its line (they all
     * ended, or failed to start and said why). Never the service's fault. */
    (void)shutting_down;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return false;
    char msg[sizeof rt->hdr->platform_msg];
    memcpy(msg, rt->hdr->platform_msg, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    fprintf(stderr, "eactors: the platform service ended%s%s\n", msg[0] ? ": " : "",
            msg[0] ? msg : " unexpectedly");
    return true;
}

bool eai_report_child(struct eai_rt *rt, int enclave, int status, bool shutting_down)
{
    if (enclave < 0)
        return report_platform(rt, status, shutting_down);
    const char *en = rt->dep->enclaves[enclave].name;
    struct eai_encl_shm *e = &rt->encl[enclave];
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
    /* Status 0: it left because every enclave closed its line (they all
     * ended, or failed to start and said why). Never the service's fault. */
    (void)shutting_down;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return false;
    if (WIFSIGNALED(status))
        fprintf(stderr, "eactors: enclave '%s' was killed by %s\n", en,
                eai_signal_name(WTERMSIG(status)));
    else
        fprintf(stderr, "eactors: enclave '%s' exited unexpectedly (status %d)\n", en,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return true;
}

bool eai_report_actor_failure(struct eai_rt *rt)
{
    uint32_t fa = atomic_load_explicit(&rt->hdr->fail_actor, memory_order_acquire);
    if (fa == 0 || fa > rt->lay.nactors)
        return false;
    char nb[EAI_NAME_MAX];
    int ferr = atomic_load_explicit(&rt->hdr->fail_err, memory_order_relaxed);
    const char *dn = actor_domain(rt, fa - 1);
    fprintf(stderr, "eactors: actor '%s' in %s%s%s failed: %s (%d)\n",
            actor_name(rt, fa - 1, nb, sizeof nb), strcmp(dn, "host") ? "enclave '" : "", dn,
            strcmp(dn, "host") ? "'" : "", ea_strerror(ferr), ferr);
    return true;
}

void eai_report_summary(struct eai_rt *rt, double secs, const char *mode, FILE *out)
{
    static const char *const st[] = {"unused", "live", "done", "FAILED"};
    fprintf(out, "eactors: summary after %.3f s (platform: %s)\n", secs, mode);
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

/* "; FAILED: <error>: <reason>" for end `end` of channel record cs, or "". */
static void end_failure(struct eai_chan_shm *cs, int end, char *buf, size_t len)
{
    /* Acquire pairs with the release store in cargo.c's conn_fail: the
     * reason was written before. */
    int failed = atomic_load_explicit(&cs->failed[end], memory_order_acquire);
    if (failed == 0) {
        buf[0] = '\0';
        return;
    }
    char why[sizeof cs->why[0]];
    clean_copy(why, cs->why[end], sizeof why);
    snprintf(buf, len, "; FAILED: %s%s%s", ea_strerror(failed), why[0] ? ": " : "", why);
}

void eai_report_channels(struct eai_rt *rt, FILE *out)
{
    const eai_deploy_t *d = rt->dep;
    for (int c = 0; c < d->nchannels; c++) {
        const eai_dep_channel_t *ch = &d->channels[c];
        struct eai_chan_shm *cs = &rt->cshm[c];
        int da = eai_domain_of_actor(d, ch->a), db = eai_domain_of_actor(d, ch->b);
        const char *kind = rt->lay.chan_aead[c] ? "AEAD (AES-128-GCM), public arena"
                           : da == db           ? "plain, private memory"
                           : (da > 0 && db > 0) ? "plain, public arena, INSECURE (protect=plain)"
                                                : "plain, public arena (host endpoint)";
        fprintf(out, "channel %-14s %s <-> %s: %s\n", ch->name, d->actors[ch->a].name,
                d->actors[ch->b].name, kind);
        bool trouble = false;
        for (int end = 0; end < 2; end++) {
            const char *who = d->actors[end == 0 ? ch->a : ch->b].name;
            char fail[64 + sizeof cs->why[0]];
            end_failure(cs, end, fail, sizeof fail);
            trouble |= fail[0] != '\0';
            if (rt->lay.chan_aead[c]) {
                char acc[sizeof cs->accepted[0]];
                clean_copy(acc, cs->accepted[end], sizeof acc);
                fprintf(out, "  %s accepted %s; auth failures %u%s\n", who,
                        acc[0] ? acc : "(no peer yet)",
                        atomic_load_explicit(&cs->auth_fail[end], memory_order_relaxed), fail);
            } else if (fail[0] != '\0') {
                fprintf(out, "  %s%s\n", who, fail);
            }
        }
        for (int from = 0; from < 2; from++) {
            unsigned n = eai_watchdog_stalls(c, from);
            if (n == 0)
                continue;
            trouble = true;
            fprintf(out, "  watchdog: %s -> %s stalled %u time(s)\n",
                    d->actors[from == 0 ? ch->a : ch->b].name,
                    d->actors[from == 0 ? ch->b : ch->a].name, n);
        }
        if (!trouble)
            continue;
        /* Reports from the arena: what each end says it sent and received. */
        fprintf(
            out,
            "  messages: %s -> %s %llu sent, %llu received; %s -> %s %llu sent, %llu received\n",
            d->actors[ch->a].name, d->actors[ch->b].name,
            (unsigned long long)atomic_load_explicit(&cs->end[0].sent, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&cs->end[1].recv, memory_order_relaxed),
            d->actors[ch->b].name, d->actors[ch->a].name,
            (unsigned long long)atomic_load_explicit(&cs->end[1].sent, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&cs->end[0].recv, memory_order_relaxed));
    }
    unsigned stalls = eai_watchdog_total();
    if (stalls > 0)
        fprintf(out, "eactors: watchdog: %u stalled channel report(s)\n", stalls);
}

/* The arena's per-actor and per-channel parts come from the layout; each
 * domain's private part is what that domain reported. */
void eai_report_memory(struct eai_rt *rt, FILE *out)
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
