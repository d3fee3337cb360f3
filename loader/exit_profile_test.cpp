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

TEST_CASE("RIP samples add up across VPs and print one line per place") {
  ExitProfile vp0;
  vp0.Sample(2, false, 0xFFFFFFFF81000010);
  vp0.Sample(2, false, 0xFFFFFFFF81000010);
  vp0.Sample(2, true, 0x1234);  // the loader at work: no RIP kept
  ExitProfile vp1;
  vp1.Sample(2, false, 0xFFFFFFFF81000010);
  vp1.Sample(0, false, 0x401000);
  vp1.Sample(2, true, 0x5678);
  vp0.Merge(vp1);
  CHECK(vp0.samples().at({2, false, 0xFFFFFFFF81000010}) == 3);
  CHECK(vp0.samples().at({2, true, 0}) == 2);
  CHECK(vp0.samples().size() == 3);
  const std::string text = vp0.FormatSamples(3);
  CHECK(text.find("hcl-loader: sample 3 2 guest ffffffff81000010 3\n") != std::string::npos);
  CHECK(text.find("hcl-loader: sample 3 2 loader 0000000000000000 2\n") != std::string::npos);
  CHECK(text.find("hcl-loader: sample 3 0 guest 0000000000401000 1\n") != std::string::npos);
}

}  // namespace loader
