#!/usr/bin/env bash
# bench/xmpp: XMPP client-to-server messaging, the eactors XMPP example
# (examples/xmpp, when it is built) against ejabberd, jabberd2 and prosody
# from Debian, measured in the same run by the same lean load generator
# (ea_bench_xmpp_load, bench/xmpp/xmpp_load.c).
#
# For every server, client count (XMPP_CLIENTS) and TLS mode (plain, or
# STARTTLS): the server is started fresh, pinned to XMPP_SERVER_CPUS
# (default 0; taskset -a on every process and thread), the generator runs
# on XMPP_LOAD_CPUS (default 1), logs N clients in (SASL PLAIN, bind,
# session, presence), then each client sends chat messages with a 64-byte
# body to the next client's full JID with XMPP_WINDOW (default 4) messages in
# flight per sender for XMPP_SECONDS (default 10), and the server is stopped.
# Server CPU is utime+stime of all its processes from /proc/PID/stat over
# the sending phase only (logins excluded).
#
# Usage: bench/xmpp.sh [BUILD_DIR]. CSV on stdout:
#   xmpp,SERVER,CLIENTS,TLS,msgs_per_s,p50_ms,p99_ms,lost,cpu_s_per_100k
# SERVER: eactors, eactors-one-enclave, ejabberd, jabberd2, prosody; TLS:
# plain or starttls. A row of NA is a run that failed (the reason on
# stderr). bench/out/xmpp/xmpp.csv has the rows, xmpp-detail.csv adds the
# server's and the generator's own CPU per message (us), the login time, the
# server's system calls per message and stanzas (in + out) per system call
# (perf tracepoint counters on the server's threads, NA without root) and
# the connection requests the kernel dropped at a full listen queue during
# the run (listen_drops, machine-wide);
# bench/out/xmpp/xmpp.png plots messages/s, CPU-s per 100k messages and
# stanzas per system call.
# Knobs: XMPP_SERVERS, XMPP_CLIENTS ("100 1000"), XMPP_TLS ("plain
# starttls"), XMPP_SECONDS, XMPP_WINDOW, XMPP_SERVER_CPUS, XMPP_LOAD_CPUS,
# XMPP_LOGIN_TIMEOUT (seconds; 120, more above 4,000 clients),
# XMPP_STATE (the peers' state directory, see bench/xmpp/peers.sh),
# XMPP_TAG (another name for the output files: xmpp-TAG.csv, ...),
# XMPP_SETUP_ONLY=1 (create the users and stop: adding 10,000 users takes
# minutes, which need not be inside the benchmark lock).
# The peers need root (they run as their own users); without root they are
# skipped with a message. Exits 1 when a run failed, after printing all.
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
OUT=$ROOT/bench/out/xmpp
mkdir -p "$OUT"
SERVERS=${XMPP_SERVERS:-eactors eactors-one-enclave ejabberd jabberd2 prosody}
CLIENTS=${XMPP_CLIENTS:-100 1000}
TLSMODES=${XMPP_TLS:-plain starttls}
SECS=${XMPP_SECONDS:-10}
WINDOW=${XMPP_WINDOW:-4}
LOAD_CPUS=${XMPP_LOAD_CPUS:-1}
export XMPP_SERVER_CPUS=${XMPP_SERVER_CPUS:-0}
LOAD=${XMPP_LOAD:-$BUILD/bench/ea_bench_xmpp_load} # XMPP_LOAD: another build's generator
. "$ROOT/bench/xmpp/peers.sh"
. "$ROOT/bench/lib.sh"

