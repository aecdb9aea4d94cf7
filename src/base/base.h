/*
 * The bottom layer: facts every other layer needs and that need nothing
 * themselves (no OS, no libraries but libc's string functions). Error names
 * (ea_strerror, err.c) and the one parser of sizes and counts with binary
 * suffixes (size.c), used by the deployment parser and by ea_param_int.
 */
#ifndef EAI_BASE_H
#define EAI_BASE_H

#include <stdint.h>

#include <eactors/ea_err.h>

/*
 * Parses a decimal integer with an optional leading '-' and an optional
 * binary suffix K (2^10), M (2^20) or G (2^30) and nothing after it: "64",
 * "16K", "-2M". Returns EA_OK and *out, EA_ERR_INVAL for NULL arguments,
 * EA_ERR_PARSE for anything else (empty, trailing bytes, a value out of
 * int64_t's range).
 */
int eai_parse_int(const char *s, int64_t *out);

/* Parses an unsigned size the same way ("64", "16K", "1M", "2G") into *out;
 * EA_ERR_PARSE if bad, EA_ERR_INVAL for NULL arguments. Sizes up to
 * UINT64_MAX are accepted. */
int eai_parse_size(const char *s, uint64_t *out);

#endif
