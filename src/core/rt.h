/*
 * Internal runtime structures shared by src/core and src/runtime.
 *
 * Two kinds of memory (DESIGN.md section 5):
 *  - the public arena: one shared memfd mapping made by the launcher before
 *    any enclave is forked. It holds scheduling words, statistics and the
 *    storage of channels that cross a domain boundary. Everything in it is
 *    hostile input to an enclave: values read from it are validated against
 *    the private copies of the limits below.
 *  - private memory: this struct, the actors, connectors and the storage of
 *    channels whose two ends share a domain. After fork each process has its
 *    own copy of the layout the launcher computed; the enclave trusts only
 *    that copy.
 */
#ifndef EAI_RT_H
#define EAI_RT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_actor.h>
#include <eactors/ea_queue.h>

#include "crypto/crypto.h"
#include "platform/platform.h"
#include "base/model.h"
#include "trust/trust.h"

#define EAI_ARENA_MAGIC UINT64_C(0x31616e6572614145) /* "EAarena1" */
#define EAI_HOST_SPAWN 16u                           /* spawn slots of the host domain */
#define EAI_NAME_MAX 48u /* bytes of a spawned actor's name in the arena */

enum { EAI_W_RUNNING = 0, EAI_W_PARKED = 1 };
/* An actor's status as reported in the arena (eai_rec.status): for the
 * launcher's summary only, never read back by an enclave. */
enum {
    EAI_A_UNUSED = 0, /* spawn slot not used yet */
    EAI_A_LIVE = 1,
    EAI_A_DONE = 2,
    EAI_A_FAILED = 3
};
/* An actor's status as its own domain knows it (ea_actor.status): the one
 * that decides whether it may run. Zero is live, so an actor is live from
 * its (zeroed) allocation on, before anything else is set. */
enum { EAI_S_LIVE = 0, EAI_S_DONE = 1, EAI_S_FAILED = 2 };

/* Arena header. Written by the launcher and by every worker. */
struct eai_hdr {
    uint64_t magic;
    uint64_t size;
    alignas(64) _Atomic uint32_t stop; /* 1: stop requested (latched: eai_domain.stopping) */
    _Atomic uint32_t shutdown;         /* 1: workers leave their loops */
    _Atomic uint32_t live;             /* actors neither done nor failed */
    _Atomic uint32_t event;            /* launcher's futex: bumped on end, failure */
    _Atomic uint32_t fail_actor;       /* first failed actor id + 1, 0 = none */
    _Atomic int32_t fail_err;          /* its error */
    char platform_msg[256];            /* why the platform service failed */
};

/* Per enclave: start-up and death report, written by the enclave process. */
struct eai_encl_shm {
    alignas(64) _Atomic int32_t ready; /* 1: confined and running; -1: start failed */
    _Atomic int32_t death_sig;         /* fatal signal seen by the enclave, 0 = none */
    _Atomic int32_t death_syscall;     /* SIGSYS: the forbidden call, else -1 */
    _Atomic uint32_t death_actor;      /* actor id + 1 running at death, 0 = unknown */
    char msg[512];                     /* start-up failure message, NUL-terminated */
    /* Private memory the domain's runtime holds for its deployment actors
     * (records, states, connector tables) and for its private channels
     * (connectors, pools, mboxes), written once at start. Reported only. */
    _Atomic uint64_t mem_actors, mem_chans;
};

/* Arena record of domain d: enclaves 0..n-1 are domains 1..n; the host
 * uses the record after the last enclave. */
#define eai_domain_shm(rt, d) ((d) == 0 ? &(rt)->encl[(rt)->dep->nenclaves] : &(rt)->encl[(d)-1])

/* Per worker: the futex word senders use to wake a parked worker. */
struct eai_wk_shm {
    alignas(64) _Atomic uint32_t state;   /* EAI_W_RUNNING / EAI_W_PARKED */
    alignas(64) _Atomic uint32_t current; /* actor id + 1 in a step, 0 = none */
};

/* Per actor, one cache line: `queued` is written by senders and the owner's
 * worker, the rest only by the owner's worker. Sharing the line costs no
 * extra transfer: a sender that wakes the actor pulls the line anyway. */
