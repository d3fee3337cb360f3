#include "devices/network_adapter.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "base/le_bytes.h"
#include "base/string_printf.h"
#include "net/tx_offload.h"
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
constexpr size_t kEthernetHeaderBytes = 14;
constexpr size_t kVlanTagBytes = 4;  // 802.1Q, if the guest tags in band

}  // namespace

// The bytes of one RNDIS_PKT where the guest put them: a section of the
// send buffer, then GPA ranges (hv_netvsc: an LSO frame's pages), as one
// run of bytes read piecewise through the VTL0 gate. The ranges are the
// packet's own copy (the ring reader's); the section's buffer is held.
class NetworkAdapter::PacketBytes {
 public:
  PacketBytes(Vtl0Memory& memory, std::shared_ptr<const GpadlBuffer> send, uint64_t section_offset,
              size_t section_bytes, const std::vector<vmbus::GpaRange>& ranges)
      : memory_(memory), send_(std::move(send)), section_offset_(section_offset),
        section_bytes_(section_bytes), ranges_(ranges), size_(section_bytes) {
    for (const vmbus::GpaRange& range : ranges_) size_ += range.byte_count;
  }
  size_t size() const { return size_; }

  base::Result<void> Read(size_t offset, std::span<std::byte> out) const {
    if (!base::RangeFits<size_t>(offset, out.size(), size_))
      return base::Error::Format("RNDIS bytes %zu+%zu past the packet's %zu", offset, out.size(),
                                 size_);
    size_t done = 0;
    if (offset < section_bytes_) {
      const size_t chunk = std::min(out.size(), section_bytes_ - offset);
      TRY(send_->Read(section_offset_ + offset, out.first(chunk)));
      done = chunk;
      offset = 0;
    } else {
      offset -= section_bytes_;
    }
    if (done < out.size()) TRY(ReadGpaRanges(memory_, ranges_, offset, out.subspan(done)));
    return base::Ok();
  }
  // The guest-physical pieces of [offset, offset + length), at most
  // `max_pieces`, each RAM VTL0 may read now (GpaRangePieces): for a
  // device that reads them in place.
  base::Result<std::vector<block::Segment>> Pieces(size_t offset, size_t length,
                                                   size_t max_pieces) const {
    if (!base::RangeFits<size_t>(offset, length, size_))
      return base::Error::Format("RNDIS bytes %zu+%zu past the packet's %zu", offset, length, size_);
    std::vector<block::Segment> pieces;
    if (offset < section_bytes_) {
      const size_t chunk = std::min(length, section_bytes_ - offset);
      TRY(send_->Pieces(section_offset_ + offset, chunk, max_pieces, pieces));
      length -= chunk;
      offset = 0;
    } else {
      offset -= section_bytes_;
    }
    if (length != 0) TRY(GpaRangePieces(memory_, ranges_, offset, length, max_pieces, pieces));
    return pieces;
  }

 private:
  Vtl0Memory& memory_;
  std::shared_ptr<const GpadlBuffer> send_;
  uint64_t section_offset_;
  size_t section_bytes_;
  const std::vector<vmbus::GpaRange>& ranges_;
  size_t size_;
};

base::Result<std::unique_ptr<NetworkAdapter>> NetworkAdapter::Create(VmbusServer& server,
                                                                     Vtl0Memory& memory,
                                                                     const rndis::NicFacts& nic,
                                                                     FramePort* port,
                                                                     uint32_t vp_count) {
  rndis::NicFacts facts = nic;
  // One channel per VP, as many as hv_netvsc opens by default (its
  // VRSS_CHANNEL_DEFAULT, 8): RSS's receive queues.
  facts.receive_queues = std::clamp<uint32_t>(vp_count, 1, rndis::kMaxReceiveQueues);
  if (port != nullptr) {
    facts.mac = port->mac();
    facts.mtu = port->mtu();
    facts.link_up = true;  // media connect, as unbacked
    facts.offloads = port->offloads();
    facts.lso_max_bytes = kLsoMaxPayloadBytes;  // what the port takes (frame_port.h)
  }
  auto adapter = std::unique_ptr<NetworkAdapter>(new NetworkAdapter(server, memory, facts, port));
  vmbus::Offer offer;
  offer.interface_type = kNetworkInterfaceType;
  // An instance GUID of hcl's own: "hcl" in Data1, 'N' last.
  offer.interface_instance = {{'h', 'c', 'l', 0x00, 0x5c, 0x51, 0x00, 0x40, 0x80, 0x00, 0x00,
                               0x00, 0x00, 0x00, 0x01, 'N'}};
  TRY(server.AddChannel(offer, *adapter));
  adapter->rx_gate_->adapter = adapter.get();
  if (port != nullptr) {
    // The port may outlive us: it reaches the adapter only through the gate.
    port->SetReceiver([gate = adapter->rx_gate_](std::span<const std::byte> frame,
                                                 const ReceivedFrameInfo& info) {
      const std::lock_guard lock(gate->mutex);
      if (gate->adapter != nullptr) gate->adapter->Receive(frame, info);
    });
    port->SetLinkListener([gate = adapter->rx_gate_](bool up) {
      const std::lock_guard lock(gate->mutex);
      if (gate->adapter != nullptr) gate->adapter->SetLink(up);
    });
  }
  return adapter;
}

