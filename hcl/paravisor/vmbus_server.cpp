#include "paravisor/vmbus_server.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <thread>
#include <chrono>

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
  const vmbus::MessageResult result = server_.OnPostMessage(
      vmbus::PostedMessage{header.connection_id, header.message_type, bytes}, outbox_);
  if (const auto connected = server_.connection()) sint_.store(connected->sint);
  if (result != vmbus::MessageResult::kOk && result != vmbus::MessageResult::kRefused)
    std::fprintf(stderr, "hcl: vmbus: message on connection %u: %s\n", header.connection_id,
                 vmbus::Describe(result));
  return vmbus::HypercallStatus(result);
}

::hv::Status VmbusServer::SignalEvent(uint64_t input) {
  // TLFS HvCallSignalEvent, fast: connection id in bits 0-31 (24 used),
  // flag number in bits 32-47; VMBus channels use flag 0 (hyperv-vmbus.md
  // §5.5).
  const auto connection_id = static_cast<uint32_t>(input);
  std::lock_guard lock(mutex_);
  const auto channel = server_.FindByConnectionId(connection_id);
  if (!channel) return ::hv::Status::kInvalidConnectionId;
  const auto device = devices_.find(channel->relid);
  if (device != devices_.end() && channel->open) device->second->OnSignal(channel->relid);
  return ::hv::Status::kSuccess;
}

base::Result<uint32_t> VmbusServer::AddChannel(const vmbus::Offer& offer, VmbusDevice& device) {
  std::lock_guard lock(mutex_);
  const uint32_t relid = TRY(server_.AddChannel(offer, device, outbox_));
  devices_[relid] = &device;
  return relid;
}

base::Result<std::vector<uint32_t>> VmbusServer::OfferSubChannels(
    uint32_t parent, uint16_t count, VmbusDevice& device, const std::atomic<bool>& cancel) {
  // The channel server's lock may be held by a close of this very channel,
  // which waits for the calling thread: give up then instead of waiting.
  std::unique_lock lock(mutex_, std::defer_lock);
  while (!lock.try_lock()) {
    if (cancel.load(std::memory_order_acquire)) return base::Error("channel closing");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto relids = TRY(server_.OfferSubChannels(parent, count, outbox_));
  for (uint32_t relid : relids) devices_[relid] = &device;
  return relids;
}

void VmbusServer::InterruptGuest(uint32_t relid, uint32_t target_vp) {
  // hyperv-vmbus.md §5.5: bit relid in SIEF area msg_sint of target_vp;
  // the hypervisor raises the SINT if the bit was newly set.
  ::hv::SignalEventDirectInput input;
  input.vp_index = target_vp;
  input.vtl = 0;
  input.sint = sint_.load();
  input.flag_number = static_cast<uint16_t>(relid);
  ::hv::SignalEventDirectOutput output;
  auto status = mshv_.Hypercall(static_cast<uint64_t>(::hv::CallCode::kSignalEventDirect),
                                std::as_bytes(std::span(&input, 1)),
                                std::as_writable_bytes(std::span(&output, 1)));
  if (!status || *status != ::hv::Status::kSuccess)
    std::fprintf(stderr, "hcl: vmbus: channel %u: interrupt to VP %u failed (status %#x)\n",
                 relid, target_vp, status ? static_cast<unsigned>(*status) : 0xFFFFu);
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
