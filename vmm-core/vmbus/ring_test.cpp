#include "vmbus/ring.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/le_bytes.h"
#include "vmbus/testing/fake_ring_memory.h"

namespace {

using vmbus::GuestSignal;
using vmbus::InRing;
using vmbus::OutRing;
using vmbus::PacketType;
using vmbus::RingField;
using vmbus::WriteStatus;
using vmbus::testing::FakeGuestRing;
using vmbus::testing::FakeRingMemory;
using Bytes = std::vector<std::byte>;

constexpr uint16_t kInband = 6, kTransferPages = 7, kGpaDirect = 9, kCompletion = 0xB;

Bytes Pattern(size_t size, uint8_t seed) {
  Bytes bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = std::byte(static_cast<uint8_t>(seed + i * 7));
  return bytes;
}

void Put16(Bytes& bytes, size_t offset, uint16_t value) { REQUIRE(base::StoreLe(std::span(bytes), offset, value)); }
void Put32(Bytes& bytes, size_t offset, uint32_t value) { REQUIRE(base::StoreLe(std::span(bytes), offset, value)); }
void Put64(Bytes& bytes, size_t offset, uint64_t value) { REQUIRE(base::StoreLe(std::span(bytes), offset, value)); }
uint32_t Get32(const Bytes& bytes, size_t offset) {
  uint32_t value = 0;
  REQUIRE(base::LoadLe(std::span<const std::byte>(bytes), offset, value));
  return value;
}

// A ring of a header and `data_pages` data pages at scattered, out-of-order
// page numbers, so copies cross pages that are not adjacent in memory.
std::vector<uint64_t> ScatteredPfns(uint64_t base, size_t data_pages) {
  std::vector<uint64_t> pfns{base};
  for (size_t i = 0; i < data_pages; ++i) pfns.push_back(base + 0x100 + (data_pages - i) * 3);
  return pfns;
}

// The body of a GPA-direct packet as Linux's vmbus_sendpacket_mpb_desc
// lays it out after the descriptor: reserved, range_cnt, ranges; then the
// payload. Returns {body, offset8}.
struct GpaDirectBody {
  Bytes body;
  uint16_t offset8 = 0;
};
struct TestRange {
  uint32_t byte_count;
  uint32_t byte_offset;
  std::vector<uint64_t> pfns;
};
GpaDirectBody BuildGpaDirect(const std::vector<TestRange>& ranges, const Bytes& payload,
                             uint32_t range_count_override = 0) {
  Bytes header(8);
  Put32(header, 4, range_count_override != 0 ? range_count_override
                                             : static_cast<uint32_t>(ranges.size()));
  for (const auto& range : ranges) {
    Bytes r(8 + 8 * range.pfns.size());
    Put32(r, 0, range.byte_count);
    Put32(r, 4, range.byte_offset);
    for (size_t i = 0; i < range.pfns.size(); ++i) Put64(r, 8 + 8 * i, range.pfns[i]);
    header.insert(header.end(), r.begin(), r.end());
  }
  GpaDirectBody out;
  out.offset8 = static_cast<uint16_t>((16 + header.size()) / 8);
  out.body = header;
  out.body.insert(out.body.end(), payload.begin(), payload.end());
  return out;
}

struct InFixture {
  FakeRingMemory memory;
  FakeGuestRing guest{memory, ScatteredPfns(0x1000, 3)};

  InRing Ring(uint32_t max_packet = vmbus::kDefaultMaxInPacketBytes) {
    auto ring = InRing::Create(memory, guest.pfns(), max_packet);
    REQUIRE(ring.ok());
    return std::move(ring).value();
  }
};

struct OutFixture {
  FakeRingMemory memory;
  FakeGuestRing guest{memory, ScatteredPfns(0x2000, 2)};

