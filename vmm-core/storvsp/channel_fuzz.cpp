// Fuzz target 'storvsp': a sequence of packets on a storvsp::Channel with
// a disk over a fake block device and fake guest RAM.
// Input: a config byte (bit0 sub-channel, bit1 multi-channel, bit2 complete
// later, bit3 the device fails, bits 4-5 the disk's LUN), then records
// {kind u8, length u8, bytes[length]} (a length past the input's end takes
// what is left):
//   kind % 5 == 0: an inband packet with `bytes` as payload;
//   kind % 5 == 1: GPA direct, bytes = {byte_count u16, byte_offset u16,
//                  pfn_count u8, pfn low bytes u8 each, payload...};
//   kind % 5 == 2: Linux 6.1's initialization (BEGIN, version, properties, END);
//   kind % 5 == 3: an SRB from a template: bytes = {target, lun, data_in,
//                  transfer u16, cdb...} over one range in RAM;
//   kind % 5 == 4: complete everything the device holds.
// Bit 7 of `kind` clears "completion requested"; bit 6 picks a non-data type.
// Invariants: no crash or sanitizer report; every reply is a COMPLETE_IO
// completion; each data packet asking for a completion gets exactly one;
// SRB completions move no more than asked and hold at most 20 sense bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "scsi/testing/fake_block_device.h"
#include "storvsp/channel.h"

