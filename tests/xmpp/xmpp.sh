#!/usr/bin/env bash
# The XMPP example against real clients on loopback. Usage: xmpp.sh CASE PORT
#   interop      xmpp.xml (partitioned): users made with eactors-xmpp, then
#                slixmpp (slix_interop.py, muc.py), raw hostile input
#                (hostile.py), the remaining acceptance cases (acceptance.py)
#                and XEP-0191 blocking (blocking.py)
#   interop_one  the same against xmpp-one.xml (everything in one enclave)
#   plain_only   xmpp-one.xml offering PLAIN alone (after STARTTLS): the
#                libstrophe client logs in with PLAIN (spec L3)
#   register     xmpp.xml with XEP-0077 on (register.py): a new account, the
#                errors, and the account still there after a restart
#   profanity    xmpp.xml with Debian's profanity driven through tmux
#                (profanity.py) against slixmpp: spec L4, M8, E1 and
#                profanity's side of roster, presence and MUC
#   tsung_plain / tsung_starttls
#                tsung's SASL scenario (tsung_sasl.xml.in, spec L6): 20 users
#                made with eactors-xmpp log in with PLAIN (behind the
#                plain_insecure switch without TLS, or after STARTTLS), chat
#                online and offline, and close; tsung's own statistics must
#                show every login, transaction and stamped chat, and no error
#   tsung_muc    tsung's MUC scenario with SASL over STARTTLS
#                (tsung_muc.xml.in, spec M10): every groupchat reaches
#                every occupant of its room
#   tool         eactors-xmpp: add, list, passwd, delete, and its errors
#   persist      rosters, subscriptions, blocklists and offline messages survive restarts
#                (persist.py, partitioned then one enclave on the same
#                files); the data store put back from an older sync, or with
#                its records modified, is refused at start with a clear error
#   host_view    xmpp.xml, the host's view (host_view.py): while alice sends
#                bob chats whose bodies hold a marker, ea_attacker scans the
#                whole public arena for it, over and over: over STARTTLS it
#                is never found; control, in the same run: alice without TLS
#                (plain_insecure), and the same scan finds her marker
# Environment: EACTORS, EX (built examples), EACTORS_PLATFORM_DIR, ATTACKER
# (tests/attack's ea_attacker, for host_view); XMPP_KEEP=DIR
# copies a failed tsung run's log directory there.
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1 port=$2
here=$(cd "$(dirname "$0")" && pwd)
scratch
CA=$EX/https/pki/ca.pem
X=$EX/xmpp
tool() { EACTORS=$EACTORS "$X/eactors-xmpp" --store "$tmp/store/accounts.eos" "$@"; }
mkdir -p "$tmp/store"

