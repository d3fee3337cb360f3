// VpRunner: runs one VP on the calling thread: its VTL2 vCPU and, on a
// machine with VTL0, its VTL0 vCPU (a second KVM VM over the same RAM;
// vsm/partition.h), whichever VTL is active, and dispatches their exits.
//
// VTL2 exits: port I/O to VTL2's PortBus, MMIO to VTL2's PCI BARs (else
// nothing mapped: reads all-ones), the Hyper-V MSRs to VTL2's hyperv::SyntheticMsrs, and the
// hypercall page's trap (hv/hypercall_page.h) to vsm::HypercallHandler,
// including VtlReturn, which switches this VP to VTL0.
//
// VTL0 exits (TLFS "Intercepts"; hyperv-vmbus.md §3.5): the hypervisor's
// own part stays here (VTL0's Hyper-V MSRs and hypercalls; ports nobody
// intercepted go to the VTL0 host bus: ACPI PM1, the CMOS RTC, the
// benchmark port, and with --disk-vtl0 the PCI configuration ports; MMIO to
// that bus's BARs);
// the rest becomes an intercept message for VTL2: I/O to a port VTL2
// installed an intercept for, every MMIO access (VTL0 has no memory-mapped
// device of the loader's; VTL2's RAM is not mapped in VTL0's VM, so
// touching it is an MMIO exit as well), MSRs KVM does not implement (with
// an MSR intercept installed; otherwise #GP), and PostMessage/SignalEvent
// to VTL2's unknown-connection intercept. The message goes to VTL2's VP
// assist page with entry reason 3 if VTL2 turned the intercept page on
// (VsmPartitionConfig), else to its SIMP slot 0 (kInterceptSint) with
// entry reason 2 (interrupt); the shared registers move over and VTL2
// resumes after its VtlReturn. The instruction is not executed: VTL0 stays
// before it, and VTL2 completes it in the register page (or with
// SetVpRegisters: RIP + length, and results). An IN/OUT or a hypercall
// trap KVM has not finished yet (it finishes one at the next run only if
// RIP did not move) is finished at the VTL return if VTL2 left RIP there.
//
// While VTL0 runs, each kick (VcpuTicker, every kVsmTick) looks for an
// interrupt pending in VTL2's local APIC; one makes the VP switch to VTL2
// at once with entry reason 2 and no message (TLFS "Secure Interrupts":
// a higher VTL's interrupt preempts a lower VTL).
//
// VTL0's triple fault, an instruction fetch from memory it may not use
// (KVM's emulation failure) or a failed entry is VTL2's to handle, as on
// Hyper-V (HandleVtl0Fatal): never a stop of the machine.
//
// What stops the machine (recorded in the VpGroup, first one wins):
// power-off (ACPI PM1 S5 of either VTL), every VP parked (vp_group.h), the
// deadline, a failure of VTL2 (triple fault, KVM internal error, failed
// entry), an exit the loader cannot handle, a failing KVM call.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "base/rate_limited_log.h"
#include "base/result.h"
#include "hv/hvdef.h"
#include "hyperv/synthetic_msrs.h"
#include "kvm/vcpu.h"
#include "devices/machine_events.h"
#include "exit_profile.h"
#include "timer_watch.h"
#include "devices/port_bus.h"
#include "pci/bus.h"
#include "run_deadline.h"
#include "vp_group.h"
#include "vsm/hypercalls.h"
#include "vsm/partition.h"

namespace loader {

// One VP's vCPUs and synthetic MSRs per VTL. VTL0's are null on a machine
// without VTL0.
struct VpVtls {
  kvm::Vcpu* vtl2 = nullptr;
  hyperv::SyntheticMsrs* vtl2_msrs = nullptr;
  kvm::Vcpu* vtl0 = nullptr;
  hyperv::SyntheticMsrs* vtl0_msrs = nullptr;
};

// What VpRunners share.
struct MachineShared {
  devices::PortBus* vtl2_ports = nullptr;
  devices::PortBus* vtl0_ports = nullptr;  // the VTL0 host bus; null without VTL0
  // Each VTL's PCI bus (--disk, --disk-vtl0): MMIO to their BARs; null
  // when the VTL has none.
  pci::Bus* vtl2_pci = nullptr;
  pci::Bus* vtl0_pci = nullptr;
  const devices::MachineEvents* events = nullptr;
  VpGroup* group = nullptr;
  vsm::Partition* partition = nullptr;
  mem::GuestMemory* memory = nullptr;
  // --trace-vtl: one stderr line per VTL switch (diagnostics; slow).
  bool trace_vtl_switches = false;
  // --exit-profile: time and exits per VTL and kind (exit_profile.h), in
  // windows: each write to the benchmark port starts the next one.
  bool profile_exits = false;
  const std::atomic<uint64_t>* profile_marks = nullptr;
  // With profile_exits: a RIP sample this often (0: none).
  std::chrono::microseconds sample_period{0};
  // The guests' TSC frequency: when VTL2's timer falls due.
  uint64_t tsc_hz = 0;
};

class VpRunner {
 public:
  static constexpr std::chrono::milliseconds kVsmTick{4};

