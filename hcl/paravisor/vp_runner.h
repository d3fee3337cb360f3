// VpRunner: one VP's loop in hcl: return to VTL0 through the driver
// (MSHV_RETURN_TO_LOWER_VTL) and handle the intercept that brings the VP
// back (TLFS "Intercepts"; hyperv-vmbus.md §3.5), on a thread pinned to
// that VP's CPU.
//
//   I/O port (the ports hcl intercepts): the device on Vtl0Devices' bus;
//     IN results into VTL0's RAX (the run page's shared registers); string
//     forms through the instruction emulator.
//   Unmapped GPA: VTL0 touched memory that is not its RAM. VTL2's memory
//     (below the top of VTL0's RAM, outside it and the PC's legacy hole):
//     #GP, nothing read (TLFS: VTL protections; the guest gets a fault).
//     Anything else is MMIO with no device behind it: the instruction is
//     emulated (vmm-core/x86emu) with reads all-ones, writes dropped.
//     An instruction fetch there (intercept access "execute"): #GP.
//   GPA intercept (VTL0 broke a protection VTL2 set): #GP.
//   Unrecoverable exception (VTL0 triple-faulted, or the hypervisor
//     cannot run its instruction): the fatal policy (paravisor.h).
//   MSR (MSRs the hypervisor does not implement): #GP, as hardware does.
//   Hypercall (PostMessage / SignalEvent to a connection nobody owns,
//     through the unknown-connection intercept): the VMBus server; its
//     status into VTL0's RAX.
// Completing an intercept: RIP + instruction length into the register
// page (hv/hvdef.h VpRegisterPage: the hypervisor takes it back at the
// VTL return, no hypercall), or through MSHV_SET_VP_REGISTERS where the
// driver has no page; a fault through PendingEvent0 instead.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/rate_limited_log.h"
#include "base/result.h"
#include "base/string_printf.h"
#include "hv/hvdef.h"
#include "paravisor/vtl_driver.h"
#include "paravisor/vtl0_devices.h"
#include "paravisor/vmbus_server.h"
#include "paravisor/vtl0_memory.h"

namespace hcl {

struct BoundAccess;  // vp_runner.cpp

// Counters for the diagnostics line at exit.
struct VpStats {
  uint64_t io = 0;
  uint64_t mmio = 0;
  uint64_t msr = 0;
  uint64_t hypercall = 0;
  uint64_t faults = 0;
};

class VpRunner {
 public:
  VpRunner(VtlDriver& mshv, Vtl0Memory& memory, Vtl0Devices& devices, VmbusServer& vmbus,
           uint32_t cpu, std::function<void(const char*)> on_vtl0_fatal, bool trace = false)
      : mshv_(mshv), memory_(memory), devices_(devices), vmbus_(vmbus), cpu_(cpu),
        on_vtl0_fatal_(std::move(on_vtl0_fatal)), trace_(trace),
        log_prefix_(base::StringPrintf("hcl: vp%u: ", cpu)) {}

  // Pins the calling thread to the VP's CPU, then runs VTL0 until an
  // error (the machine's power-off ends everything from the outside).
  // `before_vtl0`, if set, runs on this VP's CPU once VTL0's registers are
  // loaded and before VTL0's first instruction, with VTL0's RSI (the boot
  // protocol's zero page): VP 0's measured boot.
  base::Result<void> Run(const std::function<base::Result<void>(uint64_t rsi)>& before_vtl0 = {});
  const VpStats& stats() const { return stats_; }

  // The steps of Run, for tests and fuzzers driving a fake driver:
  // Prepare maps the run page and loads VTL0's shared registers into it;
  // HandleExit serves the exit message the run page holds (guest-made:
  // copied out first, then validated).
  base::Result<void> Prepare();
  base::Result<void> HandleExit();

 private:
  base::Result<void> HandleIoPort(const ::hv::IoPortIntercept& message);
  base::Result<void> HandleMemory(const ::hv::MemoryIntercept& message);
  base::Result<void> HandleHypercall(const ::hv::HypercallIntercept& message);
  // The instruction at VTL0's RIP through x86emu, held to the access the
  // intercept reported (`bound`); anything else is retried.
  base::Result<void> Emulate(const ::hv::InterceptHeader& header, BoundAccess bound);
  base::Result<void> AdvanceRip(const ::hv::InterceptHeader& header);
  base::Result<void> InjectException(uint8_t vector, std::optional<uint32_t> error_code,
                                     uint64_t cr2);
  // VTL2's own memory as VTL0 would address it: below VTL0's top, not
  // VTL0 RAM and not the PC legacy hole (base/pc_layout.h).
  bool IsVtl2Memory(uint64_t gpa) const;
  __u64& Gpr(size_t index) { return run_->cpu_context.gp_regs[index]; }
  // The register page if it holds VTL0's registers of this entry.
  ::hv::VpRegisterPage* ValidRegisterPage() const;

  VtlDriver& mshv_;
  Vtl0Memory& memory_;
  Vtl0Devices& devices_;
  VmbusServer& vmbus_;
  uint32_t cpu_;
  std::function<void(const char*)> on_vtl0_fatal_;
  bool trace_;
  mshv_vtl_run* run_ = nullptr;
  ::hv::VpRegisterPage* register_page_ = nullptr;  // null: none
  VpStats stats_;
  // What VTL0 makes this VP log (#GP, retries): 16 lines, then a notice.
  static constexpr unsigned kMaxLogLines = 16;
  std::string log_prefix_;
  base::RateLimitedLog log_{kMaxLogLines};
};

}  // namespace hcl