struct eai_rec {
    alignas(64) _Atomic uint32_t queued; /* 1 while in its worker's ready mbox */
    _Atomic uint32_t status;             /* EAI_A_*: a report (ea_actor.status decides) */
    _Atomic int32_t err;                 /* failure code */
    _Atomic uint32_t errors;             /* errors counted (failed channel, ...) */
    _Atomic uint64_t sent, sent_bytes, recv, recv_bytes, steps;
};
_Static_assert(sizeof(struct eai_rec) == 64, "one cache line per actor");

/* Per channel, for the run summary: written by the enclaves at its ends
 * (end 0 = actor a, end 1 = actor b). Reports only: the host can falsify
 * them, and nothing in an enclave reads them back. */
struct eai_chan_shm {
    alignas(64) _Atomic uint32_t aead; /* 1 if the channel is AEAD-protected */
    _Atomic uint32_t auth_fail[2];     /* messages that failed authentication */
    _Atomic int32_t failed[2];         /* sticky error of each end, 0 = healthy */
    char accepted[2][112];             /* peer identity each end accepted */
    /* 1 while that end waits for a free node (its alloc failed): the other
     * end's next release wakes it. Pairs a seq_cst fence on each side. */
    alignas(64) _Atomic uint32_t want_node[2];
    /* Why an end failed, NUL-terminated, written once before failed[end]
     * (release): names the channel, the end and what made no sense. */
    char why[2][160];
    /* Per end, on its own line, written only by that end (plain relaxed
     * stores of private counts, no read-modify-write): messages pushed and
     * popped (the watchdog's progress counters; also that end's mbox
     * positions), nodes taken from and returned to the pool. `taken` is
     * stored before the pool operation and `returned` after it, so a peer
     * that reads them sees at least the nodes this end really holds (the
     * pool accounting in cargo.c relies on it). */
    struct eai_chan_end_shm {
        alignas(64) _Atomic uint64_t sent;
        _Atomic uint64_t recv;
        _Atomic uint64_t taken;
        _Atomic uint64_t returned;
    } end[2];
};
_Static_assert(sizeof(struct eai_chan_end_shm) == 64, "one cache line per channel end");

/* Local attestation between two enclaves through the arena (SGX's three
 * DH messages). The lower enclave index is the responder. */
enum { EAI_ATT_IDLE = 0, EAI_ATT_MSG1, EAI_ATT_MSG2, EAI_ATT_MSG3, EAI_ATT_FAILED = 0xdead };
struct eai_att_shm {
    alignas(64) _Atomic uint32_t step;
    ea_dh_msg1_t m1;
    ea_dh_msg2_t m2;
    ea_dh_msg3_t m3;
};

/* Storage of one channel, "pool | mbox a | mbox b": a pool of `nodes` nodes
 * of node_size bytes, then the mbox of messages to end a, then the mbox of
 * messages to end b. Offsets are from the start of the storage; every part
 * is a multiple of 64 bytes. Computed only by eai_chan_layout(). */
struct eai_chan_layout {
    uint32_t node_size; /* bytes per node: header + max, rounded up to 64 */
    uint32_t mbox_cap;  /* capacity of each mbox, >= nodes */
    size_t off_pool;    /* 0 */
    size_t off_mbox_a;  /* messages to end a */
    size_t off_mbox_b;  /* messages to end b */
    size_t size;        /* bytes of the whole storage */
};

/* Layout of the public arena and trusted limits, computed by the launcher
 * before fork. */
struct eai_layout {
    size_t size;
    size_t off_encl, off_wk, off_rec, off_names;
    size_t *off_ready;   /* per worker */
    uint32_t *ready_cap; /* per worker */
    size_t *off_chan;    /* per deployment channel; SIZE_MAX if private */
    /* Per deployment channel, private or not: its storage layout. */
    struct eai_chan_layout *chan;
    uint32_t nactors;     /* deployment actors + spawn slots */
    uint32_t ndep_actors; /* ids [0, ndep_actors) are deployment actors */
    uint32_t *slot_base;  /* per domain (0 = host, 1+e = enclave e) */
    uint32_t *slot_count;
    size_t off_chan_shm; /* per deployment channel: struct eai_chan_shm */
    uint8_t *chan_aead;  /* per channel: 1 if AEAD-protected */
    size_t off_att;      /* attestation slots, one per enclave pair */
    int npairs;
    int *pair_lo, *pair_hi; /* enclave indices of each pair, lo < hi */
    /* Per deployment store: the arena offset of an untrusted store's
     * region (64-byte aligned, store size bytes); SIZE_MAX otherwise. */
    size_t *off_store;
};

