#!/usr/bin/env bash
# The peer XMPP servers of bench/xmpp.sh: ejabberd, jabberd2 and prosody from
# Debian, configured for a loopback benchmark as shared/specs/xmpp-peers.md
# says (domain localhost on 127.0.0.1:5222, rate limits and shapers lifted,
# STARTTLS offered but not required, PLAIN allowed without TLS, one test
# certificate for all, users created in bulk), started pinned to one CPU set
# and stopped again.
#
# Usage: bench/xmpp/peers.sh SERVER setup|start|stop|pids|status [USERS]
#   setup  writes the configuration and creates users user1..userUSERS
#          (password "pass"; default 1000) unless they exist already
#   start  starts the server pinned to XMPP_SERVER_CPUS (default 0: taskset
#          on the start command and `taskset -a -p` on every process and
#          thread afterwards) and waits until port 5222 answers
#   stop   stops it and waits until its processes are gone
#   pids   prints the pids of all its processes, one line, comma-separated
# Also sourced by bench/xmpp.sh (the functions peer_*).
#
# Nothing under /etc is changed except /etc/security/limits.d/
# eactors-xmpp-bench.conf (the open-files limit for the servers' users). The
# configurations, databases, logs and the certificate live in XMPP_STATE
# (default /var/tmp/eactors-xmpp-bench), which the servers' own users can
# read. Needs root.

XMPP_STATE=${XMPP_STATE:-/var/tmp/eactors-xmpp-bench}
XMPP_SERVER_CPUS=${XMPP_SERVER_CPUS:-0}
XMPP_PORT=5222
XMPP_DOMAIN=localhost
XMPP_PASSWORD=pass
CERT_DIR=$XMPP_STATE/certs

peer_log() { echo "bench/xmpp: $*" >&2; }

# Is something listening on 127.0.0.1:5222?
port_open() { (exec 3<>/dev/tcp/127.0.0.1/$XMPP_PORT) 2>/dev/null; }

wait_port() { # seconds
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        port_open && return 0
        sleep 0.1
    done
    return 1
}

wait_port_closed() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        port_open || return 0
        sleep 0.1
    done
    return 1
}

