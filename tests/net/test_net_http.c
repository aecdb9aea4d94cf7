/*
 * Tests of the https example's request-head parser (examples/https/
 * http_head.h), as an attacker would feed it. Every input is copied into a
 * heap block of exactly its length, so under ASan (the EA_SANITIZE build) a
 * read of even one byte past what was received is a crash: heads that end
 * exactly at the end of the buffer, heads with no terminator, digits of
 * Content-Length that run to the end, NUL bytes inside; then every prefix
 * of a set of requests, and random mutations of them (the seed is printed;
 * argv[1] sets it).
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

#include "http_head.h"

static unsigned seed;

/* The n bytes at p in a heap block of exactly n bytes (1 for n == 0). */
static char *exact(const void *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    assert_non_null(b);
    memcpy(b, p, n);
    return b;
}

/* http_parse_head on exactly n bytes; also http_head_len on them. */
static int parse_n(const char *p, size_t n, struct http_req *r, size_t *hlen)
{
    char *b = exact(p, n);
    size_t h = http_head_len(b, n);
    int v = http_parse_head(b, n, r);
    free(b);
    if (hlen != NULL)
        *hlen = h;
    return v;
}

static int parse(const char *s, struct http_req *r)
{
    return parse_n(s, strlen(s), r, NULL);
}

static void test_valid(void **state)
{
    (void)state;
    struct http_req r;
    size_t hlen;
    const char *get = "GET /index.html?x=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    /* The head ends exactly at the end of the buffer. */
    assert_int_equal(parse_n(get, strlen(get), &r, &hlen), HTTP_OK);
    assert_int_equal(hlen, strlen(get));
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.target, "/index.html?x=1");
    assert_int_equal(r.keep, 1);
    assert_int_equal(parse("HEAD / HTTP/1.0\r\n\r\n", &r), HTTP_OK);
    assert_string_equal(r.method, "HEAD");
    assert_int_equal(r.keep, 0);
    /* Connection options, any case, in a list, the last one wins. */
    assert_int_equal(parse("GET / HTTP/1.1\r\nconnection:  Keep-Alive, CLOSE \r\n\r\n", &r),
                     HTTP_OK);
    assert_int_equal(r.keep, 0);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), HTTP_OK);
    assert_int_equal(r.keep, 1);
    /* "closed" is not "close". */
    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", &r), HTTP_OK);
    assert_int_equal(r.keep, 1);
    /* Bare LF line ends; a zero Content-Length is no body. */
    assert_int_equal(parse("GET / HTTP/1.1\nContent-Length: 000\n\r\n", &r), HTTP_OK);
    /* Pipelined: the first head only. */
    const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    char *b = exact(two, strlen(two));
    assert_int_equal(http_head_len(b, strlen(two)), 19);
    free(b);
    /* The longest target that fits, and one byte more. */
    char line[HTTP_TARGET_MAX + 64];
    memset(line, 'a', sizeof line);
    memcpy(line, "GET /", 5);
    memcpy(line + 4 + HTTP_TARGET_MAX - 1, " HTTP/1.1\r\n\r\n", 13);
    assert_int_equal(parse_n(line, 4 + HTTP_TARGET_MAX - 1 + 13, &r, NULL), HTTP_OK);
    assert_int_equal(strlen(r.target), HTTP_TARGET_MAX - 1);
    line[4 + HTTP_TARGET_MAX - 1] = 'a';
    memcpy(line + 4 + HTTP_TARGET_MAX, " HTTP/1.1\r\n\r\n", 13);
    assert_int_equal(parse_n(line, 4 + HTTP_TARGET_MAX + 13, &r, NULL), HTTP_BAD);
}

static void test_body(void **state)
{
    (void)state;
    struct http_req r;
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &r), HTTP_BODY);
    /* Too large for any integer: still a body, no overflow to get wrong. */
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: "
                           "184467440737095516160000000000000000001\r\n\r\n",
                           &r),
                     HTTP_BODY);
    assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), HTTP_BODY);
    /* A body announced, then a malformed line: malformed wins. */
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\nbad line\r\n\r\n", &r),
                     HTTP_BAD);
}