  OutRing Ring() {
    auto ring = OutRing::Create(memory, guest.pfns());
    REQUIRE(ring.ok());
    return std::move(ring).value();
  }
};

// Writes a raw descriptor at the guest's write index and publishes
// `packet_bytes + 8` bytes, for hostile-descriptor tests.
void WriteRawPacket(FakeGuestRing& guest, uint16_t type, uint16_t offset8, uint16_t length8,
                    uint32_t published_bytes, const Bytes& body = {}) {
  Bytes bytes(16);
  Put16(bytes, 0, type);
  Put16(bytes, 2, offset8);
  Put16(bytes, 4, length8);
  bytes.insert(bytes.end(), body.begin(), body.end());
  const uint32_t write = guest.Header(RingField::kWriteIndex);
  guest.WriteRaw(write, bytes);
  guest.SetHeader(RingField::kWriteIndex, (write + published_bytes) % guest.data_bytes());
}

}  // namespace

TEST_CASE("vmbus ring: RingLayout splits the ring GPADL at the downstream offset") {
  const std::vector<uint64_t> pfns{10, 11, 12, 13, 14, 15};
  auto layout = vmbus::RingLayout::Create(pfns, 4);
  REQUIRE(layout.ok());
  CHECK(layout->in_pfns == std::vector<uint64_t>{10, 11, 12, 13});
  CHECK(layout->out_pfns == std::vector<uint64_t>{14, 15});

  CHECK_FALSE(vmbus::RingLayout::Create(pfns, 1).ok());  // guest->host ring of 1 page
  CHECK_FALSE(vmbus::RingLayout::Create(pfns, 5).ok());  // host->guest ring of 1 page
  CHECK_FALSE(vmbus::RingLayout::Create(pfns, 6).ok());
  CHECK_FALSE(vmbus::RingLayout::Create(pfns, 0xFFFFFFFF).ok());
  CHECK_FALSE(vmbus::RingLayout::Create({}, 0).ok());
}

TEST_CASE("vmbus ring: RingView refuses rings too small and page numbers that wrap") {
  FakeRingMemory memory;
  const std::vector<uint64_t> one{5};
  CHECK_FALSE(vmbus::RingView::Create(memory, one).ok());
  const std::vector<uint64_t> wrapping{5, vmbus::kMaxPfn + 1};
  CHECK_FALSE(vmbus::RingView::Create(memory, wrapping).ok());
  const std::vector<uint64_t> fine{5, vmbus::kMaxPfn};
  auto view = vmbus::RingView::Create(memory, fine);
  REQUIRE(view.ok());
  CHECK(view->data_bytes() == 4096);
}

TEST_CASE("vmbus ring: both rings advertise pending_send_sz support (feature bit 0)") {
  FakeRingMemory memory;
  FakeGuestRing in_guest(memory, {1, 2});
  FakeGuestRing out_guest(memory, {3, 4});
  in_guest.SetHeader(RingField::kFeatureBits, 0);
  out_guest.SetHeader(RingField::kFeatureBits, 0x10);
  REQUIRE(InRing::Create(memory, in_guest.pfns()).ok());
  REQUIRE(OutRing::Create(memory, out_guest.pfns()).ok());
  CHECK(in_guest.Header(RingField::kFeatureBits) == 1);
  CHECK(out_guest.Header(RingField::kFeatureBits) == 0x11);
}

TEST_CASE("vmbus ring: an empty in-ring reads as empty, not as an error") {
  InFixture f;
  auto ring = f.Ring();
  auto read = ring.Read();
  REQUIRE(read.ok());
  CHECK_FALSE(read->has_value());
  CHECK(ring.HasData().value() == false);
  CHECK_FALSE(ring.Consume().ok());  // nothing was read
}

TEST_CASE("vmbus ring: inband packets from a Linux-style writer round-trip") {
  InFixture f;
  auto ring = f.Ring();
  const Bytes payload = Pattern(61, 3);  // not a multiple of 8: padded
  REQUIRE(f.guest.Write(kInband, 1, 0xFFFFFFFFFFFFFFFD, payload).has_value());
  CHECK(ring.HasData().value());

  auto read = ring.Read();
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  const auto& packet = **read;
  CHECK(packet.type == PacketType::kDataInband);
  CHECK(packet.completion_requested());
  CHECK(packet.transaction_id == 0xFFFFFFFFFFFFFFFD);
  // Linux pads to 8 and the padding is part of the packet's payload area.
  REQUIRE(packet.payload.size() == 64);
  CHECK(Bytes(packet.payload.begin(), packet.payload.begin() + 61) == payload);
  CHECK(packet.ranges.empty());

  // Read does not consume: the same packet again, and read_index unchanged.
  auto again = ring.Read();
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->transaction_id == packet.transaction_id);
  CHECK(f.guest.Header(RingField::kReadIndex) == 0);

  REQUIRE(ring.Consume().ok());
  CHECK(f.guest.Header(RingField::kReadIndex) == 16 + 64 + 8);
  CHECK(ring.read_index() == 16 + 64 + 8);
  CHECK(ring.Read().value().has_value() == false);
}

