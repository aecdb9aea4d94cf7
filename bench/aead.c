/*
 * ea_bench_aead: the `aead` baseline row of bench/pingpong. For each size it
 * times one AES-GCM-128 seal plus one open of `size` bytes with the same
 * wrappers (src/crypto, OpenSSL libcrypto) and the same context reuse as an
 * eactors AEAD channel, and prints CSV rows
 *   pingpong,aead,size_bytes,rounds,rtt_ns_median,rtt_ns_p99,msgs_per_s
 * where the "rtt" columns are the time of one seal + open and msgs_per_s is
 * seal+open pairs per second. A protected round trip costs two of these
 * (one per direction) on top of the message hand-over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *sizes = "16,1024,16384,65536,524288";
    unsigned long rounds_arg = 100000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds_arg = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: ea_bench_aead [--sizes a,b,..] [--rounds N]\n");
            return 2;
        }
    }
    if (eai_crypto_init() != EA_OK)
        return 1;
    uint8_t key[16], iv[12] = {0}, aad[20] = {0}, tag[16];
    eai_random(key, sizeof key);
    eai_aead_t tx, rx;
    if (eai_aead_init(&tx, key, 16) != EA_OK || eai_aead_init(&rx, key, 16) != EA_OK)
        return 1;
    char *list = strdup(sizes);
    for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
        size_t size = strtoul(tok, NULL, 10);
        /* Same rule as the pingpong rows: fewer rounds for big messages. */
        uint64_t rounds = rounds_arg;
        if (size > 1024 && rounds * 1024 / size < rounds)
            rounds = rounds * 1024 / size;
        if (rounds < 200)
            rounds = 200;
        uint8_t *pt = malloc(size), *ct = malloc(size), *out = malloc(size);
        uint64_t *t = calloc(rounds, sizeof *t);
        if (!pt || !ct || !out || !t)
            return 1;
        memset(pt, 0xa5, size);
        uint64_t start = 0;
        for (uint64_t r = 0; r < rounds + rounds / 10; r++) {
            if (r == rounds / 10)
                start = now_ns();
            memcpy(iv + 4, &r, 8);
            uint64_t t0 = now_ns();
            if (eai_aead_seal(&tx, iv, aad, sizeof aad, pt, size, ct, tag) != EA_OK ||
                eai_aead_open(&rx, iv, aad, sizeof aad, ct, size, out, tag) != EA_OK)
                return 1;
            uint64_t t1 = now_ns();
            if (r >= rounds / 10)
                t[r - rounds / 10] = t1 - t0;
        }
        double secs = (double)(now_ns() - start) / 1e9;
        qsort(t, rounds, sizeof *t, cmp);
        printf("pingpong,aead,%zu,%llu,%llu,%llu,%.0f\n", size, (unsigned long long)rounds,
               (unsigned long long)t[rounds / 2], (unsigned long long)t[rounds * 99 / 100],
               (double)rounds / secs);
        free(pt);
        free(ct);
        free(out);
        free(t);
    }
    free(list);
    eai_aead_fini(&tx);
    eai_aead_fini(&rx);
    return 0;
}