# start XML [SED]: a private copy of a deployment on $port with the store in
# $tmp (and SED applied).
start() {
    # A 3 s pre-authentication timeout instead of 30 (hostile.py checks it),
    # unless $preauth says otherwise (tsung thinks 2 s before it logs in).
    sed -e "s|5222|$port|g" -e "s|$X/store|$tmp/store|g" \
        -e 's|\(<param name="port" value="[0-9]*"/>\)|\1<param name="preauth_timeout_s" value="'"${preauth:-3}"'"/>|' \
        -e "${2:-s/^//}" "$X/$1" > "$tmp/run.xml"
    grep -q preauth_timeout_s "$tmp/run.xml" || fail "timeout parameter not set"
    EACTORS_IMAGE_PATH=$X "$EACTORS" run "$tmp/run.xml" >"$out" 2>"$err" &
    pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "listening" "$out" && grep -q "directory of" "$out" &&
            grep -q "router: store loaded" "$out" && return 0
        sleep 0.1
    done
    fail "server did not start"; cat "$out" "$err"; exit 1
}
stop() {
    kill -INT "$pid"
    local rc
    wait "$pid"; rc=$?
    pid=
    [ "$rc" = 130 ] || { fail "run ended with $rc, expected 130"; tail -20 "$err"; }
    grep -q "died\|killed\|ERROR: AddressSanitizer\|runtime error" "$err" && { fail "crash"; cat "$err"; }
}
users() {
    echo alice-pw | tool adduser alice >/dev/null || fail "adduser alice"
    echo bob-pw | tool adduser bob >/dev/null || fail "adduser bob"
    echo carol-pw | tool adduser carol >/dev/null || fail "adduser carol"
    echo dave-pw | tool adduser dave >/dev/null || fail "adduser dave"
}
clients() {
    timeout -k 5 150 /usr/bin/python3 "$here/slix_interop.py" "$port" "$CA" > "$tmp/slix.log" 2>&1 ||
        { fail "slixmpp interop"; grep -v "^ok" "$tmp/slix.log" | grep -v "Task\|task:\|stringprep" | head -30; }
    timeout -k 5 120 /usr/bin/python3 "$here/muc.py" "$port" "$CA" > "$tmp/muc.log" 2>&1 ||
        { fail "slixmpp MUC"; grep -v "^ok" "$tmp/muc.log" | grep -v "Task\|task:\|stringprep" | head -30; }
    timeout -k 5 150 /usr/bin/python3 "$here/hostile.py" "$port" "$CA" 3 > "$tmp/hostile.log" 2>&1 ||
        { fail "hostile input"; grep -v "^ok" "$tmp/hostile.log" | head -30; }
    timeout -k 5 150 /usr/bin/python3 "$here/acceptance.py" "$port" "$CA" "$pid" > "$tmp/acceptance.log" 2>&1 ||
        { fail "acceptance cases"; grep -v "^ok" "$tmp/acceptance.log" | head -30; }
    timeout -k 5 100 /usr/bin/python3 "$here/blocking.py" "$port" "$CA" live > "$tmp/blocking.log" 2>&1 ||
        { fail "blocking (XEP-0191)"; grep -v "^ok" "$tmp/blocking.log" | head -30; }
    if [ -n "${STROPHE:-}" ]; then
        timeout -k 5 60 "$STROPHE" "$port" "$CA" dave dave-pw wrong > "$tmp/strophe.log" 2>&1 ||
            { fail "libstrophe client"; grep -v "^ok" "$tmp/strophe.log" | head -20; }
    else
        echo "libstrophe client not built (libstrophe-dev missing): skipped"
    fi
    grep -h "^ok" "$tmp"/*.log | wc -l | sed 's/^/checks passed: /'
}

# refused XML WHY: a run of a deployment (as start makes it) must end by
# itself with an error whose message matches WHY, serving no one.
refused() {
    sed -e "s|5222|$port|g" -e "s|$X/store|$tmp/store|g" "$X/$1" > "$tmp/run.xml"
    EACTORS_IMAGE_PATH=$X timeout -k 5 60 "$EACTORS" run "$tmp/run.xml" >"$out" 2>"$err"
    local rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "run ended with $rc, expected a refusal"
    grep -q "$2" "$err" || { fail "no '$2' said"; tail -5 "$err"; }
    grep -m1 "$2" "$err" | sed 's/^/refused as expected: /'
    grep -q "router: store loaded" "$out" && fail "the router loaded a refused store"
    grep -q "died\|ERROR: AddressSanitizer\|runtime error" "$err" && { fail "crash"; cat "$err"; }
}
# persist_phase PHASE
persist_phase() {
    timeout -k 5 100 /usr/bin/python3 "$here/persist.py" "$port" "$CA" "$1" >> "$tmp/persist.log" 2>&1 ||
        { fail "persistence, phase $1"; grep "^FAIL" "$tmp/persist.log" | head -20; }
}
# block_phase PHASE: blocking.py's set / kept (dave's blocklist).
block_phase() {
    timeout -k 5 60 /usr/bin/python3 "$here/blocking.py" "$port" "$CA" "$1" >> "$tmp/persist.log" 2>&1 ||
        { fail "blocklist, phase $1"; grep "^FAIL" "$tmp/persist.log" | head -20; }
}
# have TOOL...: ends the test as skipped (77) unless every TOOL is installed.
have() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (make deps installs it)"; exit 77; }
    done
}

case "$case_name" in
host_view)
    : "${ATTACKER:?}"
    users
    export EACTORS_DEBUG_LAYOUT=1
    start xmpp.xml 's|\(<param name="port" value="[0-9]*"/>\)|\1<param name="plain_insecure" value="1"/>|'
    unset EACTORS_DEBUG_LAYOUT
    grep -q "^eactors: layout: channel=" "$err" || fail "no arena layout printed"
    for mode in tls plain; do
        marker=EACTORS-XMPP-SECRET-$mode-$$-$RANDOM$RANDOM
        "$ATTACKER" --layout "$err" --mode scan --marker "$marker" --duration-ms 5000 \
            >"$tmp/scan-$mode.log" 2>&1 &
        apid=$!
        sleep 0.3
        timeout -k 5 60 /usr/bin/python3 "$here/host_view.py" "$port" "$CA" "$mode" "$marker" 3 \
            >"$tmp/hv-$mode.log" 2>&1 || { fail "host_view.py $mode"; cat "$tmp/hv-$mode.log"; }
        wait "$apid" || { fail "ea_attacker ($mode)"; cat "$tmp/scan-$mode.log"; }
        hits=$(sed -n 's/.*marker_hits=\([0-9]*\).*/\1/p' "$tmp/scan-$mode.log")
        scans=$(sed -n 's/.* scans=\([0-9]*\).*/\1/p' "$tmp/scan-$mode.log")
        sent=$(sed -n 's/^ok bob got every message (\([0-9]*\) of.*/\1/p' "$tmp/hv-$mode.log")
        echo "$mode: $sent messages with the marker, arena scanned ${scans:-?} times, ${hits:-?} hits"
        [ -n "$hits" ] && [ "${scans:-0}" -gt 0 ] || { fail "no scan result ($mode)"; cat "$tmp/scan-$mode.log"; continue; }
        if [ "$mode" = tls ]; then
            [ "$hits" = 0 ] || fail "the marker of a TLS session was found in the arena ($hits hits)"
        else
            [ "$hits" -gt 0 ] || fail "control: the marker of a session without TLS was not found (the scan sees nothing?)"
        fi
    done
    stop
    ;;
interop | interop_one)
    users
    [ "$case_name" = interop ] && start xmpp.xml || start xmpp-one.xml
    clients
    stop
    grep -q "alice@localhost authenticated with SCRAM-SHA-256 over TLS" "$out" "$err" ||
        fail "no SCRAM-SHA-256 login logged"
    grep -q "authenticated with PLAIN over TLS" "$out" "$err" || fail "no PLAIN login logged"
    grep -q "alice@localhost authenticated with SCRAM-SHA-1 over TLS" "$out" "$err" ||
        fail "no SCRAM-SHA-1 login logged"
    [ -z "${STROPHE:-}" ] || grep -q "dave@localhost authenticated with SCRAM-SHA-256 over TLS" "$out" "$err" ||
        fail "libstrophe did not log in with SCRAM-SHA-256 over TLS"
    grep -q "logins accepted, [1-9][0-9]* refused" "$out" || fail "no refused login counted"
    grep -q "muc: [1-9][0-9]* joins, [1-9][0-9]* groupchat messages delivered" "$out" ||
        fail "the muc actor counted no joins or groupchat"
    ;;
