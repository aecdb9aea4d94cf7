/*
 * The XMPP example's stream parser (examples/xmpp/xstream.c) on hostile and
 * split input, called directly (a libFuzzer-free stand-in for spec §5 E12):
 * one valid stream in every chunking gives the same trees; each kind of
 * forbidden or oversized input gives its stream error with the memory
 * budget held; suspend and resume lose nothing; a 60 KB start tag split in
 * two is delivered on its last byte (reparse deferral off); and random
 * mutations of a stream (seed printed, argv[1] sets it) never crash and
 * never end in anything but OK or a named stream error. Every chunk is
 * copied into a heap block of exactly its size, so under ASan a read past
 * what was "received" is caught.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "xstream.h"

static unsigned seed;

struct rec {
    int headers, ends;
    unsigned elements;
    char to[64];
    xbuf_t out; /* every element serialized, with from= stamped */
    int suspend_at, stop_at;
    int fwd;          /* with xel_forward, not xel_write */
    unsigned raw;     /* elements xel_forward took as they arrived */
    unsigned rawmask; /* bit i: element i+1 did */
    int nofrom;       /* xel_write without from= */
};

static void on_header(void *ctx, xs_t *xs, const xs_header_t *h)
{
    struct rec *r = ctx;
    (void)xs;
    r->headers++;
    snprintf(r->to, sizeof r->to, "%s", h->to ? h->to : "");
}

static void check_forward(xs_t *xs, xel_t *el, const char *from);

static void on_element(void *ctx, xs_t *xs, xel_t *el)
{
    struct rec *r = ctx;
    r->elements++;
    if (r->fwd == 2) {
        check_forward(xs, el, (r->elements & 1) ? "alice@localhost/r" : NULL);
    } else if (r->fwd) {
        if (xel_forward(&r->out, xs, el, "alice@localhost/r")) {
            r->raw++;
            r->rawmask |= 1u << ((r->elements - 1) % 32);
        }
    } else {
        xel_write(&r->out, el, XS_NS_CLIENT, r->nofrom ? NULL : "alice@localhost/r");
    }
    if (r->suspend_at && r->elements == (unsigned)r->suspend_at)
        xs_suspend(xs);
    if (r->stop_at && r->elements == (unsigned)r->stop_at)
        xs_stop(xs);
}

static void on_end(void *ctx, xs_t *xs)
{
    struct rec *r = ctx;
    (void)xs;
    r->ends++;
}

static const xs_cbs_t cbs = {on_header, on_element, on_end};

/* Feeds `n` bytes in chunks of `chunk` (0: random sizes); returns the last
 * result. */
static int feed(xs_t *xs, const char *p, size_t n, size_t chunk)
{
    int rc = XS_OK;
    size_t off = 0;
    while (off < n && rc == XS_OK) {
        size_t k = chunk ? chunk : 1 + (size_t)rand_r(&seed) % 97;
        if (k > n - off)
            k = n - off;
        char *b = malloc(k);
        assert_non_null(b);
        memcpy(b, p + off, k);
        rc = xs_feed(xs, b, k);
        free(b);
        off += k;
    }
    return rc;
}

#define HDR                                                                     \
    "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>"

/* xel_forward's output read back and written out again is what xel_write
 * makes of the element (only the limits may refuse the copy). */
static void check_forward(xs_t *xs, xel_t *el, const char *from)
{
    xbuf_t w = {0}, f = {0};
    xel_write(&w, el, XS_NS_CLIENT, from);
    xel_forward(&f, xs, el, from);
    assert_false(w.failed || f.failed);
    struct rec back = {.nofrom = 1};
    xs_t x2;
    assert_int_equal(xs_init(&x2, &cbs, &back, 7, 64u << 20, 16u << 20), 0);
    int rc = xs_feed(&x2, HDR, sizeof HDR - 1);
    if (rc == XS_OK)
        rc = xs_feed(&x2, f.p, f.len);
    if (rc == XS_ERROR)
        assert_string_equal(x2.err, "policy-violation");
    else if (!(back.elements == 1 && back.out.len == w.len && memcmp(back.out.p, w.p, w.len) == 0))
        fail_msg("seed %u: forwarded %.*s\nread back %.*s\nexpected %.*s", seed, (int)f.len, f.p,
                 (int)back.out.len, back.out.p, (int)w.len, w.p);
    xs_free(&x2);
    xb_free(&back.out);
    xb_free(&w);
    xb_free(&f);
}

