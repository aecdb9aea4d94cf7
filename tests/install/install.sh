#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds an image out of tree
# against it, and runs it with the installed eactors command.
set -eu
build=$1 src=$2
prefix=$(mktemp -d) work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/eactors/eactors.h"
test -f "$prefix/lib/pkgconfig/eactors.pc"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cmake -S "$src/consumer" -B "$work" -DEACTORS_PREFIX="$prefix" -DEACTORS_SIGNING_KEY="$work/key.pem" >/dev/null
cmake --build "$work" >/dev/null
cp "$src/consumer/app.xml" "$work/"
out=$(LD_LIBRARY_PATH=$prefix/lib EACTORS_PLATFORM_DIR=$work/platform "$prefix/bin/eactors" run --quiet "$work/app.xml")
echo "$out"
[ "$out" = "installed greeter 'g' in e" ]
echo "PASS: install"
