/*
 * Monotonic counters kept in files (sgx_tae_service's counters).
 *
 * Design notes.
 *
 * One file per counter, "<dir>/counters/<32 hex digits of the uuid>", 80
 * bytes, little-endian:
 *    0 magic "EAMC\0\0\0\1" (8)   8 uuid (16)   24 owner MRSIGNER (32)
 *   56 value u32                  60 reserved u32 (zero)
 *   64 AES-128-CMAC over [0,64) under the counters' MAC key (16)
 * The MAC key is the first half of HKDF(secret, info "eactors-mc", 32
 * bytes); CMAC takes a 16-byte key and the other half is not used. The MAC
 * covers the uuid, so a valid file copied under another counter's name is
 * refused, and the owner, so an enclave cannot take over another signer's
 * counter by editing the file.
 *
 * Strength, honestly: the MAC detects editing, not replacement of the file
 * by an older copy of itself. Whoever can write the platform directory (the
 * host's root, or our own uid) can roll a counter back. A real SGX platform
 * keeps the value in the ME's replay-protected memory; here the platform
 * directory's owner is trusted not to, which is the threat model of the
 * software backend.
 *
 * Durability: an update is one eai_file_write_atomic (a private temporary
 * file, fsynced, renamed over the counter file, the directory fsynced)
 * before returning, so after a crash
 * the counter holds the old or the new value, never a torn one, and a value
 * that was returned is on disk. Every operation holds an OFD lock on
 * "<dir>/counters/.lock" (see lock()), so read-modify-write cycles of
 * threads and processes sharing the directory do not interleave.
 */
#include "trust/trust_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "platform/platform.h"

static const uint8_t mc_magic[8] = {'E', 'A', 'M', 'C', 0, 0, 0, 1};

enum {
    MC_OFF_UUID = 8,
    MC_OFF_OWNER = 24,
    MC_OFF_VALUE = 56,
    MC_OFF_RESERVED = 60,
    MC_OFF_MAC = 64,
    MC_FILE_SIZE = 80,
};

int eai_mc_open(eai_counters_t *mc, const eai_pcore_t *pc, const char *dir, char *err,
                size_t errlen)
{
    if (mc == NULL || pc == NULL || dir == NULL)
        return EA_ERR_INVAL;
    mc->dirfd = -1;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/counters", dir) >= (int)sizeof path) {
        eai_trust_errf(err, errlen, "platform directory name '%s' is too long", dir);
        return EA_ERR_INVAL;
    }
    int fd;
    int rc = eai_dir_make_private(path, "counters directory", err, errlen);
    if (rc != EA_OK)
        return rc;
    if (eai_dir_open(EAI_CWD, path, &fd) != EA_OK) {
        eai_trust_errf(err, errlen, "cannot open counters directory '%s': %s", path,
                       strerror(errno));
        return EA_ERR_SYS;
    }
    static const char info[] = "eactors-mc";
    rc = eai_hkdf_sha256(NULL, 0, pc->secret, sizeof pc->secret, (const uint8_t *)info,
                         sizeof info - 1, mc->mac_key, sizeof mc->mac_key);
    if (rc != EA_OK) {
        eai_trust_errf(err, errlen, "cannot derive the counters key: %s", ea_strerror(rc));
        eai_close(fd);
        return rc;
    }
    mc->dirfd = fd;
    return EA_OK;
}

void eai_mc_close(eai_counters_t *mc)
{
    if (mc == NULL)
        return;
    if (mc->dirfd >= 0)
        eai_close(mc->dirfd);
    eai_wipe(mc, sizeof *mc);
    mc->dirfd = -1;
}

static void file_name(const ea_mc_uuid_t *uuid, char name[40])
{
    uint8_t raw[16];
    memcpy(raw, uuid->counter_id, 3);
    memcpy(raw + 3, uuid->nonce, 13);
    eai_hex(raw, 16, name);
}

static void uuid_bytes(const ea_mc_uuid_t *uuid, uint8_t out[16])
{
    memcpy(out, uuid->counter_id, 3);
    memcpy(out + 3, uuid->nonce, 13);
}

/* Takes the counters lock: an OFD write lock on "<dir>/counters/.lock",
 * opened anew by each operation. OFD locks belong to the open file
 * description, so two operations exclude each other whether they run in
 * two processes or in two threads of one; closing the fd releases it. Only
 * openat on the directory and fcntl are used (eai_file_lock_at), which the
 * platform service's allow-list permits. Returns the fd to pass to unlock. */
static int lock(eai_counters_t *mc, int *lockfd)
{
    if (mc->dirfd < 0)
        return EA_ERR_INVAL;
    return eai_file_lock_at(mc->dirfd, ".lock", lockfd);
}

static void unlock(int lockfd)
{
    eai_file_unlock(lockfd);
}