  VpRunner(VpVtls vtls, const MachineShared& shared);

  // Runs until the group records a stop (recording this VP's own stop or
  // error there first). Returns the number of exits this VP took. On the
  // thread that runs the vCPUs; starts and ends its VcpuTicker.
  uint64_t Run(const RunDeadline& deadline);
  // The VTL2 vCPU (VP state reports).
  const kvm::Vcpu& vcpu() const { return *vtls_.vtl2; }
  const kvm::Vcpu* vtl0_vcpu() const { return vtls_.vtl0; }
  uint8_t active_vtl() const { return active_vtl_; }
  uint64_t tsc_hz() const { return shared_.tsc_hz; }
  // VTL switches and VTL0 intercepts sent to VTL2, for reports.
  uint64_t vtl_switches() const { return vtl_switches_; }
  // One per window; empty unless MachineShared::profile_exits.
  static constexpr size_t kMaxProfileWindows = 64;  // later marks add to the last
  const std::vector<ExitProfile>& exit_profiles() const { return profiles_; }

 private:
  kvm::Vcpu& active() { return active_vtl_ == 0 ? *vtls_.vtl0 : *vtls_.vtl2; }
  hyperv::SyntheticMsrs& active_msrs() {
    return active_vtl_ == 0 ? *vtls_.vtl0_msrs : *vtls_.vtl2_msrs;
  }
  base::Result<void> RunLoop(const RunDeadline& deadline);
  // The profile's key for an exit just handled.
  std::pair<ExitProfile::Kind, uint64_t> ProfileKey(const kvm::VcpuExit& exit) const;
  // Handles one exit (HandleExit), then TakeVtl2Interrupt; a stop of this
  // VP's making goes to the group.
  base::Result<void> Handle(const kvm::VcpuExit& exit);
  base::Result<void> HandleExit(const kvm::VcpuExit& exit);
  // In VTL0 with an interrupt raised for VTL2 meanwhile
  // (VpGroup::RaisedVtl2Interrupt): switches to VTL2.
  base::Result<void> TakeVtl2Interrupt();
  base::Result<void> HandleKick();
  // About once a second, from a kick: each VTL's timer against the TSC
  // (TimerWatch), anything odd logged.
  void WatchTimers();
  base::Result<void> HandleIoExit(const kvm::IoExit& io);
  base::Result<void> HandleMmioExit(const kvm::MmioExit& mmio);
  // An exit that ends the active VTL's run: VTL0's go to VTL2
  // (HandleVtl0Fatal); VTL2's stop the machine with `reason`.
  base::Result<void> Fatal(const kvm::VcpuExit& exit, StopReason reason);
  // Notes this VP as running, then passes `handled` on.
  base::Result<void> Running(base::Result<void> handled);
  base::Result<void> HandleVtl0Io(const kvm::IoExit& io);
  base::Result<void> HandleVtl0Mmio(const kvm::MmioExit& mmio);
  // An access to a BAR on `bus`, completed; false if no BAR decodes it.
  bool HandlePciMmio(pci::Bus& bus, const kvm::MmioExit& mmio);
  base::Result<void> HandleMsr(const kvm::VcpuExit& exit);
  // After a port write: a device asked for power-off or a reset.
  void StopForMachineEvents();
  // VTL2 set its VP assist page (`assist_msr`): KVM gets it too, for lazy
  // EOI (hyperv/cpuid_leaves.h).
  void BindLazyEoi(kvm::Vcpu& vcpu, uint64_t assist_msr);
  // VTL0 exits that would stop a machine without VTLs (an instruction
  // fetch from a page VTL0 cannot use, a triple fault, a failed entry):
  // reported to VTL2 as intercepts, as Hyper-V does, never a stop of the
  // machine. VTL2 decides (hcl injects #GP, or powers off).
  base::Result<void> HandleVtl0Fatal(const kvm::VcpuExit& exit);
  // Applies a StartVirtualProcessor aimed at this VP.
  base::Result<void> Start(const vsm::Partition::StartRequest& request);
  // Parked (vp_group.h): HLT with IF clear, or waiting for INIT/SIPI.
  base::Result<bool> IsParked();
  void Stop(StopReason reason, std::string detail);
  void HandleIo(devices::PortBus& bus, const kvm::IoExit& io);
  // The hypercall page's `out` to hyperv::kHypercallPort in the active VTL.
  base::Result<void> HandleHypercall();
  // Lets KVM finish `vcpu`'s last I/O exit now (an immediate-exit
  // KVM_RUN): for an exit whose RIP stays at the instruction.
  base::Result<void> FinishExitNow(kvm::Vcpu& vcpu);