profanity)
    have profanity tmux
    preauth=30
    users
    start xmpp.xml
    timeout -k 5 280 /usr/bin/python3 "$here/profanity.py" "$port" "$CA" full > "$tmp/prof.log" 2>&1 ||
        { fail "profanity"; grep -v "^ok" "$tmp/prof.log" | grep -v "Task\|task:\|stringprep"; }
    stop
    grep -c "^ok" "$tmp/prof.log" | sed 's/^/checks passed: /'
    grep -q "alice@localhost authenticated with SCRAM-SHA-256 over TLS" "$out" "$err" ||
        fail "profanity did not log in with SCRAM-SHA-256 over TLS"
    ;;
tsung_plain | tsung_starttls | tsung_muc)
    have tsung erl
    nusers=20 naccounts=26 nchats=5 preauth=30
    for ((i = 1; i <= naccounts; i++)); do
        echo "pass$i" | tool adduser "user$i" >/dev/null || fail "adduser user$i"
    done
    if [ "$case_name" = tsung_plain ]; then
        # PLAIN without TLS: the benchmark-only switch, loopback only.
        start xmpp.xml 's|\(<param name="port" value="[0-9]*"/>\)|\1<param name="plain_insecure" value="1"/>|'
        grep -q plain_insecure "$tmp/run.xml" || fail "plain_insecure not set"
        tls_sed='s/^//'
    else
        start xmpp.xml
        tls_sed='/^ *<!--TLS:$/d; /^ *:TLS-->$/d'
    fi
    [ "$case_name" = tsung_muc ] && scenario=tsung_muc.xml.in || scenario=tsung_sasl.xml.in
    sed -e "s/@PORT@/$port/g" -e "s/@USERS@/$nusers/g" -e "s/@ACCOUNTS@/$naccounts/g" \
        -e "s/@CHATS@/$nchats/g" -e "$tls_sed" "$here/$scenario" > "$tmp/tsung.xml"
    # tsung's own Erlang node gets a name of its own (-i), so two runs (or
    # another engineer's Erlang servers) on this machine do not collide.
    HOME=$tmp timeout -k 5 200 tsung -i "eatest$$" -f "$tmp/tsung.xml" -l "$tmp/tsung" start > "$tmp/tsung.out" 2>&1 ||
        { fail "tsung ended with $?"; tail -20 "$tmp/tsung.out"; }
    stop
    log=$(ls -d "$tmp"/tsung/*/ 2>/dev/null | head -1)
    if [ -z "$log" ] || [ ! -f "$log/tsung.log" ]; then
        fail "no tsung.log"; cat "$tmp/tsung.out"
    else
        [ "$case_name" = tsung_plain ] && tls=0 || tls=1
        [ "$case_name" = tsung_muc ] && mode=muc || mode=chat
        timeout 60 /usr/bin/python3 "$here/tsung_stats.py" "$log" "$nusers" "$nchats" "$tls" "$mode" > "$tmp/stats.log" 2>&1 ||
            { fail "tsung's statistics"; grep -v "^ok" "$tmp/stats.log"; grep "^stats:" "$log/tsung.log" | tail -30
              grep -h -A12 "reason=\|Error" "$log"/tsung_controller*.log | head -30
              [ -z "${XMPP_KEEP:-}" ] || cp -r "$log" "$XMPP_KEEP"; }
        grep "^ok" "$tmp/stats.log"
    fi
    # Summed over the c2s instances (xmpp.xml has one per worker on one port).
    sums=$(awk '/^c2s[0-9]*: [0-9]* connections accepted, [0-9]* closed, [0-9]* logins$/ {
        a += $2; c += $5; l += $7 } END { print a + 0, c + 0, l + 0 }' "$out")
    [ "$sums" = "$nusers $nusers $nusers" ] ||
        fail "server: $(grep '^c2s[0-9]*: .*connections accepted' "$out" | tr '\n' ' ')(sums $sums), expected $nusers each"
    if [ "$case_name" = tsung_muc ]; then
        joins=$(sed -n 's/^muc: \([0-9]*\) joins, .*/\1/p' "$out")
        [ "${joins:-0}" -ge "$nusers" ] || fail "muc: $(grep '^muc: ' "$out")"
        grep -q "router: .*, 0 error replies, 0 messages stored offline" "$out" ||
            fail "router: $(grep '^router: ' "$out")"
    else
        # Each user sent one chat to a user that never logs in: all stored.
        grep -q "router: .*, 0 error replies, $nusers messages stored offline" "$out" ||
            fail "offline chats: $(grep '^router: ' "$out")"
    fi
    [ "$case_name" = tsung_plain ] && want="PLAIN without TLS" || want="PLAIN over TLS"
    [ "$(grep -c "user[0-9]*@localhost authenticated with $want" "$out" "$err" | awk -F: '{s += $2} END {print s}')" -ge "$nusers" ] ||
        fail "not every tsung user logged in with $want"
    ;;
plain_only)
    users
    [ -n "${STROPHE:-}" ] || { echo "SKIP: libstrophe client not built"; exit 77; }
    start xmpp-one.xml 's|\(<param name="port" value="[0-9]*"/>\)|\1<param name="plain_only" value="1"/>|'
    grep -q plain_only "$tmp/run.xml" || fail "plain_only not set"
    timeout -k 5 60 "$STROPHE" "$port" "$CA" dave dave-pw wrong > "$tmp/strophe.log" 2>&1 ||
        { fail "libstrophe client"; cat "$tmp/strophe.log"; }
    # Profanity too (libstrophe underneath): PLAIN when it is offered alone.
    if command -v profanity >/dev/null && command -v tmux >/dev/null; then
        timeout -k 5 120 /usr/bin/python3 "$here/profanity.py" "$port" "$CA" plain > "$tmp/prof.log" 2>&1 ||
            { fail "profanity with PLAIN alone"; grep -v "^ok" "$tmp/prof.log"; }
        grep -c "^ok" "$tmp/prof.log" | sed 's/^/profanity checks passed: /'
    else
        echo "profanity or tmux missing: profanity's PLAIN login skipped"
    fi
    stop
    [ ! -s "$tmp/prof.log" ] || grep -q "alice@localhost authenticated with PLAIN over TLS" "$out" "$err" ||
        fail "profanity did not log in with PLAIN over TLS"
    grep -q "dave@localhost authenticated with PLAIN over TLS" "$out" "$err" ||
        fail "libstrophe did not log in with PLAIN over TLS"
    grep -q "SCRAM" "$out" "$err" && fail "a SCRAM login with PLAIN alone offered"
    ;;
