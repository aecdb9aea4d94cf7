/*
 * Reading a fuzz input as a stream of small numbers: take() returns the next
 * `bytes` bytes big-endian, and zeros once the input is used up, so every
 * input is a complete program.
 */
#ifndef EA_FUZZ_INPUT_H
#define EA_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
    const uint8_t *d;
    size_t n;
};

static inline uint32_t take(struct in *in, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | (in->n > 0 ? *in->d : 0);
        if (in->n > 0) {
            in->d++;
            in->n--;
        }
    }
    return v;
}

#endif
