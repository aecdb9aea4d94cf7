#!/usr/bin/env bash
# bench/https: requests per second, latency percentiles and CPU time per
# request of the https example (TLS in enclave 'edge', request handling in
# enclave 'app') against nginx from Debian serving the same file with the
# same certificate, in the same run, measured by wrk with keep-alive. The
# servers run side by side; for each connection count (and each pinning
# mode) wrk measures eactors and then nginx, so the rows of a count are
# taken seconds apart.
# Usage: bench/https.sh BUILD_DIR. CSV on stdout:
#   bench,server,connections,requests_per_s,p50_ms,p99_ms,cpu_us_per_req,errors,wrk_cpu_us_per_req
# cpu_us_per_req is the utime+stime of the server's processes (the eactors
# launcher and everything it forked; nginx's master and workers), read from
# /proc before and after the wrk run, over the requests wrk completed; it
# includes the TLS handshakes of the run's connections. errors is wrk's
# socket errors (connect, read, write, timeout) plus non-2xx responses.
# wrk_cpu_us_per_req is wrk's own utime+stime over the same requests (the
# cutime+cstime of the shell that waited for it, from /proc): with server
# and wrk on the same CPUs, requests/s is at most
# NCPUS / (cpu_us_per_req + wrk_cpu_us_per_req) * 1e6.
# Pinning modes (HTTPS_PIN, default "shared split", both in the same run):
#  shared  servers and wrk on CPUs 0-1 (HTTPS_CPUS): nginx two workers
#          pinned to 0 and 1, eactors' workers on 0-1 as the example
#          deploys them; rows 'eactors', 'eactors-base', 'nginx'.
#  split   every server on CPU 0 (HTTPS_SPLIT_SERVER_CPU), wrk (one
#          thread) on CPU 1 (HTTPS_SPLIT_LOAD_CPU): nginx one worker,
#          eactors with all its workers on CPU 0 and spin="0" (a deployment
#          generated from the example's, with one pipeline, the first, for
#          the one server CPU; HTTPS_SPLIT_PIPELINES=all keeps all the
#          example's pipelines, on that CPU); rows 'eactors-split',
#          'eactors-base-split', 'nginx-split'.
# A connection count that cannot be run (descriptor limit) or that wrk could
# not complete gives a row of NA and a '# ' line saying why, on stdout and
# stderr.
# Knobs: HTTPS_CONNS (default "16 64 256 1024 10000"; e.g. HTTPS_CONNS=64
# for a quick run), HTTPS_SECONDS (default 5), HTTPS_BIG_SECONDS (duration
# above 1,024 connections, default 20: 10,000 connects at once overflow the
# listen queue (net.core.somaxconn, 4096 here), the dropped SYNs are resent
# after 1, 3, 7 s, so the first seconds are a ramp, which this row includes),
# HTTPS_TIMEOUT (wrk --timeout, default 10s),
# HTTPS_CPUS (CPUs of wrk in the shared mode, default 0-1, the servers' CPUs),
# HTTPS_PIN, HTTPS_SPLIT_SERVER_CPU (0), HTTPS_SPLIT_LOAD_CPU (1),
# HTTPS_BASE (a build directory of another commit, e.g. the previous one:
# its tools/eactors and examples/https run side by side as server
# eactors-base, measured after eactors and before nginx for each count).
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out/https
mkdir -p "$OUT"
CONNS=${HTTPS_CONNS:-16 64 256 1024 10000}
SECS=${HTTPS_SECONDS:-5}
BIG_SECS=${HTTPS_BIG_SECONDS:-20}
TIMEOUT=${HTTPS_TIMEOUT:-10s}
CPUS=${HTTPS_CPUS:-0-1}
PIN=${HTTPS_PIN:-shared split}
SPLIT_SRV=${HTTPS_SPLIT_SERVER_CPU:-0}
SPLIT_LOAD=${HTTPS_SPLIT_LOAD_CPU:-1}
CUT='/<!-- pipeline 1 -->/,/<!-- end pipeline 1 -->/d'
[ "${HTTPS_SPLIT_PIPELINES:-1}" = all ] && CUT=''
for m in $PIN; do
    case $m in shared | split) ;; *) echo "bench/https: HTTPS_PIN: unknown mode '$m' (shared, split)" >&2; exit 2 ;; esac
done
BASE=${HTTPS_BASE:-}
SITE=$ROOT/examples/https/site
PKI=$BUILD/examples/https/pki
FILE=index.html
HZ=$(getconf CLK_TCK)
export EACTORS_PLATFORM_DIR=${EACTORS_PLATFORM_DIR:-$OUT/platform}
for t in wrk nginx curl taskset; do
    command -v $t >/dev/null || { echo "bench/https: $t is missing (make deps-bench)" >&2; exit 1; }
