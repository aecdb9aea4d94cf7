#!/usr/bin/env bash
# bench/https: requests per second, latency percentiles and server CPU time
# per request of the https example (TLS in enclave 'edge', request handling
# in enclave 'app') against nginx from Debian serving the same file with the
# same certificate, in the same run, on the same CPUs, measured by wrk with
# keep-alive. Both servers run side by side; for each connection count wrk
# measures eactors and then nginx, so the two rows of a count are taken
# seconds apart.
# Usage: bench/https.sh BUILD_DIR. CSV on stdout:
#   bench,server,connections,requests_per_s,p50_ms,p99_ms,cpu_us_per_req,errors
# cpu_us_per_req is the utime+stime of the server's processes (the eactors
# launcher and everything it forked; nginx's master and workers), read from
# /proc before and after the wrk run, over the requests wrk completed; it
# includes the TLS handshakes of the run's connections. errors is wrk's
# socket errors (connect, read, write, timeout) plus non-2xx responses.
# A connection count that cannot be run (descriptor limit) or that wrk could
# not complete gives a row of NA and a '# ' line saying why, on stdout and
# stderr.
# Knobs: HTTPS_CONNS (default "16 64 256 1024 10000"; e.g. HTTPS_CONNS=64
# for a quick run), HTTPS_SECONDS (default 5), HTTPS_BIG_SECONDS (duration
# above 1,024 connections, default 20: 10,000 connects at once overflow the
# listen queue (net.core.somaxconn, 4096 here), the dropped SYNs are resent
# after 1, 3, 7 s, so the first seconds are a ramp, which this row includes),
# HTTPS_TIMEOUT (wrk --timeout, default 10s),
# HTTPS_CPUS (CPUs of wrk, default 0-1, the servers' CPUs),
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
PORT_EA=18443 PORT_NGINX=18444 PORT_BASE=18445
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
    echo "https,$1,$2,NA,NA,NA,NA,NA"
    echo "# https $1 $2 connections: $3"
    echo "bench/https: $1 $2 connections: $3" >&2
}

run_wrk() { # server port conns pid
    local f=$OUT/wrk-$1-$3.txt secs=$SECS t0 t1
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
    taskset -c "$CPUS" wrk -t2 -c"$3" -d"${secs}s" --timeout "$TIMEOUT" --latency \
        "https://127.0.0.1:$2/$FILE" >"$f" 2>&1
    t1=$(tree_ticks "$4")
    local n
    n=$(reqs "$f")
    if ! grep -q "^Requests/sec" "$f" || [ "${n:-0}" -eq 0 ]; then
        na "$1" "$3" "wrk completed no request in ${secs} s ($(grep -E 'Socket errors|rror' "$f" | tr -s ' \n' ' ')); see $f"
        return
    fi
    local e
    e=$(errs "$f")
    [ "$e" -gt 0 ] && echo "bench/https: $1 $3 connections: $(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' \n' ' ')" >&2
    echo "https,$1,$3,$(rps "$f"),$(ms 50% "$f"),$(ms 99% "$f"),$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" \
        'BEGIN { printf "%.2f", d / hz * 1e6 / n }'),$e"
    sleep 1 # let the closes (and eactors' lingering closes) finish before the next run
}

echo "bench,server,connections,requests_per_s,p50_ms,p99_ms,cpu_us_per_req,errors"

# eactors: the example's deployment on its own port. Its edge grant already
# allows 32768 handles (the system actor's whole table), more than any count.
sed -e "s/8443/$PORT_EA/g" "$BUILD/examples/https/https.xml" >"$OUT/https.xml"
EACTORS_IMAGE_PATH=$BUILD/examples/https "$BUILD/tools/eactors" run --quiet "$OUT/https.xml" \
    >"$OUT/eactors.out" 2>"$OUT/eactors.err" &
ea=$!
if [ -n "$BASE" ]; then
    sed -e "s/8443/$PORT_BASE/g" "$BASE/examples/https/https.xml" >"$OUT/https-base.xml"
    EACTORS_IMAGE_PATH=$BASE/examples/https EACTORS_PLATFORM_DIR=$EACTORS_PLATFORM_DIR-base \
        "$BASE/tools/eactors" run --quiet "$OUT/https-base.xml" \
        >"$OUT/eactors-base.out" 2>"$OUT/eactors-base.err" &
    eb=$!
fi

# nginx: two workers on the same two CPUs, same certificate, same file.
cat >"$OUT/nginx.conf" <<CONF
daemon off;
worker_processes 2;
worker_cpu_affinity 01 10;
worker_rlimit_nofile $NOFILE;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections $((MAXC + 1024)); }
http {
    include /etc/nginx/mime.types;
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT_NGINX ssl backlog=4096;
        ssl_certificate $PKI/server.pem;
        ssl_certificate_key $PKI/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $SITE;
    }
}
CONF
nginx -p "$OUT" -c "$OUT/nginx.conf" &
ng=$!

for _ in $(seq 1 100); do grep -q listening "$OUT/eactors.out" && break; sleep 0.05; done
[ -n "$BASE" ] && for _ in $(seq 1 100); do grep -q listening "$OUT/eactors-base.out" && break; sleep 0.05; done
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT_NGINX/$FILE" && break; sleep 0.05; done
for c in $CONNS; do
    run_wrk eactors $PORT_EA "$c" $ea
    [ -n "$BASE" ] && run_wrk eactors-base $PORT_BASE "$c" $eb
    run_wrk nginx $PORT_NGINX "$c" $ng
done
kill -INT $ea 2>/dev/null; wait $ea
[ -n "$BASE" ] && { kill -INT $eb 2>/dev/null; wait $eb; }
kill -QUIT $ng 2>/dev/null; wait $ng 2>/dev/null
exit 0
