// BarRegisters and ManaBar: the NVMe driver's nvme::driver::RegisterAccess
// (vmm-core/nvme/driver/os_interfaces.h) and the MANA driver's
// mana::driver::Bar (vmm-core/mana/driver/driver.h) over a memory BAR
// mapped into hcl (VFIO region mmap, hcl/vfio/vfio_device.h), with one
// checked access underneath.
//
// Every NVMe access is one aligned 32-bit load or store through std::atomic_ref
// (never `volatile`, STYLE.md §5): loads acquire, stores release, so the
// compiler keeps a doorbell store after the queue-entry stores before it;
// on x86 the CPU keeps that order for write-back DMA memory followed by an
// uncached MMIO store. A 64-bit register is read as two 32-bit reads, low
// then high, as Linux's lo_hi_readq does (nvme-vfio.md §1.1), so a device
// that only decodes 32-bit accesses works.
//
// MANA's registers and doorbells are 64-bit: its 64-bit accesses are one
// aligned 8-byte load or store (a doorbell is one store, mana-netvsc.md §1).
//
// Offsets come from the drivers, which keep them below bar_bytes() and
// aligned; one that is not reads all-ones (as a PCI master abort would)
// and a write to it is dropped, never a stray access outside the BAR.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mana/driver/driver.h"
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
  std::span<std::byte> bar_;
};

class ManaBar final : public mana::driver::Bar {
 public:
  // `bar` must stay mapped for the object's life and be 8-byte aligned.
  explicit ManaBar(std::span<std::byte> bar) : bar_(bar) {}
  uint32_t Read32(uint64_t offset) override;
  uint64_t Read64(uint64_t offset) override;
  void Write32(uint64_t offset, uint32_t value) override;
  void Write64(uint64_t offset, uint64_t value) override;
  uint64_t bar_bytes() const override { return bar_.size(); }

 private:
  std::span<std::byte> bar_;
};

}  // namespace hcl::vfio
