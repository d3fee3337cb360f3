// Fuzz target nvme-prp: WalkPrps over guest-controlled PRP1/PRP2 and list
// pages.
// Input: prp1 u64, prp2 u64, transfer u32 (taken modulo 2 MiB + 1), then
// the bytes of a 64 KiB memory at guest address 0 (zero-filled if short).
// Addresses are folded into 128 KiB so half of them hit memory.
// Invariants: no crash or sanitizer report; on success the segments add up
// to the transfer, every segment but the first starts page aligned, and
// each list page is read at most once per pass (reads <= 2 * pages + 1).
#include <cstddef>
#include <cstdint>

#include "base/fuzz_target.h"
#include "nvme/prp.h"
#include "nvme/testing/fake_dma_memory.h"

namespace {

uint64_t Load64(const uint8_t* data) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | data[i];
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 20) return 0;
  constexpr uint64_t kFold = 0x1'FFFF;
  const uint64_t prp1 = Load64(data) & (kFold | 0xF000'0000'0000'0003);
  const uint64_t prp2 = Load64(data + 8) & (kFold | 0xF000'0000'0000'0007);
  const uint32_t transfer =
      (uint32_t{data[16]} | uint32_t{data[17]} << 8 | uint32_t{data[18]} << 16 | uint32_t{data[19]} << 24) %
      (2 * 1024 * 1024 + 1);
  nvme::testing::FakeDmaMemory dma(0, 64 * 1024);
  const size_t memory_bytes = std::min<size_t>(size - 20, dma.size_bytes());
  for (size_t i = 0; i < memory_bytes; ++i) dma.bytes()[i] = std::byte{data[20 + i]};

  const nvme::PrpResult result = nvme::WalkPrps(dma, prp1, prp2, transfer);
  const uint64_t pages = transfer / 4096 + 2;
  if (dma.reads() > 2 * pages + 1) __builtin_trap();
  if (!result.ok()) {
    if (!result.segments.empty()) __builtin_trap();
    return 0;
  }
  uint64_t total = 0;
  for (size_t i = 0; i < result.segments.size(); ++i) {
    const block::Segment& segment = result.segments[i];
    if (segment.bytes == 0) __builtin_trap();
    if (i > 0 && (mem::ToU64(segment.gpa) & 0xFFF) != 0) __builtin_trap();
    total += segment.bytes;
  }
  if (total != transfer) __builtin_trap();
  return 0;
}