static const char valid[] =
    HDR "<message to='bob@localhost' from='evil@x' type='chat' id='a&amp;b'>"
        "<body>1 &lt; 2 &amp; &quot;q&quot; &#x263A;</body>"
        "<x:active xmlns:x='http://jabber.org/protocol/chatstates'/></message> \n"
        "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
        "<presence xml:lang='de'><priority>5</priority><c xmlns='urn:caps' a:n='v' "
        "xmlns:a='urn:attr'/></presence></stream:stream>";

static const char expect_out[] =
    "<message from='alice@localhost/r' to='bob@localhost' type='chat' id='a&amp;b'>"
    "<body>1 &lt; 2 &amp; &quot;q&quot; \xE2\x98\xBA</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
    "<iq from='alice@localhost/r' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
    "<presence from='alice@localhost/r' xml:lang='de'><priority>5</priority><c xmlns='urn:caps' "
    "xmlns:a0='urn:attr' a0:n='v'/></presence>";

static void test_valid_any_chunking(void **st)
{
    (void)st;
    size_t chunks[] = {sizeof valid - 1, 1, 2, 7, 64, 0, 0, 0};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        struct rec r = {0};
        xs_t xs;
        assert_int_equal(xs_init(&xs, &cbs, &r, 12345, XS_MEM_DEFAULT, XS_STANZA_PREAUTH), 0);
        int rc = feed(&xs, valid, sizeof valid - 1, chunks[i]);
        assert_int_equal(rc, XS_STOPPED); /* the stream's end stops the parser */
        assert_int_equal(r.headers, 1);
        assert_int_equal(r.ends, 1);
        assert_string_equal(r.to, "localhost");
        assert_int_equal(r.elements, 3);
        xb_add(&r.out, "", 1);
        assert_string_equal(r.out.p, expect_out);
        xb_free(&r.out);
        xs_free(&xs);
    }
}

/* An element in the XML namespace keeps the xml: prefix: written with a
 * default namespace declaration it would end the recipient's stream (found
 * by fuzz_xmpp_stream). */
static void test_xml_prefix_element(void **st)
{
    (void)st;
    static const char in[] = HDR "<message><xml:lang a='1'><b/></xml:lang></message>";
    struct rec r = {0};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, in, sizeof in - 1), XS_OK);
    xb_add(&r.out, "", 1);
    assert_string_equal(r.out.p, "<message from='alice@localhost/r'><xml:lang a='1'><b/></xml:lang>"
                                 "</message>");
    xs_free(&xs);
    xb_free(&r.out);
}

/* Whitespace that came as character references goes out as references: a
 * recipient's parser turns a raw TAB, LF or CR in an attribute into a
 * space, and a raw CR in text into LF (a fuzz_xmpp_stream finding: a
 * namespace with &#xa; in it came back as another namespace). */
static void test_whitespace_refs(void **st)
{
    (void)st;
    static const char in[] = HDR "<message id='a&#xA;b&#x9;c&#xD;d' xmlns:p='urn:x&#xA;y' p:q='1'>"
                                 "<body>l1&#xD;&#xA;l2\tt\nu</body></message>";
    struct rec r = {0};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, in, sizeof in - 1), XS_OK);
    xb_add(&r.out, "", 1);
    assert_string_equal(r.out.p, "<message from='alice@localhost/r' id='a&#xA;b&#x9;c&#xD;d' "
                                 "xmlns:a0='urn:x&#xA;y' a0:q='1'><body>l1&#xD;\nl2\tt\nu</body>"
                                 "</message>");
    xs_free(&xs);
    xb_free(&r.out);
}

