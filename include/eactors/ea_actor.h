/**
 * @file ea_actor.h
 * @brief Writing actors: types, bodies, parameters, channels and cargos.
 *
 * An image (a shared object built with `eactors_add_image()`) declares actor
 * types with EA_ACTOR(). A deployment file instantiates them by name, places
 * each instance on a worker (host or enclave) and joins them with channels.
 *
 * Thread-safety: every function here is called by an actor on its own worker
 * thread, with its own `self`; an actor's connectors and cargos belong to that
 * actor and must not be shared with other threads.
 */
#ifndef EA_ACTOR_H
#define EA_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_err.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque: one actor instance, as the runtime knows it. */
typedef struct ea_actor ea_actor_t;
/** Opaque: one actor's end of a channel. */
typedef struct ea_conn ea_conn_t;

/** Values a body returns (a negative `ea_err` means failure). */
enum ea_step {
    EA_IDLE = 0, /**< nothing to do: run me again when a message arrives */
    EA_BUSY = 1, /**< more to do: run me again soon */
    EA_DONE = 2, /**< finished: never run me again */
    EA_AGAIN = 3 /**< constructor only: call the constructor again */
};

/**
 * Constructor: called on the actor's worker, inside its domain, before the
 * first body call. `state` is zeroed memory of the declared size. Returns
 * EA_OK, EA_AGAIN (call me again later: multi-step start-up) or a negative
 * error (the actor fails and the run stops).
 */
typedef int (*ea_ctor_fn)(ea_actor_t *self, void *state);
/** Body: returns EA_IDLE, EA_BUSY, EA_DONE or a negative error. */
typedef int (*ea_body_fn)(ea_actor_t *self, void *state);

#define EA_TYPE_ABI 1u

/** Descriptor of an actor type; made by EA_ACTOR(), read by the runtime. */
typedef struct ea_actor_type {
    uint32_t abi;      /**< EA_TYPE_ABI */
    const char *name;  /**< type name used in deployment files */
    size_t state_size; /**< bytes of private state per instance */
    ea_ctor_fn ctor;   /**< may be NULL */
    ea_body_fn body;   /**< required */
} ea_actor_type_t;

/**
 * Declares actor type `tname` in this image, with private state of type
 * `state_type`, constructor `ctor` (or NULL) and body `body`. The runtime finds
 * it as the exported symbol `ea_type_<tname>`.
 */
#define EA_ACTOR(tname, state_type, ctor, body)                                      \
    __attribute__((visibility("default"))) const ea_actor_type_t ea_type_##tname = { \
        EA_TYPE_ABI, #tname, sizeof(state_type), (ctor), (body)}

/** The instance name from the deployment (or given to ea_spawn). Borrowed. */
EA_API const char *ea_name(const ea_actor_t *self);

/** Name of the domain the actor runs in: an enclave name or "host". Borrowed. */
EA_API const char *ea_domain(const ea_actor_t *self);

/**
 * Value of deployment parameter `key` (<param name= value=>), or NULL.
 * Borrowed, valid for the life of the actor.
 */
EA_API const char *ea_param(const ea_actor_t *self, const char *key);

/**
 * Integer parameter with K/M/G binary suffixes allowed; returns `dflt` if the
 * parameter is absent, and also if it is malformed (then *ok, if given, is
 * false).
 */
EA_API long long ea_param_int(const ea_actor_t *self, const char *key, long long dflt, bool *ok);

/** True once the run is stopping (SIGINT/SIGTERM or a failure elsewhere). */
EA_API bool ea_stopping(const ea_actor_t *self);

/** Monotonic clock in nanoseconds (no system call on Linux: vDSO). */
EA_API uint64_t ea_now_ns(void);

/** The connector of channel `channel` at this actor, or NULL. Borrowed. */
EA_API ea_conn_t *ea_conn(ea_actor_t *self, const char *channel);
/** Number of this actor's connectors, and the i-th one (NULL if out of range). */
EA_API unsigned ea_conn_count(const ea_actor_t *self);
EA_API ea_conn_t *ea_conn_at(ea_actor_t *self, unsigned i);
/** Channel name, peer actor name, and largest message of a connector. */
EA_API const char *ea_conn_name(const ea_conn_t *c);
EA_API const char *ea_conn_peer(const ea_conn_t *c);
EA_API size_t ea_conn_max(const ea_conn_t *c);
/** True if the channel leaves this domain (its nodes are in the public arena). */
EA_API bool ea_conn_is_public(const ea_conn_t *c);

