/*
 * Deployment files: parse with libxml2, validate, build an eai_deploy_t.
 *
 * Design notes.
 *
 * The deployment file is untrusted input (DESIGN.md section 7: policy comes
 * from signed images, never from the deployment), so every defect is an error
 * return carrying one line "file:line: message", never an assert.
 *
 * Validation runs in phases so that the error reported is predictable:
 *   1. XML well-formedness (libxml2), then the root element;
 *   2. every element in document order, each through the same steps: unknown
 *      element, unknown attribute, missing attribute, name syntax, numbers /
 *      enums / cpus, duplicate name;
 *   3. references (worker -> enclave, actor -> worker, channel -> actors,
 *      <sys> -> host worker, <grant> -> enclave), in document order of the
 *      referencing element;
 *   4. images (host and enclaves, in document order);
 *   5. actor types, through the caller's probe (builtin <sys> actors are
 *      the runtime's own type and are not probed);
 *   6. "no actor declared".
 * The first failing check wins and parsing stops there, so phase N may rely
 * on everything phase N-1 established (for example, phase 5 relies on every
 * reference being resolved and every image path existing).
 *
 * libxml2 must not print to stderr: the first error is captured by a
 * structured error handler installed for the duration of the parse. In a
 * threaded libxml2 build the handler globals are per thread, so concurrent
 * loads in different threads do not see each other's handlers; xmlInitParser
 * runs once under pthread_once, which is what libxml2 asks of threaded users.
 * The file is opened by us (one open, then fstat) and handed to libxml2 as a
 * descriptor, so "cannot read" is reported with errno and the file checked is
 * the file parsed.
 *
 * Name lookups during validation go through small open-addressing hash maps
 * so that a hostile file with many elements costs linear, not quadratic, time.
 *
 * Everything allocated lives either in the eai_deploy_t under construction
 * (freed by eai_deploy_free, which accepts a partly built one) or in the
 * parser state (freed by state_fini); every exit goes through both.
 */
#include "runtime/deploy.h"

#include "platform/platform.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <eactors/ea_queue.h>

/* Limits on numbers a deployment may ask for. */
#define MAX_NODES 1048576u    /* nodes per channel */
#define MAX_MSG (64ull << 20) /* largest message: 64M */
#define MAX_MSG_TEXT "64M"
#define MAX_POOL (1ull << 30) /* bytes per channel pool: 1G */
#define MAX_SPAWN 65536u      /* ea_spawn slots per enclave */
#define DEFAULT_NODES 64u
#define DEFAULT_MAX 4096u
#define DEFAULT_SPAWN 16u
#define MAX_WORKER_CPUS ((int)(sizeof(((eai_dep_worker_t *)0)->cpus) / sizeof(int)))
#define MAX_NAME 63

/* ---------------------------------------------------------------- schema -- */

/* Kinds before K_PARAM are children of <eactors>; the rest are nested. */
enum kind { K_HOST, K_ENCLAVE, K_WORKER, K_ACTOR, K_CHANNEL, K_SYS, K_PARAM, K_GRANT, K_COUNT };

/* Attribute indices, per element kind, into schema_t.attrs. */
enum { HO_IMAGE };
enum { EN_NAME, EN_IMAGE, EN_BACKEND, EN_SPAWN };
enum { WO_NAME, WO_CPUS, WO_ENCLAVE, WO_IDLE };
enum { AC_NAME, AC_TYPE, AC_WORKER };
enum { CH_NAME, CH_BETWEEN, CH_NODES, CH_MAX, CH_PROTECT };
enum { PA_NAME, PA_VALUE };
enum { SY_NAME, SY_WORKER };
enum { GR_ENCLAVE, GR_LISTEN, GR_CONNECT, GR_FILES, GR_FILES_RO, GR_HANDLES, GR_TIMERS, GR_QUEUED };

#define MAX_ATTRS 8

typedef struct schema {
    const char *elem;
    const char *attrs[MAX_ATTRS + 1]; /* NULL-terminated */
    unsigned required;                /* bit i set: attrs[i] is required */
} schema_t;

static const schema_t schemas[K_COUNT] = {
    [K_HOST] = {"host", {"image", NULL}, 1u << HO_IMAGE},
    [K_ENCLAVE] = {"enclave",
                   {"name", "image", "backend", "spawn", NULL},
                   (1u << EN_NAME) | (1u << EN_IMAGE)},
    [K_WORKER] = {"worker",
                  {"name", "cpus", "enclave", "idle", NULL},
                  (1u << WO_NAME) | (1u << WO_CPUS)},
    [K_ACTOR] = {"actor",
                 {"name", "type", "worker", NULL},
                 (1u << AC_NAME) | (1u << AC_TYPE) | (1u << AC_WORKER)},
    [K_CHANNEL] = {"channel",
                   {"name", "between", "nodes", "max", "protect", NULL},
                   (1u << CH_NAME) | (1u << CH_BETWEEN)},
    [K_SYS] = {"sys", {"name", "worker", NULL}, (1u << SY_NAME) | (1u << SY_WORKER)},
    [K_PARAM] = {"param", {"name", "value", NULL}, (1u << PA_NAME) | (1u << PA_VALUE)},
    [K_GRANT] = {"grant",
                 {"enclave", "listen", "connect", "files", "files-ro", "handles", "timers",
                  "queued", NULL},
                 1u << GR_ENCLAVE},
};

/* -------------------------------------------------------------- name map -- */

/*
 * String -> index map with borrowed keys; open addressing, linear probing,
 * capacity a power of two kept at least twice the number of keys, so a
 * lookup always finds an empty slot.
 */
typedef struct name_map {
    const char **keys;
    int *vals;
    size_t cap;
} name_map_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int map_init(name_map_t *m, size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n + 2)
        cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    m->cap = cap;
    if (m->keys == NULL || m->vals == NULL) {
        free(m->keys);
        free(m->vals);
        m->keys = NULL;
        m->vals = NULL;
        return EA_ERR_NOMEM;
    }
    return EA_OK;
}

static void map_fini(name_map_t *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
}

/* Index stored for `key`, or -1. */
static int map_get(const name_map_t *m, const char *key)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] != NULL) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* Inserts `key` (borrowed) unless present. The caller sized the map. */
static void map_put(name_map_t *m, const char *key, int val)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] != NULL) {
        if (strcmp(m->keys[i], key) == 0)
            return;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
}

/* ----------------------------------------------------------- parse state -- */