/* xel_forward: stanzas forwarded as the bytes that arrived (from= and
 * xmlns= of the top element replaced, the end tag canonical) whatever the
 * chunking, and only when that means the same in the recipient's stream;
 * the result always parses back to what xel_write would have written. */
static const char fwd_in[] =
    HDR "<message xmlns='jabber:client' to='bob@localhost' from='evil@x' type=\"chat\" "
        "id='a&amp;b' ><body>1 &lt; 2 &#x263A; > \"q\"</body></message >\n"
        "<presence/>"
        "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
        "<message to='c@localhost' xml:lang='de'><x:active xmlns:x='urn:cs'/></message>"
        "<message to='c@localhost'><body><![CDATA[<b>]]></body></message>"
        "<message to='c@localhost'><c xmlns='urn:caps' a:n='v' xmlns:a='urn:attr'/></message>"
        "<message to='d@localhost'><body xml:lang='en'>x</body><active "
        "xmlns='http://jabber.org/protocol/chatstates'/></message>";

static const char fwd_out[] =
    "<message from='alice@localhost/r' to='bob@localhost' type=\"chat\" id='a&amp;b'><body>1 "
    "&lt; 2 &#x263A; > \"q\"</body></message>"
    "<presence from='alice@localhost/r'/>"
    "<iq from='alice@localhost/r' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>";

static void reparse(const char *p, size_t n, struct rec *out)
{
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, out, 7, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, HDR, sizeof HDR - 1), XS_OK);
    assert_int_equal(xs_feed(&xs, p, n), XS_OK);
    xs_free(&xs);
}

/* The start tag's end found from its length (no xmlns= or from= on it to
 * leave out): white space before '>' or '/>' dropped, attributes kept as
 * they came, in every chunking; a from= or an xmlns= on a later stanza is
 * still left out (the scan), and a stanza after it is fast again. */
static const char tag_in[] =
    HDR "<message to='b@localhost' type='chat' ><body>x/</body></message>"
        "<presence type='away' \t/>"
        "<message\n to='c@localhost'\ttype=\"a/\"><body/></message\n>"
        "<message from='z@x' to='d@localhost'/>"
        "<iq type='get' id='q' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"
        "<presence/>"
        "<message to='e@localhost' id='&apos;/'  >y</message>";
static const char tag_out[] =
    "<message from='alice@localhost/r' to='b@localhost' type='chat'><body>x/</body></message>"
    "<presence from='alice@localhost/r' type='away'/>"
    "<message from='alice@localhost/r'\n to='c@localhost'\ttype=\"a/\"><body/></message>"
    "<message from='alice@localhost/r' to='d@localhost'/>"
    "<iq from='alice@localhost/r' type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"
    "<presence from='alice@localhost/r'/>"
    "<message from='alice@localhost/r' to='e@localhost' id='&apos;/'>y</message>";

