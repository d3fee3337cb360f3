// Fuzz target: the loader's hypercall handler (review section 2: it had
// neither test nor fuzzer) over fake vCPU state and interrupt targets
// (testing/hypercall_machine.h). Input: caller
// VTL (byte 0: 0 or 2), the hypercall input value, RDX and R8 (8 bytes
// each), then the first 16 KiB of guest RAM (input pages). Invariants:
// no crash or sanitizer report; a VTL0 caller reads and writes no guest
// memory; every result is one of the outcome kinds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/fuzz_target.h"
#include "vsm/testing/hypercall_machine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using loader::vsm::testing::HypercallMachine;
  static auto machine = HypercallMachine::Create();
  if (!machine || size < 25) return 0;
  HypercallMachine& m = **machine;
  // Half the inputs run on an isolated partition, so the host-visibility
  // call parses its GPN list.
  static loader::vsm::HostVisibility visibility(0, HypercallMachine::kRamBytes);
  m.partition->SetHostVisibility((data[0] & 16) != 0 ? &visibility : nullptr);
  const uint8_t caller = (data[0] & 1) != 0 ? 2 : 0;
  uint64_t value = 0, rdx = 0, r8 = 0;
  std::memcpy(&value, data + 1, 8);
  std::memcpy(&rdx, data + 9, 8);
  std::memcpy(&r8, data + 17, 8);
  // Addresses mostly inside RAM so inputs are read.
  if ((data[0] & 2) == 0) rdx &= HypercallMachine::kRamBytes - 1;
  if ((data[0] & 4) == 0) r8 &= HypercallMachine::kRamBytes - 1;
  auto raw = mem::GuestMemory::Create(mem::Gpa{0}, m.ram->bytes()).value();
  const size_t ram_input = std::min<size_t>(size - 25, 0x4000);
  // Byte by byte: no memcpy from an empty vector's null data().
  std::vector<std::byte> page;
  for (size_t i = 0; i < ram_input; ++i) page.push_back(std::byte{data[25 + i]});
  if (!page.empty()) (void)raw.Write(mem::Gpa{0}, page);
  std::vector<std::byte> before(m.ram->bytes().begin(), m.ram->bytes().end());
  loader::vsm::HypercallCall call;
  call.input = loader::hyperv::DecodeHypercallInput(value);
  call.rdx = rdx;
  call.r8 = r8;
  m.fail_remaps = (data[0] & 8) != 0;
  auto outcome = m.handler->Handle(caller, call);
  if (outcome && caller == 0 &&
      !std::equal(before.begin(), before.end(), m.ram->bytes().begin()))
    __builtin_trap();
  return 0;
}
