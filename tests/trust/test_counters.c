/*
 * Monotonic counters and the platform secret file.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "fixture.h"
#include "tmpdir.h"
#include "trust/trust.h"

static void counter_path(const char *dir, const ea_mc_uuid_t *u, char *out, size_t n)
{
    uint8_t raw[16];
    char hex[33];
    memcpy(raw, u->counter_id, 3);
    memcpy(raw + 3, u->nonce, 13);
    eai_hex(raw, 16, hex);
    snprintf(out, n, "%s/counters/%s", dir, hex);
}

static void flip_file_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x01;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void test_counters(void **state)
{
    (void)state;
    int fds = fx_open_fds();
    char dir[64], err[256] = "";
    ea_test_mkdtemp(dir, sizeof dir, "ea-trust-");
    eai_pcore_t pc;
    eai_counters_t mc;
    assert_int_equal(eai_pcore_open(&pc, dir, err, sizeof err), EA_OK);
    assert_int_equal(eai_mc_open(&mc, &pc, dir, err, sizeof err), EA_OK);

    eai_identity_t a, b, c;
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 1, fx_s1, &a);
    fx_identity("enclave B", EA_FLAGS_MODE64BIT, 1, 1, fx_s1, &b);
    fx_identity("enclave C", EA_FLAGS_MODE64BIT, 1, 1, fx_s2, &c);
    eai_local_platform_t la, lb, lc, lnone;
    eai_local_platform_init(&la, &pc, &a, &mc);
    eai_local_platform_init(&lb, &pc, &b, &mc);
    eai_local_platform_init(&lc, &pc, &c, &mc);
    eai_local_platform_init(&lnone, &pc, &a, NULL);

    ea_mc_uuid_t u, u2;
    uint32_t v = 99;
    assert_int_equal(ea_create_monotonic_counter(&u, &v), EA_ERR_PERM); /* host */
    eai_trust_bind(&lnone.ops);
    assert_int_equal(ea_create_monotonic_counter(&u, &v), EA_ERR_PERM); /* no service */

    eai_trust_bind(&la.ops);
    assert_int_equal(ea_create_monotonic_counter(&u, &v), EA_OK);
    assert_int_equal(v, 0);
    assert_int_equal(ea_create_monotonic_counter(&u2, &v), EA_OK);
    assert_memory_not_equal(&u, &u2, sizeof u);
    for (uint32_t i = 1; i <= 3; i++) {
        assert_int_equal(ea_increment_monotonic_counter(&u, &v), EA_OK);
        assert_int_equal(v, i);
    }
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_OK);
    assert_int_equal(v, 3);
    assert_int_equal(ea_read_monotonic_counter(&u2, &v), EA_OK);
    assert_int_equal(v, 0);

    char path[160];
    counter_path(dir, &u, path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 80);

    /* Durable: a new store over the same directory sees the value. */
    eai_mc_close(&mc);
    assert_int_equal(eai_mc_open(&mc, &pc, dir, err, sizeof err), EA_OK);
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_OK);
    assert_int_equal(v, 3);
    /* ... and a new platform start too (same secret, new report key id). */
    eai_mc_close(&mc);
    eai_pcore_close(&pc);
    assert_int_equal(eai_pcore_open(&pc, dir, err, sizeof err), EA_OK);
    assert_int_equal(eai_mc_open(&mc, &pc, dir, err, sizeof err), EA_OK);
    assert_int_equal(ea_increment_monotonic_counter(&u, &v), EA_OK);
    assert_int_equal(v, 4);

    /* Owner is MRSIGNER: B (same signer) may use it, C may not. */
    eai_trust_bind(&lb.ops);
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_OK);
    assert_int_equal(v, 4);
    eai_trust_bind(&lc.ops);
    v = 77;
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_ERR_PERM);
    assert_int_equal(ea_increment_monotonic_counter(&u, &v), EA_ERR_PERM);
    assert_int_equal(ea_destroy_monotonic_counter(&u), EA_ERR_PERM);
    assert_int_equal(v, 77);

    /* Edited files are detected. */
    eai_trust_bind(&la.ops);
    flip_file_byte(path, 56); /* the value */
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_ERR_AUTH);
    assert_int_equal(ea_increment_monotonic_counter(&u, &v), EA_ERR_AUTH);
    flip_file_byte(path, 56);
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_OK);
    assert_int_equal(v, 4);
    flip_file_byte(path, 30); /* the owner */
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_ERR_AUTH);
    flip_file_byte(path, 30);
    assert_int_equal(truncate(path, 79), 0);
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_ERR_AUTH);

    /* A valid file of another counter copied over this one's name. */
    char path2[160], cmd[400];
    counter_path(dir, &u2, path2, sizeof path2);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path2, path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ea_read_monotonic_counter(&u, &v), EA_ERR_AUTH);

    /* Destroy. */
    assert_int_equal(ea_destroy_monotonic_counter(&u2), EA_OK);
    assert_int_equal(ea_read_monotonic_counter(&u2, &v), EA_ERR_NOTFOUND);
    assert_int_equal(ea_increment_monotonic_counter(&u2, &v), EA_ERR_NOTFOUND);
    assert_int_equal(ea_destroy_monotonic_counter(&u2), EA_ERR_NOTFOUND);
    assert_int_equal(access(path2, F_OK), -1);

    /* A counter at its maximum does not wrap. */
    ea_mc_uuid_t top;
    assert_int_equal(ea_create_monotonic_counter(&top, &v), EA_OK);
    char ptop[160];
    counter_path(dir, &top, ptop, sizeof ptop);
    uint8_t file[80];
    FILE *fp = fopen(ptop, "r+");
    assert_non_null(fp);
    assert_int_equal(fread(file, 1, sizeof file, fp), 80);
    memset(file + 56, 0xff, 4);
    assert_int_equal(eai_cmac_aes128(mc.mac_key, file, 64, file + 64), EA_OK);
    rewind(fp);
    assert_int_equal(fwrite(file, 1, sizeof file, fp), 80);
    fclose(fp);
    assert_int_equal(ea_read_monotonic_counter(&top, &v), EA_OK);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(ea_increment_monotonic_counter(&top, &v), EA_ERR_LIMIT);
    assert_int_equal(ea_read_monotonic_counter(&top, &v), EA_OK);
    assert_int_equal(v, UINT32_MAX);
    eai_trust_bind(NULL);

    eai_mc_close(&mc);
    eai_pcore_close(&pc);
    ea_test_rmtree(dir);
    assert_int_equal(fx_open_fds(), fds);
}

