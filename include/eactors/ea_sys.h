/**
 * @file ea_sys.h
 * @brief System services by messages: network, files, timers and log.
 *
 * Actors never make system calls. They ask a **system actor** (declared in
 * the deployment with `<sys name="io" worker="...">`, running in the host)
 * by sending requests over an ordinary channel to it; the completion of each
 * request comes back later as a message on the same channel. Requests never
 * block the requester.
 *
 * Every message on such a channel starts with an ea_sys_msg_t header,
 * followed by `len` payload bytes. The helpers below build requests
 * (`ea_net_*`, `ea_file_*`, `ea_timer_*`, `ea_log`) and check completions
 * (`ea_sys_recv`): a completion is accepted only if its header is well
 * formed, it answers a request this client issued (request id), it names a
 * handle this client owns, and it never reports more bytes than were asked
 * for. Everything read from the channel is copied before it is checked.
 *
 * Rights: the deployment grants each enclave (and the host) the ports it
 * may listen on or connect to and the directories it may open files in.
 * Anything else completes with EA_ERR_PERM and a message naming the right
 * that is missing.
 */
#ifndef EA_SYS_H
#define EA_SYS_H

#include <stdbool.h>
#include <stdint.h>

#include <eactors/ea_actor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EA_SYS_MAGIC 0x45415359u /* "EASY" */

/** EA_NET_LISTEN's arg64: share the port with other shared listeners. */
#define EA_NET_LISTEN_SHARED 0x1u

/** Operations. A completion carries `op | EA_SYS_DONE`. */
enum ea_sys_op {
    EA_NET_LISTEN = 1,    /**< arg = port, payload = bind address ("127.0.0.1"),
                               arg64 = 0 or EA_NET_LISTEN_SHARED */
    EA_NET_ACCEPT = 2,    /**< handle = listener; completion: status = new handle */
    EA_NET_CONNECT = 3,   /**< arg = port, payload = address; completion: handle */
    EA_NET_RECV = 4,      /**< handle, arg = max bytes; completion payload = data
                               (status = bytes, 0 = end of stream) */
    EA_NET_SEND = 5,      /**< handle, payload = data; completion status = bytes
                               sent (all of them: partial sends are continued) */
    EA_NET_SHUTDOWN = 6,  /**< handle: shut down writing */
    EA_NET_CLOSE = 7,     /**< handle */
    EA_FILE_OPEN = 16,    /**< arg = EA_FILE_* flags, payload = path; completion: handle */
    EA_FILE_READ = 17,    /**< handle, arg64 = offset, arg = max bytes; payload = data */
    EA_FILE_WRITE = 18,   /**< handle, arg64 = offset, payload = data */
    EA_FILE_FSYNC = 19,   /**< handle */
    EA_FILE_CLOSE = 20,   /**< handle */
    EA_FILE_UNLINK = 21,  /**< payload = path */
    EA_FILE_STAT = 22,    /**< payload = path; completion arg64 = size, arg = mtime */
    EA_TIMER_SET = 32,    /**< arg64 = first expiry in ns, arg = period in ms (0 =
                               one-shot); completion: handle, then one
                               EA_TIMER_FIRE message per expiry */
    EA_TIMER_FIRE = 33,   /**< sent by the system actor; arg64 = expirations */
    EA_TIMER_CANCEL = 34, /**< handle */
    EA_LOG = 48,          /**< payload = one line of text; no completion */
    EA_SYS_BATCH = 64,    /**< several messages in one: arg = n >= 2, payload = n
                               records, each an ea_sys_msg_t and its len bytes,
                               padded to a multiple of 8. Completions from the
                               system actor (op EA_SYS_BATCH | EA_SYS_DONE, see
                               ea_sys_client_batch) or requests to it
                               (ea_sys_client_hold); never nested */
};
#define EA_SYS_DONE 0x8000u

/** Request flag: the completion may travel inside an EA_SYS_BATCH message
 *  with the other completions of the same round (ea_sys_client_batch). */
#define EA_SYS_F_BATCH 0x1u

/** File open flags (arg of EA_FILE_OPEN). */
#define EA_FILE_RDONLY 0x0u
#define EA_FILE_WRONLY 0x1u
#define EA_FILE_RDWR 0x2u
#define EA_FILE_CREAT 0x4u
#define EA_FILE_TRUNC 0x8u
#define EA_FILE_APPEND 0x10u

