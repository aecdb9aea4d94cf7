/*
 * One whole file read or written through the system actor, one request at
 * a time (STAT, OPEN, READ or WRITE chunks, FSYNC for writes, CLOSE), for
 * actors in enclaves that keep a sealed file: the secure-sum parties and
 * the XMPP accounts enclave. Header-only; each example includes it once.
 *
 * Use: fio_read() or fio_write(), then hand every system-actor completion
 * to fio_event() and call fio_pending() once per step (it re-sends a
 * request that met back-pressure) until `step` is F_DONE, F_NOFILE or
 * F_ERROR (the reason in `err`). A read leaves the bytes in `buf` (malloc'd
 * here, the caller frees it) and their count in `size`; a write borrows the
 * caller's bytes until it ends.
 */
#ifndef EX_SYS_FILE_H
#define EX_SYS_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_sys.h>

enum { F_IDLE, F_STAT, F_OPEN, F_XFER, F_FSYNC, F_CLOSE, F_DONE, F_NOFILE, F_ERROR };

struct fio {
    int step;
    int writing;
    int replace;    /* write: an existing file may be replaced */
    int missing_ok; /* read: a missing file ends in F_NOFILE, not F_ERROR */
    int64_t req;
    int32_t handle;
    uint64_t size, done, max;
    uint8_t *buf;
    char path[512];
    char err[700];
};

/* The first error is kept; an open file is still closed. */
static void fio_fail(struct fio *f, const char *what, int32_t st)
{
    if (f->err[0] == 0)
        snprintf(f->err, sizeof f->err, "%s %s: %s", what, f->path, ea_sys_strstatus(st));
    f->step = f->handle >= 0 && f->step != F_CLOSE ? F_CLOSE : F_ERROR;
}

/* Sends the request of the current step; one that meets back-pressure is
 * sent again by fio_pending. */
static void fio_issue(struct fio *f, ea_sys_client_t *cl)
{
    uint64_t chunk = EA_SYS_PAYLOAD_MAX(cl->conn);
    uint64_t n = f->size - f->done < chunk ? f->size - f->done : chunk;
    int64_t r;
    switch (f->step) {
    case F_STAT: r = ea_file_stat(cl, f->path); break;
    case F_OPEN:
        r = ea_file_open(cl, f->path,
                         f->writing ? EA_FILE_WRONLY | EA_FILE_CREAT | EA_FILE_TRUNC
                                    : EA_FILE_RDONLY);
        break;
    case F_XFER:
        r = f->writing ? ea_file_write(cl, f->handle, f->done, f->buf + f->done, (uint32_t)n)
                       : ea_file_read(cl, f->handle, f->done, (uint32_t)n);
        break;
    case F_FSYNC: r = ea_file_fsync(cl, f->handle); break;
    case F_CLOSE: r = ea_file_close(cl, f->handle); break;
    default: return;
    }
    if (r == EA_ERR_NOBUFS || r == EA_ERR_FULL)
        return;
    if (r < 0) {
        fio_fail(f, "request for", (int32_t)r);
        if (f->step == F_CLOSE)
            fio_issue(f, cl);
        return;
    }
    f->req = r;
}

static int fio_begin(struct fio *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->handle = -1;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path) {
        snprintf(f->err, sizeof f->err, "path too long: %.100s...", path);
        f->step = F_ERROR;
        return -1;
    }
    return 0;
}

/* Reads the file at `path`, of 1 to `max` bytes. */
static void fio_read(struct fio *f, ea_sys_client_t *cl, const char *path, uint64_t max,
                     int missing_ok)
{
    if (fio_begin(f, path) != 0)
        return;
    f->max = max;
    f->missing_ok = missing_ok;
    f->step = F_STAT;
    fio_issue(f, cl);
}

/* Writes `len` bytes to `path` (created; an existing file is replaced only
 * with `replace`) and syncs them. */
static void fio_write(struct fio *f, ea_sys_client_t *cl, const char *path, const uint8_t *data,
                      uint64_t len, int replace)
{
    if (fio_begin(f, path) != 0)
        return;
    f->writing = 1;
    f->replace = replace;
    f->buf = (uint8_t *)data;
    f->size = len;
    f->step = replace ? F_OPEN : F_STAT;
    fio_issue(f, cl);
}

/* The STAT answer: whether the run goes on to OPEN. */
static int fio_stated(struct fio *f, const ea_sys_event_t *ev)
{
    int32_t st = ev->msg.status;
    if (f->writing) {
        if (st >= 0) {
            snprintf(f->err, sizeof f->err, "%s exists: not overwritten", f->path);
            f->step = F_ERROR;
            return 0;
        }
        if (st != EA_SYS_NOENT)
            return fio_fail(f, "stat", st), 0;
        return 1;
    }
    if (st == EA_SYS_NOENT && f->missing_ok) {
        f->step = F_NOFILE;
        return 0;
    }
    if (st < 0)
        return fio_fail(f, "stat", st), 0;
    if (ev->msg.arg64 == 0 || ev->msg.arg64 > f->max) {
        snprintf(f->err, sizeof f->err, "%s: %llu bytes (expected 1 to %llu)", f->path,
                 (unsigned long long)ev->msg.arg64, (unsigned long long)f->max);
        f->step = F_ERROR;
        return 0;
    }
    f->size = ev->msg.arg64;
    f->buf = malloc(f->size);
    if (f->buf == NULL)
        return fio_fail(f, "memory for", EA_ERR_NOMEM), 0;
    return 1;
}

/* Handles one completion if it answers this file's request: 1 if it did. */
static int fio_event(struct fio *f, ea_sys_client_t *cl, const ea_sys_event_t *ev)
{
    if (f->req == 0 || (int64_t)ev->msg.req_id != f->req)
        return 0;
    f->req = 0;
    int32_t st = ev->msg.status;
    switch (f->step) {
    case F_STAT:
        if (!fio_stated(f, ev))
            return 1;
        f->step = F_OPEN;
        break;
    case F_OPEN:
        if (st < 0)
            return fio_fail(f, "open", st), 1;
        f->handle = st;
        f->step = f->size > 0 ? F_XFER : f->writing ? F_FSYNC : F_CLOSE;
        break;
    case F_XFER:
        if (st < 0 || (!f->writing && ev->msg.len == 0) || (f->writing && st == 0)) {
            fio_fail(f, f->writing ? "write" : "read (short file)", st < 0 ? st : EA_SYS_IO);
            break;
        }
        if (f->writing) {
            f->done += (uint64_t)st;
        } else {
            /* The file grew since STAT: read what STAT said. */
            uint64_t n = ev->msg.len < f->size - f->done ? ev->msg.len : f->size - f->done;
            memcpy(f->buf + f->done, ev->data, n);
            f->done += n;
        }
        if (f->done == f->size)
            f->step = f->writing ? F_FSYNC : F_CLOSE;
        break;
    case F_FSYNC:
        if (st < 0)
            fio_fail(f, "fsync", st);
        f->step = F_CLOSE;
        break;
    case F_CLOSE:
        f->handle = -1;
        f->step = f->err[0] ? F_ERROR : F_DONE;
        return 1;
    default: return 1;
    }
    fio_issue(f, cl);
    return 1;
}

/* Re-sends a request that met back-pressure. */
static void fio_pending(struct fio *f, ea_sys_client_t *cl)
{
    if (f->req == 0 && f->step > F_IDLE && f->step < F_DONE)
        fio_issue(f, cl);
}

#endif
