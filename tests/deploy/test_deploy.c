/*
 * Tests of the deployment-file parser and validator (src/runtime/deploy.c):
 * one full valid file checked field by field, a table of invalid files each
 * checked against its exact "file:line: message", and eai_parse_size.
 *
 * Files are written into a fresh mkdtemp directory together with dummy image
 * files; the CPU count is passed explicitly, so nothing depends on the
 * machine. The fake probe says "yes" unless the type starts with "no", and
 * fails to load any image whose file name starts with "bad".
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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

#include "runtime/deploy.h"
#include "tmpdir.h"

static char tmpdir[256];
static char file[300];
static int probe_calls;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int fake_probe(void *ctx, const char *image_path, const char *type, char *err, size_t errlen)
{
    (void)ctx;
    probe_calls++;
    const char *base = strrchr(image_path, '/');
    base = base != NULL ? base + 1 : image_path;
    if (strncmp(base, "bad", 3) == 0) {
        snprintf(err, errlen, "not an eactors image");
        return EA_ERR_PARSE;
    }
    return strncmp(type, "no", 2) != 0;
}

static int setup(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    ea_test_mkdtemp(tmpdir, sizeof tmpdir, "ea_deploy_");
    snprintf(file, sizeof file, "%s/d.xml", tmpdir);
    snprintf(path, sizeof path, "%s/img.so", tmpdir);
    write_file(path, "dummy image\n");
    snprintf(path, sizeof path, "%s/bad.so", tmpdir);
    write_file(path, "dummy image\n");
    snprintf(path, sizeof path, "%s/hello.so", tmpdir);
    write_file(path, "dummy image\n");
    snprintf(path, sizeof path, "%s/sub", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/abs.so", tmpdir);
    write_file(path, "dummy image\n");
    snprintf(path, sizeof path, "%s/lib", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/lib/onpath.so", tmpdir);
    write_file(path, "dummy image\n");
    snprintf(path, sizeof path, "%s/adir.so", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    unsetenv("EACTORS_IMAGE_PATH");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *rm[] = {"d.xml", "img.so",        "bad.so", "hello.so", "sub/abs.so",
                        "sub",   "lib/onpath.so", "lib",    "adir.so"};
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof rm / sizeof rm[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, rm[i]);
        if (remove(path) != 0 && errno != ENOENT)
            fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
    }
    assert_int_equal(rmdir(tmpdir), 0);
    return 0;
}

/* Writes `xml` to the test file and loads it with 2 CPUs and the fake probe. */
static int load(const char *xml, eai_deploy_t **d, char *err, size_t errlen)
{
    write_file(file, xml);
    return eai_deploy_load(file, 2, fake_probe, NULL, d, err, errlen);
}

/* ------------------------------------------------------------- parse_size -- */

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"64", 64},
        {"007", 7},
        {"1K", 1024},
        {"16K", 16384},
        {"1M", 1048576},
        {"3G", 3ull << 30},
        {"0K", 0},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183G", 17179869183ull << 30},
    };
    static const char *const bad[] = {
        "",
        "K",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1k",
        "1m",
        "1KB",
        "1KK",
        "12Q",
        "1.5K",
        "0x10",
        "18446744073709551616",
        "17179869184G",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 12345;
        assert_int_equal(eai_parse_size(good[i].s, &v), EA_OK);
        assert_true(v == good[i].v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        int rc = eai_parse_size(bad[i], &v);
        if (rc != EA_ERR_PARSE)
            fail_msg("eai_parse_size(\"%s\") = %d", bad[i], rc);
        assert_true(v == 12345); /* untouched on error */
    }
    uint64_t v;
    assert_int_equal(eai_parse_size(NULL, &v), EA_ERR_INVAL);
    assert_int_equal(eai_parse_size("1", NULL), EA_ERR_INVAL);
}

/* ------------------------------------------------------------------ valid -- */