void NetworkAdapter::SetLink(bool up) {
  const std::lock_guard lock(mutex_);
  if (link_up_ == up) return;
  link_up_ = up;
  // Before INITIALIZE the guest learns it from its first media query.
  if (!control_ || !control_->initialized()) {
    if (control_) (void)control_->SetLink(up);
    return;
  }
  SendControlLocked(0, control_->SetLink(up));
}

void NetworkAdapter::SendControlLocked(uint32_t channel, std::vector<std::byte> message) {
  if (waiting_replies_.empty() && DeliverLocked(channel, message, 1) != Delivery::kNoSlot) return;
  if (waiting_replies_.size() < kMaxWaitingReplies)
    waiting_replies_.push_back({std::move(message), 0, channel});
}

NetworkAdapter::~NetworkAdapter() {
  // The device may still read frames in place from pages the guest gets
  // back when they complete.
  WaitForInPlaceFrames();
  {
    // After this no frame is being received, and none will be.
    const std::lock_guard lock(rx_gate_->mutex);
    rx_gate_->adapter = nullptr;
  }
  {
    const std::lock_guard lock(mutex_);
    channels_.fill(nullptr);
  }
  for (auto& [relid, channel] : open_.TakeAll()) channel->rings->Stop();
}

uint32_t NetworkAdapter::OnOpen(const vmbus::OpenRequest& request) {
  const uint32_t index = request.sub_channel_index;
  if (index >= nic_.receive_queues) return kOpenFailed;  // never offered
  std::optional<nvsp::Channel::SubChannelOf> basis;
  if (index != 0) {
    // Offered only once the primary was ready; gone if it closed or the
    // guest revoked its buffers since.
    const std::lock_guard lock(mutex_);
    if (channels_[0] == nullptr || !sub_channel_basis_) return kOpenFailed;
    basis = *sub_channel_basis_;
  }
  auto open = std::make_unique<Open>();
  open->index = index;
  open->generation = next_generation_.fetch_add(1);
  if (!OpenRings(*open, memory_, server_, request, "netvsp")) return kOpenFailed;
  Open* raw = open.get();
  // Sub-channels: one per further receive queue; the guest asks for
  // min(8, its CPUs, queues) - 1 (mana-netvsc.md §5 "Subchannels").
  const nvsp::Channel::Config config{.max_sub_channels = nic_.receive_queues - 1};
  if (index == 0) {
    // The protocol asks for a GPADL's size; the copy is kept for the
    // layout that follows (the same message). On the channel's thread, no
    // lock held.
    open->protocol = std::make_unique<nvsp::Channel>(
        config, [this, raw](uint32_t gpadl) -> std::optional<uint64_t> {
          auto found = server_.FindGpadl(raw->relid, gpadl, raw->rings->stopping());
          if (!found) return std::nullopt;
          raw->looked_up = std::move(*found);
          uint64_t bytes = 0;
          for (const auto& range : raw->looked_up->ranges) bytes += range.byte_count;
          return bytes;
        });
  } else {
    open->protocol = std::make_unique<nvsp::Channel>(config, *basis);
  }
  {
    const std::lock_guard lock(mutex_);
    if (channels_[index] != nullptr) return kOpenFailed;  // the server opens a relid once
    channels_[index] = raw;
    if (index == 0) {
      // A new primary: the guest starts over (hv_netvsc probes again).
      DropReceiveBufferLocked();
      send_.reset();
      sub_channel_basis_.reset();
      rndis::NicFacts facts = nic_;
      facts.link_up = link_up_;
      control_ = std::make_unique<rndis::Control>(facts);
    }
  }
  open->rings->Start([this, raw](const vmbus::IncomingPacket& packet) { Handle(*raw, packet); });
  open_.Add(request.relid, std::move(open));
  return vmbus::wire::kStatusSuccess;
}

