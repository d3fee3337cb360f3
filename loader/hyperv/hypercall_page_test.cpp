#include "hyperv/hypercall_page.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

namespace {

using namespace loader::hyperv;

std::vector<uint8_t> At(const std::array<std::byte, base::kPageSize>& page, size_t offset,
                        size_t n) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(page[offset + i]));
  return out;
}

}  // namespace

TEST_CASE("hypercall page: port trap entries at OpenVMM's offsets, INT3 after") {
  const auto page = HypercallPage();
  // +0x00: out 0x99, eax; nop; ret.
  CHECK(At(page, 0x00, 4) == std::vector<uint8_t>{0xE7, 0x99, 0x90, 0xC3});
  // +0x04: mov ecx, eax; mov eax, 0x11; trap; ret.
  CHECK(At(page, 0x04, 11) ==
        std::vector<uint8_t>{0x89, 0xC1, 0xB8, 0x11, 0, 0, 0, 0xE7, 0x99, 0x90, 0xC3});
  // +0x0F: mov rax, rcx; mov ecx, 0x11; trap; ret.
  CHECK(At(page, kVtlCallOffset, 12) ==
        std::vector<uint8_t>{0x48, 0x89, 0xC8, 0xB9, 0x11, 0, 0, 0, 0xE7, 0x99, 0x90, 0xC3});
  CHECK(At(page, 0x1B, 11) ==
        std::vector<uint8_t>{0x89, 0xC1, 0xB8, 0x12, 0, 0, 0, 0xE7, 0x99, 0x90, 0xC3});
  CHECK(At(page, kVtlReturnOffset, 12) ==
        std::vector<uint8_t>{0x48, 0x89, 0xC8, 0xB9, 0x12, 0, 0, 0, 0xE7, 0x99, 0x90, 0xC3});
  for (size_t i = 0x32; i < base::kPageSize; ++i) CHECK(static_cast<uint8_t>(page[i]) == 0xCC);
  CHECK(kVsmCodePageOffsets == 0x2600F);
  // Never VMCALL (0F 01 C1) or VMMCALL (0F 01 D9): KVM would eat them.
  for (size_t i = 0; i + 2 < 0x32; ++i)
    CHECK_FALSE((At(page, i, 2) == std::vector<uint8_t>{0x0F, 0x01}));
}

TEST_CASE("hypercall input value: fields and reserved bits") {
  const uint64_t value = 0x5Cull | (1ull << 16) | (3ull << 17) | (0x123ull << 32) | (0x45ull << 48);
  const HypercallInput in = DecodeHypercallInput(value);
  CHECK(in.code == 0x5C);
  CHECK(in.fast);
  CHECK(in.variable_header == 3);
  CHECK(in.rep_count == 0x123);
  CHECK(in.rep_start == 0x45);
  CHECK_FALSE(in.reserved_set);
  CHECK(DecodeHypercallInput(1ull << 31).reserved_set);
  CHECK(DecodeHypercallInput(1ull << 44).reserved_set);
  CHECK(DecodeHypercallInput(1ull << 63).reserved_set);
}

TEST_CASE("hypercall dispatch: every code is HV_STATUS_INVALID_HYPERCALL_CODE for now") {
  CHECK(HypercallResult(5, 0x7) == 0x0000000700000005ull);
  for (uint64_t code : {0x0ull, 0x5Cull, 0x5Dull | (1ull << 16), 0x7FFFull, 0x11ull})
    CHECK(DispatchHypercall(DecodeHypercallInput(code)) == 2);
}
