#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdir.h"

void ea_test_mkdtemp(char *path, size_t size, const char *prefix)
{
    const char *t = getenv("TMPDIR");
    if (t == NULL || strlen(t) + EA_TEST_TMPDIR_ROOM >= size)
        t = "/tmp";
    snprintf(path, size, "%s/%sXXXXXX", t, prefix);
    assert_non_null(mkdtemp(path));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void ea_test_rmtree(const char *path)
{
    assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}
