#include "storvsp/channel.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <vector>

#include "scsi/testing/fake_block_device.h"

namespace {

using scsi::testing::FakeBlockDevice;
using scsi::testing::FakeGuestRam;
using storvsp::Channel;
using storvsp::PacketResult;
using Bytes = std::vector<std::byte>;

// Linux 6.1's transaction ids: VMBUS_RQST_INIT and VMBUS_RQST_RESET.
constexpr uint64_t kInitId = ~uint64_t{0} - 2;
constexpr uint64_t kResetId = ~uint64_t{0} - 3;

class RecordingSink final : public storvsp::PacketSink {
 public:
  void Send(const storvsp::OutgoingPacket& packet) override {
    std::lock_guard lock(mutex_);
    sent.push_back(packet);
    if (channel != nullptr) unanswered_at_send.push_back(channel->unanswered());
  }
  std::vector<storvsp::OutgoingPacket> sent;
  // With `channel` set: its unanswered() as each packet was sent.
  const storvsp::Channel* channel = nullptr;
  std::vector<uint32_t> unanswered_at_send;

 private:
  std::mutex mutex_;
};

void Put16(Bytes& b, size_t at, uint16_t v) {
  for (size_t i = 0; i < 2; ++i) b.at(at + i) = std::byte{static_cast<uint8_t>(v >> (8 * i))};
}
void Put32(Bytes& b, size_t at, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) b.at(at + i) = std::byte{static_cast<uint8_t>(v >> (8 * i))};
}
uint32_t Get32(std::span<const std::byte> b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(b[at + i])} << (8 * i);
  return v;
}
Bytes B(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(std::byte{static_cast<uint8_t>(v)});
  return out;
}

// As Linux 6.1 storvsc_execute_vstor_op sends it: a zeroed 64-byte
// vstor_packet, operation, REQUEST_COMPLETION_FLAG, inband, completion
// requested, transaction id VMBUS_RQST_INIT.
vmbus::IncomingPacket InitPacket(uint32_t operation, Bytes payload = {}) {
  vmbus::IncomingPacket packet;
  packet.type = vmbus::PacketType::kDataInband;
  packet.flags = vmbus::kPacketFlagCompletionRequested;
  packet.transaction_id = kInitId;
  packet.payload.resize(64);
  Put32(packet.payload, 0, operation);
  Put32(packet.payload, 4, 1);
  std::copy(payload.begin(), payload.end(), packet.payload.begin() + 12);
  return packet;
}
vmbus::IncomingPacket Version(uint16_t major_minor) {
  Bytes payload(4);
  Put16(payload, 0, major_minor);
  return InitPacket(9, payload);
}

// A completion as Linux reads it: VM_PKT_COMP, 64 bytes, COMPLETE_IO.
Bytes Reply(uint32_t status, Bytes payload = {}) {
  Bytes out(64);
  Put32(out, 0, 1);
  Put32(out, 8, status);
  std::copy(payload.begin(), payload.end(), out.begin() + 12);
  return out;
}
Bytes PayloadOf(const storvsp::OutgoingPacket& packet) {
  return Bytes(packet.payload.begin(), packet.payload.end());
}

struct Srb {
  uint8_t path = 0;
  uint8_t target = 0;
  uint8_t lun = 0;
  Bytes cdb;
  uint8_t data_in = 2;
  uint32_t transfer_bytes = 0;
};

// As storvsc_queuecommand and storvsc_do_io build it (Win8 form).
Bytes SrbPayload(const Srb& srb) {
  Bytes packet(64);
  Put32(packet, 0, 3);  // EXECUTE_SRB
  Put32(packet, 4, 1);
  const size_t at = 12;
  Put16(packet, at + 0, 0x34);
  packet[at + 5] = std::byte{srb.path};
  packet[at + 6] = std::byte{srb.target};
  packet[at + 7] = std::byte{srb.lun};
  packet[at + 8] = std::byte{static_cast<uint8_t>(srb.cdb.size())};
  packet[at + 9] = std::byte{0x14};
  packet[at + 10] = std::byte{srb.data_in};
  Put32(packet, at + 12, srb.transfer_bytes);
  for (size_t i = 0; i < srb.cdb.size() && i < 20; ++i) packet[at + 16 + i] = srb.cdb[i];
  packet[at + 38] = std::byte{0xFF};  // SP_UNTAGGED
  packet[at + 39] = std::byte{0x20};  // SRB_SIMPLE_TAG_REQUEST
  const uint32_t direction = srb.data_in == 0 ? 0x80 : srb.data_in == 1 ? 0x40 : 0;
  Put32(packet, at + 40, 0x2 | 0x8 | direction);
  Put32(packet, at + 44, 60);
  return packet;
}

