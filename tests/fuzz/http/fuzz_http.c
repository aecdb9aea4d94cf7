/*
 * Fuzz target: the https example's request-head parser (examples/https/
 * http_head.h), fed as the handler feeds it (examples/https/handler.c,
 * on_data): the bytes of one connection go into a buffer of MAX_HEAD bytes,
 * and each complete head is parsed, until a verdict closes the connection.
 * Input: the bytes a client sends. Besides the sanitizers, it checks that a
 * verdict is one of three and that a request taken is made of bytes of its
 * own head only: its method and target lie inside the head, never in what
 * follows it (the next pipelined request, stale bytes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

#define MAX_HEAD 8192 /* as handler.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The request r taken from head[0..hlen) is made of the head's bytes. */
static void check_request(const char *head, size_t hlen, const struct http_req *r)
{
    size_t ml = strnlen(r->method, sizeof r->method), tl = strnlen(r->target, sizeof r->target);
    if (ml == sizeof r->method || tl == sizeof r->target || r->target[0] != '/')
        abort();
    /* The request line is "METHOD SP target SP HTTP/1.x" at the start. */
    if (ml + 1 + tl + 9 > hlen || memcmp(head, r->method, ml) != 0 || head[ml] != ' ' ||
        memcmp(head + ml + 1, r->target, tl) != 0 || head[ml + 1 + tl] != ' ')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[MAX_HEAD];
    size_t len = 0;
    /* The whole input as one buffer of exactly its bytes. */
    struct http_req r;
    size_t h = http_head_len((const char *)data, size);
    if (h > size)
        abort();
    int v = http_parse_head((const char *)data, h, &r);
    if (v != HTTP_OK && v != HTTP_BAD && v != HTTP_BODY)
        abort();
    if (h > 0 && v == HTTP_OK)
        check_request((const char *)data, h, &r);
    /* As the handler: the first byte says how the rest is cut into reads. */
    if (size == 0)
        return 0;
    size_t step = 1 + data[0] % 64;
    for (size_t off = 1; off < size;) {
        size_t n = size - off < step ? size - off : step;
        if (n > MAX_HEAD - len)
            n = MAX_HEAD - len;
        memcpy(buf + len, data + off, n);
        len += n;
        off += n;
        for (size_t hl; (hl = http_head_len(buf, len)) > 0;) {
            /* A copy of exactly the head: nothing past it can be read. */
            char *head = malloc(hl);
            if (head == NULL)
                return 0;
            memcpy(head, buf, hl);
            v = http_parse_head(head, hl, &r);
            if (v == HTTP_OK)
                check_request(head, hl, &r);
            free(head);
            if (v != HTTP_OK)
                return 0; /* 400 / 413: the connection closes */
            memmove(buf, buf + hl, len - hl);
            len -= hl;
        }
        if (len == MAX_HEAD)
            return 0; /* 413 */
    }
    return 0;
}