TEST_CASE("vmbus ring: packets that wrap the end of the data area and cross pages") {
  InFixture f;
  // Start both indices 24 bytes before the end, as after a long run.
  const uint32_t start = f.guest.data_bytes() - 24;
  f.guest.SetHeader(RingField::kReadIndex, start);
  f.guest.SetHeader(RingField::kWriteIndex, start);
  auto ring = f.Ring();

  // Many packets of varying sizes, each read as written: the indices go
  // round the ring several times.
  uint64_t next_id = 1;
  for (int round = 0; round < 200; ++round) {
    const Bytes payload = Pattern(static_cast<size_t>(8 + (round * 37) % 3000), static_cast<uint8_t>(round));
    REQUIRE(f.guest.Write(kInband, 0, next_id, payload).has_value());
    auto read = ring.Read();
    REQUIRE(read.ok());
    REQUIRE(read->has_value());
    CHECK((*read)->transaction_id == next_id);
    REQUIRE((*read)->payload.size() >= payload.size());
    CHECK(Bytes((*read)->payload.begin(), (*read)->payload.begin() + static_cast<ptrdiff_t>(payload.size())) == payload);
    REQUIRE(ring.Consume().ok());
    CHECK(f.guest.Header(RingField::kReadIndex) == f.guest.Header(RingField::kWriteIndex));
    ++next_id;
  }
}

TEST_CASE("vmbus ring: several packets queued are read in order") {
  InFixture f;
  auto ring = f.Ring();
  for (uint64_t id = 1; id <= 5; ++id) REQUIRE(f.guest.Write(kInband, 0, id, Pattern(100, 1)).has_value());
  for (uint64_t id = 1; id <= 5; ++id) {
    auto read = ring.Read();
    REQUIRE(read.ok());
    REQUIRE(read->has_value());
    CHECK((*read)->transaction_id == id);
    REQUIRE(ring.Consume().ok());
  }
  CHECK_FALSE(ring.Read().value().has_value());
}

TEST_CASE("vmbus ring: GPA-direct packets as storvsc and netvsc send them") {
  InFixture f;
  auto ring = f.Ring();
  const Bytes vstor = Pattern(64, 9);
  // storvsc: one range, 0x3000 bytes starting 0x200 into the first page:
  // ceil((0x200 + 0x3000) / 4096) = 4 PFNs.
  auto one = BuildGpaDirect({{0x3000, 0x200, {0x10, 0x11, 0x12, 0x13}}}, vstor);
  REQUIRE(f.guest.Write(kGpaDirect, 1, 42, one.body, one.offset8).has_value());
  // netvsc: one range per page buffer.
  auto many = BuildGpaDirect({{100, 4000, {0x20, 0x21}}, {4096, 0, {0x30}}, {1, 4095, {0x40}}}, vstor);
  REQUIRE(f.guest.Write(kGpaDirect, 0, 43, many.body, many.offset8).has_value());

  auto read = ring.Read();
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->type == PacketType::kDataUsingGpaDirect);
  REQUIRE((*read)->ranges.size() == 1);
  CHECK((*read)->ranges[0].byte_count == 0x3000);
  CHECK((*read)->ranges[0].byte_offset == 0x200);
  CHECK((*read)->ranges[0].pfns == std::vector<uint64_t>{0x10, 0x11, 0x12, 0x13});
  CHECK((*read)->payload == vstor);
  REQUIRE(ring.Consume().ok());

  read = ring.Read();
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  REQUIRE((*read)->ranges.size() == 3);
  CHECK((*read)->ranges[0].pfns == std::vector<uint64_t>{0x20, 0x21});
  CHECK((*read)->ranges[1].pfns == std::vector<uint64_t>{0x30});
  CHECK((*read)->ranges[2].byte_offset == 4095);
  CHECK((*read)->payload == vstor);
}

