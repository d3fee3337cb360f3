// GuestRam: guest RAM as one memfd and its shared mapping in this process.
//
// A memfd rather than anonymous memory so that the same pages can back
// memory slots in more than one VM (one KVM VM per VTL, DESIGN.md "The
// VTL2 interface") and, later, be handed to another process by fd. Pages
// are allocated by the kernel on first touch, so a large size costs
// nothing until the guest uses it.
//
// Access to the contents goes through mem::GuestMemory (STYLE.md P3);
// bytes() exists for that and for KVM_SET_USER_MEMORY_REGION.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "os/mapping.h"
#include "os/unique_fd.h"

namespace kvm {

class GuestRam {
 public:
  // size_bytes must be a non-zero multiple of 4 KiB.
  static base::Result<GuestRam> Create(uint64_t size_bytes);

  // Another mapping of the same pages (its own fd duplicate, its own
  // address range): one per VTL, so that one VTL's overlay pages
  // (vsm/vtl_view.h) replace pages in its mapping only.
  base::Result<GuestRam> Alias() const;

  uint64_t size_bytes() const { return mapping_.size_bytes(); }
  std::span<std::byte> bytes() const { return mapping_.bytes(); }
  os::Mapping& mapping() { return mapping_; }
  const os::UniqueFd& fd() const { return fd_; }

 private:
  GuestRam(os::UniqueFd fd, os::Mapping mapping) : fd_(std::move(fd)), mapping_(std::move(mapping)) {}
  os::UniqueFd fd_;
  os::Mapping mapping_;
};

}  // namespace kvm
