#!/usr/bin/env bash
# What persistence costs the XMPP example: usage `bench/xmpp_store.sh
# [BUILD_DIR]`. The partitioned deployment (xmpp.xml) is run twice in one
# run: `store` as built (the router writes every offline message through to
# the store enclave, which puts it in its EOS file and syncs), and `memory`,
# the baseline, the same file without the store enclave, its actor, its
# channel and its <store> (the router keeps offline messages in memory
# only). The load is bench/xmpp/store_load.py: one client sends XS_COUNT
# chat messages (64-byte bodies) to XS_USERS offline users, XS_WINDOW per
# write. Server CPU is utime+stime of the launcher and every process it
# forked, from /proc/PID/stat, from just before the load until it is idle
# again (the store's last sync done; read before the server is stopped). Then the `store` server is started
# again and the time until the router has the stored messages back is
# measured, against the `memory` server's start. Prints the CSV rows
#   xmpp_store,VARIANT,messages,errors,msgs_per_s,server_cpu_s,cpu_us_per_msg,start_s
# on stdout and in bench/out/xmpp_store.csv; msgs_per_s is the one Python
# client's rate (it is the generator's limit, not the server's); the
# comparison is cpu_us_per_msg. Exits 1 only when a run failed.
# Knobs: XS_PORT (5232), XS_USERS (400), XS_COUNT (40000: the offline quota
# is 100 per user, and the example's data store holds 65,536 keys), XS_WINDOW
# (50). CPU is counted in clock ticks (10 ms): keep XS_COUNT large.
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
OUT=$ROOT/bench/out
W=$OUT/xmpp_store
X=$BUILD/examples/xmpp
EACTORS=$BUILD/tools/eactors
CA=$BUILD/examples/https/pki/ca.pem
PORT=${XS_PORT:-5232} USERS=${XS_USERS:-400} COUNT=${XS_COUNT:-40000} WINDOW=${XS_WINDOW:-50}
CSV=$OUT/xmpp_store.csv
[ -x "$EACTORS" ] && [ -f "$X/xmpp.xml" ] || { echo "bench: xmpp example not built in $BUILD" >&2; exit 2; }
rm -rf "$W"
mkdir -p "$W"
export EACTORS EACTORS_IMAGE_PATH=$X
PID=

tree_pids() { # the launcher and everything it forked
    awk -v root="$PID" '{
        i = match($0, /\) [A-Za-z] /); split(substr($0, i + 2), f, " "); pp[$1 + 0] = f[2] + 0
    } END {
        t[root] = 1; out = root
        do { more = 0; for (p in pp) if (!(p in t) && (pp[p] in t)) { t[p] = 1; out = out " " p; more = 1 } } while (more)
        print out
    }' /proc/[0-9]*/stat 2>/dev/null
}
cpu_ticks() { # utime + stime of the server's processes
    local p sum=0 f
    for p in $(tree_pids); do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}
# start VARIANT: the server on its copy; prints the seconds until it serves.
start() {
    local t0 t1 ready="router: store loaded" i
    [ "$1" = memory ] && ready="router: directory of"
    t0=$(date +%s.%N)
    "$EACTORS" run --quiet "$W/$1.xml" >"$W/$1.out" 2>"$W/$1.err" &
    PID=$!
    for ((i = 0; i < 3000; i++)); do
        grep -qs "$ready" "$W/$1.out" && grep -qs "listening" "$W/$1.out" && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.01
    done
    t1=$(date +%s.%N)
    grep -q "$ready" "$W/$1.out" || { echo "bench: $1 did not start; see $W/$1.err" >&2; return 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
stop() { # SIGINT, then (after 30 s) SIGKILL for the launcher and its tree
    local i pids
    pids=$(tree_pids)
    kill -INT "$PID" 2>/dev/null
    for ((i = 0; i < 300; i++)); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$PID" 2>/dev/null; then
        echo "bench: the server did not stop in 30 s: killed" >&2
        kill -KILL $pids 2>/dev/null
    fi
    wait "$PID" 2>/dev/null
    PID=
}
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null' EXIT

fails=0
HZ=$(getconf CLK_TCK)
rows=()
for v in memory store; do
    mkdir -p "$W/$v"
    sed -e "s|5222|$PORT|g" -e "s|$X/store|$W/$v|g" "$X/xmpp.xml" >"$W/$v.xml"
    if [ "$v" = memory ]; then
        sed -i -e '/<enclave name="store"/d' -e '/<worker name="ws"/d' -e '/<channel name="st"/d' \
            -e '/<actor name="store"/,/<\/actor>/d' -e '/<store name="xmppdata"/,/\/>/d' "$W/$v.xml"
    fi
    { echo "s s-pw"; for ((i = 1; i <= USERS; i++)); do echo "r$i r$i-pw"; done; } |
        "$X/eactors-xmpp" --store "$W/$v/accounts.eos" import >"$W/$v.import" 2>&1 ||
        { echo "bench: $v: import failed: $(cat "$W/$v.import")" >&2; fails=$((fails + 1)); continue; }
    start "$v" >"$W/$v.start" || { fails=$((fails + 1)); stop; continue; }
    c0=$(cpu_ticks)
    if ! /usr/bin/python3 "$ROOT/bench/xmpp/store_load.py" "$PORT" "$CA" "$USERS" "$COUNT" "$WINDOW" \
        >"$W/$v.load" 2>&1; then
        echo "bench: $v: load failed: $(tail -3 "$W/$v.load")" >&2
        fails=$((fails + 1))
        stop
        continue
    fi
    # Quiescence: the router has handed every change to the store and the
    # store has synced it when the server's CPU stops moving (two readings
    # 0.5 s apart equal; at most 120 s).
    c1=$(cpu_ticks)
    for ((i = 0; i < 240; i++)); do
        sleep 0.5
        c2=$(cpu_ticks)
        [ "$c2" = "$c1" ] && break
        c1=$c2
    done
    stop
    grep -h "store: .* syncs" "$W/$v.out" >&2
    kv() { sed -n "s/^$1=//p" "$W/$v.load"; }
    start_s=$(cat "$W/$v.start")
    if [ "$v" = store ]; then # the start that loads what was stored
        start store >"$W/store.restart" || fails=$((fails + 1))
        stop
        start_s=$(cat "$W/store.restart")
    fi
    rows+=("$(awk -v v="$v" -v n="$(kv messages)" -v e="$(kv errors)" -v s="$(kv seconds)" \
        -v c=$((c1 - c0)) -v hz="$HZ" -v st="$start_s" 'BEGIN {
        printf "xmpp_store,%s,%d,%d,%.0f,%.2f,%.1f,%s\n", v, n, e, n / s, c / hz, c / hz / n * 1e6, st }')")
done
{
    echo "bench,variant,messages,errors,msgs_per_s,server_cpu_s,cpu_us_per_msg,start_s"
    printf '%s\n' "${rows[@]}"
} | tee "$CSV"
exit $((fails > 0))
