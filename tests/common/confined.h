/*
 * Test helper: runs a test body under the enclave's own seccomp allow-list
 * (eai_seccomp_confine), on two threads, in a forked child.
 *
 * The child calls the unit's init function, starts a helper thread that
 * waits, installs the filter (synchronised to all its threads, trapping
 * by default) once the helper's own start-up is done, and then the main
 * thread and the helper each run the body. The helper's run is the first
 * use of the unit on its thread, as for a worker started before
 * confinement, so per-thread library state is built under the filter. A
 * forbidden call raises SIGSYS; the handler stores the system call number
 * in a page shared with the parent and exits with EA_TEST_CONFINED_SYSCALL,
 * and the parent names that call.
 *
 * cmocka is not used in the child: its runner installs signal handlers per
 * test, which the filter forbids. The body checks with CHECK instead.
 */
#ifndef EA_TEST_CONFINED_H
#define EA_TEST_CONFINED_H

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

/* Exit statuses of the child. */
enum {
    EA_TEST_CONFINED_SYSCALL = 3, /* the filter trapped a system call */
    EA_TEST_CONFINED_SETUP = 4,   /* could not set the child up */
    EA_TEST_CONFINED_CHECK = 5,   /* a call under test returned the wrong result */
};

/* Plain checks for the body: the filter allows write to fd 2 and
 * exit_group. */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            _exit(EA_TEST_CONFINED_CHECK);                                           \
        }                                                                            \
    } while (0)

struct ea_test_confined {
    /* Prepares the unit before the helper thread starts; its name is used
     * in messages ("after eai_crypto_init"). Returns EA_OK on success. */
    int (*init)(void);
    const char *init_name;
    /* Optional: run on the helper thread before the filter goes on. */
    void (*thread_start)(void);
    /* The body: every call under test, checked with CHECK. */
    void (*run_all)(void);
    /* Runs the body once more on the main thread after the helper ended. */
    bool again;
    /* Printed by the parent when the child ended well. */
    const char *ok;
};

/* Forks the child described above, waits for it and reports. Returns the
 * process exit status for main: 0 if the child ended well, 1 otherwise. */
int ea_test_confined_main(const struct ea_test_confined *t);

#endif
