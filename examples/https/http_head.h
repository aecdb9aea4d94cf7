/*
 * https, parsing of an HTTP/1.1 request head: the handler's (handler.c)
 * only reader of request bytes, kept apart so that a unit test can call it
 * on buffers that end exactly where the bytes end (tests/net/test_net_http.c,
 * run under ASan).
 *
 * Design notes. The bytes come from the network and are not NUL-terminated:
 * the handler keeps them in a fixed buffer, and what follows a head is the
 * next pipelined request, stale bytes or the end of the buffer. So nothing
 * here calls a C string function (sscanf, strtoul, strstr, strcasestr) on
 * request bytes: every byte read is at an index checked against the length
 * given, and what is handed on (method, target) is copied into fields of a
 * fixed size and terminated there. Content-Length is never converted to a
 * number: the handler accepts no body, so it only matters whether some digit
 * is not 0, which also leaves no overflow to get wrong. A request that
 * announces a body (Content-Length > 0, or any Transfer-Encoding) is
 * refused, because the body's bytes would otherwise be read as the next
 * request.
 *
 * Header only (static inline): the example's image and the test each build
 * their own copy from this one source.
 */
#ifndef HTTPS_HTTP_HEAD_H
#define HTTPS_HTTP_HEAD_H

#include <stddef.h>
#include <string.h>

#define HTTP_METHOD_MAX 16  /* bytes of the method field, NUL included */
#define HTTP_TARGET_MAX 300 /* bytes of the target field, NUL included */

enum http_verdict {
    HTTP_OK = 0,   /* a request to answer */
    HTTP_BAD = 1,  /* malformed: 400 */
    HTTP_BODY = 2, /* announces a body, which we do not accept: 413 */
};

struct http_req {
    char method[HTTP_METHOD_MAX];
    char target[HTTP_TARGET_MAX];
    int keep; /* keep the connection open after the response */
};

/* The length of the head at buf (request line, headers and the empty line
 * that ends them, "\r\n\r\n"), or 0 if the len bytes hold no complete head. */
static inline size_t http_head_len(const char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return i + 4;
    return 0;
}

static inline char http_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Are the n bytes at p equal to the lower-case word w, ignoring case? */
static inline int http_is(const char *p, size_t n, const char *w)
{
    if (n != strlen(w))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (http_lower(p[i]) != w[i])
            return 0;
    return 1;
}

/* A token of RFC 9110 (method, header name). */
static inline int http_tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Copies the bytes [*i, first SP) of line[0..n) to out (room bytes, NUL
 * included), each accepted by ok; *i ends on the byte after them. Returns 0
 * if there are none, too many, or one that is not ok. */
static inline int http_field(const char *line, size_t n, size_t *i, int (*ok)(char), char *out,
                             size_t room)
{
    size_t start = *i;
    while (*i < n && line[*i] != ' ') {
        if (!ok(line[*i]) || *i - start + 1 >= room)
            return 0;
        (*i)++;
    }
    if (*i == start)
        return 0;
    memcpy(out, line + start, *i - start);
    out[*i - start] = '\0';
    return 1;
}

/* A byte of a request target: visible ASCII (no space, no control). */
static inline int http_vchar(char c)
{
    return c > ' ' && c < 0x7f;
}

/* The request line line[0..n) (no line end): "METHOD SP target SP version". */
static inline int http_request_line(const char *line, size_t n, struct http_req *r)
{
    size_t i = 0;
    if (!http_field(line, n, &i, http_tchar, r->method, sizeof r->method) || i == n)
        return HTTP_BAD;
    i++;
    if (!http_field(line, n, &i, http_vchar, r->target, sizeof r->target) || i == n ||
        r->target[0] != '/')
        return HTTP_BAD;
    i++;
    if (n - i != 8 || memcmp(line + i, "HTTP/1.", 7) != 0 ||
        (line[i + 7] != '1' && line[i + 7] != '0'))
        return HTTP_BAD;
    r->keep = line[i + 7] == '1'; /* HTTP/1.1 keeps the connection by default */
    return HTTP_OK;
}

/* The value v[0..n) of a Connection header: comma-separated options. */
static inline void http_connection(const char *v, size_t n, struct http_req *r)
{
    for (size_t i = 0; i < n;) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i++;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (http_is(v + s, e - s, "close"))
            r->keep = 0;
        else if (http_is(v + s, e - s, "keep-alive"))
            r->keep = 1;
    }
}

/* The value v[0..n) of a Content-Length header: digits only. */
static inline int http_content_length(const char *v, size_t n)
{
    int body = 0;
    if (n == 0)
        return HTTP_BAD;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return HTTP_BAD;
        body |= v[i] != '0';
    }
    return body ? HTTP_BODY : HTTP_OK;
}

/* One header line line[0..n) (no line end): "name: OWS value OWS". */
static inline int http_header(const char *line, size_t n, struct http_req *r)
{
    size_t i = 0;
    while (i < n && http_tchar(line[i]))
        i++;
    if (i == 0 || i == n || line[i] != ':')
        return HTTP_BAD; /* also an obsolete folded line (it starts with a space) */
    const char *name = line;
    size_t nlen = i++;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    if (http_is(name, nlen, "connection"))
        http_connection(line + i, e - i, r);
    else if (http_is(name, nlen, "content-length"))
        return http_content_length(line + i, e - i);
    else if (http_is(name, nlen, "transfer-encoding"))
        return HTTP_BODY;
    return HTTP_OK;
}

/*
 * Parses the request head head[0..len), as http_head_len measured it (any
 * bytes are safe: nothing past head[len - 1] is read). Lines end in CRLF or
 * LF; the head ends at the first empty line and a head without one is
 * HTTP_BAD. On HTTP_OK, *r holds the method and the target (NUL-terminated)
 * and whether to keep the connection; otherwise *r is undefined.
 */
static inline int http_parse_head(const char *head, size_t len, struct http_req *r)
{
    memset(r, 0, sizeof *r);
    int verdict = HTTP_OK;
    for (size_t i = 0, nline = 0; i < len; nline++) {
        const char *nl = memchr(head + i, '\n', len - i);
        if (nl == NULL)
            return HTTP_BAD; /* the last line has no end */
        size_t end = (size_t)(nl - head);
        size_t n = end - i;
        if (n > 0 && head[end - 1] == '\r')
            n--;
        if (n == 0)
            return nline > 0 ? verdict : HTTP_BAD; /* the empty line ends the head */
        int v = nline == 0 ? http_request_line(head + i, n, r) : http_header(head + i, n, r);
        if (v == HTTP_BAD)
            return HTTP_BAD;
        if (v == HTTP_BODY)
            verdict = HTTP_BODY; /* a later malformed line still makes it a 400 */
        i = end + 1;
    }
    return HTTP_BAD;
}

#endif
