// The shim's byte access: base/le_bytes.h's bounds-checked little-endian
// loads and stores (header-only, freestanding-safe), plus Fits.
#pragma once

#include <cstddef>

#include "base/checked.h"
#include "base/le_bytes.h"

namespace shim {

using base::LoadLe;
using base::StoreLe;

constexpr bool Fits(size_t offset, size_t length, size_t bound) {
  return base::RangeFits<size_t>(offset, length, bound);
}

}  // namespace shim
