// The guest's end of hcl's VMBus server, for tests that drive VmbusServer
// and a VMBus device end to end in one process (hyperv-vmbus.md §5):
//
// - RecordingDriver: a VtlDriver that records hypercalls from any thread.
//   hcl answers channel messages with HvCallPostMessageDirect on the
//   caller's thread and raises channel interrupts with
//   HvCallSignalEventDirect on ring threads, so unlike FakeDriver
//   (paravisor/testing/fake_driver.h) it locks, and a test can wait for a
//   call.
// - GuestRing: one ring of a channel in guest RAM, written and read the way
//   Linux 6.1 drivers/hv/ring_buffer.c does (hv_ringbuffer_write,
//   hv_pkt_iter_first/close), indices with acquire/release as the host's.
// - VmbusGuest: posts channel messages as hv_vmbus does (the
//   HvCallPostMessage input page in guest RAM, then VmbusServer::PostMessage
//   as hcl's intercept would) and decodes what hcl delivered.
// - Message builders for the G->H channel messages Linux sends.
//
// Left to the tests: the device protocol on the ring (storvsc, netvsc),
// what the guest RAM holds, timing (Wait* poll with a deadline).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "base/le_bytes.h"
#include "base/page.h"
#include "base/result.h"
#include "hv/hypercall_abi.h"
#include "mem/guest_memory.h"
#include "paravisor/vmbus_server.h"
#include "paravisor/vtl0_memory.h"
#include "paravisor/vtl_driver.h"
#include "vmbus/ring_memory.h"
#include "vmbus/ring_wire.h"
#include "vmbus/wire.h"

namespace hcl::testing {

using Bytes = std::vector<std::byte>;

inline void Put16(std::span<std::byte> bytes, size_t offset, uint16_t value) {
  if (!base::StoreLe<uint16_t>(bytes, offset, value)) __builtin_trap();
}
inline void Put32(std::span<std::byte> bytes, size_t offset, uint32_t value) {
  if (!base::StoreLe<uint32_t>(bytes, offset, value)) __builtin_trap();
}
inline void Put64(std::span<std::byte> bytes, size_t offset, uint64_t value) {
  if (!base::StoreLe<uint64_t>(bytes, offset, value)) __builtin_trap();
}
template <typename T>
T Get(std::span<const std::byte> bytes, size_t offset) {
  T value = 0;
  if (!base::LoadLe<T>(bytes, offset, value)) __builtin_trap();
  return value;
}

// ---- Hypercalls ----

class RecordingDriver final : public VtlDriver {
 public:
  struct Call {
    uint64_t control = 0;
    Bytes input;
    ::hv::CallCode code() const { return static_cast<::hv::CallCode>(control & 0xFFFF); }
  };

  base::Result<mshv_vtl_run*> MapRunPage(uint32_t) override {
    return base::Error("RecordingDriver has no run page");
  }
  base::Result<bool> ReturnToLowerVtl() const override { return false; }
  base::Result<void> GetRegisters(std::span<hv_register_assoc>) const override {
    return base::Error("RecordingDriver has no registers");
  }
  base::Result<void> SetRegisters(std::span<const hv_register_assoc>) const override {
    return base::Error("RecordingDriver has no registers");
  }
  base::Result<::hv::Status> Hypercall(uint64_t control, std::span<const std::byte> input,
                                       std::span<std::byte> output) const override {
    for (std::byte& byte : output) byte = std::byte{0};
    {
      const std::lock_guard lock(mutex_);
      calls_.push_back(Call{control, Bytes(input.begin(), input.end())});
    }
    changed_.notify_all();
    return ::hv::Status::kSuccess;
  }