vmbus::IncomingPacket SrbPacket(const Srb& srb, uint64_t transaction_id,
                                std::vector<vmbus::GpaRange> ranges = {}) {
  vmbus::IncomingPacket packet;
  packet.type =
      ranges.empty() ? vmbus::PacketType::kDataInband : vmbus::PacketType::kDataUsingGpaDirect;
  packet.flags = vmbus::kPacketFlagCompletionRequested;
  packet.transaction_id = transaction_id;
  packet.payload = SrbPayload(srb);
  packet.ranges = std::move(ranges);
  return packet;
}

uint64_t Pfn(uint64_t ram_offset) { return mem::ToU64(FakeGuestRam::Address(ram_offset)) / 4096; }

Bytes Read10(uint32_t lba, uint16_t blocks, uint8_t opcode = 0x28) {
  Bytes cdb(10);
  cdb[0] = std::byte{opcode};
  for (size_t i = 0; i < 4; ++i) cdb[2 + i] = std::byte{static_cast<uint8_t>(lba >> (24 - 8 * i))};
  cdb[7] = std::byte{static_cast<uint8_t>(blocks >> 8)};
  cdb[8] = std::byte{static_cast<uint8_t>(blocks)};
  return cdb;
}

block::Geometry Geometry() {
  block::Geometry geometry;
  geometry.block_size = 512;
  geometry.block_count = 1024;
  return geometry;
}

struct Rig {
  explicit Rig(storvsp::Config config = {})
      : ram(512 * 1024),
        device(Geometry(), ram.memory()),
        disk(device, ram.buffer()),
        channel(config, &disk, ram.buffer(), sink) {}

  PacketResult Send(const vmbus::IncomingPacket& packet) {
    const storvsp::Handled handled = channel.OnPacket(packet);
    last_offer = handled.offer_sub_channels;
    return handled.result;
  }
  void Initialize(uint16_t version = 0x0602) {
    REQUIRE(Send(InitPacket(7)) == PacketResult::kOk);
    REQUIRE(Send(Version(version)) == PacketResult::kOk);
    REQUIRE(Send(InitPacket(10)) == PacketResult::kOk);
    REQUIRE(Send(InitPacket(8)) == PacketResult::kOk);
    REQUIRE(channel.ready());
    sink.sent.clear();
  }
  // The SRB fields of the last completion.
  std::span<const std::byte> LastSrb() const {
    return std::span(sink.sent.back().payload).subspan(12);
  }

  FakeGuestRam ram;
  FakeBlockDevice device;
  scsi::Disk disk;
  RecordingSink sink;
  Channel channel;
  uint16_t last_offer = 0;
};

}  // namespace

TEST_CASE("storvsp: Linux 6.1's initialization, byte for byte") {
  storvsp::Config config;
  config.max_transfer_bytes = 0x10'0000;
  Rig rig(config);

  CHECK(rig.Send(InitPacket(7)) == PacketResult::kOk);  // BEGIN_INITIALIZATION
  CHECK(rig.Send(Version(0x0602)) == PacketResult::kOk);
  CHECK(rig.channel.version() == 0x0602);
  CHECK(rig.Send(InitPacket(10)) == PacketResult::kOk);  // QUERY_PROPERTIES
  CHECK(!rig.channel.ready());
  CHECK(rig.Send(InitPacket(8)) == PacketResult::kOk);  // END_INITIALIZATION
  CHECK(rig.channel.ready());

  REQUIRE(rig.sink.sent.size() == 4);
  for (const auto& packet : rig.sink.sent) {
    CHECK(packet.type == vmbus::PacketType::kCompletion);
    CHECK(packet.transaction_id == kInitId);
  }
  CHECK(PayloadOf(rig.sink.sent[0]) == Reply(0));
  CHECK(PayloadOf(rig.sink.sent[1]) == Reply(0));
  // vmstorage_channel_properties: max_channel_cnt 0, flags 0 (no
  // multi-channel), max_transfer_bytes 1 MiB.
  CHECK(PayloadOf(rig.sink.sent[2]) ==
        Reply(0, B({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00})));
  CHECK(PayloadOf(rig.sink.sent[3]) == Reply(0));
}