/** Completion status codes beyond ea_err (all negative). */
enum ea_sys_status {
    EA_SYS_EOF = 0,          /**< EA_NET_RECV: the peer closed its side */
    EA_SYS_RESET = -100,     /**< connection reset by the peer */
    EA_SYS_REFUSED = -101,   /**< connection refused */
    EA_SYS_ADDRINUSE = -102, /**< address in use */
    EA_SYS_BADHANDLE = -103, /**< handle unknown, closed, or not the requester's */
    EA_SYS_NOENT = -104,     /**< no such file */
    EA_SYS_IO = -105,        /**< other I/O error; errno in `arg` */
    EA_SYS_LIMIT = -106,     /**< the system actor is out of handles or descriptors */
    EA_SYS_PIPE = -107,      /**< write on a connection the peer shut down */
    /* Per-requester limits (<grant handles= timers= queued=>): the error
     * carries a text naming the limit. One requester at its limit does not
     * stop another. */
    EA_SYS_HANDLES = -108, /**< the requester's open handles reached handles= */
    EA_SYS_TIMERS = -109,  /**< the requester's timers reached timers= */
    EA_SYS_QUEUED = -110,  /**< the bytes held for the requester would pass queued= */
};

/** Header of every request and completion. 40 bytes, little-endian. */
typedef struct ea_sys_msg {
    uint32_t magic;  /**< EA_SYS_MAGIC */
    uint16_t op;     /**< ea_sys_op, | EA_SYS_DONE in completions */
    uint16_t flags;  /**< requests: 0 or EA_SYS_F_BATCH; completions echo it */
    uint64_t req_id; /**< chosen by the requester, echoed in the completion */
    int32_t handle;  /**< handle the request acts on, or -1 */
    int32_t status;  /**< completion: >= 0 result, < 0 error (ea_err, ea_sys_status) */
    uint32_t len;    /**< payload bytes after the header */
    uint32_t arg;    /**< op-specific */
    uint64_t arg64;  /**< op-specific */
} ea_sys_msg_t;

_Static_assert(sizeof(ea_sys_msg_t) == 40, "system message header layout");

/** Largest payload the helpers put in one message on channel `c`. */
#define EA_SYS_PAYLOAD_MAX(c) (ea_conn_max(c) - sizeof(ea_sys_msg_t))

/* ---------------------------------------------------------- client side */

#define EA_SYS_MAX_HANDLES 16384 /**< handles owned per client */

/** Requests in flight per client: a receive and a send on each handle it
 *  may own (a server with a RECV waiting on every connection). */
#define EA_SYS_MAX_PENDING (2 * EA_SYS_MAX_HANDLES)
/** Longest text an error completion carries (the system actor cuts longer
 *  ones; a client refuses a longer one as corrupt). */
#define EA_SYS_ERRTEXT_MAX 255u

/**
 * A requester's view of one channel to a system actor: the requests in
 * flight and the handles it owns, in two hash tables (open addressing, at
 * most half full) so that a completion is checked in constant time however
 * many connections the actor serves. Lives in the actor's state (about
 * 1.8 MiB). Not thread-safe (one actor).
 */
typedef struct ea_sys_client {
    ea_conn_t *conn;
    uint64_t next_id;
    uint32_t npending;  /**< requests in flight */
    uint32_t ncreating; /**< of which will create a handle */
    uint32_t nhandles;  /**< handles owned */
    uint32_t rejected;  /**< completions refused by the checks */
    struct {
        uint64_t id;  /* 0: free slot */
        uint32_t max; /* bytes asked for (RECV/READ) or sent (SEND/WRITE) */
        int32_t handle;
        uint16_t op;
        uint16_t pad;
    } pending[2 * EA_SYS_MAX_PENDING];
    struct {
        int32_t h;
        uint16_t kind; /* 0: free slot, else 1 + kind */
        uint16_t pad;
    } handles[2 * EA_SYS_MAX_HANDLES];
    bool batch;        /**< requests ask for batched completions */
    bool hold;         /**< requests wait in `ocargo` for ea_sys_flush */
    ea_cargo_t ocargo; /**< the EA_SYS_BATCH of requests held (conn NULL: none) */
    uint32_t ooff;     /**< bytes in it */
    uint32_t ocount;   /**< requests in it */
    ea_cargo_t bcargo; /**< the EA_SYS_BATCH being read (conn NULL: none) */
    uint32_t boff;     /**< offset of its next record */
    uint32_t bleft;    /**< records left in it */
} ea_sys_client_t;

/** Initialises a client on connector `c` (a channel to a system actor). */
EA_API void ea_sys_client_init(ea_sys_client_t *cl, ea_conn_t *c);

