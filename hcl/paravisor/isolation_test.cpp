// paravisor/isolation.h: reading the isolation type from CPUID words, and
// sharing pages with the host in page-sized hypercall batches.
#include "paravisor/isolation.h"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "hv/hypercall_abi.h"

TEST_CASE("isolation: CPUID B.22 and leaf 0x4000000C (TLFS)") {
  using hcl::Isolation;
  CHECK(hcl::DecodeIsolation(0x4000000C, 0, 1) == Isolation::kNone);  // no B.22
  CHECK(hcl::DecodeIsolation(0x4000000C, 1u << 22, 1) == Isolation::kVbs);
  CHECK(hcl::DecodeIsolation(0x4000000C, 1u << 22, 2 | 1u << 5) == Isolation::kSnp);
  CHECK(hcl::DecodeIsolation(0x4000000C, 1u << 22, 3) == Isolation::kTdx);
  CHECK(hcl::DecodeIsolation(0x4000000C, 1u << 22, 9) == Isolation::kUnknown);
  CHECK(hcl::DecodeIsolation(0x40000005, 1u << 22, 1) == Isolation::kUnknown);  // no leaf
}

TEST_CASE("isolation: ShareWithHost makes every page read-write visible, 510 GPNs a call") {
  struct Call {
    uint64_t control;
    hv::ModifySparseGpaPageHostVisibilityHeader header;
    std::vector<uint64_t> gpns;
  };
  std::vector<Call> calls;
  const hcl::HypercallFn record = [&](uint64_t control, std::span<const std::byte> input)
      -> base::Result<hv::Status> {
    Call call{control, {}, {}};
    std::memcpy(&call.header, input.data(), sizeof call.header);
    for (size_t at = sizeof call.header; at + 8 <= input.size(); at += 8) {
      uint64_t gpn = 0;
      std::memcpy(&gpn, input.data() + at, 8);
      call.gpns.push_back(gpn);
    }
    calls.push_back(call);
    return hv::Status::kSuccess;
  };
  const std::vector<hcl::GpaRange> ranges{{0x100000, 600 * 4096}, {0x900000, 2 * 4096}};
  REQUIRE(hcl::ShareWithHost(record, ranges).ok());
  REQUIRE(calls.size() == 3);
  CHECK((calls[0].control & 0xFFFF) == 0xDB);
  CHECK((calls[0].control >> 32 & 0xFFF) == 510);
  CHECK(calls[0].gpns.size() == 510);
  CHECK(calls[0].gpns.front() == 0x100);
  CHECK(calls[1].gpns.size() == 90);
  CHECK(calls[1].gpns.back() == 0x100 + 599);
  CHECK(calls[2].gpns == std::vector<uint64_t>{0x900, 0x901});
  for (const Call& call : calls) {
    CHECK(call.header.host_visibility == 3);
    CHECK(call.header.partition_id == hv::kPartitionSelf);
  }
  // A refusal stops the sharing with an error naming the page.
  const hcl::HypercallFn refuse = [](uint64_t, std::span<const std::byte>)
      -> base::Result<hv::Status> { return hv::Status::kInvalidParameter; };
  const auto refused = hcl::ShareWithHost(refuse, ranges);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("0x100") != std::string::npos);
}
