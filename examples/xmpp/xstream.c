/*
 * The XMPP stream parser (see xstream.h). Expat's memory suite has no
 * context argument, so the parser being driven is kept in a thread-local
 * (an actor runs on one thread at a time) and every allocation is charged
 * to it; over its budget an allocation fails, expat reports
 * XML_ERROR_NO_MEMORY and the stream ends with resource-constraint.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "xstream.h"

#define SEP '\xFF'

static __thread xs_t *cur;

/* ------------------------------------------------------------- memory */

struct mhdr {
    size_t n;
    size_t pad;
};

static void *mm_malloc(size_t n)
{
    if (cur != NULL && (n > cur->mem_max || cur->mem_used + n > cur->mem_max))
        return NULL;
    struct mhdr *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->n = n;
    if (cur != NULL)
        cur->mem_used += n;
    return h + 1;
}

static void mm_free(void *p)
{
    if (p == NULL)
        return;
    struct mhdr *h = (struct mhdr *)p - 1;
    if (cur != NULL)
        cur->mem_used -= h->n < cur->mem_used ? h->n : cur->mem_used;
    free(h);
}

static void *mm_realloc(void *p, size_t n)
{
    if (p == NULL)
        return mm_malloc(n);
    struct mhdr *h = (struct mhdr *)p - 1;
    size_t old = h->n;
    if (cur != NULL && n > old && (n > cur->mem_max || cur->mem_used + (n - old) > cur->mem_max))
        return NULL;
    struct mhdr *nh = realloc(h, sizeof *nh + n);
    if (nh == NULL)
        return NULL;
    nh->n = n;
    if (cur != NULL)
        cur->mem_used = cur->mem_used - old + n;
    return nh + 1;
}

/* Expat's own allocations. A parser makes about 40 small ones (its
 * struct, the DTD's hash tables and their entries, the name pools, the
 * input buffer: about 11 KB for a client's stream) and looks in several of
 * them for every element and attribute. From the heap they end up
 * scattered among the other connections' memory, so with 1,000 streams
 * most look-ups missed both the cache and the TLB. Each parser therefore
 * gets one home block (charged to its budget whole, freed with the
 * parser) and places its small allocations there, one after the
 * other, while room lasts; the rest, and everything larger, comes from
 * the heap as before. A home allocation is never freed on its own (expat
 * frees little before XML_ParserFree: grown tables, a grown buffer), and
 * its header says so. */
#define HOME_SIZE 12288u
#define HOME_SMALL 2048u
#define HOME_TAG ((size_t)0x686f6d65)
/* Homes start at a different cache line of their page (from the salt):
 * page-aligned homes put every parser's hot fields at the same page
 * offset, in the same few cache sets, and measured slower than the heap. */
#define HOME_COLOURS 64u
#define HOME_BLOCK (HOME_SIZE + (HOME_COLOURS - 1) * 64u)

static void *ex_malloc(size_t n)
{
    if (cur != NULL && cur->home != NULL && n <= HOME_SMALL) {
        size_t need = sizeof(struct mhdr) + ((n + 15) & ~(size_t)15);
        if (HOME_SIZE - cur->home_used >= need) {
            struct mhdr *h = (struct mhdr *)(cur->home + cur->home_used);
            cur->home_used += need;
            h->n = n;
            h->pad = HOME_TAG;
            return h + 1;
        }
    }
    void *p = mm_malloc(n);
    if (p != NULL)
        ((struct mhdr *)p - 1)->pad = 0;
    return p;
}

static void ex_free(void *p)
{
    if (p != NULL && ((struct mhdr *)p - 1)->pad != HOME_TAG)
        mm_free(p);
}

static void *ex_realloc(void *p, size_t n)
{
    if (p == NULL || ((struct mhdr *)p - 1)->pad != HOME_TAG) {
        void *q = mm_realloc(p, n); /* a heap block stays on the heap */
        if (q != NULL)
            ((struct mhdr *)q - 1)->pad = 0;
        return q;
    }
    size_t old = ((struct mhdr *)p - 1)->n;
    void *q = ex_malloc(n);
    if (q != NULL)
        memcpy(q, p, old < n ? old : n);
    return q;
}

static const XML_Memory_Handling_Suite mm = {ex_malloc, ex_realloc, ex_free};

/* The tree's arena: chunks charged to the parser's budget while it holds
 * them. A tree lives from its element's start to the end of the element
 * callback, so one chunk of the usual size goes from parser to parser on
 * this thread (`spare`): the next stanza's tree, whichever stream it is
 * in, is built in memory the cache still has, with no malloc and free per
 * stanza. The spare is freed with the thread's last parser. */
#define ARENA_CHUNK 4000u

struct xs_chunk {
    struct xs_chunk *next;
    size_t used, cap;
    char data[];
};

static __thread struct xs_chunk *spare;
static __thread long parsers; /* this thread's parsers (make_parser) */

static size_t chunk_size(const struct xs_chunk *c)
{
    return ((const struct mhdr *)c - 1)->n;
}

