#include "ratio_reporter.h"

#include <cstdio>

namespace bench {

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.run_type == Run::RT_Iteration && run.iterations > 0)
      times_[run.benchmark_name()] = {run.GetAdjustedCPUTime(),
                                      benchmark::GetTimeUnitString(run.time_unit)};
  }
  ConsoleReporter::ReportRuns(runs);
}

int RatioReporter::PrintRatios() const {
  int found = 0;
  std::printf("\n%-40s %12s %12s %8s   (CPU time; ratio = baseline / path)\n", "pair", "path",
              "baseline", "ratio");
  for (const auto& [name, path] : times_) {
    for (const Pair& pair : pairs_) {
      const std::string marker = "/" + pair.path + "/";
      const size_t at = name.find(marker);
      if (at == std::string::npos) continue;
      std::string baseline_name = name;
      baseline_name.replace(at, marker.size(), "/" + pair.baseline + "/");
      auto baseline = times_.find(baseline_name);
      if (baseline == times_.end() || path.value <= 0) continue;
      std::printf("%-40s %10.1f%-2s %10.1f%-2s %8.2f\n", name.c_str(), path.value, path.unit,
                  baseline->second.value, baseline->second.unit, baseline->second.value / path.value);
      ++found;
    }
  }
  return found;
}

int RunWithRatios(int argc, char** argv, std::vector<RatioReporter::Pair> pairs) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  RatioReporter reporter(std::move(pairs));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return reporter.PrintRatios() > 0 ? 0 : 1;
}

}  // namespace bench
