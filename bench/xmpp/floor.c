/* bench/xmpp/floor.c: what the work every XMPP server must do per message
 * costs on this machine, without any server around it.
 *
 * The XMPP bench (bench/xmpp.sh) charges a server with all the CPU its
 * processes use per message. Part of that is work no implementation under
 * the rules can skip: expat must tokenize every byte of the stanza
 * (the spec prescribes it as the parser), TLS must open the stanza's bytes
 * on the way in and seal them on the way out, and the kernel must take the
 * bytes off one loopback socket and put them on another. This program
 * measures those three on the bench's own stanza (bench/xmpp/xmpp_load.c:
 * a chat message with a 64-byte body to a full JID), in rounds of W stanzas
 * (the window: one read and one write carry W stanzas), and prints what one
 * message costs in each, so the closing notes can say how much of a
 * server's CPU per message is left to its own design.
 *
 * Usage: ea_bench_xmpp_floor [--window W] [--parsers P] [--rounds R]
 * CSV on stdout: xmpp_floor,PART,window,parsers,ns_per_msg
 *   expat_bare      expat (namespaces on, no handlers) over the stanzas
 *   expat_handlers  the same with start/end/text handlers that only count,
 *                   the hash salt set and reparse deferral off (xstream.c's
 *                   set-up), P parsers used in turn (P=1000: 1,000 clients'
 *                   parsers competing for the cache)
 *   tls_open_seal   AES-128-GCM open of the stanzas as one TLS record's
 *                   payload plus a seal of them as another (the c2s's
 *                   record work in and out; OpenSSL EVP, as libssl does)
 *   tcp_recv_send   CPU time of one recv of W stanzas from a loopback TCP
 *                   socket and one send of them to another (the server's
 *                   share of the kernel's work per message)
 *   sum             the four above but expat_bare: the floor
 */
#include <errno.h>
#include <expat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char stream_head[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='localhost' version='1.0'>";

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* W stanzas as the generator writes them, one after the other. */
static size_t make_round(char *buf, size_t cap, int window)
{
    size_t len = 0;
    for (int i = 0; i < window; i++) {
        char body[65];
        int n = snprintf(body, sizeof body, "%d:%u:%llu:", i, (unsigned)i * 7u, 1234567890123ull);
        memset(body + n, 'x', (size_t)(64 - n));
        body[64] = 0;
        int m = snprintf(buf + len, cap - len,
                         "<message to='u%05d@localhost/bench' type='chat' id='m%u'>"
                         "<body>%s</body></message>",
                         (i * 31) % 1000, (unsigned)i, body);
        if (m < 0 || (size_t)m >= cap - len) {
            fprintf(stderr, "floor: round buffer too small\n");
            exit(2);
        }
        len += (size_t)m;
    }
    return len;
}

static unsigned long counted;

static void XMLCALL on_start(void *u, const XML_Char *name, const XML_Char **atts)
{
    (void)u;
    (void)name;
    for (; atts[0] != NULL; atts += 2)
        counted++;
    counted++;
}

static void XMLCALL on_end(void *u, const XML_Char *name)
{
    (void)u;
    (void)name;
    counted++;
}

static void XMLCALL on_text(void *u, const XML_Char *s, int len)
{
    (void)u;
    (void)s;
    counted += (unsigned long)len;
}

static XML_Parser new_parser(int handlers, unsigned long salt)
{
    XML_Parser p = XML_ParserCreateNS("UTF-8", '\n');
    if (p == NULL) {
        fprintf(stderr, "floor: XML_ParserCreateNS failed\n");
        exit(1);
    }
    if (handlers) {
        XML_SetReturnNSTriplet(p, 1);
        XML_SetElementHandler(p, on_start, on_end);
        XML_SetCharacterDataHandler(p, on_text);
        XML_SetHashSalt(p, salt);
#ifdef EA_FLOOR_REPARSE
        XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
    }
    if (XML_Parse(p, stream_head, (int)strlen(stream_head), XML_FALSE) != XML_STATUS_OK) {
        fprintf(stderr, "floor: stream head: %s\n", XML_ErrorString(XML_GetErrorCode(p)));
        exit(1);
    }
    return p;
}

static double bench_expat(const char *round, size_t len, int window, int parsers, int handlers,
                          int rounds)
{
    XML_Parser *ps = calloc((size_t)parsers, sizeof *ps);
    if (ps == NULL)
        exit(1);
    for (int i = 0; i < parsers; i++)
        ps[i] = new_parser(handlers, 0x9e3779b97f4a7c15ul * (unsigned long)(i + 1));
    /* Warm up: every parser sees a round, so their tables exist. */
    for (int i = 0; i < parsers; i++)
        if (XML_Parse(ps[i], round, (int)len, XML_FALSE) != XML_STATUS_OK) {
            fprintf(stderr, "floor: %s\n", XML_ErrorString(XML_GetErrorCode(ps[i])));
            exit(1);
        }
    uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int r = 0; r < rounds; r++) {
        XML_Parser p = ps[r % parsers];
        if (XML_Parse(p, round, (int)len, XML_FALSE) != XML_STATUS_OK) {
            fprintf(stderr, "floor: %s\n", XML_ErrorString(XML_GetErrorCode(p)));
            exit(1);
        }
    }
    uint64_t t1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < parsers; i++)
        XML_ParserFree(ps[i]);
    free(ps);
    return (double)(t1 - t0) / ((double)rounds * window);
}

