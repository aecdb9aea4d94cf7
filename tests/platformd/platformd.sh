#!/usr/bin/env bash
# The platform daemon against the user who starts the launcher (issue 10).
# Usage: platformd.sh CASE PORT. Runs as root: it creates the service users
# and an unprivileged host user `eatest`, starts a daemon with its own
# socket and platform directory, and runs the examples as `eatest`.
# Without root every case skips, naming what it needs.
# Environment: EACTORS, EX (built examples), PRELOAD (a library to preload).
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1 port=$2
scratch
pd_start "the platform daemon's tests"
chmod 755 "$tmp"
CA=$EX/https/pki/ca.pem
# eu CMD...: CMD as the host user eatest (setpriv execs it: signals reach it).
eu() { setpriv --reuid=eatest --regid=eatest --clear-groups "$@"; }
as_user() { eu env EACTORS_PLATFORM_DIR="$tmp/dev/platform" "$@"; }
mkdir -p "$tmp/dev" && chown eatest "$tmp/dev"

# https_start MODE: the https example as eatest on $port in MODE, in the
# background; its output in $out and $err (owned by eatest).
https_start() {
    sed "s/8443/$port/g" "$EX/https/https.xml" > "$tmp/https.xml"
    : >"$out"
    : >"$err"
    chown eatest "$out" "$err"
    # (setpriv itself, not a function: $! must be the launcher.)
    setpriv --reuid=eatest --regid=eatest --clear-groups env EACTORS_PLATFORM_DIR="$tmp/dev/platform" \
        EACTORS_IMAGE_PATH="$EX/https" ${2:+LD_PRELOAD=$2} \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
        "$EACTORS" run --platform "$1" "$tmp/https.xml" >"$out" 2>"$err" &
    pid=$!
    wait_for "$out" "listening" 10 || { fail "https did not start"; cat "$out" "$err"; exit 1; }
}
https_stop() {
    kill -INT "$pid" 2>/dev/null
    wait "$pid"; local rc=$?
    pid=
    [ "$rc" = 130 ] || { fail "https ended with $rc, expected 130"; tail -20 "$err"; }
}
# The enclave processes the launcher reported (system mode).
enclave_pids() { sed -n "s/^eactors: enclave '.*' is process \([0-9]*\) of the platform daemon$/\1/p" "$err"; }
# The processes forked by launcher $1 (development mode: the platform
# service and the enclaves).
launcher_children() { ps -o pid= --ppid "$1" | tr -d ' '; }

