#!/usr/bin/env bash
# The secure sum, end to end: demo.sh [PARTIES] (default 4; 2 to 16).
# Makes a plaintext input of 1000 words per party in inputs/ (kept, and
# never overwritten), seals each once for its party, runs smc-<N>.xml (10
# rounds, party 0 reveals each round's result digest) and prints the digest
# the plaintext inputs give, to compare.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-4}
tool=$here/smc_tool
mkdir -p "$here/inputs"
for ((i = 0; i < n; i++)); do
    plain=$here/inputs/p$i.plain sealed=$here/inputs/p$i.sealed
    [ -e "$plain" ] || "$tool" gen --words 1000 --seed $((i + 1)) --out "$plain"
    [ -e "$sealed" ] || "$tool" seal --party "p$i" --in "$plain" --out "$sealed"
done
"${EACTORS:-$here/../../tools/eactors}" run "$here/smc-$n.xml"
plains=()
for ((i = 0; i < n; i++)); do plains+=("$here/inputs/p$i.plain"); done
echo "expected for round 9: $("$tool" expect --round 9 "${plains[@]}")"