struct eai_domain;
struct eai_worker;
struct eai_io_park; /* core/sysapi.h */

/* One end of a channel (private). */
struct ea_conn {
    ea_pool_t pool;
    ea_mbox_t in;   /* messages to me */
    ea_mbox_t out;  /* the peer's in */
    uint32_t max;   /* largest payload */
    bool pub;       /* storage in the public arena */
    bool owns_name; /* name was allocated for a spawned channel */
    int failed;     /* sticky error, 0 = healthy */
    struct ea_actor *self;
    uint32_t peer;              /* peer actor id */
    struct eai_rec *peer_rec;   /* in the arena */
    struct eai_wk_shm *peer_wk; /* in the arena */
    ea_mbox_t *peer_ready;      /* private view of the peer worker's ready mbox */
    const char *name;
    const char *peer_name;
    void *storage; /* private channel storage (owned by end a) */
    size_t storage_size;
    /* AEAD-protected channel (both ends in different enclaves). */
    bool aead;
    uint8_t dir_tx;     /* 0: a -> b, 1: b -> a */
    uint32_t chan;      /* deployment channel index, bound into the AAD */
    uint32_t slot_size; /* bytes per plaintext slot (max rounded up to 64) */
    uint64_t tx_seq;    /* next sequence number to send */
    uint64_t rx_seq;    /* next sequence number expected */
    uint8_t *plain;     /* private plaintext slots, one per node */
    eai_aead_t tx, rx;
    struct eai_chan_shm *cshm;
    int end; /* 0 if this is actor a's end, 1 for b */
    /* The attested enclave at the other end (domain-private copy), set when
     * the channel's keys are derived; NULL until then and on plain channels. */
    const ea_dh_identity_t *peer_id;
    /* Private counts of this end (cargo.c): messages pushed to the out
     * mbox and popped from the in mbox (this end is their only producer,
     * resp. consumer, so these are the positions it must find there), and
     * nodes taken from and returned to the pool. */
    uint64_t sent, recv; /* (uint32_t) of each is the mbox position */
    uint64_t taken, returned;
    /* Bit i set: this end holds node i (allocated and not sent, or
     * received and not released); one bit per pool node, private memory
     * (eai_conn_held_init). An index from the host whose bit is set fails
     * the connector (cargo.c). */
    uint64_t *held;
};

/* One actor instance in this process (private). */
struct ea_actor {
    uint32_t id;
    bool constructed;
    bool spawned;
    bool conns_heap; /* conns is its own allocation (else inside this block) */
    bool state_heap; /* state is its own allocation (else inside this block) */
    struct eai_worker *worker;
    struct eai_domain *dom;
    const ea_actor_type_t *type;
    void *state;
    const char *name;
    const char *const *params; /* key, value, ..., NULL */
    struct ea_conn **conns;
    uint32_t nconns;
    /* EAI_S_*: whether the actor may run. Private, so the host cannot bring
     * an ended actor back; rec->status only reports it. Written by the
     * actor's worker (release), read there and by eai_conn_peer_live()
     * from other threads of this process (acquire). Beside nconns: it
     * fills padding, the record stays 80 bytes. */
    _Atomic uint8_t status;
    struct eai_rec *rec; /* in the arena: scheduling word and reports */
};

struct eai_worker {
    struct eai_rt *rt;
    struct eai_domain *dom;
    int index; /* deployment worker index */
    struct eai_wk_shm *shm;
    ea_mbox_t *ready;
    eai_thread_t thread;
    bool started;
    bool stop_seen;
    eai_idle_t idle;
    uint32_t spin; /* empty polls before parking (eai_dep_worker_t.spin) */
    /* Adaptive spinning (sched.c, "Adaptive spinning"): the current budget
     * of empty polls, between spin / EAI_SPIN_SHRINK and spin *
     * EAI_SPIN_GROW, and the measured cost of one empty poll. Private to
     * the worker's thread. */
    uint32_t spin_cur;
    uint32_t poll_ns;
    /* The wait of a system actor bound here that sleeps in the kernel for
     * its I/O and its wake-ups at once (eai_worker_io_park), or NULL: the
     * worker then parks on its futex word alone. */
    const struct eai_io_park *io;
};

