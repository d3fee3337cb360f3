// 64.64 fixed-point helpers, for rates given as a 64-bit fraction of 2^64
// (the Hyper-V reference TSC page's TscScale, TLFS "Reference TSC Page").
#pragma once

#include <cstdint>

namespace base {

// GCC and Clang's 128-bit integer; __extension__ keeps -Wpedantic quiet.
__extension__ typedef unsigned __int128 Uint128;

// The high 64 bits of a * b: a scaled by the fraction b / 2^64.
constexpr uint64_t MulHigh64(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<Uint128>(a) * b) >> 64);
}

// numerator / denominator as a fraction of 2^64; numerator < denominator,
// denominator > 0 (else the result does not fit: 0).
constexpr uint64_t Fraction64(uint64_t numerator, uint64_t denominator) {
  if (denominator == 0 || numerator >= denominator) return 0;
  return static_cast<uint64_t>((static_cast<Uint128>(numerator) << 64) / denominator);
}

}  // namespace base