  std::vector<Call> Calls() const {
    const std::lock_guard lock(mutex_);
    return calls_;
  }
  // The calls with code `code`.
  std::vector<Call> Calls(::hv::CallCode code) const {
    std::vector<Call> matching;
    for (Call& call : Calls())
      if (call.code() == code) matching.push_back(std::move(call));
    return matching;
  }
  // Waits until `done(calls)` holds or `timeout` passes; whether it holds.
  bool WaitFor(const std::function<bool(const std::vector<Call>&)>& done,
               std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(calls_); });
  }
  bool WaitForCount(::hv::CallCode code, size_t count, std::chrono::milliseconds timeout) const {
    return WaitFor(
        [&](const std::vector<Call>& calls) {
          size_t seen = 0;
          for (const Call& call : calls) if (call.code() == code) ++seen;
          return seen >= count;
        },
        timeout);
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable std::vector<Call> calls_;  // guarded by mutex_
};

// HvCallSignalEventDirect as recorded (hv/hypercall_abi.h layout).
struct GuestInterrupt {
  uint32_t vp_index = 0;
  uint8_t vtl = 0;
  uint8_t sint = 0;
  uint16_t flag_number = 0;
};
inline GuestInterrupt DecodeInterrupt(const RecordingDriver::Call& call) {
  const std::span<const std::byte> in = call.input;
  return {Get<uint32_t>(in, offsetof(::hv::SignalEventDirectInput, vp_index)),
          Get<uint8_t>(in, offsetof(::hv::SignalEventDirectInput, vtl)),
          Get<uint8_t>(in, offsetof(::hv::SignalEventDirectInput, sint)),
          Get<uint16_t>(in, offsetof(::hv::SignalEventDirectInput, flag_number))};
}

// A channel message hcl delivered with HvCallPostMessageDirect.
struct DeliveredMessage {
  uint32_t vp_index = 0;
  uint8_t vtl = 0;
  uint8_t sint = 0;
  uint32_t hv_type = 0;  // HV_MESSAGE type: 1 for VMBus
  Bytes bytes;           // the VMBus message, its {msgtype, pad} header first

  uint32_t type() const { return Get<uint32_t>(bytes, 0); }
  template <typename T>
  T Field(size_t offset) const {
    return Get<T>(bytes, offset);
  }
};
inline DeliveredMessage DecodeMessage(const RecordingDriver::Call& call) {
  const std::span<const std::byte> in = call.input;
  constexpr size_t kMessage = offsetof(::hv::PostMessageDirectInput, message);
  DeliveredMessage out;
  out.vp_index = Get<uint32_t>(in, offsetof(::hv::PostMessageDirectInput, vp_index));
  out.vtl = Get<uint8_t>(in, offsetof(::hv::PostMessageDirectInput, vtl));
  out.sint = Get<uint8_t>(in, offsetof(::hv::PostMessageDirectInput, sint));
  out.hv_type = Get<uint32_t>(in, kMessage + offsetof(::hv::MessageHeader, type));
  const auto size = Get<uint8_t>(in, kMessage + offsetof(::hv::MessageHeader, payload_size));
  const auto payload = in.subspan(kMessage + sizeof(::hv::MessageHeader));
  const auto bytes = payload.first(std::min<size_t>(size, payload.size()));
  out.bytes.assign(bytes.begin(), bytes.end());
  return out;
}

// ---- Channel messages as Linux 6.1 hv_vmbus builds them ----