# The test CA and a server certificate for localhost (SAN DNS:localhost),
# shared by every server and given to the generator as its CA.
peer_certs() {
    [ -s "$CERT_DIR/server.pem" ] && [ -s "$CERT_DIR/ca.pem" ] && return 0
    mkdir -p "$CERT_DIR"
    (
        cd "$CERT_DIR" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
            -subj "/CN=eactors xmpp bench test CA" 2>/dev/null || exit 1
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=localhost" 2>/dev/null || exit 1
        printf 'subjectAltName=DNS:localhost\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out server.crt -days 3650 -extfile ext.cnf 2>/dev/null || exit 1
        cat server.crt server.key >server.pem
    ) || { peer_log "cannot create the test certificate"; return 1; }
    # A test key: readable by the servers' users.
    chmod 755 "$CERT_DIR"
    chmod 644 "$CERT_DIR"/*.pem "$CERT_DIR"/server.key "$CERT_DIR"/server.crt
}

peer_limits() {
    local f=/etc/security/limits.d/eactors-xmpp-bench.conf
    [ -s "$f" ] && return 0
    # Values above the hard limit are ignored: use the hard limit.
    local n
    n=$(ulimit -Hn)
    [ "$n" = unlimited ] && n=65536
    mkdir -p /etc/security/limits.d
    cat >"$f" <<EOF
# bench/xmpp: open files for the XMPP servers of the benchmark (pam_limits
# applies 1024 otherwise, and ejabberd stops accepting at about 980 clients).
ejabberd soft nofile $n
ejabberd hard nofile $n
prosody  soft nofile $n
prosody  hard nofile $n
jabber   soft nofile $n
jabber   hard nofile $n
EOF
}

# Waits up to $1 seconds until the pids after it are gone, then kills them.
# (A process's cmdline reads empty while it exits, so it is waited for by
# pid, not found again by name.)
wait_gone() {
    local secs=$1 i p left
    shift
    for ((i = 0; i < secs * 10; i++)); do
        left=
        for p in "$@"; do kill -0 "$p" 2>/dev/null && left=1; done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    peer_log "still running after ${secs} s, killing: $*"
    kill -9 "$@" 2>/dev/null
    return 0
}

# Pins every thread of every pid given.
peer_pin() {
    local p
    for p in "$@"; do
        taskset -a -p -c "$XMPP_SERVER_CPUS" "$p" >/dev/null 2>&1 ||
            peer_log "taskset failed on pid $p"
    done
}

# pids of processes whose executable matches $1 (a regex on /proc/PID/exe)
# and, optionally, whose command line contains $2.
pids_by_exe() {
    local d exe out=()
    for d in /proc/[0-9]*; do
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        [[ $exe =~ $1 ]] || continue
        if [ -n "${2:-}" ] && ! tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q -- "$2"; then continue; fi
        out+=("${d#/proc/}")
    done
    echo "${out[*]}"
}

# ---- prosody ------------------------------------------------------------------

PROSODY_DIR=$XMPP_STATE/prosody

prosody_config() {
    mkdir -p "$PROSODY_DIR/data"
    chown -R prosody:prosody "$PROSODY_DIR" 2>/dev/null
    cat >"$PROSODY_DIR/prosody.cfg.lua" <<EOF
-- generated by bench/xmpp/peers.sh: the Debian default minus limits,
-- register, invites*, dialback and admin_adhoc; s2s off; loopback only.
admins = { }
modules_enabled = {
    "disco"; "roster"; "saslauth"; "tls"; "blocklist"; "bookmarks"; "carbons";
    "pep"; "private"; "smacks"; "vcard4"; "vcard_legacy"; "csi_simple"; "ping";
    "time"; "uptime"; "version"; "admin_shell"; "posix";
}
modules_disabled = { "s2s" }
interfaces = { "127.0.0.1" }
c2s_ports = { $XMPP_PORT }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_secure_auth = false
authentication = "internal_hashed"
storage = "internal"
data_path = "$PROSODY_DIR/data"
pidfile = "$PROSODY_DIR/prosody.pid"
log = { warn = "$PROSODY_DIR/prosody.log" }
certificates = "$CERT_DIR"
daemonize = false
VirtualHost "$XMPP_DOMAIN"
    ssl = { certificate = "$CERT_DIR/server.crt"; key = "$CERT_DIR/server.key" }
EOF
    chown prosody:prosody "$PROSODY_DIR/prosody.cfg.lua" 2>/dev/null
}

prosody_users_present() { # count
    [ "$(find "$PROSODY_DIR/data/localhost/accounts" -name 'user*.dat' 2>/dev/null | wc -l)" -ge "$1" ]
}

prosody_start() {
    prosody_config
    # prosody expects to be started as its user: setpriv (no PAM, so the
    # shell's open-files limit carries over).
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    taskset -c "$XMPP_SERVER_CPUS" setpriv --reuid prosody --regid prosody --init-groups \
        prosody --config "$PROSODY_DIR/prosody.cfg.lua" -F \
        >"$PROSODY_DIR/stdout.log" 2>&1 &
    wait_port 20 || { peer_log "prosody did not start; see $PROSODY_DIR/"; return 1; }
    peer_pin $(prosody_pids | tr ',' ' ')
}

prosody_pids() { pids_by_exe 'lua' "$PROSODY_DIR/prosody.cfg.lua" | tr ' ' ','; }

prosody_stop() {
    local p
    p=$(prosody_pids | tr ',' ' ')
    [ -n "$p" ] || return 0
    kill $p 2>/dev/null
    wait_gone 10 $p
}

prosody_setup() { # users
    prosody_config
    prosody_users_present "$1" && return 0
    peer_log "prosody: creating $1 users (usermanager.create_user in one shell session)"
    prosody_start || return 1
    printf '> for i = 1, %d do require"core.usermanager".create_user("user"..i, "%s", "%s") end\n' \
        "$1" "$XMPP_PASSWORD" "$XMPP_DOMAIN" |
        setpriv --reuid prosody --regid prosody --init-groups \
            prosodyctl --config "$PROSODY_DIR/prosody.cfg.lua" shell >"$PROSODY_DIR/adduser.log" 2>&1
    prosody_stop
    prosody_users_present "$1" || { peer_log "prosody: user creation failed; see $PROSODY_DIR/adduser.log"; return 1; }
}

# ---- ejabberd -----------------------------------------------------------------

EJ_DIR=$XMPP_STATE/ejabberd

ejabberd_ctl() {
    ERL_EPMD_ADDRESS=127.0.0.1 ejabberdctl --config-dir "$EJ_DIR/etc" --config "$EJ_DIR/etc/ejabberd.yml" \
        --spool "$EJ_DIR/spool" --logs "$EJ_DIR/log" "$@"
}

ejabberd_config() {
    mkdir -p "$EJ_DIR/etc" "$EJ_DIR/spool" "$EJ_DIR/log"
    cp /etc/ejabberd/inetrc "$EJ_DIR/etc/inetrc"
    # The Debian ejabberdctl.cfg with the Erlang distribution on loopback.
    mkdir -p "$EJ_DIR/etc/modules.d"
    sed -e 's/^#* *INET_DIST_INTERFACE=.*/INET_DIST_INTERFACE=127.0.0.1/' \
        -e "s|^EJABBERD_CONFIG_PATH=.*|EJABBERD_CONFIG_PATH=$EJ_DIR/etc/ejabberd.yml|" \
        -e "s|^EJABBERD_PID_PATH=.*|EJABBERD_PID_PATH=$EJ_DIR/ejabberd.pid|" \
        -e "s|^CONTRIB_MODULES_CONF_DIR=.*|CONTRIB_MODULES_CONF_DIR=$EJ_DIR/etc/modules.d|" \
        -e 's/^#* *ERL_EPMD_ADDRESS=.*/ERL_EPMD_ADDRESS=127.0.0.1/' \
        /etc/ejabberd/ejabberdctl.cfg >"$EJ_DIR/etc/ejabberdctl.cfg"
    grep -q '^INET_DIST_INTERFACE=' "$EJ_DIR/etc/ejabberdctl.cfg" || echo 'INET_DIST_INTERFACE=127.0.0.1' >>"$EJ_DIR/etc/ejabberdctl.cfg"
    grep -q '^ERL_EPMD_ADDRESS=' "$EJ_DIR/etc/ejabberdctl.cfg" || echo 'ERL_EPMD_ADDRESS=127.0.0.1' >>"$EJ_DIR/etc/ejabberdctl.cfg"
    cat >"$EJ_DIR/etc/ejabberd.yml" <<EOF
# generated by bench/xmpp/peers.sh: the Debian default with only the c2s
# listener (127.0.0.1:$XMPP_PORT), no shaper, STARTTLS not required, and
# without the modules of the removed listeners.
loglevel: warning
log_rotate_count: 0
hosts:
  - $XMPP_DOMAIN
certfiles:
  - "$CERT_DIR/server.pem"
define_macro:
  'TLS_CIPHERS': "HIGH:!aNULL:!eNULL:!3DES:@STRENGTH"
  'TLS_OPTIONS':
    - "no_sslv3"
    - "no_tlsv1"
    - "no_tlsv1_1"
    - "cipher_server_preference"
    - "no_compression"
c2s_ciphers: 'TLS_CIPHERS'
c2s_protocol_options: 'TLS_OPTIONS'
listen:
  -
    port: $XMPP_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    shaper: none
    access: c2s
    starttls: true
    starttls_required: false
    max_fsm_queue: 1000000
    backlog: 1024
    protocol_options: 'TLS_OPTIONS'
disable_sasl_mechanisms:
  - "digest-md5"
  - "X-OAUTH2"
auth_password_format: scram
acl:
  admin:
     user:
       - ""
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  local:
    allow: local
  c2s:
    deny: blocked
    allow: all
  announce:
    allow: admin
  configure:
    allow: admin
  muc_create:
    allow: local
  pubsub_createnode:
    allow: local
  trusted_network:
    allow: loopback
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages:
    5000: admin
    100: all
  c2s_shaper: none
  s2s_shaper: none
max_fsm_queue: 1000000
modules:
  mod_adhoc: {}
  mod_admin_extra: {}
  mod_announce:
    access: announce
  mod_avatar: {}
  mod_blocking: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_configure: {}
  mod_disco: {}
  mod_last: {}
  mod_muc:
    access:
      - allow
    access_admin:
      - allow: admin
    access_create: muc_create
    access_persistent: muc_create
    access_mam:
      - allow
    default_room_options:
      mam: true
  mod_muc_admin: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_pubsub:
    access_createnode: pubsub_createnode
    plugins:
      - flat
      - pep
  mod_roster:
    versioning: true
  mod_shared_roster: {}
  mod_sic: {}
  mod_stream_mgmt:
    resend_on_timeout: if_offline
  mod_vcard:
    search: false
  mod_vcard_xupdate: {}
  mod_version: {}
EOF
    chown -R ejabberd:ejabberd "$EJ_DIR"
    chmod 755 "$XMPP_STATE"
}