static void test_forward_tag_end(void **st)
{
    (void)st;
    size_t chunks[] = {sizeof tag_in - 1, 1, 3, 17, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        struct rec r = {.fwd = 1};
        xs_t xs;
        assert_int_equal(xs_init(&xs, &cbs, &r, 11, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
        assert_int_equal(feed(&xs, tag_in, sizeof tag_in - 1, chunks[i]), XS_OK);
        assert_int_equal(r.elements, 7);
        assert_int_equal(r.rawmask, 0x7fu);
        xb_add(&r.out, "", 1);
        assert_string_equal(r.out.p, tag_out);
        xb_free(&r.out);
        xs_free(&xs);
    }
}

static void test_forward_raw(void **st)
{
    (void)st;
    /* What xel_write makes of the input, for comparison. */
    struct rec w = {0};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &w, 3, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, fwd_in, sizeof fwd_in - 1), XS_OK);
    xs_free(&xs);
    assert_int_equal(w.elements, 7);
    xb_add(&w.out, "", 1);
    size_t chunks[] = {sizeof fwd_in - 1, 1, 2, 7, 64, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        struct rec r = {.fwd = 1};
        assert_int_equal(xs_init(&xs, &cbs, &r, 5, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
        assert_int_equal(feed(&xs, fwd_in, sizeof fwd_in - 1, chunks[i]), XS_OK);
        assert_int_equal(r.elements, 7);
        /* raw: the first three and the last; not the prefixed or CDATA ones */
        assert_int_equal(r.rawmask, 0x47u);
        assert_true(r.out.len > sizeof fwd_out - 1);
        assert_memory_equal(r.out.p, fwd_out, sizeof fwd_out - 1);
        /* Read back (from= now the sender's) and written out again: what
         * xel_write wrote from the original. */
        struct rec back = {0};
        reparse(r.out.p, r.out.len, &back);
        assert_int_equal(back.elements, 7);
        xb_add(&back.out, "", 1);
        assert_string_equal(back.out.p, w.out.p);
        xb_free(&back.out);
        xb_free(&r.out);
        xs_free(&xs);
    }
    xb_free(&w.out);

    /* Suspended after the first stanza: the second is parsed by the resume
     * from expat's copy, its bytes from the parser's own. */
    static const char two[] = HDR "<message to='a@localhost'><body>one</body></message>"
                                  "<message to='b@localhost'><body>two</body></message><mes";
    struct rec r = {.fwd = 1, .suspend_at = 1};
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, two, sizeof two - 1), XS_SUSPENDED);
    assert_int_equal(xs_resume(&xs), XS_OK);
    static const char rest[] = "sage to='c@localhost'><body>three</body></message>";
    assert_int_equal(xs_feed(&xs, rest, sizeof rest - 1), XS_OK);
    assert_int_equal(r.elements, 3);
    xb_add(&r.out, "", 1);
    assert_string_equal(r.out.p, "<message from='alice@localhost/r' to='a@localhost'><body>one"
                                 "</body></message><message from='alice@localhost/r' "
                                 "to='b@localhost'><body>two</body></message><message "
                                 "from='alice@localhost/r' to='c@localhost'><body>three</body>"
                                 "</message>");
    assert_int_equal(r.raw, 3);
    xb_free(&r.out);
    xs_free(&xs);
}

/* A stanza over the limit, read 16 KiB at a time (TLS records): the copy
 * of the unfinished stanza never outgrows the limit, and the stream ends
 * with policy-violation (spec E4, 300 KiB after authentication). */
static void test_big_stanza_in_reads(void **st)
{
    (void)st;
    size_t n = 300u << 10;
    char *p = malloc(n + 100);
    strcpy(p, "<message to='alice@localhost'><body>");
    size_t h = strlen(p);
    memset(p + h, 'x', n);
    strcpy(p + h + n, "</body></message>");
    size_t total = strlen(p);
    struct rec r = {.fwd = 1};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, HDR, sizeof HDR - 1), XS_OK);
    int rc = feed(&xs, p, total, 16384);
    assert_int_equal(rc, XS_ERROR);
    assert_string_equal(xs.err, "policy-violation");
    assert_true(xs.carry_len <= XS_STANZA_MAX);
    assert_true(xs.mem_used <= xs.mem_max);
    assert_int_equal(r.elements, 0);
    xs_free(&xs);
    xb_free(&r.out);
    free(p);
}

struct bad {
    const char *name;
    const char *head, *fill, *tail;
    size_t repeat;
    const char *cond;
    int preauth; /* stanza limit 10 000 (else 60 000) */
};

