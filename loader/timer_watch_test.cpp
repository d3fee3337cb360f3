#include "timer_watch.h"

#include <doctest/doctest.h>

namespace {

constexpr uint64_t kHz = 1'000'000'000;  // 1 GHz: 1,000 ticks per us

}  // namespace

TEST_CASE("timer watch: a TSC that moves against the host's is reported") {
  loader::TimerWatch watch;
  using Sample = loader::TimerWatch::Sample;
  // Steady: the guest's TSC 5,000 ahead of the host's, whatever they read.
  CHECK_FALSE(watch.Check(2, Sample{5'000 + 1'000, 1'000, 0, false}, kHz));
  CHECK_FALSE(watch.Check(2, Sample{5'000 + 900'000'000, 900'000'000, 0, false}, kHz));
  // Jitter well under the threshold: quiet.
  CHECK_FALSE(watch.Check(2, Sample{5'000 + 40'000'000 + 2'000'000'000, 2'000'000'000, 0, false}, kHz));
  // The guest's TSC fell 212 s behind the host's.
  const auto back =
      watch.Check(2, Sample{300'000'000'000 + 5'000 + 40'000'000 - 212'000'000'000,
                            300'000'000'000, 0, false},
                  kHz);
  REQUIRE(back);
  CHECK(back->find("VTL2's TSC moved -") == 0);
  // Each VTL on its own.
  CHECK_FALSE(watch.Check(0, Sample{7, 1'000, 0, false}, kHz));
}

TEST_CASE("timer watch: a deadline far ahead is reported once until it clears") {
  loader::TimerWatch watch;
  using Sample = loader::TimerWatch::Sample;
  CHECK_FALSE(watch.Check(0, Sample{1'000, 1'000, 1'000 + 4 * kHz, true}, kHz));  // 4 s: fine
  const auto far = watch.Check(0, Sample{2'000, 2'000, 2'000 + 212 * kHz, true}, kHz);
  REQUIRE(far);
  CHECK(far->find("VTL0's TSC deadline is 212 s ahead") == 0);
  CHECK_FALSE(watch.Check(0, Sample{3'000, 3'000, 2'000 + 212 * kHz, true}, kHz));
  // A masked or non-deadline timer says nothing about its MSR.
  CHECK_FALSE(watch.Check(2, Sample{3'000, 3'000, 3'000 + 500 * kHz, false}, kHz));
  CHECK_FALSE(watch.Check(0, Sample{4'000, 4'000, 0, true}, kHz));  // cleared
  CHECK(watch.Check(0, Sample{5'000, 5'000, 5'000 + 100 * kHz, true}, kHz));
}

TEST_CASE("timer watch: reports stop after the limit; nonsense rates are ignored") {
  loader::TimerWatch watch;
  using Sample = loader::TimerWatch::Sample;
  unsigned reports = 0;
  for (uint64_t i = 0; i < 40; ++i)
    if (watch.Check(2, Sample{i * 10 * kHz, 0, 0, false}, kHz)) ++reports;
  CHECK(reports == loader::TimerWatch::kMaxReports);
  CHECK_FALSE(watch.Check(2, Sample{1, 1, 1 + 100 * kHz, true}, 0));
}