typedef struct pstate {
    const char *path;
    int ncpus;
    char *err;
    size_t errlen;
    eai_deploy_t *d;
    int root_line;
    /* Raw references, resolved in phase 3; owned here, indexed like d's arrays. */
    char **worker_enclave; /* NULL: host worker */
    char **actor_worker;
    char **chan_a, **chan_b;
    /* Per actor (NULL for non-builtin): the enclave name of each <grant>. */
    char ***grant_enclave;
    /* Per-kind name maps, filled in phase 2 (duplicates) and read in phase 3. */
    name_map_t enclaves, workers, actors, channels;
} pstate_t;

/* Replaces control characters so that the message stays one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Writes "path:line: message" (or "path: message" if line <= 0); returns EA_ERR_PARSE. */
__attribute__((format(printf, 3, 4))) static int fail(pstate_t *st, int line, const char *fmt, ...)
{
    if (st->err == NULL || st->errlen == 0)
        return EA_ERR_PARSE;
    int n = line > 0 ? snprintf(st->err, st->errlen, "%s:%d: ", st->path, line)
                     : snprintf(st->err, st->errlen, "%s: ", st->path);
    if (n >= 0 && (size_t)n < st->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    one_line(st->err);
    return EA_ERR_PARSE;
}

static int fail_nomem(pstate_t *st)
{
    fail(st, 0, "out of memory");
    return EA_ERR_NOMEM;
}

static void state_fini(pstate_t *st)
{
    const eai_deploy_t *d = st->d;
    for (int i = 0; d != NULL && st->worker_enclave != NULL && i < d->nworkers; i++)
        free(st->worker_enclave[i]);
    for (int i = 0; d != NULL && st->actor_worker != NULL && i < d->nactors; i++)
        free(st->actor_worker[i]);
    for (int i = 0; d != NULL && st->chan_a != NULL && i < d->nchannels; i++) {
        free(st->chan_a[i]);
        free(st->chan_b[i]);
    }
    for (int i = 0; d != NULL && st->grant_enclave != NULL && i < d->nactors; i++) {
        for (int j = 0; st->grant_enclave[i] != NULL && j < d->actors[i].ngrants; j++)
            free(st->grant_enclave[i][j]);
        free(st->grant_enclave[i]);
    }
    free(st->grant_enclave);
    free(st->worker_enclave);
    free(st->actor_worker);
    free(st->chan_a);
    free(st->chan_b);
    map_fini(&st->enclaves);
    map_fini(&st->workers);
    map_fini(&st->actors);
    map_fini(&st->channels);
}

/* ------------------------------------------------------------ primitives -- */

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Element or attribute name with its namespace prefix, for messages. */
static void qname(char *buf, size_t len, const xmlNs *ns, const xmlChar *name)
{
    if (ns != NULL && ns->prefix != NULL)
        snprintf(buf, len, "%s:%s", (const char *)ns->prefix, (const char *)name);
    else
        snprintf(buf, len, "%s", (const char *)name);
}

static int node_line(const xmlNode *n)
{
    long l = xmlGetLineNo(n);
    return l > 0 && l <= INT_MAX ? (int)l : 0;
}

/* Which kind a child of <eactors> is, or -1. Prefixed names are never ours. */
static int elem_kind(const xmlNode *n)
{
    if (n->ns != NULL && n->ns->prefix != NULL)
        return -1;
    for (int k = 0; k < K_PARAM; k++)
        if (strcmp((const char *)n->name, schemas[k].elem) == 0)
            return k;
    return -1;
}

static void free_vals(char **vals)
{
    for (int i = 0; i < MAX_ATTRS; i++) {
        free(vals[i]);
        vals[i] = NULL;
    }
}

/* Moves a value out of the attribute table. */
static char *take(char **vals, int i)
{
    char *v = vals[i];
    vals[i] = NULL;
    return v;
}

/*
 * Reads the attributes of `n` against schema `k` into vals[] (malloc'd, owned
 * by the caller, who frees them with free_vals on every path): unknown
 * attributes first, then missing ones in schema order.
 */
static int read_attrs(pstate_t *st, const xmlNode *n, int k, char **vals)
{
    const schema_t *sc = &schemas[k];
    int line = node_line(n);
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
        int idx = -1;
        if (a->ns == NULL)
            for (int i = 0; sc->attrs[i] != NULL; i++)
                if (strcmp((const char *)a->name, sc->attrs[i]) == 0)
                    idx = i;
        if (idx < 0) {
            char q[256];
            qname(q, sizeof q, a->ns, a->name);
            return fail(st, line, "<%s>: unknown attribute '%s'", sc->elem, q);
        }
        xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
        char *copy = strdup(v != NULL ? (const char *)v : "");
        xmlFree(v);
        if (copy == NULL)
            return fail_nomem(st);
        free(vals[idx]); /* duplicates are not well-formed XML; be safe anyway */
        vals[idx] = copy;
    }
    for (int i = 0; sc->attrs[i] != NULL; i++)
        if ((sc->required & (1u << i)) && vals[i] == NULL)
            return fail(st, line, "<%s>: missing attribute '%s'", sc->elem, sc->attrs[i]);
    return EA_OK;
}

/*
 * Parses a count or size attribute: `what` is its name, `min` the least
 * allowed value, `limit` the largest (printed as `limit_text`).
 */
static int parse_number(pstate_t *st, int line, const char *elem, const char *name,
                        const char *what, const char *s, uint64_t min, uint64_t limit,
                        const char *limit_text, uint32_t *out)
{
    uint64_t v;
    if (eai_parse_size(s, &v) != EA_OK)
        return fail(st, line, "<%s> '%s': invalid %s '%s'", elem, name, what, s);
    if (v < min)
        return fail(st, line, "<%s> '%s': %s must be at least %llu", elem, name, what,
                    (unsigned long long)min);
    if (v > limit)
        return fail(st, line, "<%s> '%s': %s %s exceeds the limit %s", elem, name, what, s,
                    limit_text);
    *out = (uint32_t)v;
    return EA_OK;
}

/* Reads a decimal CPU number at *p (advancing it); false if none or too large. */
static bool cpu_number(const char **p, long *out)
{
    const char *s = *p;
    long v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        if (v > INT_MAX)
            return false;
    }
    *p = s;
    *out = v;
    return true;
}

/*
 * Parses a cpus list "0", "0,1", "0-3", "0-1,3" into w->cpus (ascending, no
 * duplicates). Syntax is checked on the whole string before existence, so a
 * typo is reported as such even after a CPU number that does not exist.
 */
