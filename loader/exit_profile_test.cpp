#include "exit_profile.h"

#include <doctest/doctest.h>

namespace loader {

TEST_CASE("the exit profile adds runs and exits per VTL and key, across VPs") {
  ExitProfile vp0;
  vp0.Record(0, ExitProfile::Kind::kHypercall, 0x5D, 1000, 200);
  vp0.Record(0, ExitProfile::Kind::kHypercall, 0x5D, 3000, 400);
  vp0.Record(2, ExitProfile::Kind::kMmio, 0xFE000000, 500, 50);
  ExitProfile vp1;
  vp1.Record(0, ExitProfile::Kind::kHypercall, 0x5D, 2000, 600);
  vp1.Record(2, ExitProfile::Kind::kIo, 0x3F8, 700, 70);
  vp0.Merge(vp1);
  CHECK(vp0.run_ns(0) == 6000);
  CHECK(vp0.run_ns(2) == 1200);
  const auto& signal = vp0.tallies().at({0, ExitProfile::Kind::kHypercall, 0x5D});
  CHECK(signal.count == 3);
  CHECK(signal.handle_ns == 1200);
  CHECK(vp0.tallies().size() == 3);
}

TEST_CASE("the exit profile prints the busiest keys first, VTL2 then VTL0") {
  ExitProfile profile;
  profile.Record(2, ExitProfile::Kind::kIo, 0x3F8, 10'000'000, 1'000'000);
  profile.Record(2, ExitProfile::Kind::kMmio, 0xFE001000, 1'000'000, 5'000'000);
  profile.Record(0, ExitProfile::Kind::kKick, 0, 2'000'000, 100'000);
  const std::string text = profile.Format(1);
  CHECK(text.find("VTL2: 11.0 ms in KVM_RUN, 2 exits, 6.0 ms handling them") != std::string::npos);
  // One row per VTL: the MMIO page (5 ms) outranks the port (1 ms).
  CHECK(text.find("mmio") != std::string::npos);
  CHECK(text.find("0x3f8") == std::string::npos);
  CHECK(text.find("VTL0: 2.0 ms in KVM_RUN, 1 exits") != std::string::npos);
  CHECK(text.find("VTL2") < text.find("VTL0"));
}

}  // namespace loader