inline Bytes ChannelMessage(vmbus::wire::MessageType type, size_t size_bytes) {
  Bytes bytes(size_bytes);
  Put32(bytes, offsetof(vmbus::wire::MessageHeader, message_type), static_cast<uint32_t>(type));
  return bytes;
}
// vmbus_negotiate_version at >= 5.0: msg_sint in the interrupt-page field.
inline Bytes InitiateContact(uint32_t version, uint32_t target_vcpu, uint8_t msg_sint) {
  Bytes bytes = ChannelMessage(vmbus::wire::MessageType::kInitiateContact,
                               sizeof(vmbus::wire::InitiateContact));
  Put32(bytes, offsetof(vmbus::wire::InitiateContact, version_requested), version);
  Put32(bytes, offsetof(vmbus::wire::InitiateContact, target_vcpu), target_vcpu);
  bytes[vmbus::wire::kInitiateContactMsgSintOffset] = std::byte{msg_sint};
  return bytes;
}
inline Bytes RequestOffers() {
  return ChannelMessage(vmbus::wire::MessageType::kRequestOffers,
                        vmbus::wire::kHeaderOnlyMessageBytes);
}
// create_gpadl_header for one range of whole pages, small enough for the
// header alone (<= 26 PFNs).
inline Bytes GpadlHeader(uint32_t relid, uint32_t gpadl, std::span<const uint64_t> pfns) {
  namespace w = vmbus::wire;
  if (pfns.size() > w::kGpadlHeaderMaxPfns) __builtin_trap();
  const size_t range_bytes = sizeof(w::GpaRangeHeader) + pfns.size() * sizeof(uint64_t);
  Bytes bytes = ChannelMessage(w::MessageType::kGpadlHeader, w::kGpadlHeaderRangesOffset + range_bytes);
  Put32(bytes, w::kGpadlHeaderChildRelidOffset, relid);
  Put32(bytes, w::kGpadlHeaderGpadlOffset, gpadl);
  Put16(bytes, w::kGpadlHeaderRangeBuflenOffset, static_cast<uint16_t>(range_bytes));
  Put16(bytes, w::kGpadlHeaderRangeCountOffset, 1);
  const size_t range = w::kGpadlHeaderRangesOffset;
  Put32(bytes, range + offsetof(w::GpaRangeHeader, byte_count),
        static_cast<uint32_t>(pfns.size() * base::kPageSize));
  Put32(bytes, range + offsetof(w::GpaRangeHeader, byte_offset), 0);
  for (size_t i = 0; i < pfns.size(); ++i)
    Put64(bytes, range + sizeof(w::GpaRangeHeader) + i * sizeof(uint64_t), pfns[i]);
  return bytes;
}
inline Bytes OpenChannel(uint32_t relid, uint32_t open_id, uint32_t ring_gpadl,
                         uint32_t target_vp, uint32_t downstream_offset_pages) {
  namespace w = vmbus::wire;
  Bytes bytes = ChannelMessage(w::MessageType::kOpenChannel, sizeof(w::OpenChannel));
  Put32(bytes, offsetof(w::OpenChannel, child_relid), relid);
  Put32(bytes, offsetof(w::OpenChannel, open_id), open_id);
  Put32(bytes, offsetof(w::OpenChannel, ring_gpadl), ring_gpadl);
  Put32(bytes, offsetof(w::OpenChannel, target_vp), target_vp);
  Put32(bytes, offsetof(w::OpenChannel, downstream_ring_page_offset), downstream_offset_pages);
  return bytes;
}
inline Bytes CloseChannel(uint32_t relid) {
  namespace w = vmbus::wire;
  Bytes bytes = ChannelMessage(w::MessageType::kCloseChannel, sizeof(w::CloseChannel));
  Put32(bytes, offsetof(w::CloseChannel, child_relid), relid);
  return bytes;
}
inline Bytes GpadlTeardown(uint32_t relid, uint32_t gpadl) {
  namespace w = vmbus::wire;
  Bytes bytes = ChannelMessage(w::MessageType::kGpadlTeardown, sizeof(w::GpadlTeardown));
  Put32(bytes, offsetof(w::GpadlTeardown, child_relid), relid);
  Put32(bytes, offsetof(w::GpadlTeardown, gpadl), gpadl);
  return bytes;
}

// ---- Rings ----

// A packet as the guest read it from the host->guest ring.
struct GuestPacket {
  uint16_t type = 0;
  uint16_t offset8 = 0;
  uint16_t length8 = 0;
  uint16_t flags = 0;
  uint64_t transaction_id = 0;
  Bytes payload;    // from offset8 * 8 to length8 * 8
  Bytes extension;  // from the descriptor's end to offset8 * 8 (a transfer-page header)
  uint64_t trailer = 0;
};

// One ring: a header page at `header_gpa`, then `data_pages` contiguous
// data pages, in `ram` (the guest's own view of its RAM: no gate).
class GuestRing {
 public:
  GuestRing(mem::GuestMemory& ram, uint64_t header_gpa, uint32_t data_pages)
      : ram_(&ram), header_gpa_(header_gpa),
        data_bytes_(data_pages * static_cast<uint32_t>(base::kPageSize)) {}