case "$case_name" in
examples)
    # The examples as an unprivileged user in system mode: every byte check.
    chown eatest "$out" "$err"
    as_user "$EACTORS" run "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err" || fail "pingpong failed"
    has_out "errors=0"
    has_err "eactors: platform: system"
    has_err "(platform: system)"
    has_err "accepted enclave 'right'"
    https_start system
    for f in index.html style.css data.txt; do
        curl -sS --max-time 20 --cacert "$CA" "https://localhost:$port/$f" -o "$tmp/$f" || fail "GET $f"
        cmp -s "$tmp/$f" "$(sed -n 's/.*param name="site" value="\([^"]*\)".*/\1/p' "$tmp/https.xml" | head -1)/$f" ||
            fail "$f differs from the site"
    done
    n=$(enclave_pids | wc -l)
    [ "$n" -ge 2 ] || fail "expected the https enclaves to be daemon processes, got $n"
    for p in $(enclave_pids); do
        [ "$(ps -o user= -p "$p")" = eactors-enclave ] || fail "enclave $p does not run as eactors-enclave"
        [ "$(ps -o ppid= -p "$p" | tr -d ' ')" != "$pid" ] || fail "enclave $p is the launcher's child"
    done
    https_stop
    ;;
reach)
    # What the host user can do to the enclaves and the daemon: nothing.
    https_start system
    sleep 0.3
    setpriv --reuid=eatest --regid=eatest --clear-groups sleep 30 &
    own=$!
    sleep 0.2
    # Controls: the same tools work on a process of the host user.
    eu timeout 20 strace -qq -e trace=none -p "$own" 2>/dev/null & sp=$!
    traced=0
    for _ in $(seq 100); do
        [ "$(awk '/^TracerPid:/ {print $2}' "/proc/$own/status")" != 0 ] && { traced=1; break; }
        sleep 0.05
    done
    [ "$traced" = 1 ] || fail "control: strace could not attach to the user's own process"
    kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
    eu cat "/proc/$own/environ" >/dev/null 2>&1 || fail "control: own environ not readable"
    eu ls "/proc/$own/fd" >/dev/null 2>&1 || fail "control: own descriptors not listable"
    kill "$own" 2>/dev/null
    targets="$(enclave_pids) $pd_pid $(pgrep -P "$pd_pid" -f 'platform run')"
    for p in $targets; do
        r=$(eu timeout 20 strace -qq -e trace=none -p "$p" 2>&1)
        echo "$r" | grep -q "Operation not permitted" || fail "ptrace attach to $p: '$r'"
        eu cat "/proc/$p/environ" >/dev/null 2>&1 && fail "environ of $p readable"
        eu head -c 1 "/proc/$p/mem" >/dev/null 2>&1 && fail "memory of $p readable"
        eu ls "/proc/$p/fd" >/dev/null 2>&1 && fail "descriptors (memfds) of $p listable"
        eu kill -STOP "$p" 2>/dev/null && fail "the host user could stop $p"
    done
    # The secret and the counters: not readable, not replaceable.
    [ -f "$tmp/platform/secret" ] || fail "no platform secret in $tmp/platform"
    eu cat "$tmp/platform/secret" >/dev/null 2>&1 && fail "secret readable"
    eu ls "$tmp/platform/counters" >/dev/null 2>&1 && fail "counters listable"
    eu cp /dev/null "$tmp/platform/secret" 2>/dev/null && fail "secret replaceable"
    eu mv "$tmp/platform" "$tmp/moved" 2>/dev/null && fail "platform directory movable"
    https_stop
    # Control: in development mode the platform directory is the user's own.
    chown eatest "$out" "$err"
    eu env EACTORS_PLATFORM_DIR="$tmp/dev/platform" "$EACTORS" run --platform development \
        "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err" || fail "development pingpong failed"
    eu cat "$tmp/dev/platform/secret" >/dev/null 2>&1 || fail "control: own secret not readable"
    ;;
preload)
    # LD_PRELOAD on the launcher. Development mode (control): the library is
    # mapped into the enclaves. System mode: into none of them.
    chmod 755 "$(dirname "$PRELOAD")"
    https_start development "$PRELOAD"
    sleep 0.3
    hits=0
    for p in $(launcher_children "$pid"); do
        grep -q "$(basename "$PRELOAD")" "/proc/$p/maps" 2>/dev/null && hits=$((hits + 1))
    done
    [ "$hits" -ge 2 ] || fail "control: the preloaded library is in $hits of the development enclaves"
    https_stop
    https_start system "$PRELOAD"
    has_err "preload: loaded"
    for p in $(enclave_pids); do
        grep -q "$(basename "$PRELOAD")" "/proc/$p/maps" && fail "system mode: the library is in enclave $p"
        tr '\0' '\n' < "/proc/$p/environ" | grep -q . && fail "system mode: enclave $p has an environment"
    done
    [ -n "$(enclave_pids)" ] || fail "no enclave processes reported"
    https_stop
    ;;
crash)
    # A second daemon on the same socket is refused; the first keeps it.
    "$EACTORS" platform run --socket "$tmp/pd.sock" --dir "$tmp/platform2" >"$tmp/pd2.log" 2>&1 &&
        fail "a second daemon started on the same socket"
    grep -q "already serves" "$tmp/pd2.log" || { fail "second daemon: no reason"; cat "$tmp/pd2.log"; }
    # An enclave killed: its launcher reports it and stops (exit 1).
    https_start system
    victim=$(enclave_pids | head -1)
    kill -9 "$victim"
    wait "$pid"; rc=$?
    pid=
    [ "$rc" = 1 ] || fail "run ended with $rc after an enclave was killed, expected 1"
    has_err "eactors: enclave '"
    has_err "was killed by SIGKILL"
    # The daemon killed: the launcher says so and stops; a new daemon
    # serves the next run.
    : >"$out"; : >"$err"
    https_start system
    kill -9 "$pd_pid"
    wait "$pid"; rc=$?
    pid=
    [ "$rc" = 1 ] || fail "run ended with $rc after the daemon was killed, expected 1"
    has_err "the platform daemon ended"
    wait "$pd_pid" 2>/dev/null
    pd_start "a restarted daemon"
    chown eatest "$out" "$err"
    as_user "$EACTORS" run "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err" || fail "pingpong after restart"
    has_out "errors=0"
    ;;
