// Big-endian field access (SCSI CDBs and parameter data, TPM command and
// response headers). The caller sizes the spans; an out-of-range access is
// its bug, so these rely on the span's own bounds checking
// (_GLIBCXX_ASSERTIONS) rather than returning errors.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace base {

template <std::unsigned_integral T>
constexpr T LoadBe(std::span<const std::byte> bytes, size_t offset) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value = static_cast<T>((static_cast<uint64_t>(value) << 8) |
                           static_cast<uint8_t>(bytes[offset + i]));
  return value;
}

template <std::unsigned_integral T>
constexpr void StoreBe(std::span<std::byte> bytes, size_t offset, T value) {
  for (size_t i = 0; i < sizeof(T); ++i)
    bytes[offset + i] =
        std::byte{static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * (sizeof(T) - 1 - i)))};
}

}  // namespace base
