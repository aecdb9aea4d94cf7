#!/usr/bin/env bash
# The secure sum (examples/smc) against the same sum by plain threads, in
# one run: usage `bench/smc.sh [BUILD_DIR]`. For N = 2, 4, 8 parties and
# 10, 1000, 100000 words it makes and seals the inputs (bench/out/smc/),
# runs the example (static mode, AEAD between party enclaves, workers park
# when idle, party i on CPU i mod 2: on two cores the parties share CPUs)
# and ea_bench_smc_plain with the same rounds, and prints CSV rows
#   smc,MODE,parties,words,rounds_per_s,mb_per_s      (MODE enclaves | plain)
# on stdout (also bench/out/smc.csv), a plot bench/out/smc.png, and the
# ratios plain / enclaves on stderr. MB/s counts the inputs summed: rounds/s
# x parties x words x 8 bytes. Exits 1 only when a run failed.
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
OUT=$ROOT/bench/out
EACTORS=$BUILD/tools/eactors
SMC=$BUILD/examples/smc
PLAIN=$BUILD/bench/ea_bench_smc_plain
SMC_PARTIES=${SMC_PARTIES:-2 4 8}
SMC_WORDS=${SMC_WORDS:-10 1000 100000}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
for f in "$EACTORS" "$SMC/smc.so" "$SMC/smc_tool" "$PLAIN"; do
    [ -e "$f" ] || { echo "bench: $f not found; build first" >&2; exit 2; }
done
export EACTORS_IMAGE_PATH=$SMC
W=$OUT/smc
mkdir -p "$W"
CSV=$OUT/smc.csv
FAILED=0

# Rounds for a length: about a second of work or more at the rates seen here.
rounds_for() {
    case $1 in
    10) echo 20000 ;;
    1000) echo 5000 ;;
    *) echo 200 ;;
    esac
}

echo "smc,mode,parties,words,rounds_per_s,mb_per_s" | tee "$CSV"
echo "bench: smc secure sum: enclaves (AEAD) vs plain threads, N in $SMC_PARTIES, words in $SMC_WORDS" >&2
for n in $SMC_PARTIES; do
    for w in $SMC_WORDS; do
        rounds=$(rounds_for "$w")
        in=$W/in-$n-$w
        rm -rf "$in"
        mkdir -p "$in"
        ok=1
        for ((i = 0; i < n; i++)); do
            "$SMC/smc_tool" gen --words "$w" --seed $((i + 1)) --out "$in/p$i.plain" &&
                "$SMC/smc_tool" seal --party "p$i" --in "$in/p$i.plain" --out "$in/p$i.sealed" \
                    >/dev/null 2>>"$W/seal.err" || ok=0
        done
        xml=$W/smc-$n-$w.xml so=$W/smc-$n-$w.out se=$W/smc-$n-$w.err
        "$SMC/smc_tool" deploy --parties "$n" --words "$w" --rounds "$rounds" --inputs "$in" \
            >"$xml" || ok=0
        rc=1
        [ $ok = 1 ] && { timeout "$RUN_TIMEOUT" "$EACTORS" run --quiet "$xml" >"$so" 2>"$se"; rc=$?; }
        line=$(grep '^smc-done ' "$so" 2>/dev/null)
        if [ $rc -ne 0 ] || [ -z "$line" ]; then
            echo "bench: FAILED: smc enclaves N=$n words=$w (exit $rc); see $se" >&2
            FAILED=1
            echo "smc,enclaves,$n,$w,NA,NA" | tee -a "$CSV"
        else
            rps=$(echo "$line" | sed 's/.* rounds_per_s=\([0-9.]*\).*/\1/')
            mbs=$(echo "$line" | sed 's/.* mb_per_s=\([0-9.]*\).*/\1/')
            echo "smc,enclaves,$n,$w,$rps,$mbs" | tee -a "$CSV"
        fi
        if ! "$PLAIN" --parties "$n" --words "$w" --rounds "$rounds" | tee -a "$CSV"; then
            echo "bench: FAILED: smc plain N=$n words=$w" >&2
            FAILED=1
        fi
    done
done

awk -F, '$1 == "smc" && $5 != "NA" { r[$2, $3, $4] = $5 }
    END {
        for (k in r) { split(k, f, SUBSEP); if (f[1] == "plain" && r["enclaves", f[2], f[3]] > 0)
            printf "bench:   smc N=%s words=%s: plain / enclaves rounds per second %.2f%s\n",
                f[2], f[3], r[k] / r["enclaves", f[2], f[3]], f[3] == 100000 ? " (target <= 2)" : "" }
    }' "$CSV" | sort -t= -k2,2n -k3,3n >&2

if command -v gnuplot >/dev/null 2>&1; then
    plots=()
    for mode in enclaves plain; do
        for n in $SMC_PARTIES; do
            awk -F, -v m="$mode" -v n="$n" '$2 == m && $3 == n && $6 != "NA" { print $4, $6 }' \
                "$CSV" >"$W/plot-$mode-$n.dat"
            [ -s "$W/plot-$mode-$n.dat" ] &&
                plots+=("'$W/plot-$mode-$n.dat' using 1:2 with linespoints title '$mode, $n parties'")
        done
    done
    if [ ${#plots[@]} -gt 0 ]; then
        plotcmd=$(IFS=,; echo "${plots[*]}")
        if gnuplot <<GP 2>"$W/gnuplot.err"; then
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 900,600 } else { set terminal png size 900,600 }
set output '$OUT/smc.png'
set title 'eactors secure sum: inputs summed per second, enclaves (AEAD) vs plain threads'
set logscale xy
set xlabel 'vector length (64-bit words)'
set ylabel 'MB/s of inputs summed'
set key bottom right
set grid
plot $plotcmd
GP
            echo "bench: plot written to $OUT/smc.png" >&2
        else
            echo "bench: gnuplot failed, plot skipped:" >&2
            cat "$W/gnuplot.err" >&2
        fi
    fi
else
    echo "bench: gnuplot not found, smc plot skipped" >&2
fi
exit $FAILED
