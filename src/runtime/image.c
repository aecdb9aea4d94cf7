/*
 * Reading an image without running it: does its dynamic symbol table define
 * `ea_type_<name>`? Used to validate deployment files (`eactors check`) so
 * that validation never executes image code.
 *
 * Design notes: the file is untrusted input, so every offset and size from
 * the ELF headers is checked against the file size before use.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/image.h"

#include "platform/platform.h"

/* Larger files are not images. */
#define MAX_IMAGE_BYTES (1u << 30)

static int in_file(size_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

int eai_image_has_type(const char *path, const char *type, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = eai_file_read_all(path, MAX_IMAGE_BYTES, &buf, &size);
    if (rc == EA_ERR_NOTFOUND || rc == EA_ERR_SYS) {
        snprintf(err, errlen, "%s", strerror(rc == EA_ERR_NOTFOUND ? ENOENT : errno));
        return EA_ERR_SYS;
    }
    if (rc == EA_ERR_NOMEM) {
        snprintf(err, errlen, "cannot read file");
        return EA_ERR_SYS;
    }
    rc = EA_ERR_PARSE;
    if (buf == NULL || size < sizeof(Elf64_Ehdr)) {
        snprintf(err, errlen, "not an ELF shared object");
        goto out;
    }
    /* Headers are copied out with memcpy: offsets in the file are the
     * file's choice, so nothing in it is assumed aligned. */
    Elf64_Ehdr eh;
    memcpy(&eh, buf, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_type != ET_DYN || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(size, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr))) {
        snprintf(err, errlen, "not an ELF64 shared object");
        goto out;
    }
    char want[160];
    if (snprintf(want, sizeof want, "ea_type_%s", type) >= (int)sizeof want) {
        rc = 0;
        goto out;
    }
    rc = 0;
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh, strs;
        memcpy(&sh, buf + eh.e_shoff + (size_t)i * sizeof sh, sizeof sh);
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_link >= eh.e_shnum || sh.sh_entsize != sizeof(Elf64_Sym) ||
            !in_file(size, sh.sh_offset, sh.sh_size))
            break;
        memcpy(&strs, buf + eh.e_shoff + (size_t)sh.sh_link * sizeof strs, sizeof strs);
        if (!in_file(size, strs.sh_offset, strs.sh_size))
            break;
        const char *str = (const char *)buf + strs.sh_offset;
        size_t n = sh.sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < n; k++) {
            Elf64_Sym sym;
            memcpy(&sym, buf + sh.sh_offset + k * sizeof sym, sizeof sym);
            if (sym.st_shndx == SHN_UNDEF || sym.st_name >= strs.sh_size)
                continue;
            const char *name = str + sym.st_name;
            size_t maxlen = strs.sh_size - sym.st_name;
            if (strnlen(name, maxlen) < maxlen && strcmp(name, want) == 0) {
                rc = 1;
                goto out;
            }
        }
    }
out:
    free(buf);
    return rc;
}

int eai_image_probe(void *ctx, const char *image_path, const char *type, char *err, size_t errlen)
{
    (void)ctx;
    return eai_image_has_type(image_path, type, err, errlen);
}
