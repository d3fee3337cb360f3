// GuestDma: what the loader's devices may reach by DMA in guest RAM.
//
// The `visible` predicate decides per page: VTL2's devices on a
// non-isolated partition reach all RAM (none); a device given to VTL0
// reaches only what VTL0 itself may touch (its RAM, under VTL2's
// protections: an assigned device must not be VTL0's way into VTL2);
// under --isolation vbs only pages made host-visible
// (HvCallModifySparseGpaPageHostVisibility; cvm-paravisor.md §3). A
// refused access fails that DMA, which the device reports as a
// data-transfer error.
//
// Two faces over one policy: nvme::DmaMemory (copies, for queue entries
// and PRP lists the controller parses) and a DmaWindow (host bytes, for
// the file back end's readv/writev of payload).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "base/rate_limited_log.h"
#include "devices/file_disk.h"
#include "mem/guest_memory.h"
#include "nvme/dma.h"

namespace loader::devices {

class GuestDma final : public nvme::DmaMemory {
 public:
  // Whether every page of [gpa, gpa + bytes) may be read (written, when
  // `device_writes`) by devices; null: all RAM may.
  using Visibility = std::function<bool(uint64_t gpa, uint64_t bytes, bool device_writes)>;

  GuestDma(mem::GuestMemory& memory, Visibility visible)
      : memory_(memory), visible_(std::move(visible)) {}

  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override;
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override;
  DmaWindow Window();

 private:
  base::Result<void> Check(mem::Gpa gpa, uint64_t bytes, bool device_writes) const;
  // A refused DMA fails a guest's I/O with a data-transfer error; the
  // first few are logged (the guest chooses the addresses, so rate-limited).
  template <typename T>
  base::Result<T> Logged(base::Result<T> result) const {
    if (!result) {
      const std::lock_guard lock(log_mutex_);
      log_.Print("hcl-loader: ", "device DMA refused: %s\n", result.error().message().c_str());
    }
    return result;
  }

  mem::GuestMemory& memory_;
  Visibility visible_;
  // Device threads and VP threads both reach DMA.
  mutable std::mutex log_mutex_;
  mutable base::RateLimitedLog log_{8};  // guarded by log_mutex_
};

}  // namespace loader::devices