  uint32_t data_bytes() const { return data_bytes_; }
  uint64_t header_gpa() const { return header_gpa_; }

  uint32_t Header(vmbus::RingField field) const {
    auto value = ram_->LoadAcquire32(FieldGpa(field));
    if (!value) __builtin_trap();
    return *value;
  }
  void SetHeader(vmbus::RingField field, uint32_t value) {
    if (!ram_->StoreRelease32(FieldGpa(field), value)) __builtin_trap();
  }

  // Data-area bytes at ring offset `offset`, wrapping.
  void ReadData(uint32_t offset, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
      const uint32_t at = static_cast<uint32_t>((offset + done) % data_bytes_);
      const size_t piece = std::min<size_t>(out.size() - done, data_bytes_ - at);
      if (!ram_->Read(DataGpa(at), out.subspan(done, piece))) __builtin_trap();
      done += piece;
    }
  }
  void WriteData(uint32_t offset, std::span<const std::byte> in) {
    size_t done = 0;
    while (done < in.size()) {
      const uint32_t at = static_cast<uint32_t>((offset + done) % data_bytes_);
      const size_t piece = std::min<size_t>(in.size() - done, data_bytes_ - at);
      if (!ram_->Write(DataGpa(at), in.subspan(done, piece))) __builtin_trap();
      done += piece;
    }
  }

  // hv_ringbuffer_write: {descriptor, body padded to 8, trailer = start
  // write index << 32}; `body` is every byte after the descriptor (offset8
  // says where the payload starts in it). nullopt when the ring is full
  // (free <= needed, hyperv-vmbus.md §5.3); else whether Linux would
  // signal the host (its interrupt_mask 0 and the ring empty before).
  std::optional<bool> Write(uint16_t type, uint16_t flags, uint64_t transaction_id,
                            std::span<const std::byte> body, uint16_t offset8 = 2) {
    const uint32_t body_padded = static_cast<uint32_t>((body.size() + 7) / 8 * 8);
    const uint32_t packet_bytes = 16 + body_padded;
    const uint32_t total = packet_bytes + vmbus::wire::kPacketTrailerBytes;
    const uint32_t write = Header(vmbus::RingField::kWriteIndex);
    const uint32_t read = Header(vmbus::RingField::kReadIndex);
    const uint32_t used = write >= read ? write - read : data_bytes_ - (read - write);
    if (data_bytes_ - used <= total) return std::nullopt;
    Bytes bytes(total);
    Put16(bytes, offsetof(vmbus::wire::PacketDescriptor, type), type);
    Put16(bytes, offsetof(vmbus::wire::PacketDescriptor, offset8), offset8);
    Put16(bytes, offsetof(vmbus::wire::PacketDescriptor, length8),
          static_cast<uint16_t>(packet_bytes / 8));
    Put16(bytes, offsetof(vmbus::wire::PacketDescriptor, flags), flags);
    Put64(bytes, offsetof(vmbus::wire::PacketDescriptor, transaction_id), transaction_id);
    std::copy(body.begin(), body.end(), bytes.begin() + 16);
    Put64(bytes, packet_bytes, uint64_t{write} << 32);
    WriteData(write, bytes);
    const bool was_empty = write == read;
    SetHeader(vmbus::RingField::kWriteIndex, (write + total) % data_bytes_);
    return was_empty && Header(vmbus::RingField::kInterruptMask) == 0;
  }

  // hv_pkt_iter_first + hv_pkt_iter_close for one packet; nullopt if empty.
  std::optional<GuestPacket> Read() {
    const uint32_t write = Header(vmbus::RingField::kWriteIndex);
    const uint32_t read = Header(vmbus::RingField::kReadIndex);
    if (write == read) return std::nullopt;
    Bytes descriptor(sizeof(vmbus::wire::PacketDescriptor));
    ReadData(read, descriptor);
    GuestPacket packet;
    packet.type = Get<uint16_t>(descriptor, offsetof(vmbus::wire::PacketDescriptor, type));
    packet.offset8 = Get<uint16_t>(descriptor, offsetof(vmbus::wire::PacketDescriptor, offset8));
    packet.length8 = Get<uint16_t>(descriptor, offsetof(vmbus::wire::PacketDescriptor, length8));
    packet.flags = Get<uint16_t>(descriptor, offsetof(vmbus::wire::PacketDescriptor, flags));
    packet.transaction_id =
        Get<uint64_t>(descriptor, offsetof(vmbus::wire::PacketDescriptor, transaction_id));
    const uint32_t packet_bytes = uint32_t{packet.length8} * 8;
    const uint32_t payload_offset = uint32_t{packet.offset8} * 8;
    if (payload_offset < packet_bytes) {
      packet.payload.resize(packet_bytes - payload_offset);
      ReadData(read + payload_offset, packet.payload);
    }
    if (payload_offset > descriptor.size() && payload_offset <= packet_bytes) {
      packet.extension.resize(payload_offset - descriptor.size());
      ReadData(read + static_cast<uint32_t>(descriptor.size()), packet.extension);
    }
    Bytes trailer(8);
    ReadData(read + packet_bytes, trailer);
    packet.trailer = Get<uint64_t>(trailer, 0);
    SetHeader(vmbus::RingField::kReadIndex,
              (read + packet_bytes + vmbus::wire::kPacketTrailerBytes) % data_bytes_);
    return packet;
  }

  // Polls for a packet until `timeout` passes (hcl's ring threads write
  // asynchronously).
  std::optional<GuestPacket> WaitRead(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto packet = Read()) return packet;
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  mem::Gpa FieldGpa(vmbus::RingField field) const {
    return mem::Gpa{header_gpa_ + static_cast<uint32_t>(field)};
  }
  mem::Gpa DataGpa(uint32_t offset) const {
    return mem::Gpa{header_gpa_ + vmbus::wire::kRingHeaderBytes + offset};
  }

  mem::GuestMemory* ram_;
  uint64_t header_gpa_;
  uint32_t data_bytes_;
};

