/*
 * Deployment files: parse with libxml2, validate, build an eai_deploy_t.
 *
 * Design notes.
 *
 * The deployment file is untrusted input (DESIGN.md section 7: policy comes
 * from signed images, never from the deployment), so every defect is an error
 * return carrying "file:line: message" lines, never an assert.
 *
 * Validation runs in two passes, so that the order of the elements in the
 * file never changes the result:
 *   1. collect: every element in document order, each checked on its own
 *      (unknown element, unknown attribute, missing attribute, name syntax,
 *      numbers / enums / cpus, duplicate name, its image exists) and every
 *      name entered in its kind's map, broken elements included;
 *   2. resolve and check, kind by kind, each kind only after the kinds it
 *      refers to are complete: workers -> enclave, then actors -> worker
 *      (a <sys> needs a host worker, a plain actor on a host worker needs
 *      <host>), <grant> -> enclave, channels -> actors, AEAD channels ->
 *      the actors' domains, <store> -> the domains that may attach it,
 *      then actor types through the caller's probe
 *      (builtin <sys> actors are the runtime's own type), then "no actor
 *      declared".
 * Pass 2 reads a fact (a worker's enclave) only after pass 2 has set it for
 * every element, which is what makes order irrelevant: a <sys> before its
 * <worker> is checked against the worker's resolved enclave, not a default.
 *
 * Every error is reported, not only the first. Each element reports at most
 * one error, the first of its checks in the order above, because its later
 * checks assume the earlier ones passed. An element is "usable" when its own
 * checks passed and every element it refers to is usable; a reference to an
 * element that exists but is not usable is not reported again (the error is
 * at that element), and checks that need the referred element are skipped,
 * so one mistake gives one line, not a cascade. The errors are sorted by
 * line (then by the order they were found); the first EAI_DEPLOY_MAX_ERRORS
 * are kept while checking (a bounded selection, so a file with a million
 * errors costs no more memory than one with twenty) and a last line says how
 * many more there were.
 *
 * "host" is the name of the host domain where an element names a domain
 * (<grant enclave="host">), so an enclave may not be called "host".
 *
 * libxml2 must not print to stderr: the first error is captured by a
 * structured error handler installed for the duration of the parse (a file
 * that is not well-formed XML has no tree to check, so it gives one error).
 * In a threaded libxml2 build the handler globals are per thread, so
 * concurrent loads in different threads do not see each other's handlers;
 * xmlInitParser runs once under pthread_once, which is what libxml2 asks of
 * threaded users. The file is read by us (eai_file_read_all) and handed to
 * libxml2 as memory, so "cannot read" is reported with errno and the file
 * checked is the file parsed.
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

#include "eos/eos_int.h"

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
#define MIN_STORE (64u * 1024u)        /* bytes of a store region */
#define MAX_STORE (UINT64_C(64) << 30) /* 64G */
#define MAX_STORE_KEYS (UINT32_C(1) << 31)

/* ---------------------------------------------------------------- schema -- */

/* Kinds before K_PARAM are children of <eactors>; the rest are nested. */
enum kind {
    K_HOST,
    K_ENCLAVE,
    K_WORKER,
    K_ACTOR,
    K_CHANNEL,
    K_SYS,
    K_STORE,
    K_PARAM,
    K_GRANT,
    K_COUNT
};

/* Attribute indices, per element kind, into schema_t.attrs. */
enum { HO_IMAGE };
enum { EN_NAME, EN_IMAGE, EN_BACKEND, EN_SPAWN };
enum { WO_NAME, WO_CPUS, WO_ENCLAVE, WO_IDLE, WO_SPIN };
enum { AC_NAME, AC_TYPE, AC_WORKER };
enum { CH_NAME, CH_BETWEEN, CH_NODES, CH_MAX, CH_PROTECT };
enum { PA_NAME, PA_VALUE };
enum { SY_NAME, SY_WORKER };
enum { ST_NAME, ST_KIND, ST_SIZE, ST_KEYS, ST_POLICY, ST_ENCLAVE, ST_PATH, ST_HOME };
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
                  {"name", "cpus", "enclave", "idle", "spin", NULL},
                  (1u << WO_NAME) | (1u << WO_CPUS)},
    [K_ACTOR] = {"actor",
                 {"name", "type", "worker", NULL},
                 (1u << AC_NAME) | (1u << AC_TYPE) | (1u << AC_WORKER)},
    [K_CHANNEL] = {"channel",
                   {"name", "between", "nodes", "max", "protect", NULL},
                   (1u << CH_NAME) | (1u << CH_BETWEEN)},
    [K_SYS] = {"sys", {"name", "worker", NULL}, (1u << SY_NAME) | (1u << SY_WORKER)},
    [K_STORE] = {"store",
                 {"name", "kind", "size", "keys", "policy", "enclave", "path", "home", NULL},
                 (1u << ST_NAME) | (1u << ST_KIND) | (1u << ST_SIZE)},
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

/* One reported error: "path:line: message", found as the seq-th error. */
typedef struct diag {
    int line;
    unsigned long seq;
    char text[EAI_DEPLOY_LINE_MAX];
} diag_t;

/*
 * What pass 1 read and pass 2 needs for one element: the names it refers to
 * (as written) and whether it is usable (see the design notes).
 */
typedef struct raw {
    /* worker: enclave or NULL (host); actor: worker; channel: a, b; grant:
     * enclave; store: its enclave list or NULL (host) */
    char *ref[2];
    bool ok;
} raw_t;

typedef struct pstate {
    const char *path;
    int ncpus;
    eai_deploy_t *d;
    int root_line;
    /* The errors kept: the EAI_DEPLOY_MAX_ERRORS first by (line, seq). */
    diag_t diags[EAI_DEPLOY_MAX_ERRORS];
    int ndiags;
    unsigned long nerrors; /* all errors found, kept or not */
    bool nomem;
    /* Per element, indexed like d's arrays; grants per actor (NULL if none). */
    raw_t *enclave, *worker, *actor, *channel, *store;
    raw_t **grant;
    bool offline;        /* EAI_DEPLOY_OFFLINE: no file-system lookups */
    bool require_system; /* <eactors platform="system"> */
    bool host_ok;        /* the first <host> is usable */
    int nactor_elems;    /* <actor> and <sys> elements, usable or not */
    /* Per-kind name maps, filled in pass 1 and read in pass 2. */
    name_map_t enclaves, workers, actors, channels, stores;
} pstate_t;

