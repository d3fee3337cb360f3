// Bounds-checked little-endian loads and stores on byte spans. Header-only
// and freestanding-safe (no allocation, no exceptions): the boot shim uses
// it as well as host code. Callers that want an Error wrap these.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/checked.h"

namespace base {

template <std::unsigned_integral T>
[[nodiscard]] constexpr bool LoadLe(std::span<const std::byte> bytes, size_t offset, T& out) {
  if (!RangeFits<size_t>(offset, sizeof(T), bytes.size())) return false;
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value = static_cast<T>(value | static_cast<T>(static_cast<T>(bytes[offset + i]) << (8 * i)));
  out = value;
  return true;
}

template <std::unsigned_integral T>
[[nodiscard]] constexpr bool StoreLe(std::span<std::byte> bytes, size_t offset, T value) {
  if (!RangeFits<size_t>(offset, sizeof(T), bytes.size())) return false;
  for (size_t i = 0; i < sizeof(T); ++i)
    bytes[offset + i] = static_cast<std::byte>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  return true;
}

}  // namespace base