TEST_CASE("vmbus ring: transfer-page and completion packets") {
  InFixture f;
  auto ring = f.Ring();
  Bytes xfer(8 + 2 * 8);
  Put16(xfer, 0, 0xCAFE);  // transfer page set id
  Put32(xfer, 4, 2);       // range count
  Put32(xfer, 8, 1500);
  Put32(xfer, 12, 0);
  Put32(xfer, 16, 60);
  Put32(xfer, 20, 4096);
  REQUIRE(f.guest.Write(kTransferPages, 0, 7, xfer, static_cast<uint16_t>((16 + xfer.size()) / 8)).has_value());
  const Bytes answer = Pattern(16, 4);
  REQUIRE(f.guest.Write(kCompletion, 0, 0x1234, answer).has_value());

  auto read = ring.Read();
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->type == PacketType::kDataUsingTransferPages);
  CHECK((*read)->transfer_page_set_id == 0xCAFE);
  REQUIRE((*read)->transfer_ranges.size() == 2);
  CHECK((*read)->transfer_ranges[0].byte_count == 1500);
  CHECK((*read)->transfer_ranges[1].byte_offset == 4096);
  CHECK((*read)->payload.empty());
  REQUIRE(ring.Consume().ok());

  read = ring.Read();
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->type == PacketType::kCompletion);
  CHECK((*read)->transaction_id == 0x1234);
  CHECK((*read)->payload == answer);
}

TEST_CASE("vmbus ring: a corrupt write index is an error, kept apart from empty") {
  InFixture f;
  auto ring = f.Ring();
  SUBCASE("past the data area") { f.guest.SetHeader(RingField::kWriteIndex, f.guest.data_bytes()); }
  SUBCASE("far past") { f.guest.SetHeader(RingField::kWriteIndex, 0xFFFFFFF8); }
  SUBCASE("unaligned") { f.guest.SetHeader(RingField::kWriteIndex, 36); }
  CHECK_FALSE(ring.Read().ok());
  CHECK_FALSE(ring.HasData().ok());
  CHECK(f.guest.Header(RingField::kReadIndex) == 0);
}

TEST_CASE("vmbus ring: a corrupt read index at open is refused") {
  FakeRingMemory memory;
  FakeGuestRing guest(memory, {1, 2, 3});
  guest.SetHeader(RingField::kReadIndex, 12);
  CHECK_FALSE(InRing::Create(memory, guest.pfns()).ok());
  guest.SetHeader(RingField::kReadIndex, 8192);
  CHECK_FALSE(InRing::Create(memory, guest.pfns()).ok());
}

TEST_CASE("vmbus ring: hostile descriptors are refused and nothing is consumed") {
  InFixture f;
  auto ring = f.Ring();
  SUBCASE("length8 past the bytes written") { WriteRawPacket(f.guest, kInband, 2, 20, 64); }
  SUBCASE("length8 runs into the trailer") { WriteRawPacket(f.guest, kInband, 2, 8, 64); }
  SUBCASE("length8 past the whole ring") { WriteRawPacket(f.guest, kInband, 2, 0xFFFF, 64); }
  SUBCASE("length8 shorter than a descriptor") { WriteRawPacket(f.guest, kInband, 1, 1, 16); }
  SUBCASE("offset8 inside the descriptor") { WriteRawPacket(f.guest, kInband, 1, 4, 40); }
  SUBCASE("offset8 zero") { WriteRawPacket(f.guest, kInband, 0, 4, 40); }
  SUBCASE("offset8 past length8") { WriteRawPacket(f.guest, kInband, 5, 4, 40); }
  SUBCASE("fewer bytes than a descriptor and trailer") { WriteRawPacket(f.guest, kInband, 2, 2, 16); }
  SUBCASE("unknown packet type") { WriteRawPacket(f.guest, 0x77, 2, 2, 24); }
  SUBCASE("a type the guest does not send (GPADL)") { WriteRawPacket(f.guest, 8, 2, 2, 24); }
  SUBCASE("GPA direct without room for its header") { WriteRawPacket(f.guest, kGpaDirect, 2, 4, 40); }
  auto read = ring.Read();
  CHECK_FALSE(read.ok());
  CHECK_FALSE(ring.Consume().ok());
  CHECK(f.guest.Header(RingField::kReadIndex) == 0);
}

