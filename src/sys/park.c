/*
 * The system actor's park: its worker sleeps in one io_uring wait for both
 * the actor's descriptors and the wake-ups of its requesters, so readiness
 * reaches the actor without a thread in between.
 *
 * Design notes.
 *
 * Two requests stay in the ring (liburing, Debian's liburing-dev):
 *  - a multishot poll of the epoll set: a completion each time a descriptor
 *    becomes ready (the epoll set's wait queue is woken). The actor then
 *    takes every ready event in one epoll_wait(0) (sys.c, drain_events).
 *  - a futex wait (IORING_OP_FUTEX_WAIT, Linux 6.7) on the worker's `state`
 *    word while it holds PARKED: a requester's wake (eai_wake: exchange
 *    PARKED -> RUNNING, futex wake, shared futex on the arena) completes it
 *    exactly as it would end the worker's own futex wait, so wakers need
 *    not know about the ring. One that completes with -EAGAIN found the
 *    word changed already (a wake came first).
 * Both are re-armed only when they complete; a futex wait armed in one park
 * and not woken stays armed for the next (the word holds PARKED again then,
 * and only a waker that moves it away wakes the futex).
 *
 * Completions are written to the ring's memory by the kernel, so the
 * worker's poll between steps is two loads, no system call: the worker
 * sees I/O while it runs or spins without entering the kernel, and enters
 * it only to sleep (io_uring_submit_and_wait) or to re-arm.
 *
 * Where io_uring or its futex wait is missing (older kernels, a seccomp
 * profile that refuses io_uring_setup, a second system actor on the same
 * worker), eai_sys_park_start fails and sys.c keeps its io thread.
 *
 * Everything here runs on the actor's worker thread.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>

#include "core/sysapi.h"
#include "sys/sys_int.h"

/* IORING_OP_FUTEX_WAIT and FUTEX2_SIZE_U32 (Linux 6.7): newer than the
 * headers of Debian 12, whose kernel lacks the operation (the probe then
 * fails and the io thread is used). */
#define OP_FUTEX_WAIT 51
#define FUTEX2_U32 0x02u
#define FUTEX_MATCH_ANY 0xffffffffu

enum { TAG_POLL = 1, TAG_FUTEX = 2 };

struct eai_sys_park {
    struct io_uring ring;
    eai_io_park_t hook;
    bool poll_armed, futex_armed;
};

/* Completions the kernel holds back for us: COOP_TASKRUN work not run yet
 * (it does not interrupt the worker to post them; it raises a flag in the
 * ring), or completions that found the completion ring full and wait in
 * the kernel's overflow list. The multishot poll posts one per wake of the
 * epoll set, so a burst (200 timers at 1 ms) overflows the ring, and the
 * poll's last completion (the one without F_MORE: re-arm me) can be among
 * the held ones: never fetched, the poll was never re-armed and the actor
 * saw no more I/O (test_pool_full_of_requests, 1 run in 4 under ASan).
 * io_uring_get_events (an io_uring_enter with GETEVENTS) runs the one and
 * flushes the other. */
static bool held_back(struct io_uring *ring)
{
    return (IO_URING_READ_ONCE(*ring->sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) !=
           0;
}

static void prep_futex(struct io_uring_sqe *sqe, _Atomic uint32_t *word, uint32_t val)
{
    io_uring_prep_rw(OP_FUTEX_WAIT, sqe, (int)FUTEX2_U32, (const void *)word, 0, val);
    sqe->addr3 = FUTEX_MATCH_ANY;
    io_uring_sqe_set_data64(sqe, TAG_FUTEX);
}

/* Arms the poll of the epoll set if it is not. False if no SQE is free. */
static bool arm_poll(struct sys *s)
{
    struct eai_sys_park *p = s->park;
    if (p->poll_armed)
        return true;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
    if (sqe == NULL)
        return false;
    io_uring_prep_poll_multishot(sqe, s->epfd, POLLIN);
    io_uring_sqe_set_data64(sqe, TAG_POLL);
    p->poll_armed = true;
    return true;
}

/* Takes every completion; returns true if the epoll set had news. */
static bool reap(struct sys *s)
{
    struct eai_sys_park *p = s->park;
    bool news = false;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&p->ring, head, cqe)
    {
        n++;
        if (cqe->user_data == TAG_FUTEX) {
            p->futex_armed = false;
        } else if (cqe->user_data == TAG_POLL) {
            news = true;
            if (!(cqe->flags & IORING_CQE_F_MORE))
                p->poll_armed = false; /* the multishot ended (overflow, error) */
        }
    }
    io_uring_cq_advance(&p->ring, n);
    if (!p->poll_armed && arm_poll(s))
        (void)io_uring_submit(&p->ring);
    if (news)
        s->io_ready = true;
    return news;
}

