/*
 * The one contract between eactors and the operating system. The layers
 * above (crypto, tls, queue, trust, core, runtime, tools) reach the OS only
 * through these functions and libc's string, memory, formatting and
 * allocation functions. A port to another OS implements this header.
 *
 * Exceptions, each for a reason:
 *  - src/sys, the system actor, is the host's I/O gateway for actors:
 *    sockets, epoll, timers and granted files are its job, and its requests
 *    map one to one onto those calls. It is the I/O half of the platform; a
 *    port implements it beside this header (docs/ARCHITECTURE.md).
 *  - Standard output and error: reports and messages are printed with
 *    stdio (printf, fprintf) by the runtime and the tools.
 *  - The environment: getenv for the documented variables
 *    (EACTORS_PLATFORM_DIR, EACTORS_IMAGE_PATH, EACTORS_WATCHDOG_SECS, HOME,
 *    XDG_DATA_HOME); the loader's variables are read here
 *    (eai_loader_env_used).
 *  - Libraries that do their own I/O on our behalf: libxml2 parses from a
 *    buffer this layer read; OpenSSL reads PEM key and certificate files
 *    (BIO_new_file) and gets random bytes from the kernel.
 */
#ifndef EAI_PLATFORM_H
#define EAI_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Number of CPUs configured on this machine (CPU numbers are 0..n-1). */
int eai_cpu_count(void);

/* Monotonic time in nanoseconds. */
uint64_t eai_clock_ns(void);

/* Gives the CPU to another runnable thread of the same CPU, if any
 * (sched_yield); returns at once otherwise. */
void eai_thread_yield(void);

/* Makes the calling thread a batch thread for the scheduler (SCHED_BATCH):
 * when it is woken it does not preempt the thread running on its CPU; it
 * runs when that thread blocks or yields, or at its next scheduler tick.
 * EA_OK, or EA_ERR_SYS with errno set. */
int eai_thread_batch(void);

/* A pause hint inside spin loops. */
static inline void eai_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Threads. The thread is pinned to `cpus` (ncpus > 0) before `fn` runs; a
 * pinning failure is returned as EA_ERR_SYS with "cannot pin to CPU n: ..." in
 * err and the thread is not started. */
typedef struct eai_thread {
    unsigned long id; /* pthread_t */
} eai_thread_t;
int eai_thread_start(eai_thread_t *t, const int *cpus, int ncpus, void *(*fn)(void *), void *arg,
                     char *err, size_t errlen);
int eai_thread_join(eai_thread_t *t);
/* Joins if the thread ends before the monotonic time `deadline_ns`;
 * EA_ERR_BUSY if it is still running then. */
int eai_thread_join_until(eai_thread_t *t, uint64_t deadline_ns);

/* Futex on a word that may live in memory shared between processes.
 * wait: sleeps while *addr == expected, at most timeout_ns (0 = no limit);
 * spurious wake-ups are possible. wake: wakes up to n waiters. */
void eai_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns);
void eai_futex_wake(_Atomic uint32_t *addr, int n);

/* Shared memory: an anonymous memfd of `size` bytes, mapped shared and
 * read-write. The fd stays open (a hostile-host test maps it by /proc). */
int eai_shm_create(const char *name, size_t size, int *fd, void **addr);
void eai_shm_destroy(int fd, void *addr, size_t size);

/* Private memory, zeroed, page granular. */
void *eai_mem_map(size_t size);
/* Asks for huge pages under [addr, addr+size) (transparent huge pages in
 * madvise mode): fewer TLB misses for large, randomly accessed regions. */
void eai_mem_hint_huge(void *addr, size_t size);
void eai_mem_unmap(void *addr, size_t size);

/* Reads the file at `path` into a new memfd and seals it against any further
 * change (write, grow, shrink, re-seal). On success *fd is the memfd and
 * *size its length. The caller then loads exactly those bytes. */
int eai_memfd_from_file(const char *path, int *fd, size_t *size, char *err, size_t errlen);

/* Loads a shared object from an fd (via /proc/self/fd) with local symbol
 * scope. Returns the dlopen handle or NULL with the reason in err. */
void *eai_dl_open_fd(int fd, char *err, size_t errlen);
void *eai_dl_sym(void *handle, const char *name);
void eai_dl_close(void *handle);

/* Creates a directory and its missing parents with `mode`. */
int eai_mkdir_p(const char *path, unsigned mode);

/* Processes. */
pid_t eai_fork(void);
pid_t eai_pid(void);
pid_t eai_parent_pid(void);
/* Reaps one ended child without blocking: returns its pid and fills
 * *status (wait status), 0 if none has ended, -1 if there are no children. */
