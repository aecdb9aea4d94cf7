#!/usr/bin/env bash
# Integration tests of the trust layer. Usage: cases.sh CASE
# Environment: EACTORS (the tool), TI (test images and deployments),
# EX (built examples), EACTORS_PLATFORM_DIR.
set -u
. "$(dirname "$0")/../common/lib.sh"
case_name=$1
scratch
run() {
    local want=$1; shift
    expect_run "$want" 60 "$@"
}

# A private copy of the marker image and its deployment, to tamper with.
marker_copy() {
    cp "$TI/marker.so" "$TI/marker.so.sig" "$TI/marker.xml" "$tmp/"
}
# Rewrites `count` bytes at `offset` of `file` with `bytes` (hex).
poke() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

case "$case_name" in
sign_ok)
    marker_copy
    run 0 "$tmp/marker.xml"
    has_out "marker ran in e"
    has_out "marker constructor:"
    ;;
ctor_secret)
    # A correctly signed image whose constructor reads the platform secret.
    # Control: loaded unconfined (as when the image was mapped before the
    # filter), the constructor reads all 32 bytes.
    marker_copy
    "$CTOR_CONTROL" "$tmp/marker.so" >"$out" 2>"$err" || fail "control did not load the image"
    has_out "marker constructor: secret: read 32 bytes"
    run 0 "$tmp/marker.xml"
    has_out "marker constructor: secret: Permission denied"
    lacks_out "read 32 bytes"
    has_out "marker ran in e"
    # No code outside the measurement: the image needs no library the
    # launcher has not loaded already (no libeactors from disk after EINIT;
    # an enclave could not open one anyway).
    loaded=$(ldd "$EACTORS")
    for lib in $(readelf -d "$tmp/marker.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        echo "$loaded" | grep -q "^[[:space:]]*$lib " || fail "image needs $lib, which the launcher does not load"
    done
    ;;
ctor_socket)
    # The constructor tries a socket: the allow-list is already in force,
    # so the enclave dies naming the call, before any actor runs.
    marker_copy
    EA_MARKER_ATTACK=socket run 1 "$tmp/marker.xml"
    has_err "made forbidden system call 'socket'"
    lacks_out "marker constructor: socket: opened"
    lacks_out "marker ran in e"
    ;;
ctor_none)
    # The `none` backend isolates nothing: the constructor reads the secret
    # file there (the launcher's user owns it; issue: the platform as a
    # system service), but the enclave runs as DEBUG, so its keys are not
    # the production keys (trustit_none_debug checks the keys).
    marker_copy
    run 0 --backend none "$tmp/marker.xml"
    has_out "marker ran in e"
    ;;
sign_flipped)
    marker_copy
    size=$(stat -c %s "$tmp/marker.so")
    byte=$(od -An -tx1 -j $((size / 2)) -N1 "$tmp/marker.so" | tr -d ' ')
    poke "$tmp/marker.so" $((size / 2)) "$(printf '%02x' $((0x$byte ^ 0x01)))"
    run 1 "$tmp/marker.xml"
    has_err "eactors: enclave 'e' failed to start: image 'marker.so' refused: image 'marker.so' does not match its signature file: MRENCLAVE"
    lacks_out "marker ran"
    lacks_out "marker constructor"
    ;;
sign_missing)
    marker_copy
    rm "$tmp/marker.so.sig"
    run 1 "$tmp/marker.xml"
    has_err "eactors: enclave 'e' failed to start: image 'marker.so' refused: signature file 'marker.so.sig' is missing"
    lacks_out "marker constructor"
    ;;
sign_badsig)
    # Another signer's public key in the signature file: the signature no
    # longer verifies.
    marker_copy
    poke "$tmp/marker.so.sig" 112 "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    run 1 "$tmp/marker.xml"
    has_err "image 'marker.so' refused: signature file 'marker.so.sig': the signature does not verify"
    lacks_out "marker constructor"
    # A signature file of another image, validly signed, does not match.
    cp "$TI/vault.so.sig" "$tmp/marker.so.sig"
    run 1 "$tmp/marker.xml"
    has_err "image 'marker.so' does not match its signature file"
    ;;
