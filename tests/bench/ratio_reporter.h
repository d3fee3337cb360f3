// RatioReporter: Google Benchmark's console output plus a table of ratios
// between paired benchmarks measured in the same run.
//
// Benchmarks are paired by name: "<prefix>/<Path>/<args>" against
// "<prefix>/<Baseline>/<args>". The ratio printed is baseline time / path
// time, so 1.00 means "as fast as the baseline" and 0.50 "half as fast".
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  struct Pair {
    std::string path;      // e.g. "checked"
    std::string baseline;  // e.g. "raw"
  };

  explicit RatioReporter(std::vector<Pair> pairs) : pairs_(std::move(pairs)) {}

  void ReportRuns(const std::vector<Run>& runs) override;
  // Prints the ratio table; returns the number of pairs found.
  int PrintRatios() const;

 private:
  struct Time {
    double value;
    const char* unit;
  };
  std::vector<Pair> pairs_;
  std::map<std::string, Time> times_;  // CPU time: steadier than wall time on a shared machine
};

// Runs the registered benchmarks and prints the ratio table.
int RunWithRatios(int argc, char** argv, std::vector<RatioReporter::Pair> pairs);

}  // namespace bench