register)
    users
    reg='s|\(<param name="port" value="[0-9]*"/>\)|\1<param name="register" value="1"/>|;'
    reg+='s|\(<param name="store" value="accounts"/>\)|\1<param name="register" value="1"/>|'
    start xmpp.xml "$reg"
    # Once per c2s instance and once for accounts.
    [ "$(grep -c 'name="register"' "$tmp/run.xml")" = $(($(grep -c 'type="xmpp_c2s"' "$tmp/run.xml") + 1)) ] ||
        fail "register not set on every c2s and on accounts"
    timeout -k 5 60 /usr/bin/python3 "$here/register.py" "$port" "$CA" new > "$tmp/reg.log" 2>&1 ||
        { fail "registration"; grep -v "^ok" "$tmp/reg.log"; }
    stop
    start xmpp.xml "$reg"
    timeout -k 5 60 /usr/bin/python3 "$here/register.py" "$port" "$CA" again >> "$tmp/reg.log" 2>&1 ||
        { fail "registration after a restart"; grep -v "^ok" "$tmp/reg.log"; }
    stop
    grep -c "^ok" "$tmp/reg.log" | sed 's/^/checks passed: /'
    [ "$(tool list)" = "$(printf 'alice\nbob\ncarol\ndave\nerin')" ] || fail "list: '$(tool list)'"
    ;;
