/*
 * The system actor's files: OPEN, READ, WRITE, FSYNC, CLOSE, UNLINK and STAT
 * of regular files inside the directories granted to the requester.
 *
 * Design notes.
 *
 * Paths. A path must be absolute; its directory part is resolved with
 * realpath and must lie inside a granted directory. That is checked again on
 * the directory actually opened (O_PATH, read back through /proc/self/fd),
 * because another process may swap a component for a symlink between the
 * two. The final component, which must not be "." or "..", is then opened,
 * removed or examined relative to that directory descriptor without following
 * a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), so no request reaches outside
 * the directory that was checked.
 *
 * No existence oracle. Whether a directory exists is only revealed inside
 * granted directories. The directory part is first normalised on the string
 * ("." and ".." removed; so "/srv/www/../etc" is "/srv/etc", whatever
 * symbolic links say), and a directory outside every grant by that name is
 * refused with EA_ERR_PERM before the file system is asked anything. One
 * inside a grant by name that does not resolve is "no such file" only if the
 * deepest part of it that exists resolves inside a grant too (a symbolic
 * link out of the grants is refused whether its target exists or not). Every
 * refusal names the directory as asked, normalised, never its resolution.
 *
 * Read-only grants. A grant lists directories read-write (files=) or
 * read-only (files-ro=); the longest granted directory that contains the
 * resolved directory of a path decides, so a read-write upload directory may
 * sit inside a read-only site and the other way round, and the order of the
 * lists does not matter (the parser refuses a directory listed both ways).
 * A request that may change a file needs read-write: an OPEN with any flag
 * but EA_FILE_RDONLY (O_TRUNC truncates even a read-only open on Linux,
 * O_CREAT creates) and UNLINK. A handle can only have been opened for
 * writing under a read-write grant, and WRITE is refused on a handle whose
 * descriptor is open read-only (the kernel's own record of the open, so it
 * cannot disagree with what OPEN allowed); the refusal is EA_ERR_PERM with a
 * text rather than the kernel's EBADF. READ, STAT, FSYNC and CLOSE change no
 * file's content and need only read.
 *
 * Only regular files. OPEN refuses anything else (a FIFO or a device could
 * block or act on open), and O_NONBLOCK keeps the open itself from blocking
 * until fstat has said what the file is.
 *
 * Synchronous. Regular files are never "not ready" (epoll does not even
 * take them), so every request is done on the system actor's worker at once,
 * reads and writes with pread and pwrite at the offset the request names,
 * and a file handle never has a pending operation. A write goes on until
 * every byte is written or an error stops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/sys_int.h"

/* What a requester may do with the files of one directory. */
enum access { ACC_NONE, ACC_READ, ACC_WRITE };

/* The access connector ci has to files in `dir` (an absolute path): that of
 * the longest granted directory equal to `dir` or containing it. */
static enum access dir_access(const struct sys *s, unsigned ci, const char *dir)
{
    const eai_dep_grant_t *g = s->cl[ci].grant;
    enum access acc = ACC_NONE;
    size_t best = 0;
    for (int i = 0; g != NULL && i < g->nfiles; i++) {
        const char *f = g->files[i];
        size_t n = strlen(f);
        /* "/" contains every path; any other entry has no trailing slash
         * (realpath), so it must be followed by the end or a '/'. */
        bool inside =
            strcmp(f, "/") == 0 || (strncmp(dir, f, n) == 0 && (dir[n] == '\0' || dir[n] == '/'));
        if (inside && n >= best) {
            best = n;
            acc = g->files_ro[i] ? ACC_READ : ACC_WRITE;
        }
    }
    return acc;
}

/* Refuses `req` for lack of `need` on files in `dir`, naming the right. */
static void refuse_dir(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const char *dir,
                       enum access need)
{
    char what[128];
    eai_sys_who(s, ci, what, sizeof what);
    if (need == ACC_WRITE)
        eai_sys_refuse(s, ci, req,
                       "changing files in '%s' is not granted to %s (granted read-only)", dir,
                       what);
    else
        eai_sys_refuse(s, ci, req, "files in '%s' are not granted to %s", dir, what);
}

/* Does connector ci have `need` on files in `real` (a resolved directory)?
 * If not, refuses `req`, naming the directory as asked (`asked`), never the
 * resolved one, and returns false. */
static bool dir_allowed(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const char *asked,
                        const char *real, enum access need)
{
    enum access acc = dir_access(s, ci, real);
    if (acc >= need)
        return true;
    refuse_dir(s, ci, req, asked, acc == ACC_NONE ? ACC_READ : ACC_WRITE);
    return false;
}

/* The absolute path `in` normalised on the string alone into out (at least
 * strlen(in) + 2 bytes): no "." or ".." components, no repeated or trailing
 * '/' ("/.." is "/"). The result is never longer than `in`, or "/". */
static void lexical(const char *in, char *out)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0';) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != '/')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            n -= n > 0; /* the '/' before the component */
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p = e;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
}