static int parse_cpus(pstate_t *st, eai_dep_worker_t *w, const char *s)
{
    int line = w->line;
    /* Pass 1: syntax. */
    for (const char *p = s;;) {
        long lo = 0, hi = 0;
        if (!cpu_number(&p, &lo))
            return fail(st, line, "<worker> '%s': invalid cpus '%s'", w->name, s);
        hi = lo;
        if (*p == '-') {
            p++;
            if (!cpu_number(&p, &hi) || hi < lo)
                return fail(st, line, "<worker> '%s': invalid cpus '%s'", w->name, s);
        }
        if (*p == '\0')
            break;
        if (*p != ',')
            return fail(st, line, "<worker> '%s': invalid cpus '%s'", w->name, s);
        p++;
    }
    /* Pass 2: existence, reporting the first missing CPU in the order written. */
    for (const char *p = s;;) {
        long lo = 0, hi = 0;
        cpu_number(&p, &lo);
        hi = lo;
        if (*p == '-') {
            p++;
            cpu_number(&p, &hi);
        }
        if (hi >= st->ncpus) {
            long bad = lo >= st->ncpus ? lo : st->ncpus;
            if (st->ncpus == 1)
                return fail(st, line,
                            "<worker> '%s': CPU %ld does not exist (this machine has CPU 0)",
                            w->name, bad);
            return fail(st, line,
                        "<worker> '%s': CPU %ld does not exist (this machine has CPUs 0-%d)",
                        w->name, bad, st->ncpus - 1);
        }
        if (*p == '\0')
            break;
        p++;
    }
    /* Pass 3: collect into a bitmap over the existing CPUs, then list. */
    unsigned char *seen = calloc((size_t)st->ncpus, 1);
    if (seen == NULL)
        return fail_nomem(st);
    for (const char *p = s;;) {
        long lo = 0, hi = 0;
        cpu_number(&p, &lo);
        hi = lo;
        if (*p == '-') {
            p++;
            cpu_number(&p, &hi);
        }
        for (long c = lo; c <= hi; c++)
            seen[c] = 1;
        if (*p == '\0')
            break;
        p++;
    }
    int n = 0;
    for (int c = 0; c < st->ncpus; c++) {
        if (!seen[c])
            continue;
        if (n == MAX_WORKER_CPUS) {
            free(seen);
            return fail(st, line, "<worker> '%s': cpus '%s' names more than %d CPUs", w->name, s,
                        MAX_WORKER_CPUS);
        }
        w->cpus[n++] = c;
    }
    free(seen);
    w->ncpus = n;
    return EA_OK;
}

/* Name syntax, shared by every named element. */
static int check_name(pstate_t *st, int line, const char *elem, const char *name)
{
    if (!valid_name(name))
        return fail(st, line, "<%s>: invalid name '%s'", elem, name);
    return EA_OK;
}

/*
 * read_attrs for an element whose first attribute is its name, followed by
 * the name check. On failure vals[] is already freed.
 */
static int read_named(pstate_t *st, const xmlNode *n, int k, char **vals)
{
    int rc = read_attrs(st, n, k, vals);
    if (rc == EA_OK)
        rc = check_name(st, node_line(n), schemas[k].elem, vals[0]);
    if (rc != EA_OK)
        free_vals(vals);
    return rc;
}

/* ------------------------------------------------------ phase 2: elements -- */

static int do_host(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int line = node_line(n);
    int rc = read_attrs(st, n, K_HOST, vals);
    if (rc == EA_OK && d->host_line > 0)
        rc = fail(st, line, "duplicate <host> (first at line %d)", d->host_line);
    if (rc == EA_OK) {
        d->host_image = take(vals, HO_IMAGE);
        d->host_line = line;
    }
    free_vals(vals);
    return rc;
}

static int do_enclave(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    eai_dep_enclave_t *e = &d->enclaves[d->nenclaves];
    int line = node_line(n);
    int rc = read_named(st, n, K_ENCLAVE, vals);
    if (rc != EA_OK)
        return rc;
    /* From here on the element is counted, so eai_deploy_free releases it. */
    d->nenclaves++;
    e->name = take(vals, EN_NAME);
    e->image = take(vals, EN_IMAGE);
    e->line = line;
    e->backend = EAI_BACKEND_PROC;
    e->spawn = DEFAULT_SPAWN;
    const char *b = vals[EN_BACKEND];
    if (b != NULL) {
        if (strcmp(b, "proc") == 0)
            e->backend = EAI_BACKEND_PROC;
        else if (strcmp(b, "none") == 0)
            e->backend = EAI_BACKEND_NONE;
        else
            rc = fail(st, line, "<enclave> '%s': invalid backend '%s' (expected proc or none)",
                      e->name, b);
    }
    if (rc == EA_OK && vals[EN_SPAWN] != NULL)
        rc = parse_number(st, line, "enclave", e->name, "spawn", vals[EN_SPAWN], 0, MAX_SPAWN,
                          "65536", &e->spawn);
    free_vals(vals);
    if (rc != EA_OK)
        return rc;
    int prev = map_get(&st->enclaves, e->name);
    if (prev >= 0)
        return fail(st, line, "duplicate <enclave> name '%s' (first at line %d)", e->name,
                    d->enclaves[prev].line);
    map_put(&st->enclaves, e->name, d->nenclaves - 1);
    return EA_OK;
}

static int do_worker(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    eai_dep_worker_t *w = &d->workers[d->nworkers];
    int line = node_line(n);
    int rc = read_named(st, n, K_WORKER, vals);
    if (rc != EA_OK)
        return rc;
    int idx = d->nworkers++;
    w->name = take(vals, WO_NAME);
    w->line = line;
    w->enclave = EAI_HOST;
    w->idle = EAI_IDLE_PARK;
    st->worker_enclave[idx] = take(vals, WO_ENCLAVE);
    rc = parse_cpus(st, w, vals[WO_CPUS]);
    const char *idle = vals[WO_IDLE];
    if (rc == EA_OK && idle != NULL) {
        if (strcmp(idle, "park") == 0)
            w->idle = EAI_IDLE_PARK;
        else if (strcmp(idle, "spin") == 0)
            w->idle = EAI_IDLE_SPIN;
        else
            rc = fail(st, line, "<worker> '%s': invalid idle '%s' (expected park or spin)", w->name,
                      idle);
    }
    free_vals(vals);
    if (rc != EA_OK)
        return rc;
    int prev = map_get(&st->workers, w->name);
    if (prev >= 0)
        return fail(st, line, "duplicate <worker> name '%s' (first at line %d)", w->name,
                    d->workers[prev].line);
    map_put(&st->workers, w->name, idx);
    return EA_OK;
}

