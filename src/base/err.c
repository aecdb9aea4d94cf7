/* Error names: one table, indexed by the negated code. */
#include <stddef.h>

#include <eactors/ea_err.h>

static const char *const names[] = {
    [0] = "ok",
    [-EA_ERR_NOMEM] = "out of memory",
    [-EA_ERR_INVAL] = "invalid argument",
    [-EA_ERR_EMPTY] = "nothing to receive",
    [-EA_ERR_FULL] = "mbox full",
    [-EA_ERR_NOBUFS] = "no free node in pool",
    [-EA_ERR_TOOBIG] = "message too big for channel",
    [-EA_ERR_CORRUPT] = "corrupt shared memory",
    [-EA_ERR_NOTFOUND] = "not found",
    [-EA_ERR_PARSE] = "parse error",
    [-EA_ERR_SYS] = "system call failed",
    [-EA_ERR_BUSY] = "contention bound reached",
    [-EA_ERR_PERM] = "not permitted",
    [-EA_ERR_FAILED] = "channel failed",
    [-EA_ERR_STOPPED] = "run is stopping",
    [-EA_ERR_LIMIT] = "limit reached",
    [-EA_ERR_ACTOR] = "actor failure",
    [-EA_ERR_AUTH] = "authentication failed",
    [-EA_ERR_POLICY] = "trust policy not met",
    [-EA_ERR_CRYPTO] = "crypto library failure",
    [-EA_ERR_NOSPACE] = "store full",
    [-EA_ERR_TAMPERED] = "stored data tampered with",
    [-EA_ERR_ROLLBACK] = "store rolled back",
    [-EA_ERR_VERSION] = "version mismatch",
};

const char *ea_strerror(int err)
{
    if (err > 0 || -err >= (int)(sizeof names / sizeof names[0]) || names[-err] == NULL)
        return "unknown error";
    return names[-err];
}