TEST_CASE("vmbus ring: packets over the size limit are refused") {
  InFixture f;
  auto ring = f.Ring(256);
  REQUIRE(f.guest.Write(kInband, 0, 1, Pattern(240, 0)).has_value());  // 256 bytes: fits
  REQUIRE(ring.Read().ok());
  REQUIRE(ring.Consume().ok());
  REQUIRE(f.guest.Write(kInband, 0, 2, Pattern(241, 0)).has_value());  // 264 bytes
  CHECK_FALSE(ring.Read().ok());
}

TEST_CASE("vmbus ring: hostile GPA-direct ranges are refused") {
  InFixture f;
  auto ring = f.Ring();
  GpaDirectBody body;
  SUBCASE("range count that overflows the header") {
    body = BuildGpaDirect({{4096, 0, {1}}}, {}, 0xFFFFFFFF);
  }
  SUBCASE("range count one more than present") { body = BuildGpaDirect({{4096, 0, {1}}}, {}, 2); }
  SUBCASE("more PFNs needed than the header holds") {
    body = BuildGpaDirect({{4097, 0, {1}}}, Pattern(16, 0));  // needs 2 PFNs
  }
  SUBCASE("byte_count that wraps with the offset") {
    body = BuildGpaDirect({{0xFFFFFFFF, 4095, {1, 2}}}, {});
  }
  SUBCASE("byte_offset past the first page") { body = BuildGpaDirect({{8, 4096, {1, 2}}}, {}); }
  SUBCASE("empty range") { body = BuildGpaDirect({{0, 0, {}}}, {}); }
  SUBCASE("PFN that wraps as an address") { body = BuildGpaDirect({{8, 0, {vmbus::kMaxPfn + 1}}}, {}); }
  REQUIRE(f.guest.Write(kGpaDirect, 0, 1, body.body, body.offset8).has_value());
  CHECK_FALSE(ring.Read().ok());
}

TEST_CASE("vmbus ring: the packet is copied once; guest changes during the read do not matter") {
  InFixture f;
  // Put the packet across a page boundary so its rest is read in two pieces.
  const uint32_t start = 4096 - 32;
  f.guest.SetHeader(RingField::kReadIndex, start);
  f.guest.SetHeader(RingField::kWriteIndex, start);
  auto ring = f.Ring();
  auto gpa = BuildGpaDirect({{0x2000, 0, {0x50, 0x51}}}, Pattern(64, 1));
  REQUIRE(f.guest.Write(kGpaDirect, 1, 99, gpa.body, gpa.offset8).has_value());

  // After every host read, the guest rewrites all it has handed over so
  // far: the descriptor (length8 0xFFFF, offset8 0xFFFF) after the first,
  // the range count and range after the second, everything after the last.
  // A reader that fetched any of it twice would see the garbage.
  const std::array<size_t, 3> copied_so_far{16, 32, 112};
  size_t hostile_writes = 0;
  f.memory.after_read = [&] {
    if (hostile_writes < copied_so_far.size())
      f.guest.WriteRaw(start, Bytes(copied_so_far[hostile_writes], std::byte{0xFF}));
    ++hostile_writes;
  };
  const int reads_before = f.memory.reads;
  auto read = ring.Read();
  f.memory.after_read = nullptr;
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->transaction_id == 99);
  REQUIRE((*read)->ranges.size() == 1);
  CHECK((*read)->ranges[0].pfns == std::vector<uint64_t>{0x50, 0x51});
  CHECK((*read)->payload == Pattern(64, 1));
  // Each byte read once: the descriptor, then the rest in two page pieces.
  CHECK(f.memory.reads - reads_before == 3);
  CHECK(hostile_writes == 3);
  // The host's position is its own: the guest's read_index is not re-read.
  f.guest.SetHeader(RingField::kReadIndex, 8);
  REQUIRE(ring.Consume().ok());
  CHECK(ring.read_index() == f.guest.Header(RingField::kWriteIndex));
  CHECK(f.guest.Header(RingField::kReadIndex) == ring.read_index());
}

