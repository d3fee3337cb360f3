#include "paravisor/vmbus_server.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "base/page.h"
#include "hv/hypercall_abi.h"

namespace hcl {

::hv::Status VmbusServer::PostMessage(const Vtl0Memory& memory, uint64_t input_gpa) {
  // TLFS "Hypercall Inputs": 8-byte aligned, within one page. The whole
  // input page is copied once, through the VTL0 gate, then validated (no
  // second read of guest memory).
  if ((input_gpa & 7) != 0 ||
      base::PageOffset(input_gpa) + sizeof(::hv::PostMessageInput) > base::kPageSize)
    return ::hv::Status::kInvalidAlignment;
  ::hv::PostMessageInput input;
  if (!memory.Read(mem::Gpa{input_gpa}, std::as_writable_bytes(std::span(&input, 1))))
    return ::hv::Status::kInvalidParameter;
  // TLFS HvCallPostMessage: payload_size <= 240, message_type > 0 with the
  // top bit clear (hypervisor types are reserved). The connection core
  // checks these again; the glue only needs the size bound.
  if (input.payload_size > ::hv::kMessagePayloadBytes) return ::hv::Status::kInvalidParameter;
  const auto bytes = std::as_bytes(std::span(input.payload)).first(input.payload_size);
  const auto& header = input;
  std::lock_guard lock(mutex_);
  const vmbus::MessageResult result = connection_.OnPostMessage(
      vmbus::PostedMessage{header.connection_id, header.message_type, bytes}, outbox_);
  if (result != vmbus::MessageResult::kOk)
    std::fprintf(stderr, "hcl: vmbus: message on connection %u: %s\n", header.connection_id,
                 vmbus::Describe(result));
  return vmbus::HypercallStatus(result);
}

::hv::Status VmbusServer::SignalEvent(uint64_t input) {
  // No channels are open, so no connection takes events.
  (void)input;
  return ::hv::Status::kInvalidConnectionId;
}

void VmbusServer::DirectOutbox::Send(const vmbus::OutgoingMessage& message) {
  // HvCallPostMessageDirect (hv/hypercall_abi.h) into VTL0's SINT.
  ::hv::PostMessageDirectInput input;
  input.vp_index = message.target_vp;
  input.vtl = 0;
  input.sint = message.sint;
  ::hv::MessageHeader header;
  header.type = message.message_type;
  header.payload_size = static_cast<uint8_t>(message.size_bytes);
  const auto payload = message.payload();
  const auto out = std::as_writable_bytes(std::span(input.message));
  std::memcpy(out.data(), &header, sizeof header);
  std::memcpy(out.data() + sizeof header, payload.data(),
              std::min(payload.size(), out.size() - sizeof header));
  auto status = mshv_.Hypercall(static_cast<uint64_t>(::hv::CallCode::kPostMessageDirect),
                                std::as_bytes(std::span(&input, 1)), {});
  if (!status || *status != ::hv::Status::kSuccess)
    std::fprintf(stderr, "hcl: vmbus: reply to VP %u not delivered (status %#x)\n",
                 message.target_vp, status ? static_cast<unsigned>(*status) : 0xFFFFu);
}

}  // namespace hcl