tool)
    users
    [ "$(tool list)" = "$(printf 'alice\nbob\ncarol\ndave')" ] || fail "list: '$(tool list)'"
    echo x | tool adduser alice 2>"$tmp/e" && fail "duplicate user accepted"
    grep -q "user alice exists" "$tmp/e" || fail "duplicate: '$(cat "$tmp/e")'"
    tool deluser nobody 2>"$tmp/e" && fail "deleting an unknown user"
    grep -q "no such user: nobody" "$tmp/e" || fail "unknown: '$(cat "$tmp/e")'"
    echo x | tool adduser 'Bad<User' 2>"$tmp/e" && fail "bad name accepted"
    grep -q "user names here are" "$tmp/e" || fail "bad name: '$(cat "$tmp/e")'"
    tool adduser erin </dev/null 2>"$tmp/e" && fail "empty password accepted"
    grep -q "empty password" "$tmp/e" || fail "empty password: '$(cat "$tmp/e")'"
    tool frobnicate 2>"$tmp/e" && fail "unknown command accepted"
    grep -q "usage:" "$tmp/e" || fail "usage: '$(cat "$tmp/e")'"
    # import: many users in one run, all or none.
    printf 'frank f&<"pw>\ngrace g-pw\n' | tool import >"$tmp/o" 2>"$tmp/e" || fail "import: '$(cat "$tmp/e")'"
    grep -q "import: done (2 users added, 6 accounts)" "$tmp/o" || fail "import: '$(cat "$tmp/o")'"
    printf 'heidi h\nbob b\n' | tool import 2>"$tmp/e" && fail "import of a taken name accepted"
    grep -q "line 2: user bob exists" "$tmp/e" || fail "import taken: '$(cat "$tmp/e")'"
    printf 'heidi h\nheidi h2\n' | tool import 2>"$tmp/e" && fail "import of a name twice accepted"
    grep -q "user heidi is listed twice" "$tmp/e" || fail "import twice: '$(cat "$tmp/e")'"
    printf 'heidi\n' | tool import 2>"$tmp/e" && fail "import of a line without password accepted"
    grep -q "line 1: expected NAME PASSWORD" "$tmp/e" || fail "import line: '$(cat "$tmp/e")'"
    printf 'heidi h\nIvan i\n' | tool import 2>"$tmp/e" && fail "import of a bad name accepted"
    grep -q "line 2: 'Ivan': user names here are" "$tmp/e" || fail "import name: '$(cat "$tmp/e")'"
    tool deluser frank >/dev/null && tool deluser grace >/dev/null || fail "deluser after import"
    echo new-pw | tool passwd bob >/dev/null || fail "passwd"
    tool deluser alice >/dev/null || fail "deluser"
    [ "$(tool list)" = "$(printf 'bob\ncarol\ndave')" ] || fail "list after deluser: '$(tool list)'"
    # The store holds no password and is encrypted: neither appears in it.
    grep -q "new-pw\|bob-pw\|alice-pw" "$tmp/store/accounts.eos" && fail "a password is in the store"
    grep -q "bob" "$tmp/store/accounts.eos" && fail "a user name is in clear in the store"
    # A store put back from before a change is refused with a clear message.
    cp "$tmp/store/accounts.eos" "$tmp/old.eos"
    echo erin-pw | tool adduser erin >/dev/null || fail "adduser erin"
    cp "$tmp/old.eos" "$tmp/store/accounts.eos"
    tool list 2>"$tmp/e" && fail "rolled-back store accepted"
    grep -q "account store was rolled back" "$tmp/e" || fail "rolled back: '$(cat "$tmp/e")'"
    # A modified store (one byte of its authenticated header) is refused too.
    cp "$tmp/old.eos" "$tmp/store/accounts.eos"
    printf 'X' | dd of="$tmp/store/accounts.eos" bs=1 seek=72 conv=notrunc 2>/dev/null
    tool list 2>"$tmp/e" && fail "modified store accepted"
    grep -q "account store was modified" "$tmp/e" || fail "modified: '$(cat "$tmp/e")'"
    ;;