/* A domain: the host or one enclave, as run by this process. */
struct eai_domain {
    struct eai_rt *rt;
    int enclave; /* EAI_HOST or enclave index */
    const char *name;
    void *image;
    int image_fd;
    struct eai_worker *workers;
    int nworkers;
    _Atomic uint32_t spawn_next;
    _Atomic uint32_t arrived; /* workers that reached the gate */
    _Atomic uint32_t gate;    /* workers wait for 1 before running actors */
    /* 1 once this domain has seen the arena's stop flag (or one of its
     * actors failed); never cleared, whatever the arena says later. Set
     * and read through eai_domain_stopping(). */
    _Atomic uint32_t stopping;
    /* Enclave domains: the platform connection (EINIT, reports, keys) and
     * the trust policy compiled into the image. */
    void *pclient;                          /* eai_pclient_t, NULL in the host */
    const eai_tplat_t *tplat;               /* bound on every worker thread */
    const ea_trust_policy_t *policy;        /* NULL: the default (same signer) */
    const ea_channel_policy_t *chan_policy; /* NULL: the default rules */
    ea_dh_identity_t *peer_ids;             /* per enclave: the identity it attested with */
    eai_thread_t starter;                   /* attests and opens the gate (async start) */
    bool starter_running;
    int start_rc;
    char start_err[256];
};

struct eai_rt {
    const eai_deploy_t *dep;
    /* Types of the builtin actors (EAI_BUILTIN_*), supplied by the layer
     * that implements them (the runtime sets the system actor's type from
     * src/sys); the core only instantiates them. */
    const ea_actor_type_t *builtins[EAI_BUILTIN_COUNT];
    struct eai_layout lay;
    uint8_t *arena;
    int arena_fd;
    struct eai_hdr *hdr;
    struct eai_encl_shm *encl;
    struct eai_wk_shm *wk;
    struct eai_rec *rec;
    struct eai_chan_shm *cshm; /* per channel */
    struct eai_att_shm *att;   /* per enclave pair */
    int *platform_fds;         /* enclave side of each enclave's platform socket, -1 if none */
    /* An enclave process the platform daemon started: its image and
     * signature file come as descriptors (their /proc/self/fd paths) and
     * its name for messages; NULL otherwise. */
    const char *image_name;
    const char *sig_path;
    char (*names)[EAI_NAME_MAX]; /* per spawn slot (id - ndep_actors) */
    ea_mbox_t *ready;            /* per worker (views) */
    /* Actors living in this process, by id; NULL elsewhere. Published with
     * release, read with acquire (spawn adds entries at run time). */
    struct ea_actor *_Atomic *actors;
    struct eai_domain **domains; /* per domain index, NULL if not in this process */
    int ndomains;                /* 1 + nenclaves */
    /* Deployment stores (src/eos/attach.c). store_fds: per store, the
     * persistent file the launcher opened and sized (the enclave maps it;
     * a confined enclave cannot open files), -1 otherwise or where it is
     * not this process's. eos: per domain x store (d * nstores + s), the
     * domain's first handle (ea_eos_t *), opened by the first
     * ea_eos_attach under eos_lock; later ones are its duplicates. */
    int *store_fds;
    void **eos;
    _Atomic uint32_t eos_lock;
};

static inline int eai_domain_of_worker(const eai_deploy_t *d, int w)
{
    return d->workers[w].enclave == EAI_HOST ? 0 : 1 + d->workers[w].enclave;
}

static inline int eai_domain_of_actor(const eai_deploy_t *d, int a)
{
    return eai_domain_of_worker(d, d->actors[a].worker);
}

/* layout.c */
/* The storage layout of a channel of `nodes` nodes of up to `max` payload
 * bytes, into *out. Returns EA_OK, or EA_ERR_LIMIT if the sizes are out of
 * the queue layer's range (*out is then undefined). */