namespace {

class CheckingSink final : public storvsp::PacketSink {
 public:
  void Send(const storvsp::OutgoingPacket& packet) override {
    ++sent;
    if (packet.type != vmbus::PacketType::kCompletion) __builtin_trap();
    uint32_t operation = 0;
    if (!base::LoadLe<uint32_t>(packet.payload, 0, operation) || operation != 1) __builtin_trap();
    const auto sense_length = static_cast<uint8_t>(packet.payload[12 + 9]);
    const auto srb_status = static_cast<uint8_t>(packet.payload[12 + 2]);
    if ((srb_status & 0x80) != 0 && (sense_length == 0 || sense_length > 20)) __builtin_trap();
  }
  size_t sent = 0;
};

void PutLe(std::span<std::byte> bytes, size_t at, uint64_t value, size_t width) {
  for (size_t i = 0; i < width && at + i < bytes.size(); ++i)
    bytes[at + i] = std::byte{static_cast<uint8_t>(value >> (8 * i))};
}

vmbus::IncomingPacket Init(uint32_t operation, uint16_t version = 0) {
  vmbus::IncomingPacket packet;
  packet.flags = vmbus::kPacketFlagCompletionRequested;
  packet.transaction_id = ~uint64_t{0} - 2;
  packet.payload.resize(64);
  PutLe(packet.payload, 0, operation, 4);
  PutLe(packet.payload, 4, 1, 4);
  PutLe(packet.payload, 12, version, 2);
  return packet;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t config_byte = data[0];
  constexpr size_t kRamBytes = 256 * 1024;
  scsi::testing::FakeGuestRam ram(kRamBytes);
  block::Geometry geometry;
  geometry.block_count = 128;
  geometry.supports_deallocate = true;
  geometry.max_transfer_blocks = 64;
  scsi::testing::FakeBlockDevice device(geometry, ram.memory());
  device.defer_completions = (config_byte & 0x04) != 0;
  if ((config_byte & 0x08) != 0) device.fail_with = block::Status::kMediaError;
  const auto lun = static_cast<uint8_t>((config_byte >> 4) & 3);
  scsi::Disk disk(device, ram.buffer(), {.lun = lun});
  storvsp::Config config;
  config.lun = lun;
  config.max_sub_channels = (config_byte & 0x02) != 0 ? 4 : 0;
  CheckingSink sink;
  storvsp::Channel primary(config, &disk, ram.buffer(), sink);
  storvsp::Channel sub(config, &disk, ram.buffer(), sink, storvsp::Channel::SubChannelOf{0x0602});
  storvsp::Channel& channel = (config_byte & 0x01) != 0 ? sub : primary;
  const uint64_t ram_first_pfn = mem::ToU64(scsi::testing::FakeGuestRam::kBase) / 4096;

  size_t expected_replies = 0;
  auto send = [&](vmbus::IncomingPacket packet) {
    const bool data_packet = packet.type == vmbus::PacketType::kDataInband ||
                             packet.type == vmbus::PacketType::kDataUsingGpaDirect;
    if (data_packet && packet.completion_requested()) ++expected_replies;
    const storvsp::Handled handled = channel.OnPacket(packet);
    (void)storvsp::Describe(handled.result);
    if (handled.offer_sub_channels > config.max_sub_channels) __builtin_trap();
  };

  size_t at = 1;
  uint64_t transaction_id = 1;
  while (size - at >= 2) {
    const uint8_t kind = data[at];
    const size_t length = std::min<size_t>(data[at + 1], size - at - 2);
    const std::span<const uint8_t> bytes(data + at + 2, length);
    at += 2 + length;

    vmbus::IncomingPacket packet;
    packet.flags = (kind & 0x80) != 0 ? 0 : vmbus::kPacketFlagCompletionRequested;
    packet.transaction_id = transaction_id++;
    switch (kind % 5) {
      case 0:
        packet.type = vmbus::PacketType::kDataInband;
        for (uint8_t b : bytes) packet.payload.push_back(std::byte{b});
        break;
      case 1: {
        packet.type = vmbus::PacketType::kDataUsingGpaDirect;
        if (bytes.size() < 5) continue;
        vmbus::GpaRange range;
        range.byte_count = static_cast<uint32_t>(bytes[0] | bytes[1] << 8);
        range.byte_offset = static_cast<uint32_t>(bytes[2] | bytes[3] << 8) % 4096;
        const size_t pfns = std::min<size_t>(bytes[4], bytes.size() - 5);
        for (size_t i = 0; i < pfns; ++i) range.pfns.push_back(ram_first_pfn + bytes[5 + i]);
        for (size_t i = 5 + pfns; i < bytes.size(); ++i)
          packet.payload.push_back(std::byte{bytes[i]});
        packet.ranges.push_back(std::move(range));
        break;
      }
      case 2:
        send(Init(7));
        send(Init(9, 0x0602));
        send(Init(10));
        send(Init(8));
        continue;
      case 3: {
        if (bytes.size() < 5) continue;
        packet.payload.resize(64);
        PutLe(packet.payload, 0, 3, 4);
        PutLe(packet.payload, 12, 0x34, 2);
        packet.payload[12 + 6] = std::byte{bytes[0]};
        packet.payload[12 + 7] = std::byte{bytes[1]};
        packet.payload[12 + 9] = std::byte{0x14};
        packet.payload[12 + 10] = std::byte{bytes[2]};
        const uint32_t transfer = static_cast<uint32_t>(bytes[3] | bytes[4] << 8);
        PutLe(packet.payload, 12 + 12, transfer, 4);
        const size_t cdb_length = std::min<size_t>(bytes.size() - 5, 16);
        packet.payload[12 + 8] = std::byte{static_cast<uint8_t>(cdb_length)};
        for (size_t i = 0; i < cdb_length; ++i)
          packet.payload[12 + 16 + i] = std::byte{bytes[5 + i]};
        if (transfer != 0) {
          packet.type = vmbus::PacketType::kDataUsingGpaDirect;
          vmbus::GpaRange range{transfer, 0x80, {}};
          for (uint64_t i = 0; i * 4096 < transfer + 0x80; ++i)
            range.pfns.push_back(ram_first_pfn + 2 * i);
          packet.ranges.push_back(std::move(range));
        }
        break;
      }
      default:
        device.RunPending();
        continue;
    }
    if ((kind & 0x40) != 0) packet.type = static_cast<vmbus::PacketType>(kind & 0x0F);
    send(std::move(packet));
  }
  device.RunPending();
  if (channel.in_flight() != 0) __builtin_trap();
  if (sink.sent != expected_replies) __builtin_trap();
  return 0;
}