pid_t eai_reap(int *status);
void eai_kill(pid_t pid, int sig);
/* Sleeps for `ns` nanoseconds (launcher only, never in an actor). */
void eai_sleep_ns(uint64_t ns);
/* Launcher signals: SIGINT, SIGTERM and SIGCHLD set a flag and call
 * notify() (async-signal-safe). eai_signal_take returns and clears the last
 * stop signal (0 = none). */
int eai_signals_install(void (*notify)(void));
int eai_signal_take(void);
const char *eai_signal_name(int sig);
/* In a child: die with SIGKILL when the parent dies; not dumpable. */
int eai_child_harden(char *err, size_t errlen);
/* ---- Record messages between processes (ipc_linux.c) --------------------
 * On a SOCK_SEQPACKET socket: one record of exactly `len` bytes, optionally
 * with one descriptor. send: EA_OK or EA_ERR_SYS. recv: EA_OK, EA_ERR_STOPPED
 * when the peer closed (or sent an empty record), EA_ERR_PARSE for a record
 * of another size, a truncated one or one with more than one descriptor,
 * EA_ERR_SYS. *passed_fd (if not NULL) receives the record's descriptor
 * (close-on-exec; the caller owns it) only on EA_OK, else -1: every
 * descriptor of a refused record, and every one not asked for, is closed. */
/* A connected pair of record sockets (close-on-exec), one end per process. */
int eai_msg_pair(int fds[2]);
int eai_msg_send(int fd, const void *buf, size_t len, int pass_fd);
/* Never blocks: EA_ERR_BUSY when the receiver's queue is full. */
int eai_msg_send_nowait(int fd, const void *buf, size_t len, int pass_fd);
int eai_msg_recv(int fd, void *buf, size_t len, int *passed_fd);
/* Asks the kernel to attach the sender's credentials to every record fd
 * receives (set it before the peer can send); eai_msg_recv_from then also
 * gives the sending process's pid (0 if the record came without). */
int eai_msg_want_sender(int fd);
int eai_msg_recv_from(int fd, void *buf, size_t len, int *passed_fd, pid_t *sender);
/* A descriptor of /proc, opened before confinement. */
int eai_proc_open(int *procfd);
/* True if process `pid` runs under a seccomp filter with no_new_privs and
 * has no tracer, as the kernel reports it (/proc/<pid>/status). */
bool eai_proc_confined(int procfd, pid_t pid);
/* The name of the dynamic loader's variable or file that can map foreign
 * code into this process (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT,
 * /etc/ld.so.preload), or NULL if none is in use. */
const char *eai_loader_env_used(void);
/* Waits until at least one of fds (entries < 0 are ignored) is readable or
 * closed; ready[i] is then 1 for each such descriptor. */
int eai_wait_readable(const int *fds, int n, uint8_t *ready);
/* Maps a memfd read-only if it is sealed against writing, growing and
 * shrinking (EA_ERR_PERM otherwise); unmap with eai_mem_unmap(map, size). */
int eai_memfd_map_sealed(int fd, const void **map, size_t *size);

/* ---- Files of the trusted side (file_linux.c) ----------------------------
 * Descriptors are ints; EAI_CWD names the current directory wherever a
 * directory descriptor is taken. Every open refuses symbolic links. On
 * EA_ERR_SYS errno holds the reason. */
#define EAI_CWD (-100)
int eai_close(int fd);
/* Closes every descriptor above 2 that is not in keep[0..n); *max_fd is the
 * highest descriptor left open. */
int eai_fds_close_except(const int *keep, int n, int *max_fd);
/* Keeps only fds[0..n) (entries < 0 are skipped) above 2, renumbered to 3,
 * 4, ... (fds[] is updated), so every descriptor opened later is above
 * *max_fd. */
int eai_fds_compact(int *fds, int n, int *max_fd);
/* Opens directory `path` (relative to dirfd) for *at() calls; EA_ERR_NOTFOUND
 * if it does not exist. */
int eai_dir_open(int dirfd, const char *path, int *fd);
/* Creates directory `dir` with mode 0700 unless it exists, then checks that
 * it is a directory and not writable by group or others (EA_ERR_PERM); err
 * names the directory as `what`. */