void NetworkAdapter::Complain(const Open& open, const char* what) {
  const std::lock_guard lock(log_mutex_);
  log_.Print("hcl: netvsp: ", "channel %u: %s", open.relid, what);
}

void NetworkAdapter::Handle(Open& open, const vmbus::IncomingPacket& packet) {
  if (packet.type == vmbus::PacketType::kCompletion) {
    // The guest is done with a receive slot (RNDIS_PKT_COMPLETE echoing
    // the transfer's ID, on the channel it went out on); anything else is
    // not ours to take.
    const auto parsed = nvsp::Parse(packet.payload);
    const std::lock_guard lock(mutex_);
    if (!parsed || !std::holds_alternative<nvsp::RndisPacketComplete>(*parsed) || !slots_ ||
        !slots_->Complete(packet.transaction_id, open.index)) {
      Complain(open, "a completion for no receive the host sent on this channel");
      return;
    }
    DeliverWaitingLocked();
    return;
  }
  if (packet.type != vmbus::PacketType::kDataInband &&
      packet.type != vmbus::PacketType::kDataUsingGpaDirect) {
    Complain(open, "a packet type netvsc does not send");
    return;
  }
  // The NVSP state is the channel thread's only, and no lock is held here:
  // the GPADL lookup waits for the server's lock, which OnClose holds while
  // it waits for mutex_.
  const nvsp::Outcome outcome =
      open.protocol->OnMessage(packet.payload, packet.completion_requested());
  if (outcome.result != nvsp::Result::kOk) Complain(open, nvsp::Describe(outcome.result));
  if (outcome.completion)
    open.rings->Send(vmbus::PacketType::kCompletion, packet.transaction_id, *outcome.completion);
  if (outcome.offer_sub_channels != 0) {
    // mana-netvsc.md §5 "Subchannels" step 2: the completion {1, m}, then
    // m offers, from this thread with no lock held (VmbusServer's rule).
    auto offered = server_.OfferSubChannels(open.relid,
                                            static_cast<uint16_t>(outcome.offer_sub_channels),
                                            *this, open.rings->stopping());
    if (offered) {
      std::printf("hcl: netvsp: channel %u: %u sub-channels offered\n", open.relid,
                  outcome.offer_sub_channels);
    } else {
      std::fprintf(stderr, "hcl: netvsp: sub-channels: %s\n", offered.error().message().c_str());
    }
  }
  if (open.index == 0) UpdateBuffers(open, outcome);
  const std::optional<nvsp::RndisPacket>& rndis = outcome.rndis;
  if (!rndis) return;
  auto pending = std::make_shared<PendingSend>();
  pending->channel = open.index;
  pending->generation = open.generation;
  pending->transaction_id = packet.transaction_id;
  pending->completion_requested = packet.completion_requested();
  pending->status = nvsp::status::kSuccess;
  auto sent = [&]() -> base::Result<void> {
    const PacketBytes bytes = TRY(Locate(*rndis, packet));
    if (rndis->channel_type != 1) return TransmitPackets(open, bytes, pending);
    // Control: copied out once, then parsed (the guest cannot change what
    // was checked).
    std::vector<std::byte> copy(bytes.size());
    TRY(bytes.Read(0, copy));
    HandleControl(open, copy);
    return base::Ok();
  }();
  if (!sent) {
    pending->status = nvsp::status::kFailure;
    Complain(open, sent.error().message().c_str());
  }
  ReleaseSend(&open, *pending);
}