sign_malformed)
    marker_copy
    head -c 100 "$TI/marker.so.sig" > "$tmp/marker.so.sig"
    run 1 "$tmp/marker.xml"
    has_err "image 'marker.so' refused: signature file 'marker.so.sig' is malformed: wrong size 100 (expected 208)"
    printf 'XXXXXXXX' | dd of="$tmp/marker.so.sig" bs=1 conv=notrunc status=none
    cp "$TI/marker.so.sig" "$tmp/marker.so.sig"
    poke "$tmp/marker.so.sig" 0 "58"
    run 1 "$tmp/marker.xml"
    has_err "signature file 'marker.so.sig' is malformed: bad magic"
    ;;
inspect)
    "$EACTORS" inspect "$TI/pp_other.so" >"$out" 2>"$err" || fail "inspect failed"
    has_out "check        ok: the image matches its signature file"
    has_out "MRENCLAVE    $("$EACTORS" measure "$TI/pp_other.so" | cut -d' ' -f1)"
    "$EACTORS" keygen --out "$tmp/k.pem" >"$out" 2>"$err" || fail "keygen failed"
    [ "$(stat -c %a "$tmp/k.pem")" = 600 ] || fail "key file is not 0600"
    cp "$TI/marker.so" "$tmp/m.so"
    "$EACTORS" sign --key "$tmp/k.pem" --prodid 7 --svn 3 --debug "$tmp/m.so" >"$out" 2>"$err" || fail "sign failed"
    "$EACTORS" inspect "$tmp/m.so" >"$out" 2>"$err" || fail "inspect of a fresh signature failed"
    has_out "ISVPRODID    7"
    has_out "ISVSVN       3"
    has_out "DEBUG"
    printf 'x' >> "$tmp/m.so"
    "$EACTORS" inspect "$tmp/m.so" >"$out" 2>"$err" && fail "inspect accepted a modified image"
    has_out "check        FAILED: image '$tmp/m.so' does not match its signature file"
    ;;
seal_counter)
    run 0 "$TI/vault.xml"
    has_out "vault: sealed and unsealed under MRENCLAVE and MRSIGNER policies"
    has_out "vault: counter now 1"
    uuid=$(grep -o 'created counter [0-9a-f]*' "$out" | head -1 | cut -d' ' -f3)
    [ -n "$uuid" ] || fail "no counter uuid"
    # Durable: a second run increments the same counter.
    sed "s|<actor name=\"vault\" type=\"vault\" worker=\"w\"/>|<actor name=\"vault\" type=\"vault\" worker=\"w\"><param name=\"counter\" value=\"$uuid\"/></actor>|" \
        "$TI/vault.xml" > "$tmp/vault2.xml"
    EACTORS_IMAGE_PATH=$TI run 0 "$tmp/vault2.xml"
    has_out "vault: counter now 2"
    ;;
none_debug)
    # Whoever starts the launcher picks the backend. Under `none` nothing is
    # isolated, so the platform gives the enclave the DEBUG attribute and
    # its keys are not the production keys, even asked for without DEBUG in
    # the mask. Control: two system-mode runs derive the same production
    # key; development mode (a platform its user controls) is DEBUG too.
    pd_start "comparing production keys with debug keys"
    run 0 --platform system "$TI/keyprint.xml"
    has_out "keyprint in safe: debug=no key="
    prod=$(grep -o 'key=[0-9a-f]*' "$out")
    run 0 --platform system "$TI/keyprint.xml"
    [ "$(grep -o 'key=[0-9a-f]*' "$out")" = "$prod" ] || fail "control: production key not stable"
    run 0 --platform system --backend none "$TI/keyprint.xml"
    has_out "keyprint in safe: debug=yes key="
    [ "$(grep -o 'key=[0-9a-f]*' "$out")" != "$prod" ] || fail "the none backend got the production key"
    run 0 --platform development "$TI/keyprint.xml"
    has_out "keyprint in safe: debug=yes key="
    has_err "eactors: platform: development"
    ;;
