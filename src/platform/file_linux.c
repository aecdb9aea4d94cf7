/*
 * Files of the trusted side (platform secret, monotonic counters, signing
 * keys): private directories, reads with ownership checks, and one atomic,
 * durable write used by all of them.
 *
 * Design notes. eai_file_write_atomic never lets a reader see a half-written
 * file: the bytes go into a private temporary file in the same directory
 * (so the final step is a rename or link within one file system), which is
 * fsynced before it is published, and the directory is fsynced after, so a
 * crash leaves either the old file or the new one. EAI_WRITE_EXCL publishes
 * with link(), which fails if the name exists: concurrent first writers
 * agree on one file and a key is never overwritten. Every open uses
 * O_NOFOLLOW and O_CLOEXEC. Only *at() calls relative to the directory
 * descriptor are used, which the platform service's allow-list permits on
 * its counters directory.
 */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eactors/ea_err.h>

_Static_assert(EAI_CWD == AT_FDCWD, "EAI_CWD is the kernel's AT_FDCWD");

int eai_close(int fd)
{
    return fd >= 0 && close(fd) == 0 ? EA_OK : EA_ERR_SYS;
}

int eai_dir_open(int dirfd, const char *path, int *fd)
{
    int d = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0)
        return errno == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    *fd = d;
    return EA_OK;
}

int eai_dir_make_private(const char *dir, const char *what, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s '%s': %s", what, dir, strerror(errno));
        return EA_ERR_SYS;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s '%s' is not a directory", what, dir);
        return EA_ERR_SYS;
    }
    /* Whoever may write the directory may replace or roll back its files. */
    if ((st.st_mode & 022) != 0) {
        snprintf(err, errlen, "%s '%s' is writable by others (mode %04o)", what, dir,
                 (unsigned)(st.st_mode & 07777));
        return EA_ERR_PERM;
    }
    return EA_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Splits `name` into the directory it lies in (opened relative to dirfd
 * when name has a '/') and its last component. */
static int split_dir(int dirfd, const char *name, int *dfd, const char **base)
{
    const char *slash = strrchr(name, '/');
    *base = slash != NULL ? slash + 1 : name;
    if (slash == NULL) {
        *dfd = dirfd;
        return EA_OK;
    }
    char dir[4096];
    size_t n = (size_t)(slash - name);
    if (n >= sizeof dir)
        return EA_ERR_INVAL;
    memcpy(dir, name, n);
    dir[n] = '\0';
    return eai_dir_open(dirfd, n == 0 ? "/" : dir, dfd);
}

static int write_atomic_in(int dfd, const char *base, const void *data, size_t len, unsigned mode,
                           int how, bool *existed)
{
    char tmp[512];
    if (*base == '\0' ||
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", base, (long)getpid()) >= (int)sizeof tmp)
        return EA_ERR_INVAL;
    unlinkat(dfd, tmp, 0); /* a leftover of a crash of a process with our pid */
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return EA_ERR_SYS;
    /* The umask can only clear bits of mode, but be exact about it. */
    int bad = fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && how == EAI_WRITE_EXCL) {
        if (linkat(dfd, tmp, dfd, base, 0) != 0) {
            e = errno;
            if (e == EEXIST)
                *existed = true;
            else
                bad = 1;
        }
        unlinkat(dfd, tmp, 0);
    } else if (!bad && renameat(dfd, tmp, dfd, base) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlinkat(dfd, tmp, 0);
        errno = e;
        return EA_ERR_SYS;
    }
    if (*existed)
        return EA_OK;
    return fsync(dfd) == 0 ? EA_OK : EA_ERR_SYS;
}

int eai_file_write_atomic(int dirfd, const char *name, const void *data, size_t len, unsigned mode,
                          int how, bool *existed)
{
    bool ex = false;
    int dfd;
    const char *base;
    int rc = split_dir(dirfd, name, &dfd, &base);
    if (rc != EA_OK)
        return rc;
    rc = write_atomic_in(dfd, base, data, len, mode, how, &ex);
    int e = errno;
    if (dfd != dirfd)
        close(dfd);
    errno = e;
    if (existed != NULL)
        *existed = ex;
    else if (ex) {
        errno = EEXIST;
        return EA_ERR_SYS;
    }
    return rc;
}

static int read_all(int fd, uint8_t *p, size_t n, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return EA_ERR_SYS;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return EA_OK;
}

