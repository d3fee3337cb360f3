// What hcl's VMBus devices touch on VTL0's behalf, all through the one
// VTL-aware gate (paravisor/vtl0_memory.h): ring pages (vmbus::PageAccess),
// SCSI data hcl itself produces or parses (scsi::GuestBuffer: INQUIRY
// data, UNMAP lists), and the data buffers a device DMAs into or out of
// (GatedBlockDevice: every segment must be VTL0 RAM that VTL0 may read,
// or write for a read from disk, before a back end is given it; a guest
// naming VTL2's pages in a GPA-direct range gets a data-transfer error,
// never a DMA into VTL2).
#pragma once

#include <cinttypes>
#include <span>

#include "block/device.h"
#include "paravisor/vtl0_memory.h"
#include "scsi/disk.h"
#include "vmbus/ring_memory.h"

namespace hcl {

class Vtl0PageAccess final : public vmbus::PageAccess {
 public:
  explicit Vtl0PageAccess(Vtl0Memory& memory) : memory_(memory) {}
  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override {
    return memory_.Read(gpa, out);
  }
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override {
    return memory_.Write(gpa, in);
  }
  base::Result<uint32_t> LoadAcquire32(mem::Gpa gpa) override { return memory_.LoadAcquire32(gpa); }
  base::Result<void> StoreRelease32(mem::Gpa gpa, uint32_t value) override {
    return memory_.StoreRelease32(gpa, value);
  }

 private:
  Vtl0Memory& memory_;
};

class Vtl0GuestBuffer final : public scsi::GuestBuffer {
 public:
  explicit Vtl0GuestBuffer(Vtl0Memory& memory) : memory_(memory) {}
  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override {
    return memory_.Read(gpa, out);
  }
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override {
    return memory_.Write(gpa, in);
  }

 private:
  Vtl0Memory& memory_;
};

// A block::Device that lets through only requests whose data segments VTL0
// may touch as the transfer will (a read from disk writes guest memory).
// FIXME: the check and the device's DMA are not atomic against a
// protection change hcl makes meanwhile; hcl changes protections only for
// VTL2's own use of VTL0 pages today (hcl.vtl0_deny, at start).
class GatedBlockDevice final : public block::Device {
 public:
  GatedBlockDevice(block::Device& inner, const Vtl0Memory& memory)
      : inner_(inner), memory_(memory) {}
  const block::Geometry& geometry() const override { return inner_.geometry(); }
  void Submit(block::Request request, uint32_t queue_hint, block::Completion done) override {
    const uint32_t needed = request.op == block::Op::kRead ? Vtl0Memory::kWrite : Vtl0Memory::kRead;
    for (const block::Segment& segment : request.segments) {
      if (!memory_.Allows(mem::ToU64(segment.gpa), segment.bytes, needed)) {
        done(block::Status::kDataTransfer);
        return;
      }
    }
    inner_.Submit(std::move(request), queue_hint, std::move(done));
  }
  void Plug() override { inner_.Plug(); }
  void Unplug() override { inner_.Unplug(); }

 private:
  block::Device& inner_;
  const Vtl0Memory& memory_;
};

}  // namespace hcl
