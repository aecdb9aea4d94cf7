#!/usr/bin/env bash
# Read-only file grants, attacked. Usage: files.sh (no arguments).
# An enclave actor (systest's `filetester`) runs the same probes in several
# directories: open for writing, for reading and writing, for appending,
# create (also through a read-only open), truncate through a read-only open,
# write through a read-only handle, unlink, and reads.
#   Run 1 grants files-ro="site data/frozen" and files="site/uploads data":
#     site, site/css (inherits site) and data/frozen must refuse every
#     change and keep their victim; site/uploads and data (read-write, one
#     nested in a read-only directory) must allow them: the longest granted
#     directory decides.
#   Run 2 (the control) grants the same directories with files= only: the
#     same actor's same probes now change site and data/frozen too, so the
#     refusals of run 1 are the grant's doing.
# Environment: EACTORS, IMG, EACTORS_PLATFORM_DIR.
set -u
. "$(dirname "$0")/../common/lib.sh"
scratch
mkdir -p "$tmp/files"
d=$(realpath "$tmp/files")
all="site site/css site/uploads data data/frozen"

# setup: fresh directories, each with its victim.
setup() {
    rm -rf "${d:?}"/*
    local x
    for x in $all; do
        mkdir -p "$d/$x"
        printf ORIGINAL >"$d/$x/victim"
    done
}

# deploy RO RW GRANT: writes the deployment: the actor's ro and rw target
# lists (relative to $d) and the <grant> attributes.
deploy() {
    local ro="" rw="" x
    for x in $1; do ro="$ro $d/$x"; done
    for x in $2; do rw="$rw $d/$x"; done
    cat >"$tmp/files.xml" <<XML
<eactors>
  <enclave name="app" image="$IMG/systest.so"/>
  <worker name="h1" cpus="0"/>
  <worker name="w1" cpus="1" enclave="app"/>
  <actor name="attacker" type="filetester" worker="w1">
    <param name="ro" value="${ro# }"/>
    <param name="rw" value="${rw# }"/>
  </actor>
  <sys name="io" worker="h1">
    <grant enclave="app" $3/>
  </sys>
  <channel name="sys" between="attacker io" nodes="64" max="64K"/>
</eactors>
XML
}

# untouched DIR...: victim intact, nothing created.
untouched() {
    local x
    for x in "$@"; do
        [ "$(cat "$d/$x/victim" 2>/dev/null)" = ORIGINAL ] || fail "$x/victim changed"
        [ ! -e "$d/$x/new" ] && [ ! -e "$d/$x/new-rdonly" ] || fail "file created in $x"
    done
}
# changed DIR...: the attack went through: victim gone, files created.
changed() {
    local x
    for x in "$@"; do
        [ ! -e "$d/$x/victim" ] || fail "$x/victim still there"
        [ -f "$d/$x/new" ] && [ -f "$d/$x/new-rdonly" ] || fail "files not created in $x"
    done
}

echo "--- run 1: read-only grants"
setup
deploy "site site/css data/frozen" "site/uploads data" \
    "files=\"$d/site/uploads $d/data\" files-ro=\"$d/site $d/data/frozen\""
expect_run 0 120 "$tmp/files.xml"
has_err "[app/attacker] files done: errors=0"
for x in site site/css data/frozen; do has_err "$d/$x: ro ok"; done
for x in site/uploads data; do has_err "$d/$x: rw ok"; done
why="is not granted to enclave 'app' (granted read-only)"
has_err "refused open-write in $d/site: changing files in '$d/site' $why"
has_err "refused open-rdwr in $d/site: changing files in '$d/site' $why"
has_err "refused open-append in $d/site: changing files in '$d/site' $why"
has_err "refused create in $d/site: changing files in '$d/site' $why"
has_err "refused create-rdonly in $d/site: changing files in '$d/site' $why"
has_err "refused truncate in $d/site: changing files in '$d/site' $why"
has_err "refused unlink in $d/site: changing files in '$d/site' $why"
has_err "refused unlink in $d/site/css: changing files in '$d/site/css' $why"
has_err "refused unlink in $d/data/frozen: changing files in '$d/data/frozen' $why"
# A read-only handle is refused in every directory, the control's included.
grep -qE "refused write-read-handle in $d/data: handle [0-9]+ was opened read-only: writing to it is not granted to enclave 'app'" "$err" ||
    fail "write through a read-only handle not refused"
lacks_err "FAIL"
has_err "eactors: sys 'io': no requester left: 0 handles open at the end"
untouched site site/css data/frozen
changed site/uploads data

echo "--- run 2 (control): the same directories granted read-write"
setup
deploy "" "$all" "files=\"$d/site $d/data\""
expect_run 0 120 "$tmp/files.xml"
has_err "[app/attacker] files done: errors=0"
for x in $all; do has_err "$d/$x: rw ok"; done
lacks_err "changing files in"
lacks_err "FAIL"
changed $all

finish "sys files"
