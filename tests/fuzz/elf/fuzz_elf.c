/*
 * Fuzz target: the ELF reader that checks an image's actor types without
 * running it (src/runtime/image.c). Input: the bytes of an image file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-elf", 0);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    char err[256];
    (void)eai_image_has_type(path, "ping", err, sizeof err);
    (void)eai_image_has_type(path, "", err, sizeof err);
    return 0;
}
