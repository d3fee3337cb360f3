#include "stop_report.h"

#include <cstdio>

#include "kvm/lapic.h"

namespace loader {
namespace {

// A hung VP's LAPIC and timer, per VTL: a timer interrupt that never came
// shows as a TSC deadline long past (README, "Timer stalls").
void LapicLine(const kvm::Vcpu& vcpu, unsigned vtl, uint64_t tsc_hz) {
  auto lapic = vcpu.GetLapic();
  auto tsc = vcpu.GetTscState();
  if (!lapic || !tsc) return;
  std::fprintf(stderr, "hcl-loader: vp%u: VTL%u LAPIC: %s\n", vcpu.id(), vtl,
               kvm::DescribeLapic(*lapic, tsc->deadline, tsc->tsc, tsc_hz).c_str());
}

}  // namespace

int ReportStop(const MachineStop& stop, std::span<const VpReport> vps,
               std::span<const kvm::Vcpu> vcpus, uint64_t exits, int64_t elapsed_ms,
               const Options& options) {
  const kvm::Vcpu& stopper = vcpus[stop.vp < vcpus.size() ? stop.vp : 0];
  switch (stop.reason) {
    case StopReason::kPoweredOff:
      // The format tests/bench/boot/boot-report parses; exits of all VPs.
      std::printf("hcl-loader: guest powered off (%llu exits, %lld ms)\n",
                  static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      std::fflush(stdout);
      return kExitGuestStopped;
    case StopReason::kReset:
      std::printf("hcl-loader: guest reset (%llu exits, %lld ms): starting the machine again\n",
                  static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      std::fflush(stdout);
      return kRestartMachine;
    case StopReason::kVtl2Reset:
      std::fprintf(stderr,
                   "hcl-loader: VTL2 reset the machine (its reboot, or a panic: see its console "
                   "above); stopping\n");
      return kExitGuestFailed;
    case StopReason::kHalted:
      if (options.vp_count == 1)
        std::printf("hcl-loader: vp0 halted (%llu exits, %lld ms)\n",
                    static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      else
        std::printf("hcl-loader: all %u VPs halted (%llu exits, %lld ms)\n", options.vp_count,
                    static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      std::fflush(stdout);
      return kExitGuestStopped;
    case StopReason::kTimedOut:
      std::fprintf(stderr, "hcl-loader: timed out after %u s\n", options.timeout_s.value_or(0));
      // Where each VP was, for a boot that hung.
      for (const VpReport& thread : vps) {
        const kvm::Vcpu& vcpu = thread.runner->vcpu();
        auto mp_state = vcpu.GetMpState();
        auto regs = vcpu.GetRegs();
        LapicLine(vcpu, 2, thread.runner->tsc_hz());
        if (const kvm::Vcpu* vtl0 = thread.runner->vtl0_vcpu())
          LapicLine(*vtl0, 0, thread.runner->tsc_hz());
        std::fprintf(stderr,
                     "hcl-loader: vp%u: %llu exits, %llu VTL switches, in VTL%u; VTL2: mp_state %d, "
                     "rip 0x%llx, rflags 0x%llx\n",
                     vcpu.id(), static_cast<unsigned long long>(thread.exits),
                     static_cast<unsigned long long>(thread.runner->vtl_switches()),
                     thread.runner->active_vtl(), mp_state ? static_cast<int>(*mp_state) : -1,
                     regs ? static_cast<unsigned long long>(regs->rip) : 0ULL,
                     regs ? static_cast<unsigned long long>(regs->rflags) : 0ULL);
        if (const kvm::Vcpu* vtl0 = thread.runner->vtl0_vcpu()) {
          auto vtl0_mp = vtl0->GetMpState();
          auto vtl0_regs = vtl0->GetRegs();
          std::fprintf(stderr, "hcl-loader: vp%u: VTL0: mp_state %d, rip 0x%llx, rflags 0x%llx\n",
                       vcpu.id(), vtl0_mp ? static_cast<int>(*vtl0_mp) : -1,
                       vtl0_regs ? static_cast<unsigned long long>(vtl0_regs->rip) : 0ULL,
                       vtl0_regs ? static_cast<unsigned long long>(vtl0_regs->rflags) : 0ULL);
        }
      }
      return kExitTimeout;
    case StopReason::kHaltedInterruptible:
      std::fprintf(
          stderr, "hcl-loader: vp%u halted with interrupts enabled and no interrupt source yet\n%s",
          stop.vp, DumpVcpu(stopper).c_str());
      return kExitGuestFailed;
    case StopReason::kVcpuError:
      std::fprintf(stderr, "hcl-loader: vp%u: %s\n%s", stop.vp, stop.detail.c_str(),
                   DumpVcpu(stopper).c_str());
      return kExitGuestFailed;
    case StopReason::kTripleFault:
    case StopReason::kInternalError:
    case StopReason::kFailEntry:
    case StopReason::kUnhandledExit: {
      // The VTL that was running when the VP stopped.
      const VpRunner& runner = *vps[stop.vp < vps.size() ? stop.vp : 0].runner;
      const kvm::Vcpu& failed = runner.active_vtl() == 0 && runner.vtl0_vcpu() != nullptr
                                    ? *runner.vtl0_vcpu()
                                    : stopper;
      std::fprintf(stderr, "hcl-loader: vp%u stopped: %s%s\n%s", stop.vp, stop.detail.c_str(),
                   runner.vtl0_vcpu() == nullptr ? ""
                   : runner.active_vtl() == 0     ? " (in VTL0)"
                                                  : " (in VTL2)",
                   DumpVcpu(failed).c_str());
      return kExitGuestFailed;
    }
  }
  return kExitGuestFailed;
}

}  // namespace loader
