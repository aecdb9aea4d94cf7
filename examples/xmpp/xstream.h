/*
 * The XMPP stream parser: expat as a push parser, set up as
 * ../shared/specs/xmpp.md §4 says (restricted XML, limits, hash salt from
 * the caller, reparse deferral off), building one small tree per top-level
 * element (a stanza, or a TLS/SASL element) in a per-connection memory
 * budget. Plain C over libexpat: no eactors calls, so the unit test drives
 * it directly with hostile input.
 */
#ifndef XMPP_XSTREAM_H
#define XMPP_XSTREAM_H
#include <stddef.h>
#include <stdint.h>

#define XS_NS_STREAM "http://etherx.jabber.org/streams"
#define XS_NS_CLIENT "jabber:client"
#define XS_NS_XML "http://www.w3.org/XML/1998/namespace"

/* Limits (spec §4). */
#define XS_HEADER_MAX 4096u
#define XS_STANZA_PREAUTH 10000u
#define XS_STANZA_MAX 60000u /* the spec says 256 KiB: bounded here by the 64 KiB channel node */
#define XS_DEPTH_MAX 32u
#define XS_ELEMENTS_MAX 1000u
#define XS_ATTRS_MAX 64u
#define XS_NSDECL_MAX 16u
#define XS_NAME_MAX 256u
#define XS_MEM_DEFAULT (2u << 20)

typedef struct xattr {
    const char *ns; /* "" if none */
    const char *name;
    const char *val;
    size_t vlen; /* strlen(val) */
} xattr_t;

/* What an element is, for the names the stanza path asks about: set by
 * the parser, so that callers compare a number, not strings. */
enum {
    XK_OTHER = 0,
    XK_MESSAGE, /* jabber:client message */
    XK_PRESENCE,
    XK_IQ,
    XK_BODY,     /* jabber:client body */
    XK_PRIORITY, /* jabber:client priority */
};

/* An element, or a text node (name == NULL). The parser's common names and
 * namespaces (jabber:client, message, to, ...) point to constant strings,
 * the rest into the tree's arena. */
typedef struct xel {
    struct xel *next, *kids, *last;
    const char *ns; /* "" if none */
    const char *name;
    const char *text; /* text node: the bytes (not NUL-terminated) */
    size_t tlen;
    xattr_t *attrs;
    unsigned nattrs;
    unsigned kind; /* XK_* */
} xel_t;

/* The stream header as the client sent it. */
typedef struct xs_header {
    const char *to;      /* NULL if absent */
    const char *version; /* NULL if absent */
    const char *lang;
} xs_header_t;

struct xs;
typedef struct xs_cbs {
    /* Each may call xs_suspend() (resume later with xs_resume) or
     * xs_stop() (the rest of the input is dropped). */
    void (*header)(void *ctx, struct xs *xs, const xs_header_t *h);
    void (*element)(void *ctx, struct xs *xs, xel_t *el); /* tree freed after */
    void (*end)(void *ctx, struct xs *xs);                /* </stream:stream> */
} xs_cbs_t;

typedef struct xs {
    void *parser; /* XML_Parser */
    xs_cbs_t cbs;
    void *ctx;
    unsigned long salt;
    size_t mem_max, mem_used; /* expat's and the tree's memory */
    size_t stanza_max;        /* bytes per top-level element */
    const char *err;          /* stream error condition, or NULL */
    const char *err_text;
    int depth;
    int header_done;
    int stopped, suspended;
    unsigned elements, nsdecls;
    uint64_t fed;      /* bytes given to this parser */
    uint64_t boundary; /* byte index where the current top-level item began */
    char *default_ns;  /* default namespace declared on the stream root */
    char *stream_prefix;
    /* The bytes of the current top-level element as they arrived (see
     * xel_forward): the input being parsed (bytes [in_base, in_base +
     * in_len) of the stream; none while resuming) and a copy of what an
     * unfinished element had in earlier input ([carry_base, carry_base +
     * carry_len), valid while carry_ok). */
    const char *in;
    uint64_t in_base;
    size_t in_len;
    char *carry;
    size_t carry_len, carry_cap;
    uint64_t carry_base;
    int carry_ok;
    uint64_t el_start; /* byte index of the current top-level element's '<' */
    size_t el_tag;     /* the bytes of its start tag (0: not known) */
    int el_decl;       /* it declares a namespace (xmlns...=) */
    int el_from;       /* it has a from= */
    int raw_bad;       /* it uses a prefix other than xml:, or a CDATA section */
    const char *raw;   /* during the element callback: its bytes, or NULL */
    size_t raw_len;
    /* tree under construction */
    xel_t *root, *stack[XS_DEPTH_MAX + 2];
    struct xs_chunk *arena;
    /* expat's small allocations, together (xstream.c: ex_malloc) */
    char *home_block, *home; /* home: where in the block it starts */
    size_t home_used;
} xs_t;

