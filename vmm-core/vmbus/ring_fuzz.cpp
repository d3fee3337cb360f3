// Fuzz target 'vmbus-ring': InRing (and OutRing) over a ring whose header
// and data come from the input, the guest being fully hostile.
// Input: {data pages u8, flags u8, read index u32, write index u32,
//         pending_send_sz u32, interrupt_mask u8, max packet u16,
//         mutate stride u8, data...}
// flags bit 0: take the indices raw (else made 8-aligned and in range).
// The data fills the data area from the read index, wrapping. A non-zero
// stride makes the "guest" flip a data byte after every host read (a
// double fetch would then show as an inconsistent packet).
// Invariants: no crash or sanitizer report; every packet returned obeys
// packet.h's promises (payload within the size limit, GPA ranges with
// byte_offset < 4096, byte_count > 0, exactly ceil((off + count) / 4096)
// valid PFNs); after Consume the published read index is aligned and in
// range; OutRing only ever publishes an aligned in-range write index.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "vmbus/ring.h"
#include "vmbus/testing/fake_ring_memory.h"

namespace {

using vmbus::RingField;

constexpr size_t kFixedBytes = 1 + 1 + 4 + 4 + 4 + 1 + 2 + 1;

void CheckPacket(const vmbus::IncomingPacket& packet, uint32_t max_packet_bytes) {
  if (packet.payload.size() > max_packet_bytes) __builtin_trap();
  for (const auto& range : packet.ranges) {
    if (range.byte_count == 0 || range.byte_offset >= 4096) __builtin_trap();
    const uint64_t pfns = (uint64_t{range.byte_offset} + range.byte_count + 4095) / 4096;
    if (range.pfns.size() != pfns) __builtin_trap();
    for (const uint64_t pfn : range.pfns)
      if (pfn > vmbus::kMaxPfn) __builtin_trap();
  }
  if (packet.type != vmbus::PacketType::kDataUsingGpaDirect && !packet.ranges.empty())
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kFixedBytes) return 0;
  const auto input = std::as_bytes(std::span(data, size));
  const uint32_t data_pages = data[0] % 4u + 1;
  const uint32_t data_bytes = data_pages * 4096;
  const bool raw_indices = (data[1] & 1) != 0;
  uint32_t read_index = 0, write_index = 0, pending = 0;
  uint16_t max_packet = 0;
  (void)base::LoadLe(input, 2, read_index);
  (void)base::LoadLe(input, 6, write_index);
  (void)base::LoadLe(input, 10, pending);
  const uint8_t interrupt_mask = data[14];
  (void)base::LoadLe(input, 15, max_packet);
  const uint8_t stride = data[17];
  if (!raw_indices) {
    read_index = read_index % data_bytes & ~7u;
    write_index = write_index % data_bytes & ~7u;
  }
  const uint32_t max_packet_bytes = max_packet == 0 ? vmbus::kDefaultMaxInPacketBytes : max_packet;

  vmbus::testing::FakeRingMemory memory;
  std::vector<uint64_t> pfns{0x10};
  for (uint32_t i = 0; i < data_pages; ++i) pfns.push_back(0x40 - 3 * i);  // scattered
  vmbus::testing::FakeGuestRing guest(memory, pfns);
  guest.SetHeader(RingField::kReadIndex, read_index);
  guest.SetHeader(RingField::kWriteIndex, write_index);
  guest.SetHeader(RingField::kPendingSendSize, pending);
  guest.SetHeader(RingField::kInterruptMask, interrupt_mask);
  const auto contents = input.subspan(kFixedBytes);
  for (size_t i = 0; i < contents.size() && i < data_bytes; ++i)
    guest.Data(static_cast<uint32_t>((uint64_t{read_index} + i) % data_bytes)) = contents[i];

  uint32_t flips = 0;
  if (stride != 0) {
    memory.after_read = [&] {
      ++flips;
      guest.Data(static_cast<uint32_t>((uint64_t{read_index} + uint64_t{flips} * stride) % data_bytes)) ^=
          std::byte{0x5A};
    };
  }

  auto in = vmbus::InRing::Create(memory, pfns, max_packet_bytes);
  if (in.ok()) {
    // Each packet takes at least 24 ring bytes: the loop ends by itself.
    for (int i = 0; i < 600; ++i) {
      auto read = in->Read();
      if (!read.ok()) {
        if (in->Consume().ok()) __builtin_trap();  // nothing to consume after an error
        break;
      }
      if (!read->has_value()) break;
      CheckPacket(**read, max_packet_bytes);
      const uint32_t before = in->read_index();
      if (!in->Consume().ok()) break;
      const uint32_t published = guest.Header(RingField::kReadIndex);
      if (published != in->read_index() || published % 8 != 0 || published >= data_bytes ||
          published == before)
        __builtin_trap();
    }
    (void)in->Mask();
    (void)in->Unmask();
  }
  memory.after_read = nullptr;

  // The same hostile header as a host->guest ring.
  auto out = vmbus::OutRing::Create(memory, pfns);
  if (out.ok()) {
    const std::array<std::byte, 40> payload{};
    for (int i = 0; i < 8; ++i) {
      auto written = out->WriteCompletion(static_cast<uint64_t>(i), std::span(payload).first(static_cast<size_t>(i) * 5));
      if (!written.ok() || written->status == vmbus::WriteStatus::kFull) break;
      const uint32_t published = guest.Header(RingField::kWriteIndex);
      if (published % 8 != 0 || published >= data_bytes || published != out->write_index())
        __builtin_trap();
    }
    (void)out->SetPendingSendSize(pending);
  }
  return 0;
}
