/*
 * The platform service against a hostile enclave: a real service process
 * (eai_pservice_main, forked, confined as in a run) on socketpairs. One
 * socket plays the hostile enclave and sends malformed records (wrong
 * sizes, empty records, 0, 2 or many descriptors, descriptors of the wrong
 * kind); another plays a well-formed enclave. After each attack the
 * service's descriptor count (/proc/<pid>/fd) must not have grown and the
 * well-formed enclave must still be answered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "platform/platform.h"
#include "tmpdir.h"
#include "trust/pservice.h"
#include "send_fds.h"

static const char image[] = "an enclave image for the platform service test";

enum { NSOCK = 2, HOSTILE = 0, GOOD = 1 };

struct svc {
    char dir[64];
    pid_t pid;
    int fd[NSOCK]; /* our ends */
    char msg[256];
};

static void svc_start(struct svc *s)
{
    memset(s, 0, sizeof *s);
    ea_test_mkdtemp(s->dir, sizeof s->dir, "ea-pservice-");
    int theirs[NSOCK];
    for (int i = 0; i < NSOCK; i++) {
        int sv[2];
        assert_int_equal(eai_msg_pair(sv), EA_OK);
        assert_int_equal(eai_msg_want_sender(sv[1]), EA_OK);
        s->fd[i] = sv[0];
        theirs[i] = sv[1];
    }
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        for (int i = 0; i < NSOCK; i++)
            close(s->fd[i]);
        const eai_ps_opts_t po = {.development = false, .control = -1};
        eai_pservice_main(s->dir, &po, theirs, NSOCK, s->msg, sizeof s->msg);
    }
    for (int i = 0; i < NSOCK; i++)
        close(theirs[i]);
}

/* Closes our ends; the service must then end by itself with status 0. */
static void svc_stop(struct svc *s)
{
    for (int i = 0; i < NSOCK; i++)
        if (s->fd[i] >= 0)
            close(s->fd[i]);
    int status = 0;
    assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ea_test_rmtree(s->dir);
}

/* The service's open descriptors, or -1 if this process may not look. */
static int svc_fds(const struct svc *s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)s->pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Sends one record of `len` bytes with `nfds` descriptors, in `ncmsg`
 * control messages (1 or 2, half in each); returns sendmsg's result. */
static ssize_t send_raw(int fd, const void *buf, size_t len, const int *fds, int nfds, int ncmsg)
{
    return ea_test_send_fds(fd, buf, len, fds, nfds, ncmsg > 1 ? nfds / 2 : nfds, MSG_NOSIGNAL);
}

/* Waits for the service's answer to a record on `fd`: 1 an answer, 0 the
 * service closed the socket. */
static int await(int fd, struct eai_ps_resp *resp)
{
    ssize_t n = recv(fd, resp, sizeof *resp, 0);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
        return 0;
    assert_int_equal(n, (ssize_t)sizeof *resp);
    return 1;
}

/* A request the service answers before EINIT: EREPORT, refused with
 * EA_ERR_PERM. Proves the service still serves `fd`. */
static void ping(int fd)
{
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EREPORT;
    assert_int_equal(eai_msg_send(fd, &req, sizeof req, -1), EA_OK);
    assert_int_equal(await(fd, &resp), 1);
    assert_int_equal(resp.rc, EA_ERR_PERM);
}

/* A sealed memfd holding `image`. */
static int sealed_image(void)
{
    int fd = memfd_create("img", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, image, sizeof image - 1), (ssize_t)(sizeof image - 1));
    assert_int_equal(
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
    return fd;
}

static void einit_req(struct eai_ps_req *req)
{
    memset(req, 0, sizeof *req);
    req->op = EAI_PS_EINIT;
    snprintf(req->u.einit.image_name, sizeof req->u.einit.image_name, "img");
    req->u.einit.siglen = EAI_SIGSTRUCT_SIZE;
    fx_sign(image, sizeof image - 1, EA_FLAGS_MODE64BIT, 1, 1, fx_s1, req->u.einit.sig);
}

