#include "devices/network_adapter.h"

#include <cstdio>

#include "rndis/message.h"

namespace hcl {
namespace {

// hyperv-vmbus.md §5.2: network f8615163-df3e-46c5-913f-f2d2f965ed0e, as
// its wire bytes.
constexpr vmbus::wire::Guid kNetworkInterfaceType{{0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46,
                                                   0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e}};
constexpr uint32_t kOpenFailed = 0xC0000001;
// The most one RNDIS_PKT may carry: a send section and up to 64 KiB of
// GPA-direct ranges (an LSO frame with its headers).
constexpr size_t kMaxRndisBytes = nvsp::Channel::kSendSectionBytes + (64u << 10) + 4096;
// Control replies kept while the guest holds every receive slot.
constexpr size_t kMaxWaitingReplies = 64;

}  // namespace

base::Result<std::unique_ptr<NetworkAdapter>> NetworkAdapter::Create(VmbusServer& server,
                                                                     Vtl0Memory& memory,
                                                                     const rndis::NicFacts& nic) {
  auto adapter = std::unique_ptr<NetworkAdapter>(new NetworkAdapter(server, memory, nic));
  vmbus::Offer offer;
  offer.interface_type = kNetworkInterfaceType;
  // An instance GUID of hcl's own: "hcl" in Data1, 'N' last.
  offer.interface_instance = {{'h', 'c', 'l', 0x00, 0x5c, 0x51, 0x00, 0x40, 0x80, 0x00, 0x00,
                               0x00, 0x00, 0x00, 0x01, 'N'}};
  TRY(server.AddChannel(offer, *adapter));
  return adapter;
}

NetworkAdapter::~NetworkAdapter() {
  for (auto& [relid, channel] : open_.TakeAll()) channel->rings->Stop();
}

uint32_t NetworkAdapter::OnOpen(const vmbus::OpenRequest& request) {
  if (request.sub_channel_index != 0) return kOpenFailed;  // none offered
  auto open = std::make_unique<Open>();
  if (!OpenRings(*open, memory_, server_, request, "netvsp")) return kOpenFailed;
  Open* raw = open.get();
  // The protocol asks for a GPADL's size; the copy is kept for the layout
  // that follows (the same message).
  open->protocol = std::make_unique<nvsp::Channel>(
      nvsp::Channel::Config{}, [this, raw](uint32_t gpadl) -> std::optional<uint64_t> {
        auto found = server_.FindGpadl(raw->relid, gpadl, raw->rings->stopping());
        if (!found) return std::nullopt;
        raw->looked_up = std::move(*found);
        uint64_t bytes = 0;
        for (const auto& range : raw->looked_up->ranges) bytes += range.byte_count;
        return bytes;
      });
  open->control = std::make_unique<rndis::Control>(nic_);
  open->rings->Start([this, raw](const vmbus::IncomingPacket& packet) { Handle(*raw, packet); });
  open_.Add(request.relid, std::move(open));
  return vmbus::wire::kStatusSuccess;
}

void NetworkAdapter::Handle(Open& open, const vmbus::IncomingPacket& packet) {
  auto complain = [&](const char* what) {
    const std::lock_guard lock(log_mutex_);
    log_.Print("hcl: netvsp: ", "channel %u: %s\n", open.relid, what);
  };
  if (packet.type == vmbus::PacketType::kCompletion) {
    // The guest is done with a receive slot (RNDIS_PKT_COMPLETE echoing
    // the transfer's ID); anything else is not ours to take.
    const auto parsed = nvsp::Parse(packet.payload);
    if (!parsed || !std::holds_alternative<nvsp::RndisPacketComplete>(*parsed) || !open.slots ||
        !open.slots->Complete(packet.transaction_id)) {
      complain("a completion for no receive the host sent");
      return;
    }
    DeliverWaiting(open);
    return;
  }
  if (packet.type != vmbus::PacketType::kDataInband &&
      packet.type != vmbus::PacketType::kDataUsingGpaDirect) {
    complain("a packet type netvsc does not send");
    return;
  }
  const nvsp::Outcome outcome = open.protocol->OnMessage(packet.payload, packet.completion_requested());
  if (outcome.result != nvsp::Result::kOk) complain(nvsp::Describe(outcome.result));
  if (outcome.completion)
    open.rings->Send(vmbus::PacketType::kCompletion, packet.transaction_id, *outcome.completion);
  if (outcome.receive_buffer && open.looked_up) {
    open.receive.emplace(memory_, *open.looked_up);
    open.slots.emplace(outcome.receive_buffer->section);
    std::printf("hcl: netvsp: channel %u: NVSP 0x%x, receive buffer %llu bytes (%u slots of %u)\n",
                open.relid, *open.protocol->version(),
                static_cast<unsigned long long>(open.receive->size()),
                outcome.receive_buffer->section.sub_allocations,
                outcome.receive_buffer->section.sub_allocation_bytes);
  }
  if (outcome.send_buffer && open.looked_up) open.send.emplace(memory_, *open.looked_up);
  if (!outcome.rndis) return;
  uint32_t status = nvsp::status::kSuccess;
  if (auto bytes = Gather(open, *outcome.rndis, packet)) {
    HandleRndis(open, *outcome.rndis, *bytes);
  } else {
    status = nvsp::status::kFailure;
    complain(bytes.error().message().c_str());
  }
  if (packet.completion_requested())
    open.rings->Send(vmbus::PacketType::kCompletion, packet.transaction_id,
                     nvsp::RndisPacketDone(status));
}

base::Result<std::vector<std::byte>> NetworkAdapter::Gather(Open& open,
                                                            const nvsp::RndisPacket& rndis,
                                                            const vmbus::IncomingPacket& packet) {
  // Copied out once, then parsed: the guest cannot change what was checked.
  std::vector<std::byte> bytes;
  if (rndis.section_index != nvsp::kNoSection) {
    if (!open.send) return base::Error("RNDIS packet in a send buffer that is gone");
    bytes.resize(rndis.section_size);
    TRY(open.send->Read(uint64_t{rndis.section_index} * nvsp::Channel::kSendSectionBytes, bytes));
  }
  for (const vmbus::GpaRange& range : packet.ranges) {
    if (range.byte_count > kMaxRndisBytes - bytes.size())
      return base::Error("RNDIS packet larger than any netvsc sends");
    const size_t start = bytes.size();
    bytes.resize(start + range.byte_count);
    uint64_t at = range.byte_offset, done = 0;
    for (uint64_t pfn : range.pfns) {
      if (done == range.byte_count) break;
      const uint64_t in_page = at % base::kPageSize;
      const uint64_t chunk = std::min<uint64_t>(base::kPageSize - in_page, range.byte_count - done);
      TRY(memory_.Read(mem::Gpa{pfn * base::kPageSize + in_page},
                       std::span(bytes).subspan(start + done, chunk)));
      done += chunk;
      at = 0;
    }
  }
  return bytes;
}

void NetworkAdapter::HandleRndis(Open& open, const nvsp::RndisPacket& rndis,
                                 std::span<const std::byte> bytes) {
  const auto messages = rndis::SplitMessages(bytes);
  if (!messages) {
    const std::lock_guard lock(log_mutex_);
    log_.Print("hcl: netvsp: ", "channel %u: %s\n", open.relid, messages.error().message().c_str());
    return;
  }
  for (const auto message : *messages) {
    if (rndis.channel_type == 1) {
      const rndis::ControlReply reply = open.control->OnMessage(message);
      if (!reply.message.empty()) Deliver(open, reply.message, 1);
      continue;
    }
    const auto frame = rndis::ParsePacket(message);
    if (!frame) {
      const std::lock_guard lock(log_mutex_);
      log_.Print("hcl: netvsp: ", "channel %u: %s\n", open.relid, frame.error().message().c_str());
      continue;
    }
    if (frames_from_guest_.fetch_add(1) == 0) {
      const unsigned type = frame->frame.size() >= 14
                                ? static_cast<unsigned>(frame->frame[12]) << 8 |
                                      static_cast<unsigned>(frame->frame[13])
                                : 0;
      std::printf("hcl: netvsp: first frame from VTL0: %zu bytes, ethertype 0x%04x (no back end "
                  "yet: dropped)\n",
                  frame->frame.size(), type);
    }
  }
}

void NetworkAdapter::Deliver(Open& open, std::span<const std::byte> message, uint32_t channel_type) {
  if (!open.slots || !open.receive) return;  // no receive buffer: nowhere to put it
  const auto slot = open.slots->Take();
  if (!slot) {
    if (open.waiting.size() < kMaxWaitingReplies) open.waiting.emplace_back(message.begin(), message.end());
    return;
  }
  if (message.size() > slot->capacity || !open.receive->Write(slot->byte_offset, message)) {
    (void)open.slots->Complete(slot->transaction_id);
    return;
  }
  const auto header = nvsp::ReceiveSlots::TransferHeader(slot->byte_offset,
                                                         static_cast<uint32_t>(message.size()));
  open.rings->Send(vmbus::PacketType::kDataUsingTransferPages,
                   vmbus::kPacketFlagCompletionRequested, slot->transaction_id, header,
                   nvsp::RndisPacketMessage(channel_type));
}

void NetworkAdapter::DeliverWaiting(Open& open) {
  while (!open.waiting.empty() && open.slots && open.slots->outstanding() < open.slots->limit()) {
    std::vector<std::byte> message = std::move(open.waiting.front());
    open.waiting.pop_front();
    Deliver(open, message, 1);
  }
}

void NetworkAdapter::OnClose(uint32_t relid) {
  if (std::unique_ptr<Open> open = open_.Remove(relid)) open->rings->Stop();
}

void NetworkAdapter::OnModify(uint32_t relid, uint32_t target_vp) { open_.Modify(relid, target_vp); }
void NetworkAdapter::OnSignal(uint32_t relid) { open_.Signal(relid); }
int NetworkAdapter::SignalFd(uint32_t relid) { return open_.SignalFd(relid); }

}  // namespace hcl