static void test_valid_full(void **state)
{
    (void)state;
    char xml[4096], err[512] = "x";
    char abs[512], onpath[PATH_MAX + 32], libenv[512];
    snprintf(abs, sizeof abs, "%s/sub/abs.so", tmpdir);
    snprintf(libenv, sizeof libenv, "/nonexistent::%s/lib", tmpdir);
    setenv("EACTORS_IMAGE_PATH", libenv, 1);
    snprintf(xml, sizeof xml,
             "<?xml version='1.0'?>\n"                                                 /* 1 */
             "<eactors>\n"                                                             /* 2 */
             "  <!-- references point forward -->\n"                                   /* 3 */
             "  <actor name='ping' type='ping' worker='w0'>\n"                         /* 4 */
             "    <param name='rounds' value='1000'/>\n"                               /* 5 */
             "    <param name='msg.size' value=''/>\n"                                 /* 6 */
             "  </actor>\n"                                                            /* 7 */
             "  <host image='img.so'/>\n"                                              /* 8 */
             "  <enclave name='left' image='img.so'/>\n"                               /* 9 */
             "  <enclave name='right' image='%s' backend='none' spawn='0'/>\n"         /* 10 */
             "  <enclave name='third' image='onpath.so' backend='proc' spawn='1K'/>\n" /* 11 */
             "  <worker name='w0' cpus='0' enclave='left' idle='spin'/>\n"             /* 12 */
             "  <worker name='w1' cpus='1,0' enclave='right' idle='park'/>\n"          /* 13 */
             "  <worker name='h' cpus='0-1' spin='5' idle='adaptive'/>\n"              /* 14 */
             "  <worker name='idle_worker' cpus='1' enclave='third'/>\n"               /* 15 */
             "  <actor name='pong' type='pong' worker='w1'/>\n"                        /* 16 */
             "  <actor name='mon' type='mon' worker='h'/>\n"                           /* 17 */
             "  <actor name='ping2' type='ping' worker='w0'></actor>\n"                /* 18 */
             "  <channel name='pp' between='ping pong' nodes='128' max='64K' protect='aead'/>\n"
             "  <channel name='pp2' between='  pong   ping ' />\n" /* 20 */
             "  <channel name='hm' between='mon ping' nodes='1K' max='512K' protect='plain'/>\n"
             "  <channel name='x' between='ping2 ping' protect='auto'/>\n" /* 22 */
             "</eactors>\n",
             abs);
    eai_deploy_t *d = NULL;
    probe_calls = 0;
    int rc = load(xml, &d, err, sizeof err);
    unsetenv("EACTORS_IMAGE_PATH");
    if (rc != EA_OK)
        fail_msg("load failed: %s", err);
    assert_string_equal(err, "");
    assert_non_null(d);
    /* (left img.so, ping), (right abs.so, pong), (host img.so, mon): ping2 reuses a pair. */
    assert_int_equal(probe_calls, 3);

    assert_string_equal(d->path, file);
    assert_string_equal(d->dir, tmpdir);
    char real[PATH_MAX], expect[PATH_MAX + 32];
    assert_non_null(realpath(tmpdir, real));
    snprintf(expect, sizeof expect, "%s/img.so", real);
    assert_string_equal(d->host_image, "img.so");
    assert_string_equal(d->host_image_path, expect);
    assert_int_equal(d->host_line, 8);

    assert_int_equal(d->nenclaves, 3);
    assert_string_equal(d->enclaves[0].name, "left");
    assert_string_equal(d->enclaves[0].image, "img.so");
    assert_string_equal(d->enclaves[0].image_path, expect);
    assert_int_equal(d->enclaves[0].backend, EAI_BACKEND_PROC);
    assert_int_equal(d->enclaves[0].spawn, 16);
    assert_int_equal(d->enclaves[0].line, 9);
    assert_string_equal(d->enclaves[1].name, "right");
    assert_string_equal(d->enclaves[1].image, abs);
    snprintf(expect, sizeof expect, "%s/sub/abs.so", real);
    assert_string_equal(d->enclaves[1].image_path, expect);
    assert_int_equal(d->enclaves[1].backend, EAI_BACKEND_NONE);
    assert_int_equal(d->enclaves[1].spawn, 0);
    snprintf(onpath, sizeof onpath, "%s/lib/onpath.so", real);
    assert_string_equal(d->enclaves[2].image, "onpath.so");
    assert_string_equal(d->enclaves[2].image_path, onpath);
    assert_int_equal(d->enclaves[2].spawn, 1024);
    assert_int_equal(d->enclaves[2].backend, EAI_BACKEND_PROC);

    assert_int_equal(d->nworkers, 4);
    assert_string_equal(d->workers[0].name, "w0");
    assert_int_equal(d->workers[0].enclave, 0);
    assert_int_equal(d->workers[0].ncpus, 1);
    assert_int_equal(d->workers[0].cpus[0], 0);
    assert_int_equal(d->workers[0].idle, EAI_IDLE_SPIN);
    assert_int_equal(d->workers[0].spin, 0); /* its one CPU is w1's and h's too */
    assert_int_equal(d->workers[0].line, 12);
    assert_int_equal(d->workers[1].enclave, 1);
    assert_int_equal(d->workers[1].ncpus, 2);
    assert_int_equal(d->workers[1].cpus[0], 0);
    assert_int_equal(d->workers[1].cpus[1], 1);
    assert_int_equal(d->workers[1].idle, EAI_IDLE_PARK);
    assert_int_equal(d->workers[1].spin, EAI_SPIN_DEFAULT); /* two CPUs */
    assert_int_equal(d->workers[2].enclave, EAI_HOST);
    assert_int_equal(d->workers[2].ncpus, 2);
    assert_int_equal(d->workers[2].idle, EAI_IDLE_ADAPTIVE);
    assert_int_equal(d->workers[2].spin, 5);
    assert_int_equal(d->workers[3].enclave, 2);
    assert_int_equal(d->workers[3].spin, 0);

    assert_int_equal(d->nactors, 4);
    const eai_dep_actor_t *a = &d->actors[0];
    assert_string_equal(a->name, "ping");
    assert_string_equal(a->type, "ping");
    assert_int_equal(a->worker, 0);
    assert_int_equal(a->line, 4);
    assert_int_equal(a->nparams, 2);
    assert_string_equal(a->params[0].key, "rounds");
    assert_string_equal(a->params[0].value, "1000");
    assert_string_equal(a->params[1].key, "msg.size");
    assert_string_equal(a->params[1].value, "");
    assert_string_equal(d->actors[1].name, "pong");
    assert_int_equal(d->actors[1].worker, 1);
    assert_int_equal(d->actors[1].nparams, 0);
    assert_null(d->actors[1].params);
    assert_int_equal(d->actors[2].worker, 2);
    assert_int_equal(d->actors[3].worker, 0);

    assert_int_equal(d->nchannels, 4);
    const eai_dep_channel_t *c = &d->channels[0];
    assert_string_equal(c->name, "pp");
    assert_int_equal(c->a, 0);
    assert_int_equal(c->b, 1);
    assert_int_equal(c->nodes, 128);
    assert_int_equal(c->max, 65536);
    assert_int_equal(c->protect, EAI_PROTECT_AEAD);
    assert_int_equal(c->line, 19);
    c = &d->channels[1];
    assert_int_equal(c->a, 1);
    assert_int_equal(c->b, 0);
    assert_int_equal(c->nodes, 64);
    assert_int_equal(c->max, 4096);
    assert_int_equal(c->protect, EAI_PROTECT_AUTO);
    c = &d->channels[2];
    assert_int_equal(c->nodes, 1024);
    assert_int_equal(c->max, 524288);
    assert_int_equal(c->protect, EAI_PROTECT_PLAIN);
    assert_int_equal(d->channels[3].a, 3);

    assert_int_equal(eai_deploy_find_actor(d, "pong"), 1);
    assert_int_equal(eai_deploy_find_actor(d, "nope"), -1);
    assert_int_equal(eai_deploy_find_worker(d, "h"), 2);
    assert_int_equal(eai_deploy_find_worker(d, "ping"), -1);
    assert_int_equal(eai_deploy_find_enclave(d, "right"), 1);
    assert_int_equal(eai_deploy_find_enclave(d, NULL), -1);
    assert_int_equal(eai_deploy_find_actor(NULL, "ping"), -1);
    eai_deploy_free(d);
    eai_deploy_free(NULL);
}

/* Separate namespaces, no probe, many CPUs, empty params, limits just inside. */
static void test_valid_edges(void **state)
{
    (void)state;
    const char *xml = "<eactors>\n"
                      "<enclave name='x' image='img.so' spawn='65536'/>\n"
                      "<worker name='x' cpus='0-1,3,5-6,6,0' enclave='x'/>\n"
                      "<actor name='x' type='notype' worker='x'/>\n"
                      "<actor name='y' type='t' worker='x'/>\n"
                      "<channel name='x' between='x y' nodes='1048576' max='992'/>\n"
                      "<channel name='y' between='x y' nodes='1' max='64M'/>\n"
                      "</eactors>\n";
    write_file(file, xml);
    eai_deploy_t *d = NULL;
    char err[512];
    int rc = eai_deploy_load(file, 8, NULL, NULL, &d, err, sizeof err);
    if (rc != EA_OK)
        fail_msg("load failed: %s", err);
    assert_int_equal(d->enclaves[0].spawn, 65536);
    assert_null(d->host_image);
    assert_null(d->host_image_path);
    const eai_dep_worker_t *w = &d->workers[0];
    assert_int_equal(w->ncpus, 5);
    int expect[] = {0, 1, 3, 5, 6};
    for (int i = 0; i < 5; i++)
        assert_int_equal(w->cpus[i], expect[i]);
    /* 1048576 nodes of (992 + 32) = 1024 bytes is exactly 1G: allowed. */
    assert_int_equal(d->channels[0].nodes, 1048576);
    assert_int_equal(d->channels[1].max, 64u << 20);
    eai_deploy_free(d);
}

/* ---------------------------------------------------------------- invalid -- */

/* Common start: lines 1-4. Cases continue at line 5. */
#define PRE                                \
    "<eactors>\n"                          \
    "<host image='img.so'/>\n"             \
    "<enclave name='e' image='img.so'/>\n" \
    "<worker name='w' cpus='0' enclave='e'/>\n"
#define A5 "<actor name='a' type='t' worker='w'/>\n"
#define B6 "<actor name='b' type='t' worker='w'/>\n"
#define END "</eactors>\n"
#define H5 "<worker name='h' cpus='1'/>\n"
#define A6 "<actor name='a' type='t' worker='w'/>\n"

/* A file with one error at `line`, or (line 0) several: `msg` is then the
 * lines "LINE: message" in the order reported, without the file name. */
typedef struct bad_case {
    const char *xml;
    int line;
    const char *msg;
} bad_case_t;

/* The expected error text: each "LINE: message" of `lines` prefixed with
 * the file name (or just "file:line: msg" for one error at `line` > 0). */
static void expected(char *out, size_t len, int line, const char *lines)
{
    if (line > 0) {
        snprintf(out, len, "%s:%d: %s", file, line, lines);
        return;
    }
    size_t pos = 0;
    for (const char *p = lines; *p != '\0' && pos < len;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        int w = snprintf(out + pos, len - pos, "%s%s:%.*s", pos > 0 ? "\n" : "", file, (int)n, p);
        if (w < 0)
            break;
        pos += (size_t)w;
        p += n + (nl != NULL);
    }
}

