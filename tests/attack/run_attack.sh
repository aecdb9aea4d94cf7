#!/usr/bin/env bash
# Hostile-host test: runs a deployment, lets ea_attacker tamper with (or only
# read) the public arena while messages flow, and checks what came of it.
# Usage: run_attack.sh MODE DEPLOYMENT
#   MODE: flip | replay | swap | all | scan | full
#   DEPLOYMENT: file name in $IMG (attack-aead.xml, attack-plain.xml or
#   attack-aead-retry.xml)
# Environment: EACTORS (the tool), IMG (dir with attack_img.so and the
# deployments), ATTACKER (ea_attacker), EACTORS_PLATFORM_DIR; optional
# ATTACK_MS (attack window, default 1500), SEED (default 12345) and
# ATTACK_ARGS (more attacker options, e.g. "--swap mbox").
#
# Expected:
#   flip/replay/swap/all on AEAD: the run ends (exit 0, 1 or 130, no crash),
#     no actor counted a bad message (nothing forged was accepted), and the
#     tampering was detected: an "auth failures N" with N >= 1, a FAILED
#     channel end, or an actor's "channel error". If the run is still going
#     5 s after the attacker ended (messages lost in corrupted mboxes), it is
#     stopped with SIGINT; that is recorded and accepted, detection is still
#     required.
#   scan on AEAD: the marker is never found in the arena, 0 bad messages.
#   scan on plain (control): the marker is found.
#   full (mboxes made to look full, the talker resends refused cargos): the
#     marker is never found and no bad message is accepted; the run is
#     stopped with SIGINT.
#   always: no process of the run is left behind.
set -u
. "$(dirname "$0")/../common/lib.sh"
mode=$1 dep=$2
: "${EACTORS:?}" "${IMG:?}" "${ATTACKER:?}"
attack_ms=${ATTACK_MS:-1500}
seed=${SEED:-12345}
marker=EACTORS-SECRET-PLAINTEXT-0123456789
scratch
export EACTORS_IMAGE_PATH=$IMG
# A private copy with a unique name, to look for leftover processes.
f=$tmp/${dep%.xml}-$mode-$$.xml
cp "$IMG/$dep" "$f"
aout=$tmp/attacker
dump() {
    echo "--- attacker"; cat "$aout" 2>/dev/null
    echo "--- stdout"; cat "$out"
    echo "--- stderr"; cat "$err"
}

# Hard guard: the whole run ends within 100 s whatever happens.
EACTORS_DEBUG_LAYOUT=1 timeout -k 5 100 "$EACTORS" run "$f" >"$out" 2>"$err" &
pid=$!

# Wait for the layout and for the first round trip (messages flow).
wait_for "$out" "^talker: running" 30
launcher=$(sed -n 's/^eactors: layout: pid=\([0-9]*\) .*/\1/p' "$err" | head -n 1)
if [ -z "$launcher" ] || ! grep -q "^eactors: layout: channel=" "$err" ||
    ! grep -q "^talker: running" "$out"; then
    fail "the run did not start (no layout or no first round)"
    dump
    exit 1
fi

"$ATTACKER" --layout "$err" --mode "$mode" --duration-ms "$attack_ms" --marker "$marker" \
    --seed "$seed" ${ATTACK_ARGS:-} >"$aout" 2>&1
arc=$?
[ "$arc" = 0 ] || fail "attacker exited with $arc"

# Scan and full only delay messages: stop the run now. Otherwise give it 5 s to end by
# itself (it should: the channel fails), then stop it.
sigint=0
if [ "$mode" != scan ] && [ "$mode" != full ]; then
    wait_gone 5
fi
if alive; then
    sigint=1
    kill -INT "$launcher" 2>/dev/null
    wait_gone 15
fi
if alive; then
    fail "the run did not end within 15 s of SIGINT"
    kill -9 "$launcher" "$pid" 2>/dev/null
fi
wait "$pid"
rc=$?
pid=

echo "case: mode=$mode deployment=$dep exit=$rc sigint=$sigint"
cat "$aout"
grep -E "^(talker|listener): " "$out"
grep -E "auth failures|FAILED|failed:" "$err"

# No crash, no hang guard, no sanitizer report.
case "$rc" in
0 | 1 | 130) ;;
*) fail "exit status $rc (expected 0, 1 or 130)" ;;
esac
if grep -qE "died|killed|exited unexpectedly|did not stop in time|did not return within|\
platform service ended|failed to start|Sanitizer|runtime error" "$err" "$out"; then
    fail "crash, kill or sanitizer report"
fi
# Both actors reported, and neither counted a bad message.
for a in talker listener; do
    grep -qE "^$a: [0-9]+ (rounds|messages), [0-9]+ bad$" "$out" || fail "$a did not report"
done
if grep -qE "^(talker|listener): [0-9]+ (rounds|messages), [1-9][0-9]* bad$" "$out"; then
    fail "forged, replayed or reordered data was accepted"
fi
hits=$(sed -n 's/.* marker_hits=\([0-9]*\).*/\1/p' "$aout")

case "$mode:$dep" in
scan:attack-plain.xml)
    grep -q "INSECURE (protect=plain)" "$err" || fail "the control channel is not plain"
    [ "${hits:-0}" -gt 0 ] || fail "control: the marker was not found in a plain channel"
    ;;
full:*)
    # A channel may fail (a runtime may treat a full mbox as hostile) or
    # not; what must not happen is plaintext in the arena or bad data.
    grep -q "AEAD (AES-128-GCM)" "$err" || fail "the channel is not AEAD"
    grep -qE "blocks=[1-9]" "$aout" || fail "the attacker never made an mbox look full"
    [ -n "$hits" ] || fail "no attacker result"
    [ "${hits:-1}" -eq 0 ] || fail "plaintext marker found $hits times in the arena of an AEAD channel"
    ;;
scan:*)
    grep -q "AEAD (AES-128-GCM)" "$err" || fail "the channel is not AEAD"
    [ -n "$hits" ] || fail "no attacker result"
    [ "${hits:-1}" -eq 0 ] || fail "plaintext marker found $hits times in the arena of an AEAD channel"
    if grep -qE "auth failures [1-9]|FAILED|channel error" "$err" "$out"; then
        fail "a channel failed although nothing was written"
    fi
    ;;
*)
    grep -q "AEAD (AES-128-GCM)" "$err" || fail "the channel is not AEAD"
    if ! grep -qE "auth failures [1-9]|; FAILED: " "$err" && ! grep -q "channel error" "$out"; then
        fail "tampering was not detected (no auth failure, failed channel or channel error)"
    fi
    [ "$sigint" = 1 ] && echo "note: the run was stopped with SIGINT after the attack"
    ;;
esac

# No process of this run may outlive it.
no_leftovers "$f"
[ "$fails" -eq 0 ] || dump
finish "attack $mode on $dep"