TEST_CASE("vmbus ring: reading signals the guest only when free space crosses its pending_send_sz") {
  InFixture f;
  auto ring = f.Ring();
  // Fill the ring with 1 KiB packets until the guest's writer would block.
  const Bytes payload = Pattern(1024 - 16 - 8, 0);
  int written = 0;
  while (f.guest.Write(kInband, 0, 1, payload).has_value()) ++written;
  const uint32_t data = f.guest.data_bytes();  // 12 KiB: 11 packets fit
  CHECK(written == 11);
  const uint32_t free_now = data - 11 * 1024;  // 1024: not > 1024, so full

  SUBCASE("no pending_send_sz: never signalled") {
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNotNeeded);
  }
  SUBCASE("the writer waits for 1.5 KiB: the first read crosses it") {
    f.guest.SetHeader(RingField::kPendingSendSize, 1536);
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNeeded);  // 1024 -> 2048 free
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNotNeeded);  // already had room
  }
  SUBCASE("the writer waits for 2.5 KiB: the second read crosses it") {
    f.guest.SetHeader(RingField::kPendingSendSize, 2560);
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNotNeeded);  // 2048 free: not enough
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNeeded);  // 3072 free
  }
  SUBCASE("exactly the free space after the read is not enough (free must exceed it)") {
    f.guest.SetHeader(RingField::kPendingSendSize, 2048);
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNotNeeded);
    REQUIRE(ring.Read().value().has_value());
    CHECK(ring.Consume().value() == GuestSignal::kNeeded);
  }
  CHECK(free_now == 1024);
}

TEST_CASE("vmbus ring: the host masks the in-ring while polling and re-checks on unmask") {
  InFixture f;
  auto ring = f.Ring();
  REQUIRE(ring.Mask().ok());
  CHECK(f.guest.Header(RingField::kInterruptMask) == 1);
  // A Linux writer sees the mask and does not signal.
  CHECK(f.guest.Write(kInband, 0, 1, Pattern(8, 0)) == std::optional<bool>(false));
  // Unmasking finds the packet that slipped in: keep polling.
  CHECK(ring.Unmask().value() == true);
  CHECK(f.guest.Header(RingField::kInterruptMask) == 0);
  REQUIRE(ring.Read().value().has_value());
  REQUIRE(ring.Consume().ok());
  CHECK(ring.Unmask().value() == false);
  // Unmasked and empty: the writer signals.
  CHECK(f.guest.Write(kInband, 0, 2, Pattern(8, 0)) == std::optional<bool>(true));
}

TEST_CASE("vmbus ring: out-ring packets read back by a Linux-style reader") {
  OutFixture f;
  auto ring = f.Ring();
  const Bytes head = Pattern(5, 1), tail = Pattern(60, 2);
  const std::array<std::span<const std::byte>, 2> parts{head, tail};
  auto result = ring.Write({.type = PacketType::kDataInband, .flags = 1, .transaction_id = 0xABCDEF,
                            .header_extension = {}, .payload = parts});
  REQUIRE(result.ok());
  CHECK(result->status == WriteStatus::kWritten);
  CHECK(f.guest.Header(RingField::kWriteIndex) == 16 + 72 + 8);

  auto packet = f.guest.Read();
  REQUIRE(packet.has_value());
  CHECK(packet->type == kInband);
  CHECK(packet->offset8 == 2);
  CHECK(packet->length8 == (16 + 72) / 8);
  CHECK(packet->flags == 1);
  CHECK(packet->transaction_id == 0xABCDEF);
  Bytes expected = head;
  expected.insert(expected.end(), tail.begin(), tail.end());
  expected.resize(72);  // zero padding
  CHECK(packet->body == expected);
  CHECK(packet->trailer == 0);  // written at index 0

  // The second packet's trailer names where it started.
  REQUIRE(ring.WriteCompletion(77, head).ok());
  packet = f.guest.Read();
  REQUIRE(packet.has_value());
  CHECK(packet->type == kCompletion);
  CHECK(packet->transaction_id == 77);
  CHECK(packet->trailer == uint64_t{16 + 72 + 8} << 32);
}