static const bad_case_t bad_cases[] = {
    /* XML well-formedness */
    {"<eactors>\n<actor name='a' type='t' worker='w'>\n</eactors>\n", 3,
     "XML error: Opening and ending tag mismatch: actor line 2 and eactors"},
    {"", 1, "XML error: Document is empty"},
    {"<eactors>\n<actor name='a' name='b'/>\n</eactors>\n", 2,
     "XML error: Attribute name redefined"},
    {"<eactors>\n</eactors>\n<x/>\n", 3, "XML error: Extra content at the end of the document"},
    /* root */
    {"<deploy>\n</deploy>\n", 1, "root element must be <eactors>, not <deploy>"},
    {"\n<eactor/>\n", 2, "root element must be <eactors>, not <eactor>"},
    {"<eactors version='1'/>\n", 1, "<eactors>: unknown attribute 'version'"},
    /* unknown elements and attributes */
    {PRE A5 "<actr name='b'/>\n" END, 6, "unknown element <actr> in <eactors>"},
    {PRE
     "<actor name='a' type='t' worker='w'>\n<param name='k' value='v'/>\n<parm/>\n</actor>\n" END,
     7, "unknown element <parm> in <actor>"},
    {PRE A5 "<worker name='w2' cpus='0' foo='1'/>\n" END, 6, "<worker>: unknown attribute 'foo'"},
    {PRE A5 "<channel name='c' between='a a' Nodes='1'/>\n" END, 6,
     "<channel>: unknown attribute 'Nodes'"},
    {PRE "<actor name='a' type='t' worker='w'>\n<param name='k' value='v' x='1'/>\n</actor>\n" END,
     6, "<param>: unknown attribute 'x'"},
    /* missing attributes */
    {PRE "<actor name='a' worker='w'/>\n" END, 5, "<actor>: missing attribute 'type'"},
    {PRE A5 "<worker name='w2'/>\n" END, 6, "<worker>: missing attribute 'cpus'"},
    {PRE A5 "<enclave name='e2'/>\n" END, 6, "<enclave>: missing attribute 'image'"},
    {PRE A5 "<host/>\n" END, 6, "<host>: missing attribute 'image'"},
    {PRE A5 "<channel between='a b'/>\n" END, 6, "<channel>: missing attribute 'name'"},
    {PRE "<actor name='a' type='t' worker='w'>\n<param name='k'/>\n</actor>\n" END, 6,
     "<param>: missing attribute 'value'"},
    {PRE "<actor name='a' type='t' worker='w'>\n<param value='v'/>\n</actor>\n" END, 6,
     "<param>: missing attribute 'name'"},
    /* names */
    {PRE "<actor name='a b' type='t' worker='w'/>\n" END, 5, "<actor>: invalid name 'a b'"},
    {PRE "<actor name='1a' type='t' worker='w'/>\n" END, 5, "<actor>: invalid name '1a'"},
    {PRE "<actor name='' type='t' worker='w'/>\n" END, 5, "<actor>: invalid name ''"},
    {PRE A5 "<worker name='-w' cpus='0'/>\n" END, 6, "<worker>: invalid name '-w'"},
    {PRE A5 "<channel name='c123456789012345678901234567890123456789012345678901234567890123' "
            "between='a b'/>\n" END,
     6,
     "<channel>: invalid name "
     "'c123456789012345678901234567890123456789012345678901234567890123'"},
    {PRE "<actor name='a' type='t' worker='w'>\n<param name='a/b' value='v'/>\n</actor>\n" END, 6,
     "<param>: invalid name 'a/b'"},
    /* control characters never break the one-line message */
    {PRE "<actor name='a&#10;b' type='t' worker='w'/>\n" END, 5, "<actor>: invalid name 'a?b'"},
    /* duplicates */
    {PRE A5 "<actor name='a' type='u' worker='w'/>\n" END, 6,
     "duplicate <actor> name 'a' (first at line 5)"},
    {PRE A5 "<worker name='w' cpus='1'/>\n" END, 6,
     "duplicate <worker> name 'w' (first at line 4)"},
    {PRE A5 "<enclave name='e' image='img.so'/>\n" END, 6,
     "duplicate <enclave> name 'e' (first at line 3)"},
    /* "host" names the host domain (<grant enclave="host">): no enclave may
     * take it, and a worker naming it does not get a second error. */
    {PRE A5 "<enclave name='host' image='img.so'/>\n" END, 6,
     "<enclave>: name 'host' is reserved for the host domain"},
    {PRE A5 "<enclave name='host' image='img.so'/>\n<worker name='w2' cpus='1' enclave='host'/>\n"
            "<actor name='b' type='t' worker='w2'/>\n" END,
     6, "<enclave>: name 'host' is reserved for the host domain"},
    {PRE A5 "<worker name='w2' cpus='1' enclave='host'/>\n" END, 6,
     "<worker> 'w2': unknown enclave 'host'"},
    {PRE A5 B6 "<channel name='c' between='a b'/>\n<channel name='c' between='b a'/>\n" END, 8,
     "duplicate <channel> name 'c' (first at line 7)"},
    {PRE A5 "<host image='img.so'/>\n" END, 6, "duplicate <host> (first at line 2)"},
    {PRE "<actor name='ping' type='t' worker='w'>\n<param name='rounds' value='1'/>\n"
         "<param name='rounds' value='2'/>\n</actor>\n" END,
     7, "<param>: duplicate parameter 'rounds' of actor 'ping'"},
    /* references */
    {PRE A5 "<worker name='w0' cpus='0' enclave='x'/>\n" END, 6,
     "<worker> 'w0': unknown enclave 'x'"},
    {PRE "<actor name='ping' type='t' worker='w9'/>\n" END, 5,
     "<actor> 'ping': unknown worker 'w9'"},
    {PRE A5 B6 "<channel name='pp' between='a zz'/>\n" END, 7,
     "<channel> 'pp': unknown actor 'zz'"},
    {PRE A5 "<channel name='pp' between='a'/>\n" END, 6,
     "<channel> 'pp': attribute 'between' must name two actors"},
    {PRE A5 B6 "<channel name='pp' between='a b a'/>\n" END, 7,
     "<channel> 'pp': attribute 'between' must name two actors"},
    {PRE A5 "<channel name='pp' between=''/>\n" END, 6,
     "<channel> 'pp': attribute 'between' must name two actors"},
    {PRE A5 "<channel name='pp' between='a  a'/>\n" END, 6,
     "<channel> 'pp': channel between actor 'a' and itself"},
    /* cpus */
    {PRE A5 "<worker name='w0' cpus='1-'/>\n" END, 6, "<worker> 'w0': invalid cpus '1-'"},
    {PRE A5 "<worker name='w0' cpus=''/>\n" END, 6, "<worker> 'w0': invalid cpus ''"},
    {PRE A5 "<worker name='w0' cpus='1-0'/>\n" END, 6, "<worker> 'w0': invalid cpus '1-0'"},
    {PRE A5 "<worker name='w0' cpus='0,,1'/>\n" END, 6, "<worker> 'w0': invalid cpus '0,,1'"},
    {PRE A5 "<worker name='w0' cpus='0, 1'/>\n" END, 6, "<worker> 'w0': invalid cpus '0, 1'"},
    {PRE A5 "<worker name='w0' cpus='7,x'/>\n" END, 6, "<worker> 'w0': invalid cpus '7,x'"},
    {PRE A5 "<worker name='w0' cpus='0,7'/>\n" END, 6,
     "<worker> 'w0': CPU 7 does not exist (this machine has CPUs 0-1)"},
    {PRE A5 "<worker name='w0' cpus='0-5'/>\n" END, 6,
     "<worker> 'w0': CPU 2 does not exist (this machine has CPUs 0-1)"},
    {PRE A5 "<worker name='w0' cpus='99999999999'/>\n" END, 6,
     "<worker> 'w0': invalid cpus '99999999999'"},
    /* enums */
    {PRE A5 "<enclave name='left' image='img.so' backend='sgx'/>\n" END, 6,
     "<enclave> 'left': invalid backend 'sgx' (expected proc or none)"},
    {PRE A5 "<worker name='w0' cpus='0' idle='x'/>\n" END, 6,
     "<worker> 'w0': invalid idle 'x' (expected park, spin or adaptive)"},
    {PRE A5 "<worker name='w0' cpus='0' spin='x'/>\n" END, 6, "<worker> 'w0': invalid spin 'x'"},
    {PRE A5 "<worker name='w0' cpus='0' spin='2M'/>\n" END, 6,
     "<worker> 'w0': spin 2M exceeds the limit 1M"},
    {PRE A5 B6 "<channel name='pp' between='a b' protect='x'/>\n" END, 7,
     "<channel> 'pp': invalid protect 'x' (expected auto, aead or plain)"},
    /* aead needs two different enclaves: here both ends share enclave e */
    {PRE A5 B6 "<channel name='pp' between='a b' protect='aead'/>\n" END, 7,
     "<channel> 'pp': protect 'aead' needs actors in two different enclaves"},
    /* ... and the host cannot be an AEAD endpoint */
    {PRE A5 "<worker name='h' cpus='1'/>\n<actor name='b' type='t' worker='h'/>\n"
            "<channel name='pp' between='a b' protect='aead'/>\n" END,
     8, "<channel> 'pp': protect 'aead' needs actors in two different enclaves"},
    /* numbers */
    {PRE A5 B6 "<channel name='pp' between='a b' nodes='abc'/>\n" END, 7,
     "<channel> 'pp': invalid nodes 'abc'"},
    {PRE A5 B6 "<channel name='pp' between='a b' max='12Q'/>\n" END, 7,
     "<channel> 'pp': invalid max '12Q'"},
    {PRE A5 "<enclave name='left' image='img.so' spawn='-1'/>\n" END, 6,
     "<enclave> 'left': invalid spawn '-1'"},
    {PRE A5 B6 "<channel name='pp' between='a b' nodes='0'/>\n" END, 7,
     "<channel> 'pp': nodes must be at least 1"},
    {PRE A5 B6 "<channel name='pp' between='a b' max='0K'/>\n" END, 7,
     "<channel> 'pp': max must be at least 1"},
    {PRE A5 B6 "<channel name='pp' between='a b' nodes='2000000'/>\n" END, 7,
     "<channel> 'pp': nodes 2000000 exceeds the limit 1048576"},
    {PRE A5 B6 "<channel name='pp' between='a b' max='128M'/>\n" END, 7,
     "<channel> 'pp': max 128M exceeds the limit 64M"},
    {PRE A5 B6 "<channel name='pp' between='a b' max='99999999999999999999999'/>\n" END, 7,
     "<channel> 'pp': invalid max '99999999999999999999999'"},
    {PRE A5 B6 "<channel name='pp' between='a b' nodes='1048576' max='4K'/>\n" END, 7,
     "<channel> 'pp': pool of 1048576 nodes of 4160 bytes exceeds 1G"},
    {PRE A5 B6 "<channel name='pp' between='a b' nodes='16' max='64M'/>\n" END, 7,
     "<channel> 'pp': pool of 16 nodes of 67108928 bytes exceeds 1G"},
    {PRE A5 "<enclave name='left' image='img.so' spawn='70000'/>\n" END, 6,
     "<enclave> 'left': spawn 70000 exceeds the limit 65536"},
    /* images */
    {PRE A5 "<enclave name='left' image='x.so'/>\n" END, 6,
     "<enclave> 'left': image 'x.so' not found"},
    {PRE A5 "<enclave name='left' image='adir.so'/>\n" END, 6,
     "<enclave> 'left': image 'adir.so' not found"},
    {PRE A5 "<enclave name='left' image='/nonexistent/x.so'/>\n" END, 6,
     "<enclave> 'left': image '/nonexistent/x.so' not found"},
    {"<eactors>\n<host image='x.so'/>\n<worker name='w' cpus='0'/>\n" A5 "</eactors>\n", 2,
     "<host>: image 'x.so' not found"},
    /* host worker without <host> */
    {"<eactors>\n<worker name='w0' cpus='0'/>\n<actor name='ping' type='t' worker='w0'/>\n"
     "</eactors>\n",
     3, "<actor> 'ping': runs on host worker 'w0' but there is no <host image=...>"},
    /* types */
    {PRE A5 "<actor name='ping' type='nope' worker='w'/>\n" END, 6,
     "<actor> 'ping': type 'nope' is not in image 'img.so'"},
    {PRE "<worker name='h' cpus='1'/>\n" A5 "<actor name='m' type='nomon' worker='h'/>\n" END, 7,
     "<actor> 'm': type 'nomon' is not in image 'img.so'"},
    /* One probe per (image, type), its answer reported for every actor. */
    {PRE A5
     "<actor name='b' type='nope' worker='w'/>\n<actor name='c' type='nope' worker='w'/>\n" END,
     0,
     "6: <actor> 'b': type 'nope' is not in image 'img.so'\n"
     "7: <actor> 'c': type 'nope' is not in image 'img.so'"},
    {PRE A5 "<enclave name='left' image='bad.so'/>\n<worker name='w2' cpus='1' enclave='left'/>\n"
            "<actor name='b' type='t' worker='w2'/>\n" END,
     6, "<enclave> 'left': cannot load image 'bad.so': not an eactors image"},
    {"<eactors>\n<host image='bad.so'/>\n<worker name='w' cpus='0'/>\n" A5 "</eactors>\n", 2,
     "<host>: cannot load image 'bad.so': not an eactors image"},
    /* no actors */
    {"<eactors>\n<enclave name='e' image='img.so'/>\n<worker name='w' cpus='0' enclave='e'/>\n"
     "</eactors>\n",
     1, "<eactors>: no <actor> declared"},
    {"<?xml version='1.0'?>\n<!-- nothing -->\n<eactors/>\n", 3, "<eactors>: no <actor> declared"},
    /* Several errors: all are reported, sorted by line, whatever the check
     * that found them; each element reports only its first error. */
    {PRE "<actor name='a' type='t' worker='nowhere'/>\n<bogus/>\n" END, 0,
     "5: <actor> 'a': unknown worker 'nowhere'\n"
     "6: unknown element <bogus> in <eactors>"},
    {PRE "<actor name='a' type='t' worker='nowhere'/>\n<enclave name='x' image='missing.so'/>\n"
         "<channel name='c' between='a b' nodes='x'/>\n" END,
     0,
     "5: <actor> 'a': unknown worker 'nowhere'\n"
     "6: <enclave> 'x': image 'missing.so' not found\n"
     "7: <channel> 'c': invalid nodes 'x'"},
    {PRE "<actor name='a' type='nope' worker='w'/>\n<enclave name='x' image='missing.so'/>\n"
         "<actor name='b' type='t' worker='nowhere'/>\n" END,
     0,
     "5: <actor> 'a': type 'nope' is not in image 'img.so'\n"
     "6: <enclave> 'x': image 'missing.so' not found\n"
     "7: <actor> 'b': unknown worker 'nowhere'"},
    {PRE "<actor name='a' type='nope' worker='w'/>\n<enclave name='x' image='missing.so'/>\n" END,
     0,
     "5: <actor> 'a': type 'nope' is not in image 'img.so'\n"
     "6: <enclave> 'x': image 'missing.so' not found"},
    {PRE "<channel name='c' between='a b'/>\n<worker name='w1' cpus='0' enclave='zz'/>\n" A5 END, 0,
     "5: <channel> 'c': unknown actor 'b'\n"
     "6: <worker> 'w1': unknown enclave 'zz'"},
    /* The first error of an element hides its later ones; a broken
     * element's name still counts for duplicates. */
    {PRE "<worker name='w1' cpus='0' foo='1' enclave='zz'/>\n<worker name='w1' cpus='1'/>\n" END, 0,
     "1: <eactors>: no <actor> declared\n"
     "5: <worker>: unknown attribute 'foo'\n"
     "6: duplicate <worker> name 'w1' (first at line 5)"},
    {PRE "<worker name='w 1' cpus='9' idle='x'/>\n" END, 0,
     "1: <eactors>: no <actor> declared\n"
     "5: <worker>: invalid name 'w 1'"},
    {PRE "<worker name='w1' cpus='9' idle='x'/>\n" END, 0,
     "1: <eactors>: no <actor> declared\n"
     "5: <worker> 'w1': CPU 9 does not exist (this machine has CPUs 0-1)"},
    {PRE "<worker foo='1' cpus='9'/>\n" END, 0,
     "1: <eactors>: no <actor> declared\n"
     "5: <worker>: unknown attribute 'foo'"},
    /* system actors and their grants (line 5: a host worker) */
    {PRE H5 "<sys name='io' worker='h' x='1'/>\n" END, 6, "<sys>: unknown attribute 'x'"},
    {PRE H5 "<sys name='io'/>\n" END, 6, "<sys>: missing attribute 'worker'"},
    {PRE H5 "<sys worker='h'/>\n" END, 6, "<sys>: missing attribute 'name'"},
    {PRE H5 "<sys name='i o' worker='h'/>\n" END, 6, "<sys>: invalid name 'i o'"},
    {PRE H5 "<sys name='io' worker='w'/>\n" END, 6,
     "<sys> 'io': system actors run in the host, not on worker 'w' of enclave 'e'"},
    {PRE H5 "<sys name='io' worker='w9'/>\n" END, 6, "<sys> 'io': unknown worker 'w9'"},
    {PRE H5 A6 "<sys name='a' worker='h'/>\n" END, 7, "duplicate <sys> name 'a' (first at line 6)"},
    {PRE H5 "<sys name='a' worker='h'/>\n"
            "<actor name='a' type='t' worker='w'/>\n" END,
     7, "duplicate <actor> name 'a' (first at line 6)"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' foo='1'/>\n</sys>\n" END, 7,
     "<grant>: unknown attribute 'foo'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant listen='1'/>\n</sys>\n" END, 7,
     "<grant>: missing attribute 'enclave'"},
    {PRE H5 "<sys name='io' worker='h'>\n<param name='k' value='v'/>\n</sys>\n" END, 7,
     "unknown element <param> in <sys>"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='x'/>\n</sys>\n" END, 7,
     "<grant>: unknown enclave 'x'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' listen='70000'/>\n</sys>\n" END, 7,
     "<grant>: invalid port list '70000'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' listen='0'/>\n</sys>\n" END, 7,
     "<grant>: invalid port list '0'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' connect='80,90-85'/>\n</sys>\n" END, 7,
     "<grant>: invalid port list '80,90-85'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' connect='80;81'/>\n</sys>\n" END, 7,
     "<grant>: invalid port list '80;81'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' connect='8-'/>\n</sys>\n" END, 7,
     "<grant>: invalid port list '8-'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files='/ /nope'/>\n</sys>\n" END, 7,
     "<grant>: directory '/nope' does not exist"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files='tmp'/>\n</sys>\n" END, 7,
     "<grant>: directory 'tmp' is not an absolute path"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files='/dev/null'/>\n</sys>\n" END, 7,
     "<grant>: '/dev/null' is not a directory"},
    /* Read-only grants: the same checks as files=, a directory granted both
     * ways (also when written differently), and the spellings a user might
     * guess instead of files-ro (a misspelt attribute must not be ignored, a
     * Docker-style ':ro' suffix must not become a read-write grant). */
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files-ro='/ /nope'/>\n</sys>\n" END, 7,
     "<grant>: directory '/nope' does not exist"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files-ro='tmp'/>\n</sys>\n" END, 7,
     "<grant>: directory 'tmp' is not an absolute path"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files-ro='/dev/null'/>\n</sys>\n" END,
     7, "<grant>: '/dev/null' is not a directory"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files='/' files-ro='/'/>\n</sys>\n" END,
     7, "<grant>: directory '/' is granted both read-write (files) and read-only (files-ro)"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files='/dev /' "
            "files-ro='/dev/..'/>\n</sys>\n" END,
     7, "<grant>: directory '/dev/..' is granted both read-write (files) and read-only (files-ro)"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files_ro='/'/>\n</sys>\n" END, 7,
     "<grant>: unknown attribute 'files_ro'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' readonly='yes'/>\n</sys>\n" END, 7,
     "<grant>: unknown attribute 'readonly'"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' files='/:ro'/>\n</sys>\n" END, 7,
     "<grant>: directory '/:ro' does not exist"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' listen='80'/>\n"
            "<grant enclave='host'/>\n<grant enclave='e' files='/'/>\n</sys>\n" END,
     9, "<grant>: duplicate grant for enclave 'e' (first at line 7)"},
    /* The system actor's per-requester limits. */
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' handles='0'/>\n</sys>\n" END, 7,
     "<grant> 'e': handles must be at least 1"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' timers='40000'/>\n</sys>\n" END, 7,
     "<grant> 'e': timers 40000 exceeds the limit 32768"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' queued='1K'/>\n</sys>\n" END, 7,
     "<grant> 'e': queued must be at least 4096"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' queued='2G'/>\n</sys>\n" END, 7,
     "<grant> 'e': queued 2G exceeds the limit 1G"},
    {PRE H5 "<sys name='io' worker='h'>\n<grant enclave='e' handles='many'/>\n</sys>\n" END, 7,
     "<grant> 'e': invalid handles 'many'"},
    /* <store> (EOS) */
    {PRE A5 "<store name='s' size='1M'/>\n" END, 6, "<store>: missing attribute 'kind'"},
    {PRE A5 "<store name='s' kind='trusted'/>\n" END, 6, "<store>: missing attribute 'size'"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' sharing='x'/>\n" END, 6,
     "<store>: unknown attribute 'sharing'"},
    {PRE A5 "<store name='s/1' kind='trusted' size='1M'/>\n" END, 6, "<store>: invalid name 's/1'"},
    {PRE A5 "<store name='s' kind='shared' size='1M'/>\n" END, 6,
     "<store> 's': invalid kind 'shared' (expected trusted, untrusted or persistent)"},
    {PRE A5 "<store name='s' kind='trusted' size='big'/>\n" END, 6,
     "<store> 's': invalid size 'big'"},
    {PRE A5 "<store name='s' kind='trusted' size='4K'/>\n" END, 6,
     "<store> 's': size must be at least 64K"},
    {PRE A5 "<store name='s' kind='trusted' size='65G'/>\n" END, 6,
     "<store> 's': size 65G exceeds the limit 64G"},
    {PRE A5 "<store name='s' kind='trusted' size='64K' keys='100000'/>\n" END, 6,
     "<store> 's': size 64K cannot hold the index of 100000 keys"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' keys='0'/>\n" END, 6,
     "<store> 's': keys must be at least 1"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' home='961'/>\n" END, 6,
     "<store> 's': home 961 exceeds the limit 960"},
    {PRE A5 "<store name='s' kind='untrusted' size='1M' home='950' enclave='e'/>\n" END, 6,
     "<store> 's': home 950 exceeds the limit 944 of an encrypted store"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' home='900'/>\n" END, 6,
     "<store> 's': size 1M cannot hold the index of 0 keys and its home blocks"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' policy='mrsigner'/>\n" END, 6,
     "<store> 's': a trusted store has no policy (its key is never sealed)"},
    {PRE A5 "<store name='s' kind='untrusted' size='1M' policy='signer' enclave='e'/>\n" END, 6,
     "<store> 's': invalid policy 'signer' (expected mrsigner or mrenclave)"},
    {PRE A5 "<store name='s' kind='untrusted' size='1M' path='x.eos' enclave='e'/>\n" END, 6,
     "<store> 's': only a persistent store has a path"},
    {PRE A5 "<store name='s' kind='persistent' size='1M' enclave='e'/>\n" END, 6,
     "<store> 's': a persistent store needs path="},
    {PRE A5 "<store name='s' kind='persistent' size='1M' path='nodir/x.eos' enclave='e'/>\n" END, 6,
     "<store> 's': directory of path 'nodir/x.eos' does not exist"},
    {PRE A5 "<store name='s' kind='persistent' size='1M' path='sub/' enclave='e'/>\n" END, 6,
     "<store> 's': path 'sub/' does not name a file"},
    {PRE A5 "<store name='s' kind='persistent' size='1M' path='x.eos' enclave='e'/>\n"
            "<store name='t' kind='persistent' size='1M' path='./x.eos' enclave='e'/>\n" END,
     7, "<store> 't': file './x.eos' is also store 's' (line 6)"},
    {PRE A5 "<store name='s' kind='trusted' size='1M'/>\n<store name='s' kind='trusted' "
            "size='1M'/>\n" END,
     7, "duplicate <store> name 's' (first at line 6)"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' enclave='x'/>\n" END, 6,
     "<store> 's': unknown enclave 'x'"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' enclave='e e'/>\n" END, 6,
     "<store> 's': 'e' is listed twice"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' enclave=' '/>\n" END, 6,
     "<store> 's': enclave= names no domain"},
    {PRE A5 "<store name='s' kind='trusted' size='1M' enclave='e host'/>\n" END, 6,
     "<store> 's': a trusted store belongs to one domain (declare one per domain, or share an "
     "untrusted one)"},
    {PRE A5 "<store name='s' kind='untrusted' size='1M'/>\n" END, 6,
     "<store> 's': the host has no seal key for an untrusted store (name enclaves, or use "
     "kind=\"trusted\")"},
    {PRE A5 "<store name='s' kind='persistent' size='1M' path='x.eos' enclave='host'/>\n" END, 6,
     "<store> 's': the host has no seal key for a persistent store (name enclaves, or use "
     "kind=\"trusted\")"},
    {PRE A5 "<enclave name='f' image='hello.so'/>\n<store name='s' kind='untrusted' size='1M' "
            "policy='mrenclave' enclave='e f'/>\n" END,
     7,
     "<store> 's': policy mrenclave, but enclaves 'e' and 'f' run different images (use "
     "mrsigner to share across images)"},
};

