// What the user-mode NVMe driver (nvme/driver/driver.h) needs from the OS
// glue in hcl/ (VFIO or mshv_vtl), as interfaces it calls and the glue
// implements: BAR0 register access, DMA-able memory with known device
// addresses, and the driver's notion of time.
//
// Does not: map BARs, set up MSI-X/eventfds, pin memory, run threads or
// timers. The glue owns all of that and drives the driver by calling
// Driver::Poll, Driver::OnInterrupt(vector) and Driver::Tick(now)
// (nvme-vfio.md §8 describes the VFIO side).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.h"

namespace nvme::driver {

// Monotonic time as the glue sees it (any epoch, e.g. CLOCK_MONOTONIC).
using Time = std::chrono::nanoseconds;

// BAR0 of one NVMe controller (NVMe 2.0 "Controller Properties"; the
// doorbells of the PCIe transport at 1000h). Offsets are BAR-relative and
// the driver only passes offsets below bar_bytes(), naturally aligned.
//
// Values read are device data: the driver validates every one (CSTS of
// all-ones means the device is gone, nvme-vfio.md §1.2). A write must
// reach the device after every earlier store to DMA memory the device
// may read (x86: an uncached MMIO store is ordered after write-back
// stores; the driver also issues a release fence before doorbells).
class RegisterAccess {
 public:
  virtual ~RegisterAccess() = default;
  virtual uint32_t Read32(uint64_t offset) = 0;
  // CAP, ASQ, ACQ. May be two 32-bit reads, low then high, as Linux does
  // (nvme-vfio.md §1.1).
  virtual uint64_t Read64(uint64_t offset) = 0;
  virtual void Write32(uint64_t offset, uint32_t value) = 0;
  virtual uint64_t bar_bytes() const = 0;
};

// One physically contiguous, page-aligned run of memory the device can
// reach at `device_address` and the driver at `host`.
struct DmaBuffer {
  std::span<std::byte> host;
  uint64_t device_address = 0;
};

// DMA memory for queues, PRP list pages and Identify buffers (never data:
// data buffers are the block::Segments callers hand in). In hcl this is
// the VTL2 GPA pool (nvme-vfio.md §8, "Reserved pool").
class DmaPool {
 public:
  virtual ~DmaPool() = default;
  // `bytes` is a nonzero multiple of 4096; the result is 4 KiB aligned in
  // device address space, contiguous, and at least `bytes` long. Contents
  // are unspecified (the driver zeroes what it needs).
  virtual base::Result<DmaBuffer> Allocate(size_t bytes) = 0;
  virtual void Free(const DmaBuffer& buffer) = 0;
};

}  // namespace nvme::driver
