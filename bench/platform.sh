#!/usr/bin/env bash
# System mode against development mode (issue 10), in the same run:
# enclave start-up (launch to the end of a one-round ping-pong between two
# enclaves, median of RUNS runs) and the 16 B enclave-enclave round trip.
# Usage: bench/platform.sh [BUILD_DIR]. Needs root for system mode (it
# starts a private daemon); without root it prints development mode only.
# CSV: platform,MODE,startup_ms_median,rtt_ns_median,rtt_ns_p99, then
# pingpong_mode,MODE,PLACEMENT,SIZE,rtt_ns_median for the enclave placements.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
EACTORS=$BUILD/tools/eactors
RUNS=${RUNS:-15}
tmp=$(mktemp -d)
pd=
trap '[ -n "$pd" ] && kill "$pd" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
src=$BUILD/examples/pingpong/enclave-enclave.xml
sed 's/name="rounds" value="[0-9]*"/name="rounds" value="1"/' "$src" > "$tmp/one.xml"
export EACTORS_IMAGE_PATH=$BUILD/examples/pingpong EACTORS_PLATFORM_DIR=$tmp/dev
modes=development
if [ "$(id -u)" = 0 ]; then
    for u in eactors eactors-enclave; do
        id -u "$u" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$u"
    done
    "$EACTORS" platform run --socket "$tmp/pd.sock" --dir "$tmp/platform" >"$tmp/pd.log" 2>&1 &
    pd=$!
    for _ in $(seq 100); do grep -q serving "$tmp/pd.log" 2>/dev/null && break; sleep 0.05; done
    export EACTORS_PLATFORM_SOCKET=$tmp/pd.sock
    modes="development system"
else
    echo "bench/platform: not root: system mode skipped (it starts a daemon)" >&2
fi
echo "bench,mode,startup_ms_median,rtt_ns_median,rtt_ns_p99"
rows=()
for m in $modes; do
    : >"$tmp/t"
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s%N)
        "$EACTORS" run --quiet --platform "$m" "$tmp/one.xml" >/dev/null 2>&1 || echo "bench/platform: $m run failed" >&2
        echo $(( ($(date +%s%N) - t0) / 1000 )) >>"$tmp/t"
    done
    start=$(sort -n "$tmp/t" | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] / 1000}')
    r=$("$EACTORS" run --quiet --platform "$m" "$src" 2>/dev/null | grep '^pingpong-result')
    med=$(echo "$r" | sed -n 's/.*rtt_ns_median=\([0-9]*\).*/\1/p')
    p99=$(echo "$r" | sed -n 's/.*rtt_ns_p99=\([0-9]*\).*/\1/p')
    echo "platform,$m,$start,$med,$p99"
    # The message path in every enclave placement, 16 B and 16 KiB.
    for pl in enclave-enclave host-enclave same-enclave; do
        for size in 16 16384; do
            sed -e "s/name=\"size\" value=\"[0-9]*\"/name=\"size\" value=\"$size\"/" \
                -e 's/name="rounds" value="[0-9]*"/name="rounds" value="50000"/' \
                "$BUILD/examples/pingpong/$pl.xml" > "$tmp/pl.xml"
            r=$("$EACTORS" run --quiet --platform "$m" "$tmp/pl.xml" 2>/dev/null | grep '^pingpong-result')
            rows+=("pingpong_mode,$m,$pl,$size,$(echo "$r" | sed -n 's/.*rtt_ns_median=\([0-9]*\).*/\1/p')")
        done
    done
done
echo "bench,mode,placement,size_bytes,rtt_ns_median"
printf '%s\n' "${rows[@]}"
