/*
 * Test helper: private temporary directories for tests that need files.
 */
#ifndef EA_TEST_TMPDIR_H
#define EA_TEST_TMPDIR_H

#include <stddef.h>

/* Bytes of the path buffer kept free for the directory's own name and for
 * the names a test makes below it. */
#define EA_TEST_TMPDIR_ROOM 24

/* Creates a fresh 0700 directory named `prefix`XXXXXX under TMPDIR and
 * writes its path to `path` (`size` bytes). TMPDIR is used when it is
 * shorter than size - EA_TEST_TMPDIR_ROOM, /tmp otherwise. Aborts the test
 * (cmocka assertion) on failure. */
void ea_test_mkdtemp(char *path, size_t size, const char *prefix);
/* Removes the directory tree at `path`; asserts success. */
void ea_test_rmtree(const char *path);

#endif
