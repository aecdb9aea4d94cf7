/*
 * Queue stress test with processes: the parent formats a pool and an mbox in
 * a memfd mapped MAP_SHARED, then forks one process per producer and per
 * consumer (see stress_common.h for the options and stress_common.c for what
 * is checked). Each child maps the memfd again, at an address of its own,
 * unmaps the parent's mapping and attaches there, so a pointer stored in the
 * storage by anyone would point into nothing. Children report through the
 * shared region and their exit status; the parent waits for all of them and
 * checks.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stress_common.h"

static int run_child(uint32_t n, int fd, void *parent_map, size_t size,
                     const struct stress_params *prm, struct stress_ctx *parent_ctx)
{
    /* Ask for a different address in each child (a hint only: if that
     * range is taken the kernel picks another one, which is just as good). */
    size_t stride = ((size + (UINT32_C(1) << 21) - 1) & ~(size_t)((UINT32_C(1) << 21) - 1)) +
                    (UINT32_C(1) << 21);
    void *hint = (uint8_t *)parent_map - ((size_t)n + 1) * stride;
    void *base = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("child mmap");
        stress_abort(parent_ctx);
        return 1;
    }
    if (munmap(parent_map, size) != 0) {
        perror("child munmap");
        stress_abort(parent_ctx);
        return 1;
    }
    struct stress_ctx ctx;
    int producer = n < prm->producers;
    uint32_t id = producer ? n : n - prm->producers;
    if (stress_attach(&ctx, base, prm) != 0)
        return 1;
    printf("%s %" PRIu32 ": pid %ld, region at %p\n", producer ? "producer" : "consumer", id,
           (long)getpid(), base);
    fflush(stdout);
    if (stress_pin(n) != 0) {
        stress_abort(&ctx);
        return 1;
    }
    int rc = producer ? stress_produce(&ctx, id) : stress_consume(&ctx, id);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct stress_params prm;
    if (stress_parse(argc, argv, &prm) != 0)
        return 2;
    size_t size = stress_region_size(&prm);
    int fd = memfd_create("eactors-queue-stress", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        return 1;
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        perror("ftruncate");
        return 1;
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct stress_ctx ctx;
    if (stress_init(&ctx, base, &prm) != 0)
        return 1;
    printf("parent: pid %ld, region at %p\n", (long)getpid(), base);
    /* Flush before fork so buffered output is not written twice. */
    fflush(stdout);

    uint32_t n = prm.producers + prm.consumers;
    uint32_t live = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            stress_abort(&ctx);
            rc = 1;
            break;
        }
        /* exit, not _exit: a sanitizer's report in the child then shows in
         * its exit status. Nothing is buffered (flushed above). */
        if (pid == 0)
            exit(run_child(i, fd, base, size, &prm, &ctx));
        live++;
    }
    /* A failed child raises the abort flag itself; one that died does not
     * get to, so the parent raises it for the others. */
    while (live > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            perror("waitpid");
            return 1;
        }
        live--;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        if (WIFSIGNALED(status))
            fprintf(stderr, "child %ld killed by signal %d\n", (long)pid, WTERMSIG(status));
        else
            fprintf(stderr, "child %ld exited with %d\n", (long)pid, WEXITSTATUS(status));
        stress_abort(&ctx);
        rc = 1;
    }
    if (rc == 0 && stress_check(&ctx) != 0)
        rc = 1;
    munmap(base, size);
    close(fd);
    return rc;
}
