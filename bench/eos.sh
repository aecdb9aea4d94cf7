#!/usr/bin/env bash
# EOS against LMDB in one run: usage `bench/eos.sh [BUILD_DIR]`. Runs
# ea_bench_eos (bench/eos.c: what each store does and how it is timed) in a
# scratch directory under bench/out/eos/ on the build's file system, prints
# the CSV rows
#   eos,STORE,OP,value_bytes,keys,threads,ops_per_s,p50_ns,p99_ns
# (STORE trusted | trusted_home (trusted with home blocks of EOS_HOME bytes,
# 128, for the values that fit) | untrusted | persistent | lmdb, and aesgcm:
# one AES-256-GCM open of key||value, the budget of the encrypted-store
# target, and memread: the floor, the value read at a known place with no
# lookup; OP get, put, or view: a zero-copy read with a checksum of the
# value) on stdout,
# also bench/out/eos.csv, and the target ratios on stderr. Exits 1 only
# when the run failed.
# Knobs: EOS_KEYS (1000,10000,100000,1000000), EOS_VALUES (100,4096),
# EOS_STORES (all), EOS_OPS (get,view,mget,put; also miss: gets of absent keys), EOS_THREADS (1,2), EOS_HOME (128), EOS_MAX_KEYS_4K (100000: 4 KiB
# values at 10^6 keys would map 2 x 6 GB and load for minutes), EOS_GETS
# (400000), EOS_PUTS (100000) operations per loop over all threads, EOS_REPS
# (3) loops per row (the best by ops/s is printed). OP mget: the gets 16 at a
# time (ea_eos_get_many; LMDB: 16 mdb_get in one read transaction).
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
OUT=$ROOT/bench/out
BIN=$BUILD/bench/ea_bench_eos
if [ ! -x "$BIN" ]; then
    echo "bench: $BIN not found (liblmdb-dev missing? make deps-bench, then build)" >&2
    exit 2
fi
W=$OUT/eos
rm -rf "$W"
mkdir -p "$W"
CSV=$OUT/eos.csv
echo "bench: eos (trusted, untrusted, persistent) against lmdb, 16 B keys" >&2
"$BIN" --dir "$W" --keys "${EOS_KEYS:-1000,10000,100000,1000000}" \
    --max-keys-4k "${EOS_MAX_KEYS_4K:-100000}" --gets "${EOS_GETS:-400000}" \
    --puts "${EOS_PUTS:-100000}" --reps "${EOS_REPS:-3}" --home "${EOS_HOME:-128}" \
    --values "${EOS_VALUES:-100,4096}" --threads "${EOS_THREADS:-1,2}" \
    --stores "${EOS_STORES:-trusted,trusted_home,untrusted,persistent,lmdb,memread}" \
    --ops "${EOS_OPS:-get,view,mget,put}" \
    >"$CSV" 2>"$OUT/eos.err"
rc=$?
grep -v '^ea_bench_eos: .* load ' "$OUT/eos.err" >&2
cat "$CSV"
rm -rf "$W"
awk -F, '$1 == "eos" { r[$2, $3, $4, $5, $6] = $7; p50[$2, $3, $4, $5, $6] = $8
                       if ($2 == "aesgcm") aes[$4] = $8
                       if ($2 == "lmdb" && $3 == "get" && !(($4, $5, $6) in seen)) { seen[$4, $5, $6] = 1; row[++n] = $4 "," $5 "," $6 } }
    function ok(x) { return x != "" && x != "NA" && x + 0 > 0 }
    END {
        print "bench: eos target ratios: trusted get / lmdb get (ops/s, and p50 lmdb / p50 trusted), target >= 2;"
        print "bench:   the same for view (zero-copy read + checksum of the value, in both);"
        print "bench:   untrusted get p50 / (lmdb get p50 + one AES-GCM open p50), target <= 1.5;"
        print "bench:   home: trusted_home get / lmdb get (ops/s, p50) likewise;"
        print "bench:   floor: lmdb get p50 / memread get p50 (below 2, no store that reads the value can be 2x lmdb)"
        print "bench:   mget: trusted mget / lmdb mget and trusted_home mget / lmdb mget (ops/s)"
        for (i = 1; i <= n; i++) {
            split(row[i], f, ","); vb = f[1]; k = f[2]; t = f[3]
            l = r["lmdb", "get", vb, k, t]; tr = r["trusted", "get", vb, k, t]
            lp = p50["lmdb", "get", vb, k, t]; tp = p50["trusted", "get", vb, k, t]; up = p50["untrusted", "get", vb, k, t]
            printf "bench:   get %4d B %7d keys %d thr:", vb, k, t
            if (ok(l) && ok(tr) && ok(lp) && ok(tp)) printf "  trusted/lmdb %5.2f (p50 %5.2f)", tr / l, lp / tp
            lv = r["lmdb", "view", vb, k, t]; tv = r["trusted", "view", vb, k, t]
            lvp = p50["lmdb", "view", vb, k, t]; tvp = p50["trusted", "view", vb, k, t]
            if (ok(lv) && ok(tv) && ok(lvp) && ok(tvp)) printf "  view: trusted/lmdb %5.2f (p50 %5.2f)", tv / lv, lvp / tvp
            if (ok(up) && ok(lp) && ok(aes[vb])) printf "  untrusted/(lmdb+aes) %5.2f", up / (lp + aes[vb])
            hr = r["trusted_home", "get", vb, k, t]; hp = p50["trusted_home", "get", vb, k, t]
            if (ok(l) && ok(hr) && ok(lp) && ok(hp)) printf "  home: %5.2f (p50 %5.2f)", hr / l, lp / hp
            mp = p50["memread", "get", vb, k, t]
            if (ok(lp) && ok(mp)) printf "  floor: %5.2f", lp / mp
            lm = r["lmdb", "mget", vb, k, t]; tm = r["trusted", "mget", vb, k, t]; hm = r["trusted_home", "mget", vb, k, t]
            if (ok(lm) && ok(tm)) printf "  mget: %5.2f", tm / lm
            if (ok(lm) && ok(hm)) printf " home %5.2f", hm / lm
            printf "\n"
        }
    }' "$CSV" >&2
if [ $rc -ne 0 ]; then
    echo "bench: FAILED: ea_bench_eos (exit $rc); see $OUT/eos.err" >&2
    exit 1
fi
exit 0
