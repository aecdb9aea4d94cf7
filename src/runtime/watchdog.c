/*
 * Channel watchdog: a channel with messages pending and no progress.
 *
 * Design notes. Each end of a deployment channel publishes in the arena how
 * many messages it pushed (`sent`) and popped (`recv`), with plain stores
 * of its private counts (cargo.c). For a direction, sent - recv messages
 * are pending; progress is the receiver's `recv` moving. Checks a
 * connector makes itself catch structures that no longer make sense, but
 * only when that end runs; a host that stops waking an actor, or rewrites a
 * cell so that it looks empty, leaves nothing for the connector to see.
 * That is what the watchdog reports: pending > 0, the receiving actor live,
 * no end failed (a failure was reported already), the run not stopping,
 * and `recv` unchanged for the limit. An idle channel has nothing pending
 * and a slow one moves `recv`, so neither is reported; a stall is reported
 * once, and again only after progress resumed and stopped again.
 *
 * The counters are hostile input like the rest of the arena: they only
 * decide what is printed. The state is this file's own (the launcher runs
 * one deployment per process); it is allocated on the first tick and stays
 * reachable until the process ends.
 */
#include "runtime/watchdog.h"

#include <stdio.h>
#include <stdlib.h>

#define PERIOD_NS (500u * 1000000u)

struct dir_state {
    uint64_t recv;     /* receiver's count at the last change */
    uint64_t since_ns; /* when it last changed or pending was 0 */
    bool reported;     /* this stall was reported */
    unsigned stalls;   /* stalls reported in the run */
};

static struct {
    struct dir_state *dir; /* 2 per channel */
    int nchannels;
    uint64_t limit_ns, next_ns;
    unsigned total;
} wd;

static uint64_t limit_secs(void)
{
    const char *v = getenv("EACTORS_WATCHDOG_SECS");
    if (v == NULL || *v == '\0')
        return EAI_WATCHDOG_SECS;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    return (*end == '\0' && n >= 1 && n <= 3600) ? n : EAI_WATCHDOG_SECS;
}

/* Looks at one direction: `from` sends, the other end receives. */
static void check(struct eai_rt *rt, int c, int from, uint64_t now)
{
    const eai_dep_channel_t *ch = &rt->dep->channels[c];
    struct eai_chan_shm *cs = &rt->cshm[c];
    struct dir_state *st = &wd.dir[2 * c + from];
    int to = from ^ 1;
    int rx_actor = to == 0 ? ch->a : ch->b, tx_actor = to == 0 ? ch->b : ch->a;
    /* Relaxed: reports, read twice a second. */
    uint64_t sent = atomic_load_explicit(&cs->end[from].sent, memory_order_relaxed);
    uint64_t recv = atomic_load_explicit(&cs->end[to].recv, memory_order_relaxed);
    bool failed = atomic_load_explicit(&cs->failed[0], memory_order_relaxed) != 0 ||
                  atomic_load_explicit(&cs->failed[1], memory_order_relaxed) != 0;
    bool live = atomic_load_explicit(&rt->rec[rx_actor].status, memory_order_relaxed) == EAI_A_LIVE;
    if (recv != st->recv || sent == recv || failed || !live) {
        st->recv = recv;
        st->since_ns = now;
        st->reported = false;
        return;
    }
    if (st->reported || now - st->since_ns < wd.limit_ns)
        return;
    st->reported = true;
    st->stalls++;
    wd.total++;
    fprintf(stderr,
            "eactors: watchdog: channel '%s' (%s -> %s): %llu messages pending, no progress for "
            "%llu s\n",
            ch->name, rt->dep->actors[tx_actor].name, rt->dep->actors[rx_actor].name,
            (unsigned long long)(sent - recv),
            (unsigned long long)((now - st->since_ns) / 1000000000u));
}

void eai_watchdog_tick(struct eai_rt *rt)
{
    uint64_t now = eai_clock_ns();
    if (wd.dir == NULL) {
        if (rt->dep->nchannels == 0 ||
            (wd.dir = calloc(2 * (size_t)rt->dep->nchannels, sizeof *wd.dir)) == NULL)
            return;
        wd.nchannels = rt->dep->nchannels;
        wd.limit_ns = limit_secs() * 1000000000u;
        for (int i = 0; i < 2 * wd.nchannels; i++)
            wd.dir[i].since_ns = now;
        wd.next_ns = now;
    }
    if (now < wd.next_ns)
        return;
    wd.next_ns = now + PERIOD_NS;
    if (atomic_load_explicit(&rt->hdr->stop, memory_order_acquire) != 0)
        return;
    for (int c = 0; c < wd.nchannels; c++)
        for (int from = 0; from < 2; from++)
            check(rt, c, from, now);
}

unsigned eai_watchdog_stalls(int chan, int dir)
{
    if (wd.dir == NULL || chan < 0 || chan >= wd.nchannels || dir < 0 || dir > 1)
        return 0;
    return wd.dir[2 * chan + dir].stalls;
}

unsigned eai_watchdog_total(void)
{
    return wd.total;
}
