# Shared by the shell tests (tests/*/*.sh). Source it first:
#     . "$(dirname "$0")/../common/lib.sh"
# It defines functions and the failure count only; a test that runs
# deployments calls `scratch` for its files.
#
# Checks do not stop the test: each failed one is counted by `fail`, and
# `finish` ends the test with status 1 if any failed.

fails=0
# fail MESSAGE: records one failed check.
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# finish NAME: prints "PASS: NAME" if no check failed, and exits 0 or 1.
finish() {
    [ "$fails" -eq 0 ] && echo "PASS: $1"
    exit $((fails > 0))
}

# scratch: makes $tmp (a fresh directory) and $out and $err in it (empty
# files for a run's stdout and stderr). On exit, a background run still in
# $pid is killed and $tmp is removed; clear $pid once the run was waited for.
scratch() {
    tmp=$(mktemp -d)
    out=$tmp/out err=$tmp/err
    : >"$out"
    : >"$err"
    pid=
    pd_pid=
    trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$pd_pid" ] && kill "$pd_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
}

# need_root WHAT: ends the test as skipped (exit 77, CTest's SKIP_RETURN_CODE)
# unless it runs as root, naming what needs root.
need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: $1 needs root (it creates the service users and starts the platform daemon)"
        exit 77
    fi
}
# pd_users: the platform daemon's user, the enclaves' user and an
# unprivileged host user `eatest` (root only; created once per machine).
pd_users() {
    local u
    for u in eactors eactors-enclave eatest; do
        id -u "$u" >/dev/null 2>&1 ||
            useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$u" ||
            fail "cannot create user $u"
    done
}
# pd_start WHAT: (root) starts a platform daemon for this test, with its own
# socket and platform directory in $tmp, and points EACTORS_PLATFORM_SOCKET
# at it; $pd_pid is killed on exit.
pd_start() {
    need_root "$1"
    pd_users
    chmod 755 "$tmp"
    "$EACTORS" platform run --socket "$tmp/pd.sock" --dir "$tmp/platform" >"$tmp/pd.log" 2>&1 &
    pd_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "serving" "$tmp/pd.log" 2>/dev/null && break
        sleep 0.05
    done
    grep -q "serving" "$tmp/pd.log" || { fail "the platform daemon did not start"; cat "$tmp/pd.log"; }
    export EACTORS_PLATFORM_SOCKET=$tmp/pd.sock
}

# expect_run WANT SECONDS ARG...: runs `$EACTORS run ARG...` with a hang
# guard, stdout to $out and stderr to $err, and fails (showing both) unless
# it exits with WANT.
expect_run() {
    local want=$1 secs=$2
    shift 2
    timeout -k 5 "$secs" "$EACTORS" run "$@" >"$out" 2>"$err"
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "exit status $got, expected $want for $*"
        echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"
    fi
}
# has_out TEXT, has_err TEXT, lacks_out TEXT, lacks_err TEXT: the run's
# stdout or stderr holds (or does not hold) the fixed string TEXT; a failure
# shows the file.
has_out() { grep -qF -- "$1" "$out" || { fail "stdout lacks: $1"; cat "$out"; }; }
has_err() { grep -qF -- "$1" "$err" || { fail "stderr lacks: $1"; cat "$err"; }; }
lacks_out() { ! grep -qF -- "$1" "$out" || { fail "stdout has: $1"; cat "$out"; }; }
lacks_err() { ! grep -qF -- "$1" "$err" || { fail "stderr has: $1"; cat "$err"; }; }

# alive: the background run in $pid has not ended.
alive() { kill -0 "$pid" 2>/dev/null; }
# wait_for FILE REGEX SECONDS: polls FILE for a line matching REGEX (grep's
# basic syntax) while the run in $pid lives; true once it is there.
wait_for() {
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        alive || break
        sleep 0.05
    done
    grep -q -- "$2" "$1" 2>/dev/null
}
# wait_gone SECONDS: polls until the run in $pid has ended; false if it
# still runs after SECONDS (the caller decides what to do with it).
wait_gone() {
    local i
    for ((i = 0; i < $1 * 20; i++)); do
        alive || return 0
        sleep 0.05
    done
    ! alive
}

# no_leftovers PATTERN: no process whose command line holds PATTERN (a run's
# private deployment file) outlives the run.
no_leftovers() {
    sleep 0.2
    if pgrep -f -- "$1" >/dev/null; then
        fail "processes left behind for $1:"
        pgrep -af -- "$1"
    fi
}