persist)
    # The users in one run (import); every login below checks its keys.
    printf 'alice alice-pw\nbob bob-pw\ncarol carol-pw\ndave dave-pw\nfrank frank-pw\n' | tool import >/dev/null ||
        fail "import"
    start xmpp.xml
    # The tool refuses to touch a store the running server has mapped.
    tool list >/dev/null 2>"$tmp/e" && fail "the tool ran beside the server"
    grep -q "accounts.eos is in use by process" "$tmp/e" || fail "in use: '$(cat "$tmp/e")'"
    persist_phase before
    block_phase set
    stop
    grep -q "store: [1-9][0-9]* writes, [1-9][0-9]* syncs ([0-9]* us each), 0 errors" "$out" ||
        fail "store: $(grep 'store:' "$out")"
    grep "store: .* syncs" "$out"
    cp "$tmp/store/data.eos" "$tmp/old.eos"
    start xmpp.xml
    # (The router's line: start waited for it; the store's may come later.)
    grep -q "router: store loaded ([1-9][0-9]* roster items, 102 offline messages)" "$out" ||
        fail "load: $(grep 'loaded' "$out")"
    persist_phase after
    block_phase kept
    stop
    start xmpp-one.xml
    persist_phase again
    # Changes still on their way to the store when the stop comes are
    # handed over and synced before the store ends (S_END).
    persist_phase burst
    stop
    grep -q "not handed to the store\|did not hand over" "$err" && fail "changes lost at the stop"
    # A deleted user's roster is forgotten by the store at the next start
    # (dave's one item, alice 'both'): one item fewer from then on.
    items() { sed -n 's/^router: store loaded (\([0-9]*\) roster items.*/\1/p' "$out"; }
    n1=$(items)
    tool deluser dave >/dev/null || fail "deluser dave"
    start xmpp.xml
    persist_phase burst-kept
    stop
    start xmpp.xml
    stop
    [ -n "$n1" ] && [ "$(items)" = $((n1 - 1)) ] || fail "deleted user's items: $n1 then $(items)"
    grep -c "^ok" "$tmp/persist.log" | sed 's/^/checks passed: /'
    strings "$tmp/store/data.eos" | grep -q "kept 0\|alice\|Carol\|friends" && fail "data in clear in the store file"
    # Rollback: the file of the first run is older than the last sync.
    cp "$tmp/store/data.eos" "$tmp/new.eos"
    cp "$tmp/old.eos" "$tmp/store/data.eos"
    refused xmpp.xml "data store 'xmppdata' was rolled back"
    # Tampering: the last byte of every used 64-byte unit of the data space
    # (in each record: its IV, its ciphertext or its tag) is changed.
    cp "$tmp/new.eos" "$tmp/store/data.eos"
    /usr/bin/python3 - "$tmp/store/data.eos" <<'PY' || fail "cannot modify the store file"
