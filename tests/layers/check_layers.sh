#!/usr/bin/env bash
# Checks that the runtime's layers form one order with no cycle.
#
# usage: check_layers.sh <layer-list-file> [<src-dir>]
#
# <layer-list-file> has one line per layer, lowest first:
#     <name> <object> <object> ...
# A layer may reference (nm -u) only symbols defined in itself or in a layer
# listed before it. With <src-dir>, every `#include "<layer>/..."` in
# <src-dir>/<layer>/ is checked the same way. Prints each violation and
# exits 1 if there is one; prints a one-line summary and exits 0 otherwise.
set -euo pipefail

list=$1
src=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

names=()
while read -r name objs; do
    [ -n "$name" ] || continue
    names+=("$name")
    : >"$tmp/$name.def"
    : >"$tmp/$name.und"
    for o in $objs; do
        base=$(basename "$o")
        nm --defined-only "$o" | awk -v f="$base" 'NF == 3 && $2 ~ /[A-Z]/ {print $3, f}' >>"$tmp/$name.def"
        nm -u "$o" | awk -v f="$base" '{print $NF, f}' >>"$tmp/$name.und"
    done
done <"$list"

# symbol -> "layer-index layer object" of its definition.
: >"$tmp/defs"
for i in "${!names[@]}"; do
    awk -v i="$i" -v l="${names[$i]}" '{print $1, i, l, $2}' "$tmp/${names[$i]}.def" >>"$tmp/defs"
done

bad=0
checked=0
for i in "${!names[@]}"; do
    l=${names[$i]}
    while read -r sym obj; do
        checked=$((checked + 1))
        def=$(awk -v s="$sym" '$1 == s {print $2, $3, $4; exit}' "$tmp/defs")
        [ -n "$def" ] || continue # libc, OpenSSL, libxml2, ...
        read -r j dl dobj <<<"$def"
        if [ "$j" -gt "$i" ]; then
            echo "layer violation: $l ($obj) uses $sym, defined in the higher layer $dl ($dobj)"
            bad=$((bad + 1))
        fi
    done <"$tmp/$l.und"
done

includes=0
if [ -n "$src" ]; then
    for i in "${!names[@]}"; do
        l=${names[$i]}
        [ -d "$src/$l" ] || continue
        for f in "$src/$l"/*.[ch]; do
            [ -e "$f" ] || continue
            while IFS= read -r inc; do
                includes=$((includes + 1))
                target=${inc%%/*}
                for j in "${!names[@]}"; do
                    if [ "${names[$j]}" = "$target" ] && [ "$j" -gt "$i" ]; then
                        echo "layer violation: $f includes \"$inc\" of the higher layer $target"
                        bad=$((bad + 1))
                    fi
                done
            done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
        done
    done
fi

if [ "$bad" -ne 0 ]; then
    echo "layers: $bad violation(s) of the order ${names[*]}"
    exit 1
fi
echo "layers: order ${names[*]} holds ($checked undefined references, $includes includes checked)"
