// Test doubles for VMBus rings: FakeRingMemory, a PageAccess over a few
// scattered pages, and FakeGuestRing, the guest's end of one ring written
// the way Linux 6.1 drivers/hv/ring_buffer.c does (hv_ringbuffer_write,
// hv_pkt_iter_first/close), so ring tests and fuzzers drive InRing and
// OutRing against the layout a real guest produces. Single-threaded: the
// "atomics" are plain loads and stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "base/le_bytes.h"
#include "base/page.h"
#include "base/result.h"
#include "vmbus/ring_memory.h"
#include "vmbus/ring_wire.h"

namespace vmbus::testing {

class FakeRingMemory final : public PageAccess {
 public:
  // Adds zeroed page `pfn`.
  void AddPage(uint64_t pfn) { pages_[pfn].assign(base::kPageSize, std::byte{0}); }

  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override {
    auto page = TRY(Page(gpa, out.size()));
    const size_t at = base::PageOffset(mem::ToU64(gpa));
    for (size_t i = 0; i < out.size(); ++i) out[i] = page[at + i];
    ++reads;
    if (after_read) after_read();
    return base::Ok();
  }
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override {
    auto page = TRY(Page(gpa, in.size()));
    const size_t at = base::PageOffset(mem::ToU64(gpa));
    for (size_t i = 0; i < in.size(); ++i) page[at + i] = in[i];
    ++writes;
    return base::Ok();
  }
  base::Result<uint32_t> LoadAcquire32(mem::Gpa gpa) override {
    if (mem::ToU64(gpa) % 4 != 0) return base::Error("unaligned 32-bit load");
    auto page = TRY(Page(gpa, 4));
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(page, base::PageOffset(mem::ToU64(gpa)), value);
    return value;
  }
  base::Result<void> StoreRelease32(mem::Gpa gpa, uint32_t value) override {
    if (mem::ToU64(gpa) % 4 != 0) return base::Error("unaligned 32-bit store");
    auto page = TRY(Page(gpa, 4));
    (void)base::StoreLe<uint32_t>(page, base::PageOffset(mem::ToU64(gpa)), value);
    return base::Ok();
  }

  // Direct access for the guest side of a test (no counting, no hook).
  std::span<std::byte> PageBytes(uint64_t pfn) { return pages_.at(pfn); }

  // Called after every Read: a test's "guest" changing memory between
  // the host's copies.
  std::function<void()> after_read;
  int reads = 0;
  int writes = 0;

 private:
  // The page holding [gpa, gpa + bytes); an access may not cross a page
  // (RingView promises that), nor touch a page that was not added.
  base::Result<std::span<std::byte>> Page(mem::Gpa gpa, size_t bytes) {
    const uint64_t address = mem::ToU64(gpa);
    if (base::PageOffset(address) + bytes > base::kPageSize)
      return base::Error::Format("access of %zu bytes at %#llx crosses a page", bytes,
                                 static_cast<unsigned long long>(address));
    auto it = pages_.find(address / base::kPageSize);
    if (it == pages_.end())
      return base::Error::Format("no page at %#llx", static_cast<unsigned long long>(address));
    return std::span<std::byte>(it->second);
  }

  std::map<uint64_t, std::vector<std::byte>> pages_;
};

// A packet as the guest wrote or read it.
struct GuestPacket {
  uint16_t type = 0;
  uint16_t offset8 = 0;
  uint16_t length8 = 0;
  uint16_t flags = 0;
  uint64_t transaction_id = 0;
  std::vector<std::byte> body;  // bytes after the descriptor, up to length8 * 8
  uint64_t trailer = 0;
};

// The guest's end of one ring over `pfns` (header first) in `memory`.
class FakeGuestRing {
 public:
  FakeGuestRing(FakeRingMemory& memory, std::vector<uint64_t> pfns)
      : memory_(&memory), pfns_(std::move(pfns)) {
    for (const uint64_t pfn : pfns_) memory_->AddPage(pfn);
  }

  uint32_t data_bytes() const { return static_cast<uint32_t>((pfns_.size() - 1) * base::kPageSize); }
  const std::vector<uint64_t>& pfns() const { return pfns_; }

  uint32_t Header(RingField field) const { return Get32(static_cast<size_t>(field)); }
  void SetHeader(RingField field, uint32_t value) { Set32(static_cast<size_t>(field), value); }

  // Data-area bytes at ring offset `offset`, wrapping.
  std::byte& Data(uint32_t offset) {
    const uint32_t at = offset % data_bytes();
    return memory_->PageBytes(pfns_[1 + at / base::kPageSize])[at % base::kPageSize];
  }