multi)
    # Two applications of two users share one daemon; each one's enclaves
    # map their own launcher's arena and never the other's.
    https_start system
    sed 's/name="rounds" value="[0-9]*"/name="rounds" value="3000000"/' \
        "$EX/pingpong/enclave-enclave.xml" > "$tmp/long.xml"
    EACTORS_IMAGE_PATH=$EX/pingpong "$EACTORS" run --platform system "$tmp/long.xml" \
        >"$tmp/pp.out" 2>"$tmp/pp.err" &
    pp=$!
    for _ in $(seq 100); do
        [ "$(grep -c 'of the platform daemon' "$tmp/pp.err")" -ge 2 ] && break
        sleep 0.05
    done
    sleep 0.3
    arena() { awk '/eactors-arena/ {print $5; exit}' "/proc/$1/maps"; }
    a_https=$(arena "$pid") a_pp=$(arena "$pp")
    [ -n "$a_https" ] && [ -n "$a_pp" ] && [ "$a_https" != "$a_pp" ] ||
        fail "set-up: arenas '$a_https' and '$a_pp'"
    pp_pids=$(sed -n "s/^eactors: enclave '.*' is process \([0-9]*\) of the platform daemon$/\1/p" "$tmp/pp.err")
    [ "$(echo $pp_pids | wc -w)" = 2 ] || fail "pingpong enclaves: '$pp_pids'"
    for p in $(enclave_pids); do
        grep -q "eactors-arena" "/proc/$p/maps" || fail "https enclave $p maps no arena"
        [ "$(arena "$p")" = "$a_https" ] || fail "https enclave $p maps another arena"
    done
    for p in $pp_pids; do
        [ "$(arena "$p")" = "$a_pp" ] || fail "pingpong enclave $p maps another arena"
    done
    kill -INT "$pp" 2>/dev/null; wait "$pp"
    https_stop
    ;;
hostile)
    # Launchers that try to take the daemon from the other users. Control
    # first: eatest runs pingpong in system mode.
    chown eatest "$out" "$err"
    as_user "$EACTORS" run --platform system "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err" ||
        fail "control: pingpong as eatest"
    # eatest holds 20 sessions open: the daemon refuses those beyond its
    # per-user bound, and refuses eatest's launcher with a reason (never
    # a silent fall-back to development mode); root's run is not affected.
    cat > "$tmp/hold.py" <<'PY'
import socket, struct, sys, time
path, n = sys.argv[1], int(sys.argv[2])
held, refused = [], 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    held.append(s)
    time.sleep(0.02)
time.sleep(0.5)
for s in held:
    s.setblocking(False)
    try:
        m = s.recv(256)
        if m and struct.unpack("<I", m[:4])[0] == 101:
            refused += 1
    except BlockingIOError:
        pass
print("refused", refused, flush=True)
time.sleep(float(sys.argv[3]))
PY
    eu /usr/bin/python3 "$tmp/hold.py" "$EACTORS_PLATFORM_SOCKET" 20 4 >"$tmp/hold.out" &
    hold=$!
    for _ in $(seq 60); do grep -q refused "$tmp/hold.out" && break; sleep 0.05; done
    grep -q "refused 4" "$tmp/hold.out" || fail "20 sessions of one user: $(cat "$tmp/hold.out")"
    : >"$out"; : >"$err"
    as_user "$EACTORS" run "$EX/pingpong/enclave-enclave.xml" >"$out" 2>"$err" &&
        fail "eatest's launcher ran beyond the per-user bound"
    has_err "refused: this user already holds the most sessions"
    lacks_err "platform: development"
    "$EACTORS" run --platform system "$EX/pingpong/enclave-enclave.xml" >"$tmp/root.out" 2>&1 ||
        fail "root's run failed while eatest held its sessions"
    wait "$hold"
    # A launcher that floods requests and never reads an answer loses its
    # session; the daemon keeps serving the others.
    cat > "$tmp/flood.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
rec = struct.pack("<IiiI", 1, 0, 0, 0) + b"eactors-platform-1".ljust(240, b"\0")
sent = 0
try:
    s.settimeout(5)
    for _ in range(200000):
        s.send(rec)
        sent += 1
except OSError as e:
    print("stopped after", sent, type(e).__name__, flush=True)
else:
    print("sent all", sent, flush=True)
PY
    eu /usr/bin/python3 "$tmp/flood.py" "$EACTORS_PLATFORM_SOCKET" >"$tmp/flood.out" 2>&1 &
    flood=$!
    "$EACTORS" run --platform system "$EX/pingpong/enclave-enclave.xml" >"$tmp/root.out" 2>&1 ||
        fail "root's run failed during the flood"
    grep -q "errors=0" "$tmp/root.out" || fail "root's run: no result during the flood"
    wait "$flood"
    grep -q "stopped after" "$tmp/flood.out" || fail "the flooding session was not ended: $(cat "$tmp/flood.out")"
    ;;
