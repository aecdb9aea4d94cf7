#!/usr/bin/env bash
# Network examples against real clients. Usage: net.sh CASE PORT
# Environment: EACTORS, EX (built examples), CLIENT (tests/sys sysclient),
# EACTORS_PLATFORM_DIR. Each case runs its own copy of the deployment on its
# own port, starts the clients, then stops the run with SIGINT and checks it.
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1 port=$2
scratch
CA=$EX/https/pki/ca.pem

# start XML: runs a private copy of a deployment with the port replaced.
start() {
    local src=$1 oldport=$2
    sed "s/$oldport/$port/g" "$src" > "$tmp/run.xml"
    EACTORS_IMAGE_PATH=$(dirname "$src") "$EACTORS" run "$tmp/run.xml" >"$out" 2>"$err" &
    pid=$!
    wait_for "$out" "listening" 10 && return 0
    fail "server did not start"; cat "$out" "$err"; exit 1
}
# stop: SIGINT, then check a clean end and that no descriptor leaked.
stop() {
    kill -INT "$pid"
    wait_gone 5
    wait "$pid"; local rc=$?
    pid=
    [ "$rc" = 130 ] || { fail "run ended with $rc, expected 130"; tail -20 "$err"; }
    grep -q "died\|killed\|ERROR: AddressSanitizer" "$err" && { fail "crash"; cat "$err"; }
    # One line per system actor; the counts are the whole process's. The
    # first system actor's 'before' is the process without any of them, and
    # the one that stops last finds every descriptor of theirs closed, so
    # with no leak the smallest 'after' equals the smallest 'before' (with
    # one system actor: its own two).
    local fd
    fd=$(grep -o "descriptors [0-9]* before, [0-9]* after" "$err" |
        awk '{ b = $2 + 0; a = $4 + 0; if (NR == 1 || b < mb) mb = b; if (NR == 1 || a < ma) ma = a }
             END { if (NR) print mb, ma }')
    set -- $fd
    [ -n "$fd" ] && [ "$1" = "$2" ] || fail "descriptors leaked: '$(grep -o "descriptors [0-9]* before, [0-9]* after" "$err" | tr '\n' ' ')'"
}
# site: the site directory of the run's deployment (every handler has the same).
site() { sed -n 's/.*param name="site" value="\([^"]*\)".*/\1/p' "$tmp/run.xml" | head -1; }
curl_() { curl -sS --max-time 20 --cacert "$CA" "$@"; }

case "$case_name" in
echo_many)
    start "$EX/echo/echo.xml" 7007
    "$CLIENT" "$port" 200 65536 echo || fail "echo with 200 clients"
    stop
    grep -q "echo: 200 connections accepted, 200 closed" "$out" || fail "not all connections seen"
    ;;
echo_slow)
    start "$EX/echo/echo.xml" 7007
    "$CLIENT" "$port" 4 2000000 slow || fail "echo to slow readers"
    stop
    ;;
tls_versions)
    start "$EX/echo/echo-tls.xml" 7443
    for v in 1_3 1_2; do
        r=$( (echo "ping $v"; sleep 0.5) | timeout 10 openssl s_client -connect 127.0.0.1:$port \
            -CAfile "$CA" -verify_return_error -servername localhost -tls$v 2>&1)
        echo "$r" | grep -q "ping $v" || fail "TLS $v: no echo"
        echo "$r" | grep -q "Verify return code: 0 (ok)" || fail "TLS $v: certificate not verified"
        case $v in
        1_3) echo "$r" | grep -q "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" || fail "TLS 1.3 cipher" ;;
        1_2) echo "$r" | grep -q "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" || fail "TLS 1.2 cipher" ;;
        esac
    done
    # Old protocols are refused.
    r=$(echo | timeout 10 openssl s_client -connect 127.0.0.1:$port -tls1_1 2>&1)
    echo "$r" | grep -q "Cipher is (NONE)\|alert\|error" || fail "TLS 1.1 was not refused"
    stop
    ;;
