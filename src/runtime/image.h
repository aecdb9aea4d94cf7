#ifndef EAI_IMAGE_H
#define EAI_IMAGE_H
#include <stddef.h>

#include <eactors/ea_err.h>

/* 1 if the ELF image at `path` exports `ea_type_<type>`, 0 if not, negative
 * ea_err (reason in err) if the file is unreadable or not an ELF64 DSO. */
int eai_image_has_type(const char *path, const char *type, char *err, size_t errlen);
/* The same, with the signature of eai_type_probe_fn. */
int eai_image_probe(void *ctx, const char *image_path, const char *type, char *err, size_t errlen);
#endif
