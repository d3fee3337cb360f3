// VmbusServer: the VMBus host side hcl offers VTL0 (hyperv-vmbus.md §5):
// the connection handshake (vmm-core/vmbus/connection.h) reached through
// the hypercall intercept for PostMessage/SignalEvent to connections the
// hypervisor does not know (TLFS "HvCallPostMessage"; OpenHCL's
// non-isolated path), replies delivered with HvCallPostMessageDirect into
// VTL0's SIMP. No channels are offered yet.
#pragma once

#include <cstdint>
#include <mutex>

#include "base/result.h"
#include "hv/hvdef.h"
#include "paravisor/vtl_driver.h"
#include "paravisor/vtl0_memory.h"
#include "vmbus/connection.h"

namespace hcl {

class VmbusServer {
 public:
  VmbusServer(const VtlDriver& mshv, uint32_t vp_count) : outbox_(mshv), connection_(vp_count) {}

  // HvCallPostMessage from VTL0: `input_gpa` is its input page (TLFS:
  // {connection_id u32, reserved u32, message_type u32, payload_size u32,
  // payload[240]}). Returns the hypercall status for VTL0.
  ::hv::Status PostMessage(const Vtl0Memory& memory, uint64_t input_gpa);
  // HvCallSignalEvent (fast: connection_id | flag << 32).
  ::hv::Status SignalEvent(uint64_t input);

 private:
  class DirectOutbox final : public vmbus::Outbox {
   public:
    explicit DirectOutbox(const VtlDriver& mshv) : mshv_(mshv) {}
    void Send(const vmbus::OutgoingMessage& message) override;

   private:
    const VtlDriver& mshv_;
  };

  std::mutex mutex_;
  DirectOutbox outbox_;
  vmbus::Connection connection_;  // guarded by mutex_
};

}  // namespace hcl
