/*
 * Scheduling: ready queues, waking, and the worker loop.
 *
 * Design notes. Each worker owns a bounded MPMC mbox of actor ids (its ready
 * queue) in the public arena, and each actor has a `queued` word. An actor id
 * is in its worker's ready queue at most once: whoever flips `queued` from 0
 * to 1 pushes it. Since the queue has room for every actor that can be bound
 * to the worker, the push cannot fail on an intact arena.
 *
 * Lost wake-ups are excluded by a Dekker pair of sequentially consistent
 * fences:
 *   sender:  push message to mbox; fence; if queued == 0 -> exchange, push id
 *   worker:  queued = 0;          fence; run body (which pops the mbox)
 * Either the sender sees queued == 0 and enqueues the actor again, or the
 * body's pop sees the message. The same pattern covers parking:
 *   waker:   push id to ready;    fence; if state == PARKED -> wake
 *   worker:  state = PARKED;      fence; if ready non-empty -> do not sleep
 * and the futex re-checks state == PARKED in the kernel before sleeping.
 *
 * A worker that runs a system actor may instead park in that actor's own
 * wait (eai_io_park_t, core/sysapi.h): one kernel wait for the actor's
 * descriptors and for a futex wake on the same `state` word, so that
 * wakers need not know. Its poll runs after every step of that worker; on
 * every other worker `io` is NULL and costs one predicted branch after a
 * step and in the spin loop, nothing in the wake path.
 *
 * Batched wake-ups. The wake-ups a body asks for during its step (its
 * sends, its releases of nodes a peer waits for, eai_actor_wake) are kept
 * in a small thread-local list, one per peer, and made when the body
 * returns (defer_flush). A peer that gets 40 messages in one step is woken
 * once, after the last, rather than at the first and again every time it
 * parked in between; that futex traffic was about a third of the I/O
 * path's CPU. A deferred wake is just a late waker: its push came before,
 * and the fence and the checks of `queued` and `state` come after, which
 * is all the pairs above need. The delay is at most one step, and steps
 * never block. A step that wakes more peers than the list holds wakes the
 * rest at once. Constructors and wakes outside a step are not deferred.
 *
 * Adaptive spinning (idle="adaptive"; the default, idle="park", spins a
 * fixed `spin` polls). A worker with an empty queue spins up to `spin_cur`
 * empty polls before it parks; `spin_cur` moves between spin /
 * EAI_SPIN_SHRINK and spin * EAI_SPIN_GROW (`spin="N"`, 0 never spins). A
 * park is timed (one clock read before the wait, one after): when the
 * wake-up came within the longest spin allowed, a longer spin would have
 * caught the work without a futex sleep and wake-up (60-100 us of latency
 * on a VM, two system calls), so the budget grows to cover that gap once
 * more with a margin; when it came later, the budget halves. A spin that
 * ends with work in the last quarter of its budget doubles it. Every
 * SPIN_YIELD_EVERY polls the spinner yields the CPU (sched_yield), so a
 * spinner that shares its CPU with the thread that would give it work
 * (wrk, a peer worker) lets it run instead of holding the CPU to the end
 * of its time slice; a yield that took longer than SPIN_YIELD_BUSY_NS
 * means another thread did run, the CPU is contended and every poll more
 * takes time from the threads with work, so the worker parks at once and
 * halves its budget. A worker with `spin="0"` neither spins nor times its
 * parks.
 *
 * Idle actors are never polled: only ids in the ready queue run, so the cost
 * per message does not depend on how many idle actors a worker holds.
 *
 * What the arena decides, and what it does not. The host can rewrite every
 * arena word at any time, so an arena word may only decide something whose
 * worst outcome is denial of service:
 *  - ready queue and `queued`: which actor runs next and how often. A forged
 *    id is checked (in range, an actor of this worker: lookup()); a forged
 *    or duplicated push only runs a live actor's body once more, which
 *    bodies allow anyway (EA_IDLE means "not before the next wake-up", and
 *    peers that end, free a node or stop wake actors without a message).
 *    A `queued` left at 1 or a full ready queue stalls the actor.
 *  - worker `state` (parking): a lost or spurious futex wake-up.
 *  - `shutdown`: workers leave their loops early (the run ends) or late
 *    (the launcher kills the process).
 * Two things would be more than that, so they are private:
 *  - whether an actor may run at all: ea_actor.status. Once an actor has
 *    returned EA_DONE or failed, its body may have freed what it used;
 *    running it again would be a use after free. rec->status is only
 *    written, for the launcher's summary.
 *  - whether the run is stopping: eai_domain.stopping, latched from the
 *    arena's `stop` the first time the domain sees it and never cleared.
 *    A host that sets `stop` early stops the run (DoS); one that sets it
 *    back to 0 cannot make actors that saw ea_stopping() true see it false.
 */