static const struct bad bads[] = {
    {"comment", "<?xml version='1.0'?><!-- x -->" HDR, "", "", 0, "restricted-xml", 1},
    {"comment in stream", HDR "<message><!-- x --></message>", "", "", 0, "restricted-xml", 1},
    {"PI", HDR "<?pi x?>", "", "", 0, "restricted-xml", 1},
    {"doctype", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>", "", "", 0,
     "restricted-xml", 1},
    {"entity ref", HDR "<message>&foo;</message>", "", "", 0, "restricted-xml", 1},
    {"encoding", "<?xml version='1.0' encoding='ISO-8859-1'?>", "", "", 0, "unsupported-encoding",
     1},
    {"xml 1.1", "<?xml version='1.1'?>", "", "", 0, "restricted-xml", 1},
    {"standalone no", "<?xml version='1.0' standalone='no'?>", "", "", 0, "restricted-xml", 1},
    {"stream ns", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:x'>", "", "", 0,
     "invalid-namespace", 1},
    {"default ns",
     "<stream:stream xmlns='jabber:server' "
     "xmlns:stream='http://etherx.jabber.org/streams'>",
     "", "", 0, "invalid-namespace", 1},
    {"not a stream", "<html>", "", "", 0, "not-well-formed", 1},
    {"mismatch", HDR "<message><body>x</message>", "", "", 0, "not-well-formed", 1},
    {"text at depth 1", HDR "hello", "", "", 0, "not-well-formed", 1},
    {"NUL", HDR "<a>\0</a>", "", "", 0, "not-well-formed", 1},
    {"bad UTF-8", HDR "<a>\xff</a>", "", "", 0, "not-well-formed", 1},
    {"header too big", "<stream:stream a='", "x", "", 5000, "policy-violation", 1},
    {"stanza 20 KB pre-auth", HDR "<message><body>", "x", "</body></message>", 20000,
     "policy-violation", 1},
    {"stanza 300 KB", HDR "<message><body>", "x", "</body></message>", 300000, "policy-violation",
     0},
    {"open tag 1 MiB", HDR "<message a='", "x", "", 1 << 20, "policy-violation", 0},
    {"deep", HDR, "<a>", "", 100000, "policy-violation", 0},
    {"attributes", HDR "<a", " b00000='1'", "/>", 10000, "policy-violation", 0},
    {"elements", HDR "<m>", "<a/>", "</m>", 5000, "policy-violation", 0},
    {"long name", HDR "<", "a", "/>", 1000, "policy-violation", 0},
    {"ns decls", HDR "<m", " xmlns:p='urn:x'", "/>", 0, NULL, 0}, /* one: fine */
};

static void test_hostile(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        const struct bad *b = &bads[i];
        size_t hl = strlen(b->head), fl = strlen(b->fill), tl = strlen(b->tail);
        /* "NUL" has a NUL inside: its length is explicit. */
        if (strcmp(b->name, "NUL") == 0)
            hl = sizeof HDR - 1 + 8;
        size_t n = hl + fl * b->repeat + tl;
        char *p = malloc(n);
        assert_non_null(p);
        memcpy(p, b->head, hl);
        for (size_t k = 0; k < b->repeat; k++) {
            memcpy(p + hl + k * fl, b->fill, fl);
            if (strcmp(b->name, "attributes") == 0) { /* distinct names */
                char d[24];
                snprintf(d, sizeof d, "%05zu", k);
                memcpy(p + hl + k * fl + 2, d, 5);
            }
        }
        memcpy(p + hl + fl * b->repeat, b->tail, tl);
        struct rec r = {0};
        xs_t xs;
        assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT,
                                 b->preauth ? XS_STANZA_PREAUTH : XS_STANZA_MAX),
                         0);
        size_t peak = 0;
        int rc = XS_OK;
        for (size_t off = 0; off < n && rc == XS_OK; off += 16384) {
            size_t k = n - off < 16384 ? n - off : 16384;
            rc = xs_feed(&xs, p + off, k);
            if (xs.mem_used > peak)
                peak = xs.mem_used;
        }
        if (b->cond == NULL) {
            if (rc != XS_OK)
                fail_msg("%s: unexpected %s", b->name, xs.err);
        } else {
            if (rc != XS_ERROR || xs.err == NULL || strcmp(xs.err, b->cond) != 0)
                fail_msg("%s: rc %d, error %s, expected %s", b->name, rc, xs.err ? xs.err : "none",
                         b->cond);
        }
        /* Memory stays near the limits, whatever was sent. */
        if (peak > 600000)
            fail_msg("%s: %zu bytes of parser memory", b->name, peak);
        xs_free(&xs);
        xb_free(&r.out);
        free(p);
    }
}

