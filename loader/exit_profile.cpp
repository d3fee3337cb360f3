#include "exit_profile.h"

#include <algorithm>
#include <vector>

#include "base/string_printf.h"

namespace loader {
namespace {

const char* KindName(ExitProfile::Kind kind) {
  switch (kind) {
    case ExitProfile::Kind::kKick: return "kick";
    case ExitProfile::Kind::kIo: return "port";
    case ExitProfile::Kind::kMmio: return "mmio";
    case ExitProfile::Kind::kMsr: return "msr";
    case ExitProfile::Kind::kHypercall: return "hypercall";
    case ExitProfile::Kind::kOther: return "other";
  }
  return "?";
}

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

void ExitProfile::Record(uint8_t vtl, Kind kind, uint64_t detail, uint64_t run_ns,
                         uint64_t handle_ns) {
  run_ns_[vtl == 0 ? 0 : 1] += run_ns;
  Tally& tally = tallies_[Key{vtl, kind, detail}];
  ++tally.count;
  tally.handle_ns += handle_ns;
}

void ExitProfile::Sample(uint8_t vtl, bool in_loader, uint64_t rip) {
  ++samples_[{vtl, in_loader, in_loader ? 0 : rip}];
}

void ExitProfile::Merge(const ExitProfile& other) {
  run_ns_[0] += other.run_ns_[0];
  run_ns_[1] += other.run_ns_[1];
  for (const auto& [key, tally] : other.tallies_) {
    Tally& mine = tallies_[key];
    mine.count += tally.count;
    mine.handle_ns += tally.handle_ns;
  }
  for (const auto& [key, count] : other.samples_) samples_[key] += count;
}

std::string ExitProfile::FormatSamples(size_t window) const {
  std::string out;
  for (const auto& [key, count] : samples_) {
    const auto& [vtl, in_loader, rip] = key;
    out += base::StringPrintf("hcl-loader: sample %zu %u %s %016llx %llu\n", window, vtl, in_loader ? "loader" : "guest",
                              static_cast<unsigned long long>(rip),
                              static_cast<unsigned long long>(count));
  }
  return out;
}

std::string ExitProfile::Format(size_t top) const {
  std::string out;
  for (const uint8_t vtl : {uint8_t{2}, uint8_t{0}}) {
    std::vector<std::pair<Key, Tally>> rows;
    Tally total;
    for (const auto& [key, tally] : tallies_) {
      if (std::get<0>(key) != vtl) continue;
      rows.emplace_back(key, tally);
      total.count += tally.count;
      total.handle_ns += tally.handle_ns;
    }
    if (rows.empty()) continue;
    out += base::StringPrintf(
        "hcl-loader: exit profile: VTL%u: %.1f ms in KVM_RUN, %llu exits, %.1f ms handling them\n",
        vtl, Ms(run_ns(vtl)), static_cast<unsigned long long>(total.count), Ms(total.handle_ns));
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return a.second.handle_ns != b.second.handle_ns ? a.second.handle_ns > b.second.handle_ns
                                                      : a.first < b.first;
    });
    if (rows.size() > top) rows.resize(top);
    for (const auto& [key, tally] : rows)
      out += base::StringPrintf(
          "hcl-loader: exit profile: VTL%u   %-9s %#10llx %9llu exits %9.1f ms %7.1f us each\n",
          vtl, KindName(std::get<1>(key)), static_cast<unsigned long long>(std::get<2>(key)),
          static_cast<unsigned long long>(tally.count), Ms(tally.handle_ns),
          static_cast<double>(tally.handle_ns) / 1e3 / static_cast<double>(tally.count));
  }
  return out;
}

}  // namespace loader