TEST_CASE("vmbus ring: out-ring writes wrap the data area") {
  OutFixture f;
  const uint32_t start = f.guest.data_bytes() - 40;
  f.guest.SetHeader(RingField::kReadIndex, start);
  f.guest.SetHeader(RingField::kWriteIndex, start);
  auto ring = f.Ring();
  for (uint64_t id = 0; id < 100; ++id) {
    const Bytes payload = Pattern(static_cast<size_t>(1 + id * 53 % 3000), static_cast<uint8_t>(id));
    const std::array<std::span<const std::byte>, 1> parts{payload};
    auto result = ring.Write({.type = PacketType::kDataInband, .flags = 0, .transaction_id = id,
                              .header_extension = {}, .payload = parts});
    REQUIRE(result.ok());
    REQUIRE(result->status == WriteStatus::kWritten);
    auto packet = f.guest.Read();
    REQUIRE(packet.has_value());
    CHECK(packet->transaction_id == id);
    CHECK(Bytes(packet->body.begin(), packet->body.begin() + static_cast<ptrdiff_t>(payload.size())) == payload);
  }
}

TEST_CASE("vmbus ring: a header extension sits before the payload, offset8 past it") {
  OutFixture f;
  auto ring = f.Ring();
  Bytes extension(4 + 8);  // pageset id, sender owns, rsvd, range_cnt; one range
  Put16(extension, 0, 3);
  Put32(extension, 4, 1);
  const Bytes payload = Pattern(8, 0);
  const std::array<std::span<const std::byte>, 1> parts{payload};
  auto result = ring.Write({.type = PacketType::kDataUsingTransferPages, .flags = 0,
                            .transaction_id = 5, .header_extension = extension, .payload = parts});
  REQUIRE(result.ok());
  auto packet = f.guest.Read();
  REQUIRE(packet.has_value());
  CHECK(packet->offset8 == (16 + 16) / 8);
  CHECK(packet->length8 == (16 + 16 + 8) / 8);
  CHECK(Get32(packet->body, 4) == 1);
  CHECK(Bytes(packet->body.begin() + 16, packet->body.end()) == payload);
}

TEST_CASE("vmbus ring: a full out-ring refuses and writes nothing") {
  OutFixture f;  // 8 KiB of data
  auto ring = f.Ring();
  const Bytes payload = Pattern(1024 - 24, 0);  // 1 KiB in the ring
  const std::array<std::span<const std::byte>, 1> parts{payload};
  const vmbus::OutgoingPacket packet{.type = PacketType::kDataInband, .flags = 0,
                                     .transaction_id = 1, .header_extension = {}, .payload = parts};
  CHECK(OutRing::PacketRingBytes(0, payload.size()) == std::optional<uint32_t>(1024));
  for (int i = 0; i < 7; ++i) REQUIRE(ring.Write(packet).value().status == WriteStatus::kWritten);
  // 1 KiB left: available <= needed means full.
  CHECK(ring.HasRoomFor(1024).value() == false);
  CHECK(ring.HasRoomFor(1016).value() == true);
  const int writes_before = f.memory.writes;
  const uint32_t index_before = f.guest.Header(RingField::kWriteIndex);
  auto full = ring.Write(packet);
  REQUIRE(full.ok());
  CHECK(full->status == WriteStatus::kFull);
  CHECK(f.memory.writes == writes_before);
  CHECK(f.guest.Header(RingField::kWriteIndex) == index_before);
  CHECK(ring.write_index() == index_before);

  // The host asks to hear when there is room; the guest's read crosses it.
  REQUIRE(ring.SetPendingSendSize(1024).ok());
  CHECK(f.guest.Header(RingField::kPendingSendSize) == 1024);
  bool signal_host = false;
  REQUIRE(f.guest.Read(&signal_host).has_value());
  CHECK(signal_host);
  REQUIRE(ring.Write(packet).value().status == WriteStatus::kWritten);
}