import struct, sys
f = open(sys.argv[1], "r+b")
b = bytearray(f.read())
off_data, data_end = struct.unpack_from("<QQ", b, 56)
n = 0
for u in range(off_data, min(data_end, len(b)), 64):
    if any(b[u:u + 64]):
        b[u + 63] ^= 0x5a
        n += 1
assert n > 0
f.seek(0)
f.write(b)
PY
    refused xmpp.xml "data store 'xmppdata' was modified"
    # The newest file, untouched, still opens.
    cp "$tmp/new.eos" "$tmp/store/data.eos"
    start xmpp.xml
    stop
    # A full data store (a new file of 32 keys): the server goes on from
    # memory, says so (at most 10 lines), and stops cleanly.
    echo dave-pw | tool adduser dave >/dev/null || fail "adduser dave again"
    start xmpp.xml 's|size="32M" keys="65536"|size="64K" keys="32"|; s|/data.eos|/full.eos|'
    grep -q 'keys="32"' "$tmp/run.xml" || fail "small store not set"
    persist_phase before
    stop
    grep -q "store: keeping a change: data store 'xmppdata': .*kept in memory" "$err" ||
        fail "full store not reported: $(grep store: "$err" | head -3)"
    [ "$(grep -c "^store: " "$err")" -le 11 ] || fail "the full store is reported without limit"
    grep -q "store: [0-9]* writes, [0-9]* syncs ([0-9]* us each), [1-9][0-9]* errors" "$out" ||
        fail "store errors not counted: $(grep 'store:' "$out")"
    ;;
*) fail "unknown case $case_name" ;;
esac
finish "xmpp_$case_name"
