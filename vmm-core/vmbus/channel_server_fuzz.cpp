// Fuzz target 'vmbus-channels': drive a vmbus::ChannelServer with a
// sequence of guest messages and device calls.
// Input: a VP-count byte, then records {op u8, args...}; op % 8 picks
//   0 raw message {connection selector u8, length u8, payload[length]}
//     (selector & 3: 1, 4, the msg_conn_id, or selector << 8),
//   1 a well-formed GPADL {relid u8, gpadl u8, pages u8}: header and bodies,
//   2 OpenChannel {relid u8, gpadl u8, target_vp u8, downstream offset u8},
//   3 a relid message {kind u8, relid u8, arg u8}: close, release,
//     teardown(gpadl = arg), modify(target_vp = arg),
//   4 connection control {kind u8}: InitiateContact 5.x/4.x, RequestOffers,
//     Unload,
//   5 AddChannel, 6 RemoveChannel {relid u8}, 7 OfferSubChannels {relid u8,
//     count u8}.
// A record cut by the input's end uses zeros.
// Invariants: no crash or sanitizer report; a message answered with an
// error sends nothing and changes no channel; kRefused sends exactly one
// reply; every message sent is a host->guest type at its exact size, on
// an existing VP and a SINT below 16; OnOpen sees a ring GPADL whose two
// rings have at least 2 pages each and a valid VP; OnClose only for an
// open channel; FindByConnectionId agrees with FindChannel; complete
// GPADLs never exceed gpadl_page_count().
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "vmbus/channel_server.h"

namespace {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t Byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::span<const std::byte> Bytes(size_t count) {
    const size_t taken = count < size_ - at_ ? count : size_ - at_;
    const auto out = std::as_bytes(std::span(data_ + at_, taken));
    at_ += taken;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

[[noreturn]] void Fail() { __builtin_trap(); }

uint32_t Load32(std::span<const std::byte> bytes, size_t offset) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(std::to_integer<uint8_t>(bytes[offset + i])) << (8 * i);
  return value;
}

class CheckingOutbox final : public vmbus::Outbox {
 public:
  explicit CheckingOutbox(uint32_t vp_count) : vp_count_(vp_count) {}
  void Send(const vmbus::OutgoingMessage& message) override {
    ++sent;
    if (message.target_vp >= vp_count_ || message.sint >= 16 || message.message_type != 1) Fail();
    const auto payload = message.payload();
    if (payload.size() < 8 || payload.size() > 240) Fail();
    size_t expected = 0;
    switch (Load32(payload, 0)) {
      case 1: expected = 196; break;   // OfferChannel
      case 2: expected = 12; break;    // RescindChannelOffer
      case 4: expected = 8; break;     // AllOffersDelivered
      case 6: expected = 20; break;    // OpenChannelResult
      case 10: expected = 20; break;   // GpadlCreated
      case 12: expected = 12; break;   // GpadlTorndown
      case 15: expected = 16; break;   // VersionResponse
      case 17: expected = 8; break;    // UnloadResponse
      case 24: expected = 16; break;   // ModifyChannelResponse
      default: Fail();
    }
    if (payload.size() != expected) Fail();
  }
  int sent = 0;

 private:
  uint32_t vp_count_;
};

class CheckingDevice final : public vmbus::ChannelHandler {
 public:
  explicit CheckingDevice(uint32_t vp_count) : vp_count_(vp_count) {}
  uint32_t OnOpen(const vmbus::OpenRequest& request) override {
    if (open_.contains(request.relid) || request.ring_gpadl == nullptr ||
        request.target_vp >= vp_count_)
      Fail();
    const size_t pages = request.ring_gpadl->page_count();
    if (request.downstream_ring_page_offset < 2 || pages < request.downstream_ring_page_offset ||
        pages - request.downstream_ring_page_offset < 2)
      Fail();
    // Every fourth open is refused by the device.
    if (++opens_ % 4 == 0) return 0xC0000001;
    open_.insert(request.relid);
    return 0;
  }
  void OnClose(uint32_t relid) override {
    if (open_.erase(relid) != 1) Fail();
  }
  void OnModify(uint32_t relid, uint32_t target_vp) override {
    if (!open_.contains(relid) || target_vp >= vp_count_) Fail();
  }

 private:
  uint32_t vp_count_;
  unsigned opens_ = 0;
  std::set<uint32_t> open_;
};

struct Snapshot {
  bool connected;
  size_t channels;
  size_t pages;
  std::vector<std::optional<vmbus::ChannelInfo>> infos;
  bool operator==(const Snapshot&) const = default;
};
Snapshot Take(const vmbus::ChannelServer& server) {
  Snapshot snapshot{server.connected(), server.channel_count(), server.gpadl_page_count(), {}};
  for (uint32_t relid = 0; relid < 10; ++relid)
    snapshot.infos.push_back(server.FindChannel(relid));
  return snapshot;
}

using Message = std::vector<std::byte>;
Message NewMessage(uint32_t type, size_t size) {
  Message bytes(size);
  for (size_t i = 0; i < 4; ++i) bytes[i] = std::byte((type >> (8 * i)) & 0xFF);
  return bytes;
}
void Put(Message& bytes, size_t offset, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) bytes[offset + i] = std::byte((value >> (8 * i)) & 0xFF);
}