static void test_memory_budget(void **st)
{
    (void)st;
    struct rec r = {0};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, 32768, XS_STANZA_MAX), 0);
    size_t n = 50000;
    char *p = malloc(sizeof HDR + n + 40);
    strcpy(p, HDR "<message><body>");
    size_t h = strlen(p);
    memset(p + h, 'x', n);
    strcpy(p + h + n, "</body></message>");
    int rc = feed(&xs, p, strlen(p), 4096);
    assert_int_equal(rc, XS_ERROR);
    assert_string_equal(xs.err, "resource-constraint");
    assert_true(xs.mem_used <= 32768);
    xs_free(&xs);
    xb_free(&r.out);
    free(p);
}

/* Expat's small allocations sit in one home block per parser
 * (xstream.c: ex_malloc): it is charged to the budget, bounded, does not
 * grow with the stanzas of a long stream, is made afresh at a restart,
 * and everything charged is given back when the parser goes. Without room
 * for it in the budget the parser works from the heap alone. */
static void test_home_block(void **st)
{
    (void)st;
    struct rec r = {0};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 9, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_non_null(xs.home);
    assert_true(xs.home_used > 0 && xs.mem_used >= 12288);
    static const char msg[] = "<message to='bob@localhost/r' type='chat' id='m1'><body>"
                              "0123456789012345678901234567890123456789012345678901234567890123"
                              "</body></message>";
    assert_int_equal(feed(&xs, HDR, strlen(HDR), 7), XS_OK);
    assert_int_equal(feed(&xs, msg, strlen(msg), 13), XS_OK);
    size_t used = xs.mem_used, home = xs.home_used;
    assert_true(home <= 12288);
    for (int i = 0; i < 500; i++)
        assert_int_equal(feed(&xs, msg, strlen(msg), (size_t)(i % 50) + 1), XS_OK);
    assert_int_equal(r.elements, 501);
    assert_int_equal(xs.mem_used, used);
    assert_int_equal(xs.home_used, home);
    assert_int_equal(xs_restart(&xs, XS_STANZA_MAX), 0);
    assert_non_null(xs.home);
    assert_true(xs.home_used < home);
    assert_int_equal(feed(&xs, HDR, strlen(HDR), 64), XS_OK);
    assert_int_equal(feed(&xs, msg, strlen(msg), 64), XS_OK);
    assert_int_equal(r.elements, 502);
    xs_free(&xs);
    assert_null(xs.home);
    assert_int_equal(xs.mem_used, 0);

    struct rec r2 = {0};
    assert_int_equal(xs_init(&xs, &cbs, &r2, 9, 32768, XS_STANZA_MAX), 0);
    assert_null(xs.home);
    assert_int_equal(feed(&xs, HDR, strlen(HDR), 5), XS_OK);
    assert_int_equal(feed(&xs, msg, strlen(msg), 5), XS_OK);
    assert_int_equal(r2.elements, 1);
    xs_free(&xs);
    assert_int_equal(xs.mem_used, 0);
    xb_free(&r.out);
    xb_free(&r2.out);
}

static void test_suspend_resume_stop(void **st)
{
    (void)st;
    static const char two[] = HDR "<iq type='get' id='1'><a xmlns='urn:a'/></iq>"
                                  "<iq type='get' id='2'><b xmlns='urn:b'/></iq>";
    struct rec r = {.suspend_at = 1};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, two, sizeof two - 1), XS_SUSPENDED);
    assert_int_equal(r.elements, 1);
    assert_int_equal(xs_resume(&xs), XS_OK);
    assert_int_equal(r.elements, 2);
    xs_free(&xs);
    xb_free(&r.out);

    /* Stop (as at <starttls/>): what follows in the same input is never seen. */
    struct rec r2 = {.stop_at = 1};
    assert_int_equal(xs_init(&xs, &cbs, &r2, 1, XS_MEM_DEFAULT, XS_STANZA_MAX), 0);
    assert_int_equal(xs_feed(&xs, two, sizeof two - 1), XS_STOPPED);
    assert_int_equal(r2.elements, 1);
    assert_int_equal(xs_feed(&xs, "<iq/>", 5), XS_STOPPED);
    assert_int_equal(r2.elements, 1);
    /* A restart is a new stream: a header is needed again. */
    assert_int_equal(xs_restart(&xs, XS_STANZA_MAX), 0);
    r2.stop_at = 0;
    assert_int_equal(xs_feed(&xs, two, sizeof two - 1), XS_OK);
    assert_int_equal(r2.headers, 2);
    assert_int_equal(r2.elements, 3);
    xs_free(&xs);
    xb_free(&r2.out);
}

