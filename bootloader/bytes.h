// Bounds-checked little-endian access to byte ranges for the shim. Every
// range the shim reads was placed by the host (parameter areas) or is the
// image's own data; offsets are checked against the span, without overflow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shim {

constexpr bool Fits(size_t offset, size_t length, size_t bound) {
  return offset <= bound && length <= bound - offset;
}

template <typename T>
bool LoadLe(std::span<const std::byte> bytes, size_t offset, T& out) {
  if (!Fits(offset, sizeof(T), bytes.size())) return false;
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value = static_cast<T>(value | static_cast<T>(static_cast<T>(bytes[offset + i]) << (8 * i)));
  out = value;
  return true;
}

template <typename T>
bool StoreLe(std::span<std::byte> bytes, size_t offset, T value) {
  if (!Fits(offset, sizeof(T), bytes.size())) return false;
  for (size_t i = 0; i < sizeof(T); ++i)
    bytes[offset + i] = static_cast<std::byte>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  return true;
}

}  // namespace shim