require)
    # A deployment that requires system mode, and an image signed for
    # system mode only: both refused in development mode, run in system.
    sed 's|<eactors>|<eactors platform="system">|' "$EX/pingpong/enclave-enclave.xml" > "$tmp/req.xml"
    grep -q 'platform="system"' "$tmp/req.xml" || fail "set-up: no platform attribute"
    EACTORS_IMAGE_PATH=$EX/pingpong expect_run 1 60 --platform development "$tmp/req.xml"
    has_err "requires system mode"
    EACTORS_IMAGE_PATH=$EX/pingpong expect_run 0 60 --platform system "$tmp/req.xml"
    cp "$EX/pingpong/pingpong.so" "$tmp/"
    "$EACTORS" keygen --out "$tmp/k.pem" >/dev/null
    "$EACTORS" sign --key "$tmp/k.pem" --system-only "$tmp/pingpong.so" >"$tmp/sign.out" || fail "sign --system-only"
    grep -q "system mode only" "$tmp/sign.out" || fail "sign does not show the launch flag"
    sed 's|image="[^"]*"|image="pingpong.so"|g' "$EX/pingpong/enclave-enclave.xml" > "$tmp/so.xml"
    expect_run 1 60 --platform development "$tmp/so.xml"
    has_err "is signed to run in system mode only"
    expect_run 0 60 --platform system "$tmp/so.xml"
    has_out "errors=0"
    ;;
eos)
    # A persistent EOS store in system mode: the launcher (eatest) opens the
    # file and passes it over its session; the daemon hands it to the
    # enclave process it starts (descriptor 8), which maps it; the store's
    # monotonic counter lives in the daemon's platform service. Two runs
    # count 1 then 2; the file saved after run 1 and put back after run 2
    # (a rollback) is refused. The enclave that maps it is a daemon process
    # of the enclave user, and the file holds no key in the clear.
    mkdir -p "$tmp/eos" && cp "$EX/eos/eos.xml" "$tmp/eos/" && chown -R eatest "$tmp/eos"
    eos_run() {
        : >"$out"; : >"$err"
        chown eatest "$out" "$err"
        timeout -k 5 60 setpriv --reuid=eatest --regid=eatest --clear-groups \
            env EACTORS_IMAGE_PATH="$EX/eos" "$EACTORS" run --platform system "$tmp/eos/eos.xml" \
            >"$out" 2>"$err"
    }
    for n in 1 2; do
        eos_run || { fail "run $n failed"; cat "$out" "$err"; }
        has_err "(platform: system)"
        has_out "right: private store 'journal': run $n (sync counter $n)"
        has_out "left: counter = 2000 (expected 2000: no lost updates)"
        has_out "left: store 'journal' of the other enclave: not permitted"
        lacks_out "WRONG"
        n_encl=$(enclave_pids | wc -l)
        [ "$n_encl" = 2 ] || fail "run $n: expected 2 enclave processes of the daemon, got $n_encl"
        [ "$(stat -c %U "$tmp/eos/eos-journal.eos")" = eatest ] || fail "the journal is not the launcher user's file"
        grep -q "runs" "$tmp/eos/eos-journal.eos" && fail "the journal holds the key 'runs' in the clear"
        [ "$n" = 1 ] && cp "$tmp/eos/eos-journal.eos" "$tmp/journal.run1"
    done
    # Control: the file a run wrote is the one put back; run 3 is refused.
    cmp -s "$tmp/journal.run1" "$tmp/eos/eos-journal.eos" && fail "run 2 did not change the journal"
    cp "$tmp/eos/eos-journal.eos" "$tmp/journal.run2"
    cp "$tmp/journal.run1" "$tmp/eos/eos-journal.eos"
    eos_run && fail "a rolled-back journal was accepted"
    has_err "right: attach private store: store rolled back"
    # STORE records the daemon refuses: an ordinal out of range, a socket
    # for a file; a file with a good ordinal is taken (control).
    cat > "$tmp/store.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.recv(256)  # the greeting
def req(op, enclave, value, fd=None):
    rec = struct.pack("<IiiI", op, enclave, value, 0) + b"eactors-platform-1".ljust(240, b"\0")
    if fd is None:
        s.send(rec)
    else:
        socket.send_fds(s, [rec], [fd])
    return struct.unpack("<I", s.recv(256)[:4])[0]
print("hello", req(1, 0, 0))
f = open(sys.argv[2], "rb")
print("range", req(11, 0, 8, f.fileno()), req(11, 0, -1, f.fileno()))
a, b = socket.socketpair()
print("socket", req(11, 0, 0, a.fileno()))
print("file", req(11, 0, 0, f.fileno()))
PY
    eu /usr/bin/python3 "$tmp/store.py" "$EACTORS_PLATFORM_SOCKET" "$tmp/eos/eos.xml" >"$tmp/store.out" 2>&1
    grep -qx "hello 100" "$tmp/store.out" && grep -qx "range 101 101" "$tmp/store.out" &&
        grep -qx "socket 101" "$tmp/store.out" && grep -qx "file 100" "$tmp/store.out" ||
        fail "STORE records: $(cat "$tmp/store.out")"
    # Control: the latest file put back opens and counts on.
    cp "$tmp/journal.run2" "$tmp/eos/eos-journal.eos"
    eos_run || { fail "the latest journal was refused"; cat "$out" "$err"; }
    has_out "right: private store 'journal': run 3 (sync counter 3)"
    ;;
esac
finish "$case_name"
