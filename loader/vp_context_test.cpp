#include "vp_context.h"

#include <doctest/doctest.h>

#include "vp_state_kvm.h"
#include "x86_context.h"

namespace {

std::vector<std::byte> SampleContext() {
  igvm::X64EntryState entry;
  entry.rip = 0x1000000;
  entry.rsp = 0x1060000;
  entry.rsi = 0x1020000;
  entry.cr3 = 0x1030000;
  entry.gdt_base = 0x1036000;
  entry.vtl = 2;
  return igvm::VbsVpContext(entry);
}

}  // namespace

TEST_CASE("the builder's VBS VP context parses into the entry state") {
  const auto state = loader::ParseVbsVpContext(SampleContext());
  REQUIRE(state.ok());
  CHECK(state->vtl == 2);
  CHECK(state->rip == 0x1000000);
  CHECK(state->rsp == 0x1060000);
  CHECK(state->rsi == 0x1020000);
  CHECK(state->cr3 == 0x1030000);
  CHECK(state->cr0 == igvm::kEntryCr0);
  CHECK(state->efer == igvm::kEntryEfer);
  CHECK(state->pat == igvm::kEntryPat);
  REQUIRE(state->gdtr.has_value());
  CHECK(state->gdtr->base == 0x1036000);
  CHECK(state->gdtr->limit == igvm::kGdtLimit);
  REQUIRE(state->cs.has_value());
  CHECK(state->cs->selector == igvm::kCodeSelector);
  CHECK(state->cs->attributes == 0xA09B);
  CHECK_FALSE(state->ldtr.has_value());
}

TEST_CASE("VBS VP context: malformed records are refused") {
  auto data = SampleContext();
  SUBCASE("count larger than the data") {
    data[0] = std::byte{0xFF};
    CHECK_FALSE(loader::ParseVbsVpContext(data).ok());
  }
  SUBCASE("truncated") {
    data.resize(data.size() - 1);
    CHECK_FALSE(loader::ParseVbsVpContext(data).ok());
  }
  SUBCASE("non-zero mbz") {
    data[4 + 5] = std::byte{1};
    CHECK_FALSE(loader::ParseVbsVpContext(data).ok());
  }
  SUBCASE("mixed VTLs") {
    data[4 + 32] = std::byte{0};
    CHECK_FALSE(loader::ParseVbsVpContext(data).ok());
  }
  SUBCASE("unknown register") {
    data[4 + 1] = std::byte{0x77};
    const auto parsed = loader::ParseVbsVpContext(data);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message().find("not supported") != std::string::npos);
  }
  SUBCASE("a register twice") {
    std::copy(data.begin() + 4, data.begin() + 36, data.begin() + 36);
    CHECK_FALSE(loader::ParseVbsVpContext(data).ok());
  }
  SUBCASE("empty") { CHECK_FALSE(loader::ParseVbsVpContext({}).ok()); }
}

TEST_CASE("VMX segment attributes map onto kvm_segment fields") {
  const auto code = loader::ToKvmSegment({0, 0xFFFFFFFF, 0x08, 0xA09B});
  REQUIRE(code.ok());
  CHECK(code->type == 0xB);
  CHECK(code->s == 1);
  CHECK(code->dpl == 0);
  CHECK(code->present == 1);
  CHECK(code->l == 1);
  CHECK(code->db == 0);
  CHECK(code->g == 1);
  CHECK(code->unusable == 0);
  CHECK(code->limit == 0xFFFFFFFF);
  const auto data = loader::ToKvmSegment({0, 0xFFFFFFFF, 0x10, 0xC093});
  REQUIRE(data.ok());
  CHECK(data->type == 0x3);
  CHECK(data->db == 1);
  CHECK(data->l == 0);
  const auto user = loader::ToKvmSegment({0, 0xFFFF, 0x2B, 0x00F3});
  REQUIRE(user.ok());
  CHECK(user->dpl == 3);
  CHECK(user->g == 0);
  const auto null = loader::ToKvmSegment({0, 0, 0, 0});
  REQUIRE(null.ok());
  CHECK(null->unusable == 1);
  CHECK_FALSE(loader::ToKvmSegment({0, 0, 0, 0x0100}).ok());  // reserved bit 8
}

TEST_CASE("VBS VP context: only VTL0 and VTL2 exist on this loader") {
  for (const uint8_t vtl : std::initializer_list<uint8_t>{0, 1, 2, 3, 15}) {
    igvm::X64EntryState entry;
    entry.rip = 0x1000000;
    entry.vtl = vtl;
    const auto state = loader::ParseVbsVpContext(igvm::VbsVpContext(entry));
    CAPTURE(vtl);
    CHECK(state.ok() == (vtl == 0 || vtl == 2));
  }
}