tls_bad_ca)
    start "$EX/echo/echo-tls.xml" 7443
    # A client that does not trust the development CA refuses the server.
    r=$(echo | timeout 10 openssl s_client -connect 127.0.0.1:$port -verify_return_error 2>&1)
    echo "$r" | grep -q "Verify return code: 0 (ok)" && fail "untrusted certificate accepted"
    stop
    ;;
https_pages)
    start "$EX/https/https.xml" 8443
    for f in index.html style.css data.txt; do
        curl_ "https://localhost:$port/$f" -o "$tmp/$f" || fail "GET $f"
        cmp -s "$tmp/$f" "$EX/../../examples/https/site/$f" 2>/dev/null ||
            cmp -s "$tmp/$f" "$(sed -n 's/.*param name="site" value="\([^"]*\)".*/\1/p' "$tmp/run.xml")/$f" ||
            fail "$f differs from the site"
    done
    [ "$(curl_ -o /dev/null -w '%{http_code} %{content_type}' "https://localhost:$port/")" = "200 text/html; charset=utf-8" ] || fail "/ is not index.html"
    [ "$(curl_ -o /dev/null -w '%{content_type}' "https://localhost:$port/style.css")" = "text/css" ] || fail "css type"
    [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/missing.html")" = 404 ] || fail "404"
    [ "$(curl_ -o /dev/null -w '%{http_code}' -X POST "https://localhost:$port/")" = 405 ] || fail "405"
    [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/../../etc/passwd" --path-as-is)" = 404 ] || fail "path escape"
    h=$(curl_ -sI "https://localhost:$port/index.html")
    echo "$h" | grep -q "Content-Length: $(stat -c %s "$(site)/index.html")" || fail "HEAD Content-Length"
    stop
    ;;
https_keepalive)
    start "$EX/https/https.xml" 8443
    r=$(curl_ -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' \
        "https://localhost:$port/" "https://localhost:$port/style.css" "https://localhost:$port/data.txt")
    [ "$(echo "$r" | tr -d '\n')" = 100 ] || fail "keep-alive: connects per request '$r'"
    stop
    # Every front's count (one per pipeline) adds up to one connection.
    [ "$(sed -n 's/^front[0-9]*: \([0-9]*\) connections accepted.*/\1/p' "$out" | awk '{ n += $1 } END { print n + 0 }')" = 1 ] ||
        fail "not one connection: $(grep "connections accepted" "$out" | tr '\n' ' ')"
    ;;
https_errors)
    start "$EX/https/https.xml" 8443
    r=$( (printf 'GARBAGE\r\n\r\n'; sleep 0.5) | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" 2>/dev/null)
    echo "$r" | grep -q "HTTP/1.1 400 Bad Request" || fail "malformed request: '$r'"
    r=$( (printf 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'; sleep 0.5) | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" 2>/dev/null)
    echo "$r" | grep -q "HTTP/1.1 400 Bad Request" || fail "bad version"
    r=$( (printf 'PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'; sleep 0.5) | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" 2>/dev/null)
    echo "$r" | grep -q "HTTP/1.1 413\|HTTP/1.1 405" || fail "request with a body"
    # The server is still fine.
    [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/")" = 200 ] || fail "after errors"
    stop
    ;;
https_head_bounds)
    start "$EX/https/https.xml" 8443
    # Request heads at the edges of the handler's 8192-byte head buffer,
    # which is not NUL-terminated (each in its own connection).
    send() { (cat; sleep 0.5) | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" 2>/dev/null; }
    pad() { head -c "$1" /dev/zero | tr '\0' a; }
    lead='GET /data.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: '
    # The head ends exactly at the end of the buffer: served.
    r=$( { printf "$lead"; pad $((8192 - 59 - 4)); printf '\r\n\r\n'; } | send | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 200 OK" || fail "head of exactly 8192 bytes: '$r'"
    # One byte more: too large.
    r=$( { printf "$lead"; pad $((8192 - 59 - 3)); printf '\r\n\r\n'; } | send | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 413 Payload Too Large" || fail "head of 8193 bytes: '$r'"
    # Content-Length digits run to the end of the buffer, no terminator.
    r=$( { printf 'GET / HTTP/1.1\r\nContent-Length: '; head -c $((8192 - 32)) /dev/zero | tr '\0' 7; } | send | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 413 Payload Too Large" || fail "digits to the end: '$r'"
    # An empty Content-Length followed by digits (strtoul would skip the line
    # ends and read the next request's bytes): malformed.
    r=$(printf 'GET / HTTP/1.1\r\nContent-Length:\r\n\r\n12345' | send | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 400 Bad Request" || fail "empty Content-Length: '$r'"
    # A body that holds a request: refused, and the smuggled request is not
    # answered (one response, then the connection closes).
    r=$(printf 'GET / HTTP/1.1\r\nContent-Length: 35\r\n\r\nGET /data.txt HTTP/1.1\r\nHost: x\r\n\r\n' | send)
    [ "$(echo "$r" | grep -c "^HTTP/1.1 ")" = 1 ] && echo "$r" | grep -q "HTTP/1.1 413" ||
        fail "request in a body: '$r'"
    r=$(printf 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' | send | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 413" || fail "chunked body: '$r'"
    # A NUL byte in the target.
    r=$(printf 'GET /data.txt\0x HTTP/1.1\r\n\r\n' | send | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 400 Bad Request" || fail "NUL in the target: '$r'"
    [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/")" = 200 ] || fail "after the edge cases"
    stop
    ;;
https_big_request)
    start "$EX/https/https.xml" 8443
    # A request line of 1 MiB.
    head -c 1048576 /dev/zero | tr '\0' 'a' > "$tmp/long"
    r=$( (printf 'GET /'; cat "$tmp/long"; printf ' HTTP/1.1\r\n\r\n'; sleep 1) | timeout 20 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" 2>/dev/null | head -c 200)
    echo "$r" | grep -q "HTTP/1.1 413 Payload Too Large" || fail "1 MiB request line: '$r'"
    [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/")" = 200 ] || fail "after a huge request"
    stop
    ;;
https_reset)
    start "$EX/https/https.xml" 8443
    # Clients that vanish mid-response (reset), many times.
    for _ in $(seq 1 20); do
        (printf 'GET /data.txt HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 0.05) |
            timeout 5 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" >/dev/null 2>&1 &
        c=$!
        sleep 0.02
        kill -9 $c 2>/dev/null
        wait $c 2>/dev/null
    done
    [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/")" = 200 ] || fail "after resets"
    stop
    ;;
https_no_reader)
    start "$EX/https/https.xml" 8443
    # A client that sends 300 requests and never reads the answers: its
    # stdout goes to a pipe nobody reads, so it stops reading the socket and
    # the server's sends back up. The server keeps them queued and goes on
    # serving others.
    mkfifo "$tmp/never"
    (for _ in $(seq 1 300); do printf 'GET /data.txt HTTP/1.1\r\nHost: x\r\n\r\n'; done; sleep 6) |
        timeout 8 openssl s_client -quiet -connect 127.0.0.1:$port -CAfile "$CA" >"$tmp/never" 2>/dev/null &
    lazy=$!
    exec 9<>"$tmp/never" # keeps the pipe open, never read
    sleep 1
    for i in $(seq 1 20); do
        [ "$(curl_ -o /dev/null -w '%{http_code}' "https://localhost:$port/data.txt")" = 200 ] || fail "request $i"
    done
    kill "$lazy" 2>/dev/null; wait "$lazy" 2>/dev/null
    exec 9>&-
    stop
    ;;
https_fd)
    start "$EX/https/https.xml" 8443
    for i in $(seq 1 50); do curl_ -o /dev/null "https://localhost:$port/" || fail "request $i"; done
    stop  # checks the descriptor counts
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
finish "$case_name"