#include <stdio.h>
#include <string.h>

#include "core/rt.h"
#include "core/sysapi.h"

_Thread_local struct ea_actor *eai_current;

/* Wake-ups asked for during one step, made when the step ends (see
 * "Batched wake-ups" above). Thread-local: only the worker running the
 * step touches it. */
#define DEFER_MAX 16u
struct deferred {
    bool on; /* inside a step */
    uint32_t n;
    struct {
        struct eai_rec *s;
        ea_mbox_t *ready;
        struct eai_wk_shm *wk;
        uint32_t id;
    } v[DEFER_MAX];
};
static _Thread_local struct deferred defer;

static void wake_now(struct eai_rec *s, ea_mbox_t *ready, struct eai_wk_shm *wk, uint32_t id);

/* Makes the wake-ups deferred during the step that just ended. */
static void defer_flush(void)
{
    defer.on = false;
    for (uint32_t i = 0; i < defer.n; i++)
        wake_now(defer.v[i].s, defer.v[i].ready, defer.v[i].wk, defer.v[i].id);
    defer.n = 0;
}

void eai_wake(struct eai_rec *s, ea_mbox_t *ready, struct eai_wk_shm *wk, uint32_t id)
{
    if (defer.on) {
        for (uint32_t i = 0; i < defer.n; i++)
            if (defer.v[i].s == s)
                return; /* one wake-up at the end of the step covers both */
        if (defer.n < DEFER_MAX) {
            defer.v[defer.n].s = s;
            defer.v[defer.n].ready = ready;
            defer.v[defer.n].wk = wk;
            defer.v[defer.n].id = id;
            defer.n++;
            return;
        }
    }
    wake_now(s, ready, wk, id);
}

static void wake_now(struct eai_rec *s, ea_mbox_t *ready, struct eai_wk_shm *wk, uint32_t id)
{
    /* Pairs with the fence in run_one() after queued = 0. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->queued, memory_order_relaxed) != 0)
        return;
    if (atomic_exchange_explicit(&s->queued, 1, memory_order_relaxed) != 0)
        return;
    if (ea_mbox_try_push(ready, id) != EA_OK) {
        /* Only a corrupt arena fills a ready queue; leave queued set so the
         * actor is not pushed twice, the run's stop path still ends it. */
        return;
    }
    /* Pairs with the fence in park() after state = PARKED. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&wk->state, memory_order_relaxed) == EAI_W_PARKED &&
        atomic_exchange_explicit(&wk->state, EAI_W_RUNNING, memory_order_relaxed) == EAI_W_PARKED)
        eai_futex_wake(&wk->state, 1);
}

void eai_wake_all_workers(struct eai_rt *rt)
{
    for (int w = 0; w < rt->dep->nworkers; w++) {
        atomic_store_explicit(&rt->wk[w].state, EAI_W_RUNNING, memory_order_seq_cst);
        eai_futex_wake(&rt->wk[w].state, 1);
    }
}

/* Sets the domain's private stop latch; the first caller wakes the
 * domain's workers, so that each runs its live actors once more even if
 * the arena's flag is 0 again by the time a worker looks at it. */
void eai_domain_stop(struct eai_domain *dom)
{
    /* seq_cst: ordered before the stores of RUNNING below. A worker that
     * stored PARKED and then missed this latch in park() has its PARKED
     * overwritten, so its futex wait returns at once. */
    if (atomic_exchange_explicit(&dom->stopping, 1, memory_order_seq_cst) != 0)
        return;
    for (int i = 0; i < dom->nworkers; i++) {
        atomic_store_explicit(&dom->workers[i].shm->state, EAI_W_RUNNING, memory_order_seq_cst);
        eai_futex_wake(&dom->workers[i].shm->state, 1);
    }
}

