#!/usr/bin/env bash
# Integration tests: run real deployments with the eactors command and check
# what they print and how they end. Usage: cases.sh CASE
# Environment: EACTORS (the tool), IMG (dir with faulty.so and test
# deployments), EX (the built examples dir), BACKEND (optional: none).
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1
scratch
# Images of test deployments resolve through the search path, so a test can
# run a private copy of a deployment (a unique name to look for leftovers).
export EACTORS_IMAGE_PATH=$IMG
private() { cp "$IMG/$1" "$tmp/${1%.xml}-$$.xml"; echo "$tmp/${1%.xml}-$$.xml"; }
backend=()
[ -n "${BACKEND:-}" ] && backend=(--backend "$BACKEND")

# run EXPECTED_EXIT FILE [ARGS...]: runs the deployment with a hang guard.
run() {
    local want=$1 file=$2; shift 2
    expect_run "$want" 120 "${backend[@]}" "$@" "$file"
}
# Every message of a pingpong run came back intact.
pingpong_ok() {
    has_out "pingpong-result placement=$1"
    has_out "errors=0"
    has_err "ping "
    has_err "done"
}

case "$case_name" in
hello)
    run 0 "$EX/hello/hello.xml"
    has_out "hello, world from actor 'hello' in greeter"
    has_err "hello                greeter"
    ;;
hello_host)
    run 0 "$EX/hello/hello-host.xml"
    has_out "hello from actor 'hello' in host"
    ;;
pingpong_*)
    p=${case_name#pingpong_}; p=${p//_/-}
    run 0 "$EX/pingpong/$p.xml"
    pingpong_ok "$p"
    has_out "100000 round trips of 16 B"
    ;;
ring)
    run 0 "$EX/ring/ring.xml"
    has_out "ring-result actors=8 hops=10000"
    ;;
quiet)
    run 0 "$EX/hello/hello.xml" --quiet
    lacks_err "summary"
    ;;
crash)
    f=$(private crash.xml)
    run 1 "$f"
    has_err "eactors: enclave 'victim' died: actor 'boom' crashed with SIGSEGV"
    has_out "calm: stop seen"
    has_out "hostcalm: stop seen"
    no_leftovers "$f"
    ;;
syscall)
    f=$(private syscall.xml)
    run 1 "$f"
    has_err "eactors: enclave 'jail' killed: actor 'opener' made forbidden system call 'open"
    has_out "calm: stop seen"
    no_leftovers "$f"
    ;;
syscall_host)
    run 0 "$IMG/syscall-host.xml"
    has_out "opener in host: open returned"
    ;;
fail)
    f=$(private fail.xml)
    run 1 "$f"
    has_err "eactors: actor 'bad' in enclave 'e' failed: actor failure (-16)"
    has_err "FAILED"
    no_leftovers "$f"
    ;;
backpressure_cross)
    run 0 "$IMG/backpressure-cross.xml"
    has_out "sink: received 100000 messages, 0 out of order or lost"
    has_out "flood: sent 100000 messages"
    ;;
backpressure_one)
    run 0 "$IMG/backpressure-one.xml"
    has_out "sink: received 20000 messages, 0 out of order or lost"
    if grep -q "pushed back 0 times" "$out"; then fail "sender was never pushed back"; fi
    ;;
backpressure_wait)
    run 0 "$IMG/backpressure-wait.xml"
    has_out "sink: received 20000 messages, 0 out of order or lost"
    if grep -q "pushed back 0 times" "$out"; then fail "sender was never pushed back"; fi
    ;;
spawn)
    run 0 "$IMG/spawn.xml"
    for i in 0 1 2; do has_out "spawner: child $i (boss.child#$i) answered $((2 * (i + 100)))"; done
    for i in 0 1; do has_out "spawner: child $i (hostboss.child#$i) answered $((2 * (i + 100)))"; done
    has_err "boss.child#2"
    ;;
spawn_limit)
    run 1 "$IMG/spawn-limit.xml"
    has_err "eactors: actor 'boss' in enclave 'e' failed: limit reached (-15)"
    ;;
