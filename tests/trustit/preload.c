/*
 * A library the user who starts the launcher preloads (LD_PRELOAD): it is
 * mapped into the launcher and so into every enclave forked from it, where
 * it could interpose libc functions and see plaintext. Its presence must
 * cost the enclaves their production keys (trustit_env_preload).
 */
#include <stdio.h>

__attribute__((constructor)) static void announce(void)
{
    fprintf(stderr, "preload: loaded\n");
}
