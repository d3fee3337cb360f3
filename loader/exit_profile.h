// ExitProfile: where one VP's time goes (hcl-loader --exit-profile), by
// VTL and by kind of exit: how long the vCPU spent inside KVM_RUN (guest
// code and the exits KVM handles itself) and how many exits of each kind
// reached the loader, with the loader's time handling them. Exits are
// keyed by what tells them apart: the port, the MMIO page, the MSR, the
// hypercall code (TLFS "Hypercall Interface"). The figures that say what a
// VTL switch or an intercept costs; see README "Measuring: benchmarks and
// the exit profile".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace loader {

class ExitProfile {
 public:
  enum class Kind : uint8_t { kKick, kIo, kMmio, kMsr, kHypercall, kOther };

  // One KVM_RUN of VTL `vtl` that lasted `run_ns` and returned an exit of
  // `kind` (`detail`: port, MMIO page address, MSR index or hypercall code)
  // that the loader then handled in `handle_ns`.
  void Record(uint8_t vtl, Kind kind, uint64_t detail, uint64_t run_ns, uint64_t handle_ns);
  // One statistical sample (hcl-loader --rip-samples): VTL `vtl` was at
  // `rip`, or, with `in_loader`, the loader was handling its exit.
  void Sample(uint8_t vtl, bool in_loader, uint64_t rip);
  // Adds another VP's profile to this one.
  void Merge(const ExitProfile& other);
  // A few lines per VTL: time in KVM_RUN, exits, and the `top` busiest
  // keys by handling time.
  std::string Format(size_t top) const;

  struct Tally {
    uint64_t count = 0;
    uint64_t handle_ns = 0;
  };
  using Key = std::tuple<uint8_t, Kind, uint64_t>;
  const std::map<Key, Tally>& tallies() const { return tallies_; }
  uint64_t run_ns(uint8_t vtl) const { return vtl == 0 ? run_ns_[0] : run_ns_[1]; }
  // (vtl, in_loader, rip) -> samples.
  using SampleKey = std::tuple<uint8_t, bool, uint64_t>;
  const std::map<SampleKey, uint64_t>& samples() const { return samples_; }
  // The samples as text lines "hcl-loader: sample WINDOW VTL
  // guest|loader RIP COUNT".
  std::string FormatSamples(size_t window) const;

 private:
  std::map<Key, Tally> tallies_;
  std::map<SampleKey, uint64_t> samples_;
  uint64_t run_ns_[2] = {0, 0};  // VTL0, VTL2
};

}  // namespace loader