/* <store>: kinds, sizes, policies, domains and paths as the model holds
 * them. */
static void test_valid_stores(void **state)
{
    (void)state;
    char err[EAI_DEPLOY_ERRLEN], real_tmp[PATH_MAX], want[PATH_MAX + 32];
    eai_deploy_t *d = NULL;
    const char *xml =
        PRE A5 "<enclave name='f' image='img.so'/>\n"
               "<store name='cache' kind='trusted' size='1M' home='100'/>\n"
               "<store name='priv' kind='trusted' size='2M' keys='100' enclave='f'/>\n"
               "<store name='shared' kind='untrusted' size='4M' enclave='e f' "
               "policy='mrenclave'/>\n"
               "<store name='disk' kind='persistent' size='64K' path='sub/x.eos' "
               "enclave='e'/>\n" END;
    int rc = load(xml, &d, err, sizeof err);
    if (rc != EA_OK)
        fail_msg("%s", err);
    assert_int_equal(d->nstores, 4);
    assert_string_equal(d->stores[0].name, "cache");
    assert_int_equal(d->stores[0].kind, EAI_STORE_TRUSTED);
    assert_int_equal(d->stores[0].size, 1u << 20);
    assert_int_equal(d->stores[0].keys, 0);
    assert_int_equal(d->stores[0].nusers, 1);
    assert_int_equal(d->stores[0].users[0], EAI_HOST);
    assert_int_equal(d->stores[1].keys, 100);
    assert_int_equal(d->stores[0].home, 100);
    assert_int_equal(d->stores[1].home, 0);
    assert_int_equal(d->stores[1].users[0], 1);
    assert_int_equal(d->stores[2].kind, EAI_STORE_UNTRUSTED);
    assert_int_equal(d->stores[2].policy, EAI_STORE_MRENCLAVE);
    assert_int_equal(d->stores[2].nusers, 2);
    assert_int_equal(d->stores[2].users[0], 0);
    assert_int_equal(d->stores[2].users[1], 1);
    assert_null(d->stores[2].path);
    assert_int_equal(d->stores[3].kind, EAI_STORE_PERSISTENT);
    assert_int_equal(d->stores[3].policy, EAI_STORE_MRSIGNER);
    assert_string_equal(d->stores[3].path, "sub/x.eos");
    assert_non_null(realpath(tmpdir, real_tmp));
    snprintf(want, sizeof want, "%s/sub/x.eos", real_tmp);
    assert_string_equal(d->stores[3].path_abs, want);
    eai_deploy_free(d);
}

