#!/usr/bin/env bash
# Checks that the runtime's layers form one order with no cycle.
#
# usage: check_layers.sh <layer-list-file> [<src-dir> [<os-layer> <exempt>...]]
#
# <layer-list-file> has one line per layer, lowest first:
#     <name> <object> <object> ...
# A layer may reference (nm -u) only symbols defined in itself or in a layer
# listed before it. With <src-dir>, every `#include "<layer>/..."` in
# <src-dir>/<layer>/ is checked the same way. Prints each violation and
# exits 1 if there is one; prints a one-line summary and exits 0 otherwise.
#
# With <os-layer> (the platform layer), no layer above it may reference a
# C library function that is a system call wrapper (open, socket, mmap, ...):
# they reach the OS through the platform layer only. Layers named as
# <exempt> are allowed (see the exceptions in src/platform/platform.h).
set -euo pipefail

list=$1
src=${2:-}
os_layer=${3:-}
exempt=" ${*:4} "

# System call wrappers of the C library that only the platform layer (and
# the exempt layers) may call.
os_calls=" open open64 openat openat64 creat close read write pread pread64 pwrite pwrite64
 readv writev fsync fdatasync rename renameat renameat2 link linkat unlink unlinkat mkdir
 mkdirat rmdir stat stat64 fstat fstat64 lstat lstat64 fstatat fstatat64 statx realpath
 access faccessat chmod fchmod chown fchown truncate ftruncate fopen fopen64 fdopen freopen
 opendir fdopendir readdir socket socketpair bind listen accept accept4 connect shutdown
 send sendto sendmsg recv recvfrom recvmsg setsockopt getsockopt poll ppoll select
 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait mmap mmap64 munmap mprotect
 mremap madvise msync fork vfork clone execve execv execvp execl kill tgkill waitpid wait wait4
 prctl fcntl fcntl64 ioctl pipe pipe2 dup dup2 dup3 getpid gettid syscall pthread_create
 pthread_join sigaction signal sigprocmask pthread_sigmask sigaltstack timerfd_create
 timerfd_settime eventfd memfd_create dlopen dlmopen dlsym dlclose sched_setaffinity
 pthread_setaffinity_np clock_nanosleep nanosleep usleep sleep _exit setrlimit getrlimit
 seccomp_init seccomp_load "
os_calls=" $(echo $os_calls) " # one line, single spaces
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

names=()
while read -r name objs; do
    [ -n "$name" ] || continue
    names+=("$name")
    : >"$tmp/$name.def"
    : >"$tmp/$name.und"
    for o in $objs; do
        base=$(basename "$o")
        nm --defined-only "$o" | awk -v f="$base" 'NF == 3 && $2 ~ /[A-Z]/ {print $3, f}' >>"$tmp/$name.def"
        nm -u "$o" | awk -v f="$base" '{print $NF, f}' >>"$tmp/$name.und"
    done
done <"$list"

# symbol -> "layer-index layer object" of its definition.
: >"$tmp/defs"
for i in "${!names[@]}"; do
    awk -v i="$i" -v l="${names[$i]}" '{print $1, i, l, $2}' "$tmp/${names[$i]}.def" >>"$tmp/defs"
done

bad=0
checked=0
for i in "${!names[@]}"; do
    l=${names[$i]}
    while read -r sym obj; do
        checked=$((checked + 1))
        def=$(awk -v s="$sym" '$1 == s {print $2, $3, $4; exit}' "$tmp/defs")
        [ -n "$def" ] || continue # libc, OpenSSL, libxml2, ...
        read -r j dl dobj <<<"$def"
        if [ "$j" -gt "$i" ]; then
            echo "layer violation: $l ($obj) uses $sym, defined in the higher layer $dl ($dobj)"
            bad=$((bad + 1))
        fi
    done <"$tmp/$l.und"
done

oscalls=0
if [ -n "$os_layer" ]; then
    above=0
    for i in "${!names[@]}"; do
        l=${names[$i]}
        if [ "$l" = "$os_layer" ]; then
            above=1
            continue
        fi
        [ "$above" = 1 ] || continue
        case "$exempt" in *" $l "*) continue ;; esac
        while read -r sym obj; do
            oscalls=$((oscalls + 1))
            case "$os_calls" in
            *" ${sym%%@*} "*)
                echo "platform violation: $l ($obj) calls the OS directly: ${sym%%@*}"
                bad=$((bad + 1))
                ;;
            esac
        done <"$tmp/$l.und"
    done
fi

includes=0
if [ -n "$src" ]; then
    for i in "${!names[@]}"; do
        l=${names[$i]}
        [ -d "$src/$l" ] || continue
        for f in "$src/$l"/*.[ch]; do
            [ -e "$f" ] || continue
            while IFS= read -r inc; do
                includes=$((includes + 1))
                target=${inc%%/*}
                for j in "${!names[@]}"; do
                    if [ "${names[$j]}" = "$target" ] && [ "$j" -gt "$i" ]; then
                        echo "layer violation: $f includes \"$inc\" of the higher layer $target"
                        bad=$((bad + 1))
                    fi
                done
            done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
        done
    done
fi

if [ "$bad" -ne 0 ]; then
    echo "layers: $bad violation(s) of the order ${names[*]}"
    exit 1
fi
echo "layers: order ${names[*]} holds ($checked undefined references, $includes includes, $oscalls OS-call candidates checked)"