env_preload)
    # The user who starts the launcher preloads a library. In development
    # mode it is mapped into every enclave (they are forks of the launcher),
    # and the platform gives them the DEBUG attribute: no production key.
    # In system mode the daemon starts the enclaves with a clean
    # environment: the library reaches none of them, and they keep the
    # production key.
    pd_start "running enclaves out of the launcher's reach"
    run 0 --platform system "$TI/keyprint.xml"
    has_out "keyprint in safe: debug=no key="
    prod=$(grep -o 'key=[0-9a-f]*' "$out")
    # (AddressSanitizer builds insist on coming first in the library list.)
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 LD_PRELOAD=$PRELOAD run 0 --platform system "$TI/keyprint.xml"
    has_err "preload: loaded"
    has_out "keyprint in safe: debug=no key="
    [ "$(grep -o 'key=[0-9a-f]*' "$out")" = "$prod" ] || fail "system mode: the preloaded launcher changed the enclave's key"
    # Control: development mode, the library is in the enclaves.
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 LD_PRELOAD=$PRELOAD run 0 --platform development "$TI/keyprint.xml"
    has_err "eactors: WARNING: LD_PRELOAD is in use"
    has_out "keyprint in safe: debug=yes key="
    [ "$(grep -o 'key=[0-9a-f]*' "$out")" != "$prod" ] || fail "a preloaded run got the production key"
    ;;
traced)
    # Traced from birth (strace -f follows every fork). In development mode
    # it follows into the enclaves, and the platform sees the tracer at
    # EINIT: DEBUG. In system mode the enclaves are the daemon's children:
    # the trace never reaches them, and they keep the production key.
    command -v strace >/dev/null || fail "strace is not installed (make deps installs it)"
    pd_start "running enclaves out of the launcher's reach"
    run 0 --platform system "$TI/keyprint.xml"
    prod=$(grep -o 'key=[0-9a-f]*' "$out")
    # (LeakSanitizer stops the world with ptrace, which a traced process
    # cannot: no leak check in this run of a sanitizer build.)
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 timeout -k 5 60 strace -f -o "$tmp/trace" \
        "$EACTORS" run --platform system "$TI/keyprint.xml" >"$out" 2>"$err" || fail "traced run failed"
    has_out "keyprint in safe: debug=no key="
    [ "$(grep -o 'key=[0-9a-f]*' "$out")" = "$prod" ] || fail "system mode: a traced launcher changed the enclave's key"
    epids=$(sed -n "s/^eactors: enclave '.*' is process \([0-9]*\) of the platform daemon$/\1/p" "$err")
    [ -n "$epids" ] || fail "system mode: no enclave process reported"
    for p in $epids; do
        ! grep -q "^$p " "$tmp/trace" || fail "system mode: the trace reached enclave process $p"
    done
    # Control: development mode, the trace follows into the enclave.
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 timeout -k 5 60 strace -f -o "$tmp/trace" \
        "$EACTORS" run --platform development "$TI/keyprint.xml" >"$out" 2>"$err" || fail "traced run failed"
    has_out "keyprint in safe: debug=yes key="
    [ "$(grep -o 'key=[0-9a-f]*' "$out")" != "$prod" ] || fail "a traced run got the production key"
    ;;
seal_host)
    run 0 "$TI/vault.xml"
    has_out "vault in host: sealing failed: not permitted"
    ;;
reports)
    run 0 "$TI/reports.xml"
    has_out "asker: verified a report from mrenclave"
    has_out ": hello from the reporter"
    has_out "asker: channel peer attested: mrenclave"
    has_out "same as report: yes"
    ;;
https_downgrade)
    # The review's reproduction: the https example with its `app` channel
    # (decrypted HTTP) made plain, or with the handler moved to the host.
    # Both are refused by the enclaves before a page is served.
    sed 's|<channel name="app" between="front handler" nodes="256" max="64K"/>|<channel name="app" between="front handler" nodes="256" max="64K" protect="plain"/>|' \
        "$EX/https/https.xml" > "$tmp/plain.xml"
    grep -q 'protect="plain"' "$tmp/plain.xml" || fail "test set-up: no plain channel"
    EACTORS_IMAGE_PATH=$EX/https run 1 "$tmp/plain.xml"
    has_err "plain.xml:26: enclave '"
    has_err "' refuses channel 'app': its image requires AEAD with an attested enclave (protect=\"plain\" asked)"
    sed -e 's|<eactors>|<eactors><host image="https.so"/>|' \
        -e 's|<actor name="handler" type="http_app" worker="wa">|<actor name="handler" type="http_app" worker="hio">|' \
        "$EX/https/https.xml" > "$tmp/host.xml"
    EACTORS_IMAGE_PATH=$EX/https run 1 "$tmp/host.xml"
    has_err "host.xml:26: enclave 'edge' refuses channel 'app': its image requires an attested enclave at the other end, not the host"
    ;;
