#include "pci/msix.h"

#include <algorithm>

#include "base/le_bytes.h"

namespace pci {

MsixTable::MsixTable(uint16_t vector_count, MsiSink& sink)
    : entries_(std::clamp<uint16_t>(vector_count, 1, 2048)), sink_(sink) {}

bool MsixTable::DeliverableLocked(const Entry& entry) const {
  return enabled_ && !function_masked_ && (entry.control & 1u) == 0;
}

void MsixTable::FlushPendingLocked() {
  for (Entry& entry : entries_) {
    if (entry.pending && DeliverableLocked(entry)) {
      entry.pending = false;
      sink_.Deliver({entry.address, entry.data});
    }
  }
}

devices::IoResult MsixTable::ReadTable(uint64_t offset, std::span<std::byte> data) {
  const size_t width = data.size();
  if ((width != 4 && width != 8) || offset % width != 0 || offset >= table_bytes())
    return devices::IoResult::kBadSize;
  const std::lock_guard lock(mutex_);
  const Entry& entry = entries_[offset / kEntryBytes];
  // The entry as four little-endian dwords.
  const uint32_t dwords[4] = {static_cast<uint32_t>(entry.address),
                              static_cast<uint32_t>(entry.address >> 32), entry.data,
                              entry.control};
  const size_t first = (offset % kEntryBytes) / 4;
  for (size_t i = 0; i < width / 4; ++i)
    (void)base::StoreLe<uint32_t>(data, 4 * i, dwords[first + i]);
  return devices::IoResult::kOk;
}

devices::IoResult MsixTable::WriteTable(uint64_t offset, std::span<const std::byte> data) {
  const size_t width = data.size();
  if ((width != 4 && width != 8) || offset % width != 0 || offset >= table_bytes())
    return devices::IoResult::kBadSize;
  const std::lock_guard lock(mutex_);
  Entry& entry = entries_[offset / kEntryBytes];
  const size_t first = (offset % kEntryBytes) / 4;
  for (size_t i = 0; i < width / 4; ++i) {
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(data, 4 * i, value);
    switch (first + i) {
      case 0: entry.address = (entry.address & ~uint64_t{UINT32_MAX}) | value; break;
      case 1: entry.address = (entry.address & UINT32_MAX) | (uint64_t{value} << 32); break;
      case 2: entry.data = value; break;
      default: entry.control = value & 1u; break;  // the other bits are reserved
    }
  }
  FlushPendingLocked();
  return devices::IoResult::kOk;
}

devices::IoResult MsixTable::ReadPba(uint64_t offset, std::span<std::byte> data) {
  const size_t width = data.size();
  if ((width != 4 && width != 8) || offset % width != 0 || offset >= pba_bytes())
    return devices::IoResult::kBadSize;
  const std::lock_guard lock(mutex_);
  for (size_t byte = 0; byte < width; ++byte) {
    uint8_t bits = 0;
    for (unsigned bit = 0; bit < 8; ++bit) {
      const uint64_t vector = (offset + byte) * 8 + bit;
      if (vector < entries_.size() && entries_[vector].pending) bits = static_cast<uint8_t>(bits | (1u << bit));
    }
    data[byte] = std::byte{bits};
  }
  return devices::IoResult::kOk;
}

void MsixTable::SetControl(bool enabled, bool function_masked) {
  const std::lock_guard lock(mutex_);
  enabled_ = enabled;
  function_masked_ = function_masked;
  FlushPendingLocked();
}

void MsixTable::Signal(uint16_t vector) {
  const std::lock_guard lock(mutex_);
  if (vector >= entries_.size()) return;
  Entry& entry = entries_[vector];
  if (DeliverableLocked(entry)) {
    sink_.Deliver({entry.address, entry.data});
  } else if (enabled_) {
    // §6.8.2.9: masked (vector or function) -> pending. With MSI-X
    // disabled the function may not signal at all; nothing is recorded.
    entry.pending = true;
  }
}

}  // namespace pci
