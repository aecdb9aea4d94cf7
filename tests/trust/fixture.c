#include "fixture.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

const uint8_t fx_s1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                           17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
const uint8_t fx_s2[32] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
                           0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
                           0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0};

void fx_platforms_open(struct fx_platforms *p)
{
    char err[256] = "";
    ea_test_mkdtemp(p->dir, sizeof p->dir, "ea-trust-");
    ea_test_mkdtemp(p->dir2, sizeof p->dir2, "ea-trust-");
    assert_int_equal(eai_pcore_open(&p->pc, p->dir, err, sizeof err), EA_OK);
    assert_int_equal(eai_pcore_open(&p->pc2, p->dir2, err, sizeof err), EA_OK);
}

void fx_platforms_close(struct fx_platforms *p)
{
    eai_trust_bind(NULL);
    eai_pcore_close(&p->pc);
    eai_pcore_close(&p->pc2);
    ea_test_rmtree(p->dir);
    ea_test_rmtree(p->dir2);
}

void fx_as(const eai_local_platform_t *lp)
{
    eai_trust_bind(&lp->ops);
}

void fx_sign(const void *image, size_t len, uint64_t flags, uint16_t prod_id, uint16_t svn,
             const uint8_t priv[32], uint8_t sig[EAI_SIGSTRUCT_SIZE])
{
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = flags;
    s.isv_prod_id = prod_id;
    s.isv_svn = svn;
    s.date = 1700000000;
    assert_int_equal(eai_measure(image, len, &s.attributes, s.mr_enclave), EA_OK);
    assert_int_equal(eai_sigstruct_sign(&s, priv), EA_OK);
    eai_sigstruct_encode(&s, sig);
}

void fx_identity(const char *image, uint64_t flags, uint16_t prod_id, uint16_t svn,
                 const uint8_t priv[32], eai_identity_t *id)
{
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    char err[256] = "";
    fx_sign(image, strlen(image), flags, prod_id, svn, priv, sig);
    int rc =
        eai_einit(image, strlen(image), sig, sizeof sig, "img", "img.sig", id, err, sizeof err);
    if (rc != EA_OK)
        fail_msg("einit: %s", err);
}

int fx_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}
