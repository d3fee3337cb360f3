#include "paravisor/vmbus_server.h"

#include <array>
#include <cstdio>
#include <cstring>

namespace hcl {

::hv::Status VmbusServer::PostMessage(const Vtl0Memory& memory, uint64_t input_gpa) {
  struct Header {
    uint32_t connection_id;
    uint32_t reserved;
    uint32_t message_type;
    uint32_t payload_size;
  } header{};
  static_assert(sizeof(Header) == 16);
  // TLFS "Hypercall Inputs": 8-byte aligned, within one page.
  if ((input_gpa & 7) != 0 || (input_gpa & 0xFFF) + 256 > 4096)
    return ::hv::Status::kInvalidAlignment;
  if (!memory.Read(mem::Gpa{input_gpa}, std::as_writable_bytes(std::span(&header, 1))))
    return ::hv::Status::kInvalidParameter;
  // TLFS HvCallPostMessage: payload_size <= 240, message_type > 0 with the
  // top bit clear (hypervisor types are reserved).
  if (header.payload_size > ::hv::kMessagePayloadBytes || header.message_type == 0 ||
      (header.message_type & 0x80000000u) != 0)
    return ::hv::Status::kInvalidParameter;
  std::array<std::byte, ::hv::kMessagePayloadBytes> payload{};
  const auto bytes = std::span(payload).first(header.payload_size);
  if (!memory.Read(mem::Gpa{input_gpa + sizeof header}, bytes))
    return ::hv::Status::kInvalidParameter;
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
  // HvCallPostMessageDirect (hyperv-vmbus.md §2): {partition u64, vp u32,
  // vtl u8, pad[3], sint u8, pad[3], HvMessage (256 B), pad u32}.
  std::array<std::byte, 280> input{};
  const uint64_t partition = ::hv::kPartitionSelf;
  std::memcpy(input.data(), &partition, 8);
  std::memcpy(input.data() + 8, &message.target_vp, 4);
  input[12] = std::byte{0};  // VTL0
  input[16] = std::byte{message.sint};
  ::hv::MessageHeader header;
  header.type = message.message_type;
  header.payload_size = static_cast<uint8_t>(message.size_bytes);
  std::memcpy(input.data() + 20, &header, sizeof header);
  const auto payload = message.payload();
  std::memcpy(input.data() + 20 + sizeof header, payload.data(), payload.size());
  auto status = mshv_.Hypercall(static_cast<uint64_t>(::hv::CallCode::kPostMessageDirect), input, {});
  if (!status || *status != ::hv::Status::kSuccess)
    std::fprintf(stderr, "hcl: vmbus: reply to VP %u not delivered (status %#x)\n",
                 message.target_vp, status ? static_cast<unsigned>(*status) : 0xFFFFu);
}

}  // namespace hcl