// Linux 6.1's create_gpadl_header split: 26 PFNs in the header, 28 per body.
std::vector<Message> Gpadl(uint32_t relid, uint32_t id, size_t pages) {
  std::vector<Message> out;
  const size_t in_header = pages < 26 ? pages : 26;
  Message header = NewMessage(8, 28 + in_header * 8);
  Put(header, 8, relid, 4);
  Put(header, 12, id, 4);
  Put(header, 16, 8 + pages * 8, 2);
  Put(header, 18, 1, 2);
  Put(header, 20, pages * 4096, 4);
  for (size_t i = 0; i < in_header; ++i) Put(header, 28 + i * 8, 0x100 + i, 8);
  out.push_back(header);
  for (size_t at = in_header; at < pages;) {
    const size_t here = pages - at < 28 ? pages - at : 28;
    Message body = NewMessage(9, 16 + here * 8);
    Put(body, 12, id, 4);
    for (size_t i = 0; i < here; ++i) Put(body, 16 + i * 8, 0x100 + at + i, 8);
    out.push_back(body);
    at += here;
  }
  return out;
}

vmbus::Offer MakeOffer(uint8_t instance) {
  vmbus::Offer offer;
  offer.interface_instance.bytes[0] = instance;
  return offer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input input(data, size);
  const uint32_t vp_count = input.Byte() % 4u + 1;
  vmbus::ChannelServer server(vp_count, vmbus::ChannelServerLimits{.max_gpadls_per_channel = 4,
                                                                    .max_gpadl_pages = 256});
  CheckingOutbox outbox(vp_count);
  CheckingDevice device(vp_count);

  const auto post = [&](uint32_t connection_id, std::span<const std::byte> payload) {
    const Snapshot before = Take(server);
    const int sent_before = outbox.sent;
    const vmbus::MessageResult result =
        server.OnPostMessage({connection_id, 1, payload}, outbox);
    (void)vmbus::HypercallStatus(result);
    (void)vmbus::Describe(result);
    if (result == vmbus::MessageResult::kOk) return;
    const Snapshot after = Take(server);
    if (result == vmbus::MessageResult::kRefused) {
      // One failure reply; channels as they were (a refused last body
      // drops its unfinished GPADL's pages).
      if (outbox.sent != sent_before + 1 || after.infos != before.infos ||
          after.pages > before.pages)
        Fail();
      return;
    }
    if (outbox.sent != sent_before || !(after == before)) Fail();
  };
  const auto msg_conn_id = [&] {
    const auto state = server.connection();
    return state ? state->msg_conn_id : 1u;
  };

  for (int steps = 0; !input.empty() && steps < 512; ++steps) {
    switch (input.Byte() % 8) {
      case 0: {
        const uint8_t selector = input.Byte();
        const size_t length = input.Byte();
        uint32_t connection_id = 0;
        switch (selector & 3) {
          case 0: connection_id = 1; break;
          case 1: connection_id = 4; break;
          case 2: connection_id = msg_conn_id(); break;
          default: connection_id = uint32_t{selector} << 8; break;
        }
        post(connection_id, input.Bytes(length));
        break;
      }
      case 1: {
        const uint32_t relid = input.Byte() % 10u;
        const uint32_t id = input.Byte() % 8u;
        const size_t pages = input.Byte() % 70u + 1;
        for (const Message& message : Gpadl(relid, id, pages)) post(msg_conn_id(), message);
        break;
      }
      case 2: {
        Message open = NewMessage(5, 148);
        Put(open, 8, input.Byte() % 10u, 4);
        Put(open, 12, 7, 4);
        Put(open, 16, input.Byte() % 8u, 4);
        Put(open, 20, input.Byte() % 6u, 4);
        Put(open, 24, input.Byte() % 72u, 4);
        post(msg_conn_id(), open);
        break;
      }
      case 3: {
        const uint8_t kind = input.Byte() % 4;
        const uint32_t relid = input.Byte() % 10u;
        const uint8_t arg = input.Byte();
        Message message;
        switch (kind) {
          case 0: message = NewMessage(7, 12); break;
          case 1: message = NewMessage(13, 12); break;
          case 2: message = NewMessage(11, 16); Put(message, 12, arg % 8u, 4); break;
          default: message = NewMessage(22, 16); Put(message, 12, arg % 6u, 4); break;
        }
        Put(message, 8, relid, 4);
        post(msg_conn_id(), message);
        break;
      }
      case 4: {
        const uint8_t kind = input.Byte() % 4;
        if (kind < 2) {
          Message contact = NewMessage(14, 40);
          Put(contact, 8, kind == 0 ? 0x50003 - (input.Byte() % 4u) : 0x40001, 4);
          Put(contact, 12, input.Byte() % (vp_count + 1), 4);
          contact[16] = std::byte{2};
          post(kind == 0 ? 4 : 1, contact);
        } else {
          post(msg_conn_id(), NewMessage(kind == 2 ? 3 : 16, 8));
        }
        break;
      }
      case 5:
        if (server.channel_count() < 12) (void)server.AddChannel(MakeOffer(input.Byte()), device, outbox);
        break;
      case 6:
        (void)server.RemoveChannel(input.Byte() % 10u, outbox);
        break;
      default: {
        const uint32_t relid = input.Byte() % 10u;
        const auto count = static_cast<uint16_t>(input.Byte() % 4u);
        (void)server.OfferSubChannels(relid, count, outbox);
        break;
      }
    }
    if (server.gpadl_page_count() > 256) Fail();
    size_t pages = 0;
    for (uint32_t relid = 0; relid < 10; ++relid) {
      if (server.FindByConnectionId(0x1000 | relid) != server.FindChannel(relid)) Fail();
      for (uint32_t id = 0; id < 8; ++id)
        if (const vmbus::Gpadl* gpadl = server.FindGpadl(relid, id)) pages += gpadl->page_count();
    }
    // Complete GPADLs (ids 0-7 are all the structured ops make) fit the count.
    if (pages > server.gpadl_page_count()) Fail();
  }
  return 0;
}