ejabberd_pids() {
    # beam.smp with our spool, its erl_child_setup and inet_gethost helpers,
    # and epmd (started for it).
    local beam kids p out=()
    beam=$(pids_by_exe 'beam\.smp$' "$EJ_DIR/spool")
    for p in $beam; do
        out+=("$p")
        kids=$(awk -v pp="$p" '{ i = match($0, /\) [A-Za-z] /); split(substr($0, i + 2), f, " "); if (f[2] == pp) print $1 }' /proc/[0-9]*/stat 2>/dev/null)
        out+=($kids)
    done
    [ ${#out[@]} -gt 0 ] && out+=($(pids_by_exe '/epmd$'))
    echo "${out[*]}" | tr ' ' ','
}

ejabberd_start() {
    ejabberd_config
    peer_limits
    # su (in ejabberdctl) keeps this limit where pam_limits is not in its stack.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    ERL_EPMD_ADDRESS=127.0.0.1 taskset -c "$XMPP_SERVER_CPUS" epmd -address 127.0.0.1 -daemon
    taskset -c "$XMPP_SERVER_CPUS" bash -c "$(declare -f ejabberd_ctl); EJ_DIR='$EJ_DIR' ejabberd_ctl start" \
        >"$EJ_DIR/log/start.log" 2>&1
    wait_port 60 || { peer_log "ejabberd did not start; see $EJ_DIR/log/"; return 1; }
    ejabberd_ctl started >/dev/null 2>&1
    peer_pin $(ejabberd_pids | tr ',' ' ')
}

ejabberd_stop() {
    local p
    p=$(pids_by_exe 'beam\.smp$' "$EJ_DIR/spool")
    [ -n "$p" ] || return 0
    ejabberd_ctl stop >/dev/null 2>&1
    wait_gone 20 $p
    # epmd was started for ejabberd; stop it unless another Erlang node runs.
    [ -n "$(pids_by_exe 'beam\.smp$')" ] || epmd -kill >/dev/null 2>&1
    return 0
}

ejabberd_setup() { # users
    ejabberd_config
    if [ -s "$EJ_DIR/users.done" ] && [ "$(cat "$EJ_DIR/users.done")" -ge "$1" ]; then return 0; fi
    peer_log "ejabberd: registering $1 users (one Erlang RPC loop)"
    ejabberd_start || return 1
    # One Erlang node that calls ejabberd_auth:try_register/3 in a loop over
    # the distribution (ejabberdctl register costs about 0.5 s per user).
    cat >"$EJ_DIR/register.erl.txt" <<EOF
R = [rpc:call(ejabberd@localhost, ejabberd_auth, try_register,
      [<<"user", (integer_to_binary(I))/binary>>, <<"$XMPP_DOMAIN">>, <<"$XMPP_PASSWORD">>])
     || I <- lists:seq(1, $1)],
io:format("results ~p~n", [lists:usort(R)]), halt().
EOF
    chmod 644 "$EJ_DIR/register.erl.txt"
    su -s /bin/sh ejabberd -c "cd '$EJ_DIR/spool' && ERL_EPMD_ADDRESS=127.0.0.1 erl -noshell -sname bench_reg -eval \"\$(cat '$EJ_DIR/register.erl.txt')\"" \
        >"$EJ_DIR/adduser.log" 2>&1
    local ok=$?
    ejabberd_stop
    if [ $ok -ne 0 ] || ! grep -Eq '^results \[((ok|\{error,exists\}),?)+\]' "$EJ_DIR/adduser.log"; then
        peer_log "ejabberd: user registration failed; see $EJ_DIR/adduser.log"
        return 1
    fi
    echo "$1" >"$EJ_DIR/users.done"
}

# ---- jabberd2 -----------------------------------------------------------------

JD_DIR=$XMPP_STATE/jabberd2

jabberd2_config() {
    mkdir -p "$JD_DIR/log"
    # The Debian files with the changes of xmpp-peers.md, written by Debian's
    # python3 (the element tree keeps everything else as it is).
    # max_fds: room for every client (10,000 too) and the router's own.
    local fds=$((${MAXC:-1000} + 256))
    [ "$fds" -lt 4096 ] && fds=4096
    /usr/bin/python3 - "$JD_DIR" "$CERT_DIR/server.pem" "$XMPP_DOMAIN" "$fds" <<'EOF' || return 1
import sys, xml.etree.ElementTree as ET
d, pem, dom, fds = sys.argv[1:5]
def load(n):
    return ET.parse('/etc/jabberd2/%s.xml' % n)
def setp(root, path, text):
    e = root.find(path)
    if e is None:
        parent = root.find('/'.join(path.split('/')[:-1])) if '/' in path else root
        e = ET.SubElement(parent, path.split('/')[-1])
    e.text = text
    return e
for name in ('router', 'sm', 'c2s'):
    t = load(name); r = t.getroot()
    setp(r, 'pidfile', '%s/%s.pid' % (d, name))
    setp(r, 'log/file', '%s/log/%s.log' % (d, name))
    if name == 'router':
        setp(r, 'local/ip', '127.0.0.1')
        setp(r, 'io/max_fds', fds)
    if name == 'sm':
        setp(r, 'local/id', dom)
        setp(r, 'storage/sqlite/dbname', '%s/sqlite.db' % d)
        for j in r.iter('jid'):
            if j.text and j.text.endswith('localhost.localdomain'):
                j.text = j.text.replace('localhost.localdomain', dom)
    if name == 'c2s':
        ids = r.findall('local/id')
        for extra in ids[1:]:
            r.find('local').remove(extra)
        ids[0].text = dom
        ids[0].attrib.clear()               # registration off
        ids[0].set('pemfile', pem)          # STARTTLS offered, not required
        setp(r, 'local/ip', '127.0.0.1')
        setp(r, 'local/port', '5222')
        setp(r, 'local/pemfile', pem)
        setp(r, 'io/max_fds', fds)
        setp(r, 'io/limits/stanzas', '0')
        setp(r, 'io/limits/bytes', '0')
        setp(r, 'io/limits/connects', '0')
        setp(r, 'authreg/module', 'sqlite')
        setp(r, 'authreg/sqlite/dbname', '%s/sqlite.db' % d)
    t.write('%s/%s.xml' % (d, name))
EOF
}

jabberd2_setup() { # users
    jabberd2_config || { peer_log "jabberd2: cannot write the configuration"; return 1; }
    local db=$JD_DIR/sqlite.db n
    if [ ! -s "$db" ]; then
        zcat /usr/share/doc/jabberd2/db-setup.sqlite.gz | sqlite3 "$db" ||
            { peer_log "jabberd2: cannot create $db"; return 1; }
    fi
    n=$(sqlite3 "$db" "select count(*) from authreg where username like 'user%';" 2>/dev/null)
    if [ "${n:-0}" -lt "$1" ]; then
        peer_log "jabberd2: inserting $1 users into $db"
        {
            echo "BEGIN;"
            echo "DELETE FROM authreg; DELETE FROM active;"
            for ((i = 1; i <= $1; i++)); do
                echo "INSERT INTO authreg VALUES('user$i','$XMPP_DOMAIN','$XMPP_PASSWORD');"
                echo "INSERT INTO active(\"collection-owner\", time) VALUES('user$i@$XMPP_DOMAIN', 0);"
            done
            echo "COMMIT;"
        } | sqlite3 "$db" || { peer_log "jabberd2: user insert failed"; return 1; }
    fi
    chown -R jabber:jabber "$JD_DIR" 2>/dev/null
    return 0
}

jabberd2_pids() {
    pids_by_exe 'jabberd2-(router|sm|c2s)$' "$JD_DIR/" | tr ' ' ','
}

jabberd2_start() {
    jabberd2_config || return 1
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    local c
    for c in router sm c2s; do
        taskset -c "$XMPP_SERVER_CPUS" "/usr/sbin/jabberd2-$c" -c "$JD_DIR/$c.xml" \
            >"$JD_DIR/log/$c.stdout" 2>&1 &
        sleep 0.5
    done
    wait_port 20 || { peer_log "jabberd2 did not start; see $JD_DIR/log/"; return 1; }
    sleep 1 # c2s listens before its session manager has joined the router
    peer_pin $(jabberd2_pids | tr ',' ' ')
}

jabberd2_stop() {
    local p
    p=$(jabberd2_pids | tr ',' ' ')
    [ -n "$p" ] || return 0
    kill $p 2>/dev/null
    wait_gone 10 $p
}

# ---- dispatch -----------------------------------------------------------------

PEERS="ejabberd jabberd2 prosody"

# Is server $1 installed?
peer_available() {
    case $1 in
    ejabberd) command -v ejabberdctl >/dev/null ;;
    jabberd2) [ -x /usr/sbin/jabberd2-c2s ] && command -v sqlite3 >/dev/null ;;
    prosody) command -v prosody >/dev/null && command -v prosodyctl >/dev/null ;;
    *) return 1 ;;
    esac
}

peer() { # server action [users]
    local s=$1 a=$2
    case " $PEERS " in *" $s "*) ;; *) peer_log "unknown server $s (one of $PEERS)"; return 2 ;; esac
    case $a in
    setup) mkdir -p "$XMPP_STATE" && chmod 755 "$XMPP_STATE" && peer_certs && "${s}_setup" "${3:-1000}" ;;
    start | stop | pids) "${s}_$a" ;;
    status) [ -n "$("${s}_pids")" ] && echo "$s: running (pids $("${s}_pids"))" || echo "$s: stopped" ;;
    *) peer_log "unknown action $a"; return 2 ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    [ $# -ge 2 ] || { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
    [ "$(id -u)" = 0 ] || { peer_log "needs root (the servers run as their own users)"; exit 1; }
    peer "$@"
fi
