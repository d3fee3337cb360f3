// StoreLe / LoadLe with an Error naming the overrun, for the table and
// parameter builders (x86 and every format here is little-endian). The
// bounds check itself is base/le_bytes.h's.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/le_bytes.h"
#include "base/result.h"

namespace loader {

template <std::unsigned_integral T>
base::Result<void> StoreLe(std::span<std::byte> out, size_t offset, T value) {
  if (!base::StoreLe(out, offset, value))
    return base::Error::Format("store of %zu bytes at offset 0x%zx overruns a %zu-byte buffer",
                               sizeof(T), offset, out.size());
  return base::Ok();
}

template <std::unsigned_integral T>
base::Result<T> LoadLe(std::span<const std::byte> in, size_t offset) {
  T value = 0;
  if (!base::LoadLe(in, offset, value))
    return base::Error::Format("load of %zu bytes at offset 0x%zx overruns a %zu-byte buffer",
                               sizeof(T), offset, in.size());
  return value;
}

}  // namespace loader
