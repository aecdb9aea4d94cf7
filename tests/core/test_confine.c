/*
 * The platform layer's confinement primitives, attacked the way confined
 * code would attack them. Each case runs in a child process (confinement
 * cannot be undone) and reports by its exit status; each first does the
 * attack unconfined (the control) so the test cannot pass because the
 * attack was broken.
 *  - Landlock on the platform service's grants: openat(counters, "../secret")
 *    reads the secret before, fails after; files in counters/ still work.
 *  - The enclave's loading allow-list: executable mappings of anonymous
 *    memory, of a descriptor open before confinement, or writable and
 *    executable at once are refused (SIGSYS); a read-execute mapping of a
 *    memfd opened after confinement (what the loader does) works.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <eactors/ea_err.h>

#include "platform/platform.h"
#include "tmpdir.h"

/* Runs fn in a child; returns its wait status. */
static int in_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka catches SIGSYS in the parent; the child dies of it. */
        signal(SIGSYS, SIG_DFL);
        _exit(fn(arg));
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static int service_grants(void *arg)
{
    const char *dir = arg;
    char counters[512];
    snprintf(counters, sizeof counters, "%s/counters", dir);
    int dfd = open(counters, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return 10;
    int fd = openat(dfd, "../secret", O_RDONLY); /* control: works unconfined */
    if (fd < 0)
        return 11;
    close(fd);
    char err[256];
    const eai_fs_grant_t g[] = {{counters, EAI_FS_WRITE}};
    if (eai_landlock_confine(g, 1, true, err, sizeof err) != EA_OK) {
        fprintf(stderr, "%s\n", err);
        return 12;
    }
    fd = openat(dfd, "../secret", O_RDONLY);
    if (fd >= 0 || errno != EACCES)
        return 13; /* the attack */
    fd = openat(dfd, "c1", O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return 14; /* the service's own files */
    close(fd);
    if (unlinkat(dfd, "c1", 0) != 0)
        return 15;
    return 0;
}

static void test_service_landlock(void **state)
{
    (void)state;
    char dir[256], path[512];
    ea_test_mkdtemp(dir, sizeof dir, "ea_confine");
    snprintf(path, sizeof path, "%s/counters", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/secret", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("0123456789abcdef0123456789abcdef", f);
    fclose(f);
    int st = in_child(service_grants, dir);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    ea_test_rmtree(dir);
}

enum { MAP_ANON_EXEC, MAP_OLD_FD_EXEC, MAP_NEW_FD_WX, MAP_NEW_FD_RX };

static int load_list(void *arg)
{
    int what = (int)(intptr_t)arg;
    int old = memfd_create("old", MFD_CLOEXEC);
    if (old < 0 || ftruncate(old, 4096) != 0)
        return 10;
    /* Control: all of these work unconfined. */
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 11;
    munmap(p, 4096);
    int max_fd;
    int keep[] = {old};
    if (eai_fds_compact(keep, 1, &max_fd) != EA_OK)
        return 12;
    old = keep[0];
    char err[256];
    if (eai_confine_for_load(-1, max_fd, err, sizeof err) != EA_OK) {
        fprintf(stderr, "%s\n", err);
        return 13;
    }
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", old);
    int fresh = open(self, O_RDONLY | O_CLOEXEC); /* as the loader reopens the image */
    if (fresh <= max_fd)
        return 14;
    switch (what) {
    case MAP_ANON_EXEC:
        p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        break;
    case MAP_OLD_FD_EXEC: p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, old, 0); break;
    case MAP_NEW_FD_WX:
        p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE, fresh, 0);
        break;
    default: p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fresh, 0); break;
    }
    return p == MAP_FAILED ? 20 : 0;
}

static void test_load_list_exec(void **state)
{
    (void)state;
    int st = in_child(load_list, (void *)(intptr_t)MAP_ANON_EXEC);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
    st = in_child(load_list, (void *)(intptr_t)MAP_OLD_FD_EXEC);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
    st = in_child(load_list, (void *)(intptr_t)MAP_NEW_FD_WX);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
    st = in_child(load_list, (void *)(intptr_t)MAP_NEW_FD_RX);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_landlock),
        cmocka_unit_test(test_load_list_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