// The body of a GPA-direct packet (vmbus_packet_mpb_array) with one range
// of `byte_count` bytes at `byte_offset` into pfns[0], then `payload`;
// returns {body, offset8} for GuestRing::Write.
inline std::pair<Bytes, uint16_t> GpaDirectBody(uint32_t byte_count, uint32_t byte_offset,
                                                std::span<const uint64_t> pfns,
                                                std::span<const std::byte> payload) {
  namespace w = vmbus::wire;
  const size_t header = sizeof(w::GpaDirectHeader) - sizeof(w::PacketDescriptor);
  const size_t ranges = sizeof(w::GpaRangeHeader) + pfns.size() * sizeof(uint64_t);
  Bytes body(header + ranges + payload.size());
  Put32(body, offsetof(w::GpaDirectHeader, range_count) - sizeof(w::PacketDescriptor), 1);
  Put32(body, header + offsetof(w::GpaRangeHeader, byte_count), byte_count);
  Put32(body, header + offsetof(w::GpaRangeHeader, byte_offset), byte_offset);
  for (size_t i = 0; i < pfns.size(); ++i)
    Put64(body, header + sizeof(w::GpaRangeHeader) + i * sizeof(uint64_t), pfns[i]);
  std::copy(payload.begin(), payload.end(), body.begin() + static_cast<ptrdiff_t>(header + ranges));
  return {std::move(body),
          static_cast<uint16_t>((sizeof(w::PacketDescriptor) + header + ranges) / 8)};
}

// ---- Guest RAM ----

// `bytes` of guest RAM at `base`, behind the VTL0 gate, handed out a run
// of pages at a time; page 0 is left for the guest's HvCallPostMessage
// input (VmbusGuest's input_gpa). A device test's fixture derives from it.
class GuestRam {
 public:
  GuestRam(uint64_t base, size_t bytes)
      : ram_bytes(bytes), ram(mem::GuestMemory::Create(mem::Gpa{base}, ram_bytes).value()),
        end_(base + bytes), next_free_(base + base::kPageSize) {
    memory.Add(ram);
  }
  GuestRam(const GuestRam&) = delete;
  GuestRam& operator=(const GuestRam&) = delete;