static int do_params(pstate_t *st, const xmlNode *n, eai_dep_actor_t *a)
{
    int count = 0;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            count++;
    if (count == 0)
        return EA_OK;
    a->params = calloc((size_t)count, sizeof *a->params);
    if (a->params == NULL)
        return fail_nomem(st);
    name_map_t keys = {0};
    if (map_init(&keys, (size_t)count) != EA_OK)
        return fail_nomem(st);
    int rc = EA_OK;
    for (const xmlNode *c = n->children; c != NULL && rc == EA_OK; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        int line = node_line(c);
        if ((c->ns != NULL && c->ns->prefix != NULL) ||
            strcmp((const char *)c->name, "param") != 0) {
            char q[256];
            qname(q, sizeof q, c->ns, c->name);
            rc = fail(st, line, "unknown element <%s> in <actor>", q);
            break;
        }
        char *vals[MAX_ATTRS] = {0};
        rc = read_attrs(st, c, K_PARAM, vals);
        if (rc == EA_OK)
            rc = check_name(st, line, "param", vals[PA_NAME]);
        if (rc == EA_OK && map_get(&keys, vals[PA_NAME]) >= 0)
            rc = fail(st, line, "<param>: duplicate parameter '%s' of actor '%s'", vals[PA_NAME],
                      a->name);
        if (rc == EA_OK) {
            eai_dep_param_t *p = &a->params[a->nparams++];
            p->key = take(vals, PA_NAME);
            p->value = take(vals, PA_VALUE);
            map_put(&keys, p->key, a->nparams - 1);
        }
        free_vals(vals);
    }
    map_fini(&keys);
    return rc;
}

static int do_actor(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    eai_dep_actor_t *a = &d->actors[d->nactors];
    int line = node_line(n);
    int rc = read_named(st, n, K_ACTOR, vals);
    if (rc != EA_OK)
        return rc;
    int idx = d->nactors++;
    a->name = take(vals, AC_NAME);
    a->type = take(vals, AC_TYPE);
    a->line = line;
    a->worker = -1;
    st->actor_worker[idx] = take(vals, AC_WORKER);
    free_vals(vals);
    int prev = map_get(&st->actors, a->name);
    if (prev >= 0)
        return fail(st, line, "duplicate <actor> name '%s' (first at line %d)", a->name,
                    d->actors[prev].line);
    map_put(&st->actors, a->name, idx);
    /* The actor's own checks come before its children's: document order. */
    return do_params(st, n, a);
}

/*
 * Parses a port list "80", "80,443", "8080-8090 9000" (commas and/or white
 * space between items) into a sorted array without duplicates. Ports are
 * 1..65535; an empty list is allowed (no port granted).
 */
static int parse_ports(pstate_t *st, int line, const char *s, uint16_t **out, int *nout)
{
    unsigned char *seen = calloc(65536, 1);
    if (seen == NULL)
        return fail_nomem(st);
    bool ok = true;
    for (const char *p = s; ok;) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            break;
        long lo = 0, hi = 0;
        if (!cpu_number(&p, &lo)) {
            ok = false;
            break;
        }
        hi = lo;
        if (*p == '-') {
            p++;
            ok = cpu_number(&p, &hi);
        }
        if (!ok || lo < 1 || hi > 65535 || hi < lo ||
            (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')) {
            ok = false;
            break;
        }
        for (long v = lo; v <= hi; v++)
            seen[v] = 1;
    }
    if (!ok) {
        free(seen);
        return fail(st, line, "<grant>: invalid port list '%s'", s);
    }
    int n = 0;
    for (int v = 1; v < 65536; v++)
        n += seen[v];
    *out = calloc((size_t)n + 1, sizeof **out);
    if (*out == NULL) {
        free(seen);
        return fail_nomem(st);
    }
    for (int v = 1; v < 65536; v++)
        if (seen[v])
            (*out)[(*nout)++] = (uint16_t)v;
    free(seen);
    return EA_OK;
}

/*
 * Appends the space-separated directory list of a grant's files= (ro false)
 * or files-ro= (ro true) to g. Each entry must be an absolute path naming an
 * existing directory; it is stored resolved (realpath), which is what the
 * system actor compares opened paths against. A directory may be listed in
 * only one of the two attributes: which one wins would otherwise be a
 * question of order, and the answer must not depend on it.
 */
static int parse_files(pstate_t *st, int line, const char *s, bool ro, eai_dep_grant_t *g)
{
    size_t max = (size_t)g->nfiles + 1;
    for (const char *p = s; *p != '\0'; p++)
        max += *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
    char **files = realloc(g->files, max * sizeof *files);
    if (files != NULL)
        g->files = files;
    uint8_t *files_ro = realloc(g->files_ro, max * sizeof *files_ro);
    if (files_ro != NULL)
        g->files_ro = files_ro;
    if (files == NULL || files_ro == NULL)
        return fail_nomem(st);
    for (const char *p = s;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            return EA_OK;
        const char *start = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        char *dir = strndup(start, (size_t)(p - start));
        if (dir == NULL)
            return fail_nomem(st);
        int rc = EA_OK;
        int r = dir[0] == '/' ? eai_path_resolve(dir, EAI_PATH_DIR, &g->files[g->nfiles])
                              : EA_ERR_INVAL;
        if (dir[0] != '/')
            rc = fail(st, line, "<grant>: directory '%s' is not an absolute path", dir);
        else if (r == EA_ERR_NOTFOUND)
            rc = fail(st, line, "<grant>: directory '%s' does not exist", dir);
        else if (r == EA_ERR_INVAL)
            rc = fail(st, line, "<grant>: '%s' is not a directory", dir);
        else if (r != EA_OK)
            rc = fail_nomem(st);
        if (r == EA_OK) {
            const char *real = g->files[g->nfiles];
            /* Counted before the check, so that the frees release it. */
            g->files_ro[g->nfiles++] = ro;
            for (int i = 0; rc == EA_OK && i < g->nfiles - 1; i++)
                if (strcmp(g->files[i], real) == 0 && g->files_ro[i] != ro)
                    rc = fail(st, line,
                              "<grant>: directory '%s' is granted both read-write (files) "
                              "and read-only (files-ro)",
                              dir);
        }
        free(dir);
        if (rc != EA_OK)
            return rc;
    }
}

