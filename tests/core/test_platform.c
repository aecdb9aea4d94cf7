/* Unit tests of the platform layer and of the image reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "platform/platform.h"
#include "runtime/image.h"

static const char *image_path; /* a real image, from argv */

static void test_sealed_memfd(void **state)
{
    (void)state;
    char err[256];
    int fd;
    size_t size;
    assert_int_equal(eai_memfd_from_file(image_path, &fd, &size, err, sizeof err), EA_OK);
    assert_true(size > 0);
    /* The copy is sealed: no write, no growth, no shrinking. */
    assert_true(write(fd, "x", 1) < 0);
    assert_true(ftruncate(fd, 0) != 0);
    assert_true(ftruncate(fd, (off_t)size * 2) != 0);
    close(fd);
    assert_int_equal(eai_memfd_from_file("/nonexistent/x.so", &fd, &size, err, sizeof err),
                     EA_ERR_SYS);
    assert_non_null(strstr(err, "cannot open '/nonexistent/x.so'"));
}

static void *noop(void *arg)
{
    return arg;
}

static void test_pin_error_names_cpu(void **state)
{
    (void)state;
    char err[160];
    eai_thread_t t;
    int cpus[] = {4000};
    assert_int_equal(eai_thread_start(&t, cpus, 1, noop, NULL, err, sizeof err), EA_ERR_SYS);
    assert_non_null(strstr(err, "cannot pin to CPU 4000"));
    int ok[] = {0};
    assert_int_equal(eai_thread_start(&t, ok, 1, noop, NULL, err, sizeof err), EA_OK);
    assert_int_equal(eai_thread_join(&t), EA_OK);
}

static _Atomic uint32_t word;

static void *waker(void *arg)
{
    (void)arg;
    atomic_store(&word, 1);
    eai_futex_wake(&word, 1);
    return NULL;
}

static void test_futex(void **state)
{
    (void)state;
    /* A wait on a value that differs returns at once; a timed wait ends. */
    atomic_store(&word, 5);
    eai_futex_wait(&word, 4, 0);
    eai_futex_wait(&word, 5, 1000000);
    atomic_store(&word, 0);
    char err[64];
    eai_thread_t t;
    assert_int_equal(eai_thread_start(&t, NULL, 0, waker, NULL, err, sizeof err), EA_OK);
    while (atomic_load(&word) == 0)
        eai_futex_wait(&word, 0, 0);
    assert_int_equal(eai_thread_join(&t), EA_OK);
}

static void test_shm(void **state)
{
    (void)state;
    int fd;
    void *p;
    assert_int_equal(eai_shm_create("test", 1 << 20, &fd, &p), EA_OK);
    memset(p, 0xab, 1 << 20);
    eai_shm_destroy(fd, p, 1 << 20);
}

static void test_syscall_name(void **state)
{
    (void)state;
    assert_string_equal(eai_syscall_name(257), "openat"); /* x86_64 */
}

static void test_image_types(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(eai_image_has_type(image_path, "hello", err, sizeof err), 1);
    assert_int_equal(eai_image_has_type(image_path, "nosuch", err, sizeof err), 0);
    /* A file that is not an ELF object, and a truncated copy of an image. */
    char tmpl[] = "/tmp/ea-test-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not an elf file at all, not even close to one.....", 50), 50);
    close(fd);
    assert_int_equal(eai_image_has_type(tmpl, "hello", err, sizeof err), EA_ERR_PARSE);
    FILE *in = fopen(image_path, "rb");
    FILE *out = fopen(tmpl, "wb");
    char buf[200];
    assert_int_equal(fread(buf, 1, sizeof buf, in), sizeof buf);
    assert_int_equal(fwrite(buf, 1, sizeof buf, out), sizeof buf);
    fclose(in);
    fclose(out);
    assert_int_equal(eai_image_has_type(tmpl, "hello", err, sizeof err), EA_ERR_PARSE);
    unlink(tmpl);
    assert_int_equal(eai_image_has_type("/nonexistent", "hello", err, sizeof err), EA_ERR_SYS);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGE.so\n", argv[0]);
        return 2;
    }
    image_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sealed_memfd), cmocka_unit_test(test_pin_error_names_cpu),
        cmocka_unit_test(test_futex),        cmocka_unit_test(test_shm),
        cmocka_unit_test(test_syscall_name), cmocka_unit_test(test_image_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