int eai_dir_make_private(const char *dir, const char *what, char *err, size_t errlen);
/* Writes `len` bytes to file `name` (relative to dirfd; may contain '/')
 * atomically and durably: a private temporary file with `mode` in the same
 * directory is written and fsynced, then published, and the directory is
 * fsynced. how = EAI_WRITE_REPLACE renames over an existing file;
 * EAI_WRITE_EXCL links and never replaces: if the name exists, nothing is
 * written and *existed is set (with existed == NULL that is EA_ERR_SYS with
 * errno EEXIST). */
enum { EAI_WRITE_REPLACE = 0, EAI_WRITE_EXCL = 1 };
int eai_file_write_atomic(int dirfd, const char *name, const void *data, size_t len, unsigned mode,
                          int how, bool *existed);
/* Reads exactly `len` bytes from the file at `path`, which must be a regular
 * file of this user that group and others cannot access and exactly `len`
 * bytes long. EA_ERR_NOTFOUND if it does not exist (err untouched); else
 * err names `what` and the reason (EA_ERR_PERM, EA_ERR_PARSE for the size,
 * EA_ERR_SYS). */
int eai_file_read_private(const char *path, void *buf, size_t len, const char *what, char *err,
                          size_t errlen);
/* Reads up to `cap` bytes of file `name` in dirfd into buf; *got is the count.
 * EA_ERR_NOTFOUND if there is no such file. */
int eai_file_read_at(int dirfd, const char *name, void *buf, size_t cap, size_t *got);
/* 1 if `name` exists in dirfd, 0 if not, else EA_ERR_SYS. */
int eai_file_exists_at(int dirfd, const char *name);
/* Removes `name` from dirfd and fsyncs the directory. */
int eai_file_remove_at(int dirfd, const char *name);
/* An exclusive lock on file `name` in dirfd (created if missing), held until
 * eai_file_unlock. It belongs to the open file, so it excludes other threads
 * of this process as well as other processes. */
int eai_file_lock_at(int dirfd, const char *name, int *lockfd);
void eai_file_unlock(int lockfd);

/* Reads the whole file at `path` into a new buffer (caller frees; a NUL
 * follows the `*size` bytes). EA_ERR_NOTFOUND if absent, EA_ERR_TOOBIG if it
 * has more than `max` bytes, EA_ERR_SYS with errno (EISDIR for a directory). */
int eai_file_read_all(const char *path, size_t max, uint8_t **buf, size_t *size);
/* If `path` names an existing regular file (EAI_PATH_FILE) or directory
 * (EAI_PATH_DIR), sets *out to its absolute path without symbolic links
 * (caller frees). EA_ERR_NOTFOUND if nothing is there, EA_ERR_INVAL if
 * something of the other kind is, EA_ERR_NOMEM. */
enum { EAI_PATH_FILE = 0, EAI_PATH_DIR = 1 };
int eai_path_resolve(const char *path, int kind, char **out);

/* ---- File-system and network restriction (landlock_linux.c) -------------
 * eai_landlock_confine denies the calling thread, and every thread and
 * process it starts afterwards, all file-system access except beneath the
 * granted paths (read; EAI_FS_WRITE adds creating, writing and removing;
 * EAI_FS_EXEC executing), and with deny_net every TCP bind and connect.
 * Abstract unix sockets and signals are scoped to the restricted processes
 * where the kernel can (Landlock ABI 6). Files on kernel-internal mounts
 * (memfds, pipes, sockets) stay usable. EA_ERR_SYS with a reason if the
 * kernel has no Landlock or a rule cannot be added. eai_landlock_abi: the
 * kernel's Landlock ABI version, 0 if none. */
enum { EAI_FS_READ = 0, EAI_FS_WRITE = 1, EAI_FS_EXEC = 2 };
typedef struct eai_fs_grant {
    const char *path;
    int access; /* EAI_FS_READ, or EAI_FS_WRITE and/or EAI_FS_EXEC */
} eai_fs_grant_t;
int eai_landlock_confine(const eai_fs_grant_t *grants, int n, bool deny_net, char *err,
                         size_t errlen);
int eai_landlock_abi(void);
/* The general form: file-system grants, and with handle_net every TCP bind
 * and connect denied but to the listed ports; scope_signals also keeps the
 * process from signalling processes outside its restriction (not for a
 * parent that must still stop its children). */
typedef struct eai_landlock {
    const eai_fs_grant_t *fs;
    int nfs;
    bool handle_net;
    const uint16_t *bind;
    int nbind;
    const uint16_t *connect;
    int nconnect;
    bool scope_signals;
} eai_landlock_t;
int eai_landlock_apply(const eai_landlock_t *spec, char *err, size_t errlen);
/* Sets no_new_privs for the process (once; both confinements need it). */
int eai_no_new_privs(void);