  // Linux hv_ringbuffer_write: {desc, body (offset8 = 2 + extension words),
  // pad to 8, trailer}. Returns nullopt if the ring is full (free <=
  // needed), else whether the guest would signal the host (interrupt_mask
  // 0 and the ring was empty before).
  std::optional<bool> Write(uint16_t type, uint16_t flags, uint64_t transaction_id,
                            std::span<const std::byte> body, uint16_t offset8 = 2) {
    const uint32_t body_padded = static_cast<uint32_t>((body.size() + 7) / 8 * 8);
    const uint32_t packet_bytes = 16 + body_padded;
    const uint32_t total = packet_bytes + 8;
    const uint32_t write = Header(RingField::kWriteIndex);
    const uint32_t read = Header(RingField::kReadIndex);
    const uint32_t used = write >= read ? write - read : data_bytes() - (read - write);
    if (data_bytes() - used <= total) return std::nullopt;
    std::vector<std::byte> bytes(total);
    (void)base::StoreLe<uint16_t>(bytes, 0, type);
    (void)base::StoreLe<uint16_t>(bytes, 2, offset8);
    (void)base::StoreLe<uint16_t>(bytes, 4, static_cast<uint16_t>(packet_bytes / 8));
    (void)base::StoreLe<uint16_t>(bytes, 6, flags);
    (void)base::StoreLe<uint64_t>(bytes, 8, transaction_id);
    for (size_t i = 0; i < body.size(); ++i) bytes[16 + i] = body[i];
    (void)base::StoreLe<uint64_t>(bytes, packet_bytes, uint64_t{write} << 32);
    WriteRaw(write, bytes);
    SetHeader(RingField::kWriteIndex, (write + total) % data_bytes());
    return Header(RingField::kInterruptMask) == 0 && Header(RingField::kReadIndex) == write;
  }

  // Bytes straight into the data area at `offset` (hostile rings).
  void WriteRaw(uint32_t offset, std::span<const std::byte> bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) Data(static_cast<uint32_t>(offset + i)) = bytes[i];
  }

  // Linux hv_pkt_iter_first + hv_pkt_iter_close for one packet: reads the
  // packet at read_index, advances read_index. `signal_host` tells whether
  // Linux would signal (the host's pending_send_sz crossed). nullopt if
  // the ring is empty.
  std::optional<GuestPacket> Read(bool* signal_host = nullptr) {
    const uint32_t write = Header(RingField::kWriteIndex);
    const uint32_t read = Header(RingField::kReadIndex);
    if (write == read) return std::nullopt;
    GuestPacket packet;
    std::vector<std::byte> descriptor(16);
    for (uint32_t i = 0; i < 16; ++i) descriptor[i] = Data(read + i);
    (void)base::LoadLe(std::span<const std::byte>(descriptor), 0, packet.type);
    (void)base::LoadLe(std::span<const std::byte>(descriptor), 2, packet.offset8);
    (void)base::LoadLe(std::span<const std::byte>(descriptor), 4, packet.length8);
    (void)base::LoadLe(std::span<const std::byte>(descriptor), 6, packet.flags);
    (void)base::LoadLe(std::span<const std::byte>(descriptor), 8, packet.transaction_id);
    const uint32_t packet_bytes = uint32_t{packet.length8} * 8;
    for (uint32_t i = 16; i < packet_bytes; ++i) packet.body.push_back(Data(read + i));
    std::vector<std::byte> trailer(8);
    for (uint32_t i = 0; i < 8; ++i) trailer[i] = Data(read + packet_bytes + i);
    (void)base::LoadLe(std::span<const std::byte>(trailer), 0, packet.trailer);
    const uint32_t consumed = packet_bytes + 8;
    const uint32_t new_read = (read + consumed) % data_bytes();
    SetHeader(RingField::kReadIndex, new_read);
    if (signal_host != nullptr) {
      const uint32_t pending = Header(RingField::kPendingSendSize);
      const uint32_t used = write >= new_read ? write - new_read : data_bytes() - (new_read - write);
      const uint32_t free_now = data_bytes() - used;
      *signal_host = pending != 0 && free_now > pending && free_now - consumed <= pending;
    }
    return packet;
  }

 private:
  uint32_t Get32(size_t offset) const {
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(memory_->PageBytes(pfns_[0]), offset, value);
    return value;
  }
  void Set32(size_t offset, uint32_t value) {
    (void)base::StoreLe<uint32_t>(memory_->PageBytes(pfns_[0]), offset, value);
  }

  FakeRingMemory* memory_;
  std::vector<uint64_t> pfns_;
};

}  // namespace vmbus::testing