int eai_file_read_private(const char *path, void *buf, size_t len, const char *what, char *err,
                          size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return EA_ERR_NOTFOUND;
        snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        return EA_ERR_SYS;
    }
    struct stat st;
    size_t got = 0;
    int rc = EA_OK;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat %s '%s': %s", what, path, strerror(errno));
        rc = EA_ERR_SYS;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s '%s' is not a regular file", what, path);
        rc = EA_ERR_PERM;
    } else if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s '%s' is owned by uid %u, not by uid %u", what, path,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        rc = EA_ERR_PERM;
    } else if ((st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s '%s' is readable by others (mode %04o)", what, path,
                 (unsigned)(st.st_mode & 07777));
        rc = EA_ERR_PERM;
    } else if (st.st_size < 0 || (uint64_t)st.st_size != (uint64_t)len) {
        snprintf(err, errlen, "%s '%s' has %lld bytes (expected %zu)", what, path,
                 (long long)st.st_size, len);
        rc = EA_ERR_PARSE;
    } else if (read_all(fd, buf, len, &got) != EA_OK || got != len) {
        snprintf(err, errlen, "cannot read %s '%s'", what, path);
        rc = EA_ERR_SYS;
    }
    close(fd);
    return rc;
}

int eai_file_read_at(int dirfd, const char *name, void *buf, size_t cap, size_t *got)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    int rc = read_all(fd, buf, cap, got);
    close(fd);
    return rc;
}

int eai_file_exists_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    return errno == ENOENT ? 0 : EA_ERR_SYS;
}

int eai_file_remove_at(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) != 0)
        return errno == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    return fsync(dirfd) == 0 ? EA_OK : EA_ERR_SYS;
}

int eai_file_lock_at(int dirfd, const char *name, int *lockfd)
{
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return EA_ERR_SYS;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    while (fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            close(fd);
            return EA_ERR_SYS;
        }
    }
    *lockfd = fd;
    return EA_OK;
}

void eai_file_unlock(int lockfd)
{
    close(lockfd);
}

int eai_file_read_all(const char *path, size_t max, uint8_t **buf, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    struct stat st;
    int rc = EA_OK;
    uint8_t *p = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0) {
        rc = EA_ERR_SYS;
    } else if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        rc = EA_ERR_SYS;
    } else if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        rc = EA_ERR_TOOBIG;
    } else if ((p = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = EA_ERR_NOMEM;
    } else if (read_all(fd, p, (size_t)st.st_size, &got) != EA_OK) {
        rc = EA_ERR_SYS;
    } else {
        /* One byte more tells a file that grew since fstat. */
        uint8_t extra;
        size_t more = 0;
        if (read_all(fd, &extra, 1, &more) != EA_OK)
            rc = EA_ERR_SYS;
        else if (more != 0)
            rc = EA_ERR_TOOBIG;
    }
    int e = errno;
    close(fd);
    if (rc != EA_OK) {
        free(p);
        errno = e;
        return rc;
    }
    p[got] = '\0';
    *buf = p;
    *size = got;
    return EA_OK;
}

int eai_path_resolve(const char *path, int kind, char **out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOMEM ? EA_ERR_NOMEM : EA_ERR_NOTFOUND;
    if (kind == EAI_PATH_DIR ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return EA_ERR_INVAL;
    *out = realpath(path, NULL);
    if (*out == NULL)
        return errno == ENOMEM ? EA_ERR_NOMEM : EA_ERR_NOTFOUND;
    return EA_OK;
}

int eai_fds_compact(int *fds, int n, int *max_fd)
{
    /* Park the kept descriptors high, close everything else above 2, then
     * move them down to 3, 4, ...: descriptors opened later are then all
     * above *max_fd, with no gap below it to be reused. */
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, 1024);
        if (hi < 0)
            return EA_ERR_SYS;
        fds[i] = hi;
    }
    int top;
    int rc = eai_fds_close_except(fds, n, &top);
    if (rc != EA_OK)
        return rc;
    int next = 3;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        if (dup3(fds[i], next, O_CLOEXEC) < 0)
            return EA_ERR_SYS;
        close(fds[i]);
        fds[i] = next++;
    }
    *max_fd = next - 1;
    return EA_OK;
}

int eai_fds_close_except(const int *keep, int n, int *max_fd)
{
    int hi = 2;
    for (int i = 0; i < n; i++)
        if (keep[i] > hi)
            hi = keep[i];
    /* Close every gap between kept descriptors, then everything above. */
    unsigned from = 3;
    for (int fd = 3; fd <= hi + 1; fd++) {
        bool kept = fd == hi + 1;
        for (int i = 0; !kept && i < n; i++)
            kept = keep[i] == fd;
        if (!kept)
            continue;
        if ((unsigned)fd > from && close_range(from, (unsigned)fd - 1, 0) != 0)
            return EA_ERR_SYS;
        from = (unsigned)fd + 1;
    }
    if (close_range((unsigned)hi + 1, ~0u, 0) != 0)
        return EA_ERR_SYS;
    *max_fd = hi;
    return EA_OK;
}
