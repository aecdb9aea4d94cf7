/*
 * Fuzz target: the deployment parser and validator (src/runtime/deploy.c).
 * Input: the bytes of a deployment file, loaded from a memfd through
 * /proc/self/fd/N, as the launcher loads a file.
 *
 * Images resolve through EACTORS_IMAGE_PATH to a private directory of dummy
 * files named as in the seed corpus; the fake probe says an image declares
 * every type not starting with "no" and cannot load images whose names
 * start with "bad". On success the model must keep the invariants the rest
 * of the runtime relies on (every index in range, system actors on host
 * workers, AEAD channels between two enclaves, ...); a violation aborts, so
 * a validation hole is a crash like any other. On failure the error text
 * must be "path:..." lines, at most EAI_DEPLOY_MAX_ERRORS of them plus one
 * saying how many were left out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/deploy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCPUS 4

static const char *const images[] = {"img.so",   "bad.so",  "hello.so", "pingpong.so",
                                     "echo.so",  "ring.so", "app.so",   "faulty.so",
                                     "multi.so", "edge.so", "https.so", "attack.so"};

static int fake_probe(void *ctx, const char *image_path, const char *type, char *err, size_t errlen)
{
    (void)ctx;
    const char *base = strrchr(image_path, '/');
    base = base != NULL ? base + 1 : image_path;
    if (strncmp(base, "bad", 3) == 0) {
        snprintf(err, errlen, "not an eactors image");
        return EA_ERR_PARSE;
    }
    return strncmp(type, "no", 2) != 0;
}

static char dir[] = "/tmp/fuzz_deploy_XXXXXX";

/* Removes the image directory when the fuzzer exits (not after a crash). */
static void remove_images(void)
{
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, images[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void setup_images(void)
{
    if (mkdtemp(dir) == NULL)
        abort();
    atexit(remove_images);
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, images[i]);
        FILE *f = fopen(p, "w");
        if (f == NULL)
            abort();
        fputs("dummy image\n", f);
        fclose(f);
    }
    setenv("EACTORS_IMAGE_PATH", dir, 1);
}

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "invariant violated: %s (line %d)\n", #c, __LINE__); \
            abort();                                                             \
        }                                                                        \
    } while (0)

static int domain_of(const eai_deploy_t *d, int actor)
{
    return d->workers[d->actors[actor].worker].enclave;
}

static void check_model(const eai_deploy_t *d)
{
    CHECK(d->nactors >= 1);
    CHECK(d->host_image == NULL || d->host_image_path != NULL);
    for (int i = 0; i < d->nenclaves; i++) {
        CHECK(d->enclaves[i].image_path != NULL);
        CHECK(strcmp(d->enclaves[i].name, "host") != 0);
        CHECK(eai_deploy_find_enclave(d, d->enclaves[i].name) == i);
    }
    for (int i = 0; i < d->nworkers; i++) {
        const eai_dep_worker_t *w = &d->workers[i];
        CHECK(w->enclave == EAI_HOST || (w->enclave >= 0 && w->enclave < d->nenclaves));
        CHECK(w->ncpus >= 1 && w->ncpus <= 64);
        for (int c = 0; c < w->ncpus; c++)
            CHECK(w->cpus[c] >= 0 && w->cpus[c] < NCPUS && (c == 0 || w->cpus[c] > w->cpus[c - 1]));
        CHECK(eai_deploy_find_worker(d, w->name) == i);
    }
    for (int i = 0; i < d->nactors; i++) {
        const eai_dep_actor_t *a = &d->actors[i];
        CHECK(a->worker >= 0 && a->worker < d->nworkers);
        CHECK(eai_deploy_find_actor(d, a->name) == i);
        if (a->builtin == EAI_BUILTIN_SYS) {
            CHECK(domain_of(d, i) == EAI_HOST);
            for (int g = 0; g < a->ngrants; g++) {
                int e = a->grants[g].enclave;
                CHECK(e == EAI_HOST || (e >= 0 && e < d->nenclaves));
            }
        } else {
            CHECK(a->builtin == EAI_BUILTIN_NONE && a->ngrants == 0);
            CHECK(domain_of(d, i) != EAI_HOST || d->host_image_path != NULL);
        }
    }
    for (int i = 0; i < d->nchannels; i++) {
        const eai_dep_channel_t *c = &d->channels[i];
        CHECK(c->a >= 0 && c->a < d->nactors && c->b >= 0 && c->b < d->nactors && c->a != c->b);
        CHECK(c->nodes >= 1 && c->max >= 1);
        if (c->protect == EAI_PROTECT_AEAD) {
            int ea = domain_of(d, c->a), eb = domain_of(d, c->b);
            CHECK(ea != EAI_HOST && eb != EAI_HOST && ea != eb);
        }
    }
}

static void check_errors(const char *path, const char *err)
{
    size_t plen = strlen(path);
    int lines = 0;
    CHECK(err[0] != '\0');
    for (const char *p = err; p != NULL; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
        CHECK(strncmp(p, path, plen) == 0 && p[plen] == ':');
        lines++;
    }
    CHECK(lines <= EAI_DEPLOY_MAX_ERRORS + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    static char err[EAI_DEPLOY_ERRLEN];
    if (fd < 0) {
        setup_images();
        fd = memfd_create("fuzz-deploy", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    eai_deploy_t *d = NULL;
    int rc = eai_deploy_load(path, NCPUS, fake_probe, NULL, &d, err, sizeof err);
    if (rc == EA_OK) {
        CHECK(d != NULL);
        check_model(d);
        eai_deploy_free(d);
    } else {
        CHECK(d == NULL);
        check_errors(path, err);
    }
    return 0;
}