/* EINIT on `fd` with descriptor `img` (-1: none); returns the answer's rc. */
static int einit(int fd, int img, char *why, size_t whylen)
{
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    einit_req(&req);
    assert_int_equal(eai_msg_send(fd, &req, sizeof req, img), EA_OK);
    assert_int_equal(await(fd, &resp), 1);
    resp.u.einit.err[sizeof resp.u.einit.err - 1] = '\0';
    snprintf(why, whylen, "%s", resp.u.einit.err);
    return resp.rc;
}

/* The service's descriptor count once it has answered everything sent so
 * far (a ping on the well-formed socket is answered after them). */
static int settled_fds(struct svc *s)
{
    ping(s->fd[GOOD]);
    return svc_fds(s);
}

/* Sends `count` records of the request size with `nfds` descriptors each
 * on the hostile socket (stopping when the service cuts it off) and checks
 * the service's descriptors stay flat and the good socket is served. */
static void attack_with_fds(int nfds, int ncmsg, int count, size_t len)
{
    struct svc s;
    svc_start(&s);
    int before = settled_fds(&s);
    int *fds = calloc((size_t)nfds + 1, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < nfds; i++)
        fds[i] = i % 2 ? sealed_image() : open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct eai_ps_req req;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EREPORT;
    char *buf = calloc(1, len + 1);
    memcpy(buf, &req, len < sizeof req ? len : sizeof req);
    int answered = 0;
    for (int i = 0; i < count; i++) {
        if (send_raw(s.fd[HOSTILE], buf, len, fds, nfds, ncmsg) < 0)
            break;
        struct eai_ps_resp resp;
        if (!await(s.fd[HOSTILE], &resp))
            break;
        answered++;
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    free(fds);
    free(buf);
    int after = settled_fds(&s);
    print_message("%d descriptor(s) x %d cmsg, %zu bytes: %d answered, service fds %d -> %d\n",
                  nfds, ncmsg, len, answered, before, after);
    if (before < 0)
        skip();
    /* The hostile socket itself may be gone (cut off): never more. */
    assert_true(after <= before);
    svc_stop(&s);
}

static void test_two_fds_one_cmsg(void **state)
{
    (void)state;
    attack_with_fds(2, 1, 100, sizeof(struct eai_ps_req));
}

static void test_two_fds_two_cmsgs(void **state)
{
    (void)state;
    attack_with_fds(2, 2, 100, sizeof(struct eai_ps_req));
}

static void test_many_fds(void **state)
{
    (void)state;
    attack_with_fds(200, 1, 20, sizeof(struct eai_ps_req));
}

static void test_zero_length_with_fd(void **state)
{
    (void)state;
    attack_with_fds(1, 1, 100, 0);
}

static void test_short_record_with_fd(void **state)
{
    (void)state;
    attack_with_fds(1, 1, 100, 1);
}

static void test_long_record_with_fds(void **state)
{
    (void)state;
    attack_with_fds(3, 2, 100, sizeof(struct eai_ps_req) + 1);
}

/* Record sizes around and far from the request size, without descriptors:
 * each cuts the hostile socket off, nothing else changes. */
static void test_record_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, sizeof(struct eai_ps_req) - 1,
                                   sizeof(struct eai_ps_req) + 1, 65536};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        attack_with_fds(0, 1, 3, sizes[k]);
}

/* An enclave that closes its socket at once (POLLHUP with nothing to
 * read): the service must not act on a descriptor it never received, keeps
 * serving the others and ends cleanly when the last one closes. */
static void test_hangup(void **state)
{
    (void)state;
    struct svc s;
    svc_start(&s);
    int before = settled_fds(&s);
    close(s.fd[HOSTILE]);
    s.fd[HOSTILE] = -1;
    int after = settled_fds(&s);
    char why[256];
    int img = sealed_image();
    assert_int_equal(einit(s.fd[GOOD], img, why, sizeof why), EA_OK);
    close(img);
    if (before >= 0)
        assert_int_equal(after, before - 1);
    svc_stop(&s);
}