static void test_malformed(void **state)
{
    (void)state;
    struct http_req r;
    static const char *bad[] = {
        "",
        "\r\n\r\n",
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1",                                         /* no terminator at all */
        "GET / HTTP/1.1\r\n",                                     /* no empty line */
        "GET / HTTP/1.1\r\nHost: x",                              /* last line has no end */
        "GET / HTTP/1.1\r\nContent-Length:",                      /* ends on the colon */
        "GET / HTTP/1.1\r\nContent-Length: 12345678901234567890", /* digits to the end */
        "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        "GETTINGMUCHTOOLONGMETHOD / HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET /\x7f HTTP/1.1\r\n\r\n",
        "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int v = parse(bad[i], &r);
        if (v != HTTP_BAD)
            fprintf(stderr, "case %zu: '%s' -> %d\n", i, bad[i], v);
        assert_int_equal(v, HTTP_BAD);
    }
    /* A NUL inside the target: C string functions would stop there. */
    static const char nul[] = "GET /a\0b HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_n(nul, sizeof nul - 1, &r, NULL), HTTP_BAD);
    /* A NUL in a header value is only a value (ignored header). */
    static const char nulh[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    assert_int_equal(parse_n(nulh, sizeof nulh - 1, &r, NULL), HTTP_OK);
}

/* The fuzz finding tests/fuzz/http/corpus/regress-line-beyond-head: a
 * request line without a target ends its head at once, and the next
 * pipelined request's target was once taken as its own (/secret.txt was
 * served). The head is only the first 7 bytes, it is malformed, and nothing
 * after it is read. */
static void test_line_beyond_head(void **state)
{
    (void)state;
    struct http_req r;
    static const char in[] = "GET\r\n\r\n/secret.txt HTTP/1.1\r\n\r\n";
    size_t n = sizeof in - 1, hlen;
    char *b = exact(in, n);
    hlen = http_head_len(b, n);
    assert_int_equal(hlen, 7);
    assert_int_equal(http_parse_head(b, hlen, &r), HTTP_BAD);
    /* Given every byte, the parser still stops at the first empty line. */
    assert_int_equal(http_parse_head(b, n, &r), HTTP_BAD);
    free(b);
    /* The same with bare LF line ends, and with the method alone plus a
     * space: no target is taken from beyond the line. */
    assert_int_equal(parse("GET\n\n/secret.txt HTTP/1.1\n\n", &r), HTTP_BAD);
    assert_int_equal(parse("GET \r\n\r\n/secret.txt HTTP/1.1\r\n\r\n", &r), HTTP_BAD);
    assert_int_equal(parse("GET /\r\n\r\n/secret.txt HTTP/1.1\r\n\r\n", &r), HTTP_BAD);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /secret.txt HTTP/1.1\r\n\r\n", &r),
                     HTTP_OK);
    assert_string_equal(r.target, "/");
}

/* Requests whose every prefix and mutation is parsed below. */
static const char *corpus[] = {
    "GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n",
    "HEAD /style.css HTTP/1.0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999999999999\r\n\r\n",
    "GET / HTTP/1.1\nTransfer-Encoding: chunked\n\n",
};

/* Every prefix of each request, each in a block of exactly its length:
 * only the complete one may be accepted, and nothing is read past the end
 * (ASan). */
static void test_prefixes(void **state)
{
    (void)state;
    struct http_req r;
    for (size_t k = 0; k < sizeof corpus / sizeof corpus[0]; k++) {
        size_t n = strlen(corpus[k]);
        for (size_t len = 0; len < n; len++) {
            size_t hlen;
            int v = parse_n(corpus[k], len, &r, &hlen);
            assert_int_equal(hlen, 0);
            assert_int_equal(v, HTTP_BAD);
        }
        assert_int_not_equal(parse_n(corpus[k], n, &r, NULL), HTTP_BAD);
    }
}

/* Random bytes changed, inserted or cut in the requests; the verdict may be
 * anything, but it is one of the three, and on HTTP_OK the fields are
 * terminated inside their size. */
static void test_mutations(void **state)
{
    (void)state;
    struct http_req r;
    static const char alphabet[] = "\r\n :,0123456789\0\t/aGET";
    srand(seed);
    for (int round = 0; round < 200000; round++) {
        const char *src = corpus[(size_t)rand() % (sizeof corpus / sizeof corpus[0])];
        char buf[256];
        size_t n = strlen(src);
        memcpy(buf, src, n);
        for (int m = rand() % 4; m >= 0; m--) {
            size_t at = n ? (size_t)rand() % n : 0;
            char c = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
            switch (rand() % 3) {
            case 0: buf[at] = c; break;
            case 1:
                if (n < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
                break;
            default: n = at; break;
            }
        }
        int v = parse_n(buf, n, &r, NULL);
        assert_true(v == HTTP_OK || v == HTTP_BAD || v == HTTP_BODY);
        if (v == HTTP_OK) {
            assert_non_null(memchr(r.method, '\0', sizeof r.method));
            assert_non_null(memchr(r.target, '\0', sizeof r.target));
        }
    }
}

int main(int argc, char **argv)
{
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : (unsigned)time(NULL);
    printf("seed %u\n", seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),     cmocka_unit_test(test_body),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_line_beyond_head),
        cmocka_unit_test(test_prefixes),  cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
