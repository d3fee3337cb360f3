#include "pci/config_space.h"

#include <algorithm>
#include <bit>

#include "base/checked.h"

namespace pci {
namespace {

// BAR register low bits (§6.2.5.1): bit 0 memory (0), bits 2:1 type (10b:
// 64-bit), bit 3 prefetchable.
constexpr uint32_t kBarType64 = 0x4;
constexpr uint32_t kBarPrefetchable = 0x8;

bool SlotIsHighHalf(const std::array<MemoryBar, kBarCount>& bars, unsigned index) {
  return index > 0 && bars[index - 1].size_bytes != 0 && bars[index - 1].is_64bit;
}

}  // namespace

base::Result<ConfigSpace> ConfigSpace::Create(const Identity& identity,
                                              const std::array<MemoryBar, kBarCount>& bars,
                                              std::optional<MsixLayout> msix) {
  for (unsigned i = 0; i < kBarCount; ++i) {
    const MemoryBar& bar = bars[i];
    if (bar.size_bytes == 0) continue;
    if (!std::has_single_bit(bar.size_bytes) || bar.size_bytes < 16)
      return base::Error::Format("BAR%u: size 0x%llx is not a power of two >= 16", i,
                                 static_cast<unsigned long long>(bar.size_bytes));
    if (!bar.is_64bit && bar.size_bytes > (uint64_t{1} << 31))
      return base::Error::Format("BAR%u: a 32-bit BAR cannot be larger than 2 GiB", i);
    if (SlotIsHighHalf(bars, i))
      return base::Error::Format("BAR%u: slot holds BAR%u's high half", i, i - 1);
    if (bar.is_64bit && i == kBarCount - 1)
      return base::Error::Format("BAR%u: a 64-bit BAR needs the next slot", i);
  }
  if (msix) {
    if (msix->vector_count == 0 || msix->vector_count > kMsixMaxVectors)
      return base::Error::Format("MSI-X: %u vectors", msix->vector_count);
    const uint64_t table_bytes = uint64_t{msix->vector_count} * 16;
    const uint64_t pba_bytes = (uint64_t{msix->vector_count} + 63) / 64 * 8;
    struct Region {
      uint8_t bar;
      uint32_t offset;
      uint64_t bytes;
      const char* what;
    };
    const Region regions[] = {{msix->table_bar, msix->table_offset, table_bytes, "table"},
                              {msix->pba_bar, msix->pba_offset, pba_bytes, "PBA"}};
    for (const auto& [bar, offset, bytes, what] : regions) {
      if (bar >= kBarCount || bars[bar].size_bytes == 0 || SlotIsHighHalf(bars, bar))
        return base::Error::Format("MSI-X %s: BAR%u is not a BAR", what, bar);
      if (offset % 8 != 0 || !base::RangeFits<uint64_t>(offset, bytes, bars[bar].size_bytes))
        return base::Error::Format("MSI-X %s: 0x%x+0x%llx does not fit BAR%u", what, offset,
                                   static_cast<unsigned long long>(bytes), bar);
    }
  }
  ConfigSpace config;
  config.identity_ = identity;
  config.bars_ = bars;
  config.msix_ = msix;
  return config;
}

base::Result<void> ConfigSpace::AssignBar(unsigned index, uint64_t gpa) {
  if (index >= kBarCount || bars_[index].size_bytes == 0)
    return base::Error::Format("BAR%u is not in use", index);
  if (!base::IsAligned<uint64_t>(gpa, bars_[index].size_bytes))
    return base::Error::Format("BAR%u: 0x%llx is not aligned to its size", index,
                               static_cast<unsigned long long>(gpa));
  if (!bars_[index].is_64bit && gpa > UINT32_MAX - (bars_[index].size_bytes - 1))
    return base::Error::Format("BAR%u: 0x%llx is above 4 GiB", index,
                               static_cast<unsigned long long>(gpa));
  bar_addresses_[index] = gpa;
  return base::Ok();
}

uint64_t ConfigSpace::bar_size(unsigned index) const {
  return index < kBarCount ? bars_[index].size_bytes : 0;
}

std::optional<uint64_t> ConfigSpace::BarAddress(unsigned index) const {
  if (index >= kBarCount || bars_[index].size_bytes == 0) return std::nullopt;
  if ((command_ & kCommandMemorySpace) == 0) return std::nullopt;
  const uint64_t address = bar_addresses_[index];
  // A BAR the guest is sizing (all-ones written) or never placed decodes
  // nothing a device should answer: address 0, or one whose end wraps.
  if (address == 0 || address > UINT64_MAX - (bars_[index].size_bytes - 1)) return std::nullopt;
  return address;
}

uint32_t ConfigSpace::BarRegister(unsigned index) const {
  if (SlotIsHighHalf(bars_, index)) return static_cast<uint32_t>(bar_addresses_[index - 1] >> 32);
  const MemoryBar& bar = bars_[index];
  if (bar.size_bytes == 0) return 0;
  uint32_t low = static_cast<uint32_t>(bar_addresses_[index]) & ~uint32_t{0xF};
  if (bar.is_64bit) low |= kBarType64;
  if (bar.prefetchable) low |= kBarPrefetchable;
  return low;
}

void ConfigSpace::WriteBarRegister(unsigned index, uint32_t value) {
  if (SlotIsHighHalf(bars_, index)) {
    // The high half of a 64-bit BAR: address bits 63:32. Sizes here are
    // below 4 GiB, so all of them are writable.
    uint64_t& address = bar_addresses_[index - 1];
    address = (address & UINT32_MAX) | (uint64_t{value} << 32);
    return;
  }
  const MemoryBar& bar = bars_[index];
  if (bar.size_bytes == 0) return;  // unused BARs are hardwired to 0
  // §6.2.5.1: the bits below the size are read-only zero, so writing
  // all-ones reads back the size.
  const uint64_t size_mask = ~(bar.size_bytes - 1);
  uint64_t& address = bar_addresses_[index];
  const uint64_t high = bar.is_64bit ? address & ~uint64_t{UINT32_MAX} : 0;
  address = high | (uint64_t{value} & size_mask & UINT32_MAX);
}

uint32_t ConfigSpace::ReadDword(uint16_t dword_offset) const {
  switch (dword_offset) {
    case kVendorIdOffset:
      return uint32_t{identity_.device_id} << 16 | identity_.vendor_id;
    case kCommandOffset: {
      const uint16_t status = msix_ ? kStatusCapabilitiesList : 0;
      return uint32_t{status} << 16 | command_;
    }
    case kRevisionOffset:
      return (identity_.class_code & 0xFFFFFF) << 8 | identity_.revision;
    case 0x0C:  // cache line size, latency timer, header type 0, BIST 0
      return uint32_t{latency_timer_} << 8 | cache_line_size_;
    case kSubsystemVendorIdOffset:
      return uint32_t{identity_.subsystem_id} << 16 | identity_.subsystem_vendor_id;
    case kCapabilitiesPointerOffset:
      return msix_ ? kMsixCapabilityOffset : 0;
    case kInterruptLineOffset:
      // Interrupt Pin 0 (no INTx), Min_Gnt/Max_Lat 0.
      return interrupt_line_;
    default:
      break;
  }
  if (dword_offset >= kBar0Offset && dword_offset < kBar0Offset + 4 * kBarCount)
    return BarRegister((dword_offset - kBar0Offset) / 4u);
  if (msix_ && dword_offset == kMsixCapabilityOffset) {
    const uint16_t control = static_cast<uint16_t>(msix_control_ | (msix_->vector_count - 1));
    return uint32_t{control} << 16 | kCapabilityIdMsix;  // next pointer 0: the last capability
  }
  if (msix_ && dword_offset == kMsixCapabilityOffset + 4) return msix_->table_offset | msix_->table_bar;
  if (msix_ && dword_offset == kMsixCapabilityOffset + 8) return msix_->pba_offset | msix_->pba_bar;
  return 0;
}

void ConfigSpace::WriteDword(uint16_t dword_offset, uint32_t value, uint8_t byte_mask) {
  uint32_t bits = 0;
  for (unsigned i = 0; i < 4; ++i)
    if ((byte_mask & (1u << i)) != 0) bits |= 0xFFu << (8 * i);
  const uint32_t merged = (ReadDword(dword_offset) & ~bits) | (value & bits);
  if (dword_offset == kCommandOffset) {
    // Status (upper half) has no RW1C bits in use here.
    command_ = static_cast<uint16_t>(merged & kWritableCommandBits);
  } else if (dword_offset == 0x0C) {
    cache_line_size_ = static_cast<uint8_t>(merged);
    latency_timer_ = static_cast<uint8_t>(merged >> 8);
  } else if (dword_offset == kInterruptLineOffset) {
    interrupt_line_ = static_cast<uint8_t>(merged);
  } else if (dword_offset >= kBar0Offset && dword_offset < kBar0Offset + 4 * kBarCount) {
    // A partial write of a BAR is unusual but legal: the merge above keeps
    // the other bytes.
    WriteBarRegister((dword_offset - kBar0Offset) / 4u, merged);
  } else if (msix_ && dword_offset == kMsixCapabilityOffset) {
    msix_control_ = static_cast<uint16_t>((merged >> 16) &
                                          (kMsixControlEnable | kMsixControlFunctionMask));
  }
}

void ConfigSpace::Read(uint16_t offset, std::span<std::byte> data) const {
  const size_t width = data.size();
  if ((width != 1 && width != 2 && width != 4) || offset % width != 0 ||
      !base::RangeFits<size_t>(offset, width, kConfigBytes)) {
    std::fill(data.begin(), data.end(), std::byte{0xFF});
    return;
  }
  const uint32_t dword = ReadDword(static_cast<uint16_t>(offset & ~3u));
  const unsigned shift = 8 * (offset & 3u);
  for (size_t i = 0; i < width; ++i) data[i] = static_cast<std::byte>(dword >> (shift + 8 * i));
}

void ConfigSpace::Write(uint16_t offset, std::span<const std::byte> data) {
  const size_t width = data.size();
  if ((width != 1 && width != 2 && width != 4) || offset % width != 0 ||
      !base::RangeFits<size_t>(offset, width, kConfigBytes))
    return;
  const unsigned shift = 8 * (offset & 3u);
  uint32_t value = 0;
  uint8_t byte_mask = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= std::to_integer<uint32_t>(data[i]) << (shift + 8 * i);
    byte_mask = static_cast<uint8_t>(byte_mask | (1u << ((offset & 3u) + i)));
  }
  WriteDword(static_cast<uint16_t>(offset & ~3u), value, byte_mask);
}

}  // namespace pci
