// Fuzz target nvme-driver: the user-mode NVMe driver against a device
// whose completion entries, register values and timing come from the
// input while requests are outstanding (ScriptedController answers the
// bring-up admin commands, the input does the rest).
// Input: a setup byte (I/O queue entries 2..9, maximum retries 0..3,
// interrupt vectors 1..2, MDTS 1..4), then records of {action u8, args}:
//   0 submit: op u8, lba u16, blocks u8 (+1), segments u8 (1..4), each
//     {address u16, size u16}, queue hint u8
//   1 complete held command: index u8, status u16
//   2 post a raw completion: queue u8 (0..2), cid u16 (or, if bit 0 of
//     `mode` is set, a held command's CID with its generation bits
//     flipped), sqid u16, sqhd u16, status u16, dw0 u32, mode u8 (bit 1: wrong phase)
//   3 CSTS override: u8 selector (none, RDY, RDY|CFS, 0, all-ones) 
//   4 advance time by u8 seconds and Tick
//   5 Poll; 6 OnInterrupt(u8 vector)
//   7 the device stops (or resumes) answering admin commands
// Invariants: no crash or sanitizer report; every Submit gets exactly one
// completion (checked after the driver is destroyed, which completes what
// is left); never two.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/fuzz_target.h"
#include "nvme/driver/driver.h"
#include "nvme/driver/testing/fake_dma_pool.h"
#include "nvme/driver/testing/scripted_controller.h"
#include "nvme/testing/fake_dma_memory.h"

namespace {

namespace wire = nvme::wire;
using nvme::driver::Time;

constexpr uint64_t kMemoryBytes = 128 * 1024;
constexpr uint64_t kPoolBytes = 128 * 1024;  // all of it: data pages are never touched
constexpr uint64_t kData = 1 << 20;  // beyond the memory: the scripted device moves no data

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t U8() { return at_ < size_ ? data_[at_++] : 0; }
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  nvme::testing::FakeDmaMemory memory(0, kMemoryBytes);
  nvme::driver::testing::FakeDmaPool pool(memory, 0, kPoolBytes);
  nvme::driver::testing::ScriptedController device(memory);
  const uint8_t setup = in.U8();
  nvme::driver::Options options;
  options.io_queue_entries = static_cast<uint16_t>(2 + (setup & 7));
  options.max_retries = (setup >> 3) & 3;
  options.interrupt_vectors = static_cast<uint16_t>(1 + ((setup >> 5) & 1));
  options.io_queue_pairs = 2;
  device.mdts = static_cast<uint8_t>(1 + ((setup >> 6) & 3));
  device.granted_queues = 2;
  auto made = nvme::driver::Driver::Create(device, pool, options);
  if (!made) __builtin_trap();
  auto driver = std::move(made).value();

  // One counter per Submit; a second completion traps at once.
  auto calls = std::make_shared<std::vector<int>>();
  Time now{};
  driver->Start(now);
  for (int i = 0; i < 16; ++i) driver->Poll();

  for (int steps = 0; !in.empty() && steps < 512; ++steps) {
    switch (in.U8() % 8) {
      case 0: {
        const uint8_t op = in.U8();
        const uint16_t lba = in.U16();
        const uint32_t blocks = uint32_t{in.U8()} + 1;
        const uint8_t segment_count = static_cast<uint8_t>(1 + in.U8() % 4);
        block::Request request;
        request.op = static_cast<block::Op>(op % 5);
        request.lba = lba;
        request.block_count = blocks;
        const bool has_data = request.op == block::Op::kRead || request.op == block::Op::kWrite;
        uint32_t left = blocks * 512;
        for (uint8_t s = 0; s < segment_count; ++s) {
          const uint16_t address = in.U16();
          const uint16_t bytes = in.U16();
          if (!has_data) continue;
          const uint32_t take = s + 1 == segment_count ? left : std::min<uint32_t>(left, bytes);
          request.segments.push_back(block::Segment{mem::Gpa{kData + uint64_t{address} * 4}, take});
          left -= take;
        }
        const uint8_t hint = in.U8();
        const size_t index = calls->size();
        calls->push_back(0);
        auto devices = driver->namespaces();
        block::Completion done = [calls, index](block::Status) {
          if (++(*calls)[index] > 1) __builtin_trap();
        };
        if (devices.empty()) {
          done(block::Status::kDeviceFailed);  // nothing to submit to
        } else {
          devices[0]->Submit(std::move(request), hint, std::move(done));
        }
        break;
      }
      case 1: {
        const uint8_t index = in.U8();
        const uint16_t status = in.U16();
        if (!device.held.empty())
          device.Complete(index % device.held.size(), wire::Status::FromField(static_cast<uint16_t>(status & ~1u)));
        break;
      }
      case 2: {
        const uint16_t qid = static_cast<uint16_t>(in.U8() % 3);
        wire::CompletionEntry entry{};
        entry.cid = in.U16();
        entry.sqid = in.U16();
        entry.sqhd = in.U16();
        entry.status = in.U16();
        entry.dw0 = in.U32();
        const uint8_t mode = in.U8();
        if ((mode & 1) != 0 && !device.held.empty()) {
          const auto& [held_qid, sqe] = device.held[entry.cid % device.held.size()];
          entry.cid = static_cast<uint16_t>(sqe.cid() ^ (entry.sqhd & 0xFC00));
          entry.sqid = held_qid;
          entry.sqhd = 0;
        }
        const auto it = device.queues.find(qid);
        const bool phase = it != device.queues.end() && it->second.phase;
        device.Post(qid, entry, (mode & 2) != 0 ? !phase : phase);
        break;
      }
      case 3: {
        switch (in.U8() % 5) {
          case 0: device.csts_override.reset(); break;
          case 1: device.csts_override = wire::Csts{}.set_rdy(true).raw; break;
          case 2: device.csts_override = wire::Csts{}.set_rdy(true).set_cfs(true).raw; break;
          case 3: device.csts_override = 0; break;
          default: device.csts_override = 0xFFFF'FFFF; break;
        }
        break;
      }
      case 4:
        now += std::chrono::seconds(in.U8());
        driver->Tick(now);
        break;
      case 5: driver->Poll(); break;
      case 6: driver->OnInterrupt(in.U8()); break;
      default: device.answer_admin = !device.answer_admin; break;
    }
  }
  driver.reset();
  for (int count : *calls)
    if (count != 1) __builtin_trap();
  return 0;
}
