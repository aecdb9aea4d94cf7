/*
 * File-system and network restriction by the kernel (Landlock).
 *
 * Design notes. A ruleset handles every access right the running kernel
 * knows (asked with LANDLOCK_CREATE_RULESET_VERSION), so anything not
 * granted by a rule is denied, including rights newer than this code. Rules
 * grant read or read-write beneath directories the caller names. With
 * `deny_net`, TCP bind and connect are handled and never granted (ABI 4 and
 * later). Abstract unix sockets and signals are scoped to the domain
 * (ABI 6 and later). Files on kernel-internal mounts (memfds, pipes,
 * sockets) are outside any hierarchy and stay usable: an enclave can still
 * map its sealed image memfd, and nothing else. The restriction holds for
 * the calling thread and every thread and process it creates afterwards,
 * so callers install it before their first thread. The constants are
 * spelled out here because Debian 12's headers predate most of them.
 */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <eactors/ea_err.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

enum {
    LL_CREATE_VERSION = 1,
    LL_RULE_PATH_BENEATH = 1,
};

#define FS_EXECUTE (1ull << 0)
#define FS_WRITE_FILE (1ull << 1)
#define FS_READ_FILE (1ull << 2)
#define FS_READ_DIR (1ull << 3)
#define FS_REMOVE_DIR (1ull << 4)
#define FS_REMOVE_FILE (1ull << 5)
#define FS_MAKE_CHAR (1ull << 6)
#define FS_MAKE_DIR (1ull << 7)
#define FS_MAKE_REG (1ull << 8)
#define FS_MAKE_SOCK (1ull << 9)
#define FS_MAKE_FIFO (1ull << 10)
#define FS_MAKE_BLOCK (1ull << 11)
#define FS_MAKE_SYM (1ull << 12)
#define FS_REFER (1ull << 13)           /* ABI 2 */
#define FS_TRUNCATE (1ull << 14)        /* ABI 3 */
#define FS_IOCTL_DEV (1ull << 15)       /* ABI 5 */
#define NET_BIND_TCP (1ull << 0)        /* ABI 4 */
#define NET_CONNECT_TCP (1ull << 1)     /* ABI 4 */
#define SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define SCOPE_SIGNAL (1ull << 1)        /* ABI 6 */

int eai_landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_VERSION);
    return v > 0 ? (int)v : 0;
}

static uint64_t fs_rights(int abi)
{
    uint64_t r = (FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2)
        r |= FS_REFER;
    if (abi >= 3)
        r |= FS_TRUNCATE;
    if (abi >= 5)
        r |= FS_IOCTL_DEV;
    return r;
}

static uint64_t grant_rights(int access, int abi, bool dir)
{
    uint64_t r = FS_READ_FILE;
    if (dir)
        r |= FS_READ_DIR;
    if (access & EAI_FS_EXEC)
        r |= FS_EXECUTE;
    if (access & EAI_FS_WRITE) {
        r |= FS_WRITE_FILE;
        if (abi >= 3)
            r |= FS_TRUNCATE;
        if (dir)
            r |= FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SYM |
                 (abi >= 2 ? FS_REFER : 0);
    }
    return r & fs_rights(abi);
}

struct ll_net_port {
    uint64_t allowed_access;
    uint64_t port;
} __attribute__((packed));

enum { LL_RULE_NET_PORT = 2 };

static int add_path_rule(int rs, const eai_fs_grant_t *g, int abi, char *err, size_t errlen)
{
    int fd = open(g->path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s' for a Landlock rule: %s", g->path, strerror(errno));
        return EA_ERR_SYS;
    }
    struct stat st;
    bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    struct ll_path_beneath pb = {.allowed_access = grant_rights(g->access, abi, dir),
                                 .parent_fd = fd};
    int rc = EA_OK;
    if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0) != 0) {
        snprintf(err, errlen, "cannot add a Landlock rule for '%s': %s", g->path, strerror(errno));
        rc = EA_ERR_SYS;
    }
    close(fd);
    return rc;
}

static int add_port_rule(int rs, uint16_t port, uint64_t access, char *err, size_t errlen)
{
    struct ll_net_port np = {.allowed_access = access, .port = port};
    if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) != 0) {
        snprintf(err, errlen, "cannot add a Landlock rule for port %u: %s", port, strerror(errno));
        return EA_ERR_SYS;
    }
    return EA_OK;
}

int eai_landlock_apply(const eai_landlock_t *spec, char *err, size_t errlen)
{
    int abi = eai_landlock_abi();
    if (abi < 1) {
        snprintf(err, errlen,
                 "the kernel has no Landlock (Linux 5.13 or later with landlock among its "
                 "LSMs is needed to confine)");
        return EA_ERR_SYS;
    }
    struct ll_ruleset_attr attr = {.handled_access_fs = fs_rights(abi)};
    size_t attr_size = sizeof attr.handled_access_fs;
    bool net = spec->handle_net && abi >= 4;
    if (abi >= 4) {
        attr_size = offsetof(struct ll_ruleset_attr, scoped);
        if (net)
            attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
    }
    if (abi >= 6) {
        attr_size = sizeof attr;
        attr.scoped = SCOPE_ABSTRACT_UNIX | (spec->scope_signals ? SCOPE_SIGNAL : 0);
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) {
        snprintf(err, errlen, "cannot create a Landlock ruleset: %s", strerror(errno));
        return EA_ERR_SYS;
    }
    int rc = EA_OK;
    for (int i = 0; rc == EA_OK && i < spec->nfs; i++)
        rc = add_path_rule(rs, &spec->fs[i], abi, err, errlen);
    for (int i = 0; net && rc == EA_OK && i < spec->nbind; i++)
        rc = add_port_rule(rs, spec->bind[i], NET_BIND_TCP, err, errlen);
    for (int i = 0; net && rc == EA_OK && i < spec->nconnect; i++)
        rc = add_port_rule(rs, spec->connect[i], NET_CONNECT_TCP, err, errlen);
    if (rc == EA_OK && eai_no_new_privs() != EA_OK) {
        snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
        rc = EA_ERR_SYS;
    }
    if (rc == EA_OK && syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
        snprintf(err, errlen, "cannot enforce the Landlock ruleset: %s", strerror(errno));
        rc = EA_ERR_SYS;
    }
    close(rs);
    return rc;
}

int eai_landlock_confine(const eai_fs_grant_t *grants, int n, bool deny_net, char *err,
                         size_t errlen)
{
    eai_landlock_t spec = {.fs = grants, .nfs = n, .handle_net = deny_net, .scope_signals = true};
    return eai_landlock_apply(&spec, err, errlen);
}