/* The receive itself: on a closed socket no descriptor is reported, even
 * if the caller's variable held one before. */
static void test_recv_hangup_reports_no_fd(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(eai_msg_pair(sv), EA_OK);
    close(sv[0]);
    struct eai_ps_req req;
    int passed = 12345;
    pid_t sender = 777;
    assert_int_equal(eai_msg_recv_from(sv[1], &req, sizeof req, &passed, &sender), EA_ERR_STOPPED);
    assert_int_equal(passed, -1);
    assert_int_equal(sender, 0);
    close(sv[1]);
}

/* EINIT with the wrong descriptors: none, a regular file, a pipe, an
 * unsealed memfd, a memfd sealed for writing only; each refused with a
 * reason, none leaked; then the real one is accepted and a second EINIT is
 * refused. Requests before EINIT are refused. */
static void test_einit_descriptors(void **state)
{
    (void)state;
    struct svc s;
    svc_start(&s);
    int before = settled_fds(&s);
    char why[256];
    int fd = s.fd[HOSTILE];
    struct eai_ps_req req;
    struct eai_ps_resp resp;
    memset(&req, 0, sizeof req);
    req.op = EAI_PS_EGETKEY;
    assert_int_equal(eai_msg_send(fd, &req, sizeof req, -1), EA_OK);
    assert_int_equal(await(fd, &resp), 1);
    assert_int_equal(resp.rc, EA_ERR_PERM);
    req.op = EAI_PS_MC;
    req.arg = EAI_MC_CREATE;
    assert_int_equal(eai_msg_send(fd, &req, sizeof req, -1), EA_OK);
    assert_int_equal(await(fd, &resp), 1);
    assert_int_equal(resp.rc, EA_ERR_PERM);

    assert_int_equal(einit(fd, -1, why, sizeof why), EA_ERR_PERM);
    assert_non_null(strstr(why, "sealed copy"));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal(einit(fd, devnull, why, sizeof why), EA_ERR_PERM);
    close(devnull);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(einit(fd, p[0], why, sizeof why), EA_ERR_PERM);
    close(p[0]);
    close(p[1]);
    int mfd = memfd_create("img", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(write(mfd, image, sizeof image - 1), (ssize_t)(sizeof image - 1));
    assert_int_equal(einit(fd, mfd, why, sizeof why), EA_ERR_PERM);
    assert_int_equal(fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE), 0);
    assert_int_equal(einit(fd, mfd, why, sizeof why), EA_ERR_PERM);
    close(mfd);
    int empty = memfd_create("empty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(
        fcntl(empty, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
    assert_int_equal(einit(fd, empty, why, sizeof why), EA_ERR_PERM);
    close(empty);
    assert_int_equal(svc_fds(&s), before);

    int img = sealed_image();
    assert_int_equal(einit(fd, img, why, sizeof why), EA_OK);
    assert_int_equal(einit(fd, img, why, sizeof why), EA_ERR_PERM);
    assert_non_null(strstr(why, "already initialised"));
    close(img);
    req.op = EAI_PS_EGETKEY;
    req.u.keyreq.key_name = EA_KEYSELECT_REPORT;
    assert_int_equal(eai_msg_send(fd, &req, sizeof req, -1), EA_OK);
    assert_int_equal(await(fd, &resp), 1);
    assert_int_equal(resp.rc, EA_OK);
    if (before >= 0)
        assert_int_equal(settled_fds(&s), before);
    svc_stop(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_fds_one_cmsg),
        cmocka_unit_test(test_two_fds_two_cmsgs),
        cmocka_unit_test(test_many_fds),
        cmocka_unit_test(test_zero_length_with_fd),
        cmocka_unit_test(test_short_record_with_fd),
        cmocka_unit_test(test_long_record_with_fds),
        cmocka_unit_test(test_record_sizes),
        cmocka_unit_test(test_hangup),
        cmocka_unit_test(test_recv_hangup_reports_no_fd),
        cmocka_unit_test(test_einit_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
