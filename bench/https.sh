#!/usr/bin/env bash
# bench/https: requests per second and latency percentiles of the https
# example (TLS in enclave 'edge', request handling in enclave 'app') against
# nginx from Debian serving the same file with the same certificate, in the
# same run, on the same CPUs, measured by wrk with keep-alive.
# Usage: bench/https.sh BUILD_DIR. CSV on stdout:
#   bench,server,connections,requests_per_s,p50_ms,p99_ms
# Knobs: HTTPS_CONNS (default "16 64"), HTTPS_SECONDS (default 5).
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out/https
mkdir -p "$OUT"
CONNS=${HTTPS_CONNS:-16 64}
SECS=${HTTPS_SECONDS:-5}
PORT_EA=18443 PORT_NGINX=18444
SITE=$ROOT/examples/https/site
PKI=$BUILD/examples/https/pki
FILE=index.html
export EACTORS_PLATFORM_DIR=${EACTORS_PLATFORM_DIR:-$OUT/platform}
for t in wrk nginx; do
    command -v $t >/dev/null || { echo "bench/https: $t is missing (make deps-bench)" >&2; exit 1; }
done

# wrk's latency lines ("50%  1.23ms") in milliseconds.
ms() { awk -v p="$1" '$1 == p { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
       f = (u == "us") ? 0.001 : (u == "s") ? 1000 : 1; printf "%.3f", v * f; exit }' "$2"; }
rps() { awk '/^Requests\/sec:/ { print $2; exit }' "$1"; }

run_wrk() { # server port conns
    local f=$OUT/wrk-$1-$3.txt
    wrk -t2 -c"$3" -d"${SECS}s" --latency "https://127.0.0.1:$2/$FILE" >"$f" 2>&1
    if ! grep -q "^Requests/sec" "$f"; then
        echo "bench/https: wrk against $1 failed:" >&2; cat "$f" >&2
        echo "https,$1,$3,NA,NA,NA"; return
    fi
    local errs
    errs=$(awk '/Non-2xx|Socket errors/' "$f")
    [ -n "$errs" ] && echo "bench/https: $1 $3 connections: $errs" >&2
    echo "https,$1,$3,$(rps "$f"),$(ms 50% "$f"),$(ms 99% "$f")"
}

echo "bench,server,connections,requests_per_s,p50_ms,p99_ms"

# eactors: the example's deployment on its own port.
sed "s/8443/$PORT_EA/g" "$BUILD/examples/https/https.xml" > "$OUT/https.xml"
EACTORS_IMAGE_PATH=$BUILD/examples/https "$BUILD/tools/eactors" run --quiet "$OUT/https.xml" \
    >"$OUT/eactors.out" 2>"$OUT/eactors.err" &
ea=$!
for _ in $(seq 1 100); do grep -q listening "$OUT/eactors.out" && break; sleep 0.05; done
for c in $CONNS; do run_wrk eactors $PORT_EA "$c"; done
kill -INT $ea; wait $ea

# nginx: two workers on the same two CPUs, same certificate, same file.
cat > "$OUT/nginx.conf" <<CONF
daemon off;
worker_processes 2;
worker_cpu_affinity 01 10;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT_NGINX ssl;
        ssl_certificate $PKI/server.pem;
        ssl_certificate_key $PKI/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $SITE;
    }
}
CONF
nginx -p "$OUT" -c "$OUT/nginx.conf" &
ng=$!
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT_NGINX/$FILE" && break; sleep 0.05; done
for c in $CONNS; do run_wrk nginx $PORT_NGINX "$c"; done
kill -QUIT $ng 2>/dev/null; wait $ng 2>/dev/null
exit 0
