/*
 * The one contract between eactors and the operating system. Everything above
 * this layer reaches the OS only through these functions (and libc's string
 * and memory functions). A port to another OS implements this header.
 */
#ifndef EAI_PLATFORM_H
#define EAI_PLATFORM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Number of CPUs configured on this machine (CPU numbers are 0..n-1). */
int eai_cpu_count(void);

/* Monotonic time in nanoseconds. */
uint64_t eai_clock_ns(void);

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
/* Install the enclave's system-call allow-list on every thread of the
 * process. A forbidden call raises SIGSYS (see eai_on_fatal). `platform_fd`
 * (or -1) is the enclave's socket to the platform service: sendmsg and recv
 * are allowed on it and on no other descriptor. */
int eai_seccomp_confine(int platform_fd, char *err, size_t errlen);
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
/* Terminates the whole process now with `status` (no atexit handlers). */
_Noreturn void eai_exit_now(int status);

#endif
