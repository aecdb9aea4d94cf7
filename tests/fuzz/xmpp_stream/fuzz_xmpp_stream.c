/*
 * Fuzz target: the XMPP example's stream parser (examples/xmpp/xstream.c)
 * as the c2s actor drives it. Input: one byte choosing how the rest is cut
 * into reads (1 to 256 bytes, or random from the following bytes), then the
 * bytes a client sends. Each element stops the parser now and then (as
 * <starttls/> does) and the stream restarts on the rest, as after STARTTLS
 * or SASL. Besides the sanitizers it checks the memory budget, that errors
 * are named conditions, and that every serialized element parses again to
 * the same serialization (the escaping and namespace output are sound), as
 * does each element as c2s forwards it (xel_forward: the bytes that arrived
 * when they mean the same).
 * The state machine in c2s.c has its own target, xmpp_c2s.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR                                                \
    "<stream:stream to='localhost' xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

static const char *const conds[] = {"not-well-formed",   "restricted-xml",   "unsupported-encoding",
                                    "invalid-namespace", "policy-violation", "resource-constraint"};

struct ctx {
    unsigned n;
    xbuf_t *again; /* the re-parse's output */
};

static void again_el(void *c, xs_t *xs, xel_t *el)
{
    struct ctx *x = c;
    (void)xs;
    xel_write(x->again, el, XS_NS_CLIENT, NULL);
}

/* `in` (a serialization, or the stanza as c2s forwards it: xel_forward
 * sends the bytes that arrived when they mean the same) parses back to the
 * serialization `ser`. Serializing can add namespace declarations (one per
 * namespaced attribute): only the limits may refuse the copy. */
static void check_parses_to(const xbuf_t *in, const xbuf_t *ser)
{
    xbuf_t out = {0};
    struct ctx x = {0, &out};
    xs_cbs_t cbs = {NULL, again_el, NULL};
    xs_t xs;
    if (xs_init(&xs, &cbs, &x, 7, 64u << 20, 16u << 20) != 0)
        abort();
    int rc = xs_feed(&xs, HDR, sizeof HDR - 1);
    if (rc == XS_OK)
        rc = xs_feed(&xs, in->p, in->len);
    if (rc == XS_ERROR && strcmp(xs.err, "policy-violation") != 0)
        abort();
    if (rc == XS_OK && (out.len != ser->len || memcmp(out.p, ser->p, ser->len) != 0))
        abort();
    xs_free(&xs);
    xb_free(&out);
}

static void on_el(void *c, xs_t *xs, xel_t *el)
{
    struct ctx *x = c;
    xbuf_t b = {0}, f = {0};
    const char *from = (x->n & 1) ? "a@localhost/r" : NULL;
    xel_write(&b, el, XS_NS_CLIENT, from);
    xel_forward(&f, xs, el, from);
    if (b.failed || f.failed)
        abort();
    check_parses_to(&b, &b);
    check_parses_to(&f, &b);
    xb_free(&b);
    xb_free(&f);
    if (++x->n % 3 == 0)
        xs_stop(xs); /* as at <starttls/>: the rest of this read is dropped */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    struct ctx x = {0, NULL};
    xs_cbs_t cbs = {NULL, on_el, NULL};
    xs_t xs;
    if (xs_init(&xs, &cbs, &x, 1, 1u << 20, XS_STANZA_PREAUTH) != 0)
        return 0;
    size_t off = 0;
    unsigned restarts = 0;
    while (off < size) {
        size_t k = mode == 0 ? 1 + data[off] % 61 : mode;
        if (k > size - off)
            k = size - off;
        char *b = malloc(k); /* exactly the read, for ASan */
        memcpy(b, data + off, k);
        int rc = xs_feed(&xs, b, k);
        free(b);
        off += k;
        if (xs.mem_used > xs.mem_max)
            abort();
        if (rc == XS_ERROR) {
            int known = 0;
            for (size_t i = 0; i < sizeof conds / sizeof *conds; i++)
                known |= strcmp(xs.err, conds[i]) == 0;
            if (!known)
                abort();
            break;
        }
        if (rc == XS_STOPPED) {
            if (++restarts > 8 || xs_restart(&xs, XS_STANZA_MAX) != 0)
                break;
        }
    }
    xs_free(&xs);
    return 0;
}
