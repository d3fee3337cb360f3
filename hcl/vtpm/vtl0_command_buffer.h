// The CRB's command/response buffer as hcl reaches it: the page of VTL0
// RAM at tpm::kCrbBufferGpa, through the memory gate (Vtl0Memory), so a
// page VTL0 may not read or write is refused like any other access.
#pragma once

#include "mem/guest_memory.h"
#include "paravisor/vtl0_memory.h"
#include "tpm/crb.h"
#include "tpm/platform.h"

namespace hcl::vtpm {

class Vtl0CommandBuffer final : public ::tpm::CommandBuffer {
 public:
  explicit Vtl0CommandBuffer(Vtl0Memory& memory) : memory_(memory) {}

  base::Result<void> Read(uint32_t offset, std::span<std::byte> out) override {
    if (offset > ::tpm::kCrbBufferBytes || out.size() > ::tpm::kCrbBufferBytes - offset)
      return base::Error("vtpm: outside the CRB buffer");
    return memory_.Read(mem::Gpa{::tpm::kCrbBufferGpa + offset}, out);
  }
  base::Result<void> Write(uint32_t offset, std::span<const std::byte> in) override {
    if (offset > ::tpm::kCrbBufferBytes || in.size() > ::tpm::kCrbBufferBytes - offset)
      return base::Error("vtpm: outside the CRB buffer");
    return memory_.Write(mem::Gpa{::tpm::kCrbBufferGpa + offset}, in);
  }

 private:
  Vtl0Memory& memory_;
};

}  // namespace hcl::vtpm