/* ---- System-call allow-lists (confine_linux.c) ---------------------------
 * A confined process installs one table with eai_allowlist_install. A rule
 * allows one system call (by name) when its arguments meet `kind`; FD kinds
 * compare with fds[slot] of the installer's caller and are left out when
 * that descriptor is -1. */
typedef enum eai_rule_kind {
    EAI_RULE_ANY = 0,  /* any arguments */
    EAI_RULE_NOEXEC,   /* argument 2 (prot) without PROT_EXEC */
    EAI_RULE_FD,       /* argument 0 == fds[slot] */
    EAI_RULE_FD_FD,    /* arguments 0 and 2 == fds[slot] (renameat) */
    EAI_RULE_EXEC_MAP, /* mmap: PROT_EXEC without PROT_WRITE, not anonymous, fd > fds[slot] */
    EAI_RULE_THREAD,   /* clone: CLONE_THREAD set (threads, never processes) */
    EAI_RULE_ENOSYS,   /* the call fails with ENOSYS */
    EAI_RULE_EQ01,     /* arguments 0 and 1 == the rule's a0, a1 */
    EAI_RULE_DENY      /* the call fails with EPERM (lists with .deny) */
} eai_rule_kind_t;
typedef struct eai_sysrule {
    const char *name;
    eai_rule_kind_t kind;
    int slot;
    uint64_t a0, a1;
} eai_sysrule_t;
typedef struct eai_allowlist eai_allowlist_t;
struct eai_allowlist {
    const char *name;
    bool trap;        /* forbidden call: SIGSYS (see eai_on_fatal); else kill */
    bool deny;        /* a deny-list: everything else is allowed, listed calls fail */
    bool all_threads; /* synchronise the filter to every thread of the process */
    const eai_sysrule_t *rules;
    size_t nrules;
    const eai_allowlist_t *base; /* its rules are added too, or NULL */
};
/* The enclave's list (fds: platform socket or -1, 1, 2) and the platform
 * service's (fds: its counters directory, /proc). */
extern const eai_allowlist_t eai_allowlist_enclave;
/* The enclave's list plus what loading its image and starting its workers
 * need (fds: platform socket or -1, 1, 2, highest descriptor open). */
extern const eai_allowlist_t eai_allowlist_enclave_load;
extern const eai_allowlist_t eai_allowlist_service;
/* The launcher's list once host actors run (a deny-list; see confine_linux.c). */
extern const eai_allowlist_t eai_denylist_host;
int eai_allowlist_install(const eai_allowlist_t *list, const int *fds, int nfds, char *err,
                          size_t errlen);

/* Installs the enclave's allow-list (eai_allowlist_enclave) on every thread
 * of the process. A forbidden call raises SIGSYS (see eai_on_fatal). `platform_fd`
 * (or -1) is the enclave's socket to the platform service: sendmsg and recv
 * are allowed on it and on no other descriptor. */
int eai_seccomp_confine(int platform_fd, char *err, size_t errlen);
/* Installs eai_allowlist_enclave_load: stage 1 of an enclave's confinement,
 * before any byte of its image is mapped. `max_fd` is the highest descriptor
 * open now; only descriptors opened later may be mapped executable. */
int eai_confine_for_load(int platform_fd, int max_fd, char *err, size_t errlen);
/* Name of a system call number on this architecture, or NULL. */
const char *eai_syscall_name(int nr);

/* Fatal-signal hook for enclave processes: on SIGSYS, SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE or SIGABRT calls fn(sig, syscall_nr or -1) on an alternate
 * stack, then terminates the process with exit status 128 + sig. fn must be
 * async-signal-safe. */
int eai_on_fatal(void (*fn)(int sig, int syscall_nr));
/* Prepares the calling worker thread before confinement: alternate signal
 * stack, C library per-thread state. */
int eai_thread_prepare(void);

/* A file mapped shared into memory (the persistent object store). Opens or
 * creates `path` (mode 0600, O_NOFOLLOW). size == 0 maps the file as it is
 * (EA_ERR_NOTFOUND if it is missing or empty); otherwise an empty or new
 * file is extended to `size` and an existing one must have exactly `size`
 * bytes (EA_ERR_INVAL). Sets *map, *size_out and *fd; unmap with
 * eai_file_unmap. EA_ERR_SYS with errno for a failed call. */
int eai_file_map(const char *path, size_t size, void **map, size_t *size_out, int *fd);
/* Writes the pages of [addr, addr+len) back to the file and waits
 * (msync MS_SYNC); addr is rounded down to a page. */
