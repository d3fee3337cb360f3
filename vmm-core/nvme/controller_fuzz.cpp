// Fuzz target nvme-controller: a guest driving an nvme::Controller through
// BAR0 while its memory changes under it and the back end completes in any
// order.
// Input: records of {action u8, arguments}:
//   0 register write: selector u8 (CC, AQA, ASQ lo/hi, ACQ lo/hi, CSTS,
//     INTMS, NSSR, or any dword offset below 1000h), value u32
//   1 doorbell: index u8 (queue index >> 1 in 0..19, bit 0: CQ head), value u16
//   2 memory poke: offset u16, length u8, bytes (into a 64 KiB memory at 0)
//   3 complete the oldest deferred request: status selector u8
//   4 register read: offset u16 (4- or 8-byte by bit 15)
//   5 canned SQE at slot u8 of the queue at page u8: opcode u8, nsid u8,
//     cdw10 u32, cdw11 u32, cdw12 u32, prp1 u16 (page-granular), prp2 u16
// Namespace 1 completes inline; namespace 2 is read-only and deferred.
// Invariants: no crash or sanitizer report; every request reaching a
// device is in range, sized right and allowed (FakeBlockDevice's
// contract); interrupts only name vectors that exist; memory stays bounded.
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>

#include "base/fuzz_target.h"
#include "nvme/controller.h"
#include "nvme/testing/fake_block_device.h"
#include "nvme/testing/fake_dma_memory.h"
#include "nvme/wire.h"

namespace {

constexpr uint16_t kVectors = 4;

class CheckingInterrupts final : public nvme::InterruptSink {
 public:
  void Signal(uint16_t msix_vector) override {
    if (msix_vector >= kVectors) __builtin_trap();
  }
};

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t U8() { return at_ < size_ ? data_[at_++] : 0; }
  // Little-endian; each byte read in its own statement (operands of | are
  // unsequenced).
  uint16_t U16() {
    const uint16_t low = U8();
    return static_cast<uint16_t>(low | U8() << 8);
  }
  uint32_t U32() {
    const uint32_t low = U16();
    return low | uint32_t{U16()} << 16;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

block::Geometry Geometry(bool read_only) {
  block::Geometry geometry;
  geometry.block_size = 512;
  geometry.block_count = 64;
  geometry.read_only = read_only;
  geometry.supports_deallocate = true;
  geometry.supports_write_zeroes = true;
  return geometry;
}

void Store32(std::span<std::byte> bytes, size_t at, uint32_t value) {
  (void)base::StoreLe<uint32_t>(bytes, at, value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nvme::testing::FakeDmaMemory dma(0, 64 * 1024);
  CheckingInterrupts interrupts;
  nvme::testing::FakeBlockDevice fast(dma, Geometry(false), nvme::testing::FakeBlockDevice::Mode::kInline);
  nvme::testing::FakeBlockDevice slow(dma, Geometry(true), nvme::testing::FakeBlockDevice::Mode::kDeferred);
  nvme::Config config;
  config.namespaces = {&fast, &slow};
  config.max_io_queue_pairs = 4;
  config.msix_vectors = kVectors;
  config.mdts = 2;
  auto created = nvme::Controller::Create(config, dma, interrupts);
  if (!created) __builtin_trap();
  std::unique_ptr<nvme::Controller> controller = std::move(created).value();

  static constexpr uint64_t kRegisters[] = {
      nvme::wire::kRegCc,  nvme::wire::kRegAqa,      nvme::wire::kRegAsq,   nvme::wire::kRegAsq + 4,
      nvme::wire::kRegAcq, nvme::wire::kRegAcq + 4,  nvme::wire::kRegCsts,  nvme::wire::kRegIntms,
      nvme::wire::kRegNssr};
  Input in(data, size);
  int actions = 0;
  while (!in.empty() && ++actions < 4096) {
    switch (in.U8() % 6) {
      case 0: {
        const uint8_t selector = in.U8();
        const uint64_t offset = selector < std::size(kRegisters) ? kRegisters[selector]
                                                                 : (uint64_t{selector} * 4) % 0x1000;
        std::array<std::byte, 4> value{};
        Store32(value, 0, in.U32());
        (void)controller->Write(offset, value);
        break;
      }
      case 1: {
        const uint8_t index = in.U8();
        const uint64_t doorbell = nvme::wire::kDoorbellBase + static_cast<uint64_t>(index % 40) * 4;
        std::array<std::byte, 4> value{};
        Store32(value, 0, in.U16());
        (void)controller->Write(doorbell, value);
        break;
      }
      case 2: {
        const size_t offset = in.U16();
        const size_t length = in.U8();
        for (size_t i = 0; i < length; ++i) dma.bytes()[(offset + i) % dma.size_bytes()] = std::byte{in.U8()};
        break;
      }
      case 3: {
        // Bit 7 or a 0 selector: do the request; else fail it with that status.
        const uint8_t selector = in.U8();
        if ((selector & 0x80) != 0 || selector % 8 == 0) {
          slow.CompleteNext();
        } else {
          slow.CompleteNext(static_cast<block::Status>(selector % 8));
        }
        break;
      }
      case 4: {
        const uint16_t offset = in.U16();
        std::array<std::byte, 8> value{};
        const size_t width = (offset & 0x8000) ? 8 : 4;
        (void)controller->Read(offset & 0x3FFC, std::span(value).first(width));
        break;
      }
      default: {
        const uint8_t slot = in.U8();
        const uint8_t page = in.U8();
        nvme::wire::SubmissionEntry sqe{};
        sqe.cdw0 = nvme::wire::SubmissionEntry::MakeCdw0(in.U8(), static_cast<uint16_t>(actions));
        sqe.nsid = in.U8();
        sqe.cdw10 = in.U32();
        sqe.cdw11 = in.U32();
        sqe.cdw12 = in.U32();
        sqe.prp1 = uint64_t{in.U16()} << 4;
        sqe.prp2 = uint64_t{in.U16()} << 4;
        const auto bytes = nvme::wire::ToBytes(sqe);
        const size_t at = (static_cast<size_t>(page % 16) * 4096 + size_t{slot} * 64) % dma.size_bytes();
        std::copy(bytes.begin(), bytes.end(), dma.bytes().begin() + static_cast<std::ptrdiff_t>(at));
        break;
      }
    }
    if (fast.contract_violated || slow.contract_violated) __builtin_trap();
    if (slow.pending() > 5 * 1024) __builtin_trap();
  }
  // Drain the back end with the controller alive, then once more after it
  // is gone.
  while (slow.pending() > 1 && slow.CompleteNext()) {
  }
  controller.reset();
  while (slow.CompleteNext()) {
  }
  if (fast.contract_violated || slow.contract_violated) __builtin_trap();
  return 0;
}