static void *arena_alloc(xs_t *xs, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct xs_chunk *c = xs->arena;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (cap == ARENA_CHUNK && spare != NULL && chunk_size(spare) <= xs->mem_max &&
            xs->mem_used + chunk_size(spare) <= xs->mem_max) {
            c = spare;
            spare = NULL;
            xs->mem_used += chunk_size(c);
        } else {
            c = mm_malloc(sizeof *c + cap);
            if (c == NULL)
                return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = xs->arena;
        xs->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Empties the tree; a chunk of the usual size becomes the spare if there
 * is none (not with `all`: the parser goes). */
static void arena_drop(xs_t *xs, int all)
{
    while (xs->arena != NULL) {
        struct xs_chunk *c = xs->arena;
        xs->arena = c->next;
        if (!all && spare == NULL && c->cap == ARENA_CHUNK) {
            size_t n = chunk_size(c);
            xs->mem_used -= n < xs->mem_used ? n : xs->mem_used;
            spare = c;
        } else {
            mm_free(c);
        }
    }
    xs->root = NULL;
}

static void arena_reset(xs_t *xs)
{
    arena_drop(xs, 0);
}

static char *arena_strn(xs_t *xs, const char *s, size_t n)
{
    char *p = arena_alloc(xs, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* ------------------------------------------------------------- raw bytes */

/* Appends input bytes to the copy of an unfinished element; -1 over the
 * budget (the bytes are then not offered, nothing else changes). */
static int carry_add(xs_t *xs, const char *p, size_t n)
{
    if (xs->carry_cap - xs->carry_len < n) {
        size_t cap = xs->carry_cap ? xs->carry_cap : 1024;
        while (cap - xs->carry_len < n)
            cap *= 2;
        char *q = mm_realloc(xs->carry, cap);
        if (q == NULL)
            return -1;
        xs->carry = q;
        xs->carry_cap = cap;
    }
    memcpy(xs->carry + xs->carry_len, p, n);
    xs->carry_len += n;
    return 0;
}

/* The stream's bytes [start, end), contiguous, or NULL if not at hand. */
static const char *raw_view(xs_t *xs, uint64_t start, uint64_t end)
{
    if (end <= start)
        return NULL;
    if (xs->in != NULL && start >= xs->in_base && end <= xs->in_base + xs->in_len)
        return xs->in + (start - xs->in_base);
    if (!xs->carry_ok || start < xs->carry_base)
        return NULL;
    uint64_t cend = xs->carry_base + xs->carry_len;
    if (end > cend) { /* the rest is in this input: appended to the copy */
        if (xs->in == NULL || cend < xs->in_base || end > xs->in_base + xs->in_len ||
            carry_add(xs, xs->in + (cend - xs->in_base), (size_t)(end - cend)) != 0)
            return NULL;
    }
    return xs->carry + (start - xs->carry_base);
}

/* After a parse: keeps a copy of the bytes from the current top-level
 * item's start to the end of the input (an element not finished yet). */
static void carry_keep(xs_t *xs)
{
    uint64_t from = xs->boundary, to = xs->fed;
    if (from >= to) {
        xs->carry_len = 0;
        xs->carry_base = to;
        xs->carry_ok = 1;
        return;
    }
    uint64_t cend = xs->carry_base + xs->carry_len;
    if (xs->carry_ok && xs->carry_base <= from && from <= cend) {
        size_t drop = (size_t)(from - xs->carry_base);
        if (drop > 0 && xs->carry_len > drop) /* (no copy to or from NULL) */
            memmove(xs->carry, xs->carry + drop, xs->carry_len - drop);
        xs->carry_len -= drop;
        xs->carry_base = from;
    } else if (xs->in != NULL && from >= xs->in_base) {
        xs->carry_len = 0;
        xs->carry_base = from;
        xs->carry_ok = 1;
    } else {
        xs->carry_ok = 0;
        xs->carry_len = 0;
        return;
    }
    cend = xs->carry_base + xs->carry_len;
    if (cend < to && (xs->in == NULL || cend < xs->in_base ||
                      carry_add(xs, xs->in + (cend - xs->in_base), (size_t)(to - cend)) != 0)) {
        xs->carry_ok = 0;
        xs->carry_len = 0;
    }
}

/* ------------------------------------------------------------- errors */

void xs_fail(xs_t *xs, const char *cond, const char *text)
{
    if (xs->err == NULL) {
        xs->err = cond;
        xs->err_text = text;
    }
    xs->stopped = 1;
    XML_StopParser(xs->parser, XML_FALSE);
}

void xs_stop(xs_t *xs)
{
    xs->stopped = 1;
    XML_StopParser(xs->parser, XML_FALSE);
}

void xs_suspend(xs_t *xs)
{
    xs->suspended = 1;
    XML_StopParser(xs->parser, XML_TRUE);
}

int xs_reparse_deferral_off(void)
{
#ifdef XS_HAVE_REPARSE_DEFERRAL
    return 1;
#else
    return 0;
#endif
}

/* Splits an expat name "uri\xFFlocal[\xFFprefix]" into its parts. A
 * stanza's names are mostly jabber:client ones, with short local names:
 * those are split in one pass here, without three library calls. */
static void split(const char *qn, const char **ns, size_t *nslen, const char **local, size_t *llen,
                  const char **prefix)
{
    static const char client[] = XS_NS_CLIENT "\xFF";
    size_t i = 0;
    while (i < sizeof client - 1 && qn[i] == client[i])
        i++;
    if (i == sizeof client - 1) {
        const char *l = qn + i, *e = l;
        while (*e != 0 && *e != SEP)
            e++;
        *ns = qn;
        *nslen = i - 1;
        *local = l;
        *llen = (size_t)(e - l);
        *prefix = *e == SEP ? e + 1 : NULL;
        return;
    }
    const char *a = strchr(qn, SEP);
    if (a == NULL) {
        *ns = "";
        *nslen = 0;
        *local = qn;
        *llen = strlen(qn);
        *prefix = NULL;
        return;
    }
    *ns = qn;
    *nslen = (size_t)(a - qn);
    *local = a + 1;
    const char *b = strchr(a + 1, SEP);
    *llen = b ? (size_t)(b - a - 1) : strlen(a + 1);
    *prefix = b ? b + 1 : NULL;
}

/* Bytes since the current top-level item began, counting what expat has
 * not reported yet (a never-closed start tag included). */
static int over_limit(xs_t *xs, uint64_t at)
{
    size_t max = xs->header_done ? xs->stanza_max : XS_HEADER_MAX;
    return at > xs->boundary && at - xs->boundary > max;
}

/* ------------------------------------------------------------- names */

/* The names every stanza has, as constants: no copy into the arena, and a
 * kind for the stanza path (xstream.h, XK_*). */
static const char ns_client[] = XS_NS_CLIENT;

static const char *el_name_const(const char *local, size_t llen, unsigned *kind)
{
    switch (llen) {
    case 2:
        if (memcmp(local, "iq", 2) == 0)
            return *kind = XK_IQ, "iq";
        break;
    case 4:
        if (memcmp(local, "body", 4) == 0)
            return *kind = XK_BODY, "body";
        break;
    case 7:
        if (memcmp(local, "message", 7) == 0)
            return *kind = XK_MESSAGE, "message";
        break;
    case 8:
        if (memcmp(local, "presence", 8) == 0)
            return *kind = XK_PRESENCE, "presence";
        if (memcmp(local, "priority", 8) == 0)
            return *kind = XK_PRIORITY, "priority";
        break;
    default: break;
    }
    return NULL;
}

/* An attribute name without a namespace (expat gives it without a
 * separator) that is one of the common ones, or NULL. */
static const char *attr_name_const(const char *qn)
{
    switch (qn[0]) {
    case 't':
        if (qn[1] == 'o' && qn[2] == 0)
            return "to";
        if (qn[1] == 'y' && qn[2] == 'p' && qn[3] == 'e' && qn[4] == 0)
            return "type";
        break;
    case 'i':
        if (qn[1] == 'd' && qn[2] == 0)
            return "id";
        break;
    case 'f':
        if (qn[1] == 'r' && qn[2] == 'o' && qn[3] == 'm' && qn[4] == 0)
            return "from";
        break;
    default: break;
    }
    return NULL;
}

/* ------------------------------------------------------------- handlers */

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xs_t *xs = ud;
    const char *ns, *local, *prefix;
    size_t nslen, llen;
    split(name, &ns, &nslen, &local, &llen, &prefix);
    unsigned natts = (unsigned)XML_GetSpecifiedAttributeCount(xs->parser) / 2;
    if (llen > XS_NAME_MAX || nslen > 1024) {
        xs_fail(xs, "policy-violation", "name too long");
        return;
    }
    if (natts > XS_ATTRS_MAX) {
        xs_fail(xs, "policy-violation", "too many attributes");
        return;
    }
    if (xs->nsdecls > XS_NSDECL_MAX) {
        xs_fail(xs, "policy-violation", "too many namespace declarations");
        return;
    }
    xs->nsdecls = 0;
    if (xs->depth == 0) {
        /* The stream header. */
        if (llen != 6 || memcmp(local, "stream", 6) != 0) {
            xs_fail(xs, "not-well-formed", "the stream must open with stream:stream");
            return;
        }
        if (nslen != strlen(XS_NS_STREAM) || memcmp(ns, XS_NS_STREAM, nslen) != 0) {
            xs_fail(xs, "invalid-namespace", "wrong stream namespace");
            return;
        }
        if (xs->default_ns == NULL || strcmp(xs->default_ns, XS_NS_CLIENT) != 0) {
            xs_fail(xs, "invalid-namespace", "the default namespace must be jabber:client");
            return;
        }
        xs_header_t h = {NULL, NULL, NULL};
        for (unsigned i = 0; atts[2 * i] != NULL; i++) {
            const char *an, *al, *ap;
            size_t anl, all;
            split(atts[2 * i], &an, &anl, &al, &all, &ap);
            if (anl == 0 && strcmp(al, "to") == 0)
                h.to = atts[2 * i + 1];
            else if (anl == 0 && strcmp(al, "version") == 0)
                h.version = atts[2 * i + 1];
            else if (anl == strlen(XS_NS_XML) && memcmp(an, XS_NS_XML, anl) == 0 &&
                     strcmp(al, "lang") == 0)
                h.lang = atts[2 * i + 1];
        }
        xs->depth = 1;
        xs->header_done = 1;
        xs->boundary = (uint64_t)XML_GetCurrentByteIndex(xs->parser) +
                       (uint64_t)XML_GetCurrentByteCount(xs->parser);
        if (xs->cbs.header)
            xs->cbs.header(xs->ctx, xs, &h);
        return;
    }
    uint64_t at = (uint64_t)XML_GetCurrentByteIndex(xs->parser);
    if (xs->depth == 1) {
        xs->elements = 0;
        arena_reset(xs);
        xs->el_start = at;
        xs->el_tag = (size_t)XML_GetCurrentByteCount(xs->parser);
        xs->el_from = 0;
        xs->raw_bad = 0;
    } else if (over_limit(xs, at)) {
        xs_fail(xs, "policy-violation", "stanza too big");
        return;
    }
    if ((unsigned)xs->depth > XS_DEPTH_MAX) {
        xs_fail(xs, "policy-violation", "elements nested too deep");
        return;
    }
    if (++xs->elements > XS_ELEMENTS_MAX) {
        xs_fail(xs, "policy-violation", "too many elements");
        return;
    }
    xel_t *el = arena_alloc(xs, sizeof *el);
    xattr_t *at_ = natts ? arena_alloc(xs, natts * sizeof *at_) : NULL;
    if (el == NULL || (natts && at_ == NULL)) {
        xs_fail(xs, "resource-constraint", NULL);
        return;
    }
    memset(el, 0, sizeof *el);
    if (prefix != NULL && strcmp(prefix, "xml") != 0)
        xs->raw_bad = 1;
    if (nslen == sizeof ns_client - 1 && memcmp(ns, ns_client, nslen) == 0) {
        el->ns = ns_client;
        el->name = el_name_const(local, llen, &el->kind);
    } else {
        el->ns = arena_strn(xs, ns, nslen);
    }
    if (el->name == NULL)
        el->name = arena_strn(xs, local, llen);
    el->attrs = at_;
    for (unsigned i = 0; i < natts; i++) {
        const char *val = atts[2 * i + 1];
        const char *known = attr_name_const(atts[2 * i]);
        if (known != NULL) {
            at_[i].ns = "";
            at_[i].name = known;
            if (xs->depth == 1 && known[0] == 'f')
                xs->el_from = 1;
        } else {
            const char *an, *al, *ap;
            size_t anl, all;
            split(atts[2 * i], &an, &anl, &al, &all, &ap);
            if (all > XS_NAME_MAX) {
                xs_fail(xs, "policy-violation", "name too long");
                return;
            }
            if (ap != NULL && strcmp(ap, "xml") != 0)
                xs->raw_bad = 1;
            at_[i].ns = anl == 0 ? "" : arena_strn(xs, an, anl);
            at_[i].name = arena_strn(xs, al, all);
        }
        at_[i].vlen = strlen(val);
        at_[i].val = arena_strn(xs, val, at_[i].vlen);
        if (at_[i].ns == NULL || at_[i].name == NULL || at_[i].val == NULL) {
            xs_fail(xs, "resource-constraint", NULL);
            return;
        }
    }
    el->nattrs = natts;
    if (el->ns == NULL || el->name == NULL) {
        xs_fail(xs, "resource-constraint", NULL);
        return;
    }
    if (xs->depth == 1) {
        xs->root = el;
    } else {
        xel_t *parent = xs->stack[xs->depth - 1];
        if (parent->last)
            parent->last->next = el;
        else
            parent->kids = el;
        parent->last = el;
    }
    xs->stack[xs->depth] = el;
    xs->depth++;
}

static void on_end(void *ud, const XML_Char *name)
{
    xs_t *xs = ud;
    (void)name;
    xs->depth--;
    if (xs->depth == 0) {
        if (xs->cbs.end)
            xs->cbs.end(xs->ctx, xs);
        if (!xs->stopped)
            xs_stop(xs);
        return;
    }
    if (xs->depth == 1) {
        uint64_t end = (uint64_t)XML_GetCurrentByteIndex(xs->parser) +
                       (uint64_t)XML_GetCurrentByteCount(xs->parser);
        if (over_limit(xs, end)) {
            xs_fail(xs, "policy-violation", "stanza too big");
            return;
        }
        xs->boundary = end;
        xel_t *el = xs->root;
        xs->raw = xs->raw_bad ? NULL : raw_view(xs, xs->el_start, end);
        xs->raw_len = xs->raw != NULL ? (size_t)(end - xs->el_start) : 0;
        if (el != NULL && xs->cbs.element)
            xs->cbs.element(xs->ctx, xs, el);
        xs->raw = NULL;
        xs->raw_len = 0;
        xs->el_decl = 0;
        arena_reset(xs);
    }
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    xs_t *xs = ud;
    if (xs->depth <= 1) {
        for (int i = 0; i < len; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                xs_fail(xs, "not-well-formed", "text between stanzas");
                return;
            }
        /* Whitespace keepalive: the next item begins after it. */
        xs->boundary = (uint64_t)XML_GetCurrentByteIndex(xs->parser) + (uint64_t)len;
        return;
    }
    if (over_limit(xs, (uint64_t)XML_GetCurrentByteIndex(xs->parser))) {
        xs_fail(xs, "policy-violation", "stanza too big");
        return;
    }
    xel_t *parent = xs->stack[xs->depth - 1];
    xel_t *t = parent->last;
    if (t == NULL || t->name != NULL) {
        t = arena_alloc(xs, sizeof *t);
        if (t == NULL) {
            xs_fail(xs, "resource-constraint", NULL);
            return;
        }
        memset(t, 0, sizeof *t);
        if (parent->last)
            parent->last->next = t;
        else
            parent->kids = t;
        parent->last = t;
    }
    /* Append (expat delivers text in pieces). */
    char *p = arena_alloc(xs, t->tlen + (size_t)len);
    if (p == NULL) {
        xs_fail(xs, "resource-constraint", NULL);
        return;
    }
    if (t->tlen > 0)
        memcpy(p, t->text, t->tlen);
    memcpy(p + t->tlen, s, (size_t)len);
    t->text = p;
    t->tlen += (size_t)len;
}

static void on_nsdecl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    xs_t *xs = ud;
    xs->nsdecls++;
    if (xs->depth == 1) /* on the top-level element about to start */
        xs->el_decl = 1;
    if (xs->depth == 0) {
        size_t n = uri ? strlen(uri) : 0;
        char **dst = prefix == NULL ? &xs->default_ns : &xs->stream_prefix;
        if (prefix != NULL && (uri == NULL || strcmp(uri, XS_NS_STREAM) != 0))
            return;
        if (prefix != NULL)
            n = strlen(prefix);
        mm_free(*dst);
        *dst = mm_malloc(n + 1);
        if (*dst == NULL) {
            xs_fail(xs, "resource-constraint", NULL);
            return;
        }
        if (n > 0) /* xmlns='' has no URI */
            memcpy(*dst, prefix != NULL ? prefix : uri, n);
        (*dst)[n] = 0;
    }
}

/* A CDATA section: valid XML, but forwarded re-serialized (xel_forward). */
static void on_cdata(void *ud)
{
    ((xs_t *)ud)->raw_bad = 1;
}

/* Restricted XML (RFC 6120 §11.1). */
static void on_doctype(void *ud, const XML_Char *a, const XML_Char *b, const XML_Char *c, int d)
{
    (void)a, (void)b, (void)c, (void)d;
    xs_fail(ud, "restricted-xml", "DTDs are not allowed");
}

static void on_comment(void *ud, const XML_Char *s)
{
    (void)s;
    xs_fail(ud, "restricted-xml", "comments are not allowed");
}

static void on_pi(void *ud, const XML_Char *t, const XML_Char *d)
{
    (void)t, (void)d;
    xs_fail(ud, "restricted-xml", "processing instructions are not allowed");
}

static void on_entity(void *ud, const XML_Char *a, int b, const XML_Char *c, int d,
                      const XML_Char *e, const XML_Char *f, const XML_Char *g, const XML_Char *h)
{
    (void)a, (void)b, (void)c, (void)d, (void)e, (void)f, (void)g, (void)h;
    xs_fail(ud, "restricted-xml", "entity declarations are not allowed");
}

static void on_skipped(void *ud, const XML_Char *name, int pe)
{
    (void)name, (void)pe;
    xs_fail(ud, "restricted-xml", "entity references are not allowed");
}

static void on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding, int standalone)
{
    xs_t *xs = ud;
    if (version != NULL && strcmp(version, "1.0") != 0)
        xs_fail(xs, "restricted-xml", "XML version must be 1.0");
    else if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
        xs_fail(xs, "unsupported-encoding", "UTF-8 only");
    else if (standalone == 0)
        xs_fail(xs, "restricted-xml", "standalone='no' is not allowed");
}

/* ------------------------------------------------------------- parser */

static int make_parser(xs_t *xs)
{
    static const XML_Char sep[2] = {SEP, 0};
    if (xs->mem_max >= HOME_BLOCK * 4 && xs->mem_used + HOME_BLOCK <= xs->mem_max) {
        xs->home_block = malloc(HOME_BLOCK);
        if (xs->home_block != NULL) {
            xs->mem_used += HOME_BLOCK;
            xs->home = xs->home_block + (xs->salt % HOME_COLOURS) * 64u;
        }
        xs->home_used = 0;
    }
    XML_Parser p = XML_ParserCreate_MM("UTF-8", &mm, sep);
    if (p == NULL) {
        if (xs->home_block != NULL) {
            free(xs->home_block);
            xs->home = xs->home_block = NULL;
            xs->mem_used -= HOME_BLOCK;
        }
        return -1;
    }
    XML_SetReturnNSTriplet(p, 1);
    XML_SetUserData(p, xs);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartCdataSectionHandler(p, on_cdata);
    XML_SetStartNamespaceDeclHandler(p, on_nsdecl);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetCommentHandler(p, on_comment);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetEntityDeclHandler(p, on_entity);
    XML_SetSkippedEntityHandler(p, on_skipped);
    XML_SetXmlDeclHandler(p, on_xmldecl);
    /* Salt from the caller (the enclave's RNG): expat never looks for
     * entropy itself (getrandom or /dev/urandom). */
    XML_SetHashSalt(p, xs->salt);
#ifdef XS_HAVE_REPARSE_DEFERRAL
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
    xs->parser = p;
    parsers++;
    return 0;
}

static void drop_parser(xs_t *xs)
{
    arena_drop(xs, 1);
    if (xs->parser != NULL) {
        XML_ParserFree(xs->parser);
        if (--parsers <= 0 && spare != NULL) { /* the thread's last parser */
            xs_t *saved = cur;
            cur = NULL; /* charged to nobody now */
            mm_free(spare);
            cur = saved;
            spare = NULL;
        }
    }
    xs->parser = NULL;
    mm_free(xs->default_ns);
    mm_free(xs->stream_prefix);
    xs->default_ns = xs->stream_prefix = NULL;
    mm_free(xs->carry);
    xs->carry = NULL;
    xs->carry_len = xs->carry_cap = 0;
    xs->carry_base = 0;
    xs->carry_ok = 1;
    xs->in = NULL;
    xs->raw = NULL;
    /* Last: expat's frees above only looked at headers inside it. */
    if (xs->home_block != NULL) {
        free(xs->home_block);
        xs->home = xs->home_block = NULL;
        xs->mem_used -= HOME_BLOCK < xs->mem_used ? HOME_BLOCK : xs->mem_used;
    }
    xs->home_used = 0;
}

int xs_init(xs_t *xs, const xs_cbs_t *cbs, void *ctx, unsigned long salt, size_t mem_max,
            size_t stanza_max)
{
    memset(xs, 0, sizeof *xs);
    xs->cbs = *cbs;
    xs->ctx = ctx;
    xs->salt = salt ? salt : 1;
    xs->mem_max = mem_max;
    xs->stanza_max = stanza_max;
    xs->carry_ok = 1;
    xs_t *saved = cur;
    cur = xs;
    int rc = make_parser(xs);
    cur = saved;
    return rc;
}

int xs_restart(xs_t *xs, size_t stanza_max)
{
    xs_t *saved = cur;
    cur = xs;
    drop_parser(xs);
    xs->err = xs->err_text = NULL;
    xs->depth = 0;
    xs->header_done = xs->stopped = xs->suspended = 0;
    xs->elements = xs->nsdecls = 0;
    xs->fed = xs->boundary = 0;
    xs->stanza_max = stanza_max;
    int rc = make_parser(xs);
    cur = saved;
    return rc;
}

void xs_free(xs_t *xs)
{
    xs_t *saved = cur;
    cur = xs;
    drop_parser(xs);
    cur = saved;
}

static int after(xs_t *xs, enum XML_Status st)
{
    if (xs->err != NULL)
        return XS_ERROR;
    if (st == XML_STATUS_SUSPENDED)
        return XS_SUSPENDED;
    if (xs->stopped)
        return XS_STOPPED;
    if (st == XML_STATUS_ERROR) {
        enum XML_Error e = XML_GetErrorCode(xs->parser);
        if (e == XML_ERROR_NO_MEMORY)
            xs->err = "resource-constraint";
        else if (e == XML_ERROR_UNKNOWN_ENCODING || e == XML_ERROR_INCORRECT_ENCODING)
            xs->err = "unsupported-encoding";
        else if (e == XML_ERROR_UNDEFINED_ENTITY || e == XML_ERROR_ENTITY_DECLARED_IN_PE ||
                 e == XML_ERROR_RECURSIVE_ENTITY_REF)
            xs->err = "restricted-xml";
        else
            xs->err = "not-well-formed";
        xs->err_text = XML_ErrorString(e);
        return XS_ERROR;
    }
    /* Everything fed is accounted for, parsed or not. */
    if (over_limit(xs, xs->fed)) {
        xs->err = "policy-violation";
        xs->err_text = xs->header_done ? "stanza too big" : "stream header too big";
        return XS_ERROR;
    }
    return XS_OK;
}

int xs_feed(xs_t *xs, const char *data, size_t len)
{
    if (xs->parser == NULL || xs->stopped || xs->err)
        return xs->err ? XS_ERROR : XS_STOPPED;
    if (len > 1u << 30)
        return XS_ERROR;
    xs_t *saved = cur;
    cur = xs;
    xs->in = data;
    xs->in_base = xs->fed;
    xs->in_len = len;
    xs->fed += len;
    xs->suspended = 0;
    /* isFinal is never set while the connection lives. */
    enum XML_Status st = XML_Parse(xs->parser, data, (int)len, XML_FALSE);
    int rc = after(xs, st);
    if (rc == XS_OK || rc == XS_SUSPENDED)
        carry_keep(xs);
    xs->in = NULL;
    cur = saved;
    return rc;
}

int xs_resume(xs_t *xs)
{
    if (xs->parser == NULL || !xs->suspended)
        return XS_OK;
    xs_t *saved = cur;
    cur = xs;
    xs->suspended = 0;
    xs->in = NULL; /* the rest is expat's copy: only the carry has bytes */
    enum XML_Status st = XML_ResumeParser(xs->parser);
    int rc = after(xs, st);
    if (rc == XS_OK || rc == XS_SUSPENDED)
        carry_keep(xs);
    cur = saved;
    return rc;
}

/* ------------------------------------------------------------- trees */

const char *xel_attr(const xel_t *el, const char *name)
{
    for (unsigned i = 0; i < el->nattrs; i++) {
        const xattr_t *a = &el->attrs[i];
        if (a->ns[0] == 0 &&
            (a->name == name || (a->name[0] == name[0] && strcmp(a->name, name) == 0)))
            return a->val;
    }
    return NULL;
}

/* The first characters first: most names differ there. */
static int same(const char *a, const char *b)
{
    return a == b || (a[0] == b[0] && strcmp(a, b) == 0);
}

xel_t *xel_child(const xel_t *el, const char *ns, const char *name)
{
    for (xel_t *k = el->kids; k; k = k->next)
        if (k->name && (!name || same(k->name, name)) && (!ns || same(k->ns, ns)))
            return k;
    return NULL;
}

unsigned xel_nchildren(const xel_t *el)
{
    unsigned n = 0;
    for (xel_t *k = el->kids; k; k = k->next)
        n += k->name != NULL;
    return n;
}

xel_t *xel_first(const xel_t *el)
{
    return xel_child(el, NULL, NULL);
}

size_t xel_text(const xel_t *el, char *buf, size_t cap)
{
    size_t n = 0;
    for (xel_t *k = el->kids; k && cap > 0; k = k->next)
        if (k->name == NULL) {
            size_t m = k->tlen < cap - 1 - n ? k->tlen : cap - 1 - n;
            memcpy(buf + n, k->text, m);
            n += m;
        }
    if (cap > 0)
        buf[n] = 0;
    return n;
}

void xb_add(xbuf_t *b, const void *d, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

void xb_str(xbuf_t *b, const char *s)
{
    xb_add(b, s, strlen(s));
}

/*
 * Escapes for character data, and with `attr` for an attribute value. A
 * parser normalizes what it reads: CR and CR LF become LF everywhere, and
 * in attribute values TAB, LF and CR each become a space. Bytes that came
 * in as character references (&#xD; in text, &#xA; in an attribute) are
 * therefore written as references again, or the recipient would read
 * something other than what the sender sent.
 */
static void esc(xbuf_t *b, const char *s, size_t n, int attr)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = NULL;
        switch (s[i]) {
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '&': e = "&amp;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&apos;"; break;
        case '\r': e = "&#xD;"; break;
        case '\n': e = attr ? "&#xA;" : NULL; break;
        case '\t': e = attr ? "&#x9;" : NULL; break;
        default: break;
        }
        if (e == NULL)
            continue;
        xb_add(b, s + run, i - run);
        xb_str(b, e);
        run = i + 1;
    }
    xb_add(b, s + run, n - run);
}