static void test_invalid(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *bc = &bad_cases[i];
        char err[EAI_DEPLOY_ERRLEN], expect[EAI_DEPLOY_ERRLEN];
        eai_deploy_t *d = (eai_deploy_t *)(uintptr_t)1;
        int rc = load(bc->xml, &d, err, sizeof err);
        expected(expect, sizeof expect, bc->line, bc->msg);
        if (rc != EA_ERR_PARSE || d != NULL || strcmp(err, expect) != 0) {
            fprintf(stderr, "case %zu: rc %d\n  got:\n%s\n  expect:\n%s\n", i, rc,
                    rc == EA_OK ? "(success)" : err, expect);
            if (rc == EA_OK)
                eai_deploy_free(d);
            failures++;
        }
    }
    printf("%zu invalid cases\n", sizeof bad_cases / sizeof bad_cases[0]);
    assert_int_equal(failures, 0);
}

/* <sys> with grants: ports expanded and sorted, directories resolved, the
 * type probe never asked about the builtin type, and everything freed. */
static void test_valid_sys(void **state)
{
    (void)state;
    char xml[2048], err[1024], sub[PATH_MAX + 32], real_sub[PATH_MAX], real_tmp[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    assert_non_null(realpath(sub, real_sub));
    assert_non_null(realpath(tmpdir, real_tmp));
    snprintf(xml, sizeof xml,
             "<eactors>\n"
             "<enclave name='tls' image='img.so'/>\n"
             "<worker name='h1' cpus='0'/>\n"
             "<worker name='w' cpus='1' enclave='tls'/>\n"
             "<actor name='app' type='t' worker='w'/>\n"
             "<sys name='io' worker='h1'>\n"
             "  <grant enclave='tls' listen='8443' connect='80,8080-8082 81, 80' "
             "files='%s/sub/../sub  %s' files-ro=' %s/lib %s/adir.so'/>\n"
             "  <grant enclave='host' files='/'/>\n"
             "</sys>\n"
             "<sys name='io2' worker='h1'/>\n"
             "<channel name='c' between='app io'/>\n"
             "</eactors>\n",
             tmpdir, tmpdir, tmpdir, tmpdir);
    eai_deploy_t *d = NULL;
    probe_calls = 0;
    int rc = load(xml, &d, err, sizeof err);
    if (rc != EA_OK)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, EA_OK);
    assert_int_equal(probe_calls, 1);
    assert_int_equal(d->nactors, 3);
    const eai_dep_actor_t *io = &d->actors[1];
    assert_string_equal(io->name, "io");
    assert_string_equal(io->type, "sys");
    assert_int_equal(io->builtin, EAI_BUILTIN_SYS);
    assert_int_equal(io->worker, 0);
    assert_int_equal(d->actors[0].builtin, EAI_BUILTIN_NONE);
    assert_int_equal(io->ngrants, 2);
    const eai_dep_grant_t *g = &io->grants[0];
    assert_int_equal(g->enclave, 0);
    assert_int_equal(g->line, 7);
    assert_int_equal(g->nlisten, 1);
    assert_int_equal(g->listen[0], 8443);
    static const uint16_t want[] = {80, 81, 8080, 8081, 8082};
    assert_int_equal(g->nconnect, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(g->connect[i], want[i]);
    /* files= first, then files-ro=, each in the order written. */
    assert_int_equal(g->nfiles, 4);
    assert_string_equal(g->files[0], real_sub);
    assert_int_equal(g->files_ro[0], 0);
    assert_string_equal(g->files[1], real_tmp);
    assert_int_equal(g->files_ro[1], 0);
    snprintf(sub, sizeof sub, "%s/lib", real_tmp);
    assert_string_equal(g->files[2], sub);
    assert_int_equal(g->files_ro[2], 1);
    snprintf(sub, sizeof sub, "%s/adir.so", real_tmp);
    assert_string_equal(g->files[3], sub);
    assert_int_equal(g->files_ro[3], 1);
    g = &io->grants[1];
    assert_int_equal(g->enclave, EAI_HOST);
    assert_int_equal(g->nlisten, 0);
    assert_int_equal(g->nconnect, 0);
    assert_int_equal(g->nfiles, 1);
    assert_string_equal(g->files[0], "/");
    assert_int_equal(g->files_ro[0], 0);
    assert_int_equal(d->actors[2].ngrants, 0);
    assert_int_equal(d->actors[2].builtin, EAI_BUILTIN_SYS);
    assert_int_equal(d->channels[0].a, 0);
    assert_int_equal(d->channels[0].b, 1);
    eai_deploy_free(d);

    /* Only system actors on the host: no <host image> needed; a full range. */
    d = NULL;
    rc = load("<eactors>\n<enclave name='e' image='img.so'/>\n<worker name='h' cpus='0'/>\n"
              "<worker name='w' cpus='1' enclave='e'/>\n<actor name='a' type='t' worker='w'/>\n"
              "<sys name='io' worker='h'><grant enclave='e' listen='1-65535'/></sys>\n"
              "<channel name='c' between='a io'/>\n</eactors>\n",
              &d, err, sizeof err);
    if (rc != EA_OK)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, EA_OK);
    assert_int_equal(d->actors[1].grants[0].nlisten, 65535);
    assert_int_equal(d->actors[1].grants[0].listen[65534], 65535);
    eai_deploy_free(d);
}

