#!/usr/bin/env bash
# examples/eos end to end. Usage: example.sh CASE
#   run       two runs of eos.xml (a private copy in a scratch directory):
#             each enclave reads the other's string and binary value from
#             the encrypted shared store, the CAS counter is 2000 (no lost
#             update from the two enclave processes), each private store is
#             refused to the other enclave and the encrypted one to the host,
#             the host's trusted store works; the persistent journal counts
#             run 1 then run 2; the journal file holds no key in the clear.
#   rollback  the journal file saved after run 1 is put back after run 2:
#             run 3 is refused (EA_ERR_ROLLBACK, "store rolled back"),
#             exit 1.
#   none      the same deployment with the `none` backend (enclaves in the
#             launcher's process).
# System mode (the platform daemon) is tests/platformd (case eos).
# Environment: EACTORS, EX (built examples dir), EACTORS_PLATFORM_DIR.
set -u
. "$(dirname "$0")/../common/lib.sh"
case=$1
: "${EACTORS:?}" "${EX:?}"
scratch
cp "$EX/eos/eos.xml" "$tmp/eos.xml"
export EACTORS_IMAGE_PATH=$EX/eos
backend=()
[ "$case" = none ] && backend=(--backend none)

# one_run N: a run that ends well, with every line the example prints.
one_run() {
    expect_run 0 60 "${backend[@]}" "$tmp/eos.xml"
    for who in left right; do
        other=right; [ $who = right ] && other=left
        has_out "$who: 'greeting/$other' = 'hello from $other' (version 1)"
        has_out "$who: 'blob/$other' = 256 binary bytes, intact"
        has_out "$who: counter = 2000 (expected 2000: no lost updates)"
    done
    has_out "left: store 'journal' of the other enclave: not permitted"
    has_out "right: store 'cache' of the other enclave: not permitted"
    has_out "left: private store 'cache': note = 'kept in enclave memory, in the clear'"
    has_out "right: private store 'journal': run $1 (sync counter $1)"
    has_out "host: 'motd' = 'plain text in the host's own memory'"
    has_out "host: binary key 00 01 = 5 bytes, intact (version 2)"
    has_out "host: encrypted store 'shared': not permitted"
    has_out "host: store 'nosuch': not found"
    lacks_out "WRONG"
    clean_run
}
# No sanitizer report in a run (sanitizer builds).
clean_run() {
    lacks_err "Sanitizer"
    lacks_err "runtime error:"
}

case "$case" in
run | none)
    one_run 1
    [ -s "$tmp/eos-journal.eos" ] || fail "no journal file next to the deployment"
    grep -q "runs" "$tmp/eos-journal.eos" && fail "the journal holds the key 'runs' in the clear"
    one_run 2
    ;;
rollback)
    one_run 1
    cp "$tmp/eos-journal.eos" "$tmp/journal.run1"
    one_run 2
    cp "$tmp/journal.run1" "$tmp/eos-journal.eos"
    expect_run 1 60 "$tmp/eos.xml"
    clean_run
    has_err "right: attach private store: store rolled back"
    has_err "actor 'right' in enclave 'right' failed"
    ;;
*)
    echo "unknown case $case"
    exit 2
    ;;
esac
finish "eos example $case"
