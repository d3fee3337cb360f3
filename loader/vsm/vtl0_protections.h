// Vtl0Protections: what HvCallModifyVtlProtectionMask (TLFS "Memory
// Protection", hyperv-vmbus.md §3.6) leaves VTL0 allowed to do with each
// page of its RAM, and the KVM memory-slot layout that enforces it in
// VTL0's VM: pages without read access are left out (every access exits,
// and reaches VTL2 as a GPA intercept), read-only pages go in read-only
// slots (stores exit), the rest is ordinary RAM. Sans I/O.
//
// Protection flags (HV_MAP_GPA_*): read 1, write 2, kernel execute 4,
// user execute 8. KVM has no execute-only or no-execute slots, so
// execute permission is not enforced (recorded, not applied): this
// loader's VTL0 gets "no access", "read-only" or "read-write".
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "hv/hvdef.h"

namespace loader::vsm {

class Vtl0Protections {
 public:
  static constexpr uint32_t kRead = 1, kWrite = 2, kKernelExecute = 4, kUserExecute = 8;
  static constexpr uint32_t kAll = kRead | kWrite | kKernelExecute | kUserExecute;
  // Only this many protected runs: each costs KVM memory slots (509 in all).
  static constexpr size_t kMaxProtectedPages = 256;

  struct Range {
    uint64_t gpa = 0;
    uint64_t size_bytes = 0;
  };
  struct Slot {
    uint64_t gpa = 0;
    uint64_t size_bytes = 0;
    bool read_only = false;
  };

  explicit Vtl0Protections(std::vector<Range> ram) : ram_(std::move(ram)) {}

  // Sets `flags` on every page of `gpns` (all VTL0 RAM, else
  // HV_STATUS_INVALID_PARAMETER and nothing changes; too many protected
  // pages: HV_STATUS_INSUFFICIENT_MEMORY).
  hv::Status Apply(std::span<const uint64_t> gpns, uint32_t flags);
  // The flags of page `gpn` (kAll for an unprotected VTL0 page).
  uint32_t Flags(uint64_t gpn) const;
  bool IsRam(uint64_t gpa) const;
  // The memory slots that enforce the current protections, sorted.
  std::vector<Slot> Layout() const;

 private:
  std::vector<Range> ram_;
  std::map<uint64_t, uint32_t> protected_;  // gpn -> flags, flags != kAll
};

}  // namespace loader::vsm
