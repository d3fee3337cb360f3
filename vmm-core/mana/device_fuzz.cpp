// Fuzz target: a hostile driver against mana::Device. The input is a
// sequence of operations: BAR0 writes (registers, SMC, doorbells with
// any ids and tails), writes of bytes into DMA memory (queues, WQEs,
// request buffers: WQEs with SGEs pointing anywhere), frames received.
// The device must neither crash nor write outside DMA memory (the fake
// memory refuses) nor hang.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "mana/testing/driver_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto input = std::as_bytes(std::span(data, size));
  mana::Config config;
  config.queue_pairs = 2;
  config.msix_vectors = 3;
  mana::testing::DriverHarness h(config);
  // A channel and a queue pair the input can then attack.
  (void)h.Establish(0);
  size_t steps = 0;
  while (input.size() >= 12 && ++steps < 256) {
    uint32_t op = 0;
    uint64_t value = 0;
    (void)base::LoadLe<uint32_t>(input, 0, op);
    (void)base::LoadLe<uint64_t>(input, 4, value);
    input = input.subspan(12);
    switch (op & 3) {
      case 0:  // a BAR0 write (8-byte aligned offset)
        h.Write64(((op >> 2) % (mana::kBar0Bytes / 8)) * 8, value);
        break;
      case 1: {  // bytes into DMA memory
        const size_t length = std::min<size_t>(input.size(), (op >> 2) & 0x3FF);
        const uint64_t at = value % (h.memory().size_bytes() - length + 1);
        std::copy_n(input.begin(), length, h.memory().bytes().begin() + static_cast<ptrdiff_t>(at));
        input = input.subspan(length);
        break;
      }
      case 2: {  // a frame from the network
        const size_t length = std::min<size_t>(input.size(), (op >> 2) & 0x7FF);
        (void)h.device().Receive(input.first(length));
        input = input.subspan(length);
        break;
      }
      default:
        h.Write32(((op >> 2) % (mana::kBar0Bytes / 4)) * 4, static_cast<uint32_t>(value));
        break;
    }
  }
  (void)h.device().counters();
  return 0;
}