/* Reads and checks a counter file. Lock held. */
static int load(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid,
                uint32_t *value)
{
    char name[40];
    file_name(uuid, name);
    uint8_t buf[MC_FILE_SIZE + 1];
    size_t got = 0;
    /* Reads one byte more than a counter file has, to see a longer file. */
    int rc = eai_file_read_at(mc->dirfd, name, buf, sizeof buf, &got);
    if (rc != EA_OK)
        return rc;
    if (got != MC_FILE_SIZE)
        return EA_ERR_AUTH;
    uint8_t mac[16];
    rc = eai_cmac_aes128(mc->mac_key, buf, MC_OFF_MAC, mac);
    if (rc != EA_OK)
        return rc;
    uint8_t ub[16];
    uuid_bytes(uuid, ub);
    if (!eai_ct_equal(mac, buf + MC_OFF_MAC, 16) || memcmp(buf, mc_magic, 8) != 0 ||
        memcmp(buf + MC_OFF_UUID, ub, 16) != 0 || eai_get_le32(buf + MC_OFF_RESERVED) != 0)
        return EA_ERR_AUTH;
    if (!eai_ct_equal(buf + MC_OFF_OWNER, owner, 32))
        return EA_ERR_PERM;
    *value = eai_get_le32(buf + MC_OFF_VALUE);
    return EA_OK;
}

/* Writes a counter file atomically and durably. Lock held. */
static int store(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid,
                 uint32_t value)
{
    uint8_t buf[MC_FILE_SIZE];
    memset(buf, 0, sizeof buf);
    memcpy(buf, mc_magic, 8);
    uuid_bytes(uuid, buf + MC_OFF_UUID);
    memcpy(buf + MC_OFF_OWNER, owner, 32);
    eai_put_le32(buf + MC_OFF_VALUE, value);
    int rc = eai_cmac_aes128(mc->mac_key, buf, MC_OFF_MAC, buf + MC_OFF_MAC);
    if (rc != EA_OK)
        return rc;

    char name[40];
    file_name(uuid, name);
    /* The lock keeps two writers apart; the platform layer's atomic write
     * makes the update all or nothing across a crash. */
    return eai_file_write_atomic(mc->dirfd, name, buf, sizeof buf, 0600, EAI_WRITE_REPLACE, NULL);
}

int eai_mc_create(eai_counters_t *mc, const uint8_t owner[32], ea_mc_uuid_t *uuid, uint32_t *value)
{
    if (mc == NULL || owner == NULL || uuid == NULL || value == NULL)
        return EA_ERR_INVAL;
    int lfd;
    int rc = lock(mc, &lfd);
    if (rc != EA_OK)
        return rc;
    ea_mc_uuid_t u;
    char name[40];
    /* 128 random bits do not collide in practice; the loop only makes the
     * "never reuse a live uuid" property unconditional. */
    for (int tries = 0;; tries++) {
        rc = eai_random(&u, sizeof u);
        if (rc != EA_OK)
            goto out;
        file_name(&u, name);
        if (eai_file_exists_at(mc->dirfd, name) == 0)
            break;
        if (tries == 8) {
            rc = EA_ERR_SYS;
            goto out;
        }
    }
    rc = store(mc, owner, &u, 0);
    if (rc == EA_OK) {
        *uuid = u;
        *value = 0;
    }
out:
    unlock(lfd);
    return rc;
}

int eai_mc_read(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid,
                uint32_t *value)
{
    if (mc == NULL || owner == NULL || uuid == NULL || value == NULL)
        return EA_ERR_INVAL;
    int lfd;
    int rc = lock(mc, &lfd);
    if (rc != EA_OK)
        return rc;
    rc = load(mc, owner, uuid, value);
    unlock(lfd);
    return rc;
}

int eai_mc_increment(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid,
                     uint32_t *value)
{
    if (mc == NULL || owner == NULL || uuid == NULL || value == NULL)
        return EA_ERR_INVAL;
    int lfd;
    int rc = lock(mc, &lfd);
    if (rc != EA_OK)
        return rc;
    uint32_t v = 0;
    rc = load(mc, owner, uuid, &v);
    if (rc == EA_OK && v == UINT32_MAX)
        rc = EA_ERR_LIMIT;
    if (rc == EA_OK)
        rc = store(mc, owner, uuid, v + 1);
    if (rc == EA_OK)
        *value = v + 1;
    unlock(lfd);
    return rc;
}

int eai_mc_destroy(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid)
{
    if (mc == NULL || owner == NULL || uuid == NULL)
        return EA_ERR_INVAL;
    int lfd;
    int rc = lock(mc, &lfd);
    if (rc != EA_OK)
        return rc;
    uint32_t v;
    rc = load(mc, owner, uuid, &v);
    if (rc == EA_OK) {
        char name[40];
        file_name(uuid, name);
        rc = eai_file_remove_at(mc->dirfd, name);
        if (rc == EA_ERR_NOTFOUND)
            rc = EA_ERR_SYS;
    }
    unlock(lfd);
    return rc;
}
