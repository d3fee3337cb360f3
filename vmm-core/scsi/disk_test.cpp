#include "scsi/disk.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "scsi/segments.h"
#include "scsi/testing/fake_block_device.h"

namespace {

using scsi::Command;
using scsi::DataDirection;
using scsi::Outcome;
using scsi::SenseKey;
using scsi::testing::FakeBlockDevice;
using scsi::testing::FakeGuestRam;
using Bytes = std::vector<std::byte>;

Bytes B(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(std::byte{static_cast<uint8_t>(v)});
  return out;
}
Bytes Ascii(const std::string& text) {
  Bytes out;
  for (char c : text) out.push_back(std::byte{static_cast<uint8_t>(c)});
  return out;
}
Bytes Pattern(size_t size, uint8_t seed) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = std::byte{static_cast<uint8_t>(seed + i * 7)};
  return out;
}

block::Geometry SmallDisk() {
  block::Geometry geometry;
  geometry.block_size = 512;
  geometry.block_count = 64;
  geometry.max_transfer_blocks = 16;
  geometry.serial = "SN-0042";
  for (size_t i = 0; i < 16; ++i) geometry.unique_id[i] = static_cast<uint8_t>(0xA0 + i);
  return geometry;
}

// RAM, a fake device and a disk; the data buffer is at kBuffer.
struct Rig {
  static constexpr uint64_t kBuffer = 0x1000;

  explicit Rig(block::Geometry geometry = SmallDisk(), scsi::DiskOptions options = {})
      : ram(256 * 1024),
        device(std::move(geometry), ram.memory()),
        disk(device, ram.buffer(), options) {}

  // Runs `cdb` with a buffer of `buffer_bytes` at kBuffer (one segment);
  // the outcome, or nullopt if the completion has not run.
  std::optional<Outcome> Run(const Bytes& cdb, DataDirection direction = DataDirection::kNone,
                             uint32_t buffer_bytes = 0) {
    return RunWith(cdb, direction, buffer_bytes, {{FakeGuestRam::Address(kBuffer), buffer_bytes}});
  }
  std::optional<Outcome> RunWith(const Bytes& cdb, DataDirection direction, uint32_t buffer_bytes,
                                 std::vector<block::Segment> segments) {
    Command command;
    for (size_t i = 0; i < cdb.size() && i < command.cdb.size(); ++i) command.cdb[i] = cdb[i];
    command.cdb_length = static_cast<uint8_t>(cdb.size());
    command.direction = direction;
    command.buffer_bytes = buffer_bytes;
    command.segments = std::move(segments);
    command.queue_hint = 3;
    std::optional<Outcome> result;
    int calls = 0;
    disk.Execute(command, [&](const Outcome& outcome) {
      ++calls;
      result = outcome;
    });
    if (!device.defer_completions) CHECK(calls == 1);
    last = result;
    return result;
  }
  // Data-in bytes the last command wrote.
  Bytes DataIn(size_t bytes) {
    auto span = ram.At(FakeGuestRam::Address(kBuffer), bytes);
    return Bytes(span.begin(), span.end());
  }
  void PutBuffer(const Bytes& bytes) {
    auto span = ram.At(FakeGuestRam::Address(kBuffer), bytes.size());
    std::copy(bytes.begin(), bytes.end(), span.begin());
  }

  FakeGuestRam ram;
  FakeBlockDevice device;
  scsi::Disk disk;
  std::optional<Outcome> last;
};

Bytes Cdb10(uint8_t opcode, uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
  Bytes cdb(10);
  cdb[0] = std::byte{opcode};
  cdb[1] = std::byte{flags};
  scsi::StoreBe<uint32_t>(cdb, 2, lba);
  scsi::StoreBe<uint16_t>(cdb, 7, blocks);
  return cdb;
}
Bytes Cdb16(uint8_t opcode, uint64_t lba, uint32_t blocks, uint8_t flags = 0) {
  Bytes cdb(16);
  cdb[0] = std::byte{opcode};
  cdb[1] = std::byte{flags};
  scsi::StoreBe<uint64_t>(cdb, 2, lba);
  scsi::StoreBe<uint32_t>(cdb, 10, blocks);
  return cdb;
}
Bytes Inquiry(bool evpd, uint8_t page, uint16_t allocation_length) {
  Bytes cdb = B({0x12, evpd ? 1 : 0, page, 0, 0, 0});
  scsi::StoreBe<uint16_t>(cdb, 3, allocation_length);
  return cdb;
}