/* The <grant> children of <sys> actor `a` (index idx), in document order. */
static int do_grants(pstate_t *st, const xmlNode *n, eai_dep_actor_t *a, int idx)
{
    int count = 0;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            count++;
    if (count == 0)
        return EA_OK;
    a->grants = calloc((size_t)count, sizeof *a->grants);
    st->grant_enclave[idx] = calloc((size_t)count, sizeof *st->grant_enclave[idx]);
    if (a->grants == NULL || st->grant_enclave[idx] == NULL)
        return fail_nomem(st);
    char **names = st->grant_enclave[idx];
    for (const xmlNode *c = n->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        int line = node_line(c);
        if ((c->ns != NULL && c->ns->prefix != NULL) ||
            strcmp((const char *)c->name, "grant") != 0) {
            char q[256];
            qname(q, sizeof q, c->ns, c->name);
            return fail(st, line, "unknown element <%s> in <sys>", q);
        }
        char *vals[MAX_ATTRS] = {0};
        int rc = read_attrs(st, c, K_GRANT, vals);
        for (int j = 0; rc == EA_OK && j < a->ngrants; j++)
            if (strcmp(names[j], vals[GR_ENCLAVE]) == 0)
                rc = fail(st, line, "<grant>: duplicate grant for enclave '%s' (first at line %d)",
                          vals[GR_ENCLAVE], a->grants[j].line);
        if (rc != EA_OK) {
            free_vals(vals);
            return rc;
        }
        /* From here on the grant is counted, so the frees release it. */
        eai_dep_grant_t *g = &a->grants[a->ngrants];
        names[a->ngrants++] = take(vals, GR_ENCLAVE);
        g->line = line;
        g->enclave = EAI_HOST;
        if (vals[GR_LISTEN] != NULL)
            rc = parse_ports(st, line, vals[GR_LISTEN], &g->listen, &g->nlisten);
        if (rc == EA_OK && vals[GR_CONNECT] != NULL)
            rc = parse_ports(st, line, vals[GR_CONNECT], &g->connect, &g->nconnect);
        if (rc == EA_OK && vals[GR_FILES] != NULL)
            rc = parse_files(st, line, vals[GR_FILES], false, g);
        if (rc == EA_OK && vals[GR_FILES_RO] != NULL)
            rc = parse_files(st, line, vals[GR_FILES_RO], true, g);
        /* The system actor's per-requester limits (its defaults if absent). */
        const char *who = names[a->ngrants - 1];
        if (rc == EA_OK && vals[GR_HANDLES] != NULL)
            rc = parse_number(st, line, "grant", who, "handles", vals[GR_HANDLES], 1,
                              EAI_SYS_HANDLES_LIMIT, "32768", &g->max_handles);
        if (rc == EA_OK && vals[GR_TIMERS] != NULL)
            rc = parse_number(st, line, "grant", who, "timers", vals[GR_TIMERS], 1,
                              EAI_SYS_HANDLES_LIMIT, "32768", &g->max_timers);
        if (rc == EA_OK && vals[GR_QUEUED] != NULL)
            rc = parse_number(st, line, "grant", who, "queued", vals[GR_QUEUED], 4096,
                              EAI_SYS_QUEUED_LIMIT, "1G", &g->max_queued);
        free_vals(vals);
        if (rc != EA_OK)
            return rc;
    }
    return EA_OK;
}

/*
 * A <sys> element: a system actor, the runtime's builtin type "sys". It
 * shares the actor name space (channels name it like any actor).
 */
static int do_sys(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    eai_dep_actor_t *a = &d->actors[d->nactors];
    int line = node_line(n);
    int rc = read_named(st, n, K_SYS, vals);
    if (rc != EA_OK)
        return rc;
    int idx = d->nactors++;
    a->name = take(vals, SY_NAME);
    a->type = strdup("sys");
    a->builtin = EAI_BUILTIN_SYS;
    a->line = line;
    a->worker = -1;
    st->actor_worker[idx] = take(vals, SY_WORKER);
    free_vals(vals);
    if (a->type == NULL)
        return fail_nomem(st);
    int prev = map_get(&st->actors, a->name);
    if (prev >= 0)
        return fail(st, line, "duplicate <sys> name '%s' (first at line %d)", a->name,
                    d->actors[prev].line);
    map_put(&st->actors, a->name, idx);
    return do_grants(st, n, a, idx);
}

/* Splits "between" into exactly two space-separated names. */
static int split_between(const char *s, char **a, char **b)
{
    const char *tok[3];
    size_t len[3];
    int n = 0;
    for (const char *p = s; *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        if (n == 3)
            break;
        tok[n] = start;
        len[n] = (size_t)(p - start);
        n++;
    }
    if (n != 2)
        return EA_ERR_PARSE;
    *a = strndup(tok[0], len[0]);
    *b = strndup(tok[1], len[1]);
    if (*a == NULL || *b == NULL) {
        free(*a);
        free(*b);
        *a = NULL;
        *b = NULL;
        return EA_ERR_NOMEM;
    }
    return EA_OK;
}

static int do_channel(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    eai_dep_channel_t *c = &d->channels[d->nchannels];
    int line = node_line(n);
    int rc = read_named(st, n, K_CHANNEL, vals);
    if (rc != EA_OK)
        return rc;
    int idx = d->nchannels++;
    c->name = take(vals, CH_NAME);
    c->line = line;
    c->a = c->b = -1;
    c->nodes = DEFAULT_NODES;
    c->max = DEFAULT_MAX;
    c->protect = EAI_PROTECT_AUTO;
    rc = split_between(vals[CH_BETWEEN], &st->chan_a[idx], &st->chan_b[idx]);
    if (rc == EA_ERR_NOMEM)
        rc = fail_nomem(st);
    else if (rc != EA_OK)
        rc = fail(st, line, "<channel> '%s': attribute 'between' must name two actors", c->name);
    if (rc == EA_OK && vals[CH_NODES] != NULL)
        rc = parse_number(st, line, "channel", c->name, "nodes", vals[CH_NODES], 1, MAX_NODES,
                          "1048576", &c->nodes);
    if (rc == EA_OK && vals[CH_MAX] != NULL)
        rc = parse_number(st, line, "channel", c->name, "max", vals[CH_MAX], 1, MAX_MSG,
                          MAX_MSG_TEXT, &c->max);
    const char *pr = vals[CH_PROTECT];
    if (rc == EA_OK && pr != NULL) {
        if (strcmp(pr, "auto") == 0)
            c->protect = EAI_PROTECT_AUTO;
        else if (strcmp(pr, "aead") == 0)
            c->protect = EAI_PROTECT_AEAD;
        else if (strcmp(pr, "plain") == 0)
            c->protect = EAI_PROTECT_PLAIN;
        else
            rc = fail(st, line,
                      "<channel> '%s': invalid protect '%s' (expected auto, aead or plain)",
                      c->name, pr);
    }
    free_vals(vals);
    if (rc != EA_OK)
        return rc;
    /* The pool size is what the limits protect: nodes of max + header, aligned,
     * as the pools size them (max <= MAX_MSG, so the node size is not 0). */
    uint64_t nodesz = ea_node_size_for(c->max);
    if ((uint64_t)c->nodes * nodesz > MAX_POOL)
        return fail(st, line, "<channel> '%s': pool of %u nodes of %llu bytes exceeds 1G", c->name,
                    c->nodes, (unsigned long long)nodesz);
    int prev = map_get(&st->channels, c->name);
    if (prev >= 0)
        return fail(st, line, "duplicate <channel> name '%s' (first at line %d)", c->name,
                    d->channels[prev].line);
    map_put(&st->channels, c->name, idx);
    return EA_OK;
}

