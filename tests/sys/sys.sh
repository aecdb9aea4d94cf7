#!/usr/bin/env bash
# System actor tests. Usage: sys.sh CASE (many | slow | reset).
# Generates a deployment (enclave test actor + <sys> actor with grants for a
# random port and a fresh directory), runs it in the background, starts
# sysclient once the test actor logs LISTENING, compares the launcher's open
# descriptors at LISTENING and at FDCHECK (one handle open at each: the
# listener, then the waiting timer), then lets the test actor finish.
# Environment: EACTORS, IMG, CLIENT, EACTORS_PLATFORM_DIR.
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1
scratch
# Quieter than lib.sh's has_err: stderr is shown once, at the end.
has_err() { grep -qF -- "$1" "$err" || fail "stderr lacks: $1"; }

case "$case_name" in
many) conns=10000 bytes=1000 mode=echo extra=1 ;;
slow) conns=2 bytes=$((8 * 1024 * 1024)) mode=slow extra=0 ;;
reset) conns=20 bytes=100 mode=reset extra=0 ;;
*) echo "unknown case $case_name"; exit 2 ;;
esac
port=$((10000 + RANDOM % 20000))
mkdir "$tmp/files"
dir=$(realpath "$tmp/files")
cat >"$tmp/sys.xml" <<XML
<eactors>
  <enclave name="app" image="$IMG/systest.so"/>
  <worker name="h1" cpus="0"/>
  <worker name="w1" cpus="1" enclave="app"/>
  <actor name="tester" type="tester" worker="w1">
    <param name="port" value="$port"/>
    <param name="conns" value="$conns"/>
    <param name="bytes" value="$bytes"/>
    <param name="extra" value="$extra"/>
    <param name="dir" value="$dir"/>
  </actor>
  <sys name="io" worker="h1">
    <grant enclave="app" listen="$port" connect="$port" files="$dir" handles="16384"
           queued="64M"/>
  </sys>
  <channel name="sys" between="tester io" nodes="256" max="128K"/>
</eactors>
XML

# The system actor's worker is a batch thread (src/sys/sys.c, "Preemption");
# the reset case runs with EA_SYS_PREEMPT=1, which keeps the normal policy.
preempt=0
[ "$case_name" = reset ] && preempt=1
EA_SYS_PREEMPT=$preempt "$EACTORS" run "$tmp/sys.xml" >"$out" 2>"$err" &
pid=$!
fds() { ls "/proc/$pid/fd" 2>/dev/null | wc -l; }

if ! wait_for "$err" "LISTENING port=$port" 60; then
    fail "test actor did not listen"; cat "$err"; exit 1
fi
fd_start=$(fds)
# Threads of the launcher with policy SCHED_BATCH (3, field 41 of stat).
nbatch=$(cat /proc/"$pid"/task/*/stat 2>/dev/null | awk '{print $41}' | grep -c '^3$')
if [ "$preempt" = 1 ]; then
    [ "$nbatch" = 0 ] || fail "EA_SYS_PREEMPT=1, yet $nbatch launcher threads are SCHED_BATCH"
else
    [ "$nbatch" -ge 1 ] || fail "no launcher thread is SCHED_BATCH (the system actor's worker)"
fi
"$CLIENT" "$port" "$conns" "$bytes" "$mode" || fail "client failed"
if ! wait_for "$err" "FDCHECK" 120; then
    fail "test actor did not reach FDCHECK"; cat "$err"; exit 1
fi
fd_end=$(fds)
[ "$fd_start" = "$fd_end" ] || fail "launcher descriptors: $fd_start at start, $fd_end at the end"
touch "$dir/marker"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "exit status $rc"

has_err "[app/tester] net done: conns=$conns"
has_err "errors=0"
has_err "[app/tester] tester done: errors=0"
has_err "eactors: sys 'io': no requester left: 0 handles open at the end"
# The system actor's descriptors all went: as many after as before it.
line=$(grep -F "eactors: sys 'io':" "$err")
before=$(sed -n 's/.*descriptors \([0-9-]*\) before.*/\1/p' <<<"$line")
after=$(sed -n 's/.*before, \([0-9-]*\) after.*/\1/p' <<<"$line")
[ -n "$before" ] && [ "$before" = "$after" ] || fail "sys descriptors: $line"
if [ "$preempt" = 1 ]; then
    grep -qF "a batch thread" <<<"$line" && fail "EA_SYS_PREEMPT=1, yet the stop line says batch: $line"
else
    grep -qF "a batch thread" <<<"$line" || fail "the stop line lacks 'a batch thread': $line"
fi
case "$case_name" in
many)
    has_err "all $conns connections echoed, $conns open at once"
    has_err "eofs=$conns resets=0"
    has_err "[app/tester] perm: listen on port 9 is not granted to enclave 'app'"
    has_err "[app/tester] perm: connect to port 9 is not granted to enclave 'app'"
    has_err "[app/tester] perm: files in '/etc' are not granted to enclave 'app'"
    has_err "[app/tester] perm: files in '$(dirname "$dir")' are not granted to enclave 'app'"
    has_err "[app/tester] extra ok"
    [ ! -e "$(dirname "$dir")/escape.txt" ] || fail "file created outside the grant"
    ;;
slow)
    has_err "eofs=$conns resets=0"
    grep -qE "sys 'io': .* [1-9][0-9]* sends continued" "$err" || fail "no partial send"
    ;;
reset)
    has_err "eofs=0 resets=$conns"
    ;;
esac
if [ "$fails" != 0 ]; then
    echo "--- stdout"; cat "$out"; echo "--- stderr"; tail -50 "$err"
    exit 1
fi
echo "sys $case_name ok"