void CheckSense(const std::optional<Outcome>& outcome, SenseKey key, scsi::AdditionalSense asc) {
  REQUIRE(outcome.has_value());
  CHECK(outcome->status == scsi::Status::kCheckCondition);
  CHECK(outcome->sense_key() == key);
  CHECK(outcome->additional_sense() == asc);
  CHECK(outcome->bytes_transferred == 0u);
  // SPC-4 §4.5.3: fixed format, current error, additional length 10.
  CHECK(outcome->sense[0] == std::byte{0x70});
  CHECK(outcome->sense[7] == std::byte{10});
}
void CheckGood(const std::optional<Outcome>& outcome, uint32_t bytes) {
  REQUIRE(outcome.has_value());
  CHECK(outcome->status == scsi::Status::kGood);
  CHECK(outcome->bytes_transferred == bytes);
}

}  // namespace

TEST_CASE("scsi: standard INQUIRY data, truncated to the allocation length") {
  Rig rig;
  CheckGood(rig.Run(Inquiry(false, 0, 96), DataDirection::kIn, 96), 36);
  Bytes expected = B({0x00, 0x00, 0x06, 0x12, 31, 0x00, 0x00, 0x02});
  for (auto& text : {Ascii("Msft    "), Ascii("Virtual Disk    "), Ascii("1.0 ")})
    expected.insert(expected.end(), text.begin(), text.end());
  CHECK(rig.DataIn(36) == expected);

  // SPC-4 §4.2.5.6: only the allocation length is transferred.
  rig.PutBuffer(Bytes(36));
  CheckGood(rig.Run(Inquiry(false, 0, 5), DataDirection::kIn, 96), 5);
  CHECK(rig.DataIn(6) == B({0, 0, 6, 0x12, 31, 0}));
  // ... or what the buffer holds.
  CheckGood(rig.Run(Inquiry(false, 0, 96), DataDirection::kIn, 8), 8);
  // Allocation length 0 moves nothing and succeeds.
  CheckGood(rig.Run(Inquiry(false, 0, 0), DataDirection::kNone, 0), 0);
}

