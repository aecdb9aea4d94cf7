#!/usr/bin/env bash
# Corruption is never silent: the https example serves pages to curl while
# ea_tamper corrupts the shared structures of its channels in the live arena.
# Usage: https_tamper.sh CASE PORT
#   random   random bit flips and 64-byte block copies in channels 'app'
#            (AEAD, front <-> handler) and 'net' (front <-> io), half of them
#            in the pools and mboxes, for ATTACK_MS (default 4000) with seed
#            SEED (default 4242);
#   random_nodes   the same in the nodes of 'app' only (payloads, headers):
#            the AEAD layer must reject what changed, or pages stay correct;
#   enq|deq|head|link|lose   one targeted write in channel 'app' (see
#            tamper.c), which must fail that channel with its reason.
# Environment: EACTORS, EX (built examples), TAMPER (ea_tamper),
# EACTORS_PLATFORM_DIR.
#
# Expected, always: every page curl receives is the site's file byte for
# byte; no crash; if the server no longer answers after the attack, stderr
# names a channel (a failed channel with its reason, or the watchdog) at the
# time and the summary names it too. Targeted cases: the failure line names
# channel 'app', both actors and the reason, and the summary shows it.
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1 port=$2
: "${EACTORS:?}" "${EX:?}" "${TAMPER:?}"
seed=${SEED:-4242}
attack_ms=${ATTACK_MS:-4000}
scratch
CA=$EX/https/pki/ca.pem
site=$(sed -n 's/.*param name="site" value="\([^"]*\)".*/\1/p' "$EX/https/https.xml" | head -1)
f=$tmp/https-tamper-$case_name-$$.xml
# One pipeline (the example's pipeline 1 left out), so that every request
# crosses the channels under attack.
sed -e "s/8443/$port/g" -e '/<!-- pipeline 1 -->/,/<!-- end pipeline 1 -->/d' "$EX/https/https.xml" >"$f"
export EACTORS_WATCHDOG_SECS=2
EACTORS_DEBUG_LAYOUT=1 EACTORS_IMAGE_PATH=$EX/https timeout -k 5 60 "$EACTORS" run "$f" \
    >"$out" 2>"$err" &
pid=$!
dump() { echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; }
if ! wait_for "$out" "listening" 15; then
    fail "server did not start"
    dump
    exit 1
fi

pages=(index.html style.css data.txt)
# get PAGE: fetches one page; prints ok (byte for byte the file), wrong or
# error (no complete answer within 3 s).
get() {
    if curl -sS --max-time 3 --cacert "$CA" "https://localhost:$port/$1" -o "$tmp/got" \
        2>/dev/null; then
        if cmp -s "$tmp/got" "$site/$1"; then echo ok; else echo wrong; fi
    else
        echo error
    fi
}
declare -A n=([ok]=0 [wrong]=0 [error]=0)
for p in "${pages[@]}"; do
    [ "$(get "$p")" = ok ] || fail "before the attack: $p not served"
done

named="^eactors: (channel '[a-z]+' \([a-z]+ <-> [a-z]+\) failed at '[a-z]+': |watchdog: channel '[a-z]+' \([a-z]+ -> [a-z]+\): [0-9]+ messages pending)"
echo "case: $case_name seed=$seed port=$port"
if [ "${case_name#random}" != "$case_name" ]; then
    targets=(--channel app,net)
    [ "$case_name" = random_nodes ] && targets=(--channel app --ctl-percent 0)
    "$TAMPER" --layout "$err" --mode random "${targets[@]}" --seed "$seed" \
        --duration-ms "$attack_ms" >"$tmp/tamper" 2>&1 &
    tp=$!
    i=0
    while kill -0 "$tp" 2>/dev/null; do
        r=$(get "${pages[i % 3]}")
        n[$r]=$((n[$r] + 1))
        i=$((i + 1))
    done
    wait "$tp" || fail "ea_tamper failed"
    during="ok=${n[ok]} wrong=${n[wrong]} error=${n[error]}"
else
    "$TAMPER" --layout "$err" --mode "$case_name" --channel app --seed "$seed" >"$tmp/tamper" 2>&1 ||
        fail "ea_tamper failed"
    during="(one write)"
fi
cat "$tmp/tamper"
# After the attack: does it still answer? (give the watchdog its 2 s)
after=()
for p in "${pages[@]}"; do
    r=$(get "$p")
    n[$r]=$((n[$r] + 1))
    after+=("$r")
done
sleep 2.5
echo "requests during the attack: $during; after: ${after[*]}"

kill -INT "$pid" 2>/dev/null
wait_gone 10 || { fail "the run did not end within 10 s of SIGINT"; kill -9 "$pid"; }
wait "$pid"
rc=$?
pid=
echo "exit=$rc"
grep -E "$named" "$err"
grep -E "FAILED|watchdog|messages:" "$err" | grep -v "^eactors: watchdog: channel"

case "$rc" in 0 | 1 | 130) ;; *) fail "exit status $rc" ;; esac
if grep -qE "died|killed|did not stop in time|Sanitizer|runtime error" "$err"; then
    fail "crash or sanitizer report"
fi
[ "${n[wrong]}" -eq 0 ] || fail "${n[wrong]} responses differ from the site"

if [ "${case_name#random}" != "$case_name" ]; then
    # Never silent: a server that stopped answering named a channel, at the
    # time on stderr and in the summary.
    if [[ " ${after[*]} " == *" error "* ]]; then
        grep -qE "$named" "$err" || fail "requests are no longer answered and no channel was named"
        grep -qE "; FAILED: .+: .+|^  watchdog: " "$err" ||
            fail "the summary does not name the failed or stalled channel"
    fi
else
    case $case_name in
    enq) why="mbox to 'handler': enqueue position [0-9]+, expected [0-9]+" ;;
    deq) why="mbox to 'front': dequeue position [0-9]+, expected [0-9]+" ;;
    head | link) why="pool head or free-list link out of range \(256 nodes\)" ;;
    lose) why="pool lost nodes: empty, but only [0-9]+ of 256 nodes are in use" ;;
    *) why="?" ; fail "unknown case $case_name" ;;
    esac
    grep -qE "^eactors: channel 'app' \(front <-> handler\) failed at '(front|handler)': corrupt shared memory: $why" "$err" ||
        fail "no failure line for channel 'app' with reason /$why/"
    grep -qE "^  (front|handler) accepted .*; FAILED: corrupt shared memory: $why" "$err" ||
        fail "the summary does not show the failure reason"
fi
no_leftovers "$f"
[ "$fails" -eq 0 ] || dump
finish "https tamper $case_name (seed $seed)"
