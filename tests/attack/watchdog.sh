#!/usr/bin/env bash
# The launcher's watchdog. Usage: watchdog.sh slow|stall
#   slow   (watchdog-slow.xml) a slow but progressing channel and an idle
#          one: no watchdog report;
#   stall  (watchdog-stall.xml) a live receiver that stops receiving: one
#          report naming channel 'feed' (pacer -> sink), and the summary
#          counts it.
# Each run lasts about 4 s with EACTORS_WATCHDOG_SECS=1, then SIGINT.
# Environment: EACTORS, IMG (stall_img.so and the deployments),
# EACTORS_PLATFORM_DIR.
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1
: "${EACTORS:?}" "${IMG:?}"
scratch
f=$tmp/watchdog-$case_name-$$.xml
cp "$IMG/watchdog-$case_name.xml" "$f"
EACTORS_WATCHDOG_SECS=1 EACTORS_IMAGE_PATH=$IMG timeout -k 5 30 "$EACTORS" run "$f" \
    >"$out" 2>"$err" &
pid=$!
sleep 4
kill -INT "$pid" 2>/dev/null
wait_gone 10 || fail "the run did not end within 10 s of SIGINT"
wait "$pid"
rc=$?
pid=
echo "case: $case_name exit=$rc"
cat "$out"
grep -E "watchdog|FAILED|messages:" "$err"
[ "$rc" = 130 ] || { fail "exit status $rc, expected 130"; cat "$err"; }
case $case_name in
slow)
    lacks_err "watchdog"
    got=$(sed -n 's/^sink: \([0-9]*\) received$/\1/p' "$out")
    [ "${got:-0}" -ge 5 ] || fail "the slow sink did not progress (${got:-0} received)"
    ;;
stall)
    n=$(grep -cE "^eactors: watchdog: channel 'feed' \(pacer -> sink\): [0-9]+ messages pending, no progress for [0-9]+ s$" "$err")
    [ "$n" = 1 ] || { fail "expected one watchdog report for 'feed', got $n"; cat "$err"; }
    has_err "  watchdog: pacer -> sink stalled 1 time(s)"
    has_err "eactors: watchdog: 1 stalled channel report(s)"
    has_out "sink: 3 received"
    ;;
*) fail "unknown case $case_name" ;;
esac
no_leftovers "$f"
finish "watchdog $case_name"