/* A directory path `lex` (inside a grant by name) does not resolve: does
 * the deepest entry of it that exists resolve inside a grant of connector
 * ci? Only then may the answer be "no such file": a symbolic link on the way
 * that leads out of the grants (or nowhere) gets the refusal, whether what
 * it names exists or not. */
static bool existing_inside(const struct sys *s, unsigned ci, const char *lex)
{
    char p[PATH_MAX], real[PATH_MAX];
    snprintf(p, sizeof p, "%s", lex);
    for (;;) {
        struct stat sb;
        if (lstat(p, &sb) == 0)
            return realpath(p, real) != NULL && dir_access(s, ci, real) != ACC_NONE;
        char *slash = strrchr(p, '/');
        if (slash == NULL || p[1] == '\0')
            return false;
        slash[slash == p] = '\0'; /* "/a" -> "/" */
    }
}

/*
 * Checks the path of a file request (payload) and opens its directory;
 * `need` is the access the request needs there. On success returns EA_OK
 * with *dirfd (the caller closes it) and the final component in `base`;
 * otherwise the request is already completed.
 *
 * Existence is no oracle: a directory outside every grant by name is refused
 * before the file system is asked anything, and every refusal names the
 * directory as asked (normalised on the string), never what it resolved to.
 */
static int path_open(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *payload,
                     enum access need, int *dirfd, char *base, size_t baselen)
{
    char path[PATH_MAX];
    if (req->len == 0 || req->len >= sizeof path || memchr(payload, '\0', req->len) != NULL) {
        eai_sys_complete(s, ci, req, EA_ERR_INVAL);
        return EA_ERR_INVAL;
    }
    memcpy(path, payload, req->len);
    path[req->len] = '\0';
    char *slash = strrchr(path, '/');
    if (path[0] != '/' || slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
        strcmp(slash + 1, "..") == 0 || strlen(slash + 1) >= baselen) {
        eai_sys_complete(s, ci, req, EA_ERR_INVAL);
        return EA_ERR_INVAL;
    }
    snprintf(base, baselen, "%s", slash + 1);
    *slash = '\0';
    char dir[PATH_MAX];
    lexical(path, dir);
    if (dir_access(s, ci, dir) == ACC_NONE) {
        refuse_dir(s, ci, req, dir, ACC_READ); /* judged on the string alone */
        return EA_ERR_PERM;
    }
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL) {
        int e = errno;
        if ((e == ENOENT || e == ENOTDIR) && existing_inside(s, ci, dir))
            eai_sys_complete(s, ci, req, EA_SYS_NOENT);
        else
            refuse_dir(s, ci, req, dir, ACC_READ);
        return EA_ERR_PERM;
    }
    if (!dir_allowed(s, ci, req, dir, real, need))
        return EA_ERR_PERM;
    *dirfd = open(real, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*dirfd < 0) {
        int e = errno;
        /* Gone or swapped since realpath: the same answers as above. */
        if (e == ENOENT)
            eai_sys_complete(s, ci, req, EA_SYS_NOENT);
        else if (e == ENOTDIR || e == ELOOP || e == EACCES)
            refuse_dir(s, ci, req, dir, ACC_READ);
        else
            eai_sys_complete_errno(s, ci, req, e);
        return EA_ERR_SYS;
    }
    /* Check the directory actually opened, not only the name resolved a
     * moment before: another process may have swapped a component for a
     * symlink in between. The final component is then opened relative to
     * this descriptor with O_NOFOLLOW, so it cannot leave the directory. */
    char link[64], opened[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", *dirfd);
    ssize_t n = readlink(link, opened, sizeof opened - 1);
    if (n <= 0 || (size_t)n >= sizeof opened - 1) {
        close(*dirfd);
        eai_sys_complete(s, ci, req, EA_SYS_IO);
        return EA_ERR_SYS;
    }
    opened[n] = '\0';
    if (!dir_allowed(s, ci, req, dir, opened, need)) {
        close(*dirfd);
        return EA_ERR_PERM;
    }
    return EA_OK;
}

/* The open(2) flags of EA_FILE_* flags f, or -1 if f is not valid. */
static int open_flags(uint32_t f)
{
    if ((f & ~0x1fu) != 0 || (f & 3u) == 3u)
        return -1;
    int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
    flags |= (f & 3u) == EA_FILE_WRONLY ? O_WRONLY : (f & 3u) == EA_FILE_RDWR ? O_RDWR : O_RDONLY;
    flags |= (f & EA_FILE_CREAT) ? O_CREAT : 0;
    flags |= (f & EA_FILE_TRUNC) ? O_TRUNC : 0;
    flags |= (f & EA_FILE_APPEND) ? O_APPEND : 0;
    return flags;
}

/* Refuses an OPEN of `base` for `why` (a symbolic link, not a regular file). */
static void refuse_file(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const char *base,
                        const char *why)
{
    char what[128];
    eai_sys_who(s, ci, what, sizeof what);
    eai_sys_refuse(s, ci, req, "'%s' is %s: not granted to %s", base, why, what);
}