/*
 * Phase 2: counts the elements of each kind (to size the arrays and maps),
 * then checks each element in document order.
 */
static int do_elements(pstate_t *st, const xmlNode *root)
{
    eai_deploy_t *d = st->d;
    size_t count[K_COUNT] = {0};
    for (const xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        int k = elem_kind(n);
        if (k >= 0) /* unknown elements are reported in order below */
            count[k]++;
    }
    /* calloc(0) may return NULL, so allocate at least one of each. */
    d->enclaves = calloc(count[K_ENCLAVE] + 1, sizeof *d->enclaves);
    d->workers = calloc(count[K_WORKER] + 1, sizeof *d->workers);
    d->actors = calloc(count[K_ACTOR] + count[K_SYS] + 1, sizeof *d->actors);
    d->channels = calloc(count[K_CHANNEL] + 1, sizeof *d->channels);
    st->worker_enclave = calloc(count[K_WORKER] + 1, sizeof *st->worker_enclave);
    st->actor_worker = calloc(count[K_ACTOR] + count[K_SYS] + 1, sizeof *st->actor_worker);
    st->grant_enclave = calloc(count[K_ACTOR] + count[K_SYS] + 1, sizeof *st->grant_enclave);
    st->chan_a = calloc(count[K_CHANNEL] + 1, sizeof *st->chan_a);
    st->chan_b = calloc(count[K_CHANNEL] + 1, sizeof *st->chan_b);
    if (d->enclaves == NULL || d->workers == NULL || d->actors == NULL || d->channels == NULL ||
        st->worker_enclave == NULL || st->actor_worker == NULL || st->grant_enclave == NULL ||
        st->chan_a == NULL || st->chan_b == NULL)
        return fail_nomem(st);
    if (map_init(&st->enclaves, count[K_ENCLAVE]) != EA_OK ||
        map_init(&st->workers, count[K_WORKER]) != EA_OK ||
        map_init(&st->actors, count[K_ACTOR] + count[K_SYS]) != EA_OK ||
        map_init(&st->channels, count[K_CHANNEL]) != EA_OK)
        return fail_nomem(st);

    for (const xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        int rc;
        switch (elem_kind(n)) {
        case K_HOST: rc = do_host(st, n); break;
        case K_ENCLAVE: rc = do_enclave(st, n); break;
        case K_WORKER: rc = do_worker(st, n); break;
        case K_ACTOR: rc = do_actor(st, n); break;
        case K_CHANNEL: rc = do_channel(st, n); break;
        case K_SYS: rc = do_sys(st, n); break;
        default: {
            char q[256];
            qname(q, sizeof q, n->ns, n->name);
            rc = fail(st, node_line(n), "unknown element <%s> in <eactors>", q);
            break;
        }
        }
        if (rc != EA_OK)
            return rc;
    }
    return EA_OK;
}

/* ---------------------------------------------------- phase 3: references -- */

/*
 * Elements are checked in document order of the referencing element; the
 * arrays are per kind, so merge them by line (elements are on distinct lines
 * or, on one line, the reference checks of the earlier kind in this merge
 * order come first, which is the best a line-based order can do).
 */
static int resolve_worker(pstate_t *st, int i)
{
    eai_dep_worker_t *w = &st->d->workers[i];
    const char *e = st->worker_enclave[i];
    if (e == NULL)
        return EA_OK;
    w->enclave = map_get(&st->enclaves, e);
    if (w->enclave < 0)
        return fail(st, w->line, "<worker> '%s': unknown enclave '%s'", w->name, e);
    return EA_OK;
}

/* A system actor runs on a host worker (it makes system calls for others),
 * and each grant names a known enclave or "host". */
static int resolve_sys(pstate_t *st, eai_dep_actor_t *a, int i)
{
    const eai_deploy_t *d = st->d;
    if (a->worker < 0)
        return fail(st, a->line, "<sys> '%s': unknown worker '%s'", a->name, st->actor_worker[i]);
    const eai_dep_worker_t *w = &d->workers[a->worker];
    if (w->enclave != EAI_HOST)
        return fail(st, a->line,
                    "<sys> '%s': system actors run in the host, not on worker '%s' of enclave '%s'",
                    a->name, w->name, d->enclaves[w->enclave].name);
    for (int j = 0; j < a->ngrants; j++) {
        const char *e = st->grant_enclave[i][j];
        if (strcmp(e, "host") == 0) {
            a->grants[j].enclave = EAI_HOST;
            continue;
        }
        a->grants[j].enclave = map_get(&st->enclaves, e);
        if (a->grants[j].enclave < 0)
            return fail(st, a->grants[j].line, "<grant>: unknown enclave '%s'", e);
    }
    return EA_OK;
}

static int resolve_actor(pstate_t *st, int i)
{
    eai_deploy_t *d = st->d;
    eai_dep_actor_t *a = &d->actors[i];
    const char *wn = st->actor_worker[i];
    a->worker = map_get(&st->workers, wn);
    if (a->builtin == EAI_BUILTIN_SYS)
        return resolve_sys(st, a, i);
    if (a->worker < 0)
        return fail(st, a->line, "<actor> '%s': unknown worker '%s'", a->name, wn);
    if (d->workers[a->worker].enclave == EAI_HOST && d->host_image == NULL)
        return fail(st, a->line,
                    "<actor> '%s': runs on host worker '%s' but there is no <host image=...>",
                    a->name, wn);
    return EA_OK;
}

static int resolve_channel(pstate_t *st, int i)
{
    eai_dep_channel_t *c = &st->d->channels[i];
    c->a = map_get(&st->actors, st->chan_a[i]);
    if (c->a < 0)
        return fail(st, c->line, "<channel> '%s': unknown actor '%s'", c->name, st->chan_a[i]);
    c->b = map_get(&st->actors, st->chan_b[i]);
    if (c->b < 0)
        return fail(st, c->line, "<channel> '%s': unknown actor '%s'", c->name, st->chan_b[i]);
    if (c->a == c->b)
        return fail(st, c->line, "<channel> '%s': channel between actor '%s' and itself", c->name,
                    st->chan_a[i]);
    return EA_OK;
}

/* protect="aead" needs a channel between two different enclaves: the host
 * is an endpoint it cannot protect, and inside one enclave there is nothing
 * to protect against. */
static int do_protection(pstate_t *st)
{
    const eai_deploy_t *d = st->d;
    for (int i = 0; i < d->nchannels; i++) {
        const eai_dep_channel_t *c = &d->channels[i];
        if (c->protect != EAI_PROTECT_AEAD)
            continue;
        int ea = d->workers[d->actors[c->a].worker].enclave;
        int eb = d->workers[d->actors[c->b].worker].enclave;
        if (ea == EAI_HOST || eb == EAI_HOST || ea == eb)
            return fail(st, c->line,
                        "<channel> '%s': protect 'aead' needs actors in two different enclaves",
                        c->name);
    }
    return EA_OK;
}

