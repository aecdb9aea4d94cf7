/*
 * The system actor's timers: TIMER_SET, TIMER_CANCEL, and the TIMER_FIRE
 * messages a timer sends by itself.
 *
 * Design notes.
 *
 * A timer is a non-blocking timerfd in the system actor's epoll set, so it
 * costs nothing while it waits and its expiry arrives as readiness like a
 * socket's. Reading the timerfd returns the expirations since the last read
 * and resets the count, so each readiness report yields one FIRE carrying
 * every expiration in arg64, and none is lost or counted twice.
 *
 * A FIRE has no request to answer: it carries the request id of the
 * TIMER_SET and the timer's handle. If the requester's channel is full, the
 * FIRE waits in its backlog like any completion; the handle remembers it
 * (`fire`), and the expirations that arrive meanwhile are added to it
 * instead of queueing another. So a periodic timer whose requester does not
 * read never holds more than one message in the backlog. The core forgets
 * `fire` when that message goes out or the timer is closed (a FIRE already
 * queued then still goes out, naming a closed handle).
 *
 * A first expiry of 0 would disarm a timerfd, so it is taken as 1 ns.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "sys/sys_int.h"

static void do_timer_set(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    uint64_t first = req->arg64 != 0 ? req->arg64 : 1; /* 0 would disarm */
    struct itimerspec its = {
        .it_value = {(time_t)(first / 1000000000u), (long)(first % 1000000000u)},
        .it_interval = {(time_t)(req->arg / 1000u), (long)(req->arg % 1000u) * 1000000L}};
    if (!eai_sys_may_open(s, ci, req, H_TIMER))
        return; /* before the timerfd: a requester at its limit costs nothing */
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        eai_sys_complete_errno(s, ci, req, errno);
        return;
    }
    struct handle *h = eai_sys_handle_new(s, ci, fd, H_TIMER, EPOLLIN);
    if (h == NULL) {
        close(fd);
        eai_sys_complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    h->timer_req = req->req_id;
    if (timerfd_settime(fd, 0, &its, NULL) != 0) {
        int e = errno;
        eai_sys_handle_close(s, h);
        eai_sys_complete_errno(s, ci, req, e);
        return;
    }
    eai_sys_complete(s, ci, req, eai_sys_handle_id(s, h));
}

void eai_sys_timer(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    switch (req->op) {
    case EA_TIMER_SET: do_timer_set(s, ci, req); break;
    case EA_TIMER_CANCEL: eai_sys_close(s, ci, req, 1u << H_TIMER); break;
    }
}

void eai_sys_timer_ready(struct sys *s, struct handle *h)
{
    uint64_t n = 0;
    if (read(h->fd, &n, sizeof n) != (ssize_t)sizeof n || n == 0)
        return;
    if (h->fire != NULL) { /* the last FIRE still waits: count into it */
        h->fire->hdr.arg64 += n;
        return;
    }
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = EA_TIMER_FIRE,
                      .req_id = h->timer_req,
                      .handle = eai_sys_handle_id(s, h),
                      .arg64 = n};
    struct out *o = eai_sys_emit(s, (unsigned)h->conn, &m, NULL);
    if (o != NULL) {
        o->timer = (uint32_t)(h - s->h) + 1;
        h->fire = o;
    }
}