/* Results of xs_feed/xs_resume. */
enum { XS_OK = 0, XS_SUSPENDED = 1, XS_STOPPED = 2, XS_ERROR = -1 };

/* Makes a parser (a new stream: also after every restart, xs_restart). */
int xs_init(xs_t *xs, const xs_cbs_t *cbs, void *ctx, unsigned long salt, size_t mem_max,
            size_t stanza_max);
int xs_restart(xs_t *xs, size_t stanza_max);
void xs_free(xs_t *xs);
int xs_feed(xs_t *xs, const char *data, size_t len);
int xs_resume(xs_t *xs);
void xs_suspend(xs_t *xs);
void xs_stop(xs_t *xs);
/* Raise a stream error from a callback (stops the parser). */
void xs_fail(xs_t *xs, const char *cond, const char *text);
/* 1 if the build has XML_SetReparseDeferralEnabled (deferral turned off). */
int xs_reparse_deferral_off(void);

/* Helpers on trees. */
const char *xel_attr(const xel_t *el, const char *name); /* no-namespace attribute */
xel_t *xel_child(const xel_t *el, const char *ns, const char *name);
unsigned xel_nchildren(const xel_t *el); /* element children */
xel_t *xel_first(const xel_t *el);       /* first element child */
/* Concatenated text of el's direct text children into buf (cut at cap-1). */
size_t xel_text(const xel_t *el, char *buf, size_t cap);

/* Growable output buffer. */
typedef struct xbuf {
    char *p;
    size_t len, cap;
    int failed;
} xbuf_t;
void xb_add(xbuf_t *b, const void *d, size_t n);
void xb_str(xbuf_t *b, const char *s);
/* Character data: escapes < > & " ' and CR. An attribute value: also TAB
 * and LF (a parser would read them as spaces). */
void xb_esc(xbuf_t *b, const char *s, size_t n);
void xb_esc_attr(xbuf_t *b, const char *s, size_t n);
void xb_fmt(xbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xb_free(xbuf_t *b);

/* Serializes an element; the top one is in `parent_ns`'s scope (jabber:client
 * for stanzas). If `from` is given, the top element's from= is replaced. */
void xel_write(xbuf_t *b, const xel_t *el, const char *parent_ns, const char *from);

/* A stanza to forward, from the element callback: the bytes that arrived,
 * with the top element's from= replaced by `from` and its xmlns= (which can
 * only be jabber:client) dropped, when they mean the same in any
 * jabber:client stream: no prefix other than xml: anywhere in it (a prefix
 * may be declared on the sender's stream root, spec §4) and no CDATA
 * section; the parser has checked that they are well-formed. Otherwise, or
 * when the bytes are not at hand (after a suspension), xel_write's
 * serialization. Either way the result starts with "<NAME" and, unless
 * empty, ends with "</NAME>". Returns 1 if the bytes were used. */
int xel_forward(xbuf_t *b, const xs_t *xs, const xel_t *el, const char *from);
/* The same with `from`'s attribute already written by xb_from_attr (a
 * connection's JID does not change between its stanzas): `fa`, `falen`. */
int xel_forward_fa(xbuf_t *b, const xs_t *xs, const xel_t *el, const char *from, const char *fa,
                   size_t falen);
/* Writes " from='FROM'" as the forwarded stanza carries it (escaped). */
void xb_from_attr(xbuf_t *b, const char *from);
#endif
