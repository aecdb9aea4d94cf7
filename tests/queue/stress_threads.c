/*
 * Queue stress test with threads: producers and consumers share one pool
 * and one mbox in the same process (see stress_common.h for the options and
 * stress_common.c for what is checked). Threads are pinned round-robin over
 * the available CPUs.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "stress_common.h"

struct worker {
    pthread_t thread;
    struct stress_ctx *ctx;
    uint32_t id;  /* producer or consumer number */
    uint32_t cpu; /* round-robin slot */
    int producer;
    int result;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    if (stress_pin(w->cpu) != 0) {
        stress_abort(w->ctx);
        w->result = -1;
        return NULL;
    }
    w->result = w->producer ? stress_produce(w->ctx, w->id) : stress_consume(w->ctx, w->id);
    return NULL;
}

int main(int argc, char **argv)
{
    struct stress_params prm;
    if (stress_parse(argc, argv, &prm) != 0)
        return 2;
    size_t size = stress_region_size(&prm);
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct stress_ctx ctx;
    if (stress_init(&ctx, base, &prm) != 0)
        return 1;

    uint32_t n = prm.producers + prm.consumers;
    struct worker *w = calloc(n, sizeof *w);
    if (w == NULL)
        return 1;
    int rc = 0;
    uint32_t started = 0;
    /* Producers first, then consumers; CPU slots round-robin over both. */
    for (uint32_t i = 0; i < n; i++) {
        w[i].ctx = &ctx;
        w[i].cpu = i;
        w[i].producer = i < prm.producers;
        w[i].id = w[i].producer ? i : i - prm.producers;
    }
    for (; started < n; started++) {
        int err = pthread_create(&w[started].thread, NULL, run_worker, &w[started]);
        if (err != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(err));
            stress_abort(&ctx);
            rc = 1;
            break;
        }
    }
    for (uint32_t i = 0; i < started; i++) {
        int err = pthread_join(w[i].thread, NULL);
        if (err != 0) {
            fprintf(stderr, "pthread_join: %s\n", strerror(err));
            rc = 1;
        } else if (w[i].result != 0) {
            rc = 1;
        }
    }
    if (rc == 0 && stress_check(&ctx) != 0)
        rc = 1;
    free(w);
    munmap(base, size);
    return rc;
}