[ -x "$LOAD" ] || { echo "bench/xmpp: $LOAD not found; build first" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench/xmpp: taskset is missing (util-linux)" >&2; exit 1; }
MAXC=0
for c in $CLIENTS; do [ "$c" -gt "$MAXC" ] && MAXC=$c; done
RUNID=$(date +%s) # a fresh resource per run (jabberd2's re-login race)
FAILED=0

# ---- eactors (examples/xmpp) ------------------------------------------------
# Everything that depends on the example's interface is in these functions,
# so it can be adjusted where the example differs.

EA_XMPP_DIR=$BUILD/examples/xmpp
# The bench's own account store, not the example's: in the build it
# measures, so that two builds (a baseline and a change) can alternate
# without adding the users again each time.
EA_STORE=$EA_XMPP_DIR/bench-store
EA_PID=

eactors_xml() { # server: the example's deployment file
    case $1 in
    eactors) echo "$EA_XMPP_DIR/xmpp.xml" ;;
    eactors-one-enclave) echo "$EA_XMPP_DIR/xmpp-one.xml" ;;
    esac
}

# The bench's copy of a deployment: the store in $EA_STORE, every worker on
# the server CPUs, and PLAIN offered before TLS (the c2s actor's
# benchmark-only switch plain_insecure, as for the peers).
eactors_bench_xml() { # server -> prints the path of the copy
    local src out=$OUT/$1.xml
    src=$(eactors_xml "$1")
    sed -e "s|$EA_XMPP_DIR/store|$EA_STORE|g" \
        -e "s|cpus=\"[^\"]*\"|cpus=\"$XMPP_SERVER_CPUS\"|g" \
        -e 's|\(<actor [^>]*type="xmpp_c2s"[^>]*>\)|\1\n    <param name="plain_insecure" value="1"/>|' \
        "$src" | eactors_keep_c2s "$(eactors_c2s_count)" >"$out" || return 1
    echo "$out"
}