TEST_CASE("scsi: INQUIRY field errors") {
  Rig rig;
  // EVPD 0 with a page code, CMDDT, unknown VPD page.
  CheckSense(rig.Run(Inquiry(false, 0x80, 96), DataDirection::kIn, 96), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  Bytes cmddt = Inquiry(false, 0, 96);
  cmddt[1] = std::byte{0x02};
  CheckSense(rig.Run(cmddt, DataDirection::kIn, 96), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Inquiry(true, 0x89, 96), DataDirection::kIn, 96), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  // A data-in transfer into a data-out buffer.
  CheckSense(rig.Run(Inquiry(false, 0, 96), DataDirection::kOut, 96), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  // A CDB shorter than INQUIRY's six bytes.
  CheckSense(rig.Run(B({0x12, 0, 0}), DataDirection::kIn, 96), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  // A buffer outside guest RAM: the copy fails, the command aborts.
  CheckSense(
      rig.RunWith(Inquiry(false, 0, 96), DataDirection::kIn, 96, {{mem::Gpa{0x7000'0000}, 96}}),
      SenseKey::kAbortedCommand, scsi::asc::kDataPhaseError);
}

TEST_CASE("scsi: VPD pages 00h, 80h, 83h") {
  Rig rig;
  CheckGood(rig.Run(Inquiry(true, 0x00, 255), DataDirection::kIn, 255), 10);
  CHECK(rig.DataIn(10) == B({0, 0x00, 0, 6, 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2}));

  rig.device.mutable_geometry().serial = "SN\x01-42";
  CheckGood(rig.Run(Inquiry(true, 0x80, 255), DataDirection::kIn, 255), 10);
  CHECK(rig.DataIn(10) == B({0, 0x80, 0, 6, 'S', 'N', ' ', '-', '4', '2'}));

  CheckGood(rig.Run(Inquiry(true, 0x83, 255), DataDirection::kIn, 255), 4 + 20 + 44);
  Bytes expected = B({0, 0x83, 0, 64,
                      // NAA 6 designator: binary, LU, type 3, 16 bytes.
                      0x01, 0x03, 0, 16, 0x60, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9,
                      0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF,
                      // T10 vendor ID designator: ASCII, LU, type 1, 40 bytes.
                      0x02, 0x01, 0, 40});
  const Bytes t10 = Ascii("Msft    A0A1A2A3A4A5A6A7A8A9AAABACADAEAF");
  expected.insert(expected.end(), t10.begin(), t10.end());
  CHECK(rig.DataIn(expected.size()) == expected);
}

TEST_CASE("scsi: VPD pages B0h, B1h, B2h follow the back end's abilities") {
  Rig rig;
  CheckGood(rig.Run(Inquiry(true, 0xB0, 255), DataDirection::kIn, 255), 64);
  Bytes page = rig.DataIn(64);
  CHECK(page[1] == std::byte{0xB0});
  CHECK(scsi::LoadBe<uint16_t>(page, 2) == 0x3Cu);
  CHECK(page[4] == std::byte{0x01});              // WSNZ
  CHECK(scsi::LoadBe<uint32_t>(page, 8) == 16u);  // MAXIMUM TRANSFER LENGTH
  CHECK(scsi::LoadBe<uint32_t>(page, 20) == 0u);  // no unmap without deallocate
  CHECK(scsi::LoadBe<uint64_t>(page, 36) == 0u);  // nor WRITE SAME

  CheckGood(rig.Run(Inquiry(true, 0xB1, 255), DataDirection::kIn, 255), 64);
  CHECK(scsi::LoadBe<uint16_t>(rig.DataIn(6), 4) == 1u);  // non-rotating

  CheckGood(rig.Run(Inquiry(true, 0xB2, 255), DataDirection::kIn, 255), 8);
  CHECK(rig.DataIn(8) == B({0, 0xB2, 0, 4, 0, 0, 0, 0}));

  rig.device.mutable_geometry().supports_deallocate = true;
  CheckGood(rig.Run(Inquiry(true, 0xB2, 255), DataDirection::kIn, 255), 8);
  // LBPU | LBPWS | LBPWS10, LBPRZ 0, thin provisioned.
  CHECK(rig.DataIn(8) == B({0, 0xB2, 0, 4, 0, 0xE0, 0x02, 0}));
  CheckGood(rig.Run(Inquiry(true, 0xB0, 255), DataDirection::kIn, 255), 64);
  page = rig.DataIn(64);
  CHECK(scsi::LoadBe<uint32_t>(page, 20) == scsi::kMaxUnmapBlocks);
  CHECK(scsi::LoadBe<uint32_t>(page, 24) == scsi::kMaxUnmapDescriptors);
  CHECK(scsi::LoadBe<uint32_t>(page, 28) == 1u);
  CHECK(scsi::LoadBe<uint64_t>(page, 36) == scsi::kMaxUnmapBlocks);
}

TEST_CASE("scsi: READ CAPACITY 10 and 16") {
  Rig rig;
  CheckGood(rig.Run(B({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}), DataDirection::kIn, 8), 8);
  CHECK(rig.DataIn(8) == B({0, 0, 0, 63, 0, 0, 2, 0}));

  Bytes rc16 = B({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0});
  CheckGood(rig.Run(rc16, DataDirection::kIn, 32), 32);
  Bytes expected(32);
  expected[7] = std::byte{63};
  expected[10] = std::byte{2};
  CHECK(rig.DataIn(32) == expected);

  // 2^33 blocks of 4 KiB with deallocation: RC10 says "use RC16", RC16
  // gives the last LBA and LBPME.
  auto& geometry = rig.device.mutable_geometry();
  geometry.block_count = uint64_t{1} << 33;
  geometry.block_size = 4096;
  geometry.supports_deallocate = true;
  CheckGood(rig.Run(B({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}), DataDirection::kIn, 8), 8);
  CHECK(rig.DataIn(8) == B({0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x10, 0}));
  CheckGood(rig.Run(rc16, DataDirection::kIn, 32), 32);
  CHECK(rig.DataIn(16) == B({0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x10, 0, 0, 0, 0x80, 0}));

  // Allocation length 12: truncated.
  rc16[13] = std::byte{12};
  CheckGood(rig.Run(rc16, DataDirection::kIn, 32), 12);
  // Another SERVICE ACTION IN(16) service action; RC10 with an LBA and PMI 0.
  rc16[1] = std::byte{0x11};
  CheckSense(rig.Run(rc16, DataDirection::kIn, 32), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(B({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}), DataDirection::kIn, 8),
             SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);
}

TEST_CASE("scsi: WRITE(10) FUA then READ(16) round trip, segments passed through trimmed") {
  Rig rig;
  const Bytes data = Pattern(1024, 5);
  rig.PutBuffer(data);
  // The buffer is larger than the transfer: the segment is trimmed.
  CheckGood(rig.Run(Cdb10(0x2A, 10, 2, 0x08), DataDirection::kOut, 4096), 1024);
  REQUIRE(rig.device.requests.size() == 1);
  const block::Request& write = rig.device.requests[0];
  CHECK(write.op == block::Op::kWrite);
  CHECK(write.lba == 10u);
  CHECK(write.block_count == 2u);
  CHECK(write.force_unit_access);
  REQUIRE(write.segments.size() == 1);
  CHECK(write.segments[0].gpa == FakeGuestRam::Address(Rig::kBuffer));
  CHECK(write.segments[0].bytes == 1024u);
  CHECK(rig.device.queue_hints[0] == 3u);
  CHECK(rig.device.Block(10) == Bytes(data.begin(), data.begin() + 512));
  CHECK(rig.device.Block(11) == Bytes(data.begin() + 512, data.end()));

  // Read back into two discontiguous pieces: 100 bytes, then a 2000-byte
  // segment of which 924 are used.
  const mem::Gpa first = FakeGuestRam::Address(0x8000);
  const mem::Gpa second = FakeGuestRam::Address(0x9100);
  CheckGood(
      rig.RunWith(Cdb16(0x88, 10, 2), DataDirection::kIn, 2100, {{first, 100}, {second, 2000}}),
      1024);
  const block::Request& read = rig.device.requests.back();
  CHECK(read.op == block::Op::kRead);
  CHECK(!read.force_unit_access);
  REQUIRE(read.segments.size() == 2);
  CHECK(read.segments[1].gpa == second);
  CHECK(read.segments[1].bytes == 924u);
  Bytes back(rig.ram.At(first, 100).begin(), rig.ram.At(first, 100).end());
  auto tail = rig.ram.At(second, 924);
  back.insert(back.end(), tail.begin(), tail.end());
  CHECK(back == data);
}

TEST_CASE("scsi: READ/WRITE 6 and 12 decode their fields") {
  Rig rig;
  const Bytes data = Pattern(512, 9);
  rig.PutBuffer(data);
  // WRITE(6): 21-bit LBA 0x00003F (byte 1's top bits are not LBA), 1 block.
  CheckGood(rig.Run(B({0x0A, 0xE0, 0x00, 0x3F, 1, 0}), DataDirection::kOut, 512), 512);
  CHECK(rig.device.requests.back().lba == 63u);
  CHECK(rig.device.Block(63) == data);
  // READ(6) with TRANSFER LENGTH 0 means 256 blocks: past this 64-block disk.
  CheckSense(rig.Run(B({0x08, 0, 0, 0, 0, 0}), DataDirection::kIn, 256 * 512),
             SenseKey::kIllegalRequest, scsi::asc::kLbaOutOfRange);
  // READ(12): LBA 63, 1 block.
  CheckGood(rig.Run(B({0xA8, 0, 0, 0, 0, 63, 0, 0, 0, 1, 0, 0}), DataDirection::kIn, 512), 512);
  CHECK(rig.DataIn(512) == data);
}

TEST_CASE("scsi: READ/WRITE errors") {
  Rig rig;
  // Past the end; LBA near 2^64 (no overflow).
  CheckSense(rig.Run(Cdb10(0x28, 63, 2), DataDirection::kIn, 1024), SenseKey::kIllegalRequest,
             scsi::asc::kLbaOutOfRange);
  CheckSense(rig.Run(Cdb16(0x88, ~uint64_t{0}, 2), DataDirection::kIn, 1024),
             SenseKey::kIllegalRequest, scsi::asc::kLbaOutOfRange);
  // More than the buffer holds; more than MAXIMUM TRANSFER LENGTH; the
  // wrong direction; RDPROTECT; a short CDB.
  CheckSense(rig.Run(Cdb10(0x28, 0, 2), DataDirection::kIn, 1023), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Cdb10(0x28, 0, 17), DataDirection::kIn, 17 * 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Cdb10(0x28, 0, 1), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Cdb10(0x28, 0, 1, 0x20), DataDirection::kIn, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(B({0x28, 0, 0, 0, 0, 0, 0, 0, 1}), DataDirection::kIn, 512),
             SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);
  // Segments that hold less than buffer_bytes claims.
  CheckSense(
      rig.RunWith(Cdb10(0x28, 0, 2), DataDirection::kIn, 1024, {{FakeGuestRam::Address(0), 600}}),
      SenseKey::kAbortedCommand, scsi::asc::kDataPhaseError);
  CHECK(rig.device.requests.empty());

  // TRANSFER LENGTH 0: nothing moves, nothing reaches the device.
  CheckGood(rig.Run(Cdb10(0x28, 64, 0), DataDirection::kNone, 0), 0);
  CHECK(rig.device.requests.empty());

  // Medium errors name the direction (SPC-4 Annex D).
  rig.device.fail_with = block::Status::kMediaError;
  CheckSense(rig.Run(Cdb10(0x28, 0, 1), DataDirection::kIn, 512), SenseKey::kMediumError,
             scsi::asc::kUnrecoveredReadError);
  CheckSense(rig.Run(Cdb10(0x2A, 0, 1), DataDirection::kOut, 512), SenseKey::kMediumError,
             scsi::asc::kWriteError);
  rig.device.fail_with = block::Status::kAborted;
  CheckSense(rig.Run(Cdb10(0x2A, 0, 1), DataDirection::kOut, 512), SenseKey::kAbortedCommand,
             scsi::asc::kNone);
  rig.device.fail_with = block::Status::kDeviceFailed;
  CheckSense(rig.Run(Cdb10(0x28, 0, 1), DataDirection::kIn, 512), SenseKey::kHardwareError,
             scsi::asc::kInternalTargetFailure);
  rig.device.fail_with.reset();

  // Write protection: DATA PROTECT, nothing submitted.
  rig.device.requests.clear();
  rig.device.mutable_geometry().read_only = true;
  CheckSense(rig.Run(Cdb10(0x2A, 0, 1), DataDirection::kOut, 512), SenseKey::kDataProtect,
             scsi::asc::kWriteProtected);
  CHECK(rig.device.requests.empty());
  CheckGood(rig.Run(Cdb10(0x28, 0, 1), DataDirection::kIn, 512), 512);
}

TEST_CASE("scsi: completions may arrive later, once each") {
  Rig rig;
  rig.device.defer_completions = true;
  std::vector<Outcome> outcomes;
  for (uint32_t lba : {1u, 2u, 3u}) {
    Command command;
    const Bytes cdb = Cdb10(0x28, lba, 1);
    std::copy(cdb.begin(), cdb.end(), command.cdb.begin());
    command.cdb_length = 10;
    command.direction = DataDirection::kIn;
    command.buffer_bytes = 512;
    command.segments = {{FakeGuestRam::Address(lba * 0x1000), 512}};
    rig.disk.Execute(command, [&](const Outcome& outcome) { outcomes.push_back(outcome); });
  }
  CHECK(outcomes.empty());
  CHECK(rig.device.pending_count() == 3);
  rig.device.RunPending();
  REQUIRE(outcomes.size() == 3);
  for (const Outcome& outcome : outcomes) CHECK(outcome.bytes_transferred == 512u);
}

TEST_CASE("scsi: SYNCHRONIZE CACHE 10 and 16 flush") {
  Rig rig;
  CheckGood(rig.Run(Cdb10(0x35, 0, 0)), 0);
  CheckGood(rig.Run(Cdb16(0x91, 60, 4)), 0);
  CHECK(rig.device.flushes == 2);
  CHECK(rig.device.requests.back().op == block::Op::kFlush);
  CheckSense(rig.Run(Cdb16(0x91, 60, 5)), SenseKey::kIllegalRequest, scsi::asc::kLbaOutOfRange);
  rig.device.fail_with = block::Status::kMediaError;
  CheckSense(rig.Run(Cdb10(0x35, 0, 0)), SenseKey::kMediumError, scsi::asc::kWriteError);
}

namespace {

Bytes UnmapList(std::initializer_list<std::pair<uint64_t, uint32_t>> extents) {
  Bytes list(8 + 16 * extents.size());
  scsi::StoreBe<uint16_t>(list, 0, static_cast<uint16_t>(list.size() - 2));
  scsi::StoreBe<uint16_t>(list, 2, static_cast<uint16_t>(16 * extents.size()));
  size_t at = 8;
  for (auto [lba, blocks] : extents) {
    scsi::StoreBe<uint64_t>(list, at, lba);
    scsi::StoreBe<uint32_t>(list, at + 8, blocks);
    at += 16;
  }
  return list;
}
Bytes UnmapCdb(uint16_t list_length) {
  Bytes cdb(10);
  cdb[0] = std::byte{0x42};
  scsi::StoreBe<uint16_t>(cdb, 7, list_length);
  return cdb;
}

block::Geometry ThinDisk() {
  block::Geometry geometry = SmallDisk();
  geometry.supports_deallocate = true;
  geometry.supports_write_zeroes = true;
  return geometry;
}

}  // namespace

TEST_CASE("scsi: UNMAP deallocates each descriptor") {
  Rig rig(ThinDisk());
  for (uint64_t lba : {2u, 3u, 9u, 20u}) rig.device.SetBlock(lba, Pattern(512, 1));
  const Bytes list = UnmapList({{2, 2}, {5, 0}, {20, 1}});
  rig.PutBuffer(list);
  CheckGood(rig.Run(UnmapCdb(static_cast<uint16_t>(list.size())), DataDirection::kOut,
                    static_cast<uint32_t>(list.size())),
            0);
  REQUIRE(rig.device.requests.size() == 2);  // the 0-block descriptor is skipped
  CHECK(rig.device.requests[0].op == block::Op::kDeallocate);
  CHECK(rig.device.requests[0].lba == 2u);
  CHECK(rig.device.requests[0].block_count == 2u);
  CHECK(rig.device.requests[1].lba == 20u);
  CHECK(!rig.device.IsStored(2));
  CHECK(!rig.device.IsStored(3));
  CHECK(rig.device.IsStored(9));
  CHECK(!rig.device.IsStored(20));

  // Deferred completions: the command completes after the last one, with
  // the first failure.
  rig.device.defer_completions = true;
  rig.device.fail_with = block::Status::kMediaError;
  std::optional<Outcome> outcome;
  {
    Command command;
    const Bytes cdb = UnmapCdb(static_cast<uint16_t>(list.size()));
    std::copy(cdb.begin(), cdb.end(), command.cdb.begin());
    command.cdb_length = 10;
    command.direction = DataDirection::kOut;
    command.buffer_bytes = static_cast<uint32_t>(list.size());
    command.segments = {{FakeGuestRam::Address(Rig::kBuffer), command.buffer_bytes}};
    rig.disk.Execute(command, [&](const Outcome& o) { outcome = o; });
    CHECK(!outcome.has_value());
    CHECK(rig.device.pending_count() == 2);
    rig.device.RunPending();
  }
  CheckSense(outcome, SenseKey::kMediumError, scsi::asc::kWriteError);
}

TEST_CASE("scsi: UNMAP parameter list checks") {
  Rig rig(ThinDisk());
  // A descriptor past the end: LBA OUT OF RANGE and nothing is unmapped,
  // even the valid descriptor before it.
  Bytes list = UnmapList({{0, 1}, {63, 2}});
  rig.PutBuffer(list);
  CheckSense(rig.Run(UnmapCdb(40), DataDirection::kOut, 40), SenseKey::kIllegalRequest,
             scsi::asc::kLbaOutOfRange);
  CHECK(rig.device.requests.empty());
  // PARAMETER LIST LENGTH 1-7; 0 is a no-op.
  CheckSense(rig.Run(UnmapCdb(7), DataDirection::kOut, 40), SenseKey::kIllegalRequest,
             scsi::asc::kParameterListLengthError);
  CheckGood(rig.Run(UnmapCdb(0)), 0);
  // The list is longer than the buffer.
  CheckSense(rig.Run(UnmapCdb(40), DataDirection::kOut, 39), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  // A descriptor data length past the list is bounded by the list; a
  // truncated last descriptor is ignored.
  list = UnmapList({{4, 1}});
  scsi::StoreBe<uint16_t>(list, 2, 0xFFF0);
  rig.PutBuffer(list);
  CheckGood(rig.Run(UnmapCdb(24 + 8), DataDirection::kOut, 64), 0);
  REQUIRE(rig.device.requests.size() == 1);
  CHECK(rig.device.requests[0].lba == 4u);
  // Too many descriptors; too many blocks.
  Bytes many(8 + 16 * 257);
  scsi::StoreBe<uint16_t>(many, 2, 16 * 257);
  rig.PutBuffer(many);
  CheckSense(rig.Run(UnmapCdb(static_cast<uint16_t>(many.size())), DataDirection::kOut,
                     static_cast<uint32_t>(many.size())),
             SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInParameterList);
  rig.device.mutable_geometry().block_count = uint64_t{1} << 40;
  list = UnmapList({{0, scsi::kMaxUnmapBlocks}, {uint64_t{1} << 32, 1}});
  rig.PutBuffer(list);
  CheckSense(rig.Run(UnmapCdb(40), DataDirection::kOut, 40), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInParameterList);
  // ANCHOR; read-only; no deallocation at all.
  Bytes anchor = UnmapCdb(40);
  anchor[1] = std::byte{1};
  CheckSense(rig.Run(anchor, DataDirection::kOut, 40), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  rig.device.mutable_geometry().read_only = true;
  CheckSense(rig.Run(UnmapCdb(40), DataDirection::kOut, 40), SenseKey::kDataProtect,
             scsi::asc::kWriteProtected);
  rig.device.mutable_geometry().supports_deallocate = false;
  CheckSense(rig.Run(UnmapCdb(40), DataDirection::kOut, 40), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidCommandOperationCode);
}

TEST_CASE("scsi: WRITE SAME deallocates or zeroes, only with a zero pattern") {
  Rig rig(ThinDisk());
  rig.device.SetBlock(7, Pattern(512, 3));
  rig.PutBuffer(Bytes(512));
  // WRITE SAME(16) UNMAP: deallocate.
  CheckGood(rig.Run(Cdb16(0x93, 6, 4, 0x08), DataDirection::kOut, 512), 512);
  CHECK(rig.device.requests.back().op == block::Op::kDeallocate);
  CHECK(rig.device.requests.back().lba == 6u);
  CHECK(rig.device.requests.back().block_count == 4u);
  CHECK(!rig.device.IsStored(7));
  // Without UNMAP: write zeroes. WRITE SAME(10) as well.
  CheckGood(rig.Run(Cdb16(0x93, 6, 4), DataDirection::kOut, 512), 512);
  CHECK(rig.device.requests.back().op == block::Op::kWriteZeroes);
  CHECK(rig.device.Block(7) == Bytes(512));
  CheckGood(rig.Run(Cdb10(0x41, 1, 2), DataDirection::kOut, 512), 512);
  CHECK(rig.device.requests.back().op == block::Op::kWriteZeroes);
  // NDOB (SBC-4): no data-out buffer, zeroes.
  CheckGood(rig.Run(Cdb16(0x93, 1, 2, 0x01)), 0);
  CHECK(rig.device.requests.back().op == block::Op::kWriteZeroes);

  const size_t submitted = rig.device.requests.size();
  // A non-zero pattern, with or without UNMAP.
  Bytes pattern(512);
  pattern[511] = std::byte{1};
  rig.PutBuffer(pattern);
  CheckSense(rig.Run(Cdb16(0x93, 6, 4), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Cdb16(0x93, 6, 4, 0x08), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  rig.PutBuffer(Bytes(512));
  // 0 blocks (WSNZ), past the end, no pattern buffer, ANCHOR.
  CheckSense(rig.Run(Cdb16(0x93, 6, 0), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Cdb16(0x93, 62, 4), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kLbaOutOfRange);
  CheckSense(rig.Run(Cdb16(0x93, 6, 4), DataDirection::kOut, 100), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(Cdb16(0x93, 6, 4, 0x10), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  CHECK(rig.device.requests.size() == submitted);

  // Deallocation only: UNMAP works, a plain zero write cannot be promised.
  rig.device.mutable_geometry().supports_write_zeroes = false;
  CheckGood(rig.Run(Cdb16(0x93, 6, 4, 0x08), DataDirection::kOut, 512), 512);
  CheckSense(rig.Run(Cdb16(0x93, 6, 4), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);
  rig.device.mutable_geometry().supports_deallocate = false;
  CheckSense(rig.Run(Cdb16(0x93, 6, 4, 0x08), DataDirection::kOut, 512), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidCommandOperationCode);
}

TEST_CASE("scsi: MODE SENSE 6 and 10") {
  Rig rig;
  // MODE SENSE(6), all pages, block descriptor: header, 8-byte descriptor,
  // caching page with WCE.
  CheckGood(rig.Run(B({0x1A, 0, 0x3F, 0, 255, 0}), DataDirection::kIn, 255), 4 + 8 + 20);
  Bytes expected = B({31, 0, 0x10, 8, 0, 0, 0, 64, 0, 0, 2, 0, 0x08, 0x12, 0x04});
  expected.resize(32);
  CHECK(rig.DataIn(32) == expected);

  // Read-only: WP; DBD: no descriptor; page 08h alone.
  rig.device.mutable_geometry().read_only = true;
  CheckGood(rig.Run(B({0x1A, 0x08, 0x08, 0, 255, 0}), DataDirection::kIn, 255), 4 + 20);
  CHECK(rig.DataIn(6) == B({23, 0, 0x90, 0, 0x08, 0x12}));
  // Allocation length 4: the header only (Linux's write-protect probe).
  CheckGood(rig.Run(B({0x1A, 0, 0x3F, 0, 4, 0}), DataDirection::kIn, 255), 4);

  // MODE SENSE(10) with LLBAA: 16-byte descriptor.
  CheckGood(rig.Run(B({0x5A, 0x10, 0x3F, 0, 0, 0, 0, 1, 0, 0}), DataDirection::kIn, 256),
            8 + 16 + 20);
  Bytes header = rig.DataIn(24);
  CHECK(Bytes(header.begin(), header.begin() + 8) == B({0, 42, 0, 0x90, 1, 0, 0, 16}));
  CHECK(scsi::LoadBe<uint64_t>(header, 8) == 64u);
  CHECK(scsi::LoadBe<uint32_t>(header, 20) == 512u);
  // Changeable values: the caching page all zeroes.
  CheckGood(rig.Run(B({0x1A, 0x08, 0x48, 0, 255, 0}), DataDirection::kIn, 255), 24);
  CHECK(rig.DataIn(7) == B({23, 0, 0x90, 0, 0x08, 0x12, 0x00}));

  // Saved values; an unknown page; a subpage.
  CheckSense(rig.Run(B({0x1A, 0, 0xC8, 0, 255, 0}), DataDirection::kIn, 255),
             SenseKey::kIllegalRequest, scsi::asc::kSavingParametersNotSupported);
  CheckSense(rig.Run(B({0x1A, 0, 0x0A, 0, 255, 0}), DataDirection::kIn, 255),
             SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);
  CheckSense(rig.Run(B({0x1A, 0, 0x08, 1, 255, 0}), DataDirection::kIn, 255),
             SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);
  CheckGood(rig.Run(B({0x1A, 0x08, 0x3F, 0xFF, 255, 0}), DataDirection::kIn, 255), 24);
}

TEST_CASE("scsi: REPORT LUNS, TEST UNIT READY, REQUEST SENSE, unsupported opcodes") {
  Rig rig(SmallDisk(), scsi::DiskOptions{.lun = 5});
  Bytes report = B({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
  CheckGood(rig.Run(report, DataDirection::kIn, 256), 16);
  CHECK(rig.DataIn(16) == B({0, 0, 0, 8, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0}));
  report[9] = std::byte{15};
  report[8] = std::byte{0};
  CheckSense(rig.Run(report, DataDirection::kIn, 256), SenseKey::kIllegalRequest,
             scsi::asc::kInvalidFieldInCdb);

  CheckGood(rig.Run(B({0x00, 0, 0, 0, 0, 0})), 0);

  CheckGood(rig.Run(B({0x03, 0, 0, 0, 252, 0}), DataDirection::kIn, 252), 18);
  CHECK(rig.DataIn(18) == B({0x70, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  CheckSense(rig.Run(B({0x03, 1, 0, 0, 252, 0}), DataDirection::kIn, 252),
             SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);

  for (int opcode : {0x15, 0x1B, 0xA3, 0xFF}) {
    CAPTURE(opcode);
    CheckSense(rig.Run(B({opcode, 0, 0, 0, 0, 0})), SenseKey::kIllegalRequest,
               scsi::asc::kInvalidCommandOperationCode);
  }
  // cdb_length 0 or past 16.
  CheckSense(rig.Run(Bytes{}), SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);
}

namespace {

// A data-in command for AnswerAbsentLun: `cdb`, `bytes` of buffer at
// FakeGuestRam address 0.
Command DataInAtZero(const Bytes& cdb, uint32_t bytes) {
  Command command;
  std::copy(cdb.begin(), cdb.end(), command.cdb.begin());
  command.cdb_length = static_cast<uint8_t>(cdb.size());
  command.direction = DataDirection::kIn;
  command.buffer_bytes = bytes;
  command.segments = {{FakeGuestRam::Address(0), bytes}};
  return command;
}

}  // namespace

TEST_CASE("scsi: an absent LUN answers INQUIRY with PQ 3 / PDT 1Fh") {
  FakeGuestRam ram(64 * 1024);
  Command command = DataInAtZero(Inquiry(false, 0, 36), 36);
  Outcome outcome = scsi::AnswerAbsentLun(command, ram.buffer());
  CheckGood(outcome, 36);
  auto data = ram.At(FakeGuestRam::Address(0), 5);
  CHECK(Bytes(data.begin(), data.end()) == B({0x7F, 0, 6, 0x12, 31}));

  command.cdb[0] = std::byte{0x00};  // TEST UNIT READY
  outcome = scsi::AnswerAbsentLun(command, ram.buffer());
  CheckSense(outcome, SenseKey::kIllegalRequest, scsi::asc::kLogicalUnitNotSupported);
}

TEST_CASE("scsi: a target with no disk answers REPORT LUNS with an empty list") {
  // Linux scans every path and target of a storvsc host and sends REPORT
  // LUNS to each that answered INQUIRY (even with PQ 3); the answer must be
  // a good, empty list.
  FakeGuestRam ram(64 * 1024);
  Command command = DataInAtZero(B({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}), 256);
  Outcome outcome = scsi::AnswerAbsentLun(command, ram.buffer());
  CheckGood(outcome, 8);
  auto data = ram.At(FakeGuestRam::Address(0), 8);
  CHECK(Bytes(data.begin(), data.end()) == B({0, 0, 0, 0, 0, 0, 0, 0}));

  command.cdb[8] = std::byte{0};
  command.cdb[9] = std::byte{8};  // allocation length 8: under 16
  outcome = scsi::AnswerAbsentLun(command, ram.buffer());
  CheckSense(outcome, SenseKey::kIllegalRequest, scsi::asc::kInvalidFieldInCdb);
}

TEST_CASE("scsi: TakeSegments trims and drops empty segments") {
  const std::vector<block::Segment> segments = {
      {mem::Gpa{0x1000}, 0}, {mem::Gpa{0x2000}, 100}, {mem::Gpa{0x5000}, 300}};
  auto taken = scsi::TakeSegments(segments, 150);
  REQUIRE(taken.ok());
  REQUIRE(taken->size() == 2);
  CHECK((*taken)[0].gpa == mem::Gpa{0x2000});
  CHECK((*taken)[1].bytes == 50u);
  CHECK(!scsi::TakeSegments(segments, 401).ok());
  CHECK(scsi::TakeSegments(segments, 0)->empty());
}