static void test_split_big_start_tag(void **st)
{
    (void)st;
    if (!xs_reparse_deferral_off())
        skip();
    size_t n = 60000;
    char *p = malloc(n + 200);
    strcpy(p, "<message to='a@localhost' x='");
    size_t h = strlen(p);
    memset(p + h, 'y', n);
    strcpy(p + h + n, "'><body>b</body></message>");
    struct rec r = {0};
    xs_t xs;
    assert_int_equal(xs_init(&xs, &cbs, &r, 1, XS_MEM_DEFAULT, 65000), 0);
    assert_int_equal(xs_feed(&xs, HDR, sizeof HDR - 1), XS_OK);
    size_t total = strlen(p);
    assert_int_equal(xs_feed(&xs, p, 30000), XS_OK);
    assert_int_equal(r.elements, 0);
    assert_int_equal(xs_feed(&xs, p + 30000, total - 30000), XS_OK);
    assert_int_equal(r.elements, 1); /* no more input was needed */
    xs_free(&xs);
    xb_free(&r.out);
    free(p);
}

static const char *const conds[] = {"not-well-formed",   "restricted-xml",   "unsupported-encoding",
                                    "invalid-namespace", "policy-violation", "resource-constraint"};

static void test_mutations(void **st)
{
    (void)st;
    char *m = malloc(sizeof fwd_in > sizeof valid ? sizeof fwd_in : sizeof valid);
    for (int it = 0; it < 20000; it++) {
        /* odd: the forwarding input, each element's xel_forward checked */
        const char *base = (it & 1) ? fwd_in : valid;
        size_t n = (it & 1) ? sizeof fwd_in - 1 : sizeof valid - 1;
        memcpy(m, base, n);
        int flips = 1 + rand_r(&seed) % 4;
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)rand_r(&seed) % n;
            int kind = rand_r(&seed) % 3;
            m[at] = kind == 0   ? (char)rand_r(&seed)
                    : kind == 1 ? "<>&'\"/=;: \0\xff"[rand_r(&seed) % 13]
                                : m[(size_t)rand_r(&seed) % n];
        }
        struct rec r = {.fwd = (it & 1) ? 2 : 0}; /* odd: xel_forward checked */
        xs_t xs;
        assert_int_equal(xs_init(&xs, &cbs, &r, (unsigned long)it, XS_MEM_DEFAULT, XS_STANZA_MAX),
                         0);
        size_t cut = (size_t)rand_r(&seed) % n;
        int rc = feed(&xs, m, cut, 0);
        if (rc == XS_OK)
            rc = feed(&xs, m + cut, n - cut, 0);
        if (rc == XS_ERROR) {
            int known = 0;
            for (size_t k = 0; k < sizeof conds / sizeof *conds; k++)
                known |= xs.err != NULL && strcmp(xs.err, conds[k]) == 0;
            if (!known)
                fail_msg("seed %u iteration %d: unknown error %s", seed, it, xs.err);
        }
        xs_free(&xs);
        xb_free(&r.out);
    }
    free(m);
}

int main(int argc, char **argv)
{
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : (unsigned)time(NULL);
    printf("test_xmpp_stream: seed %u\n", seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_any_chunking),  cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_memory_budget),       cmocka_unit_test(test_home_block),
        cmocka_unit_test(test_suspend_resume_stop), cmocka_unit_test(test_split_big_start_tag),
        cmocka_unit_test(test_mutations),           cmocka_unit_test(test_xml_prefix_element),
        cmocka_unit_test(test_whitespace_refs),     cmocka_unit_test(test_forward_raw),
        cmocka_unit_test(test_forward_tag_end),     cmocka_unit_test(test_big_stanza_in_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