int eai_file_map_sync(void *addr, size_t len);
/* Opens (creating, mode 0600) the regular file `path` for a store of `size`
 * bytes mapped later from the descriptor (possibly by another process): an
 * empty file is sized; EA_ERR_INVAL if it has another size or is not a
 * regular file, EA_ERR_SYS (errno) if it cannot be opened or sized. */
int eai_file_open_sized(const char *path, size_t size, int *fd);
/* Maps `size` bytes of the open file `fd` shared, read-write (not
 * executable); does not close fd. EA_ERR_SYS on failure. */
int eai_file_map_fd(int fd, size_t size, void **map);
void eai_file_unmap(void *map, size_t size, int fd);
/* Terminates the whole process now with `status` (no atexit handlers). */
_Noreturn void eai_exit_now(int status);

/* ---- The platform daemon and its clients (service_linux.c) --------------
 * Local record sockets (SOCK_SEQPACKET, close-on-exec) by file-system path:
 * listen replaces a stale socket file (EA_ERR_BUSY if a daemon answers on
 * it) and sets `mode` on the new one;
 * connect gives EA_ERR_NOTFOUND when nothing listens there. eai_sock_peer:
 * the kernel's word on the connected process (SO_PEERCRED). */
int eai_local_listen(const char *path, unsigned mode, int *fd);
int eai_local_accept(int lfd, int *fd);
int eai_local_connect(const char *path, int *fd);
int eai_sock_peer(int fd, pid_t *pid, uint32_t *uid);
/* Ends both directions of a connection (a blocked receive returns). */
int eai_sock_shutdown(int fd);
/* Users: the effective uid; a user's uid and gid by name (EA_ERR_NOTFOUND);
 * a uid's name (or "uid N"). */
uint32_t eai_uid(void);
int eai_user_find(const char *name, uint32_t *uid, uint32_t *gid);
int eai_user_name(uint32_t uid, char *out, size_t outlen);
/* As root: becomes uid/gid with no supplementary groups, keeping only
 * CAP_SETUID and CAP_SETGID when keep_setid (to start enclaves under their
 * own user), and sets the process non-dumpable. eai_can_set_user: the
 * process holds those two capabilities. */
int eai_become_user(uint32_t uid, uint32_t gid, bool keep_setid, char *err, size_t errlen);
bool eai_can_set_user(void);
int eai_set_undumpable(void);
/* Starts `path` with `argv`, an empty environment and exactly fds[0..nfds)
 * as descriptors 0..nfds-1 (-1: /dev/null; at most 16), under uid/gid when
 * set_user, dying with the caller (PDEATHSIG). *pidfd becomes readable when
 * the process ends; reap it with eai_wait_child. A failed exec is an error
 * here, with the reason in err. */
typedef struct eai_spawn {
    const char *path;
    char *const *argv;
    const int *fds;
    int nfds;
    bool set_user;
    uint32_t uid, gid;
} eai_spawn_t;
int eai_spawn(const eai_spawn_t *s, pid_t *pid, int *pidfd, char *err, size_t errlen);
int eai_wait_child(pid_t pid, int *status);
/* A descriptor that becomes readable when child `pid` ends. */
int eai_pidfd_open(pid_t pid, int *fd);
/* Like eai_wait_readable, for at most timeout_ms (-1: no limit): the number
 * of ready descriptors, 0 on timeout or a signal, or an error. */
int eai_poll_readable(const int *fds, int n, uint8_t *ready, int timeout_ms);
/* This process's executable. */
int eai_exe_path(char *buf, size_t len);
/* EA_OK if `path` and every directory above it are owned by root and
 * writable by nobody else (a sticky directory excepted); else why says
 * which one is not. */
int eai_path_root_owned(const char *path, char *why, size_t whylen);
/* Runs a program found in PATH with this environment and waits for it
 * (installation steps only). */
int eai_run_program(char *const argv[], int *status);
int eai_path_chown(const char *path, uint32_t uid, uint32_t gid, unsigned mode);
/* Opens a file read-only, refusing a symbolic link. */
int eai_file_open_read(const char *path, int *fd);
bool eai_fd_is_file(int fd);
/* The size of the regular file fd; EA_ERR_INVAL if it is not one. */
int eai_fd_file_size(int fd, uint64_t *size);
/* Maps `size` bytes of the shared-memory file fd read-write (EA_ERR_INVAL
 * if it is smaller or not a file). Unmap with eai_shm_destroy(-1, ...). */
int eai_shm_attach(int fd, size_t size, void **addr);
void eai_signal_ignore_pipe(void);

#endif
