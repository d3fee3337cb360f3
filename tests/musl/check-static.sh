#!/bin/sh
# Fails unless BINARY is a fully static ELF executable free of glibc:
# no PT_INTERP (no dynamic loader), no dynamic section, and no GLIBC_ symbol
# version strings anywhere in the file.
#
#   tests/musl/check-static.sh BINARY
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 BINARY" >&2
  exit 2
fi
bin=$1
fail() {
  echo "check-static: $bin: $*" >&2
  exit 1
}

[ -f "$bin" ] || fail "no such file"
headers=$(readelf -lW "$bin" 2>&1) || fail "not an ELF file: $headers"
if printf '%s\n' "$headers" | grep -qE '^[[:space:]]*INTERP[[:space:]]'; then
  fail "has a PT_INTERP program header (needs a dynamic loader)"
fi
if printf '%s\n' "$headers" | grep -qE '^[[:space:]]*DYNAMIC[[:space:]]'; then
  fail "has a PT_DYNAMIC program header"
fi
if ! readelf -d "$bin" 2>&1 | grep -q 'There is no dynamic section'; then
  fail "has a dynamic section"
fi
if strings -a "$bin" | grep -q 'GLIBC_'; then
  fail "contains GLIBC_ version strings"
fi
echo "check-static: $bin: static, no dynamic section, no GLIBC_ strings"