void NetworkAdapter::ReleaseSend(Open* open, PendingSend& pending) {
  if (pending.holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // mana-netvsc.md §5 TX: type 11 + NVSP 108 on the same channel, which
  // releases the section (and the GPA-direct pages) to the guest.
  if (!pending.completion_requested) return;
  const auto done = nvsp::RndisPacketDone(pending.status.load());
  if (open != nullptr) {
    open->rings->Send(vmbus::PacketType::kCompletion, pending.transaction_id, done);
    return;
  }
  // The port's thread: the channel may have closed (its completions went
  // with its ring) or opened again since (not this packet's channel).
  const std::lock_guard lock(mutex_);
  Open* found = channels_[pending.channel];
  if (found != nullptr && found->generation == pending.generation)
    found->rings->Send(vmbus::PacketType::kCompletion, pending.transaction_id, done);
}

void NetworkAdapter::WaitForInPlaceFrames() {
  // A device that answers at all completes a frame in microseconds; one
  // that does not is failed by its driver, which finishes them unsent.
  constexpr auto kPatience = std::chrono::seconds(2);
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (tx_in_place_out_.load() != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "hcl: netvsp: %llu frames still out in place after 2 s\n",
                   static_cast<unsigned long long>(tx_in_place_out_.load()));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void NetworkAdapter::UpdateBuffers(Open& open, const nvsp::Outcome& outcome) {
  const bool send_gone = open.send_mapped && !open.protocol->send_buffer();
  const bool send_new = outcome.send_buffer && open.looked_up;
  const bool receive_gone = open.receive_mapped && !open.protocol->receive_buffer();
  const bool receive_new = outcome.receive_buffer && open.looked_up;
  if (!send_gone && !send_new && !receive_gone && !receive_new) return;
  // Revoked: the guest may reuse those pages once told; the device must
  // be done reading frames from them first.
  if (send_gone) WaitForInPlaceFrames();
  const std::lock_guard lock(mutex_);
  if (send_gone) {
    send_.reset();
    sub_channel_basis_.reset();
  }
  if (send_new) {
    send_ = std::make_shared<const GpadlBuffer>(memory_, *open.looked_up);
    sub_channel_basis_ = nvsp::Channel::SubChannelOf{*open.protocol->version(), *outcome.send_buffer};
  }
  // Revoked (teardown): the guest may free those pages; never write them
  // again.
  if (receive_gone) DropReceiveBufferLocked();
  if (receive_new) {
    receive_.emplace(memory_, *open.looked_up);
    slots_.emplace(outcome.receive_buffer->section);
    slot_bytes_ = outcome.receive_buffer->section.sub_allocation_bytes;
    std::printf("hcl: netvsp: channel %u: NVSP 0x%x, receive buffer %llu bytes (%u slots of %u)\n",
                open.relid, *open.protocol->version(),
                static_cast<unsigned long long>(receive_->size()),
                outcome.receive_buffer->section.sub_allocations,
                outcome.receive_buffer->section.sub_allocation_bytes);
  }
  open.send_mapped = send_ != nullptr;
  open.receive_mapped = receive_.has_value();
}

base::Result<NetworkAdapter::PacketBytes> NetworkAdapter::Locate(
    const nvsp::RndisPacket& rndis, const vmbus::IncomingPacket& packet) {
  std::shared_ptr<const GpadlBuffer> send;
  size_t section_bytes = 0;
  uint64_t section_offset = 0;
  if (rndis.section_index != nvsp::kNoSection) {
    {
      const std::lock_guard lock(mutex_);
      send = send_;
    }
    if (!send) return base::Error("RNDIS packet in a send buffer that is gone");
    section_bytes = rndis.section_size;
    section_offset = uint64_t{rndis.section_index} * nvsp::Channel::kSendSectionBytes;
  }
  PacketBytes bytes(memory_, std::move(send), section_offset, section_bytes, packet.ranges);
  if (bytes.size() > kMaxRndisBytes) return base::Error("RNDIS packet larger than any netvsc sends");
  return bytes;
}

void NetworkAdapter::HandleControl(Open& open, std::span<const std::byte> bytes) {
  const auto messages = rndis::SplitMessages(bytes);
  if (!messages) {
    Complain(open, messages.error().message().c_str());
    return;
  }
  for (const auto message : *messages) {
    const std::lock_guard lock(mutex_);
    if (!control_) return;  // the primary closed under us
    rndis::ControlReply reply = control_->OnMessage(message);
    if (!reply.message.empty()) SendControlLocked(open.index, std::move(reply.message));
  }
}

void NetworkAdapter::CountMalformed(const Open& open, const char* what) {
  counters_.tx_malformed.fetch_add(1, std::memory_order_relaxed);
  Complain(open, what);
}

base::Result<void> NetworkAdapter::TransmitPackets(Open& open, const PacketBytes& bytes,
                                                   const std::shared_ptr<PendingSend>& pending) {
  // rndis::SplitMessages' walk, a message at a time (rndis::MessageLengthAt):
  // only headers and per-packet info are copied out here.
  constexpr size_t kMaxHeadBytes = 1024;  // hv_netvsc's PPIs take about 80
  const size_t total = bytes.size();
  size_t at = 0, messages = 0;
  while (total - at >= rndis::kHeaderBytes) {
    std::array<std::byte, rndis::kPacketFixedBytes> fixed{};
    const auto first = std::span(fixed).first(std::min(fixed.size(), total - at));
    TRY(bytes.Read(at, first));
    const rndis::Header header = TRY(rndis::ParseHeader(first));  // first holds >= 8 bytes
    const uint32_t type = header.type;
    auto length = rndis::MessageLengthAt(header, at, total);
    if (!length) {
      CountMalformed(open, length.error().message().c_str());
      return base::Ok();
    }
    if (*length == 0) break;  // padding
    const size_t start = at;
    at += *length;
    ++messages;
    if (type != rndis::msg::kPacket) {
      CountMalformed(open, "an RNDIS message other than PACKET on the data path");
      continue;
    }
    const auto head_bytes = rndis::PacketHeadBytes(first, *length);
    if (!head_bytes || *head_bytes > kMaxHeadBytes) {
      CountMalformed(open, head_bytes ? "RNDIS per-packet info larger than netvsc sends"
                                      : head_bytes.error().message().c_str());
      continue;
    }
    std::vector<std::byte> head(*head_bytes);
    std::copy(first.begin(), first.end(), head.begin());
    TRY(bytes.Read(start + first.size(), std::span(head).subspan(first.size())));
    const auto layout = rndis::ParsePacketHead(head, *length);
    if (!layout) {
      CountMalformed(open, layout.error().message().c_str());
      continue;
    }
    SendFrame(open, layout->infos, bytes, start + layout->frame_offset, layout->frame_length,
              pending);
  }
  // As SplitMessages: what follows the last message is zero padding, and
  // there was a message.
  if (at < total) {
    std::vector<std::byte> rest(total - at);
    TRY(bytes.Read(at, rest));
    if (!std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; })) {
      CountMalformed(open, "stray bytes after the last RNDIS message");
      return base::Ok();
    }
  }
  if (messages == 0) CountMalformed(open, "an RNDIS packet with no message");
  return base::Ok();
}

