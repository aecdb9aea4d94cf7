/*
 * Fuzz target: the platform service's request handling (src/trust/
 * pservice.c over src/platform/ipc_linux.c), in-process: the service state
 * is opened once (eai_pservice_open, a temporary platform directory), and
 * each input is a conversation of one enclave on a fresh SOCK_SEQPACKET
 * pair, served record by record with eai_pservice_serve_one.
 *
 * Input: a sequence of records, each
 *   kind (1 byte) | length (2 bytes, little-endian) | that many bytes
 * (fewer at the end of the input: zeros fill the rest). The low three bits
 * of kind choose the descriptors sent with the record: 0 none, 1 the sealed
 * image memfd, 2 an unsealed memfd, 3 /dev/null, 4 a pipe, 5 two in one
 * control message, 6 two in two control messages, 7 twenty. So record
 * sizes are arbitrary (0 included), and requests come before, with and
 * after EINIT.
 *
 * Oracles beyond the sanitizers: after each conversation this process has
 * exactly the descriptors it had before it (the service closed every one
 * it received), and every answer is one whole response record.
 *
 * Seeds are real requests: `EA_FUZZ_SEEDS=<dir> fuzz_pservice` writes them
 * and exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "platform/platform.h"
#include "trust/pservice.h"
#include "send_fds.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char image[] = "the fixed enclave image of the pservice fuzz target";
static const uint8_t signer[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static eai_pservice_t sv;
static char dir[64];
static int fd_sealed, fd_unsealed, fd_null, fd_pipe[2];

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        abort();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int memfd_with_image(int seal)
{
    int fd = memfd_create("img", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || write(fd, image, sizeof image - 1) != (ssize_t)(sizeof image - 1))
        abort();
    if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL))
        abort();
    return fd;
}

/* Removes the counters the last conversation created. */
static void clear_counters(void)
{
    int d = dup(sv.mc.dirfd);
    DIR *dp = d >= 0 ? fdopendir(d) : NULL;
    if (dp == NULL)
        abort();
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (e->d_name[0] != '.')
            (void)unlinkat(sv.mc.dirfd, e->d_name, 0);
    closedir(dp);
}

static void put_record(FILE *f, uint8_t kind, const void *buf, size_t len)
{
    uint8_t h[3] = {kind, (uint8_t)len, (uint8_t)(len >> 8)};
    if (fwrite(h, 1, 3, f) != 3 || fwrite(buf, 1, len, f) != len)
        abort();
}

