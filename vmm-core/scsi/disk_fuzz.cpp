// Fuzz target 'scsi-disk': one SCSI command against a scsi::Disk over a
// fake block device.
// Input: {flags u8, capacity u8, direction u8, buffer_bytes u16 (LE),
//         split u16 (LE), cdb_length u8, cdb[16]}, then bytes that fill the
// data buffer (parameter lists, WRITE SAME patterns).
// flags: bit0 read-only, bit1 deallocate, bit2 write zeroes, bit3 4 KiB
// blocks, bit4 complete later, bit5 a max transfer of 8 blocks, bit6 the
// device fails every request. The buffer is two segments split at `split`.
// Invariants: no crash or sanitizer report; the completion runs exactly
// once; GOOD moves at most the buffer, CHECK CONDITION moves nothing and
// carries fixed-format sense; every request reaching the device lies inside
// the disk, and a read or write's segments add up to its blocks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/checked.h"
#include "base/fuzz_target.h"
#include "scsi/disk.h"
#include "scsi/testing/fake_block_device.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 8 + scsi::kMaxCdbBytes;
  if (size < kHeader) return 0;
  const uint8_t flags = data[0];
  block::Geometry geometry;
  geometry.read_only = (flags & 0x01) != 0;
  geometry.supports_deallocate = (flags & 0x02) != 0;
  geometry.supports_write_zeroes = (flags & 0x04) != 0;
  geometry.block_size = (flags & 0x08) != 0 ? 4096 : 512;
  geometry.max_transfer_blocks = (flags & 0x20) != 0 ? 8 : 0;
  // Small capacities, and one past 2^32 blocks (sparse storage).
  geometry.block_count = data[1] == 0xFF ? (uint64_t{1} << 32) + 5 : data[1];
  geometry.serial = "fuzz";

  constexpr size_t kRamBytes = 128 * 1024;
  scsi::testing::FakeGuestRam ram(kRamBytes);
  scsi::testing::FakeBlockDevice device(geometry, ram.memory());
  device.defer_completions = (flags & 0x10) != 0;
  if ((flags & 0x40) != 0) device.fail_with = block::Status::kMediaError;
  scsi::Disk disk(device, ram.buffer());

  scsi::Command command;
  command.direction = static_cast<scsi::DataDirection>(data[2] % 3);
  command.buffer_bytes = static_cast<uint32_t>(data[3] | data[4] << 8);
  const uint32_t split =
      std::min<uint32_t>(static_cast<uint32_t>(data[5] | data[6] << 8), command.buffer_bytes);
  command.cdb_length = data[7];
  std::copy(data + 8, data + kHeader, reinterpret_cast<uint8_t*>(command.cdb.data()));
  // Two segments far apart in RAM (the second may run past RAM's end).
  command.segments = {
      {scsi::testing::FakeGuestRam::Address(0), split},
      {scsi::testing::FakeGuestRam::Address(0x10000), command.buffer_bytes - split}};
  const std::span<const uint8_t> fill(data + kHeader, size - kHeader);
  auto first = ram.At(scsi::testing::FakeGuestRam::Address(0), 0x10000);
  for (size_t i = 0; i < fill.size() && i < first.size(); ++i) {
    const size_t at = i < split ? i : 0x10000 + (i - split);
    if (at < kRamBytes) ram.At(scsi::testing::FakeGuestRam::Address(at), 1)[0] = std::byte{fill[i]};
  }

  int calls = 0;
  disk.Execute(command, [&](const scsi::Outcome& outcome) {
    ++calls;
    if (outcome.status == scsi::Status::kGood) {
      if (outcome.bytes_transferred > command.buffer_bytes) __builtin_trap();
    } else {
      if (outcome.bytes_transferred != 0 || outcome.sense[0] != std::byte{0x70} ||
          outcome.sense[7] != std::byte{10})
        __builtin_trap();
    }
  });
  device.RunPending();
  if (calls != 1) __builtin_trap();

  for (const block::Request& request : device.requests) {
    if (request.block_count == 0) __builtin_trap();
    if (request.op != block::Op::kFlush &&
        !base::RangeFits<uint64_t>(request.lba, request.block_count, geometry.block_count))
      __builtin_trap();
    uint64_t bytes = 0;
    for (const block::Segment& segment : request.segments) bytes += segment.bytes;
    const bool data_op = request.op == block::Op::kRead || request.op == block::Op::kWrite;
    if (bytes != (data_op ? uint64_t{request.block_count} * geometry.block_size : 0))
      __builtin_trap();
    if (geometry.read_only && request.op != block::Op::kRead && request.op != block::Op::kFlush)
      __builtin_trap();
  }
  return 0;
}
