// Fuzz target: hcl's intercept handling (VpRunner::HandleExit) against a
// fake driver. The input is split into: 256 bytes of exit message (the
// hypervisor's, but built from VTL0's state: header type included), 128
// bytes of VTL0 general registers, 64 bytes of control/segment register
// values, then VTL0's RAM (instruction bytes, page tables, PostMessage
// inputs). Pages 4-5 of RAM are denied to VTL0. Invariants: no crash or
// sanitizer report; nothing written to a denied page; the fatal policy
// runs only for an unrecoverable-exception message.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/fuzz_target.h"
#include "paravisor/testing/fake_driver.h"
#include "paravisor/vp_runner.h"

namespace {

constexpr size_t kMessageBytes = 256;
constexpr size_t kGprBytes = 128;
constexpr size_t kControlBytes = 64;
constexpr size_t kRamBytes = 0x8000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kMessageBytes + kGprBytes + kControlBytes) return 0;
  hcl::testing::FakeDriver driver;
  std::vector<std::byte> ram(kRamBytes);
  const size_t ram_input = std::min(size - kMessageBytes - kGprBytes - kControlBytes, kRamBytes);
  std::memcpy(ram.data(), data + kMessageBytes + kGprBytes + kControlBytes, ram_input);
  const std::vector<std::byte> denied_before(ram.begin() + 0x4000, ram.begin() + 0x6000);
  hcl::Vtl0Memory memory;
  memory.Add(mem::GuestMemory::Create(mem::Gpa{0}, ram).value());
  (void)memory.ChangeProtection(4, 2, 0, [] { return base::Result<void>(base::Ok()); });
  hcl::Vtl0Devices devices(driver);
  hcl::VmbusServer vmbus(driver, 2);
  bool fatal = false;
  hcl::VpRunner runner(driver, memory, devices, vmbus, 0, [&](const char*) { fatal = true; });
  std::array<uint64_t, 8> control{};
  std::memcpy(control.data(), data + kMessageBytes + kGprBytes, kControlBytes);
  const uint32_t names[] = {::hv::reg::kCr0, ::hv::reg::kCr3, ::hv::reg::kCr4, ::hv::reg::kEfer,
                            ::hv::reg::kDs, ::hv::reg::kEs, ::hv::reg::kSs, ::hv::reg::kRsp};
  // Control registers: the value in the low half. Segments: base 0,
  // limit/selector/attributes from the input (the high half).
  for (size_t i = 0; i < 8; ++i) {
    const bool segment = i >= 4 && i < 7;
    driver.registers[names[i]] = {segment ? 0 : control[i], control[i]};
  }
  if (!runner.Prepare().ok()) return 0;
  std::memcpy(driver.run.cpu_context.gp_regs, data + kMessageBytes, kGprBytes);
  std::memcpy(driver.run.exit_message, data, kMessageBytes);
  uint32_t type = 0;
  std::memcpy(&type, data, sizeof type);
  (void)runner.HandleExit();
  if (fatal && type != ::hv::message::kUnrecoverableException) __builtin_trap();
  if (!std::equal(denied_before.begin(), denied_before.end(), ram.begin() + 0x4000))
    __builtin_trap();
  return 0;
}