  // The exit just returned by KVM_RUN is abandoned: KVM completes it
  // (immediate_exit), then the registers from before it are put back, so
  // the instruction has not happened. Returns those registers and the
  // instruction's length (0 if KVM did not move RIP, e.g. a string
  // instruction with iterations left).
  struct Rewound {
    kvm_regs regs;
    uint8_t instruction_length;
  };
  base::Result<Rewound> RewindExit();
  // VTL0's instruction bytes at RIP, as many of the 15 an instruction may
  // have as lie in RIP's page, and the byte before RIP if it lies there
  // too; nullopt if RIP's page is not RAM VTL0 may read.
  struct Vtl0Code {
    std::array<std::byte, 15> data{};
    size_t size = 0;
    std::optional<std::byte> before;
    std::span<const std::byte> bytes() const { return std::span(data).first(size); }
  };
  base::Result<std::optional<Vtl0Code>> ReadVtl0Code(const kvm_regs& regs, const kvm_sregs& sregs);
  // Lets KVM finish a VTL0 I/O exit left for later (HandleVtl0Io, a
  // hypercall forwarded to VTL2) at
  // `linear_rip` when VTL2 returns with RIP (`rip_now`) still there:
  // otherwise KVM would skip the instruction at VTL0's next run.
  base::Result<void> FinishDeferredIo(uint64_t linear_rip, uint64_t rip_now);
  // The intercept message header for VTL0's state (TLFS
  // HV_X64_INTERCEPT_MESSAGE_HEADER).
  base::Result<hv::InterceptHeader> InterceptHeader(const kvm_regs& regs, uint8_t length,
                                                      uint8_t access);
  hv::InterceptHeader InterceptHeader(const kvm_regs& regs, const kvm_sregs& sregs,
                                        uint8_t length, uint8_t access);
  // VTL switches (TLFS "VTL Entry and Exit"; hyperv-vmbus.md §3.3-3.4).
  base::Result<void> EnterVtl2(hv::VtlEntryReason reason,
                               std::optional<std::span<const std::byte>> message);
  base::Result<void> ReturnToVtl0(uint64_t control);
  // While VTL0 runs, VTL2's local APIC timer (TSC-deadline mode) gets no
  // CPU of its own: KVM holds an expired timer of a vCPU outside KVM_RUN
  // as pending (kvm/lapic.h), and only a kick finds it. On each tick the
  // loop reads VTL2's deadline (`tsc`); one due before the next tick gets
  // a kick of its own at that time, so the interrupt preempts VTL0 on time
  // (TLFS "Secure Interrupts") instead of up to kVsmTick late. Not read at
  // each VtlReturn: a KVM_GET_MSRS there cost every intercept about 15 us
  // in the carrier (vtl0-intercept 3.97x -> 4.43x); a deadline VTL2 sets
  // and that falls due before the next tick can still be that late.
  base::Result<void> KickAtVtl2Timer(const kvm::Vcpu::TscState& tsc);
  // An interrupt VTL2's local APIC would deliver now (IRR above the
  // processor priority; SDM vol. 3A §11.8.3.1).
  base::Result<bool> Vtl2InterruptPending();
  // Raises the vectors an EOM made due in VTL `vtl`'s local APIC.
  void RaiseDue(uint8_t vtl, const std::vector<uint8_t>& vectors);

  // Logs a guest-triggerable event, at most kMaxLogLines times per run.
  [[gnu::format(printf, 2, 3)]] void Log(const char* fmt, ...);
  static constexpr unsigned kMaxLogLines = 32;

  VpVtls vtls_;
  MachineShared shared_;
  const VcpuTicker* ticker_ = nullptr;  // RunLoop's, while it runs
  bool trace_;
  vsm::HypercallHandler hypercalls_;
  uint8_t active_vtl_ = 2;
  // The linear RIP of a VTL0 IN/OUT (vsm::DeferrableIoLength) or
  // hypercall trap forwarded to VTL2 whose exit KVM has not finished,
  // until VTL2 returns to VTL0.
  std::optional<uint64_t> deferred_io_linear_rip_;
  // VTL0 hit an unrecoverable exception (HandleVtl0Fatal): VTL2 may not
  // return to it (no reset of VTL0's state yet).
  bool vtl0_failed_ = false;
  bool lazy_eoi_refused_ = false;  // logged once
  base::RateLimitedLog log_{kMaxLogLines};
  uint64_t exits_ = 0;
  uint64_t vtl_switches_ = 0;
  std::vector<ExitProfile> profiles_;
  // What the exit being handled is about, for the profile: the hypercall
  // code once HandleHypercall has read it.
  uint64_t profile_detail_ = 0;
  TimerWatch timer_watch_;
  std::chrono::steady_clock::time_point next_timer_watch_{};
};

// General, control and segment registers, a few lines, for failure reports.
std::string DumpVcpu(const kvm::Vcpu& vcpu);

}  // namespace loader
