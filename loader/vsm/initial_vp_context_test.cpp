#include "vsm/initial_vp_context.h"

#include <doctest/doctest.h>

#include <array>
#include <cstring>

TEST_CASE("HV_INITIAL_VP_CONTEXT: every field at its TLFS offset") {
  std::array<std::byte, loader::vsm::kInitialVpContextBytes> bytes{};
  auto put = [&](size_t offset, auto value) { std::memcpy(bytes.data() + offset, &value, sizeof value); };
  put(0, uint64_t{0xFFFFFFFF81000000});  // rip
  put(8, uint64_t{0x7000});              // rsp
  put(16, uint64_t{0x0});                // rflags
  put(24, uint64_t{0});                  // cs base
  put(32, uint32_t{0xFFFFFFFF});         // cs limit
  put(36, uint16_t{0x10});               // cs selector
  put(38, uint16_t{0xA09B});             // cs attributes: 64-bit code
  put(104 + 12, uint16_t{0x18});         // ss selector
  put(152 + 6, uint16_t{0xFFF});         // idtr limit
  put(152 + 8, uint64_t{0x5000});        // idtr base
  put(168 + 6, uint16_t{0x27});          // gdtr limit
  put(168 + 8, uint64_t{0x6000});        // gdtr base
  put(184, uint64_t{0xD00});             // efer: LME|LMA|NXE
  put(192, uint64_t{0x80050033});        // cr0
  put(200, uint64_t{0x33000});           // cr3
  put(208, uint64_t{0x20});              // cr4: PAE
  put(216, uint64_t{0x0007040600070406});  // pat
  const loader::X64VpState state = loader::vsm::ParseInitialVpContext(bytes, 0);
  CHECK(state.vtl == 0);
  CHECK(*state.rip == 0xFFFFFFFF81000000);
  CHECK(*state.rsp == 0x7000);
  CHECK(*state.rflags == 2);
  CHECK(state.cs->limit == 0xFFFFFFFF);
  CHECK(state.cs->selector == 0x10);
  CHECK(state.cs->attributes == 0xA09B);
  CHECK(state.ss->selector == 0x18);
  CHECK(state.idtr->limit == 0xFFF);
  CHECK(state.idtr->base == 0x5000);
  CHECK(state.gdtr->limit == 0x27);
  CHECK(state.gdtr->base == 0x6000);
  CHECK(*state.efer == 0xD00);
  CHECK(*state.cr0 == 0x80050033);
  CHECK(*state.cr3 == 0x33000);
  CHECK(*state.cr4 == 0x20);
  CHECK(*state.pat == 0x0007040600070406);
}