multi)
    run 0 "$IMG/multi.xml"
    has_out "m: constructor ran 4 times"
    ;;
sigint | sigterm)
    sig=INT want=130
    [ "$case_name" = sigterm ] && sig=TERM want=143
    f=$(private wait.xml)
    "$EACTORS" run "${backend[@]}" "$f" >"$out" 2>"$err" &
    pid=$!
    wait_for "$out" "inside: ready" 15 && wait_for "$out" "outside: ready" 15
    kill -s "$sig" "$pid"
    # Hang guard only: the run itself ends within about a second.
    if ! wait_gone 10; then fail "run did not end after SIG$sig"; kill -9 "$pid"; fi
    wait "$pid"; got=$?
    pid=
    [ "$got" = "$want" ] || fail "exit $got, expected $want"
    has_err "eactors: stopping on SIG$sig"
    has_out "inside: stop seen"
    has_out "outside: stop seen"
    no_leftovers "$f"
    ;;
pin_fail)
    # The launcher may use CPU 0 only: a worker pinned to CPU 1 cannot start,
    # in the host and in an enclave, and the message names worker and CPU.
    timeout 60 taskset -c 0 "$EACTORS" run "$EX/pingpong/host-host.xml" >"$out" 2>"$err"
    [ $? = 1 ] || fail "host: expected exit 1"
    has_err "worker 'w1': cannot pin to CPU 1: not in this process's CPU set"
    timeout 60 taskset -c 0 "$EACTORS" run "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err"
    [ $? = 1 ] || fail "enclave: expected exit 1"
    has_err "eactors: enclave 'right' failed to start: worker 'w1': cannot pin to CPU 1"
    ;;
check_ok)
    timeout 60 "$EACTORS" check "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err" || fail "check failed"
    has_out "valid: 2 enclave(s), 2 worker(s), 2 actor(s), 1 channel(s)"
    ;;
check_badtype)
    timeout 60 "$EACTORS" check "$IMG/badtype.xml" >"$out" 2>"$err"
    [ $? = 2 ] || fail "expected exit 2"
    has_err "$IMG/badtype.xml:4: <actor> 'm': type 'nosuchtype' is not in image 'faulty.so'"
    ;;
check_badxml)
    timeout 60 "$EACTORS" run "$IMG/badxml.xml" >"$out" 2>"$err"
    [ $? = 2 ] || fail "expected exit 2"
    has_err "$IMG/badxml.xml:3: <worker>: unknown attribute 'colour'"
    ;;
check_allerrors)
    # Every error of the file, one line each, in line order (a <sys> before
    # its enclave worker is still refused).
    timeout 60 "$EACTORS" check "$IMG/badmany.xml" >"$out" 2>"$err"
    [ $? = 2 ] || fail "expected exit 2"
    printf '%s\n' \
        "$IMG/badmany.xml:3: <sys> 'io': system actors run in the host, not on worker 'w0' of enclave 'e'" \
        "$IMG/badmany.xml:5: <actor> 'm': type 'nosuchtype' is not in image 'faulty.so'" \
        "$IMG/badmany.xml:6: <worker>: unknown attribute 'colour'" >"$tmp/want"
    cmp -s "$tmp/want" "$err" || { fail "stderr is not the three errors"; cat "$err"; }
    ;;
usage)
    "$EACTORS" >"$out" 2>"$err"; [ $? = 2 ] || fail "no args: expected 2"
    has_err "usage: eactors run"
    "$EACTORS" run --backend sgx x.xml >"$out" 2>"$err"; [ $? = 2 ] || fail "bad backend: expected 2"
    has_err "unknown backend 'sgx'"
    "$EACTORS" run /nonexistent.xml >"$out" 2>"$err"; [ $? = 2 ] || fail "missing file: expected 2"
    has_err "/nonexistent.xml: cannot read"
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
finish "$case_name${BACKEND:+ (backend $BACKEND)}"
