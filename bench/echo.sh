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
# Pinning modes (ECHO_PIN, default "shared split", both in the same run):
#  shared  as above: the load and the floors on CPUs 0-1 (ECHO_CPUS), the
#          eactors workers as echo.xml pins them (echo actor on 0, system
#          actor on 1); rows named as above.
#  split   every server on CPU 0 (ECHO_SPLIT_SERVER_CPU), the load on CPU 1
#          (ECHO_SPLIT_LOAD_CPU): the floors by taskset, eactors with both
#          its workers on CPU 0 and spin="0" (a deployment generated from
#          echo.xml); rows 'eactors-split', 'eactors-iothread-split',
#          'eactors-base-split', 'epoll-floor-split', 'uring-floor-split',
#          their ratios to 'epoll-floor-split'.
# Knobs: ECHO_CONNS (default "1 64"), ECHO_SECONDS (default 5), ECHO_SIZE
# (bytes, default 64), ECHO_CPUS (default 0-1), ECHO_PIN,
# ECHO_SPLIT_SERVER_CPU (0), ECHO_SPLIT_LOAD_CPU (1), ECHO_BASE (a build
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
PIN=${ECHO_PIN:-shared split}
SPLIT_SRV=${ECHO_SPLIT_SERVER_CPU:-0}
SPLIT_LOAD=${ECHO_SPLIT_LOAD_CPU:-1}
for m in $PIN; do
    case $m in shared | split) ;; *) echo "bench/echo: ECHO_PIN: unknown mode '$m' (shared, split)" >&2; exit 2 ;; esac
done
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
measure() { # name port conns pid load_cpus
    local f=$OUT/load-$1-$3.txt t0 t1 n
    t0=$(tree_ticks "$4")
    taskset -c "$5" "$LOAD" "$2" "$3" "$SECS" "$SIZE" >"$f" 2>"$OUT/load-$1-$3.err"
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

# The servers of pinning mode $1 run side by side on ports from $2 (eactors,
# floor, eactors-iothread, base, io_uring floor); sets ea_$1, eat_$1, eb_$1,
# fl_$1, ur_$1 to their pids. Each count measures eactors, eactors with the
# io thread, the base, then the floors.
start_mode() { # mode first_port
    local m=$1 p=$2 sfx="" cpus=$CPUS ea eat eb="" fl ur pin=()
    if [ "$m" = split ]; then
        sfx=-split cpus=$SPLIT_SRV
        pin=(-e "s/cpus=\"[^\"]*\"/cpus=\"$SPLIT_SRV\" spin=\"0\"/g")
    fi
    sed -e "s/7007/$p/g" "${pin[@]}" "$BUILD/examples/echo/echo.xml" >"$OUT/echo-$m.xml"
    EACTORS_IMAGE_PATH=$BUILD/examples/echo EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-$m \
        "$BUILD/tools/eactors" run --quiet "$OUT/echo-$m.xml" \
        >"$OUT/eactors$sfx.out" 2>"$OUT/eactors$sfx.err" &
    ea=$!
    # The same example with the system actor's former io thread
    # (EA_SYS_IO_THREAD=1, the fallback where io_uring's futex wait is
    # missing), to compare the worker's io_uring park with it in the same run.
    sed -e "s/7007/$((p + 2))/g" "${pin[@]}" "$BUILD/examples/echo/echo.xml" >"$OUT/echo-iothread-$m.xml"
    EA_SYS_IO_THREAD=1 EACTORS_IMAGE_PATH=$BUILD/examples/echo EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-iothread-$m \
        "$BUILD/tools/eactors" run --quiet "$OUT/echo-iothread-$m.xml" \
        >"$OUT/eactors-iothread$sfx.out" 2>"$OUT/eactors-iothread$sfx.err" &
    eat=$!
    if [ -n "$BASE" ]; then
        sed -e "s/7007/$((p + 3))/g" "${pin[@]}" "$BASE/examples/echo/echo.xml" >"$OUT/echo-base-$m.xml"
        EACTORS_IMAGE_PATH=$BASE/examples/echo EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-base-$m \
            "$BASE/tools/eactors" run --quiet "$OUT/echo-base-$m.xml" \
            >"$OUT/eactors-base$sfx.out" 2>"$OUT/eactors-base$sfx.err" &
        eb=$!
        wait_listening "$OUT/eactors-base$sfx.out" $eb || { echo "bench/echo: eactors-base$sfx did not start; see $OUT/eactors-base$sfx.err" >&2; FAILED=1; }
    fi
    taskset -c "$cpus" "$FLOOR" $((p + 1)) >"$OUT/floor$sfx.out" 2>"$OUT/floor$sfx.err" &
    fl=$!
    taskset -c "$cpus" "$URING" $((p + 4)) >"$OUT/uring$sfx.out" 2>"$OUT/uring$sfx.err" &
    ur=$!
    wait_listening "$OUT/eactors$sfx.out" $ea || { echo "bench/echo: eactors$sfx did not start; see $OUT/eactors$sfx.err" >&2; FAILED=1; }
    wait_listening "$OUT/eactors-iothread$sfx.out" $eat || { echo "bench/echo: eactors-iothread$sfx did not start; see $OUT/eactors-iothread$sfx.err" >&2; FAILED=1; }
    wait_listening "$OUT/floor$sfx.out" $fl || { echo "bench/echo: the epoll floor$sfx did not start; see $OUT/floor$sfx.err" >&2; FAILED=1; }
    wait_listening "$OUT/uring$sfx.out" $ur || { echo "bench/echo: the io_uring floor$sfx did not start; see $OUT/uring$sfx.err" >&2; FAILED=1; }
    eval "ea_$m=$ea eat_$m=$eat eb_$m=$eb fl_$m=$fl ur_$m=$ur"
}

# Ports: 17007-17011 shared, 17012-17016 split.
for m in $PIN; do
    case $m in shared) start_mode shared 17007 ;; split) start_mode split 17012 ;; esac
