// Vtl0Memory: VTL0's RAM as hcl sees it: the ranges of hcl.vtl0_ram,
// mapped through the driver (MshvVtl::MapVtl0). Every access on VTL0's
// behalf goes through here and must lie inside one range: a GPA VTL0
// names (a page-table entry, a hypercall buffer) that is not VTL0 RAM,
// such as VTL2's own memory, is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace hcl {

class Vtl0Memory {
 public:
  void Add(mem::GuestMemory range) { ranges_.push_back(range); }
  bool Contains(uint64_t gpa, uint64_t bytes) const;
  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) const;
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in);
  // The highest VTL0 RAM address + 1.
  uint64_t end() const;

 private:
  // The range holding all of [gpa, gpa + bytes), if any.
  std::optional<size_t> Find(uint64_t gpa, uint64_t bytes) const;
  std::vector<mem::GuestMemory> ranges_;
};

}  // namespace hcl