  // `count` zeroed pages.
  uint64_t AllocPages(uint64_t count) {
    const uint64_t gpa = next_free_;
    next_free_ += count * base::kPageSize;
    if (next_free_ > end_) __builtin_trap();
    return gpa;
  }
  static std::vector<uint64_t> Pfns(uint64_t first_gpa, uint64_t count) {
    std::vector<uint64_t> pfns;
    for (uint64_t i = 0; i < count; ++i) pfns.push_back(first_gpa / base::kPageSize + i);
    return pfns;
  }
  Bytes RamBytes(uint64_t gpa, size_t length) const {
    Bytes bytes(length);
    if (!ram.Read(mem::Gpa{gpa}, bytes)) __builtin_trap();
    return bytes;
  }
  void SetRam(uint64_t gpa, std::span<const std::byte> bytes) {
    if (!ram.Write(mem::Gpa{gpa}, bytes)) __builtin_trap();
  }

  Bytes ram_bytes;
  mem::GuestMemory ram;
  Vtl0Memory memory;

 private:
  uint64_t end_;
  uint64_t next_free_;
};

// ---- The connection ----

class VmbusGuest {
 public:
  // `input_gpa`: a page of guest RAM for HvCallPostMessage inputs.
  VmbusGuest(VmbusServer& server, const Vtl0Memory& memory, mem::GuestMemory& ram,
             const RecordingDriver& driver, uint64_t input_gpa)
      : server_(server), memory_(memory), ram_(ram), driver_(driver), input_gpa_(input_gpa) {}

  // HvCallPostMessage(connection_id, type 1, message) as hcl's intercept
  // passes it on: the input in guest RAM, the server reading it through the
  // gate.
  ::hv::Status Post(uint32_t connection_id, std::span<const std::byte> message) {
    Bytes input(sizeof(::hv::PostMessageInput));
    Put32(input, offsetof(::hv::PostMessageInput, connection_id), connection_id);
    Put32(input, offsetof(::hv::PostMessageInput, message_type), vmbus::wire::kChannelMessageType);
    Put32(input, offsetof(::hv::PostMessageInput, payload_size),
          static_cast<uint32_t>(message.size()));
    std::copy_n(message.begin(), std::min(message.size(), ::hv::kMessagePayloadBytes),
                input.begin() + offsetof(::hv::PostMessageInput, payload));
    if (!ram_.Write(mem::Gpa{input_gpa_}, input)) __builtin_trap();
    return server_.PostMessage(memory_, input_gpa_);
  }
  // Posts on the connection the handshake returned.
  ::hv::Status Post(std::span<const std::byte> message) { return Post(msg_conn_id, message); }

  // Messages hcl delivered since the last call, in order.
  std::vector<DeliveredMessage> TakeMessages() {
    std::vector<DeliveredMessage> out;
    const auto calls = driver_.Calls(::hv::CallCode::kPostMessageDirect);
    for (size_t i = messages_seen_; i < calls.size(); ++i) out.push_back(DecodeMessage(calls[i]));
    messages_seen_ = calls.size();
    return out;
  }
  // The first new message of `type`, waiting up to `timeout` (messages
  // sent from a device's thread arrive asynchronously); others taken on
  // the way are dropped.
  std::optional<DeliveredMessage> WaitMessage(vmbus::wire::MessageType type,
                                              std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (auto& message : TakeMessages())
        if (message.type() == static_cast<uint32_t>(type)) return message;
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      (void)driver_.WaitForCount(::hv::CallCode::kPostMessageDirect, messages_seen_ + 1,
                                 std::chrono::milliseconds(10));
    }
  }

  uint32_t msg_conn_id = vmbus::wire::kServerMessageConnectionId;

 private:
  VmbusServer& server_;
  const Vtl0Memory& memory_;
  mem::GuestMemory& ram_;
  const RecordingDriver& driver_;
  uint64_t input_gpa_;
  size_t messages_seen_ = 0;
};

}  // namespace hcl::testing