done

# time per request of rps $1 over the floor's rps $2.
ratio() { awk -v e="$1" -v f="$2" 'BEGIN { if (e + 0 > 0 && f + 0 > 0) printf "%.2f", f / e; else print "NA" }'; }

echo "bench,server,connections,requests_per_s,p50_us,p99_us,cpu_us_per_req,ratio_vs_floor"
for c in $CONNS; do
    for m in $PIN; do
        if [ "$m" = split ]; then sfx=-split p=17012 lc=$SPLIT_LOAD; else sfx="" p=17007 lc=$CPUS; fi
        eval "ea=\$ea_$m eat=\$eat_$m eb=\$eb_$m fl=\$fl_$m ur=\$ur_$m"
        read -r e_rps e_p50 e_p99 e_cpu < <(measure eactors$sfx $p "$c" "$ea" "$lc")
        read -r t_rps t_p50 t_p99 t_cpu < <(measure eactors-iothread$sfx $((p + 2)) "$c" "$eat" "$lc")
        [ -n "$BASE" ] && read -r b_rps b_p50 b_p99 b_cpu < <(measure eactors-base$sfx $((p + 3)) "$c" "$eb" "$lc")
        read -r f_rps f_p50 f_p99 f_cpu < <(measure epoll-floor$sfx $((p + 1)) "$c" "$fl" "$lc")
        read -r u_rps u_p50 u_p99 u_cpu < <(measure uring-floor$sfx $((p + 4)) "$c" "$ur" "$lc")
        # measure runs in a subshell, so a failed run is known here by its NA.
        [ "$e_rps" = NA ] || [ "$t_rps" = NA ] || [ "$f_rps" = NA ] || [ "$u_rps" = NA ] && FAILED=1
        fr=$(awk -v f="$f_rps" 'BEGIN { print (f + 0 > 0) ? "1.00" : "NA" }')
        echo "echo,eactors$sfx,$c,$e_rps,$e_p50,$e_p99,$e_cpu,$(ratio "$e_rps" "$f_rps")"
        echo "echo,eactors-iothread$sfx,$c,$t_rps,$t_p50,$t_p99,$t_cpu,$(ratio "$t_rps" "$f_rps")"
        if [ -n "$BASE" ]; then
            [ "$b_rps" = NA ] && FAILED=1
            echo "echo,eactors-base$sfx,$c,$b_rps,$b_p50,$b_p99,$b_cpu,$(ratio "$b_rps" "$f_rps")"
        fi
        echo "echo,epoll-floor$sfx,$c,$f_rps,$f_p50,$f_p99,$f_cpu,$fr"
        echo "echo,uring-floor$sfx,$c,$u_rps,$u_p50,$u_p99,$u_cpu,$(ratio "$u_rps" "$f_rps")"
    done
done

for m in $PIN; do
    eval "ea=\$ea_$m eat=\$eat_$m eb=\$eb_$m fl=\$fl_$m ur=\$ur_$m"
    kill -INT "$ea" 2>/dev/null; wait "$ea"
    kill -INT "$eat" 2>/dev/null; wait "$eat"
    [ -n "$BASE" ] && { kill -INT "$eb" 2>/dev/null; wait "$eb"; }
    kill -TERM "$fl" 2>/dev/null; wait "$fl"
    kill -TERM "$ur" 2>/dev/null; wait "$ur"
done
exit $FAILED