void xb_esc(xbuf_t *b, const char *s, size_t n)
{
    esc(b, s, n, 0);
}

void xb_esc_attr(xbuf_t *b, const char *s, size_t n)
{
    esc(b, s, n, 1);
}

void xb_fmt(xbuf_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = 1;
        return;
    }
    xb_add(b, tmp, (size_t)n);
}

void xb_free(xbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void write_attr(xbuf_t *b, const char *prefix, const char *name, const char *val)
{
    xb_str(b, " ");
    if (prefix) {
        xb_str(b, prefix);
        xb_str(b, ":");
    }
    xb_str(b, name);
    xb_str(b, "='");
    xb_esc_attr(b, val, strlen(val));
    xb_str(b, "'");
}

static void write_el(xbuf_t *b, const xel_t *el, const char *parent_ns, const char *from, int top)
{
    if (el->name == NULL) {
        xb_esc(b, el->text, el->tlen);
        return;
    }
    /* An element in the XML namespace keeps its reserved prefix: that
     * namespace may not be the default one (a recipient's parser would
     * refuse the stanza and end its stream). */
    int xmlns_el = strcmp(el->ns, XS_NS_XML) == 0;
    const char *scope = xmlns_el ? parent_ns : el->ns;
    xb_str(b, xmlns_el ? "<xml:" : "<");
    xb_str(b, el->name);
    if (!xmlns_el && strcmp(el->ns, parent_ns) != 0)
        write_attr(b, NULL, "xmlns", el->ns);
    if (top && from)
        write_attr(b, NULL, "from", from);
    unsigned k = 0;
    for (unsigned i = 0; i < el->nattrs; i++) {
        const xattr_t *a = &el->attrs[i];
        if (a->ns[0] == 0) {
            if (top && from && strcmp(a->name, "from") == 0)
                continue;
            write_attr(b, NULL, a->name, a->val);
        } else if (strcmp(a->ns, XS_NS_XML) == 0) {
            write_attr(b, "xml", a->name, a->val);
        } else {
            char pfx[16];
            snprintf(pfx, sizeof pfx, "a%u", k++);
            xb_fmt(b, " xmlns:%s='", pfx);
            xb_esc_attr(b, a->ns, strlen(a->ns));
            xb_str(b, "'");
            write_attr(b, pfx, a->name, a->val);
        }
    }
    if (el->kids == NULL) {
        xb_str(b, "/>");
        return;
    }
    xb_str(b, ">");
    for (const xel_t *c = el->kids; c; c = c->next)
        write_el(b, c, scope, NULL, 0);
    xb_str(b, xmlns_el ? "</xml:" : "</");
    xb_str(b, el->name);
    xb_str(b, ">");
}

void xel_write(xbuf_t *b, const xel_t *el, const char *parent_ns, const char *from)
{
    write_el(b, el, parent_ns, from, 1);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The raw stanza p[0..n) of element `name`, with from= and xmlns= of its
 * start tag dropped, `fa` (" from='...'", or nothing) added, the end tag
 * written canonically; -1 (and nothing written) if the bytes do not look
 * as expected. What is kept is copied in as few pieces as it has. */
static int raw_forward(xbuf_t *b, const char *p, size_t n, const char *name, int drop_from,
                       const char *fa, size_t falen, size_t tag)
{
    size_t nl = strlen(name), keep = b->len, i = 1 + nl;
    if (n < nl + 3 || p[0] != '<' || memcmp(p + 1, name, nl) != 0 ||
        !(is_ws(p[i]) || p[i] == '/' || p[i] == '>'))
        return -1;
    xb_add(b, p, i);
    xb_add(b, fa, falen);
    size_t run = i, seg; /* kept bytes from `run` on are not copied yet */
    if (tag > i && tag <= n && p[tag - 1] == '>') {
        /* Nothing to drop (the parser saw the tag: `tag` bytes, no xmlns=
         * or from= to leave out): its end, and the white space before it,
         * found from its length instead of by scanning the attributes. A
         * '/' right before the '>' is the empty-element mark (a value
         * ends with its quote). */
        i = tag - 1;
        if (p[i - 1] == '/')
            i--;
        seg = i;
        while (seg > run && is_ws(p[seg - 1]))
            seg--;
        goto tag_end;
    }
    for (;;) {
        seg = i;
        while (i < n && is_ws(p[i]))
            i++;
        if (i >= n)
            goto bad;
        if (p[i] == '>' || p[i] == '/')
            break;
        size_t a = i;
        while (i < n && p[i] != '=' && !is_ws(p[i]))
            i++;
        size_t alen = i - a;
        while (i < n && is_ws(p[i]))
            i++;
        if (i >= n || p[i] != '=')
            goto bad;
        i++;
        while (i < n && is_ws(p[i]))
            i++;
        if (i >= n || (p[i] != '\'' && p[i] != '"'))
            goto bad;
        const char *e = memchr(p + i + 1, p[i], n - i - 1);
        if (e == NULL)
            goto bad;
        i = (size_t)(e - p) + 1;
        int drop = (alen == 5 && memcmp(p + a, "xmlns", 5) == 0) ||
                   (drop_from && alen == 4 && memcmp(p + a, "from", 4) == 0);
        if (drop) {
            xb_add(b, p + run, seg - run);
            run = i;
        }
    }
tag_end:
    if (seg < i) { /* white space before the tag's end: left out */
        xb_add(b, p + run, seg - run);
        run = i;
    }
    if (p[i] == '/') { /* <name .../> */
        if (i + 2 != n || p[i + 1] != '>')
            goto bad;
        xb_add(b, p + run, n - run);
        return b->failed ? -1 : 0;
    }
    /* Content, then </name WS*> written as </name>. */
    size_t k = n - 1;
    if (p[k] != '>')
        goto bad;
    while (k > i && is_ws(p[k - 1]))
        k--;
    if (k < i + nl + 3 || memcmp(p + k - nl, name, nl) != 0 || memcmp(p + k - nl - 2, "</", 2) != 0)
        goto bad;
    xb_add(b, p + run, k - run); /* through "</name" */
    xb_add(b, ">", 1);
    if (b->failed)
        return -1;
    return 0;
bad:
    b->len = keep;
    return -1;
}

void xb_from_attr(xbuf_t *b, const char *from)
{
    write_attr(b, NULL, "from", from);
}

int xel_forward_fa(xbuf_t *b, const xs_t *xs, const xel_t *el, const char *from, const char *fa,
                   size_t falen)
{
    if (xs->raw != NULL && el == xs->root && el->name != NULL &&
        (el->ns == ns_client || strcmp(el->ns, XS_NS_CLIENT) == 0) &&
        raw_forward(b, xs->raw, xs->raw_len, el->name, from != NULL, fa, falen,
                    xs->el_decl || (from != NULL && xs->el_from) ? 0 : xs->el_tag) == 0)
        return 1;
    xel_write(b, el, XS_NS_CLIENT, from);
    return 0;
}

int xel_forward(xbuf_t *b, const xs_t *xs, const xel_t *el, const char *from)
{
    xbuf_t fa = {0};
    if (from != NULL)
        xb_from_attr(&fa, from);
    if (fa.failed) {
        b->failed = 1;
        xb_free(&fa);
        return 0;
    }
    int rc = xel_forward_fa(b, xs, el, from, fa.p, fa.len);
    xb_free(&fa);
    return rc;
}