TEST_CASE("vmbus ring: out-ring signals only an unmasked guest whose ring was empty") {
  OutFixture f;
  auto ring = f.Ring();
  const Bytes payload = Pattern(16, 0);
  const std::array<std::span<const std::byte>, 1> parts{payload};
  const vmbus::OutgoingPacket packet{.type = PacketType::kDataInband, .flags = 0,
                                     .transaction_id = 1, .header_extension = {}, .payload = parts};
  CHECK(ring.Write(packet).value().signal == GuestSignal::kNeeded);     // was empty
  CHECK(ring.Write(packet).value().signal == GuestSignal::kNotNeeded);  // guest has not read
  REQUIRE(f.guest.Read().has_value());
  REQUIRE(f.guest.Read().has_value());
  f.guest.SetHeader(RingField::kInterruptMask, 1);  // guest polling
  CHECK(ring.Write(packet).value().signal == GuestSignal::kNotNeeded);
  REQUIRE(f.guest.Read().has_value());
  f.guest.SetHeader(RingField::kInterruptMask, 0);
  CHECK(ring.Write(packet).value().signal == GuestSignal::kNeeded);
}

TEST_CASE("vmbus ring: out-ring refuses a corrupt read index and packets that never fit") {
  OutFixture f;
  auto ring = f.Ring();
  const Bytes big = Pattern(8192, 0);
  const std::array<std::span<const std::byte>, 1> parts{big};
  CHECK_FALSE(ring.Write({.type = PacketType::kDataInband, .flags = 0, .transaction_id = 1,
                          .header_extension = {}, .payload = parts})
                  .ok());
  CHECK(OutRing::PacketRingBytes(0, 0x80000) == std::nullopt);  // length8 overflows
  f.guest.SetHeader(RingField::kReadIndex, 4);
  CHECK_FALSE(ring.WriteCompletion(1, {}).ok());
  f.guest.SetHeader(RingField::kReadIndex, 8192);
  CHECK_FALSE(ring.HasRoomFor(8).ok());
  CHECK(f.guest.Header(RingField::kWriteIndex) == 0);
}

TEST_CASE("vmbus ring: rings over mem::GuestMemory through GuestMemoryPageAccess") {
  alignas(4096) static std::array<std::byte, 8 * 4096> ram{};
  auto memory = mem::GuestMemory::Create(mem::Gpa{0x100000}, ram);
  REQUIRE(memory.ok());
  vmbus::GuestMemoryPageAccess access(*memory);
  // One GPADL: pages 0x100..0x103 in, 0x104..0x105 out; host writes to the
  // out ring, then a "guest" copies that packet into the in ring.
  const std::vector<uint64_t> gpadl{0x100, 0x101, 0x102, 0x103, 0x104, 0x105};
  auto layout = vmbus::RingLayout::Create(gpadl, 4);
  REQUIRE(layout.ok());
  auto out = OutRing::Create(access, layout->out_pfns);
  auto in = InRing::Create(access, layout->in_pfns);
  REQUIRE(out.ok());
  REQUIRE(in.ok());
  const Bytes payload = Pattern(40, 5);
  REQUIRE(out->WriteCompletion(9, payload).ok());
  // Move the packet bytes (descriptor .. trailer = 16 + 40 + 8) from the
  // out ring's data page to the in ring's and publish them.
  const size_t out_data = 5 * 4096, in_data = 1 * 4096;
  std::copy(ram.begin() + out_data, ram.begin() + out_data + 64, ram.begin() + in_data);
  REQUIRE(memory->StoreRelease32(mem::Gpa{0x100000}, 64).ok());
  auto read = in->Read();
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->type == PacketType::kCompletion);
  CHECK((*read)->transaction_id == 9);
  CHECK((*read)->payload == payload);
}