void eai_sys_park_reap(struct sys *s)
{
    if (s->park == NULL)
        return;
    if (io_uring_cq_ready(&s->park->ring) == 0 && held_back(&s->park->ring))
        (void)io_uring_get_events(&s->park->ring);
    if (io_uring_cq_ready(&s->park->ring) > 0)
        (void)reap(s);
}

static void park_poll(void *arg)
{
    struct sys *s = arg;
    struct io_uring *ring = &s->park->ring;
    if (io_uring_cq_ready(ring) == 0 && held_back(ring))
        (void)io_uring_get_events(ring);
    if (io_uring_cq_ready(ring) > 0 && reap(s))
        eai_actor_wake(s->self);
}

static void park_wait(void *arg, _Atomic uint32_t *state, uint32_t parked)
{
    struct sys *s = arg;
    struct eai_sys_park *p = s->park;
    if (io_uring_cq_ready(&p->ring) == 0 && held_back(&p->ring))
        (void)io_uring_get_events(&p->ring);
    if (io_uring_cq_ready(&p->ring) == 0) {
        if (!p->futex_armed) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
            if (sqe != NULL) {
                prep_futex(sqe, state, parked);
                p->futex_armed = true;
            }
        }
        (void)arm_poll(s);
        s->io_waits++;
        /* EINTR and the like: a spurious return, the worker looks again. */
        (void)io_uring_submit_and_wait(&p->ring, 1);
    }
    if (reap(s))
        eai_actor_wake(s->self);
}

/* Does this kernel have the futex wait? One on a word that does not hold
 * the value must fail with -EAGAIN at once; an unknown op gives -EINVAL. */
static bool probe_futex(struct io_uring *ring)
{
    _Atomic uint32_t word = 0;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe == NULL)
        return false;
    prep_futex(sqe, &word, 1);
    struct io_uring_cqe *cqe;
    if (io_uring_submit_and_wait(ring, 1) < 0 || io_uring_peek_cqe(ring, &cqe) != 0)
        return false;
    bool ok = cqe->res == -EAGAIN;
    io_uring_cqe_seen(ring, cqe);
    return ok;
}

bool eai_sys_park_start(struct sys *s)
{
    struct eai_sys_park *p = calloc(1, sizeof *p);
    if (p == NULL)
        return false;
    /* Cooperative task running: a ready descriptor does not interrupt the
     * running worker (an IPI per readiness); the worker finds the flag at
     * its next poll. Kernels before 5.19 refuse the flags: then none. */
    if (io_uring_queue_init(8, &p->ring, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG) !=
            0 &&
        io_uring_queue_init(8, &p->ring, 0) != 0) {
        free(p);
        return false;
    }
    p->hook = (eai_io_park_t){park_poll, park_wait, s};
    s->park = p;
    if (!probe_futex(&p->ring) || !arm_poll(s) || io_uring_submit(&p->ring) != 1 ||
        !eai_worker_io_park(s->self, &p->hook)) {
        s->park = NULL;
        io_uring_queue_exit(&p->ring);
        free(p);
        return false;
    }
    /* Whatever became ready before the poll was armed. */
    s->io_ready = true;
    return true;
}

void eai_sys_park_stop(struct sys *s)
{
    struct eai_sys_park *p = s->park;
    if (p == NULL)
        return;
    (void)eai_worker_io_park(s->self, NULL);
    io_uring_queue_exit(&p->ring); /* cancels the poll and the futex wait */
    free(p);
    s->park = NULL;
}
