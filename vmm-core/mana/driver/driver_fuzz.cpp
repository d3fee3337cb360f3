// Fuzz target: MANA completions seen by hcl's driver. The driver comes up
// on the emulator core; then the input plays a hostile device: it writes
// bytes anywhere in the shared DMA memory (CQEs, EQEs, owner bits, RX
// buffers, queue contents), delivers frames and sends frames (copied, or
// in place from pieces of the memory), and the driver polls. It must
// neither crash nor hand out a frame longer than a buffer nor write
// outside its memory (the fake memory refuses); an in-place frame it took
// finishes at most once, a failed driver's all of them, and one it refused
// never does.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "mana/testing/driver_harness.h"
#include "mana/testing/emulated_vf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto input = std::as_bytes(std::span(data, size));
  nvme::testing::FakeDmaMemory memory(0x200000, 4 << 20);
  mana::testing::RecordingInterrupts interrupts;
  mana::testing::RecordingPackets packets;
  auto device = mana::Device::Create({}, memory, interrupts, packets);
  if (!device) __builtin_trap();
  mana::testing::DeviceBar bar(**device);
  mana::testing::FakePool pool(memory);
  auto driver = mana::driver::Driver::Create(
      bar, pool, [] { return std::chrono::steady_clock::now().time_since_epoch(); },
      {.rx_buffers = 16, .tx_buffers = 16, .request_timeout = std::chrono::milliseconds(50)});
  if (!driver) __builtin_trap();  // the honest device always comes up
  size_t steps = 0;
  uint64_t in_place_taken = 0, finished = 0;
  while (input.size() >= 8 && ++steps < 128) {
    uint32_t op = 0, where = 0;
    (void)base::LoadLe<uint32_t>(input, 0, op);
    (void)base::LoadLe<uint32_t>(input, 4, where);
    input = input.subspan(8);
    const size_t length = std::min<size_t>(input.size(), (op >> 2) & 0x7FF);
    switch (op & 3) {
      case 0: {  // the device scribbles on DMA memory
        const size_t at = where % (memory.size_bytes() - length + 1);
        std::copy_n(input.begin(), length, memory.bytes().begin() + static_cast<ptrdiff_t>(at));
        break;
      }
      case 1:
        (void)(*device)->Receive(input.first(length));
        break;
      case 2:
        (void)(*driver)->Transmit(input.first(length));
        break;
      default: {
        // In place: the head from the input, the rest as `where`'s count of
        // pieces of memory (1-25: 25 is one too many) spread over it.
        using Driver = mana::driver::Driver;
        const size_t pieces = where % 25 + 1;
        const size_t rest = length + pieces;
        std::vector<block::Segment> segments;
        for (size_t i = 0; i < pieces; ++i) {
          const uint64_t offset = (uint64_t{where} * 2654435761u + i * 4099) % (memory.size_bytes() - 4096);
          const size_t bytes = rest / pieces + (i == 0 ? rest % pieces : 0);
          segments.push_back({mem::Gpa{memory.base() + offset}, static_cast<uint32_t>(bytes)});
        }
        const auto head = [](std::span<std::byte> out) -> base::Result<void> {
          std::fill(out.begin(), out.end(), std::byte{0x08});
          return base::Ok();
        };
        const bool taken = (*driver)->TransmitInPlace(Driver::kInPlaceHeadBytes + rest, head,
                                                      segments, [&finished](bool) { ++finished; });
        if (taken) ++in_place_taken;
        if (taken && pieces > Driver::kMaxInPlaceSegments) __builtin_trap();
        break;
      }
    }
    input = input.subspan(length);
    (*driver)->Poll([](std::span<const std::byte> frame, const mana::driver::RxInfo&) {
      if (frame.size() > 2048) __builtin_trap();
    });
    if (finished > in_place_taken) __builtin_trap();
  }
  // A failed driver finishes every in-place frame it took (unsent) at its
  // next Poll. (A device that merely stops completing, its SQ stopped by
  // scribbles, leaves them out: netvsp's wait for them is bounded.)
  (*driver)->Poll([](std::span<const std::byte>, const mana::driver::RxInfo&) {});
  if ((*driver)->failed() && finished != in_place_taken) __builtin_trap();
  return 0;
}