/**
 * One message as the application sees it. `data`/`len` are the application's
 * view; the other fields are the runtime's and must not be touched.
 */
typedef struct ea_cargo {
    void *data; /**< payload: writable after alloc, readable after recv */
    size_t len; /**< bytes in use; set by alloc, may be lowered before send */
    size_t cap; /**< bytes available at `data` (the channel maximum) */
    ea_conn_t *conn;
    uint32_t node;
    uint32_t state;
} ea_cargo_t;

/**
 * Allocates a message of `len` bytes on connector `c`.
 * @return EA_OK (cargo filled; its data is the caller's until send/release);
 *         EA_ERR_TOOBIG if len > ea_conn_max(c); EA_ERR_NOBUFS if the
 *         channel's pool is empty (back-pressure: try again later; on a
 *         channel declared in the deployment the peer's next release of a
 *         node wakes this actor, so the body may return EA_IDLE);
 *         EA_ERR_FAILED if the channel failed; EA_ERR_CORRUPT.
 */
EA_API int ea_cargo_alloc(ea_conn_t *c, size_t len, ea_cargo_t *cargo);

/**
 * Sends an allocated cargo to the peer and marks the peer runnable.
 * Takes ownership of the cargo on success; on failure the caller keeps it
 * (may retry or release it).
 * @return EA_OK; EA_ERR_TOOBIG if len was raised above cap; EA_ERR_INVAL;
 *         EA_ERR_CORRUPT if the peer's mbox looks full (channel mboxes have
 *         a cell for every node, so only a hostile host can do that) or its
 *         position or a cell is out of step: the channel fails for good,
 *         and nothing of this message was written to the node, so the peer
 *         can never be handed it (the cargo still holds the plaintext);
 *         EA_ERR_FAILED.
 */
EA_API int ea_cargo_send(ea_cargo_t *cargo);

/**
 * Receives the oldest message on `c`. The cargo is the caller's until
 * ea_cargo_release().
 * @return EA_OK; EA_ERR_EMPTY; EA_ERR_CORRUPT if the peer or the host wrote an
 *         impossible node index, length, mbox position or cell sequence
 *         number (the channel then fails: sticky); EA_ERR_FAILED.
 */
EA_API int ea_cargo_recv(ea_conn_t *c, ea_cargo_t *cargo);

/** Returns a received (or unsent allocated) cargo's node to the pool. */
EA_API void ea_cargo_release(ea_cargo_t *cargo);

/** Options for ea_spawn(); zero-initialise and set what you need. */
typedef struct ea_spawn_opts {
    const char *name;          /**< instance name; default "<parent>.<type>#<n>" */
    const char *worker;        /**< worker of the same enclave; default the parent's */
    const char *channel;       /**< channel name at both ends; default "parent" */
    uint32_t nodes;            /**< channel nodes; default 16 */
    uint32_t max;              /**< largest message; default 4096 */
    const char *const *params; /**< NULL-terminated key, value, key, value... */
} ea_spawn_opts_t;

/**
 * Creates an actor of type `type` from the caller's own image, on a worker of
 * the caller's own domain, joined to the caller by a new private channel.
 * `*conn` receives the caller's connector of that channel (borrowed, valid
 * until the caller ends). The new actor's constructor and body run on its
 * worker soon after.
 * @return EA_OK; EA_ERR_NOTFOUND (type or worker); EA_ERR_LIMIT (no spawn
 *         slot left: see the enclave's `spawn` attribute); EA_ERR_NOMEM;
 *         EA_ERR_INVAL.
 */
EA_API int ea_spawn(ea_actor_t *self, const char *type, const ea_spawn_opts_t *opts,
                    ea_conn_t **conn);

#ifdef __cplusplus
}
#endif
#endif
