// Hex digits, for parsers of text that carries bytes (sysfs IDs, digests,
// SNP reports as hex). Header-only and freestanding-safe.
#pragma once

namespace base {

// The value of hex digit `c` (either case), or -1 if it is not one.
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace base
