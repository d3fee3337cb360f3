// How hcl-loader ends: the line (or register dump) for the machine's stop
// and the exit status (cli_options.h documents them).
#pragma once

#include <cstdint>
#include <span>

#include "cli_options.h"
#include "kvm/vcpu.h"
#include "vp_group.h"
#include "vp_runner.h"

namespace loader {

inline constexpr int kExitGuestStopped = 0;  // powered off, or every VP halted
inline constexpr int kExitLoadFailed = 1;    // image refused or not loadable, KVM failed
inline constexpr int kExitUsage = 2;         // bad arguments
inline constexpr int kExitGuestFailed = 2;   // VTL2 failed (register dump)
inline constexpr int kExitTimeout = 124;
// Not an exit status: the guest reset the platform, and hcl-loader starts
// the whole machine again (main re-executes itself with its arguments).
inline constexpr int kRestartMachine = -1;

// One VP as its thread left it.
struct VpReport {
  const VpRunner* runner = nullptr;
  uint64_t exits = 0;
};

// Prints why the machine stopped (stdout for a clean stop, stderr with a
// register dump otherwise) and returns the exit status.
int ReportStop(const MachineStop& stop, std::span<const VpReport> vps,
               std::span<const kvm::Vcpu> vcpus, uint64_t exits, int64_t elapsed_ms,
               const Options& options);

}  // namespace loader
