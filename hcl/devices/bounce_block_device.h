// BounceBlockDevice: a block::Device that moves a guest request's data
// through buffers of hcl's DMA pool instead of handing the guest's pages
// to the back end (cvm-paravisor.md §3, "Bouncing").
//
// Why: on an isolated partition (paravisor/isolation.h) VTL0's RAM is
// private, so the NVMe controller may not DMA into it; only the pool, which
// hcl made host-visible, is reachable. A write copies the guest's segments
// into pool pages before the back end sees the request; a read copies the
// pool pages out to the guest after the back end completed it. The guest's
// pages are reached only through `guest` (the VTL0 gate).
//
// Pool space: at most `budget_bytes` held at once (the pool is shared with
// the NVMe driver, which takes PRP list pages from it as it goes: bouncing
// must not starve it), one contiguous run per request when the pool has one, else
// page by page (several segments; the NVMe driver's PRPs take any page
// list). A request that finds too little free space waits, in arrival order
// (no overtaking, so a large request is not starved by small ones), until
// completions free enough. geometry() caps max_transfer_blocks at
// `max_request_bytes` (at most the budget) so every request fits an idle
// budget; a larger one is refused (kInvalid). A request that cannot get space while none of
// this device's requests is in flight (nothing will free any) fails with
// kAborted rather than wait forever.
//
// Thread safe: Submit from any ring thread, completions from the back end's.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "block/device.h"
#include "nvme/driver/os_interfaces.h"
#include "scsi/disk.h"

namespace hcl {

class BounceBlockDevice final : public block::Device {
 public:
  BounceBlockDevice(block::Device& inner, nvme::driver::DmaPool& pool, scsi::GuestBuffer& guest,
                    uint32_t max_request_bytes, uint64_t budget_bytes);

  const block::Geometry& geometry() const override { return geometry_; }
  void Submit(block::Request request, uint32_t queue_hint, block::Completion done) override;
  void Plug() override { inner_.Plug(); }
  void Unplug() override { inner_.Unplug(); }

  // Requests waiting for pool space now (tests, diagnostics).
  size_t waiting() const;

 private:
  struct Work {
    block::Request request;
    uint32_t queue_hint = 0;
    block::Completion done;
  };
  using Buffers = std::vector<nvme::driver::DmaBuffer>;

  std::optional<Buffers> ReserveLocked(uint64_t bytes);
  void Release(const Buffers& buffers);
  // A started request of `bytes` is done with its space.
  void Finish(const Buffers& buffers, uint64_t bytes);
  void Start(Work work, Buffers buffers);
  // Starts waiting requests while pool space lasts.
  void Drain();
  // Copies `bytes` between the guest's segments and the buffers, in order.
  base::Result<void> Copy(const std::vector<block::Segment>& guest, const Buffers& buffers,
                          uint64_t bytes, bool to_buffers);

  block::Device& inner_;
  nvme::driver::DmaPool& pool_;
  scsi::GuestBuffer& guest_;
  block::Geometry geometry_;
  const uint32_t max_request_bytes_;
  mutable std::mutex mutex_;
  std::deque<Work> waiting_;  // guarded by mutex_
  uint32_t in_flight_ = 0;    // guarded by mutex_; requests holding pool space
  const uint64_t budget_bytes_;
  uint64_t held_bytes_ = 0;   // guarded by mutex_; <= budget_bytes_
};

}  // namespace hcl