static void gcm(EVP_CIPHER_CTX *c, int enc, const unsigned char *key, const unsigned char *iv,
                const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    int n = 0;
    unsigned char aad[13] = {23, 3, 3, 0, 0};
    if (EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, aad, sizeof aad) != 1)
        goto bad;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
        goto bad;
    if (EVP_CipherUpdate(c, out, &n, in, (int)len) != 1 || EVP_CipherFinal_ex(c, out + n, &n) != 1)
        goto bad;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
        goto bad;
    return;
bad:
    fprintf(stderr, "floor: AES-GCM failed\n");
    exit(1);
}

static double bench_tls(const char *round, size_t len, int window, int rounds)
{
    unsigned char key[16] = {1, 2, 3}, iv[12] = {4, 5, 6}, tag[16];
    unsigned char *ct = malloc(len + 64), *pt = malloc(len + 64), *ct2 = malloc(len + 64);
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
    if (ct == NULL || pt == NULL || ct2 == NULL || e == NULL || d == NULL ||
        EVP_CipherInit_ex(e, EVP_aes_128_gcm(), NULL, NULL, NULL, 1) != 1 ||
        EVP_CipherInit_ex(d, EVP_aes_128_gcm(), NULL, NULL, NULL, 0) != 1)
        exit(1);
    gcm(e, 1, key, iv, (const unsigned char *)round, len, ct, tag);
    uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int r = 0; r < rounds; r++) {
        /* In: open the sender's record. Out: seal the recipient's. */
        gcm(d, 0, key, iv, ct, len, pt, tag);
        gcm(e, 1, key, iv, pt, len, ct2, tag);
        iv[11] ^= 1;
        gcm(e, 1, key, iv, (const unsigned char *)round, len, ct, tag);
    }
    uint64_t t1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    /* Take out the extra seal that made the next record to open. */
    uint64_t t2 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int r = 0; r < rounds; r++) {
        iv[11] ^= 1;
        gcm(e, 1, key, iv, (const unsigned char *)round, len, ct, tag);
    }
    uint64_t t3 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    free(ct);
    free(pt);
    free(ct2);
    double ns = (double)(t1 - t0) - (double)(t3 - t2);
    return ns / ((double)rounds * window);
}

static void tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0)
        goto bad;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof a) != 0)
        goto bad;
    fds[1] = accept(l, NULL, NULL);
    if (fds[1] < 0)
        goto bad;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    close(l);
    return;
bad:
    fprintf(stderr, "floor: loopback TCP: %s\n", strerror(errno));
    exit(1);
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            fprintf(stderr, "floor: send: %s\n", strerror(errno));
            exit(1);
        }
        p += n;
        len -= (size_t)n;
    }
}

static void recv_all(int fd, char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0) {
            fprintf(stderr, "floor: recv: %s\n", n == 0 ? "closed" : strerror(errno));
            exit(1);
        }
        p += n;
        len -= (size_t)n;
    }
}

/* The sender's bytes arrive on `in` (the client's socket as the server
 * sees it); the server reads them and writes them to `out`, whose peer
 * (the recipient) reads them. Only the server's recv and send are timed,
 * in CPU time, so the loopback delivery that the send runs in softirq is
 * charged to it as it is to a real server. */
static double bench_tcp(const char *round, size_t len, int window, int rounds)
{
    int a[2], b[2];
    tcp_pair(a); /* a[0]: the sending client, a[1]: the server's end */
    tcp_pair(b); /* b[0]: the server's end, b[1]: the recipient */
    char *buf = malloc(len);
    if (buf == NULL)
        exit(1);
    uint64_t timed = 0;
    for (int r = 0; r < rounds; r++) {
        send_all(a[0], round, len);
        uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        recv_all(a[1], buf, len);
        send_all(b[0], buf, len);
        uint64_t t1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        timed += t1 - t0;
        recv_all(b[1], buf, len);
    }
    free(buf);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    return (double)timed / ((double)rounds * window);
}

int main(int argc, char **argv)
{
    int window = 64, parsers = 1000, rounds = 20000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--window") == 0)
            window = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--parsers") == 0)
            parsers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--window W] [--parsers P] [--rounds R]\n", argv[0]);
            return 2;
        }
    }
    if (window < 1 || window > 1000 || parsers < 1 || parsers > 100000 || rounds < 1) {
        fprintf(stderr, "floor: window 1-1000, parsers 1-100000, rounds >= 1\n");
        return 2;
    }
    size_t cap = (size_t)window * 256;
    char *round = malloc(cap);
    if (round == NULL)
        return 1;
    size_t len = make_round(round, cap, window);
    double bare = bench_expat(round, len, window, 1, 0, rounds);
    double hand1 = bench_expat(round, len, window, 1, 1, rounds);
    double handp = bench_expat(round, len, window, parsers, 1, rounds);
    double tls = bench_tls(round, len, window, rounds);
    double tcp = bench_tcp(round, len, window, rounds < 5000 ? rounds : 5000);
    printf("bench,part,window,parsers,ns_per_msg\n");
    printf("xmpp_floor,expat_bare,%d,1,%.1f\n", window, bare);
    printf("xmpp_floor,expat_handlers,%d,1,%.1f\n", window, hand1);
    printf("xmpp_floor,expat_handlers,%d,%d,%.1f\n", window, parsers, handp);
    printf("xmpp_floor,tls_open_seal,%d,1,%.1f\n", window, tls);
    printf("xmpp_floor,tcp_recv_send,%d,1,%.1f\n", window, tcp);
    printf("xmpp_floor,sum,%d,%d,%.1f\n", window, parsers, handp + tls + tcp);
    fprintf(stderr,
            "floor: %zu bytes per round of %d stanzas (%zu per stanza); %lu events counted\n", len,
            window, len / (size_t)window, counted);
    free(round);
    return 0;
}