static void seeds(const char *out)
{
    char path[4096];
    struct eai_ps_req einit, req;
    memset(&einit, 0, sizeof einit);
    einit.op = EAI_PS_EINIT;
    snprintf(einit.u.einit.image_name, sizeof einit.u.einit.image_name, "img");
    einit.u.einit.siglen = EAI_SIGSTRUCT_SIZE;
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = EA_FLAGS_MODE64BIT;
    s.isv_prod_id = 1;
    s.isv_svn = 1;
    if (eai_measure(image, sizeof image - 1, &s.attributes, s.mr_enclave) != EA_OK ||
        eai_sigstruct_sign(&s, signer) != EA_OK)
        abort();
    eai_sigstruct_encode(&s, einit.u.einit.sig);

    snprintf(path, sizeof path, "%s/session", out);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EREPORT; /* before EINIT: refused */
    put_record(f, 0, &req, sizeof req);
    put_record(f, 1, &einit, sizeof einit);
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EREPORT;
    put_record(f, 0, &req, sizeof req);
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EGETKEY;
    req.u.keyreq.key_name = EA_KEYSELECT_SEAL;
    req.u.keyreq.key_policy = EA_KEYPOLICY_MRSIGNER;
    req.u.keyreq.attribute_mask.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG;
    put_record(f, 0, &req, sizeof req);
    for (uint32_t op = EAI_MC_CREATE; op <= EAI_MC_DESTROY; op++) {
        memset(&req, 0, sizeof req);
        req.op = EAI_PS_MC;
        req.arg = op;
        put_record(f, 0, &req, sizeof req);
    }
    put_record(f, 1, &einit, sizeof einit); /* a second EINIT: refused */
    if (fclose(f) != 0)
        abort();

    static const struct {
        const char *name;
        uint8_t kind;
        size_t len;
    } one[] = {{"einit-unsealed", 2, sizeof einit},
               {"einit-devnull", 3, sizeof einit},
               {"einit-pipe", 4, sizeof einit},
               {"einit-two-fds", 5, sizeof einit},
               {"einit-two-cmsgs", 6, sizeof einit},
               {"einit-many-fds", 7, sizeof einit},
               {"einit-no-fd", 0, sizeof einit},
               {"empty-with-fd", 1, 0},
               {"short", 1, 10},
               {"long", 1, sizeof einit + 1}};
    uint8_t buf[sizeof einit + 1];
    memset(buf, 0, sizeof buf);
    memcpy(buf, &einit, sizeof einit);
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", out, one[i].name);
        f = fopen(path, "wb");
        if (f == NULL)
            abort();
        put_record(f, one[i].kind, buf, one[i].len);
        if (fclose(f) != 0)
            abort();
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The platform directory goes when the fuzzer exits. */
static void cleanup(void)
{
    eai_pservice_close(&sv);
    (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (eai_crypto_init() != EA_OK)
        abort();
    const char *out = getenv("EA_FUZZ_SEEDS");
    if (out != NULL) {
        seeds(out);
        exit(0);
    }
    snprintf(dir, sizeof dir, "/tmp/ea-fuzz-pservice-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    char err[256];
    if (eai_pservice_open(&sv, dir, err, sizeof err) != EA_OK) {
        fprintf(stderr, "fuzz_pservice: %s\n", err);
        abort();
    }
    atexit(cleanup);
    fd_sealed = memfd_with_image(1);
    fd_unsealed = memfd_with_image(0);
    fd_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd_null < 0 || pipe2(fd_pipe, O_CLOEXEC) != 0)
        abort();
    return 0;
}

/* Sends one record with the descriptors `kind` names; false if the
 * service's end is gone. */
static int send_record(int fd, uint8_t kind, const uint8_t *buf, size_t len)
{
    int fds[20];
    int nfds = 0, ncmsg = 1;
    switch (kind & 7) {
    case 1: fds[nfds++] = fd_sealed; break;
    case 2: fds[nfds++] = fd_unsealed; break;
    case 3: fds[nfds++] = fd_null; break;
    case 4: fds[nfds++] = fd_pipe[0]; break;
    case 5:
    case 6:
        fds[nfds++] = fd_sealed;
        fds[nfds++] = fd_null;
        ncmsg = (kind & 7) == 6 ? 2 : 1;
        break;
    case 7:
        for (int i = 0; i < 20; i++)
            fds[nfds++] = i % 2 ? fd_sealed : fd_pipe[1];
        break;
    default: break;
    }
    return ea_test_send_fds(fd, buf, len, fds, nfds, ncmsg == 2 ? 1 : nfds,
                            MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Counted around each conversation: libFuzzer opens files of its own
     * between inputs. */
    int baseline = count_fds();
    int pair[2];
    if (eai_msg_pair(pair) != EA_OK || eai_msg_want_sender(pair[1]) != EA_OK)
        abort();
    eai_ppeer_t peer = {.fd = pair[1]};
    static uint8_t rec[65536];
    while (size >= 3) {
        uint8_t kind = data[0];
        size_t len = (size_t)data[1] | (size_t)data[2] << 8;
        data += 3;
        size -= 3;
        size_t have = len < size ? len : size;
        memcpy(rec, data, have);
        memset(rec + have, 0, len - have);
        data += have;
        size -= have;
        if (!send_record(pair[0], kind, rec, len))
            break;
        if (!eai_pservice_serve_one(&sv, &peer))
            break;
        struct eai_ps_resp resp;
        ssize_t n = recv(pair[0], &resp, sizeof resp + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n != (ssize_t)sizeof resp)
            abort(); /* every request gets one whole answer */
    }
    close(pair[0]);
    close(pair[1]);
    clear_counters();
    int now = count_fds();
    if (now != baseline) {
        fprintf(stderr, "fuzz_pservice: %d descriptors open, %d before\n", now, baseline);
        abort();
    }
    return 0;
}