static void test_cannot_read(void **state)
{
    (void)state;
    char path[512], err[1024], expect[1024];
    eai_deploy_t *d = NULL;
    snprintf(path, sizeof path, "%s/missing.xml", tmpdir);
    assert_int_equal(eai_deploy_load(path, 2, NULL, NULL, &d, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect, "%s: cannot read: %s", path, strerror(ENOENT));
    assert_string_equal(err, expect);
    assert_null(d);
    snprintf(path, sizeof path, "%s/sub", tmpdir);
    assert_int_equal(eai_deploy_load(path, 2, NULL, NULL, &d, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect, "%s: cannot read: %s", path, strerror(EISDIR));
    assert_string_equal(err, expect);
}

/* More than 64 CPUs in one worker; CPU count of 1; a short error buffer. */
static void test_cpu_limits(void **state)
{
    (void)state;
    char err[512], expect[1024];
    eai_deploy_t *d = NULL;
    write_file(file, "<eactors>\n<worker name='w' cpus='0-64'/>\n</eactors>\n");
    assert_int_equal(eai_deploy_load(file, 128, NULL, NULL, &d, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect,
             "%s:1: <eactors>: no <actor> declared\n"
             "%s:2: <worker> 'w': cpus '0-64' names more than 64 CPUs",
             file, file);
    assert_string_equal(err, expect);
    write_file(file, "<eactors>\n<worker name='w' cpus='0-63'/>\n"
                     "<enclave name='e' image='img.so'/>\n<host image='img.so'/>\n"
                     "<actor name='a' type='t' worker='w'/>\n</eactors>\n");
    assert_int_equal(eai_deploy_load(file, 128, NULL, NULL, &d, err, sizeof err), EA_OK);
    assert_int_equal(d->workers[0].ncpus, 64);
    assert_int_equal(d->workers[0].cpus[63], 63);
    eai_deploy_free(d);
    /* The actor on the broken worker is not checked against it (no second
     * error about the missing <host>). */
    write_file(file, "<eactors>\n<worker name='w' cpus='1'/>\n"
                     "<actor name='a' type='t' worker='w'/>\n</eactors>\n");
    assert_int_equal(eai_deploy_load(file, 1, NULL, NULL, &d, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect,
             "%s:2: <worker> 'w': CPU 1 does not exist (this machine has CPU 0)", file);
    assert_string_equal(err, expect);
    /* A short buffer gets a truncated, terminated message. */
    char tiny[8];
    assert_int_equal(eai_deploy_load(file, 1, NULL, NULL, &d, tiny, sizeof tiny), EA_ERR_PARSE);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(eai_deploy_load(file, 1, NULL, NULL, &d, NULL, 0), EA_ERR_PARSE);
    assert_int_equal(eai_deploy_load(file, 0, NULL, NULL, &d, err, sizeof err), EA_ERR_INVAL);
    assert_int_equal(eai_deploy_load(NULL, 2, NULL, NULL, &d, err, sizeof err), EA_ERR_INVAL);
    assert_int_equal(eai_deploy_load(file, 2, NULL, NULL, NULL, err, sizeof err), EA_ERR_INVAL);
}

/* A relative deployment path resolves images against its own directory. */
static void test_relative_path(void **state)
{
    (void)state;
    char cwd[PATH_MAX], err[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    write_file(file, PRE A5 END);
    assert_int_equal(chdir(tmpdir), 0);
    eai_deploy_t *d = NULL;
    int rc = eai_deploy_load("d.xml", 2, fake_probe, NULL, &d, err, sizeof err);
    assert_int_equal(chdir("/"), 0);
    if (rc != EA_OK)
        fail_msg("load failed: %s", err);
    assert_string_equal(d->dir, ".");
    assert_string_equal(d->path, "d.xml");
    assert_true(d->enclaves[0].image_path[0] == '/');
    eai_deploy_free(d);
    /* From elsewhere, the same relative path is not readable and says so. */
    rc = eai_deploy_load("d.xml", 2, fake_probe, NULL, &d, err, sizeof err);
    assert_int_equal(rc, EA_ERR_PARSE);
    assert_int_equal(strncmp(err, "d.xml: cannot read: ", 20), 0);
    assert_int_equal(chdir(cwd), 0);
}

/*
 * Loads from several threads at once: libxml2's error capture is per thread,
 * so each thread must see exactly its own file's error.
 */
#define NTHREADS 4
#define NLOADS 200

typedef struct thread_arg {
    char path[512];
    char expect[1024];
    int bad;
} thread_arg_t;

static void *load_thread(void *p)
{
    thread_arg_t *t = p;
    for (int i = 0; i < NLOADS; i++) {
        char err[1024];
        eai_deploy_t *d = NULL;
        int rc = eai_deploy_load(t->path, 2, fake_probe, NULL, &d, err, sizeof err);
        eai_deploy_free(d);
        if (rc != EA_ERR_PARSE || strcmp(err, t->expect) != 0)
            t->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    thread_arg_t args[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        char xml[256];
        snprintf(args[i].path, sizeof args[i].path, "%s/t%d.xml", tmpdir, i);
        /* Thread i's file breaks at line i + 2. */
        int n = snprintf(xml, sizeof xml, "<eactors>\n");
        for (int j = 0; j < i; j++)
            n += snprintf(xml + n, sizeof xml - (size_t)n, "\n");
        snprintf(xml + n, sizeof xml - (size_t)n, "<actor name='a%d'>\n</eactors>\n", i);
        write_file(args[i].path, xml);
        char expect[1024];
        snprintf(expect, sizeof expect,
                 "%.400s:%d: XML error: Opening and ending tag mismatch: actor line %d and eactors",
                 args[i].path, i + 3, i + 2);
        memcpy(args[i].expect, expect, sizeof expect);
        args[i].bad = 0;
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, load_thread, &args[i]), 0);
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].bad, 0);
        assert_int_equal(remove(args[i].path), 0);
    }
}

/* ------------------------------------------------------ order, all errors -- */

/* Reads a fixture of tests/deploy into a malloc'd string. */
static char *read_fixture(const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", EA_DEPLOY_FIXTURES, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    assert_true(n > 0 && n < 65535);
    fclose(f);
    return buf;
}

/*
 * Returns a copy of `xml` with the lines between the first and the last
 * (the root's start and end tags) in reverse order: every element then
 * refers to elements that come after it where it used to refer back, and
 * the other way round.
 */
static char *reverse_inner(const char *xml)
{
    const char *lines[256];
    size_t lens[256];
    int n = 0;
    for (const char *p = xml; *p != '\0' && n < 256;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        lines[n] = p;
        lens[n++] = len;
        p += len;
    }
    assert_true(n >= 3 && n < 256);
    char *out = calloc(1, strlen(xml) + 2);
    assert_non_null(out);
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        int src = i == 0 || i == n - 1 ? i : n - 1 - i;
        memcpy(out + pos, lines[src], lens[src]);
        pos += lens[src];
        if (out[pos - 1] != '\n')
            out[pos++] = '\n';
    }
    return out;
}

/* Loads `xml` and checks the result: success if expect is NULL, else the
 * exact error text (lines "LINE: message" as in bad_cases). */
static void expect_load(const char *xml, const char *expect)
{
    char err[EAI_DEPLOY_ERRLEN], want[EAI_DEPLOY_ERRLEN];
    eai_deploy_t *d = NULL;
    int rc = load(xml, &d, err, sizeof err);
    if (expect == NULL) {
        if (rc != EA_OK)
            fail_msg("load failed:\n%s\nof:\n%s", err, xml);
        eai_deploy_free(d);
        return;
    }
    expected(want, sizeof want, 0, expect);
    if (rc != EA_ERR_PARSE || strcmp(err, want) != 0)
        fail_msg("rc %d, got:\n%s\nexpected:\n%s\nof:\n%s", rc, rc == EA_OK ? "(success)" : err,
                 want, xml);
    assert_null(d);
}

/*
 * Fuzzing finding 5: references used to resolve in file order, so a <sys>
 * before its <worker> was checked against a worker still marked "host"
 * (accepted on an enclave worker), and an <actor> before its enclave worker
 * was refused for want of a <host image>. Both fixtures, as found and with
 * their elements in reverse order.
 */
static void test_order_findings(void **state)
{
    (void)state;
    char *xml = read_fixture("sys_on_enclave_worker.xml");
    char *rev = reverse_inner(xml);
    expect_load(xml,
                "3: <sys> 'io': system actors run in the host, not on worker 'w' of enclave 'e'");
    expect_load(rev,
                "5: <sys> 'io': system actors run in the host, not on worker 'w' of enclave 'e'");
    free(xml);
    free(rev);
    xml = read_fixture("actor_before_worker.xml");
    rev = reverse_inner(xml);
    expect_load(xml, NULL);
    expect_load(rev, NULL);
    free(xml);
    free(rev);
}

/* A valid file using every kind of reference loads the same in reverse. */
static void test_order_valid(void **state)
{
    (void)state;
    const char *xml = "<eactors>\n"
                      "<host image='img.so'/>\n"
                      "<enclave name='l' image='img.so'/>\n"
                      "<enclave name='r' image='hello.so' backend='none'/>\n"
                      "<worker name='h' cpus='0'/>\n"
                      "<worker name='wl' cpus='0' enclave='l'/>\n"
                      "<worker name='wr' cpus='1' enclave='r'/>\n"
                      "<actor name='a' type='t' worker='wl'><param name='k' value='v'/></actor>\n"
                      "<actor name='b' type='t' worker='wr'/>\n"
                      "<actor name='m' type='t' worker='h'/>\n"
                      "<sys name='io' worker='h'><grant enclave='l' listen='80'/>"
                      "<grant enclave='host' files='/'/></sys>\n"
                      "<channel name='ab' between='a b' protect='aead'/>\n"
                      "<channel name='ma' between='m a'/>\n"
                      "<channel name='io' between='io a'/>\n"
                      "</eactors>\n";
    char *rev = reverse_inner(xml);
    expect_load(xml, NULL);
    expect_load(rev, NULL);
    eai_deploy_t *d = NULL;
    char err[EAI_DEPLOY_ERRLEN];
    assert_int_equal(load(rev, &d, err, sizeof err), EA_OK);
    int io = eai_deploy_find_actor(d, "io");
    assert_true(io >= 0);
    assert_int_equal(d->workers[d->actors[io].worker].enclave, EAI_HOST);
    assert_int_equal(d->actors[io].ngrants, 2);
    assert_int_equal(d->actors[io].grants[0].enclave, eai_deploy_find_enclave(d, "l"));
    assert_int_equal(d->actors[io].grants[1].enclave, EAI_HOST);
    eai_deploy_free(d);
    free(rev);
}

/* Three independent errors in three elements: all three are reported. */
static void test_three_errors(void **state)
{
    (void)state;
    const char *xml = PRE A5 "<worker name='x' cpus='0' idle='fast'/>\n"
                             "<actor name='b' type='t' worker='nowhere'/>\n"
                             "<channel name='c' between='a b' protect='x'/>\n" END;
    expect_load(xml, "6: <worker> 'x': invalid idle 'fast' (expected park, spin or adaptive)\n"
                     "7: <actor> 'b': unknown worker 'nowhere'\n"
                     "8: <channel> 'c': invalid protect 'x' (expected auto, aead or plain)");
    /* Reversed, the same errors at the mirrored lines, still sorted. */
    char *rev = reverse_inner(xml);
    expect_load(rev, "2: <channel> 'c': invalid protect 'x' (expected auto, aead or plain)\n"
                     "3: <actor> 'b': unknown worker 'nowhere'\n"
                     "4: <worker> 'x': invalid idle 'fast' (expected park, spin or adaptive)");
    free(rev);
}

/*
 * Thirty errors: the first twenty by line are listed, then one line says
 * how many more there were. The later lines are found first (unknown
 * elements, pass 1) and the earlier ones last (unknown workers, pass 2), so
 * the kept set must be chosen by line, not by the order found.
 */
static void test_many_errors(void **state)
{
    (void)state;
    char xml[8192], want[EAI_DEPLOY_ERRLEN];
    size_t n = (size_t)snprintf(xml, sizeof xml, PRE);
    size_t w = 0;
    for (int i = 0; i < 15; i++) {
        n += (size_t)snprintf(xml + n, sizeof xml - n, "<actor name='a%d' type='t' worker='x'/>\n",
                              i);
        w += (size_t)snprintf(want + w, sizeof want - w, "%d: <actor> 'a%d': unknown worker 'x'\n",
                              5 + i, i);
    }
    for (int i = 0; i < 15; i++) {
        n += (size_t)snprintf(xml + n, sizeof xml - n, "<bogus%d/>\n", i);
        if (i < 5)
            w += (size_t)snprintf(want + w, sizeof want - w,
                                  "%d: unknown element <bogus%d> in <eactors>\n", 20 + i, i);
    }
    snprintf(xml + n, sizeof xml - n, END);
    want[w - 1] = '\0';
    char err[EAI_DEPLOY_ERRLEN], expect[EAI_DEPLOY_ERRLEN];
    eai_deploy_t *d = NULL;
    assert_int_equal(load(xml, &d, err, sizeof err), EA_ERR_PARSE);
    expected(expect, sizeof expect, 0, want);
    size_t len = strlen(expect);
    snprintf(expect + len, sizeof expect - len,
             "\n%s: 10 more errors not shown (the first 20 are listed)", file);
    assert_string_equal(err, expect);
    int lines = 1;
    for (const char *p = err; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, EAI_DEPLOY_MAX_ERRORS + 1);
    /* Exactly twenty: nothing is left out. */
    n = (size_t)snprintf(xml, sizeof xml, PRE A5);
    for (int i = 0; i < EAI_DEPLOY_MAX_ERRORS; i++)
        n += (size_t)snprintf(xml + n, sizeof xml - n, "<bogus/>\n");
    snprintf(xml + n, sizeof xml - n, END);
    assert_int_equal(load(xml, &d, err, sizeof err), EA_ERR_PARSE);
    assert_null(strstr(err, "more errors"));
    assert_non_null(strstr(err, ":25: unknown element <bogus>"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),    cmocka_unit_test(test_valid_full),
        cmocka_unit_test(test_valid_edges),   cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_cannot_read),   cmocka_unit_test(test_cpu_limits),
        cmocka_unit_test(test_relative_path), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_valid_sys),     cmocka_unit_test(test_order_findings),
        cmocka_unit_test(test_order_valid),   cmocka_unit_test(test_three_errors),
        cmocka_unit_test(test_many_errors),   cmocka_unit_test(test_valid_stores),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
