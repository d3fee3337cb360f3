// BarRegisters: the NVMe driver's nvme::driver::RegisterAccess
// (vmm-core/nvme/driver/os_interfaces.h) over a memory BAR mapped into hcl
// (VFIO region mmap, hcl/vfio/vfio_device.h).
//
// Every access is one aligned 32-bit load or store through std::atomic_ref
// (never `volatile`, STYLE.md §5): loads acquire, stores release, so the
// compiler keeps a doorbell store after the queue-entry stores before it;
// on x86 the CPU keeps that order for write-back DMA memory followed by an
// uncached MMIO store. A 64-bit register is read as two 32-bit reads, low
// then high, as Linux's lo_hi_readq does (nvme-vfio.md §1.1), so a device
// that only decodes 32-bit accesses works.
//
// Offsets come from the driver, which keeps them below bar_bytes() and
// aligned; one that is not reads all-ones (as a PCI master abort would)
// and a write to it is dropped, never a stray access outside the BAR.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "nvme/driver/os_interfaces.h"

namespace hcl::vfio {

class BarRegisters final : public nvme::driver::RegisterAccess {
 public:
  // `bar` must stay mapped for the object's life and be 4-byte aligned.
  explicit BarRegisters(std::span<std::byte> bar) : bar_(bar) {}

  uint32_t Read32(uint64_t offset) override;
  uint64_t Read64(uint64_t offset) override;
  void Write32(uint64_t offset, uint32_t value) override;
  uint64_t bar_bytes() const override { return bar_.size(); }

 private:
  uint32_t* Word(uint64_t offset) const;

  std::span<std::byte> bar_;
};

}  // namespace hcl::vfio