/* Replaces control characters so that each message stays one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Whether error (la, sa) sorts before error (lb, sb). */
static bool diag_before(int la, unsigned long sa, int lb, unsigned long sb)
{
    return la < lb || (la == lb && sa < sb);
}

/*
 * Reports "path:line: message" (or "path: message" if line <= 0); returns
 * EA_ERR_PARSE. Keeps the EAI_DEPLOY_MAX_ERRORS first errors by line: once
 * the table is full, a new error replaces the last one if it sorts before
 * it and is only counted otherwise.
 */
__attribute__((format(printf, 3, 4))) static int fail(pstate_t *st, int line, const char *fmt, ...)
{
    unsigned long seq = st->nerrors++;
    if (line < 0)
        line = 0;
    int slot = st->ndiags;
    if (slot == EAI_DEPLOY_MAX_ERRORS) {
        slot = 0;
        for (int i = 1; i < st->ndiags; i++)
            if (diag_before(st->diags[slot].line, st->diags[slot].seq, st->diags[i].line,
                            st->diags[i].seq))
                slot = i;
        if (!diag_before(line, seq, st->diags[slot].line, st->diags[slot].seq))
            return EA_ERR_PARSE;
    } else {
        st->ndiags++;
    }
    diag_t *g = &st->diags[slot];
    g->line = line;
    g->seq = seq;
    size_t len = sizeof g->text;
    int n = line > 0 ? snprintf(g->text, len, "%s:%d: ", st->path, line)
                     : snprintf(g->text, len, "%s: ", st->path);
    if (n >= 0 && (size_t)n < len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->text + n, len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    one_line(g->text);
    return EA_ERR_PARSE;
}

static int fail_nomem(pstate_t *st)
{
    st->nomem = true;
    fail(st, 0, "out of memory");
    return EA_ERR_NOMEM;
}

/* Appends `s` to err (cut short at errlen, always terminated). */
static void err_append(char *err, size_t errlen, size_t *pos, const char *s)
{
    if (*pos + 1 >= errlen)
        return;
    int n = snprintf(err + *pos, errlen - *pos, "%s", s);
    if (n < 0)
        return;
    *pos = *pos + (size_t)n < errlen ? *pos + (size_t)n : errlen - 1;
}

/* Writes the kept errors, sorted, one per line, and says how many were left out. */
static void write_errors(pstate_t *st, char *err, size_t errlen)
{
    if (err == NULL || errlen == 0)
        return;
    err[0] = '\0';
    /* Insertion sort: at most EAI_DEPLOY_MAX_ERRORS entries. */
    int order[EAI_DEPLOY_MAX_ERRORS];
    for (int i = 0; i < st->ndiags; i++) {
        int j = i;
        for (; j > 0 && diag_before(st->diags[i].line, st->diags[i].seq,
                                    st->diags[order[j - 1]].line, st->diags[order[j - 1]].seq);
             j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    size_t pos = 0;
    for (int i = 0; i < st->ndiags; i++) {
        if (i > 0)
            err_append(err, errlen, &pos, "\n");
        err_append(err, errlen, &pos, st->diags[order[i]].text);
    }
    if (st->nerrors > (unsigned long)st->ndiags) {
        char more[EAI_DEPLOY_LINE_MAX];
        snprintf(more, sizeof more, "\n%s: %lu more errors not shown (the first %d are listed)",
                 st->path, st->nerrors - (unsigned long)st->ndiags, EAI_DEPLOY_MAX_ERRORS);
        one_line(more + 1);
        err_append(err, errlen, &pos, more);
    }
}

static void raw_free(raw_t *r, int n)
{
    for (int i = 0; r != NULL && i < n; i++) {
        free(r[i].ref[0]);
        free(r[i].ref[1]);
    }
    free(r);
}

static void state_fini(pstate_t *st)
{
    const eai_deploy_t *d = st->d;
    if (d != NULL) {
        raw_free(st->enclave, d->nenclaves);
        raw_free(st->worker, d->nworkers);
        raw_free(st->channel, d->nchannels);
        raw_free(st->store, d->nstores);
        for (int i = 0; st->grant != NULL && i < d->nactors; i++)
            raw_free(st->grant[i], d->actors[i].ngrants);
        raw_free(st->actor, d->nactors);
    }
    free(st->grant);
    map_fini(&st->enclaves);
    map_fini(&st->workers);
    map_fini(&st->actors);
    map_fini(&st->channels);
    map_fini(&st->stores);
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
 * by the caller, who frees them with free_vals on every path). Every known
 * attribute is read even when the element has an error, so that a broken
 * element still has its name; the error reported is the first unknown
 * attribute, else the first missing one in schema order.
 */
static int read_attrs(pstate_t *st, const xmlNode *n, int k, char **vals)
{
    const schema_t *sc = &schemas[k];
    int line = node_line(n);
    const xmlAttr *unknown = NULL;
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
        int idx = -1;
        if (a->ns == NULL)
            for (int i = 0; sc->attrs[i] != NULL; i++)
                if (strcmp((const char *)a->name, sc->attrs[i]) == 0)
                    idx = i;
        if (idx < 0) {
            if (unknown == NULL)
                unknown = a;
            continue;
        }
        xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
        char *copy = strdup(v != NULL ? (const char *)v : "");
        xmlFree(v);
        if (copy == NULL)
            return fail_nomem(st);
        free(vals[idx]); /* duplicates are not well-formed XML; be safe anyway */
        vals[idx] = copy;
    }
    if (unknown != NULL) {
        char q[256];
        qname(q, sizeof q, unknown->ns, unknown->name);
        return fail(st, line, "<%s>: unknown attribute '%s'", sc->elem, q);
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

/* read_attrs for an element whose first attribute is its name, then the
 * name check. vals[] is filled either way (the caller frees it). */
static int read_named(pstate_t *st, const xmlNode *n, int k, char **vals)
{
    int rc = read_attrs(st, n, k, vals);
    if (rc == EA_OK)
        rc = check_name(st, node_line(n), schemas[k].elem, vals[0]);
    return rc;
}
/* ---------------------------------------------------------------- images -- */

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

/* ------------------------------------------------------- pass 1: collect -- */

/*
 * Enters `name` (borrowed; NULL: nothing) for element idx unless the map has
 * it already. Broken elements are entered too, so that references to them
 * resolve and are not reported as unknown. Returns the index of the element
 * that had the name first, or -1.
 */
static int claim(name_map_t *m, const char *name, int idx)
{
    if (name == NULL)
        return -1;
    int prev = map_get(m, name);
    if (prev < 0)
        map_put(m, name, idx);
    return prev;
}

/* Resolves an element's image into *out; reports "image not found". */
static int find_image(pstate_t *st, int line, const char *what, const char *image, char **out)
{
    if (st->offline) {
        *out = strdup(image);
        return *out != NULL ? EA_OK : fail_nomem(st);
    }
    int rc = resolve_image(st->d, image, out);
    if (rc == EA_ERR_NOMEM)
        return fail_nomem(st);
    if (rc != EA_OK)
        return fail(st, line, "%s: image '%s' not found", what, image);
    return EA_OK;
}

/* The first <host> defines the host image; any later one is a duplicate. */
static void do_host(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int line = node_line(n);
    int rc = read_attrs(st, n, K_HOST, vals);
    if (d->host_line > 0) {
        if (rc == EA_OK)
            fail(st, line, "duplicate <host> (first at line %d)", d->host_line);
    } else {
        d->host_line = line;
        d->host_image = take(vals, HO_IMAGE);
        if (rc == EA_OK)
            rc = find_image(st, line, "<host>", d->host_image, &d->host_image_path);
        st->host_ok = rc == EA_OK;
    }
    free_vals(vals);
}

static void do_enclave(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int idx = d->nenclaves++;
    eai_dep_enclave_t *e = &d->enclaves[idx];
    int line = node_line(n);
    e->line = line;
    e->backend = EAI_BACKEND_PROC;
    e->spawn = DEFAULT_SPAWN;
    int rc = read_named(st, n, K_ENCLAVE, vals);
    e->name = take(vals, EN_NAME);
    e->image = take(vals, EN_IMAGE);
    /* <grant enclave="host"> names the host domain; an enclave of that
     * name could never be granted anything, or would be granted the host's
     * rights, depending on who reads the name. */
    if (rc == EA_OK && strcmp(e->name, "host") == 0)
        rc = fail(st, line, "<enclave>: name 'host' is reserved for the host domain");
    const char *b = vals[EN_BACKEND];
    if (rc == EA_OK && b != NULL) {
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
    int prev = claim(&st->enclaves, e->name, idx);
    if (rc == EA_OK && prev >= 0)
        rc = fail(st, line, "duplicate <enclave> name '%s' (first at line %d)", e->name,
                  d->enclaves[prev].line);
    if (rc == EA_OK) {
        char what[MAX_NAME + 16];
        snprintf(what, sizeof what, "<enclave> '%s'", e->name);
        rc = find_image(st, line, what, e->image, &e->image_path);
    }
    st->enclave[idx].ok = rc == EA_OK;
}

static void do_worker(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int idx = d->nworkers++;
    eai_dep_worker_t *w = &d->workers[idx];
    int line = node_line(n);
    w->line = line;
    w->enclave = EAI_HOST;
    w->idle = EAI_IDLE_PARK;
    w->spin = EAI_SPIN_UNSET;
    int rc = read_named(st, n, K_WORKER, vals);
    w->name = take(vals, WO_NAME);
    st->worker[idx].ref[0] = take(vals, WO_ENCLAVE);
    if (rc == EA_OK)
        rc = parse_cpus(st, w, vals[WO_CPUS]);
    const char *idle = vals[WO_IDLE];
    if (rc == EA_OK && idle != NULL) {
        if (strcmp(idle, "park") == 0)
            w->idle = EAI_IDLE_PARK;
        else if (strcmp(idle, "spin") == 0)
            w->idle = EAI_IDLE_SPIN;
        else if (strcmp(idle, "adaptive") == 0)
            w->idle = EAI_IDLE_ADAPTIVE;
        else
            rc =
                fail(st, line, "<worker> '%s': invalid idle '%s' (expected park, spin or adaptive)",
                     w->name, idle);
    }
    if (rc == EA_OK && vals[WO_SPIN] != NULL)
        rc = parse_number(st, line, "worker", w->name, "spin", vals[WO_SPIN], 0, 1000000, "1M",
                          &w->spin);
    free_vals(vals);
    int prev = claim(&st->workers, w->name, idx);
    if (rc == EA_OK && prev >= 0)
        rc = fail(st, line, "duplicate <worker> name '%s' (first at line %d)", w->name,
                  d->workers[prev].line);
    st->worker[idx].ok = rc == EA_OK;
}

/* Element children of n. */
static size_t count_children(const xmlNode *n)
{
    size_t count = 0;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            count++;
    return count;
}

/* Whether child c is the nested element `elem` (prefixed names never are);
 * reports it if not. */
static bool is_child(pstate_t *st, const xmlNode *c, const char *elem, const char *parent)
{
    if ((c->ns == NULL || c->ns->prefix == NULL) && strcmp((const char *)c->name, elem) == 0)
        return true;
    char q[256];
    qname(q, sizeof q, c->ns, c->name);
    fail(st, node_line(c), "unknown element <%s> in <%s>", q, parent);
    return false;
}

/* The <param> children of actor `a`, each checked on its own; only good
 * ones are kept. */
static void do_params(pstate_t *st, const xmlNode *n, eai_dep_actor_t *a)
{
    size_t count = count_children(n);
    if (count == 0)
        return;
    a->params = calloc(count, sizeof *a->params);
    name_map_t keys = {0};
    if (a->params == NULL || map_init(&keys, count) != EA_OK) {
        fail_nomem(st);
        return;
    }
    for (const xmlNode *c = n->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !is_child(st, c, "param", "actor"))
            continue;
        int line = node_line(c);
        char *vals[MAX_ATTRS] = {0};
        int rc = read_attrs(st, c, K_PARAM, vals);
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
}

/* The actor's name, entered whatever else is wrong with it (see claim). */
static int claim_actor(pstate_t *st, const char *elem, int idx, int rc)
{
    const eai_dep_actor_t *a = &st->d->actors[idx];
    int prev = claim(&st->actors, a->name, idx);
    if (rc == EA_OK && prev >= 0)
        rc = fail(st, a->line, "duplicate <%s> name '%s' (first at line %d)", elem, a->name,
                  st->d->actors[prev].line);
    return rc;
}

static void do_actor(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int idx = d->nactors++;
    eai_dep_actor_t *a = &d->actors[idx];
    a->line = node_line(n);
    a->worker = -1;
    int rc = read_named(st, n, K_ACTOR, vals);
    a->name = take(vals, AC_NAME);
    a->type = take(vals, AC_TYPE);
    st->actor[idx].ref[0] = take(vals, AC_WORKER);
    free_vals(vals);
    rc = claim_actor(st, "actor", idx, rc);
    st->actor[idx].ok = rc == EA_OK;
    /* Parameters are checked even when the actor is broken (their errors
     * are independent); their messages name the actor, so it needs a name. */
    if (a->name != NULL)
        do_params(st, n, a);
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
        int r = EA_ERR_INVAL;
        if (dir[0] == '/' && st->offline)
            r = (g->files[g->nfiles] = strdup(dir)) != NULL ? EA_OK : EA_ERR_NOMEM;
        else if (dir[0] == '/')
            r = eai_path_resolve(dir, EAI_PATH_DIR, &g->files[g->nfiles]);
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

/* The <grant> children of <sys> actor `a` (index idx), each checked on its
 * own; its enclave is resolved in pass 2. */
static void do_grants(pstate_t *st, const xmlNode *n, eai_dep_actor_t *a, int idx)
{
    size_t count = count_children(n);
    if (count == 0)
        return;
    a->grants = calloc(count, sizeof *a->grants);
    st->grant[idx] = calloc(count, sizeof *st->grant[idx]);
    name_map_t names = {0};
    if (a->grants == NULL || st->grant[idx] == NULL || map_init(&names, count) != EA_OK) {
        fail_nomem(st);
        return;
    }
    for (const xmlNode *c = n->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !is_child(st, c, "grant", "sys"))
            continue;
        int line = node_line(c);
        char *vals[MAX_ATTRS] = {0};
        /* Counted from here on, so that the frees release it. */
        int j = a->ngrants++;
        eai_dep_grant_t *g = &a->grants[j];
        raw_t *r = &st->grant[idx][j];
        g->line = line;
        g->enclave = EAI_HOST;
        int rc = read_attrs(st, c, K_GRANT, vals);
        r->ref[0] = take(vals, GR_ENCLAVE);
        int prev = claim(&names, r->ref[0], j);
        if (rc == EA_OK && prev >= 0)
            rc = fail(st, line, "<grant>: duplicate grant for enclave '%s' (first at line %d)",
                      r->ref[0], a->grants[prev].line);
        if (rc == EA_OK && vals[GR_LISTEN] != NULL)
            rc = parse_ports(st, line, vals[GR_LISTEN], &g->listen, &g->nlisten);
        if (rc == EA_OK && vals[GR_CONNECT] != NULL)
            rc = parse_ports(st, line, vals[GR_CONNECT], &g->connect, &g->nconnect);
        if (rc == EA_OK && vals[GR_FILES] != NULL)
            rc = parse_files(st, line, vals[GR_FILES], false, g);
        if (rc == EA_OK && vals[GR_FILES_RO] != NULL)
            rc = parse_files(st, line, vals[GR_FILES_RO], true, g);
        /* The system actor's per-requester limits (its defaults if absent). */
        const char *who = r->ref[0] != NULL ? r->ref[0] : "?";
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
        r->ok = rc == EA_OK;
    }
    map_fini(&names);
}

/*
 * A <sys> element: a system actor, the runtime's builtin type "sys". It
 * shares the actor name space (channels name it like any actor).
 */
static void do_sys(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int idx = d->nactors++;
    eai_dep_actor_t *a = &d->actors[idx];
    a->line = node_line(n);
    a->worker = -1;
    a->builtin = EAI_BUILTIN_SYS;
    int rc = read_named(st, n, K_SYS, vals);
    a->name = take(vals, SY_NAME);
    st->actor[idx].ref[0] = take(vals, SY_WORKER);
    free_vals(vals);
    a->type = strdup("sys");
    if (a->type == NULL)
        rc = fail_nomem(st);
    rc = claim_actor(st, "sys", idx, rc);
    st->actor[idx].ok = rc == EA_OK;
    do_grants(st, n, a, idx);
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

static void do_channel(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int idx = d->nchannels++;
    eai_dep_channel_t *c = &d->channels[idx];
    raw_t *r = &st->channel[idx];
    int line = node_line(n);
    c->line = line;
    c->a = c->b = -1;
    c->nodes = DEFAULT_NODES;
    c->max = DEFAULT_MAX;
    c->protect = EAI_PROTECT_AUTO;
    int rc = read_named(st, n, K_CHANNEL, vals);
    c->name = take(vals, CH_NAME);
    if (rc == EA_OK) {
        rc = split_between(vals[CH_BETWEEN], &r->ref[0], &r->ref[1]);
        if (rc == EA_ERR_NOMEM)
            rc = fail_nomem(st);
        else if (rc != EA_OK)
            rc =
                fail(st, line, "<channel> '%s': attribute 'between' must name two actors", c->name);
    }
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
    /* The pool size is what the limits protect: nodes of max + header, aligned,
     * as the pools size them (max <= MAX_MSG, so the node size is not 0). */
    uint64_t nodesz = ea_node_size_for(c->max);
    if (rc == EA_OK && (uint64_t)c->nodes * nodesz > MAX_POOL)
        rc = fail(st, line, "<channel> '%s': pool of %u nodes of %llu bytes exceeds 1G", c->name,
                  c->nodes, (unsigned long long)nodesz);
    int prev = claim(&st->channels, c->name, idx);
    if (rc == EA_OK && prev >= 0)
        rc = fail(st, line, "duplicate <channel> name '%s' (first at line %d)", c->name,
                  d->channels[prev].line);
    r->ok = rc == EA_OK;
}

/*
 * <store name= kind= size= [keys=] [policy=] [enclave=] [path=] [home=]>: an EOS
 * store actors open with ea_eos_attach. Pass 1 checks the element's own
 * attributes (kind, sizes against the store's layout, policy and path
 * only where the kind has them, the path's directory); pass 2
 * (resolve_stores) its domains.
 */
static void do_store(pstate_t *st, const xmlNode *n)
{
    eai_deploy_t *d = st->d;
    char *vals[MAX_ATTRS] = {0};
    int idx = d->nstores++;
    eai_dep_store_t *s = &d->stores[idx];
    raw_t *r = &st->store[idx];
    int line = node_line(n);
    s->line = line;
    int rc = read_named(st, n, K_STORE, vals);
    s->name = take(vals, ST_NAME);
    r->ref[0] = take(vals, ST_ENCLAVE);
    s->path = take(vals, ST_PATH);
    const char *k = vals[ST_KIND];
    if (rc == EA_OK) {
        if (strcmp(k, "trusted") == 0)
            s->kind = EAI_STORE_TRUSTED;
        else if (strcmp(k, "untrusted") == 0)
            s->kind = EAI_STORE_UNTRUSTED;
        else if (strcmp(k, "persistent") == 0)
            s->kind = EAI_STORE_PERSISTENT;
        else
            rc = fail(st, line,
                      "<store> '%s': invalid kind '%s' (expected trusted, untrusted or persistent)",
                      s->name, k);
    }
    if (rc == EA_OK) {
        uint64_t v;
        if (eai_parse_size(vals[ST_SIZE], &v) != EA_OK)
            rc = fail(st, line, "<store> '%s': invalid size '%s'", s->name, vals[ST_SIZE]);
        else if (v < MIN_STORE)
            rc = fail(st, line, "<store> '%s': size must be at least 64K", s->name);
        else if (v > MAX_STORE)
            rc = fail(st, line, "<store> '%s': size %s exceeds the limit 64G", s->name,
                      vals[ST_SIZE]);
        s->size = v;
    }
    if (rc == EA_OK && vals[ST_KEYS] != NULL)
        rc = parse_number(st, line, "store", s->name, "keys", vals[ST_KEYS], 1, MAX_STORE_KEYS,
                          "2147483648", &s->keys);
    if (rc == EA_OK && vals[ST_HOME] != NULL)
        rc = parse_number(st, line, "store", s->name, "home", vals[ST_HOME], 1, 960, "960",
                          &s->home);
    int home_ok = 1;
    uint32_t home_units =
        rc == EA_OK ? eai_eos_home_units(s->home, s->kind != EAI_STORE_TRUSTED, &home_ok) : 0;
    if (rc == EA_OK && !home_ok)
        rc = fail(st, line, "<store> '%s': home %u exceeds the limit 944 of an encrypted store",
                  s->name, s->home);
    struct eos_static geo;
    if (rc == EA_OK && eai_eos_layout(s->size, s->keys, home_units, &geo) != EA_OK)
        rc = fail(st, line, "<store> '%s': size %s cannot hold the index of %u keys%s", s->name,
                  vals[ST_SIZE], s->keys, home_units != 0 ? " and its home blocks" : "");
    const char *pol = vals[ST_POLICY];
    if (rc == EA_OK && pol != NULL) {
        if (s->kind == EAI_STORE_TRUSTED)
            rc = fail(st, line,
                      "<store> '%s': a trusted store has no policy (its key is never sealed)",
                      s->name);
        else if (strcmp(pol, "mrsigner") == 0)
            s->policy = EAI_STORE_MRSIGNER;
        else if (strcmp(pol, "mrenclave") == 0)
            s->policy = EAI_STORE_MRENCLAVE;
        else
            rc =
                fail(st, line, "<store> '%s': invalid policy '%s' (expected mrsigner or mrenclave)",
                     s->name, pol);
    }
    if (rc == EA_OK && s->kind != EAI_STORE_PERSISTENT && s->path != NULL)
        rc = fail(st, line, "<store> '%s': only a persistent store has a path", s->name);
    if (rc == EA_OK && s->kind == EAI_STORE_PERSISTENT && s->path == NULL)
        rc = fail(st, line, "<store> '%s': a persistent store needs path=", s->name);
    if (rc == EA_OK && s->path != NULL) {
        /* Relative to the deployment file; the directory must exist (the
         * launcher creates the file in it). */
        const char *slash = strrchr(s->path, '/');
        const char *base = slash != NULL ? slash + 1 : s->path;
        size_t dlen = slash == NULL ? 0 : slash == s->path ? 1 : (size_t)(slash - s->path);
        char *dir = NULL;
        if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
            rc = fail(st, line, "<store> '%s': path '%s' does not name a file", s->name, s->path);
        else if (s->path[0] == '/')
            dir = strndup(s->path, dlen);
        else if (asprintf(&dir, "%s/%.*s", d->dir, (int)dlen, s->path) < 0)
            dir = NULL;
        if (rc == EA_OK && dir == NULL)
            rc = fail_nomem(st);
        char *real = NULL;
        if (rc == EA_OK && st->offline) {
            real = strdup(dir);
            if (real == NULL)
                rc = fail_nomem(st);
        } else if (rc == EA_OK) {
            int r2 = eai_path_resolve(dir, EAI_PATH_DIR, &real);
            if (r2 == EA_ERR_NOMEM)
                rc = fail_nomem(st);
            else if (r2 != EA_OK)
                rc = fail(st, line, "<store> '%s': directory of path '%s' does not exist", s->name,
                          s->path);
        }
        if (rc == EA_OK && asprintf(&s->path_abs, "%s/%s", real, base) < 0) {
            s->path_abs = NULL;
            rc = fail_nomem(st);
        }
        free(real);
        free(dir);
        for (int i = 0; rc == EA_OK && i < idx; i++)
            if (d->stores[i].path_abs != NULL && strcmp(d->stores[i].path_abs, s->path_abs) == 0)
                rc = fail(st, line, "<store> '%s': file '%s' is also store '%s' (line %d)", s->name,
                          s->path, d->stores[i].name, d->stores[i].line);
    }
    free_vals(vals);
    int prev = claim(&st->stores, s->name, idx);
    if (rc == EA_OK && prev >= 0)
        rc = fail(st, line, "duplicate <store> name '%s' (first at line %d)", s->name,
                  d->stores[prev].line);
    r->ok = rc == EA_OK;
}

/*
 * Pass 1: counts the elements of each kind (to size the arrays and maps),
 * then checks each element in document order. Returns EA_ERR_NOMEM if the
 * arrays cannot be allocated (nothing more can be checked), else EA_OK
 * (the errors found are in st).
 */
static int collect(pstate_t *st, const xmlNode *root)
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
    size_t nactors = count[K_ACTOR] + count[K_SYS];
    st->nactor_elems = (int)nactors;
    /* calloc(0) may return NULL, so allocate at least one of each. */
    d->enclaves = calloc(count[K_ENCLAVE] + 1, sizeof *d->enclaves);
    d->workers = calloc(count[K_WORKER] + 1, sizeof *d->workers);
    d->actors = calloc(nactors + 1, sizeof *d->actors);
    d->channels = calloc(count[K_CHANNEL] + 1, sizeof *d->channels);
    st->enclave = calloc(count[K_ENCLAVE] + 1, sizeof *st->enclave);
    st->worker = calloc(count[K_WORKER] + 1, sizeof *st->worker);
    st->actor = calloc(nactors + 1, sizeof *st->actor);
    st->grant = calloc(nactors + 1, sizeof *st->grant);
    st->channel = calloc(count[K_CHANNEL] + 1, sizeof *st->channel);
    d->stores = calloc(count[K_STORE] + 1, sizeof *d->stores);
    st->store = calloc(count[K_STORE] + 1, sizeof *st->store);
    if (d->enclaves == NULL || d->workers == NULL || d->actors == NULL || d->channels == NULL ||
        st->enclave == NULL || st->worker == NULL || st->actor == NULL || st->grant == NULL ||
        st->channel == NULL || d->stores == NULL || st->store == NULL)
        return fail_nomem(st);
    if (map_init(&st->enclaves, count[K_ENCLAVE]) != EA_OK ||
        map_init(&st->workers, count[K_WORKER]) != EA_OK ||
        map_init(&st->actors, nactors) != EA_OK ||
        map_init(&st->channels, count[K_CHANNEL]) != EA_OK ||
        map_init(&st->stores, count[K_STORE]) != EA_OK)
        return fail_nomem(st);

    for (const xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        switch (elem_kind(n)) {
        case K_HOST: do_host(st, n); break;
        case K_ENCLAVE: do_enclave(st, n); break;
        case K_WORKER: do_worker(st, n); break;
        case K_ACTOR: do_actor(st, n); break;
        case K_CHANNEL: do_channel(st, n); break;
        case K_SYS: do_sys(st, n); break;
        case K_STORE: do_store(st, n); break;
        default: {
            char q[256];
            qname(q, sizeof q, n->ns, n->name);
            fail(st, node_line(n), "unknown element <%s> in <eactors>", q);
            break;
        }
        }
    }
    return EA_OK;
}

/* ----------------------------------------------- pass 2: resolve and check -- */

/* Workers -> enclaves. A worker without enclave= is a host worker. */
/* Whether another worker's CPUs include worker i's only CPU. */
static bool shares_its_cpu(const eai_deploy_t *d, int i)
{
    const eai_dep_worker_t *w = &d->workers[i];
    if (w->ncpus != 1)
        return false;
    for (int j = 0; j < d->nworkers; j++)
        for (int k = 0; j != i && k < d->workers[j].ncpus; k++)
            if (d->workers[j].cpus[k] == w->cpus[0])
                return true;
    return false;
}

static void resolve_workers(pstate_t *st)
{
    eai_deploy_t *d = st->d;
    for (int i = 0; i < d->nworkers; i++) {
        eai_dep_worker_t *w = &d->workers[i];
        raw_t *r = &st->worker[i];
        if (w->spin == EAI_SPIN_UNSET)
            w->spin = shares_its_cpu(d, i) ? 0 : EAI_SPIN_DEFAULT;
        if (!r->ok || r->ref[0] == NULL)
            continue;
        int e = map_get(&st->enclaves, r->ref[0]);
        if (e < 0) {
            fail(st, w->line, "<worker> '%s': unknown enclave '%s'", w->name, r->ref[0]);
            r->ok = false;
            continue;
        }
        w->enclave = e;
        r->ok = st->enclave[e].ok;
    }
}

/* Each grant of <sys> actor i names a known enclave or "host" (which is
 * never an enclave's name). */
static void resolve_grants(pstate_t *st, int i)
{
    eai_dep_actor_t *a = &st->d->actors[i];
    for (int j = 0; j < a->ngrants; j++) {
        raw_t *r = &st->grant[i][j];
        if (!r->ok)
            continue;
        if (strcmp(r->ref[0], "host") == 0) {
            a->grants[j].enclave = EAI_HOST;
            continue;
        }
        a->grants[j].enclave = map_get(&st->enclaves, r->ref[0]);
        if (a->grants[j].enclave < 0) {
            fail(st, a->grants[j].line, "<grant>: unknown enclave '%s'", r->ref[0]);
            r->ok = false;
        }
    }
}

/*
 * Actors -> workers, after every worker's enclave is known. A system actor
 * runs on a host worker (it makes system calls for others); any other actor
 * on a host worker needs the host image.
 */
static void resolve_actors(pstate_t *st)
{
    eai_deploy_t *d = st->d;
    for (int i = 0; i < d->nactors; i++) {
        eai_dep_actor_t *a = &d->actors[i];
        raw_t *r = &st->actor[i];
        bool sys = a->builtin == EAI_BUILTIN_SYS;
        if (sys)
            resolve_grants(st, i);
        if (!r->ok)
            continue;
        int wi = map_get(&st->workers, r->ref[0]);
        if (wi < 0) {
            fail(st, a->line, "<%s> '%s': unknown worker '%s'", sys ? "sys" : "actor", a->name,
                 r->ref[0]);
            r->ok = false;
            continue;
        }
        a->worker = wi;
        r->ok = st->worker[wi].ok;
        const eai_dep_worker_t *w = &d->workers[wi];
        if (!r->ok)
            continue;
        if (sys && w->enclave != EAI_HOST) {
            fail(st, a->line,
                 "<sys> '%s': system actors run in the host, not on worker '%s' of enclave '%s'",
                 a->name, w->name, d->enclaves[w->enclave].name);
            r->ok = false;
        } else if (!sys && w->enclave == EAI_HOST) {
            if (d->host_line == 0)
                fail(st, a->line,
                     "<actor> '%s': runs on host worker '%s' but there is no <host image=...>",
                     a->name, w->name);
            r->ok = r->ok && d->host_line > 0 && st->host_ok;
        }
    }
}

/*
 * Channels -> actors, after every actor's worker is known. protect="aead"
 * needs a channel between two different enclaves: the host is an endpoint
 * it cannot protect, and inside one enclave there is nothing to protect
 * against.
 */
static void resolve_channels(pstate_t *st)
{
    eai_deploy_t *d = st->d;
    for (int i = 0; i < d->nchannels; i++) {
        eai_dep_channel_t *c = &d->channels[i];
        raw_t *r = &st->channel[i];
        if (!r->ok)
            continue;
        r->ok = false;
        c->a = map_get(&st->actors, r->ref[0]);
        if (c->a < 0) {
            fail(st, c->line, "<channel> '%s': unknown actor '%s'", c->name, r->ref[0]);
            continue;
        }
        c->b = map_get(&st->actors, r->ref[1]);
        if (c->b < 0) {
            fail(st, c->line, "<channel> '%s': unknown actor '%s'", c->name, r->ref[1]);
            continue;
        }
        if (c->a == c->b) {
            fail(st, c->line, "<channel> '%s': channel between actor '%s' and itself", c->name,
                 r->ref[0]);
            continue;
        }
        if (!st->actor[c->a].ok || !st->actor[c->b].ok)
            continue;
        int ea = d->workers[d->actors[c->a].worker].enclave;
        int eb = d->workers[d->actors[c->b].worker].enclave;
        if (c->protect == EAI_PROTECT_AEAD && (ea == EAI_HOST || eb == EAI_HOST || ea == eb)) {
            fail(st, c->line,
                 "<channel> '%s': protect 'aead' needs actors in two different enclaves", c->name);
            continue;
        }
        r->ok = true;
    }
}

/*
 * Actor types, through the caller's probe, for every usable actor (its
 * domain's image was found). Each (image, type) pair is probed once and
 * its answer applies to every actor of that pair; an image that cannot be
 * loaded is reported once per domain, at the domain's element, and its
 * other actors are not probed.
 */
/*
 * Stores -> the domains that may attach them (enclave= lists enclave names
 * and "host"; absent: the host). Trusted stores are one domain's private
 * memory, persistent ones are mapped by one process: one domain each. The
 * host has no seal key: encrypted stores are for enclaves. Under policy
 * mrenclave only enclaves of one image could share a store.
 */
static void resolve_stores(pstate_t *st)
{
    eai_deploy_t *d = st->d;
    for (int i = 0; i < d->nstores; i++) {
        eai_dep_store_t *s = &d->stores[i];
        raw_t *r = &st->store[i];
        if (!r->ok)
            continue;
        const char *list = r->ref[0] != NULL ? r->ref[0] : "host";
        size_t max = 1;
        for (const char *p = list; *p != '\0'; p++)
            max += *p == ' ';
        s->users = calloc(max, sizeof *s->users);
        char *copy = strdup(list);
        if (s->users == NULL || copy == NULL) {
            free(copy);
            fail_nomem(st);
            r->ok = false;
            continue;
        }
        int rc = EA_OK;
        char *save = NULL;
        for (char *tok = strtok_r(copy, " \t\r\n", &save); tok != NULL && rc == EA_OK;
             tok = strtok_r(NULL, " \t\r\n", &save)) {
            bool host = strcmp(tok, "host") == 0;
            int e = host ? EAI_HOST : map_get(&st->enclaves, tok);
            if (!host && e < 0) {
                rc = fail(st, s->line, "<store> '%s': unknown enclave '%s'", s->name, tok);
                break;
            }
            if (!host && !st->enclave[e].ok) {
                rc = EA_ERR_INVAL; /* reported at the enclave */
                break;
            }
            for (int j = 0; j < s->nusers; j++)
                if (s->users[j] == e)
                    rc = fail(st, s->line, "<store> '%s': '%s' is listed twice", s->name, tok);
            if (rc == EA_OK && (size_t)s->nusers < max)
                s->users[s->nusers++] = e;
        }
        free(copy);
        if (rc == EA_OK && s->nusers == 0)
            rc = fail(st, s->line, "<store> '%s': enclave= names no domain", s->name);
        if (rc == EA_OK && s->kind != EAI_STORE_UNTRUSTED && s->nusers > 1)
            rc = fail(st, s->line,
                      "<store> '%s': a %s store belongs to one domain (declare one per domain, "
                      "or share an untrusted one)",
                      s->name, s->kind == EAI_STORE_TRUSTED ? "trusted" : "persistent");
        for (int j = 0; rc == EA_OK && j < s->nusers; j++)
            if (s->kind != EAI_STORE_TRUSTED && s->users[j] == EAI_HOST)
                rc =
                    fail(st, s->line,
                         "<store> '%s': the host has no seal key for %s store (name "
                         "enclaves, or use kind=\"trusted\")",
                         s->name, s->kind == EAI_STORE_UNTRUSTED ? "an untrusted" : "a persistent");
        for (int j = 1; rc == EA_OK && s->policy == EAI_STORE_MRENCLAVE && j < s->nusers; j++) {
            const eai_dep_enclave_t *a = &d->enclaves[s->users[0]], *b = &d->enclaves[s->users[j]];
            if (strcmp(a->image, b->image) != 0)
                rc = fail(st, s->line,
                          "<store> '%s': policy mrenclave, but enclaves '%s' and '%s' run "
                          "different images (use mrsigner to share across images)",
                          s->name, a->name, b->name);
        }
        r->ok = rc == EA_OK;
    }
}

static void check_types(pstate_t *st, eai_type_probe_fn probe, void *ctx)
{
    eai_deploy_t *d = st->d;
    name_map_t seen = {0};
    char **keys = calloc((size_t)d->nactors + 1, sizeof *keys);
    bool *broken = calloc((size_t)d->nenclaves + 1, sizeof *broken); /* [nenclaves]: host */
    if (keys == NULL || broken == NULL || map_init(&seen, (size_t)d->nactors) != EA_OK) {
        free(keys);
        free(broken);
        fail_nomem(st);
        return;
    }
    for (int i = 0; i < d->nactors; i++) {
        const eai_dep_actor_t *a = &d->actors[i];
        if (a->builtin != EAI_BUILTIN_NONE || !st->actor[i].ok)
            continue; /* builtin: the runtime's own type, not in any image */
        int encl = d->workers[a->worker].enclave;
        bool *dom_broken = &broken[encl == EAI_HOST ? d->nenclaves : encl];
        if (*dom_broken)
            continue;
        const char *path = encl == EAI_HOST ? d->host_image_path : d->enclaves[encl].image_path;
        const char *image = encl == EAI_HOST ? d->host_image : d->enclaves[encl].image;
        /* The key is unambiguous: the path's length comes first. */
        if (asprintf(&keys[i], "%zu:%s%s", strlen(path), path, a->type) < 0) {
            keys[i] = NULL;
            fail_nomem(st);
            break;
        }
        int r = map_get(&seen, keys[i]); /* the probe's answer, 0 or 1, or -1: not asked */
        if (r < 0) {
            char perr[256] = "";
            r = probe(ctx, path, a->type, perr, sizeof perr);
            if (r < 0) {
                const char *why = perr[0] != '\0' ? perr : ea_strerror(r);
                *dom_broken = true;
                if (encl == EAI_HOST)
                    fail(st, d->host_line, "<host>: cannot load image '%s': %s", image, why);
                else
                    fail(st, d->enclaves[encl].line, "<enclave> '%s': cannot load image '%s': %s",
                         d->enclaves[encl].name, image, why);
                continue;
            }
            r = r != 0;
            map_put(&seen, keys[i], r);
        }
        if (r == 0)
            fail(st, a->line, "<actor> '%s': type '%s' is not in image '%s'", a->name, a->type,
                 image);
    }
    for (int i = 0; i < d->nactors; i++)
        free(keys[i]);
    free(keys);
    free(broken);
    map_fini(&seen);
}

/* Pass 2, kind by kind: each reads only what the ones before it set. */
static void resolve(pstate_t *st, eai_type_probe_fn probe, void *ctx)
{
    resolve_workers(st);
    resolve_actors(st);
    resolve_channels(st);
    resolve_stores(st);
    if (probe != NULL)
        check_types(st, probe, ctx);
    if (st->nactor_elems == 0)
        fail(st, st->root_line, "<eactors>: no <actor> declared");
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

/* Reads and parses the file into *doc; reports why not. */
static int parse_xml(pstate_t *st, xmlDocPtr *doc)
{
    uint8_t *text;
    size_t textlen;
    *doc = NULL;
    int rrc = eai_file_read_all(st->path, MAX_DEPLOY_BYTES, &text, &textlen);
    if (rrc == EA_ERR_NOTFOUND)
        return fail(st, 0, "cannot read: %s", strerror(ENOENT));
    if (rrc == EA_ERR_TOOBIG)
        return fail(st, 0, "cannot read: larger than %u bytes", MAX_DEPLOY_BYTES);
    if (rrc != EA_OK)
        return fail(st, 0, "cannot read: %s", strerror(rrc == EA_ERR_NOMEM ? ENOMEM : errno));
    if (textlen == 0) {
        /* libxml2 reports nothing for an empty buffer; say what its file
         * reader would have said. */
        free(text);
        return fail(st, 1, "XML error: Document is empty");
    }

    xml_capture_t cap = {0};
    xmlStructuredErrorFunc old_s = xmlStructuredError;
    void *old_sctx = xmlStructuredErrorContext;
    xmlGenericErrorFunc old_g = xmlGenericError;
    void *old_gctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(&cap, capture_structured);
    xmlSetGenericErrorFunc(&cap, capture_generic);
    *doc = xmlReadMemory((const char *)text, (int)textlen, st->path, NULL,
                         XML_PARSE_NONET | XML_PARSE_BIG_LINES);
    xmlSetStructuredErrorFunc(old_sctx, old_s);
    xmlSetGenericErrorFunc(old_gctx, old_g);
    free(text);

    if (*doc == NULL || cap.have) {
        xmlFreeDoc(*doc);
        *doc = NULL;
        if (!cap.have)
            return fail(st, 1, "XML error: cannot parse");
        return fail(st, cap.line > 0 ? cap.line : 1, "XML error: %s", cap.msg);
    }
    return EA_OK;
}

/* The root must be a bare <eactors> without attributes. */
static int check_root(pstate_t *st, const xmlNode *root)
{
    if (root == NULL)
        return fail(st, 1, "XML error: no root element");
    st->root_line = node_line(root);
    if ((root->ns != NULL && root->ns->prefix != NULL) ||
        strcmp((const char *)root->name, "eactors") != 0) {
        char q[256];
        qname(q, sizeof q, root->ns, root->name);
        return fail(st, st->root_line, "root element must be <eactors>, not <%s>", q);
    }
    for (const xmlAttr *a = root->properties; a != NULL; a = a->next) {
        char q[256];
        qname(q, sizeof q, a->ns, a->name);
        if (a->ns != NULL || strcmp((const char *)a->name, "platform") != 0)
            return fail(st, st->root_line, "<eactors>: unknown attribute '%s'", q);
        xmlChar *v = xmlNodeListGetString(root->doc, a->children, 1);
        const char *val = v != NULL ? (const char *)v : "";
        int rc = EA_OK;
        if (strcmp(val, "system") == 0)
            st->require_system = true;
        else if (strcmp(val, "any") != 0)
            rc = fail(st, st->root_line,
                      "<eactors>: platform='%s' is not one of 'system' (the platform daemon "
                      "only) or 'any'",
                      val);
        xmlFree(v);
        if (rc != EA_OK)
            return rc;
    }
    return EA_OK;
}

int eai_deploy_load(const char *path, int ncpus, eai_type_probe_fn probe, void *probe_ctx,
                    eai_deploy_t **out, char *err, size_t errlen)
{
    return eai_deploy_load_ex(path, ncpus, probe, probe_ctx, 0, out, err, errlen);
}

int eai_deploy_load_ex(const char *path, int ncpus, eai_type_probe_fn probe, void *probe_ctx,
                       unsigned flags, eai_deploy_t **out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    /* About 20K of error lines: on the heap, not the caller's stack. */
    pstate_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: out of memory", path != NULL ? path : "(null)");
        return EA_ERR_NOMEM;
    }
    st->path = path;
    st->ncpus = ncpus;
    st->offline = (flags & EAI_DEPLOY_OFFLINE) != 0;
    int rc = EA_OK;
    xmlDocPtr doc = NULL;
    if (path == NULL || out == NULL) {
        st->path = "(null)";
        fail(st, 0, "invalid argument");
        rc = EA_ERR_INVAL;
        goto out;
    }
    if (ncpus < 1) {
        fail(st, 0, "invalid CPU count %d", ncpus);
        rc = EA_ERR_INVAL;
        goto out;
    }
    pthread_once(&xml_once, xml_init);

    if (parse_xml(st, &doc) != EA_OK)
        goto out;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (check_root(st, root) != EA_OK)
        goto out;
    st->d = calloc(1, sizeof *st->d);
    if (st->d == NULL) {
        fail_nomem(st);
        goto out;
    }
    st->d->require_system = st->require_system;
    st->d->path = strdup(path);
    st->d->dir = dir_of(path);
    if (st->d->path == NULL || st->d->dir == NULL) {
        fail_nomem(st);
        goto out;
    }
    if (collect(st, root) == EA_OK)
        resolve(st, probe, probe_ctx);

out:
    xmlFreeDoc(doc);
    state_fini(st);
    if (rc == EA_OK && st->nerrors > 0)
        rc = st->nomem ? EA_ERR_NOMEM : EA_ERR_PARSE;
    if (rc != EA_OK) {
        write_errors(st, err, errlen);
        eai_deploy_free(st->d);
    } else {
        *out = st->d;
    }
    free(st);
    return rc;
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
    for (int i = 0; d->stores != NULL && i < d->nstores; i++) {
        free(d->stores[i].name);
        free(d->stores[i].users);
        free(d->stores[i].path);
        free(d->stores[i].path_abs);
    }
    free(d->stores);
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
