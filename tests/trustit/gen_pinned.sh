#!/usr/bin/env bash
# gen_pinned.sh EACTORS IMAGE OUT.h: writes the image's MRENCLAVE as a C
# initializer list for policy_pinned.c.
set -eu
m=$("$1" measure "$2" | cut -d' ' -f1)
[ ${#m} -eq 64 ]
{
  printf '#define PINNED_MRENCLAVE '
  echo "$m" | sed 's/../0x&,/g; s/,$//'
} > "$3"
