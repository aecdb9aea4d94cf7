/*
 * Files mapped shared into memory, for the persistent object store (EOS).
 *
 * Design notes. The store keeps its records in the mapping and makes them
 * durable with msync(MS_SYNC) at its sync points; the kernel keeps the
 * written pages of a process that dies (kill -9), so only a power loss can
 * lose unsynced writes, and the store's authenticated records turn a torn
 * page into an error instead of wrong data.
 */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eactors/ea_err.h>

int eai_file_map(const char *path, size_t size, void **map, size_t *size_out, int *fd)
{
    if (path == NULL || map == NULL || size_out == NULL || fd == NULL)
        return EA_ERR_INVAL;
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (size != 0 ? O_CREAT : 0);
    int f = open(path, flags, 0600);
    if (f < 0)
        return errno == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISREG(st.st_mode) ? errno : EINVAL;
        close(f);
        errno = e;
        return EA_ERR_SYS;
    }
    size_t have = (size_t)st.st_size;
    if (size == 0 && have == 0) {
        close(f);
        return EA_ERR_NOTFOUND;
    }
    if (size != 0 && have != 0 && have != size) {
        close(f);
        return EA_ERR_INVAL;
    }
    if (size != 0 && have == 0 && ftruncate(f, (off_t)size) != 0) {
        int e = errno;
        close(f);
        errno = e;
        return EA_ERR_SYS;
    }
    size_t len = size != 0 ? size : have;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(f);
        errno = e;
        return EA_ERR_SYS;
    }
    *map = p;
    *size_out = len;
    *fd = f;
    return EA_OK;
}

int eai_file_open_sized(const char *path, size_t size, int *fd)
{
    if (path == NULL || fd == NULL || size == 0)
        return EA_ERR_INVAL;
    int f = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT, 0600);
    if (f < 0)
        return EA_ERR_SYS;
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_size != 0 && (uint64_t)st.st_size != (uint64_t)size)) {
        int e = errno;
        close(f);
        errno = e;
        return EA_ERR_INVAL;
    }
    if (st.st_size == 0 && ftruncate(f, (off_t)size) != 0) {
        int e = errno;
        close(f);
        errno = e;
        return EA_ERR_SYS;
    }
    *fd = f;
    return EA_OK;
}

int eai_file_map_fd(int fd, size_t size, void **map)
{
    if (fd < 0 || size == 0 || map == NULL)
        return EA_ERR_INVAL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return EA_ERR_SYS;
    *map = p;
    return EA_OK;
}

int eai_file_map_sync(void *addr, size_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)addr & ~(page - 1);
    len += (uintptr_t)addr - a;
    return msync((void *)a, len, MS_SYNC) == 0 ? EA_OK : EA_ERR_SYS;
}

void eai_file_unmap(void *map, size_t size, int fd)
{
    if (map != NULL)
        munmap(map, size);
    if (fd >= 0)
        close(fd);
}