done

# Descriptors: each server needs one per connection plus its own, wrk one per
# connection. Raise the soft limit to the hard one, and the hard one too when
# allowed (root), as tests/sys/sysclient.c does; the servers and wrk inherit
# it. A count that still does not fit is reported, not run.
MAXC=0
for c in $CONNS; do [ "$c" -gt "$MAXC" ] && MAXC=$c; done
NEED=$((MAXC + 1024))
[ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$NEED" ] && ulimit -Hn "$NEED" 2>/dev/null
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -Sn)
[ "$NOFILE" = unlimited ] && NOFILE=$NEED
fits() { [ $(($1 + 64)) -le "$NOFILE" ]; }

# tree_ticks PID: CPU time of a process tree (bench/lib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# wrk's latency lines ("50%  1.23ms") in milliseconds.
ms() { awk -v p="$1" '$1 == p { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
       f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.3f", v * f; exit }' "$2"; }
rps() { awk '/^Requests\/sec:/ { print $2; exit }' "$1"; }
# Requests completed ("  123456 requests in 5.00s, ...").
reqs() { awk '$2 == "requests" && $3 == "in" { print $1; exit }' "$1"; }
# Socket errors plus non-2xx responses.
errs() { awk '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 }
       /Non-2xx/ { n += $NF } END { print n + 0 }' "$1"; }

# Prints a row of NA and says why, on stdout (as a comment) and stderr.
na() { # server conns reason
    echo "https,$1,$2,NA,NA,NA,NA,NA,NA"
    echo "# https $1 $2 connections: $3"
    echo "bench/https: $1 $2 connections: $3" >&2
}

# CPU ticks of the children a shell waited for, from its /proc stat line
# (fields 16 and 17, cutime and cstime).
child_ticks() { awk '{ i = match($0, /\) [A-Za-z] /); split(substr($0, i + 2), f, " "); print f[14] + f[15] }'; }

run_wrk() { # server port conns pid wrk_cpus wrk_threads
    local f=$OUT/wrk-$1-$3.txt secs=$SECS t0 t1 st
    [ "$3" -gt 1024 ] && secs=$BIG_SECS
    if ! fits "$3"; then
        na "$1" "$3" "not run: the descriptor limit is $NOFILE (ulimit -n; raise the hard limit, or run as root)"
        return
    fi
    if ! kill -0 "$4" 2>/dev/null; then
        na "$1" "$3" "not run: the server is no longer running"
        return
    fi
    t0=$(tree_ticks "$4")
    # wrk runs as the child of a shell that prints its own stat line once
    # wrk has been waited for: wrk's CPU time is that shell's cutime+cstime.
    st=$(bash -c '"$@" >"$0" 2>&1; cat /proc/$$/stat' "$f" \
        taskset -c "$5" wrk -t"$6" -c"$3" -d"${secs}s" --timeout "$TIMEOUT" --latency \
        "https://127.0.0.1:$2/$FILE")
    t1=$(tree_ticks "$4")
    local n
    n=$(reqs "$f")
    if ! grep -q "^Requests/sec" "$f" || [ "${n:-0}" -eq 0 ]; then
        na "$1" "$3" "wrk completed no request in ${secs} s ($(grep -E 'Socket errors|rror' "$f" | tr -s ' \n' ' ')); see $f"
        return
    fi
    local e wt
    e=$(errs "$f")
    wt=$(echo "$st" | child_ticks)
    [ "$e" -gt 0 ] && echo "bench/https: $1 $3 connections: $(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' \n' ' ')" >&2
    echo "https,$1,$3,$(rps "$f"),$(ms 50% "$f"),$(ms 99% "$f"),$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" \
        'BEGIN { printf "%.2f", d / hz * 1e6 / n }'),$e,$(awk -v d="$wt" -v hz="$HZ" -v n="$n" \
        'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
    sleep 1 # let the closes (and eactors' lingering closes) finish before the next run
}

echo "bench,server,connections,requests_per_s,p50_ms,p99_ms,cpu_us_per_req,errors,wrk_cpu_us_per_req"

# Starts the servers of pinning mode $1 on ports from $2 (eactors, base,
# nginx); sets ea_$1, eb_$1, ng_$1 to their pids.
start_mode() { # mode first_port
    local m=$1 pea=$2 pbase=$(($2 + 2)) png=$(($2 + 1)) sfx="" workers affinity cpus ea eb="" ng
    local xml=$OUT/https-$m.xml xmlb=$OUT/https-base-$m.xml
    if [ "$m" = split ]; then
        sfx=-split
        # Every worker of the example on the servers' CPU, not spinning.
        cpus=$SPLIT_SRV workers=1 affinity=$(awk -v c="$SPLIT_SRV" 'BEGIN { printf "1"; for (i = 0; i < c; i++) printf "0" }')
        # One pipeline for the one server CPU: the example's pipeline 1
        # (its block between '<!-- pipeline 1 -->' and '<!-- end pipeline 1
        # -->') is left out unless HTTPS_SPLIT_PIPELINES=all.
        sed -e "s/8443/$pea/g" -e "s/cpus=\"[^\"]*\"/cpus=\"$SPLIT_SRV\" spin=\"0\"/g" \
            -e "$CUT" "$BUILD/examples/https/https.xml" >"$xml"
        [ -n "$BASE" ] && sed -e "s/8443/$pbase/g" -e "s/cpus=\"[^\"]*\"/cpus=\"$SPLIT_SRV\" spin=\"0\"/g" \
            -e "$CUT" "$BASE/examples/https/https.xml" >"$xmlb"
    else
        # nginx: two workers on the same two CPUs as eactors' workers.
        cpus=0-1 workers=2 affinity="01 10"
        sed -e "s/8443/$pea/g" "$BUILD/examples/https/https.xml" >"$xml"
        [ -n "$BASE" ] && sed -e "s/8443/$pbase/g" "$BASE/examples/https/https.xml" >"$xmlb"
    fi
    # The example's edge grant already allows 32768 handles (the system
    # actor's whole table), more than any count.
    EACTORS_IMAGE_PATH=$BUILD/examples/https EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-$m \
        "$BUILD/tools/eactors" run --quiet "$xml" >"$OUT/eactors$sfx.out" 2>"$OUT/eactors$sfx.err" &
    ea=$!
    if [ -n "$BASE" ]; then
        EACTORS_IMAGE_PATH=$BASE/examples/https EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-base-$m \
            "$BASE/tools/eactors" run --quiet "$xmlb" \
            >"$OUT/eactors-base$sfx.out" 2>"$OUT/eactors-base$sfx.err" &
        eb=$!
    fi
    # nginx: same certificate, same file.
    cat >"$OUT/nginx-$m.conf" <<CONF
daemon off;
worker_processes $workers;
worker_cpu_affinity $affinity;
worker_rlimit_nofile $NOFILE;
pid $OUT/nginx-$m.pid;
error_log $OUT/nginx-error-$m.log;
events { worker_connections $((MAXC + 1024)); }
http {
    include /etc/nginx/mime.types;
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$png ssl backlog=4096;
        ssl_certificate $PKI/server.pem;
        ssl_certificate_key $PKI/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $SITE;
    }
}
CONF
    taskset -c "$cpus" nginx -p "$OUT" -c "$OUT/nginx-$m.conf" &
    ng=$!
    for _ in $(seq 1 100); do grep -q listening "$OUT/eactors$sfx.out" && break; sleep 0.05; done
    [ -n "$BASE" ] && for _ in $(seq 1 100); do grep -q listening "$OUT/eactors-base$sfx.out" && break; sleep 0.05; done
    for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$png/$FILE" && break; sleep 0.05; done
    eval "ea_$m=$ea eb_$m=$eb ng_$m=$ng"
}

for m in $PIN; do
    case $m in shared) start_mode shared 18443 ;; split) start_mode split 18446 ;; esac
done
for c in $CONNS; do
    for m in $PIN; do
        if [ "$m" = split ]; then
            sfx=-split p=18446 wc=$SPLIT_LOAD wt=1
        else
            sfx="" p=18443 wc=$CPUS wt=2
        fi
        eval "ea=\$ea_$m eb=\$eb_$m ng=\$ng_$m"
        run_wrk eactors$sfx $p "$c" "$ea" "$wc" $wt
        [ -n "$BASE" ] && run_wrk eactors-base$sfx $((p + 2)) "$c" "$eb" "$wc" $wt
        run_wrk nginx$sfx $((p + 1)) "$c" "$ng" "$wc" $wt
    done
done
for m in $PIN; do
    eval "ea=\$ea_$m eb=\$eb_$m ng=\$ng_$m"
    kill -INT "$ea" 2>/dev/null; wait "$ea"
    [ -n "$BASE" ] && { kill -INT "$eb" 2>/dev/null; wait "$eb"; }
    kill -QUIT "$ng" 2>/dev/null; wait "$ng" 2>/dev/null
done
exit 0