void NetworkAdapter::SendFrame(Open& open, std::span<const rndis::PerPacketInfo> infos,
                               const PacketBytes& bytes, size_t frame_at, size_t frame_bytes,
                               const std::shared_ptr<PendingSend>& pending) {
  // The frame's first out.size() bytes, from the guest's memory.
  const FramePort::FrameReader read = [&bytes, frame_at](std::span<std::byte> out) {
    return bytes.Read(frame_at, out);
  };
  if (tx_parsed_.fetch_add(1) == 0) {
    // The first frame is read once more, for its ethertype in the log.
    std::vector<std::byte> frame(frame_bytes);
    const bool readable = frame_bytes >= 14 && read(frame).ok();
    const unsigned type =
        readable ? static_cast<unsigned>(frame[12]) << 8 | static_cast<unsigned>(frame[13]) : 0;
    std::printf("hcl: netvsp: first frame from VTL0: %zu bytes, ethertype 0x%04x%s\n",
                frame_bytes, type, port_ == nullptr ? " (no back end: dropped)" : "");
  }
  // Per-packet info (mana-netvsc.md §5 "TX"): with offloads advertised
  // (the port does them), hv_netvsc asks for checksums (type 0) and TCP
  // segmentation (LSOv2, type 2); both are checked against the frame
  // before the port sees them. Without, any such info asks for nothing we
  // do and is ignored. A frame past the MTU (plus an in-band 802.1Q tag)
  // that is not LSO is a lie: dropped, not trusted.
  TxOffload offload;
  for (const rndis::PerPacketInfo& info : infos) {
    uint32_t value = 0;
    if (info.internal || !base::LoadLe<uint32_t>(info.payload, 0, value)) continue;
    if (info.type == rndis::ppi::kVlan) {
      // NDIS_NET_BUFFER_LIST_8021Q_INFO (mana-netvsc.md §5 "TX"): priority
      // 2:0, CFI 3, VLAN ID 15:4. hv_netvsc always has VLAN tag offload,
      // so a tagged frame's tag is only here: insert it, offloads or not.
      offload.insert_vlan = true;
      offload.vlan_tci = static_cast<uint16_t>((value & 7) << 13 | ((value >> 3) & 1) << 12 |
                                               ((value >> 4) & 0xFFF));
    } else if (nic_.offloads) {
      if (info.type == rndis::ppi::kChecksum) {
        // NDIS_TCP_IP_CHECKSUM_PACKET_INFO transmit: v4 0, v6 1, tcp 2,
        // udp 3, header offset 25:16.
        offload.ipv4 = (value & 1) != 0;
        offload.ipv6 = (value & 2) != 0;
        offload.tcp_checksum = (value & 4) != 0;
        offload.udp_checksum = (value & 8) != 0 && !offload.tcp_checksum;
        offload.l4_offset = static_cast<uint16_t>((value >> 16) & 0x3FF);
      } else if (info.type == rndis::ppi::kLsoV2) {
        // NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO v2: MSS 19:0,
        // TCP header offset 29:20, type 30 (v2), IP version 31 (1: IPv6).
        offload.lso_mss = value & 0xFFFFF;
        offload.l4_offset = static_cast<uint16_t>((value >> 20) & 0x3FF);
        offload.ipv6 = (value >> 31) != 0;
        offload.ipv4 = !offload.ipv6;
        offload.tcp_checksum = true;
        offload.udp_checksum = false;
      }
    }
  }
  const size_t max_bytes = offload.lso_mss != 0
                               ? kMaxLsoFrameBytes
                               : size_t{nic_.mtu} + kEthernetHeaderBytes + kVlanTagBytes;
  if (frame_bytes < kEthernetHeaderBytes || frame_bytes > max_bytes) {
    counters_.tx_bad_size.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // An offload whose header offset or MSS does not fit the frame: the
  // guest's lie, dropped here rather than handed to a device.
  if (offload.any() &&
      (offload.l4_offset < kEthernetHeaderBytes || offload.l4_offset + 8u > frame_bytes ||
       (offload.lso_mss != 0 && (offload.lso_mss < 64 || offload.lso_mss > 0x3FFF)))) {
    CountMalformed(open, "checksum or LSO information that does not fit the frame");
    return;
  }
  if (port_ == nullptr) {
    counters_.tx_no_port.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // No lock held: the port may block briefly or call back.
  size_t sent_bytes = frame_bytes;
  bool taken = false;
  if (offload.insert_vlan && !nic_.offloads) {
    // A port without offloads gets the tag in the frame: read here, the
    // tag inserted, then the port's own copy.
    std::vector<std::byte> tagged(frame_bytes);
    if (!read(tagged) || !net::InsertVlanTag(tagged, offload.vlan_tci)) {
      CountMalformed(open, "a tagged frame that could not be read or tagged");
      return;
    }
    offload.insert_vlan = false;
    sent_bytes = tagged.size();
    taken = port_->Transmit(tagged, offload);
  } else if (!SendInPlace(bytes, frame_at, frame_bytes, read, offload, pending, taken)) {
    taken = port_->TransmitFrom(frame_bytes, read, offload);
  }
  if (!taken) {
    counters_.tx_refused.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  counters_.tx_frames.fetch_add(1, std::memory_order_relaxed);
  counters_.tx_bytes.fetch_add(sent_bytes, std::memory_order_relaxed);
}

bool NetworkAdapter::SendInPlace(const PacketBytes& bytes, size_t frame_at, size_t frame_bytes,
                                 const FramePort::FrameReader& read, const TxOffload& offload,
                                 const std::shared_ptr<PendingSend>& pending, bool& taken) {
  constexpr size_t kHead = FramePort::kInPlaceHeadBytes;
  if (!port_->reads_in_place() || frame_bytes <= kHead) return false;
  // Pieces the device may read, each checked VTL0 RAM that VTL0 may read
  // (never VTL2's memory, never a page VTL2 denied VTL0); a frame in more
  // pieces than the port takes is copied instead.
  auto rest = bytes.Pieces(frame_at + kHead, frame_bytes - kHead, FramePort::kMaxInPlacePieces);
  if (!rest) return false;
  pending->holds.fetch_add(1, std::memory_order_relaxed);
  tx_in_place_out_.fetch_add(1);
  taken = port_->TransmitInPlace(frame_bytes, read, *rest, offload,
                                 [gate = rx_gate_, pending](bool) {
                                   const std::lock_guard lock(gate->mutex);
                                   if (gate->adapter == nullptr) return;
                                   gate->adapter->tx_in_place_out_.fetch_sub(1);
                                   gate->adapter->ReleaseSend(nullptr, *pending);
                                 });
  if (taken) {
    if (counters_.tx_in_place.fetch_add(1, std::memory_order_relaxed) == 0)
      std::printf("hcl: netvsp: zero copy: the device reads frames in place (the first: %zu "
                  "bytes, %zu pieces after its %zu-byte head)\n",
                  frame_bytes, rest->size(), kHead);
  } else {
    // Refused: done never runs. The channel's thread still holds the
    // packet, so this is not its last hold.
    tx_in_place_out_.fetch_sub(1);
    pending->holds.fetch_sub(1, std::memory_order_relaxed);
  }
  return true;
}

void NetworkAdapter::Receive(std::span<const std::byte> frame, const ReceivedFrameInfo& info) {
  if (frame.size() < kEthernetHeaderBytes) {
    counters_.rx_bad_size.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::lock_guard lock(mutex_);
  if (channels_[0] == nullptr || !slots_ || !receive_ || !control_ || !control_->initialized()) {
    counters_.rx_not_ready.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!control_->Accepts(frame)) {
    counters_.rx_filtered.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // mana-netvsc.md §5 RX: NDIS_TCP_IP_CHECKSUM_PACKET_INFO, receive bits
  // tcp_ok 3, udp_ok 4, ip_ok 5; only what the device verified.
  std::vector<rndis::OutgoingInfo> infos;
  uint32_t checksum = 0;
  if (info.tcp_checksum_ok) checksum |= 1u << 3;
  if (info.udp_checksum_ok) checksum |= 1u << 4;
  if (info.ip_checksum_ok) checksum |= 1u << 5;
  const auto u32_info = [](uint32_t type, uint32_t value) {
    rndis::OutgoingInfo ppi{type, std::vector<std::byte>(4)};
    for (size_t i = 0; i < 4; ++i) ppi.payload[i] = static_cast<std::byte>(value >> (8 * i));
    return ppi;
  };
  if (checksum != 0) infos.push_back(u32_info(rndis::ppi::kChecksum, checksum));
  // RSS: the guest's table picks the channel; the hash goes along
  // (NBL_HASH_VALUE, which hv_netvsc makes the skb's hash).
  const rndis::RssChoice choice = control_->ReceiveQueue(frame);
  if (choice.hash) infos.push_back(u32_info(rndis::ppi::kHashValue, *choice.hash));
  std::vector<std::byte> message = rndis::BuildPacket(frame, infos);
  if (message.size() > slot_bytes_) {
    counters_.rx_bad_size.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Frames keep their order: behind any already waiting.
  if (waiting_frames_.empty()) {
    const Delivery delivery = DeliverLocked(choice.queue, message, 0);
    if (delivery != Delivery::kNoSlot) {
      CountDelivery(delivery, frame.size());
      return;
    }
  }
  if (waiting_frames_.size() >= kMaxWaitingFrames ||
      message.size() > kMaxWaitingFrameBytes - waiting_frame_bytes_) {
    counters_.rx_overflow.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  waiting_frame_bytes_ += message.size();
  waiting_frames_.push_back({std::move(message), frame.size(), choice.queue});
}

NetworkAdapter::Delivery NetworkAdapter::DeliverLocked(uint32_t channel,
                                                       std::span<const std::byte> message,
                                                       uint32_t channel_type) {
  // A channel the guest has not opened (or closed): the primary.
  Open* open = channel < channels_.size() ? channels_[channel] : nullptr;
  if (open == nullptr) open = channels_[0];
  if (open == nullptr || !slots_ || !receive_) return Delivery::kNoBuffer;  // nowhere to put it
  const auto slot = slots_->Take(open->index);
  if (!slot) return Delivery::kNoSlot;
  if (message.size() > slot->capacity) {
    (void)slots_->Complete(slot->transaction_id, open->index);
    return Delivery::kTooLarge;
  }
  if (!receive_->Write(slot->byte_offset, message)) {
    (void)slots_->Complete(slot->transaction_id, open->index);
    return Delivery::kWriteFailed;
  }
  // mana-netvsc.md §5 RX: type 7, completion requested, page set 0xCAFE,
  // one range; NVSP 107 names the channel (0 data, 1 control).
  const auto header = nvsp::ReceiveSlots::TransferHeader(slot->byte_offset,
                                                         static_cast<uint32_t>(message.size()));
  open->rings->Send(vmbus::PacketType::kDataUsingTransferPages,
                    vmbus::kPacketFlagCompletionRequested, slot->transaction_id, header,
                    nvsp::RndisPacketMessage(channel_type));
  return Delivery::kSent;
}

void NetworkAdapter::CountDelivery(Delivery delivery, size_t frame_bytes) {
  switch (delivery) {
    case Delivery::kSent:
      counters_.rx_frames.fetch_add(1, std::memory_order_relaxed);
      counters_.rx_bytes.fetch_add(frame_bytes, std::memory_order_relaxed);
      return;
    case Delivery::kNoBuffer:
    case Delivery::kNoSlot:
      counters_.rx_not_ready.fetch_add(1, std::memory_order_relaxed);
      return;
    case Delivery::kTooLarge:
      counters_.rx_bad_size.fetch_add(1, std::memory_order_relaxed);
      return;
    case Delivery::kWriteFailed:
      counters_.rx_write_failed.fetch_add(1, std::memory_order_relaxed);
      return;
  }
}

void NetworkAdapter::DeliverWaitingLocked() {
  while (!waiting_replies_.empty()) {
    const Waiting& next = waiting_replies_.front();
    if (DeliverLocked(next.channel, next.message, 1) == Delivery::kNoSlot) return;
    waiting_replies_.pop_front();
  }
  while (!waiting_frames_.empty()) {
    const Waiting& next = waiting_frames_.front();
    const Delivery delivery = DeliverLocked(next.channel, next.message, 0);
    if (delivery == Delivery::kNoSlot) return;
    CountDelivery(delivery, next.frame_bytes);
    waiting_frame_bytes_ -= next.message.size();
    waiting_frames_.pop_front();
  }
}

void NetworkAdapter::DropReceiveBufferLocked() {
  counters_.rx_discarded.fetch_add(waiting_frames_.size(), std::memory_order_relaxed);
  waiting_frames_.clear();
  waiting_frame_bytes_ = 0;
  waiting_replies_.clear();
  receive_.reset();
  slots_.reset();
}

NetworkAdapter::Counters NetworkAdapter::counters() const {
  auto get = [](const std::atomic<uint64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  const AtomicCounters& c = counters_;
  return {get(c.tx_frames),       get(c.tx_bytes),     get(c.tx_refused),  get(c.tx_malformed),
          get(c.tx_bad_size),     get(c.tx_no_port),   get(c.tx_in_place), get(c.rx_frames),
          get(c.rx_bytes),        get(c.rx_not_ready), get(c.rx_filtered), get(c.rx_overflow),
          get(c.rx_bad_size),     get(c.rx_write_failed), get(c.rx_discarded)};
}

std::string NetworkAdapter::Summary() const {
  const Counters c = counters();
  auto u = [](uint64_t value) { return static_cast<unsigned long long>(value); };
  return base::StringPrintf(
      "netvsp: tx %llu frames %llu bytes (refused %llu, malformed %llu, bad size %llu, "
      "no back end %llu, in place %llu); rx %llu frames %llu bytes (not ready %llu, "
      "filtered %llu, overflow %llu, bad size %llu, write failed %llu, discarded %llu)",
      u(c.tx_frames), u(c.tx_bytes), u(c.tx_refused), u(c.tx_malformed), u(c.tx_bad_size),
      u(c.tx_no_port), u(c.tx_in_place), u(c.rx_frames), u(c.rx_bytes), u(c.rx_not_ready),
      u(c.rx_filtered), u(c.rx_overflow), u(c.rx_bad_size), u(c.rx_write_failed),
      u(c.rx_discarded));
}

void NetworkAdapter::OnClose(uint32_t relid) {
  std::unique_ptr<Open> open = open_.Remove(relid);
  if (!open) return;
  {
    // Nothing is sent to it after this: every sender looks it up under
    // mutex_.
    const std::lock_guard lock(mutex_);
    if (channels_[open->index] == open.get()) channels_[open->index] = nullptr;
    if (open->index == 0) {
      // The device is going (Linux closes the primary last): its buffers
      // with it.
      DropReceiveBufferLocked();
      send_.reset();
      sub_channel_basis_.reset();
    } else if (slots_) {
      // Its ring is gone, and the completions it owed with it.
      (void)slots_->Release(open->index);
    }
  }
  open->rings->Stop();
}

void NetworkAdapter::OnModify(uint32_t relid, uint32_t target_vp) { open_.Modify(relid, target_vp); }
void NetworkAdapter::OnSignal(uint32_t relid) { open_.Signal(relid); }
int NetworkAdapter::SignalFd(uint32_t relid) { return open_.SignalFd(relid); }

}  // namespace hcl