static void test_secret_file(void **state)
{
    (void)state;
    char dir[64], sub[96], path[128], err[256] = "", expect[300];
    ea_test_mkdtemp(dir, sizeof dir, "ea-trust-");
    snprintf(sub, sizeof sub, "%s/platform", dir);
    snprintf(path, sizeof path, "%s/secret", sub);

    eai_pcore_t p1, p2;
    assert_int_equal(eai_pcore_open(&p1, sub, err, sizeof err), EA_OK);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 32);

    assert_int_equal(eai_pcore_open(&p2, sub, err, sizeof err), EA_OK);
    assert_memory_equal(p1.secret, p2.secret, 32);
    /* The report key id is per start. */
    assert_memory_not_equal(p1.report_key_id, p2.report_key_id, 32);
    eai_pcore_close(&p1);
    eai_pcore_close(&p2);
    uint8_t zero[32] = {0};
    assert_memory_equal(p1.secret, zero, 32);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(eai_pcore_open(&p1, sub, err, sizeof err), EA_ERR_PERM);
    snprintf(expect, sizeof expect, "platform secret '%s' is readable by others (mode 0644)", path);
    assert_string_equal(err, expect);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(eai_pcore_open(&p1, sub, err, sizeof err), EA_ERR_PERM);
    assert_int_equal(chmod(path, 0600), 0);

    assert_int_equal(truncate(path, 31), 0);
    assert_int_equal(eai_pcore_open(&p1, sub, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect, "platform secret '%s' has 31 bytes (expected 32)", path);
    assert_string_equal(err, expect);

    /* A platform directory others may write is refused. */
    char d2[96];
    snprintf(d2, sizeof d2, "%s/open", dir);
    assert_int_equal(mkdir(d2, 0700), 0);
    assert_int_equal(chmod(d2, 0777), 0);
    assert_int_equal(eai_pcore_open(&p1, d2, err, sizeof err), EA_ERR_PERM);
    assert_non_null(strstr(err, "is writable by others (mode 0777)"));

    /* A symbolic link is not followed. */
    char d3[96], target[160];
    snprintf(d3, sizeof d3, "%s/linked", dir);
    assert_int_equal(mkdir(d3, 0700), 0);
    snprintf(target, sizeof target, "%s/secret", d3);
    assert_int_equal(symlink(path, target), 0);
    assert_int_not_equal(eai_pcore_open(&p1, d3, err, sizeof err), EA_OK);

    ea_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_secret_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
