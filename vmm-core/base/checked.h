// Overflow-checked arithmetic for sizes and addresses taken from untrusted
// input (STYLE.md §3.3): subtract from the trusted bound, never add blindly.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>

namespace base {

template <std::unsigned_integral T>
constexpr std::optional<T> CheckedAdd(T a, T b) {
  T sum;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

template <std::unsigned_integral T>
constexpr std::optional<T> CheckedMul(T a, T b) {
  T product;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

// True when [offset, offset + length) lies inside [0, bound), computed
// without overflow for any inputs.
template <std::unsigned_integral T>
constexpr bool RangeFits(T offset, T length, T bound) {
  return offset <= bound && length <= bound - offset;
}

template <std::unsigned_integral T>
constexpr bool IsAligned(T value, T alignment) {
  return alignment != 0 && value % alignment == 0;
}

template <std::unsigned_integral T>
constexpr std::optional<T> AlignUp(T value, T alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return std::nullopt;
  auto bumped = CheckedAdd<T>(value, alignment - 1);
  if (!bumped) return std::nullopt;
  return *bumped & ~(alignment - 1);
}

}  // namespace base
