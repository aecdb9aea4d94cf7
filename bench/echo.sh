#!/usr/bin/env bash
# bench/echo: the plain-TCP echo example (examples/echo/echo.xml: the echo
# actor in enclave 'server' on CPU 0, the system actor 'io' doing the socket
# calls in the host on CPU 1) against the floor of that path, a
# single-threaded epoll echo server with only the kernel in the path
# (ea_bench_epoll_echo, bench/epoll_echo.c), and the same floor with
# io_uring doing the receives and sends (ea_bench_uring_echo,
# bench/uring_echo.c: io_uring against epoll for this path), measured in
# the same run by the
# same closed-loop load generator (ea_bench_echo_load, bench/echo_load.c):
# N connections, each sending a 64-byte message and waiting for its echo.
# As in bench/https.sh, servers and load share the machine's two CPUs: the
# eactors workers are pinned by the deployment, the floor and the load
# generator by taskset to ECHO_CPUS.
# Usage: bench/echo.sh BUILD_DIR. CSV on stdout:
#   bench,server,connections,requests_per_s,p50_us,p99_us,cpu_us_per_req,ratio_vs_floor
# server is 'eactors', 'eactors-iothread' (the same with EA_SYS_IO_THREAD=1:
# the system actor's io thread instead of its worker's io_uring park), the
# baseline 'epoll-floor' or its io_uring twin 'uring-floor' (measured last).
# cpu_us_per_req is the
# server's utime+stime (for eactors the launcher and everything it forked)
# from /proc before and after the load, over the requests counted (so it
# includes the warm-up's share). ratio_vs_floor is the time per request
# (1 / requests_per_s) of the row over the floor's at the same count: 1.00
# on the floor's row, how many times slower eactors is on its own.
# Knobs: ECHO_CONNS (default "1 64"), ECHO_SECONDS (default 5), ECHO_SIZE
# (bytes, default 64), ECHO_CPUS (default 0-1), ECHO_BASE (a build
# directory of another commit, e.g. the previous one: its tools/eactors and
# examples/echo run side by side as server eactors-base, measured after
# eactors-iothread and before the floor). It exits 1 only when a
# server did not start or a load run failed, after printing everything.
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out/echo
mkdir -p "$OUT"
CONNS=${ECHO_CONNS:-1 64}
SECS=${ECHO_SECONDS:-5}
SIZE=${ECHO_SIZE:-64}
CPUS=${ECHO_CPUS:-0-1}
PORT_EA=17007 PORT_FLOOR=17008 PORT_EAT=17009 PORT_BASE=17010 PORT_URING=17011
BASE=${ECHO_BASE:-}
LOAD=$BUILD/bench/ea_bench_echo_load
FLOOR=$BUILD/bench/ea_bench_epoll_echo
URING=$BUILD/bench/ea_bench_uring_echo
HZ=$(getconf CLK_TCK)
export EACTORS_PLATFORM_DIR=${EACTORS_PLATFORM_DIR:-$OUT/platform}
for f in "$LOAD" "$FLOOR" "$URING" "$BUILD/tools/eactors" "$BUILD/examples/echo/echo.xml"; do
    [ -e "$f" ] || { echo "bench/echo: $f not found; build first" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "bench/echo: taskset is missing (util-linux)" >&2; exit 1; }
FAILED=0

# tree_ticks PID: CPU time of a process tree (bench/lib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Prints the value of key=VALUE on the echo-load line of file $1.
kv() { awk -v key="$2" '$1 == "echo-load" { for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit } }' "$1"; }

