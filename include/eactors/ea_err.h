/**
 * @file ea_err.h
 * @brief The one error enum of eactors and its names.
 *
 * Every function that can fail returns an `int`: 0 (`EA_OK`) or a negative
 * `ea_err` value. Foreign errors (errno, libxml2, libseccomp) are wrapped into
 * these codes; the detail goes into a message buffer where the API has one.
 */
#ifndef EA_ERR_H
#define EA_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EA_API __attribute__((visibility("default")))
#else
#define EA_API
#endif

/** Error codes. All are negative except `EA_OK`. */
typedef enum ea_err {
    EA_OK = 0,
    EA_ERR_NOMEM = -1,     /**< out of memory or arena space */
    EA_ERR_INVAL = -2,     /**< invalid argument (our caller's bug) */
    EA_ERR_EMPTY = -3,     /**< nothing to receive right now */
    EA_ERR_FULL = -4,      /**< receiver's mbox is full (back-pressure) */
    EA_ERR_NOBUFS = -5,    /**< channel pool has no free node (back-pressure) */
    EA_ERR_TOOBIG = -6,    /**< message larger than the channel's maximum */
    EA_ERR_CORRUPT = -7,   /**< shared memory holds an impossible value */
    EA_ERR_NOTFOUND = -8,  /**< no such name (channel, type, parameter) */
    EA_ERR_PARSE = -9,     /**< malformed input (deployment file, number) */
    EA_ERR_SYS = -10,      /**< a system call failed; see the message */
    EA_ERR_BUSY = -11,     /**< contention bound reached; retry later */
    EA_ERR_PERM = -12,     /**< not allowed from this actor or domain */
    EA_ERR_FAILED = -13,   /**< channel is sticky-failed */
    EA_ERR_STOPPED = -14,  /**< the run is stopping */
    EA_ERR_LIMIT = -15,    /**< a configured limit (spawn slots, workers) */
    EA_ERR_ACTOR = -16,    /**< an actor-defined failure (bodies may return it) */
    EA_ERR_AUTH = -17,     /**< authentication failed (MAC, tag, signature) */
    EA_ERR_POLICY = -18,   /**< a peer's identity does not meet the trust policy */
    EA_ERR_CRYPTO = -19,   /**< the crypto library failed */
    EA_ERR_NOSPACE = -20,  /**< an object store is full (index or data space) */
    EA_ERR_TAMPERED = -21, /**< a stored record or store header fails its check */
    EA_ERR_ROLLBACK = -22, /**< a store is older than its monotonic counter says */
    EA_ERR_VERSION = -23,  /**< compare-and-swap: the version is not the expected one */
} ea_err;

/**
 * Returns a static, human-readable name for an error code, or
 * "unknown error" for a value that is not an `ea_err`. Thread-safe.
 */
EA_API const char *ea_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