/**
 * Batched completions, on or off for the requests issued from now on
 * (off after ea_sys_client_init). On, every request carries
 * EA_SYS_F_BATCH, and the system actor puts the completions it has for
 * this client in one round (the received bytes, sends done, accepts...)
 * into one EA_SYS_BATCH message instead of one message each; ea_sys_recv
 * still returns them one at a time, each checked as if it had come alone,
 * but then ev->data is valid only until the next ea_sys_recv call on this
 * client (ev->cargo is empty and releasing it is a no-op), since the
 * message is shared. Release the events (or not) as before; the batch is
 * given back when its last completion has been taken. A batch that fails
 * a check of its framing is dropped whole (counted once in `rejected`).
 */
EA_API void ea_sys_client_batch(ea_sys_client_t *cl, bool on);

/**
 * Held requests, on or off (off after ea_sys_client_init). On, the
 * request builders put their requests into one EA_SYS_BATCH message
 * instead of sending each: they still check and record them and return
 * their ids as before (EA_ERR_NOBUFS when no node is free for a new
 * batch), and a full batch is sent by itself, but nothing else goes out
 * until ea_sys_flush. So an actor that turns this on calls ea_sys_flush
 * at the end of every step in which it may have issued a request (and
 * after its constructor's requests). A request that does not fit a batch,
 * ea_net_send_commit and ea_log send the held ones first, so requests keep
 * their order. Turning it off flushes.
 */
EA_API void ea_sys_client_hold(ea_sys_client_t *cl, bool on);

/**
 * Sends the requests held (ea_sys_client_hold): one held request alone,
 * several as one EA_SYS_BATCH. Nothing to do when none is held.
 * @return EA_OK; EA_ERR_FAILED or EA_ERR_CORRUPT when the channel failed
 *         (the held requests are lost with it).
 */
EA_API int ea_sys_flush(ea_sys_client_t *cl);

/*
 * Request builders. Each returns the request id (> 0) on success, or a
 * negative ea_err: EA_ERR_NOBUFS / EA_ERR_FULL (back-pressure: try again),
 * EA_ERR_TOOBIG (payload too large for the channel), EA_ERR_LIMIT (too many
 * requests in flight), EA_ERR_PERM (a handle this client does not own).
 */
EA_API int64_t ea_net_listen(ea_sys_client_t *cl, const char *addr, uint16_t port);
/** A listener that shares its port with the other shared listeners on it
 * (SO_REUSEPORT: the kernel spreads new connections over them), for one
 * accepting actor per worker. Each requester still needs the port in its
 * grant; a port held by a listener that did not ask to share stays its own
 * (EA_SYS_ADDRINUSE). */
EA_API int64_t ea_net_listen_shared(ea_sys_client_t *cl, const char *addr, uint16_t port);
EA_API int64_t ea_net_accept(ea_sys_client_t *cl, int32_t listener);
EA_API int64_t ea_net_connect(ea_sys_client_t *cl, const char *addr, uint16_t port);
EA_API int64_t ea_net_recv(ea_sys_client_t *cl, int32_t handle, uint32_t max);
EA_API int64_t ea_net_send(ea_sys_client_t *cl, int32_t handle, const void *data, uint32_t len);

/**
 * A SEND whose bytes are written straight into its message, without the
 * copy ea_net_send makes (for bytes made on the spot, such as TLS
 * ciphertext from ea_tls_take). The message sits where the system actor
 * (the host) can read it as soon as it is allocated, so only write bytes
 * meant for the network into it.
 */
typedef struct ea_net_sendbuf {
    void *data;     /**< where the bytes go: `room` bytes, NULL when not held */
    uint32_t room;  /**< bytes that fit (the max asked, cut to the channel) */
    int32_t handle; /**< the connection */
    ea_cargo_t cargo;
} ea_net_sendbuf_t;

/**
 * Reserves a SEND on `handle` with room for up to `max` bytes (cut to
 * EA_SYS_PAYLOAD_MAX): write them to sb->data, then ea_net_send_commit, or
 * ea_net_send_release to give the message back unsent. Nothing is sent or
 * recorded before the commit. With held requests (ea_sys_client_hold) the
 * room is at the end of the held batch: issue no other request on this
 * client between the alloc and the commit (the commit refuses with
 * EA_ERR_INVAL then).
 * @return EA_OK (sb holds a message); EA_ERR_NOBUFS / EA_ERR_FULL
 *         (back-pressure); EA_ERR_PERM (a handle this client does not own);
 *         EA_ERR_LIMIT; EA_ERR_INVAL (max 0, NULL arguments). On error sb
 *         holds nothing.
 */