int eai_chan_layout(uint32_t nodes, uint32_t max, struct eai_chan_layout *out);
int eai_layout_compute(struct eai_rt *rt, char *err, size_t errlen);
int eai_arena_create(struct eai_rt *rt, char *err, size_t errlen);
/* In an enclave process the platform daemon started: maps the launcher's
 * arena from fd (laid out from the same deployment by eai_layout_compute)
 * and attaches the views, checking its size and header. */
int eai_arena_attach(struct eai_rt *rt, int fd, char *err, size_t errlen);
void eai_rt_fini(struct eai_rt *rt);

/* cargo.c */
/* Allocates connector c's held-node bitmap for its pool (c->pool set):
 * EA_OK or EA_ERR_NOMEM. Every connector needs it before its first cargo
 * operation; eai_conn_held_fini frees it (NULL-safe, idempotent). */
int eai_conn_held_init(struct ea_conn *c);
void eai_conn_held_fini(struct ea_conn *c);

/* sched.c */
void eai_wake(struct eai_rec *s, ea_mbox_t *ready, struct eai_wk_shm *wk, uint32_t id);
void eai_wake_all_workers(struct eai_rt *rt);
void eai_request_stop(struct eai_rt *rt);
/* Latches domain `dom`'s stop; the first caller wakes the domain's workers. */
void eai_domain_stop(struct eai_domain *dom);
/* True once domain `dom` is stopping: it latches the arena's stop request
 * the first time it sees it, and stays stopping even if the arena's flag
 * goes back to 0. Any thread of the domain. Inline: every step and most
 * bodies ask. */
static inline bool eai_domain_stopping(struct eai_domain *dom)
{
    /* Relaxed: the latch and the request carry no data, only the decision. */
    if (atomic_load_explicit(&dom->stopping, memory_order_relaxed) != 0)
        return true;
    if (atomic_load_explicit(&dom->rt->hdr->stop, memory_order_relaxed) == 0)
        return false;
    eai_domain_stop(dom);
    return true;
}
void *eai_worker_main(void *arg);
extern _Thread_local struct ea_actor *eai_current;

/* domain.c
 * Starts domain `dom` in this process. confine: install the enclave
 * allow-list (proc backend). async: attestation and the opening of the gate
 * happen on a starter thread (domains that share the launcher process must
 * not wait for each other inline); errors then surface as a failed run. */
int eai_domain_start(struct eai_rt *rt, int dom, bool confine, bool async, char *err,
                     size_t errlen);
/* Joins the domain's workers (no frees: safe under seccomp). */
void eai_domain_wait(struct eai_rt *rt, int dom);
/* Joins the domain's started workers, waiting until deadline_ns
 * (eai_clock_ns) at most; does nothing for a domain not in this process.
 * Returns EA_OK if every worker was joined, EA_ERR_BUSY if one is still
 * running (it stays started: a later eai_domain_wait joins it). No frees. */
int eai_domain_wait_until(struct eai_rt *rt, int dom, uint64_t deadline_ns);
/* Joins the workers and frees the domain. */
void eai_domain_join(struct eai_rt *rt, int dom);

/* secure.c */
/* Loads an enclave's image: EINIT by the platform on its sealed bytes, then
 * dlopen. confine (proc backend): the enclave's first confinement stage is
 * in force before EINIT and before any byte of the image is mapped. */
int eai_domain_load_enclave_image(struct eai_domain *dom, const char *image, bool confine,
                                  char *err, size_t errlen);
int eai_conn_setup_aead(struct eai_rt *rt, struct ea_conn *c, int chan, int end);
void eai_conn_free_aead(struct ea_conn *c);
int eai_domain_attest(struct eai_domain *dom, char *err, size_t errlen);
void eai_domain_free_secure(struct eai_domain *dom);
/* Checks the deployment's channels of enclave domain `dom` against the
 * channel policy compiled into its image (ea_channel_policy_t); on refusal
 * EA_ERR_POLICY with "file:line: enclave 'x' refuses channel 'c': why". */
int eai_domain_check_channels(struct eai_domain *dom, char *err, size_t errlen);
/* Closes the domain's line to the platform (the service ends when all are
 * closed). */
void eai_domain_close_platform(struct eai_domain *dom);

#endif