static void do_open(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    int flags = open_flags(req->arg);
    if (flags < 0) {
        eai_sys_complete(s, ci, req, EA_ERR_INVAL);
        return;
    }
    /* Every flag but EA_FILE_RDONLY (0) may change the file: see above. */
    enum access need = req->arg == EA_FILE_RDONLY ? ACC_READ : ACC_WRITE;
    if (!eai_sys_may_open(s, ci, req, H_FILE))
        return;
    int dfd;
    char base[NAME_MAX + 1];
    if (path_open(s, ci, req, p, need, &dfd, base, sizeof base) != EA_OK)
        return;
    int fd = openat(dfd, base, flags, 0644);
    int e = errno;
    close(dfd);
    if (fd < 0) {
        if (e == ELOOP)
            refuse_file(s, ci, req, base, "a symbolic link");
        else
            eai_sys_complete_errno(s, ci, req, e);
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        refuse_file(s, ci, req, base, "not a regular file");
        return;
    }
    /* Regular files never block on readiness; only the flag is dropped. */
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct handle *h = eai_sys_handle_new(s, ci, fd, H_FILE, 0);
    if (h == NULL) {
        close(fd);
        eai_sys_complete(s, ci, req, EA_SYS_LIMIT);
        return;
    }
    eai_sys_complete(s, ci, req, eai_sys_handle_id(s, h));
}

static void do_unlink(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    int dfd;
    char base[NAME_MAX + 1];
    if (path_open(s, ci, req, p, ACC_WRITE, &dfd, base, sizeof base) != EA_OK)
        return;
    int rc = unlinkat(dfd, base, 0);
    int e = errno;
    close(dfd);
    if (rc != 0)
        eai_sys_complete_errno(s, ci, req, e);
    else
        eai_sys_complete(s, ci, req, 0);
}

static void do_stat(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    int dfd;
    char base[NAME_MAX + 1];
    if (path_open(s, ci, req, p, ACC_READ, &dfd, base, sizeof base) != EA_OK)
        return;
    struct stat sb;
    int rc = fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    close(dfd);
    if (rc != 0)
        eai_sys_complete_errno(s, ci, req, e);
    else
        eai_sys_complete_x(s, ci, req, 0, (uint32_t)sb.st_mtim.tv_sec, (uint64_t)sb.st_size, NULL,
                           0);
}

static void do_read(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, 1u << H_FILE);
    if (h == NULL)
        return;
    uint32_t max = eai_sys_payload_max(ea_conn_at(s->self, ci));
    max = req->arg < max ? req->arg : max;
    ssize_t n = pread(h->fd, s->scratch, max, (off_t)req->arg64);
    if (req->arg64 > (uint64_t)INT64_MAX || n < 0)
        eai_sys_complete_errno(s, ci, req, req->arg64 > (uint64_t)INT64_MAX ? EINVAL : errno);
    else
        eai_sys_complete_x(s, ci, req, (int32_t)n, 0, 0, s->scratch, (uint32_t)n);
}

/* Writes the len bytes at p to fd at offset `at`; 0 or the error. */
static int write_all(int fd, const uint8_t *p, uint32_t len, uint64_t at)
{
    if (at > (uint64_t)INT64_MAX - len)
        return EINVAL;
    for (uint32_t done = 0; done < len;) {
        ssize_t n = pwrite(fd, p + done, len - done, (off_t)(at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (uint32_t)n;
    }
    return 0;
}

static void do_write(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, 1u << H_FILE);
    if (h == NULL)
        return;
    int fl = fcntl(h->fd, F_GETFL);
    if (fl < 0) {
        eai_sys_complete_errno(s, ci, req, errno);
        return;
    }
    if ((fl & O_ACCMODE) == O_RDONLY) {
        char what[128];
        eai_sys_who(s, ci, what, sizeof what);
        eai_sys_refuse(s, ci, req,
                       "handle %d was opened read-only: writing to it is not granted to %s",
                       (int)req->handle, what);
        return;
    }
    int e = write_all(h->fd, p, req->len, req->arg64);
    if (e != 0)
        eai_sys_complete_errno(s, ci, req, e);
    else
        eai_sys_complete(s, ci, req, (int32_t)req->len);
}

static void do_fsync(struct sys *s, unsigned ci, const ea_sys_msg_t *req)
{
    struct handle *h = eai_sys_handle_get(s, ci, req, 1u << H_FILE);
    if (h == NULL)
        return;
    if (fsync(h->fd) != 0)
        eai_sys_complete_errno(s, ci, req, errno);
    else
        eai_sys_complete(s, ci, req, 0);
}

void eai_sys_file(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    switch (req->op) {
    case EA_FILE_OPEN: do_open(s, ci, req, p); break;
    case EA_FILE_READ: do_read(s, ci, req); break;
    case EA_FILE_WRITE: do_write(s, ci, req, p); break;
    case EA_FILE_FSYNC: do_fsync(s, ci, req); break;
    case EA_FILE_CLOSE: eai_sys_close(s, ci, req, 1u << H_FILE); break;
    case EA_FILE_UNLINK: do_unlink(s, ci, req, p); break;
    case EA_FILE_STAT: do_stat(s, ci, req, p); break;
    }
}