void eai_request_stop(struct eai_rt *rt)
{
    atomic_store_explicit(&rt->hdr->stop, 1, memory_order_seq_cst);
    eai_wake_all_workers(rt);
    atomic_fetch_add_explicit(&rt->hdr->event, 1, memory_order_seq_cst);
    eai_futex_wake(&rt->hdr->event, 1);
}

/* Ends actor `a` for good: its private status first (from here on its
 * worker never runs it again, whatever the arena says), then the reports. */
static void actor_end(struct ea_actor *a, uint32_t status, int err)
{
    struct eai_rt *rt = a->dom->rt;
    /* Pairs with the acquire in eai_conn_peer_live(). */
    atomic_store_explicit(&a->status, status == EAI_A_FAILED ? EAI_S_FAILED : EAI_S_DONE,
                          memory_order_release);
    atomic_store_explicit(&a->rec->err, err, memory_order_relaxed);
    /* Pairs with the launcher's acquire when it reports the run. */
    atomic_store_explicit(&a->rec->status, status, memory_order_release);
    /* Peers learn of the end at their next step (a system actor closes the
     * descriptors the actor held). */
    for (uint32_t i = 0; i < a->nconns; i++)
        eai_wake(a->conns[i]->peer_rec, a->conns[i]->peer_ready, a->conns[i]->peer_wk,
                 a->conns[i]->peer);
    if (status == EAI_A_FAILED) {
        uint32_t none = 0;
        if (atomic_compare_exchange_strong_explicit(&rt->hdr->fail_actor, &none, a->id + 1,
                                                    memory_order_acq_rel, memory_order_relaxed))
            atomic_store_explicit(&rt->hdr->fail_err, err, memory_order_relaxed);
        atomic_fetch_sub_explicit(&rt->hdr->live, 1, memory_order_acq_rel);
        /* The failing actor's own domain stops even if the host clears the
         * request below before the domain has read it. */
        eai_domain_stop(a->dom);
        eai_request_stop(rt);
        return;
    }
    /* The last actor to finish wakes the launcher. */
    if (atomic_fetch_sub_explicit(&rt->hdr->live, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_add_explicit(&rt->hdr->event, 1, memory_order_seq_cst);
        eai_futex_wake(&rt->hdr->event, 1);
    }
}

static void requeue(struct eai_worker *w, struct ea_actor *a)
{
    if (atomic_exchange_explicit(&a->rec->queued, 1, memory_order_relaxed) == 0)
        (void)ea_mbox_try_push(w->ready, a->id);
}

/* Runs one step of actor `a` (constructor or body) and acts on its result. */
static void run_one(struct eai_worker *w, struct ea_actor *a)
{
    /* The private status alone decides (relaxed: only this thread writes
     * it). An ended actor's id still arrives after a late wake-up, or when
     * the host pushes it; it is dropped, and its `queued` stays as it is
     * (peers that see 1 do not push it again). */
    if (atomic_load_explicit(&a->status, memory_order_relaxed) != EAI_S_LIVE)
        return;
    /* Pairs with the fence in eai_wake(): from here on a new message makes
     * the sender push this actor again. */
    atomic_store_explicit(&a->rec->queued, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);

    /* Whether this step starts after the domain saw the stop request: only
     * such a step has had the chance to see ea_stopping(). */
    bool stop_before = eai_domain_stopping(w->dom);
    eai_current = a;
    atomic_store_explicit(&w->shm->current, a->id + 1, memory_order_relaxed);
    int rc;
    if (!a->constructed) {
        rc = a->type->ctor != NULL ? a->type->ctor(a, a->state) : EA_OK;
        if (rc == EA_OK) {
            a->constructed = true;
            rc = EA_BUSY; /* the body runs at least once */
        } else if (rc == EA_AGAIN) {
            rc = EA_BUSY;
        } else if (rc > 0) {
            rc = EA_ERR_INVAL; /* a constructor may not return idle/busy/done */
        }
    } else {
        defer.on = true;
        rc = a->type->body(a, a->state);
        defer_flush();
        atomic_store_explicit(&a->rec->steps,
                              atomic_load_explicit(&a->rec->steps, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&w->shm->current, 0, memory_order_relaxed);
    eai_current = NULL;

    switch (rc) {
    case EA_BUSY: requeue(w, a); break;
    case EA_IDLE:
        /* While the run stops, an actor that saw the stop request and has
         * nothing left to do is done; one that may have missed it runs
         * once more. */
        if (stop_before && a->constructed)
            actor_end(a, EAI_A_DONE, 0);
        else if (eai_domain_stopping(w->dom))
            requeue(w, a);
        break;
    case EA_DONE: actor_end(a, EAI_A_DONE, 0); break;
    default:
        if (rc < 0) {
            atomic_fetch_add_explicit(&a->rec->errors, 1, memory_order_relaxed);
            actor_end(a, EAI_A_FAILED, rc);
        } else {
            actor_end(a, EAI_A_FAILED, EA_ERR_INVAL);
        }
        break;
    }
}

/* Is actor id `id` one that worker `w` may run? Ids come from the arena. */
static struct ea_actor *lookup(struct eai_worker *w, uint32_t id)
{
    struct eai_rt *rt = w->rt;
    if (id >= rt->lay.nactors)
        return NULL;
    struct ea_actor *a = atomic_load_explicit(&rt->actors[id], memory_order_acquire);
    if (a == NULL || a->worker != w)
        return NULL;
    return a;
}

/* On a stop request every live actor of this worker runs once more, so it
 * sees ea_stopping() and can finish. */
static void on_stop(struct eai_worker *w)
{
    struct eai_rt *rt = w->rt;
    w->stop_seen = true;
    for (uint32_t id = 0; id < rt->lay.nactors; id++) {
        struct ea_actor *a = lookup(w, id);
        if (a != NULL && atomic_load_explicit(&a->status, memory_order_relaxed) == EAI_S_LIVE)
            requeue(w, a);
    }
}

/* Adaptive spinning (see above). */
#define EAI_SPIN_GROW 16u
#define EAI_SPIN_SHRINK 4u
#define SPIN_YIELD_EVERY 32u
#define SPIN_YIELD_BUSY_NS 10000u

static uint32_t spin_max(const struct eai_worker *w)
{
    return w->spin > UINT32_MAX / EAI_SPIN_GROW ? UINT32_MAX : w->spin * EAI_SPIN_GROW;
}

static uint32_t spin_min(const struct eai_worker *w)
{
    return w->spin / EAI_SPIN_SHRINK > 0 ? w->spin / EAI_SPIN_SHRINK : 1;
}

/* A spin of `polls` empty polls found work. */
static void spin_hit(struct eai_worker *w, uint32_t polls)
{
    if (polls > w->spin_cur - w->spin_cur / 4u) {
        uint32_t max = spin_max(w);
        w->spin_cur = w->spin_cur > max / 2u ? max : w->spin_cur * 2u;
    }
}

/* A spin of `polls` polls that took `spin_ns` ended in a park that lasted
 * `park_ns`; `contended`: it ended early because a yield gave the CPU to
 * another thread. */
static void spin_parked(struct eai_worker *w, uint32_t polls, uint64_t spin_ns, uint64_t park_ns,
                        bool contended)
{
    if (contended) {
        uint32_t min = spin_min(w);
        w->spin_cur = w->spin_cur / 2u > min ? w->spin_cur / 2u : min;
        return;
    }
    if (polls > 0 && spin_ns > 0) {
        uint64_t per = spin_ns / polls;
        w->poll_ns = (uint32_t)(per > 0 ? (per < 1000000u ? per : 1000000u) : 1u);
    }
    uint64_t max = spin_max(w);
    uint64_t gap = spin_ns + park_ns;
    uint64_t need = w->poll_ns > 0 ? gap / w->poll_ns : max + 1;
    if (need <= max) {
        /* A spin of `need` polls would have caught it: cover it with half
         * as much again. */
        need += need / 2u;
        w->spin_cur = (uint32_t)(need < max ? (need > w->spin_cur ? need : w->spin_cur) : max);
    } else {
        uint32_t min = spin_min(w);
        w->spin_cur = w->spin_cur / 2u > min ? w->spin_cur / 2u : min;
    }
}

static void park(struct eai_worker *w)
{
    struct eai_hdr *h = w->rt->hdr;
    atomic_store_explicit(&w->shm->state, EAI_W_PARKED, memory_order_relaxed);
    /* Pairs with the fence in eai_wake() after the push. */
    atomic_thread_fence(memory_order_seq_cst);
    if (ea_mbox_nonempty(w->ready) || atomic_load_explicit(&h->shutdown, memory_order_relaxed) ||
        (!w->stop_seen && eai_domain_stopping(w->dom))) {
        atomic_store_explicit(&w->shm->state, EAI_W_RUNNING, memory_order_relaxed);
        return;
    }
    if (w->io != NULL)
        w->io->wait(w->io->arg, &w->shm->state, EAI_W_PARKED);
    else
        eai_futex_wait(&w->shm->state, EAI_W_PARKED, 0);
    atomic_store_explicit(&w->shm->state, EAI_W_RUNNING, memory_order_relaxed);
}

void *eai_worker_main(void *arg)
{
    struct eai_worker *w = arg;
    struct eai_rt *rt = w->rt;
    struct eai_hdr *h = rt->hdr;

    (void)eai_thread_prepare();
    eai_trust_bind(w->dom->tplat);
    /* Tell the domain this thread made its last unconfined call. */
    atomic_fetch_add_explicit(&w->dom->arrived, 1, memory_order_release);
    eai_futex_wake(&w->dom->arrived, 1);
    /* Wait for the domain's gate: the enclave is confined before any actor
     * code runs on this thread. */
    while (atomic_load_explicit(&w->dom->gate, memory_order_acquire) == 0)
        eai_futex_wait(&w->dom->gate, 0, 0);

    /* Every deployment actor starts queued on its worker. */
    for (uint32_t id = 0; id < rt->lay.ndep_actors; id++) {
        struct ea_actor *a = lookup(w, id);
        if (a != NULL)
            requeue(w, a);
    }

    uint32_t polls = 0;
    uint64_t idle_t0 = 0;   /* clock at the first empty poll (idle="adaptive") */
    bool contended = false; /* a yield of this spin gave the CPU away */
    w->spin_cur = w->spin;
    w->poll_ns = 0;
    for (;;) {
        uint32_t id;
        if (ea_mbox_try_pop(w->ready, &id) == EA_OK) {
            if (polls > 0 && w->idle == EAI_IDLE_ADAPTIVE && !contended)
                spin_hit(w, polls);
            contended = false;
            struct ea_actor *a = lookup(w, id);
            if (a != NULL)
                run_one(w, a);
            if (w->io != NULL)
                w->io->poll(w->io->arg);
            polls = 0;
            continue;
        }
        if (atomic_load_explicit(&h->shutdown, memory_order_acquire))
            break;
        if (!w->stop_seen && eai_domain_stopping(w->dom)) {
            on_stop(w);
            continue;
        }
        if (w->idle == EAI_IDLE_ADAPTIVE) {
            if (polls < w->spin_cur && !contended) {
                if (polls == 0)
                    idle_t0 = eai_clock_ns();
                polls++;
                if (w->io != NULL)
                    w->io->poll(w->io->arg);
                if (polls % SPIN_YIELD_EVERY == 0) {
                    uint64_t y0 = eai_clock_ns();
                    eai_thread_yield();
                    /* Another thread ran on this CPU: spinning takes its time. */
                    contended = eai_clock_ns() - y0 > SPIN_YIELD_BUSY_NS;
                } else {
                    eai_cpu_relax();
                }
                continue;
            }
            uint64_t t1 = eai_clock_ns();
            park(w);
            uint64_t t2 = eai_clock_ns();
            if (w->spin > 0)
                spin_parked(w, polls, polls > 0 ? t1 - idle_t0 : 0, t2 - t1, contended);
            polls = 0;
            contended = false;
            continue;
        }
        if (++polls <= w->spin || w->idle == EAI_IDLE_SPIN) {
            if (w->io != NULL)
                w->io->poll(w->io->arg);
            eai_cpu_relax();
            continue;
        }
        park(w);
        polls = 0;
    }
    return NULL;
}
