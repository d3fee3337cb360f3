// Fuzz target: a guest-state device the host handed back. The input's
// first byte picks whether the harness seals each slot with the right key
// (so the fuzzer reaches item parsing and decryption); the rest fills slot
// A's start, then slot B's. Invariants: no crash; Open either refuses or
// gives a store whose items load.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "vtpm/guest_state.h"
#include "vtpm/testing/memory_block_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hcl::vtpm::GuestStateStore;
  if (size < 1) return 0;
  const bool seal = (data[0] & 1) != 0;
  hcl::vtpm::testing::MemoryBlockIo io(GuestStateStore::kMinDeviceBytes);
  const size_t half = (size - 1) / 2;
  const size_t slot_bytes = GuestStateStore::kMinDeviceBytes / 2;
  for (size_t slot = 0; slot < 2; ++slot) {
    const uint8_t* from = data + 1 + slot * half;
    const size_t n = std::min(half, slot_bytes);
    for (size_t i = 0; i < n; ++i) io.bytes()[slot * slot_bytes + i] = std::byte{from[i]};
    if (seal) {
      uint32_t body = 0;
      (void)base::LoadLe(std::span<const std::byte>(io.bytes()).subspan(slot * slot_bytes), 24, body);
      const size_t sealed = std::min<size_t>(GuestStateStore::kSlotHeaderBytes + body, slot_bytes);
      GuestStateStore::SealSlotForTesting(
          hcl::vtpm::PlatformKey{}, std::span(io.bytes()).subspan(slot * slot_bytes, sealed));
    }
  }
  auto store = GuestStateStore::Open(io, hcl::vtpm::PlatformKey{});
  if (store.ok())
    for (const char* name : {"permall", "volatilestate", "savestate"})
      if (!(**store).Load(name).ok()) __builtin_trap();
  return 0;
}
