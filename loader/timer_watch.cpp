#include "timer_watch.h"

#include "base/string_printf.h"

namespace loader {

std::optional<std::string> TimerWatch::Check(unsigned vtl, const Sample& sample, uint64_t tsc_hz) {
  if (vtl >= vtls_.size() || tsc_hz < 1'000'000) return std::nullopt;
  PerVtl& state = vtls_[vtl];
  const uint64_t mhz = tsc_hz / 1'000'000;
  std::optional<std::string> report;
  // Two's complement: the offset of any two 64-bit counters.
  const auto offset = static_cast<int64_t>(sample.guest_tsc - sample.host_tsc);
  if (state.seen) {
    const int64_t moved = offset - state.offset;
    const uint64_t magnitude = moved < 0 ? 0 - static_cast<uint64_t>(moved) : static_cast<uint64_t>(moved);
    if (magnitude / mhz > kOffsetJumpMicros)
      report = base::StringPrintf("VTL%u's TSC moved %s%llu us against the host's", vtl,
                                  moved < 0 ? "-" : "+",
                                  static_cast<unsigned long long>(magnitude / mhz));
  }
  state.seen = true;
  state.offset = offset;
  const bool far = sample.deadline_mode && sample.deadline > sample.guest_tsc &&
                   (sample.deadline - sample.guest_tsc) / tsc_hz > kFarAheadSeconds;
  if (far && !state.far_ahead) {
    const std::string ahead = base::StringPrintf(
        "VTL%u's TSC deadline is %llu s ahead of its TSC: its timer interrupt will come that late",
        vtl, static_cast<unsigned long long>((sample.deadline - sample.guest_tsc) / tsc_hz));
    report = report ? *report + "; " + ahead : ahead;
  }
  state.far_ahead = far;
  if (!report || state.reports >= kMaxReports) return std::nullopt;
  ++state.reports;
  return report;
}

}  // namespace loader
