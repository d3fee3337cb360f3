// Fuzz target: MANA completions seen by hcl's driver. The driver comes up
// on the emulator core; then the input plays a hostile device: it writes
// bytes anywhere in the shared DMA memory (CQEs, EQEs, owner bits, RX
// buffers, queue contents), delivers frames and sends frames, and the
// driver polls. It must neither crash nor hand out a frame longer than a
// buffer nor write outside its memory (the fake memory refuses).
#include <cstddef>
#include <cstdint>
#include <span>

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
      default:
        break;
    }
    input = input.subspan(length);
    (*driver)->Poll([](std::span<const std::byte> frame, const mana::driver::RxInfo&) {
      if (frame.size() > 2048) __builtin_trap();
    });
  }
  return 0;
}
