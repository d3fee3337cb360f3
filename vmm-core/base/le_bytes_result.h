// LoadLeOrError / StoreLeOrError: base/le_bytes.h's bounds-checked
// little-endian loads and stores, with an Error naming the overrun, for
// the table and parameter builders (x86 and every format here is
// little-endian). A header of its own: le_bytes.h stays freestanding for
// the boot shim, and Error is not.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/le_bytes.h"
#include "base/result.h"

namespace base {

template <std::unsigned_integral T>
Result<void> StoreLeOrError(std::span<std::byte> out, size_t offset, T value) {
  if (!StoreLe(out, offset, value))
    return Error::Format("store of %zu bytes at offset 0x%zx overruns a %zu-byte buffer",
                         sizeof(T), offset, out.size());
  return Ok();
}

template <std::unsigned_integral T>
Result<T> LoadLeOrError(std::span<const std::byte> in, size_t offset) {
  T value = 0;
  if (!LoadLe(in, offset, value))
    return Error::Format("load of %zu bytes at offset 0x%zx overruns a %zu-byte buffer",
                         sizeof(T), offset, in.size());
  return value;
}

}  // namespace base