# Waits for "listening" in file $1 while process $2 lives; 0 when seen.
wait_listening() {
    for _ in $(seq 1 200); do
        grep -q listening "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# One load run: prints "rps p50 p99 cpu_us_per_req" or "NA NA NA NA".
measure() { # name port conns pid
    local f=$OUT/load-$1-$3.txt t0 t1 n
    t0=$(tree_ticks "$4")
    taskset -c "$CPUS" "$LOAD" "$2" "$3" "$SECS" "$SIZE" >"$f" 2>"$OUT/load-$1-$3.err"
    local rc=$?
    t1=$(tree_ticks "$4")
    n=$(kv "$f" requests)
    if [ $rc -ne 0 ] || [ "${n:-0}" -eq 0 ]; then
        echo "bench/echo: FAILED: $1 $3 connections (exit $rc): $(head -c 300 "$OUT/load-$1-$3.err")" >&2
        echo "NA NA NA NA"
        return
    fi
    echo "$(kv "$f" rps) $(kv "$f" p50_us) $(kv "$f" p99_us) $(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" \
        'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
}

# The servers run side by side; each count measures eactors, eactors with
# the io thread, then the floor.
sed "s/7007/$PORT_EA/g" "$BUILD/examples/echo/echo.xml" >"$OUT/echo.xml"
EACTORS_IMAGE_PATH=$BUILD/examples/echo "$BUILD/tools/eactors" run --quiet "$OUT/echo.xml" \
    >"$OUT/eactors.out" 2>"$OUT/eactors.err" &
ea=$!
# The same example with the system actor's former io thread (EA_SYS_IO_THREAD=1,
# the fallback where io_uring's futex wait is missing), to compare the
# worker's io_uring park with it in the same run.
sed "s/7007/$PORT_EAT/g" "$BUILD/examples/echo/echo.xml" >"$OUT/echo-iothread.xml"
EA_SYS_IO_THREAD=1 EACTORS_IMAGE_PATH=$BUILD/examples/echo "$BUILD/tools/eactors" run --quiet \
    "$OUT/echo-iothread.xml" >"$OUT/eactors-iothread.out" 2>"$OUT/eactors-iothread.err" &
eat=$!
if [ -n "$BASE" ]; then
    sed "s/7007/$PORT_BASE/g" "$BASE/examples/echo/echo.xml" >"$OUT/echo-base.xml"
    EACTORS_IMAGE_PATH=$BASE/examples/echo EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-base \
        "$BASE/tools/eactors" run --quiet "$OUT/echo-base.xml" \
        >"$OUT/eactors-base.out" 2>"$OUT/eactors-base.err" &
    eb=$!
    wait_listening "$OUT/eactors-base.out" $eb || { echo "bench/echo: eactors-base did not start; see $OUT/eactors-base.err" >&2; FAILED=1; }
fi
taskset -c "$CPUS" "$FLOOR" $PORT_FLOOR >"$OUT/floor.out" 2>"$OUT/floor.err" &
fl=$!
taskset -c "$CPUS" "$URING" $PORT_URING >"$OUT/uring.out" 2>"$OUT/uring.err" &
ur=$!
wait_listening "$OUT/eactors.out" $ea || { echo "bench/echo: eactors did not start; see $OUT/eactors.err" >&2; FAILED=1; }
wait_listening "$OUT/eactors-iothread.out" $eat || { echo "bench/echo: eactors (io thread) did not start; see $OUT/eactors-iothread.err" >&2; FAILED=1; }
wait_listening "$OUT/floor.out" $fl || { echo "bench/echo: the epoll floor did not start; see $OUT/floor.err" >&2; FAILED=1; }
wait_listening "$OUT/uring.out" $ur || { echo "bench/echo: the io_uring floor did not start; see $OUT/uring.err" >&2; FAILED=1; }

echo "bench,server,connections,requests_per_s,p50_us,p99_us,cpu_us_per_req,ratio_vs_floor"
for c in $CONNS; do
    read -r e_rps e_p50 e_p99 e_cpu < <(measure eactors $PORT_EA "$c" $ea)
    read -r t_rps t_p50 t_p99 t_cpu < <(measure eactors-iothread $PORT_EAT "$c" $eat)
    [ -n "$BASE" ] && read -r b_rps b_p50 b_p99 b_cpu < <(measure eactors-base $PORT_BASE "$c" $eb)
    read -r f_rps f_p50 f_p99 f_cpu < <(measure epoll-floor $PORT_FLOOR "$c" $fl)
    read -r u_rps u_p50 u_p99 u_cpu < <(measure uring-floor $PORT_URING "$c" $ur)
    [ "$u_rps" = NA ] && FAILED=1
    uratio=$(awk -v e="$u_rps" -v f="$f_rps" 'BEGIN { if (e + 0 > 0 && f + 0 > 0) printf "%.2f", f / e; else print "NA" }')
    # measure runs in a subshell, so a failed run is known here by its NA.
    [ "$e_rps" = NA ] || [ "$t_rps" = NA ] || [ "$f_rps" = NA ] && FAILED=1
    ratio=$(awk -v e="$e_rps" -v f="$f_rps" 'BEGIN { if (e + 0 > 0 && f + 0 > 0) printf "%.2f", f / e; else print "NA" }')
    tratio=$(awk -v e="$t_rps" -v f="$f_rps" 'BEGIN { if (e + 0 > 0 && f + 0 > 0) printf "%.2f", f / e; else print "NA" }')
    fr=$(awk -v f="$f_rps" 'BEGIN { print (f + 0 > 0) ? "1.00" : "NA" }')
    echo "echo,eactors,$c,$e_rps,$e_p50,$e_p99,$e_cpu,$ratio"
    echo "echo,eactors-iothread,$c,$t_rps,$t_p50,$t_p99,$t_cpu,$tratio"
    if [ -n "$BASE" ]; then
        [ "$b_rps" = NA ] && FAILED=1
        bratio=$(awk -v e="$b_rps" -v f="$f_rps" 'BEGIN { if (e + 0 > 0 && f + 0 > 0) printf "%.2f", f / e; else print "NA" }')
        echo "echo,eactors-base,$c,$b_rps,$b_p50,$b_p99,$b_cpu,$bratio"
    fi
    echo "echo,epoll-floor,$c,$f_rps,$f_p50,$f_p99,$f_cpu,$fr"
    echo "echo,uring-floor,$c,$u_rps,$u_p50,$u_p99,$u_cpu,$uratio"
done

kill -INT $ea 2>/dev/null; wait $ea
kill -INT $eat 2>/dev/null; wait $eat
[ -n "$BASE" ] && { kill -INT $eb 2>/dev/null; wait $eb; }
kill -TERM $fl 2>/dev/null; wait $fl
kill -TERM $ur 2>/dev/null; wait $ur
exit $FAILED