host_confined)
    # A compromised host actor (plain libc calls, no preload) tries to read
    # the platform secret and to connect to a port nobody granted. Control:
    # the same actor code reads a file in a granted directory, and its
    # connect to a granted port reaches TCP (refused: nobody listens), so
    # the refusals come from the confinement, not from the code.
    mkdir "$tmp/www"
    echo "granted" > "$tmp/www/granted.txt"
    cat > "$tmp/snoop.xml" <<XML
<eactors>
  <host image="vault.so"/>
  <worker name="h" cpus="0"/>
  <sys name="io" worker="h">
    <grant enclave="host" files="$tmp/www" connect="9"/>
  </sys>
  <actor name="secret" type="snoop" worker="h"><param name="port" value="7"/></actor>
  <actor name="granted" type="snoop" worker="h"><param name="path" value="$tmp/www/granted.txt"/><param name="port" value="9"/></actor>
</eactors>
XML
    [ -r "$EACTORS_PLATFORM_DIR/secret" ] || fail "control: the secret is not readable by this user"
    EACTORS_IMAGE_PATH=$TI run 0 "$tmp/snoop.xml"
    has_out "snoop: $EACTORS_PLATFORM_DIR/secret: Permission denied"
    has_out "snoop: connect to port 7: Permission denied"
    has_out "snoop: $tmp/www/granted.txt: read 8 bytes"
    has_out "snoop: connect to port 9: Connection refused"
    ;;
downgrade_plain)
    # The deployment asks for a plain channel between two enclaves whose
    # image does not allow it: the enclave refuses to start. Control: the
    # same deployment with protection (test reports) runs, and an image that
    # allows plain (pp_plain, test plain_warning) runs plain.
    run 1 "$TI/reports-plain.xml"
    has_err "reports-plain.xml:8: enclave '"
    has_err "' refuses channel 'rq': its image requires AEAD with an attested enclave (protect=\"plain\" asked)"
    lacks_out "asker: verified"
    ;;
downgrade_host)
    # The deployment moves the reporter to the host: the channel the image
    # requires attested would then end in untrusted code.
    run 1 "$TI/reports-host.xml"
    has_err "reports-host.xml:8: enclave 'a' refuses channel 'rq': its image requires an attested enclave at the other end, not the host"
    lacks_out "asker: verified"
    ;;
reports_tampered)
    run 0 "$TI/reports-tampered.xml"
    has_out "asker: report refused: authentication failed"
    ;;
policy_signer)
    run 1 "$TI/policy-signer.xml"
    has_err "eactors: enclave 'left' failed to start: enclave 'left' rejected enclave 'right': MRSIGNER"
    has_err "is not this enclave's signer"
    ;;
policy_pinned_ok)
    run 0 "$TI/policy-pinned-ok.xml"
    has_out "pingpong: 1000 round trips"
    has_err "AEAD (AES-128-GCM)"
    ;;
policy_pinned_bad)
    run 1 "$TI/policy-pinned-bad.xml"
    has_err "eactors: enclave 'left' failed to start: enclave 'left' rejected enclave 'right': MRENCLAVE"
    has_err "is not the required"
    ;;
aead_summary)
    run 0 "$EX/pingpong/enclave-enclave.xml"
    has_err "channel pp             ping <-> pong: AEAD (AES-128-GCM), public arena"
    has_err "ping accepted enclave 'right': mrsigner"
    has_err "pong accepted enclave 'left': mrsigner"
    has_err "auth failures 0"
    ;;
plain_warning)
    run 0 "$TI/plain.xml"
    has_err "eactors: WARNING: channel 'pp' between enclaves 'left' and 'right' is plain"
    has_err "plain, public arena, INSECURE (protect=plain)"
    ;;
platform_dir_mode)
    mkdir -p "$tmp/p"
    EACTORS_PLATFORM_DIR=$tmp/p run 0 "$TI/marker.xml"
    [ "$(stat -c %a "$tmp/p/secret")" = 600 ] || fail "platform secret is not 0600"
    chmod 0644 "$tmp/p/secret"
    EACTORS_PLATFORM_DIR=$tmp/p run 1 "$TI/marker.xml"
    has_err "is readable by others (mode 0644)"
    # --platform-dir overrides the environment.
    run 0 --platform-dir "$tmp/q" "$TI/marker.xml"
    [ -f "$tmp/q/secret" ] || fail "--platform-dir was not used"
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
finish "$case_name"