EA_API int ea_net_send_alloc(ea_sys_client_t *cl, int32_t handle, uint32_t max,
                             ea_net_sendbuf_t *sb);
/**
 * Sends the first `len` bytes of sb->data (len <= sb->room; 0 is a valid,
 * empty send) as a SEND request; its completion is as for ea_net_send.
 * @return the request id (> 0), after which sb holds nothing; or a negative
 *         ea_err (EA_ERR_INVAL for len > room or an empty sb, EA_ERR_PERM if
 *         the handle is no longer owned, EA_ERR_LIMIT, a send error), after
 *         which sb still holds the message (commit again or release it).
 */
EA_API int64_t ea_net_send_commit(ea_sys_client_t *cl, ea_net_sendbuf_t *sb, uint32_t len);
/** Gives back a message held by sb unsent (no-op if it holds none). */
EA_API void ea_net_send_release(ea_net_sendbuf_t *sb);

struct ea_tls;
/**
 * Moves the TLS output waiting in `tls` (ea_tls_pending) to connection
 * `handle` as SEND requests written straight into their messages
 * (ea_net_send_alloc, ea_tls_take, ea_net_send_commit): no copy, while
 * messages are free, each of at most `spill_cap` bytes. Stops when the
 * output is gone, no message is free (the rest stays in `tls`), or a
 * commit fails; in that last case the bytes already taken from `tls` are
 * copied to `spill` and *spilled (may not be NULL) receives their number,
 * for the caller to send its own way (they are no longer in `tls`);
 * otherwise *spilled is 0.
 * @return the number of SEND requests made.
 */
EA_API unsigned ea_net_send_tls(ea_sys_client_t *cl, int32_t handle, struct ea_tls *tls,
                                void *spill, size_t spill_cap, uint32_t *spilled);

EA_API int64_t ea_net_shutdown(ea_sys_client_t *cl, int32_t handle);
EA_API int64_t ea_net_close(ea_sys_client_t *cl, int32_t handle);
EA_API int64_t ea_file_open(ea_sys_client_t *cl, const char *path, uint32_t flags);
EA_API int64_t ea_file_read(ea_sys_client_t *cl, int32_t handle, uint64_t offset, uint32_t max);
EA_API int64_t ea_file_write(ea_sys_client_t *cl, int32_t handle, uint64_t offset, const void *data,
                             uint32_t len);
EA_API int64_t ea_file_fsync(ea_sys_client_t *cl, int32_t handle);
EA_API int64_t ea_file_close(ea_sys_client_t *cl, int32_t handle);
EA_API int64_t ea_file_unlink(ea_sys_client_t *cl, const char *path);
EA_API int64_t ea_file_stat(ea_sys_client_t *cl, const char *path);
EA_API int64_t ea_timer_set(ea_sys_client_t *cl, uint64_t first_ns, uint32_t period_ms);
EA_API int64_t ea_timer_cancel(ea_sys_client_t *cl, int32_t handle);
/** Logs one line (no completion). EA_OK or a negative ea_err. */
EA_API int ea_log(ea_sys_client_t *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** A checked completion. `data` points into `cargo` (release it when done). */
typedef struct ea_sys_event {
    ea_sys_msg_t msg; /**< private copy of the header */
    const void *data; /**< payload (msg.len bytes), valid until release */
    ea_cargo_t cargo;
} ea_sys_event_t;

/**
 * Receives the next completion on the client's channel and checks it. On
 * EA_OK the caller owns ev->cargo (ea_cargo_release when done; for a
 * completion out of a batch see ea_sys_client_batch); handles
 * returned by ACCEPT, CONNECT, OPEN and TIMER_SET become owned by the client,
 * and CLOSE completions drop them.
 * @return EA_OK; EA_ERR_EMPTY; EA_ERR_CORRUPT for a completion that fails a
 *         check (it is released and counted in cl->rejected).
 */
EA_API int ea_sys_recv(ea_sys_client_t *cl, ea_sys_event_t *ev);

/** True if the client owns `handle`. */
EA_API bool ea_sys_owns(const ea_sys_client_t *cl, int32_t handle);

/** Name of a completion status (ea_sys_status or ea_err). */
EA_API const char *ea_sys_strstatus(int32_t status);

#ifdef __cplusplus
}
#endif
#endif