# c2s instances in the bench's copy: XMPP_C2S, else one per server CPU, as
# the deployment has one per worker and one worker per CPU (two c2s
# processes sharing one CPU each get half the connections, so half the
# stanzas per round, and switch between themselves).
eactors_c2s_count() {
    [ -n "${XMPP_C2S:-}" ] && { echo "$XMPP_C2S"; return; }
    local n=0 part
    for part in ${XMPP_SERVER_CPUS//,/ }; do
        case $part in
        *-*) n=$((n + ${part#*-} - ${part%-*} + 1)) ;;
        *) n=$((n + 1)) ;;
        esac
    done
    echo $((n > 0 ? n : 1))
}

# Keeps the first $1 xmpp_c2s actors of the deployment on stdin: the others'
# actor elements, their workers and their channels are left out.
eactors_keep_c2s() {
    local tmp
    tmp=$(mktemp) || return 1
    cat >"$tmp"
    awk -v keep="$1" '
    NR == FNR {
        if ($0 ~ /<actor / && $0 ~ /type="xmpp_c2s"/) {
            n++
            if (n > keep) {
                match($0, /name="[^"]*"/); drop[substr($0, RSTART + 6, RLENGTH - 7)] = 1
                match($0, /worker="[^"]*"/); dropw[substr($0, RSTART + 8, RLENGTH - 9)] = 1
            }
        }
        next
    }
    skip { if ($0 ~ /<\/actor>/) skip = 0; next }
    /<actor / { match($0, /name="[^"]*"/); if (substr($0, RSTART + 6, RLENGTH - 7) in drop) { skip = $0 !~ /\/>/; next } }
    /<worker / { match($0, /name="[^"]*"/); if (substr($0, RSTART + 6, RLENGTH - 7) in dropw) next }
    /<channel / { match($0, /between="[^"]*"/); split(substr($0, RSTART + 9, RLENGTH - 10), e, " ")
                  if ((e[1] in drop) || (e[2] in drop)) next }
    { print }' "$tmp" "$tmp"
    local rc=$?
    rm -f "$tmp"
    return $rc
}

# The CA the generator verifies the example's certificate with (the https
# example's development PKI, which the XMPP example uses).
eactors_ca() { echo "$BUILD/examples/https/pki/ca.pem"; }

# The example's account tool: `eactors-xmpp [--store FILE] adduser USER`,
# password on stdin.
eactors_user_tool() {
    local t
    for t in "$EA_XMPP_DIR/eactors-xmpp" "$BUILD/tools/eactors-xmpp"; do
        [ -x "$t" ] && { echo "$t"; return 0; }
    done
    return 1
}

# Creates user1..user$1 with the bench password in $EA_STORE, once per
# image (a store with more users is kept): the store key is sealed to the image, so a rebuilt example gets a new
# store. One tool run for all (`import`): about 8 ms per user here (two
# PBKDF2 derivations of 4096 iterations each).
eactors_add_users() {
    local tool i key
    tool=$(eactors_user_tool) || { peer_log "eactors: no user tool (eactors-xmpp) found"; return 1; }
    local img have
    img=$(sha256sum <"$EA_XMPP_DIR/xmpp.so" | cut -c1-16)
    key="$1 $img"
    read -r have _ < <(awk -v img="$img" '$2 == img' "$EA_STORE/users.done" 2>/dev/null)
    [ -n "$have" ] && [ "$have" -ge "$1" ] && return 0 # as many or more, this image
    rm -rf "$EA_STORE"
    mkdir -p "$EA_STORE"
    peer_log "eactors: adding $1 users with $tool import (one run)"
    for ((i = 1; i <= $1; i++)); do
        echo "user$i $XMPP_PASSWORD"
    done | "$tool" --store "$EA_STORE/accounts.eos" import >>"$OUT/eactors-adduser.log" 2>&1 ||
        { peer_log "eactors: adding the users failed; see $OUT/eactors-adduser.log"; return 1; }
    echo "$key" >"$EA_STORE/users.done"
}

eactors_available() { [ -e "$(eactors_xml "$1")" ] && [ -x "$BUILD/tools/eactors" ]; }

eactors_start() { # server
    local xml
    xml=$(eactors_bench_xml "$1") || { peer_log "$1: cannot write the deployment copy"; return 1; }
    EACTORS_IMAGE_PATH=$EA_XMPP_DIR taskset -c "$XMPP_SERVER_CPUS" "$BUILD/tools/eactors" run --quiet "$xml" \
        >"$OUT/$1.out" 2>"$OUT/$1.err" &
    EA_PID=$!
    wait_port 30 || { peer_log "$1 did not start; see $OUT/$1.err"; eactors_stop; return 1; }
    # The copy pins the workers; every thread goes to the server CPUs all
    # the same, as for the peers.
    peer_pin $(eactors_pids | tr ',' ' ')
}

eactors_pids() { # the launcher and everything it forked
    [ -n "$EA_PID" ] || return 0
    awk -v root="$EA_PID" '{
        i = match($0, /\) [A-Za-z] /); split(substr($0, i + 2), f, " "); pp[$1 + 0] = f[2] + 0
    } END {
        t[root] = 1; out = root
        do { more = 0; for (p in pp) if (!(p in t) && (pp[p] in t)) { t[p] = 1; out = out "," p; more = 1 } } while (more)
        print out
    }' /proc/[0-9]*/stat 2>/dev/null
}

eactors_stop() {
    [ -n "$EA_PID" ] || return 0
    local p
    p=$(eactors_pids | tr ',' ' ')
    kill -INT "$EA_PID" 2>/dev/null
    wait_gone 10 $p
    wait "$EA_PID" 2>/dev/null
    EA_PID=
}

# ---- one server -----------------------------------------------------------------

is_peer() { case " $PEERS " in *" $1 "*) return 0 ;; esac; return 1; }

server_available() {
    if is_peer "$1"; then
        peer_available "$1" || { peer_log "$1 is not installed (make deps-bench); skipped"; return 1; }
        [ "$(id -u)" = 0 ] || { peer_log "$1 needs root (it runs as its own user); skipped"; return 1; }
    else
        eactors_available "$1" || { peer_log "$1: $(eactors_xml "$1") not built; skipped"; return 1; }
    fi
}
server_setup() { if is_peer "$1"; then peer "$1" setup "$MAXC"; else peer_certs && eactors_add_users "$MAXC"; fi; }
server_start() { if is_peer "$1"; then "${1}_start"; else eactors_start "$1"; fi; }
server_stop() { if is_peer "$1"; then "${1}_stop"; else eactors_stop; fi; }
server_pids() { if is_peer "$1"; then "${1}_pids"; else eactors_pids; fi; }

CURRENT=
cleanup() { [ -n "$CURRENT" ] && server_stop "$CURRENT"; CURRENT=; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# Connection requests the kernel dropped because a listen queue was full
# (TcpExt ListenDrops, the whole machine): a login pace that overflows the
# server's backlog shows here, as SYN retransmissions of a second and more.
listen_drops() {
    awk '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) k[i] = $i; n = 1 } else for (i = 2; i <= NF; i++) if (k[i] == "ListenDrops") print $i }' /proc/net/netstat
}

kv() { awk -v key="$2" '$1 == "xmpp-load" { for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit } }' "$1"; }

# Seconds the logins may take: XMPP_LOGIN_TIMEOUT, else 120 and 30 ms per
# client above 4,000 (the peers hash a password per login: 10,000 clients
# take ejabberd and prosody minutes).
login_timeout() { # clients
    if [ -n "${XMPP_LOGIN_TIMEOUT:-}" ]; then echo "$XMPP_LOGIN_TIMEOUT"
    elif [ "$1" -gt 4000 ]; then echo $((120 + ($1 - 4000) * 30 / 1000))
    else echo 120; fi
}

# One run: prints the CSV row and appends the detail row.
run_one() { # server clients tls
    local s=$1 n=$2 t=$3 tag=$1-$2-$3 f pids tlsarg=()
    f=$OUT/load-$tag.txt
    if [ "$t" = starttls ]; then
        if is_peer "$s"; then tlsarg=(--tls --ca "$CERT_DIR/ca.pem"); else tlsarg=(--tls --ca "$(eactors_ca)"); fi
    fi
    if port_open; then
        peer_log "port $XMPP_PORT is busy before $tag; run skipped (is a Debian service running? systemctl stop ejabberd jabberd2 prosody)"
        echo "xmpp,$s,$n,$t,NA,NA,NA,NA,NA"
        return 1
    fi
    CURRENT=$s
    if ! server_start "$s"; then
        cleanup
        echo "xmpp,$s,$n,$t,NA,NA,NA,NA,NA"
        return 1
    fi
    pids=$(server_pids "$s")
    # eactors: the launcher's process tree, read by the generator at each
    # sample (enclaves forked late are counted too); peers: their pids.
    local cpuarg=(--pids "$pids")
    is_peer "$s" || cpuarg=(--tree "$EA_PID")
    echo "bench/xmpp: $tag: server pids $pids" >"$OUT/load-$tag.pids"
    local drops0
    drops0=$(listen_drops)
    taskset -c "$LOAD_CPUS" "$LOAD" --clients "$n" --window "$WINDOW" --seconds "$SECS" --body 64 \
        --resource "b$RUNID$n$t" "${cpuarg[@]}" --login-timeout "$(login_timeout "$n")" "${tlsarg[@]}" \
        >"$f" 2>"$OUT/load-$tag.err"
    local rc=$? drops
    drops=$(($(listen_drops) - drops0))
    cleanup
    if [ -z "$(kv "$f" msgs_per_s)" ]; then
        peer_log "FAILED: $tag (exit $rc): $(grep -Ev '^xmpp_load: [0-9]+ of' "$OUT/load-$tag.err" | head -n 3 | tr '\n' ' ')"
        echo "xmpp,$s,$n,$t,NA,NA,NA,NA,NA"
        return 1
    fi
    [ $rc -ne 0 ] && peer_log "$tag: errors=$(kv "$f" errors) (see $OUT/load-$tag.err)"
    [ "$(kv "$f" lost)" != 0 ] && peer_log "$tag: $(kv "$f" lost) messages LOST (must be 0)"
    echo "xmpp,$s,$n,$t,$(kv "$f" server_us_per_msg),$(kv "$f" gen_us_per_msg),$(kv "$f" login_s),$(kv "$f" errors),$(kv "$f" syscalls_per_msg),$(kv "$f" stanzas_per_syscall),$drops" >>"$DETAIL"
    echo "xmpp,$s,$n,$t,$(kv "$f" msgs_per_s),$(kv "$f" p50_ms),$(kv "$f" p99_ms),$(kv "$f" lost),$(kv "$f" cpu_s_per_100k)"
    return $rc
}

NAME=xmpp${XMPP_TAG:+-$XMPP_TAG}
CSV=$OUT/$NAME.csv
DETAIL=$OUT/$NAME-detail.csv
HEADER=bench,server,clients,tls,msgs_per_s,p50_ms,p99_ms,lost,cpu_s_per_100k
echo "$HEADER" | tee "$CSV"
echo "bench,server,clients,tls,server_us_per_msg,gen_us_per_msg,login_s,errors,syscalls_per_msg,stanzas_per_syscall,listen_drops" >"$DETAIL"
peer_log "servers on CPU $XMPP_SERVER_CPUS, generator on CPU $LOAD_CPUS; $CLIENTS clients; $TLSMODES; ${SECS} s, window $WINDOW"
for s in $SERVERS; do
    server_available "$s" || continue
    if ! server_setup "$s"; then
        peer_log "FAILED: $s set-up"
        FAILED=1
        continue
    fi
    [ -n "${XMPP_SETUP_ONLY:-}" ] && continue
    for n in $CLIENTS; do
        for t in $TLSMODES; do
            # Not in a pipeline: the EXIT trap must see the running server.
            run_one "$s" "$n" "$t" >"$OUT/row.tmp" || FAILED=1
            tee -a "$CSV" <"$OUT/row.tmp"
        done
    done
done

# ---- summary and plot -------------------------------------------------------------

awk -F, 'NR > 1 && $5 != "NA" {
        printf "bench/xmpp:   %-20s %5s clients %-8s server %7.2f us/msg, generator %6.2f us/msg, login %6.2f s, server system calls per msg %s, stanzas per system call %s, listen drops %s\n", $2, $3, $4, $5, $6, $7, $9, $10, $11
    }' "$DETAIL" >&2
awk -F, 'NR == FNR { if ($1 == "xmpp" && $9 != "NA") cpu[$2, $3, $4] = $9; next }
    $1 == "xmpp" && $2 == "eactors" && $9 != "NA" {
        for (peer in want) if (cpu[peer, $3, $4] > 0)
            printf "bench/xmpp:   %s clients %s: %s / eactors server CPU per message %.1f (target >= 40 for ejabberd and jabberd2)\n", $3, $4, peer, cpu[peer, $3, $4] / $9
    }
    BEGIN { want["ejabberd"]; want["jabberd2"]; want["prosody"] }' "$CSV" "$CSV" >&2

if command -v gnuplot >/dev/null 2>&1 && [ "$(awk -F, 'NR > 1 && $5 != "NA"' "$CSV" | wc -l)" -gt 0 ]; then
    # One column per configuration, one row per server.
    awk -F, 'NR > 1 && $5 != "NA" { k = $3 "/" $4; if (!(k in seen)) { seen[k] = 1; cols[++nc] = k }
            if (!($2 in sv)) { sv[$2] = 1; rows[++nr] = $2 } r[$2, k] = $5; c[$2, k] = $9 }
        END {
            rf = "'"$OUT"'/plot-rate.dat"; cf = "'"$OUT"'/plot-cpu.dat"
            h = "server"; for (j = 1; j <= nc; j++) h = h " " cols[j]
            print h > rf; print h > cf
            for (i = 1; i <= nr; i++) {
                lr = rows[i]; lc = rows[i]
                for (j = 1; j <= nc; j++) {
                    lr = lr " " (((rows[i], cols[j]) in r) ? r[rows[i], cols[j]] : "NaN")
                    lc = lc " " (((rows[i], cols[j]) in c) ? c[rows[i], cols[j]] : "NaN")
                }
                print lr > rf; print lc > cf
            }
        }' "$CSV"
    # Stanzas per server system call, from the detail rows, same layout.
    awk -F, 'NR > 1 && $5 != "NA" { k = $3 "/" $4; if (!(k in seen)) { seen[k] = 1; cols[++nc] = k }
            if (!($2 in sv)) { sv[$2] = 1; rows[++nr] = $2 } v[$2, k] = ($10 == "" || $10 == "NA") ? "NaN" : $10 }
        END {
            f = "'"$OUT"'/plot-sc.dat"; h = "server"; for (j = 1; j <= nc; j++) h = h " " cols[j]
            print h > f
            for (i = 1; i <= nr; i++) {
                l = rows[i]
                for (j = 1; j <= nc; j++) l = l " " (((rows[i], cols[j]) in v) ? v[rows[i], cols[j]] : "NaN")
                print l > f
            }
        }' "$DETAIL"
    ncols=$(head -n 1 "$OUT/plot-rate.dat" | wc -w)
    nsc=$(head -n 1 "$OUT/plot-sc.dat" | wc -w)
    if gnuplot <<EOF 2>"$OUT/gnuplot.err"; then
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1000,1200 } else { set terminal png size 1000,1200 }
set output '$OUT/$NAME.png'
set multiplot layout 3,1 title 'XMPP: 64-byte chat messages, window $WINDOW, server on CPU $XMPP_SERVER_CPUS, generator on CPU $LOAD_CPUS'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left autotitle columnheader
set grid ytics
set ylabel 'messages/s'
set yrange [0:*]
plot for [i=2:$ncols] '$OUT/plot-rate.dat' using i:xtic(1)
set ylabel 'server CPU-s per 100,000 messages'
set logscale y
set yrange [*:*]
plot for [i=2:$ncols] '$OUT/plot-cpu.dat' using i:xtic(1)
set ylabel 'stanzas (in + out) per server system call'
unset logscale y
set yrange [0:*]
plot for [i=2:$nsc] '$OUT/plot-sc.dat' using i:xtic(1)
unset multiplot
EOF
        peer_log "plot written to $OUT/$NAME.png"
    else
        peer_log "gnuplot failed, plot skipped: $(head -c 300 "$OUT/gnuplot.err")"
    fi
fi
# The floor: what expat, the TLS records and loopback TCP cost per message by
# themselves on the server's CPU, at this window (bench/xmpp/floor.c), so a
# server's CPU per message can be read against what no design avoids.
FLOOR=$BUILD/bench/ea_bench_xmpp_floor
if [ -x "$FLOOR" ]; then
    if taskset -c "${XMPP_SERVER_CPUS%%,*}" "$FLOOR" --window "$WINDOW" --rounds $((640000 / WINDOW)) \
        >"$OUT/$NAME-floor.csv" 2>"$OUT/floor.err"; then
        peer_log "floor at window $WINDOW (ns per message): $(tail -n +2 "$OUT/$NAME-floor.csv" |
            awk -F, '{printf "%s%s(%s)=%s", (NR > 1 ? ", " : ""), $2, $4, $5}') ($OUT/$NAME-floor.csv)"
    else
        peer_log "floor failed: $(head -c 300 "$OUT/floor.err")"
    fi
fi
exit $FAILED