static int do_references(pstate_t *st)
{
    const eai_deploy_t *d = st->d;
    int wi = 0, ai = 0, ci = 0;
    for (;;) {
        int wl = wi < d->nworkers ? d->workers[wi].line : INT_MAX;
        int al = ai < d->nactors ? d->actors[ai].line : INT_MAX;
        int cl = ci < d->nchannels ? d->channels[ci].line : INT_MAX;
        int rc;
        if (wl == INT_MAX && al == INT_MAX && cl == INT_MAX)
            return EA_OK;
        if (wl <= al && wl <= cl)
            rc = resolve_worker(st, wi++);
        else if (al <= cl)
            rc = resolve_actor(st, ai++);
        else
            rc = resolve_channel(st, ci++);
        if (rc != EA_OK)
            return rc;
    }
}

/* ------------------------------------------------------- phase 4: images -- */

/* Sets *out to the realpath of `p` if it is an existing regular file. */
static int try_image(const char *p, char **out)
{
    int rc = eai_path_resolve(p, EAI_PATH_FILE, out);
    return rc == EA_ERR_INVAL ? EA_ERR_NOTFOUND : rc;
}

static int join_try(const char *dir, size_t dirlen, const char *image, char **out)
{
    char *p = NULL;
    if (asprintf(&p, "%.*s/%s", (int)dirlen, dir, image) < 0)
        return EA_ERR_NOMEM;
    int rc = try_image(p, out);
    free(p);
    return rc;
}

/*
 * Resolves `image`: absolute as is; otherwise relative to the deployment
 * file's directory, then to each directory of EACTORS_IMAGE_PATH.
 */
static int resolve_image(const eai_deploy_t *d, const char *image, char **out)
{
    *out = NULL;
    if (image[0] == '\0')
        return EA_ERR_NOTFOUND;
    if (image[0] == '/')
        return try_image(image, out);
    int rc = join_try(d->dir, strlen(d->dir), image, out);
    if (rc != EA_ERR_NOTFOUND)
        return rc;
    const char *ip = getenv("EACTORS_IMAGE_PATH");
    if (ip == NULL)
        return EA_ERR_NOTFOUND;
    for (const char *p = ip;;) {
        const char *end = strchr(p, ':');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > 0 && len <= INT_MAX) {
            rc = join_try(p, len, image, out);
            if (rc != EA_ERR_NOTFOUND)
                return rc;
        }
        if (end == NULL)
            return EA_ERR_NOTFOUND;
        p = end + 1;
    }
}

static int do_images(pstate_t *st)
{
    eai_deploy_t *d = st->d;
    bool host_done = d->host_image == NULL;
    for (int i = 0; i <= d->nenclaves; i++) {
        if (!host_done && (i == d->nenclaves || d->host_line < d->enclaves[i].line)) {
            host_done = true;
            int rc = resolve_image(d, d->host_image, &d->host_image_path);
            if (rc == EA_ERR_NOMEM)
                return fail_nomem(st);
            if (rc != EA_OK)
                return fail(st, d->host_line, "<host>: image '%s' not found", d->host_image);
        }
        if (i == d->nenclaves)
            break;
        eai_dep_enclave_t *e = &d->enclaves[i];
        int rc = resolve_image(d, e->image, &e->image_path);
        if (rc == EA_ERR_NOMEM)
            return fail_nomem(st);
        if (rc != EA_OK)
            return fail(st, e->line, "<enclave> '%s': image '%s' not found", e->name, e->image);
    }
    return EA_OK;
}

/* -------------------------------------------------------- phase 5: types -- */

static int do_types(pstate_t *st, eai_type_probe_fn probe, void *ctx)
{
    eai_deploy_t *d = st->d;
    name_map_t seen = {0};
    char **keys = calloc((size_t)d->nactors + 1, sizeof *keys);
    if (keys == NULL || map_init(&seen, (size_t)d->nactors) != EA_OK) {
        free(keys);
        return fail_nomem(st);
    }
    int rc = EA_OK;
    for (int i = 0; i < d->nactors && rc == EA_OK; i++) {
        const eai_dep_actor_t *a = &d->actors[i];
        if (a->builtin != EAI_BUILTIN_NONE)
            continue; /* the runtime's own type, not in any image */
        int encl = d->workers[a->worker].enclave;
        const char *path = encl == EAI_HOST ? d->host_image_path : d->enclaves[encl].image_path;
        const char *image = encl == EAI_HOST ? d->host_image : d->enclaves[encl].image;
        /* Probe each (image, type) pair once; the key is unambiguous. */
        if (asprintf(&keys[i], "%zu:%s%s", strlen(path), path, a->type) < 0) {
            keys[i] = NULL;
            rc = fail_nomem(st);
            break;
        }
        if (map_get(&seen, keys[i]) >= 0)
            continue;
        map_put(&seen, keys[i], i);
        char perr[256] = "";
        int r = probe(ctx, path, a->type, perr, sizeof perr);
        if (r < 0) {
            const char *why = perr[0] != '\0' ? perr : ea_strerror(r);
            if (encl == EAI_HOST)
                rc = fail(st, d->host_line, "<host>: cannot load image '%s': %s", image, why);
            else
                rc = fail(st, d->enclaves[encl].line, "<enclave> '%s': cannot load image '%s': %s",
                          d->enclaves[encl].name, image, why);
        } else if (r == 0) {
            rc = fail(st, a->line, "<actor> '%s': type '%s' is not in image '%s'", a->name, a->type,
                      image);
        }
    }
    for (int i = 0; i < d->nactors; i++)
        free(keys[i]);
    free(keys);
    map_fini(&seen);
    return rc;
}

/* ------------------------------------------------------------ XML errors -- */

typedef struct xml_capture {
    bool have;
    int line;
    char msg[512];
} xml_capture_t;

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

/* Keeps the first error (warnings are dropped); never prints. */
static void capture_structured(void *data, xml_error_arg e)
{
    xml_capture_t *cap = data;
    if (cap == NULL || e == NULL || cap->have || e->level < XML_ERR_ERROR)
        return;
    cap->have = true;
    cap->line = e->line;
    snprintf(cap->msg, sizeof cap->msg, "%s", e->message != NULL ? e->message : "unknown error");
    size_t n = strlen(cap->msg);
    while (n > 0 && (cap->msg[n - 1] == '\n' || cap->msg[n - 1] == ' ' || cap->msg[n - 1] == '\r' ||
                     cap->msg[n - 1] == '\t'))
        cap->msg[--n] = '\0';
}