TEST_CASE("storvsp: unsupported versions are refused with STATUS_REVISION_MISMATCH") {
  Rig rig;
  CHECK(rig.Send(InitPacket(7)) == PacketResult::kOk);
  for (int proposed : {0x0700, 0x0603, 0x0402, 0x0200}) {
    const auto version = static_cast<uint16_t>(proposed);
    CAPTURE(version);
    CHECK(rig.Send(Version(version)) == PacketResult::kVersionRefused);
    CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0xC000'0059));
    CHECK(!rig.channel.version().has_value());
  }
  // Linux's fallback list: each of them is accepted.
  for (int proposed : {0x0602, 0x0600, 0x0501}) {
    const auto version = static_cast<uint16_t>(proposed);
    CAPTURE(version);
    Rig fresh;
    CHECK(fresh.Send(InitPacket(7)) == PacketResult::kOk);
    CHECK(fresh.Send(Version(version)) == PacketResult::kOk);
    CHECK(fresh.channel.version() == version);
  }
}

TEST_CASE("storvsp: packets in the wrong state get a status and change nothing") {
  Rig rig;
  const Bytes wrong_state = Reply(0xC000'0184);
  CHECK(rig.Send(SrbPacket({.cdb = B({0, 0, 0, 0, 0, 0})}, 1)) == PacketResult::kWrongState);
  CHECK(PayloadOf(rig.sink.sent.back()) == wrong_state);
  CHECK(rig.sink.sent.back().transaction_id == 1u);
  CHECK(rig.Send(Version(0x0602)) == PacketResult::kWrongState);  // before BEGIN
  CHECK(rig.Send(InitPacket(10)) == PacketResult::kWrongState);
  CHECK(rig.Send(InitPacket(8)) == PacketResult::kWrongState);
  CHECK(rig.Send(InitPacket(6)) == PacketResult::kWrongState);  // RESET_BUS
  CHECK(rig.Send(InitPacket(7)) == PacketResult::kOk);
  CHECK(rig.Send(InitPacket(7)) == PacketResult::kWrongState);  // BEGIN twice
  CHECK(rig.Send(InitPacket(8)) == PacketResult::kWrongState);  // END before a version
  CHECK(rig.Send(InitPacket(13, B({1, 0}))) == PacketResult::kWrongState);
  CHECK(PayloadOf(rig.sink.sent.back()) == wrong_state);
  CHECK(!rig.channel.ready());
  // END right after the version is allowed (properties are optional).
  CHECK(rig.Send(Version(0x0501)) == PacketResult::kOk);
  CHECK(rig.Send(InitPacket(8)) == PacketResult::kOk);
  CHECK(rig.channel.ready());
  CHECK(rig.Send(InitPacket(7)) == PacketResult::kWrongState);
  CHECK(rig.Send(Version(0x0602)) == PacketResult::kWrongState);
  CHECK(rig.channel.version() == 0x0501);
}

TEST_CASE("storvsp: WRITE(10) and READ(10) through GPA-direct ranges") {
  Rig rig;
  rig.Initialize();
  // 10000 bytes starting 0x200 into page 10: pages 10, 11 contiguous, then 20.
  Bytes data(10000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::byte{static_cast<uint8_t>(i * 13 + 1)};
  vmbus::GpaRange range{10000, 0x200, {Pfn(10 * 4096), Pfn(11 * 4096), Pfn(20 * 4096)}};
  // The guest's buffer: fill the pieces.
  auto first = rig.ram.At(FakeGuestRam::Address(10 * 4096 + 0x200), 8192 - 0x200);
  std::copy(data.begin(), data.begin() + ptrdiff_t(first.size()), first.begin());
  auto rest = rig.ram.At(FakeGuestRam::Address(20 * 4096), data.size() - first.size());
  std::copy(data.begin() + ptrdiff_t(first.size()), data.end(), rest.begin());

  // 18 blocks = 9216 bytes of the 10000-byte buffer.
  Srb write{.cdb = Read10(100, 18, 0x2A), .data_in = 0, .transfer_bytes = 10000};
  CHECK(rig.Send(SrbPacket(write, 0x11, {range})) == PacketResult::kOk);
  REQUIRE(rig.device.requests.size() == 1);
  const block::Request& request = rig.device.requests[0];
  CHECK(request.op == block::Op::kWrite);
  CHECK(request.lba == 100u);
  REQUIRE(request.segments.size() == 2);  // pages 10 and 11 merged
  CHECK(request.segments[0].gpa == FakeGuestRam::Address(10 * 4096 + 0x200));
  CHECK(request.segments[0].bytes == 8192u - 0x200);
  CHECK(request.segments[1].gpa == FakeGuestRam::Address(20 * 4096));
  CHECK(request.segments[1].bytes == 9216u - (8192 - 0x200));

  REQUIRE(rig.sink.sent.size() == 1);
  const auto& completion = rig.sink.sent[0];
  CHECK(completion.transaction_id == 0x11u);
  CHECK(Get32(completion.payload, 0) == 1u);  // COMPLETE_IO
  CHECK(Get32(completion.payload, 8) == 0u);
  auto srb = rig.LastSrb();
  CHECK(srb[2] == std::byte{0x01});  // SRB_STATUS_SUCCESS
  CHECK(srb[3] == std::byte{0x00});  // GOOD
  CHECK(Get32(srb, 12) == 9216u);    // residual 784 for Linux
  CHECK(srb[9] == std::byte{0});     // no sense
  // The rest is echoed: address, CDB length, data_in, Win8 fields.
  const Bytes request_srb = SrbPayload(write);
  CHECK(Bytes(srb.begin() + 4, srb.begin() + 9) ==
        Bytes(request_srb.begin() + 16, request_srb.begin() + 21));
  CHECK(srb[10] == std::byte{0});
  CHECK(Bytes(srb.begin() + 36, srb.end()) == Bytes(request_srb.begin() + 48, request_srb.end()));

  // Read it back into one fresh page run.
  vmbus::GpaRange back{9216, 0, {Pfn(40 * 4096), Pfn(41 * 4096), Pfn(42 * 4096)}};
  Srb read{.cdb = Read10(100, 18), .data_in = 1, .transfer_bytes = 9216};
  CHECK(rig.Send(SrbPacket(read, 0x12, {back})) == PacketResult::kOk);
  CHECK(rig.device.requests.back().segments.size() == 1);
  auto got = rig.ram.At(FakeGuestRam::Address(40 * 4096), 9216);
  CHECK(Bytes(got.begin(), got.end()) == Bytes(data.begin(), data.begin() + 9216));
  CHECK(Get32(rig.LastSrb(), 12) == 9216u);
}

TEST_CASE("storvsp: CHECK CONDITION comes back with autosense") {
  Rig rig;
  rig.Initialize();
  vmbus::GpaRange range{1024, 0, {Pfn(0x4000)}};
  // READ(10) past the end of the 1024-block disk.
  Srb read{.cdb = Read10(1023, 2), .data_in = 1, .transfer_bytes = 1024};
  CHECK(rig.Send(SrbPacket(read, 7, {range})) == PacketResult::kOk);
  auto srb = rig.LastSrb();
  CHECK(srb[2] == std::byte{0x84});  // SRB_STATUS_ERROR | AUTOSENSE_VALID
  CHECK(srb[3] == std::byte{0x02});  // CHECK CONDITION
  CHECK(srb[9] == std::byte{18});    // sense_info_length
  CHECK(Get32(srb, 12) == 0u);
  // Fixed sense: ILLEGAL REQUEST, LBA OUT OF RANGE; the rest of the 20
  // bytes zeroed.
  CHECK(Bytes(srb.begin() + 16, srb.begin() + 36) ==
        B({0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("storvsp: absent LUNs: INQUIRY says PQ 3 / PDT 1Fh, REPORT LUNS none, the rest INVALID_LUN") {
  Rig rig;
  rig.Initialize();
  vmbus::GpaRange range{36, 0, {Pfn(0x8000)}};
  Srb inquiry{.target = 1, .cdb = B({0x12, 0, 0, 0, 36, 0}), .data_in = 1, .transfer_bytes = 36};
  CHECK(rig.Send(SrbPacket(inquiry, 1, {range})) == PacketResult::kOk);
  CHECK(rig.LastSrb()[2] == std::byte{0x01});
  CHECK(Get32(rig.LastSrb(), 12) == 36u);
  CHECK(rig.ram.At(FakeGuestRam::Address(0x8000), 1)[0] == std::byte{0x7F});

  // LUN 1 of the disk's target: absent too.
  inquiry.target = 0;
  inquiry.lun = 1;
  CHECK(rig.Send(SrbPacket(inquiry, 2, {range})) == PacketResult::kOk);
  CHECK(rig.ram.At(FakeGuestRam::Address(0x8000), 1)[0] == std::byte{0x7F});

  Srb tur{.target = 0, .lun = 3, .cdb = B({0, 0, 0, 0, 0, 0})};
  CHECK(rig.Send(SrbPacket(tur, 3)) == PacketResult::kInvalidLun);
  CHECK(rig.LastSrb()[2] == std::byte{0x20});
  CHECK(rig.LastSrb()[3] == std::byte{0x00});
  CHECK(rig.device.requests.empty());

  // The disk's own LUN answers a real INQUIRY.
  inquiry.lun = 0;
  CHECK(rig.Send(SrbPacket(inquiry, 4, {range})) == PacketResult::kOk);
  CHECK(rig.ram.At(FakeGuestRam::Address(0x8000), 1)[0] == std::byte{0x00});

  // REPORT LUNS to LUN 1 of the disk's target lists LUN 0.
  vmbus::GpaRange report_range{16, 0, {Pfn(0x9000)}};
  Srb report{.lun = 1,
             .cdb = B({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}),
             .data_in = 1,
             .transfer_bytes = 16};
  CHECK(rig.Send(SrbPacket(report, 5, {report_range})) == PacketResult::kOk);
  CHECK(rig.LastSrb()[2] == std::byte{0x01});
  auto luns = rig.ram.At(FakeGuestRam::Address(0x9000), 16);
  CHECK(Bytes(luns.begin(), luns.end()) == B({0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));

  // REPORT LUNS on another path (Linux scans paths 0..7, targets 0..1):
  // a good, empty list. An INVALID_LUN here would make Linux 6.1 remove
  // the device at channel 0 of the same target and LUN: the disk.
  report.path = 1;
  report.lun = 0;
  CHECK(rig.Send(SrbPacket(report, 6, {report_range})) == PacketResult::kOk);
  CHECK(rig.LastSrb()[2] == std::byte{0x01});
  CHECK(Get32(rig.LastSrb(), 12) == 8u);
  luns = rig.ram.At(FakeGuestRam::Address(0x9000), 8);
  CHECK(Bytes(luns.begin(), luns.end()) == B({0, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(rig.device.requests.empty());
}

TEST_CASE("storvsp: malformed packets get a status, never a crash") {
  Rig rig;
  rig.Initialize();
  const Bytes invalid_request_srb = B({0x06, 0x00});

  // Too short for a vstor_packet header, and for an SRB.
  vmbus::IncomingPacket tiny = InitPacket(3);
  tiny.payload.resize(8);
  CHECK(rig.Send(tiny) == PacketResult::kShortPacket);
  CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0xC000'000D));
  vmbus::IncomingPacket short_srb = SrbPacket({.cdb = B({0, 0, 0, 0, 0, 0})}, 9);
  short_srb.payload.resize(12 + 0x24);  // the pre-Win8 SRB
  CHECK(rig.Send(short_srb) == PacketResult::kShortPacket);
  CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0xC000'000D));

  // Unknown and host->guest operations.
  CHECK(rig.Send(InitPacket(99)) == PacketResult::kUnknownOperation);
  CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0xC000'0010));
  CHECK(rig.Send(InitPacket(1)) == PacketResult::kUnknownOperation);
  CHECK(rig.Send(InitPacket(12)) == PacketResult::kUnknownOperation);

  // Not a data packet: nothing is sent.
  const size_t sent = rig.sink.sent.size();
  vmbus::IncomingPacket completion = InitPacket(1);
  completion.type = vmbus::PacketType::kCompletion;
  CHECK(rig.Send(completion) == PacketResult::kIgnored);
  completion.type = static_cast<vmbus::PacketType>(0x7777);
  CHECK(rig.Send(completion) == PacketResult::kIgnored);
  CHECK(rig.sink.sent.size() == sent);

  auto check_bad = [&](const vmbus::IncomingPacket& packet) {
    CHECK(rig.Send(packet) == PacketResult::kBadRequest);
    CHECK(rig.LastSrb()[2] == std::byte{0x06});
    CHECK(Get32(rig.LastSrb(), 12) == 0u);
  };
  const vmbus::GpaRange page{4096, 0, {Pfn(0x4000)}};
  // CDB length 0 and 17.
  check_bad(SrbPacket({.cdb = {}}, 10));
  vmbus::IncomingPacket long_cdb = SrbPacket({.cdb = B({0, 0, 0, 0, 0, 0})}, 10);
  long_cdb.payload[12 + 8] = std::byte{17};
  check_bad(long_cdb);
  // data_in 7.
  check_bad(SrbPacket({.cdb = Read10(0, 1), .data_in = 7, .transfer_bytes = 512}, 11, {page}));
  // A transfer longer than the range, data without a range, two ranges.
  check_bad(SrbPacket({.cdb = Read10(0, 8), .data_in = 1, .transfer_bytes = 4097}, 12, {page}));
  check_bad(SrbPacket({.cdb = Read10(0, 1), .data_in = 1, .transfer_bytes = 512}, 13));
  check_bad(
      SrbPacket({.cdb = Read10(0, 1), .data_in = 1, .transfer_bytes = 512}, 14, {page, page}));
  // Too few PFNs for the range; a PFN whose address overflows.
  check_bad(SrbPacket({.cdb = Read10(0, 2), .data_in = 1, .transfer_bytes = 1024}, 15,
                      {vmbus::GpaRange{1024, 4000, {Pfn(0x4000)}}}));
  check_bad(SrbPacket({.cdb = Read10(0, 1), .data_in = 1, .transfer_bytes = 512}, 16,
                      {vmbus::GpaRange{512, 0, {uint64_t{1} << 60}}}));
  // More than max_transfer_bytes (1 MiB).
  check_bad(SrbPacket({.cdb = Read10(0, 1), .data_in = 1, .transfer_bytes = 0x10'1000}, 17,
                      {vmbus::GpaRange{0x10'1000, 0, std::vector<uint64_t>(0x102, Pfn(0))}}));
  CHECK(rig.device.requests.empty());

  // A PFN outside guest RAM reaches the back end, which fails the
  // transfer: ABORTED COMMAND sense, not a crash.
  CHECK(rig.Send(SrbPacket({.cdb = Read10(0, 1), .data_in = 1, .transfer_bytes = 512}, 18,
                           {vmbus::GpaRange{512, 0, {0x9'0000}}})) == PacketResult::kOk);
  CHECK(rig.LastSrb()[2] == std::byte{0x84});
  CHECK(rig.LastSrb()[16 + 2] == std::byte{0x0B});
}

TEST_CASE("storvsp: many SRBs in flight complete later with their own ids") {
  Rig rig;
  rig.Initialize();
  rig.device.defer_completions = true;
  for (uint64_t id = 1; id <= 5; ++id) {
    vmbus::GpaRange range{512, 0, {Pfn(id * 4096)}};
    CHECK(rig.Send(SrbPacket(
              {.cdb = Read10(static_cast<uint32_t>(id), 1), .data_in = 1, .transfer_bytes = 512},
              id * 100, {range})) == PacketResult::kOk);
  }
  CHECK(rig.sink.sent.empty());
  CHECK(rig.channel.in_flight() == 5u);
  CHECK(rig.channel.unanswered() == 5u);
  rig.sink.channel = &rig.channel;
  rig.device.RunPending();
  CHECK(rig.channel.in_flight() == 0u);
  // Each completion counts as answered before it is sent: a ring reader
  // polling on unanswered() > 0 is woken by the Send of the last one.
  CHECK(rig.sink.unanswered_at_send == std::vector<uint32_t>{4, 3, 2, 1, 0});
  REQUIRE(rig.sink.sent.size() == 5);
  for (uint64_t i = 0; i < 5; ++i) {
    CHECK(rig.sink.sent[i].transaction_id == (i + 1) * 100);
    CHECK(Get32(rig.sink.sent[i].payload, 12 + 12) == 512u);
  }
  // RESET_BUS as Linux's host reset handler sends it.
  vmbus::IncomingPacket reset = InitPacket(6);
  reset.transaction_id = kResetId;
  CHECK(rig.Send(reset) == PacketResult::kOk);
  CHECK(rig.sink.sent.back().transaction_id == kResetId);
  CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0));
}

TEST_CASE("storvsp: sub-channels: offered in QUERY_PROPERTIES, created once, capped") {
  storvsp::Config config;
  config.max_sub_channels = 4;
  Rig rig(config);
  CHECK(rig.Send(InitPacket(7)) == PacketResult::kOk);
  CHECK(rig.Send(Version(0x0602)) == PacketResult::kOk);
  CHECK(rig.Send(InitPacket(10)) == PacketResult::kOk);
  // max_channel_cnt 4, flags 1 (multi-channel).
  CHECK(PayloadOf(rig.sink.sent.back()) ==
        Reply(0, B({0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x00, 0x10, 0x00})));
  CHECK(rig.Send(InitPacket(8)) == PacketResult::kOk);

  CHECK(rig.Send(InitPacket(13, B({5, 0}))) == PacketResult::kBadSubChannelCount);
  CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0xC000'000D));
  CHECK(rig.last_offer == 0);
  CHECK(rig.Send(InitPacket(13, B({0, 0}))) == PacketResult::kBadSubChannelCount);
  CHECK(rig.Send(InitPacket(13, B({3, 0}))) == PacketResult::kOk);
  CHECK(PayloadOf(rig.sink.sent.back()) == Reply(0));
  CHECK(rig.last_offer == 3);
  CHECK(rig.Send(InitPacket(13, B({1, 0}))) == PacketResult::kWrongState);
  CHECK(rig.last_offer == 0);

  // A sub-channel is ready at once and carries SRBs, but creates nothing.
  RecordingSink sub_sink;
  Channel sub(config, &rig.disk, rig.ram.buffer(), sub_sink, Channel::SubChannelOf{0x0602});
  CHECK(sub.ready());
  CHECK(sub.version() == 0x0602);
  vmbus::GpaRange range{512, 0, {Pfn(0x3000)}};
  CHECK(sub.OnPacket(
               SrbPacket({.cdb = Read10(0, 1), .data_in = 1, .transfer_bytes = 512}, 42, {range}))
            .result == PacketResult::kOk);
  REQUIRE(sub_sink.sent.size() == 1);
  CHECK(sub_sink.sent[0].transaction_id == 42u);
  CHECK(sub.OnPacket(InitPacket(13, B({1, 0}))).result == PacketResult::kWrongState);

  // Multi-channel off: any request is refused.
  Rig single;
  single.Initialize();
  CHECK(single.Send(InitPacket(13, B({1, 0}))) == PacketResult::kBadSubChannelCount);
}

TEST_CASE("storvsp: max_transfer_bytes follows the disk's limit, in whole pages") {
  FakeGuestRam ram(64 * 1024);
  block::Geometry geometry = Geometry();
  geometry.max_transfer_blocks = 20;  // 10240 bytes -> 8192
  FakeBlockDevice device(geometry, ram.memory());
  scsi::Disk disk(device, ram.buffer());
  RecordingSink sink;
  CHECK(Channel({}, &disk, ram.buffer(), sink).max_transfer_bytes() == 8192u);
  storvsp::Config small;
  small.max_transfer_bytes = 100;
  CHECK(Channel(small, nullptr, ram.buffer(), sink).max_transfer_bytes() == 4096u);
  CHECK(Channel({}, nullptr, ram.buffer(), sink).max_transfer_bytes() == 0x10'0000u);
}

TEST_CASE("storvsp: RangeToSegments") {
  const vmbus::GpaRange range{9000, 100, {7, 8, 3}};
  auto segments = storvsp::RangeToSegments(range, 9000);
  REQUIRE(segments.ok());
  REQUIRE(segments->size() == 2);
  CHECK((*segments)[0].gpa == mem::Gpa{7 * 4096 + 100});
  CHECK((*segments)[0].bytes == 8192u - 100);
  CHECK((*segments)[1].gpa == mem::Gpa{3 * 4096});
  CHECK((*segments)[1].bytes == 9000u - (8192 - 100));
  // A prefix stops early; zero bytes is an empty list.
  CHECK(storvsp::RangeToSegments(range, 50)->at(0).bytes == 50u);
  CHECK(storvsp::RangeToSegments(range, 0)->empty());
  CHECK(!storvsp::RangeToSegments(range, 9001).ok());
  CHECK(!storvsp::RangeToSegments({100, 4096, {1}}, 100).ok());
  CHECK(!storvsp::RangeToSegments({9000, 100, {7, 8}}, 9000).ok());
}
