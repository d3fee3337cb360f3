// HostVisibility: which guest pages the host's devices may reach by DMA on
// an isolated partition (--isolation vbs).
//
// On Hyper-V's isolated partitions guest RAM is private: the host, and so
// every device it emulates, may touch a page only after the guest made it
// host-visible with HvCallModifySparseGpaPageHostVisibility (0x00DB;
// cvm-paravisor.md §3). Every page starts private. The visibility per page
// is TLFS HV_MAP_GPA_*: 0 none, 1 readable, 3 readable and writable
// (2 alone is not a valid visibility). The loader's VTL2 NVMe controller
// asks Allows() before each DMA (devices/guest_dma.h); a refusal fails that
// command with a data-transfer error.
//
// Thread safe: VP threads change it (the hypercall), device threads read it.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "hv/hypercall_abi.h"
#include "hv/hvdef.h"

namespace loader::vsm {

class HostVisibility {
 public:
  static constexpr uint32_t kNone = hv::host_visibility::kNone;
  static constexpr uint32_t kReadable = hv::host_visibility::kReadable;
  static constexpr uint32_t kReadWrite = hv::host_visibility::kReadWrite;

  // RAM is [ram_base, ram_base + ram_bytes), page aligned; all private.
  HostVisibility(uint64_t ram_base, uint64_t ram_bytes);

  // The hypercall's effect: every GPN gets `visibility`, or none does
  // (a GPN outside RAM: kInvalidParameter; a visibility other than the
  // three above: kInvalidParameter). Re-applying a page's visibility is
  // not an error.
  hv::Status Modify(std::span<const uint64_t> gpns, uint32_t visibility);

  // Whether a device may read (or, with `device_writes`, write) every page
  // of [gpa, gpa + bytes). False for an empty, wrapping or non-RAM range.
  bool Allows(uint64_t gpa, uint64_t bytes, bool device_writes) const;

  // Pages visible now (any visibility): for logs and tests.
  uint64_t visible_pages() const;

 private:
  const uint64_t first_gpn_;
  const uint64_t page_count_;
  mutable std::mutex mutex_;
  std::vector<uint8_t> pages_;  // guarded by mutex_; one visibility per page
};

}  // namespace loader::vsm