/* Swallows the unstructured channel, in case some path uses it. */
__attribute__((format(printf, 2, 3))) static void capture_generic(void *data, const char *msg, ...)
{
    (void)data;
    (void)msg;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* ------------------------------------------------------------- top level -- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* A deployment file larger than this is refused before parsing. */
#define MAX_DEPLOY_BYTES (16u << 20)

int eai_deploy_load(const char *path, int ncpus, eai_type_probe_fn probe, void *probe_ctx,
                    eai_deploy_t **out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    pstate_t st = {.path = path, .ncpus = ncpus, .err = err, .errlen = errlen};
    if (path == NULL || out == NULL) {
        st.path = "(null)";
        fail(&st, 0, "invalid argument");
        return EA_ERR_INVAL;
    }
    if (ncpus < 1) {
        fail(&st, 0, "invalid CPU count %d", ncpus);
        return EA_ERR_INVAL;
    }
    pthread_once(&xml_once, xml_init);

    uint8_t *text;
    size_t textlen;
    int rrc = eai_file_read_all(path, MAX_DEPLOY_BYTES, &text, &textlen);
    if (rrc == EA_ERR_NOTFOUND)
        return fail(&st, 0, "cannot read: %s", strerror(ENOENT));
    if (rrc == EA_ERR_TOOBIG)
        return fail(&st, 0, "cannot read: larger than %u bytes", MAX_DEPLOY_BYTES);
    if (rrc != EA_OK)
        return fail(&st, 0, "cannot read: %s", strerror(rrc == EA_ERR_NOMEM ? ENOMEM : errno));
    if (textlen == 0) {
        /* libxml2 reports nothing for an empty buffer; say what its file
         * reader would have said. */
        free(text);
        return fail(&st, 1, "XML error: Document is empty");
    }

    xml_capture_t cap = {0};
    xmlStructuredErrorFunc old_s = xmlStructuredError;
    void *old_sctx = xmlStructuredErrorContext;
    xmlGenericErrorFunc old_g = xmlGenericError;
    void *old_gctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(&cap, capture_structured);
    xmlSetGenericErrorFunc(&cap, capture_generic);
    xmlDocPtr doc = xmlReadMemory((const char *)text, (int)textlen, path, NULL,
                                  XML_PARSE_NONET | XML_PARSE_BIG_LINES);
    xmlSetStructuredErrorFunc(old_sctx, old_s);
    xmlSetGenericErrorFunc(old_gctx, old_g);
    free(text);

    if (doc == NULL || cap.have) {
        xmlFreeDoc(doc);
        if (!cap.have)
            return fail(&st, 1, "XML error: cannot parse");
        return fail(&st, cap.line > 0 ? cap.line : 1, "XML error: %s", cap.msg);
    }

    int rc = EA_OK;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        rc = fail(&st, 1, "XML error: no root element");
        goto out;
    }
    st.root_line = node_line(root);
    if ((root->ns != NULL && root->ns->prefix != NULL) ||
        strcmp((const char *)root->name, "eactors") != 0) {
        char q[256];
        qname(q, sizeof q, root->ns, root->name);
        rc = fail(&st, st.root_line, "root element must be <eactors>, not <%s>", q);
        goto out;
    }
    if (root->properties != NULL) {
        char q[256];
        qname(q, sizeof q, root->properties->ns, root->properties->name);
        rc = fail(&st, st.root_line, "<eactors>: unknown attribute '%s'", q);
        goto out;
    }

    st.d = calloc(1, sizeof *st.d);
    if (st.d == NULL) {
        rc = fail_nomem(&st);
        goto out;
    }
    st.d->path = strdup(path);
    st.d->dir = dir_of(path);
    if (st.d->path == NULL || st.d->dir == NULL) {
        rc = fail_nomem(&st);
        goto out;
    }

    rc = do_elements(&st, root);
    if (rc == EA_OK)
        rc = do_references(&st);
    if (rc == EA_OK)
        rc = do_protection(&st);
    if (rc == EA_OK)
        rc = do_images(&st);
    if (rc == EA_OK && probe != NULL)
        rc = do_types(&st, probe, probe_ctx);
    if (rc == EA_OK && st.d->nactors == 0)
        rc = fail(&st, st.root_line, "<eactors>: no <actor> declared");

out:
    xmlFreeDoc(doc);
    state_fini(&st);
    if (rc != EA_OK) {
        eai_deploy_free(st.d);
        return rc;
    }
    *out = st.d;
    return EA_OK;
}

void eai_deploy_free(eai_deploy_t *d)
{
    if (d == NULL)
        return;
    for (int i = 0; d->enclaves != NULL && i < d->nenclaves; i++) {
        free(d->enclaves[i].name);
        free(d->enclaves[i].image);
        free(d->enclaves[i].image_path);
    }
    for (int i = 0; d->workers != NULL && i < d->nworkers; i++)
        free(d->workers[i].name);
    for (int i = 0; d->actors != NULL && i < d->nactors; i++) {
        eai_dep_actor_t *a = &d->actors[i];
        free(a->name);
        free(a->type);
        for (int j = 0; j < a->nparams; j++) {
            free(a->params[j].key);
            free(a->params[j].value);
        }
        free(a->params);
        for (int j = 0; a->grants != NULL && j < a->ngrants; j++) {
            eai_dep_grant_t *g = &a->grants[j];
            free(g->listen);
            free(g->connect);
            for (int k = 0; k < g->nfiles; k++)
                free(g->files[k]);
            free(g->files);
            free(g->files_ro);
        }
        free(a->grants);
    }
    for (int i = 0; d->channels != NULL && i < d->nchannels; i++)
        free(d->channels[i].name);
    free(d->enclaves);
    free(d->workers);
    free(d->actors);
    free(d->channels);
    free(d->host_image);
    free(d->host_image_path);
    free(d->path);
    free(d->dir);
    free(d);
}

int eai_deploy_find_actor(const eai_deploy_t *d, const char *name)
{
    for (int i = 0; d != NULL && name != NULL && i < d->nactors; i++)
        if (strcmp(d->actors[i].name, name) == 0)
            return i;
    return -1;
}

int eai_deploy_find_worker(const eai_deploy_t *d, const char *name)
{
    for (int i = 0; d != NULL && name != NULL && i < d->nworkers; i++)
        if (strcmp(d->workers[i].name, name) == 0)
            return i;
    return -1;
}

int eai_deploy_find_enclave(const eai_deploy_t *d, const char *name)
{
    for (int i = 0; d != NULL && name != NULL && i < d->nenclaves; i++)
        if (strcmp(d->enclaves[i].name, name) == 0)
            return i;
    return -1;
}
