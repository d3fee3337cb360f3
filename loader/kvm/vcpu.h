// Vcpu: one KVM virtual CPU: its kvm_run mapping, register access,
// CPUID, MSRs, and KVM_RUN decoded into a VcpuExit (api.rst §4, "vcpu
// ioctls"; §5, kvm_run).
//
// A Vcpu is used by one thread. The only call allowed from elsewhere (a
// signal handler, another thread) is RequestImmediateExit.
//
// Registers without ioctls (api.rst, KVM_CAP_SYNC_REGS and kvm_run's
// kvm_valid_regs): when KVM offers it, every KVM_RUN leaves the general
// and special registers in kvm_run->s.regs on its way out and loads those
// marked in kvm_dirty_regs on its way in. Between two runs GetRegs and
// GetSregs read that copy and SetRegs and SetSregs write it, so handling
// an exit (a VTL switch reads and writes both VTLs' registers) costs no
// ioctl for them. Every other vCPU ioctl first hands pending writes to KVM
// (KVM_SET_REGS/SREGS), so it sees them, and one that changes state (MSRs,
// MP state, events, CPUID) drops the copy until the next run.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "exit.h"
#include "os/mapping.h"
#include "os/unique_fd.h"
#include "vcpu_state.h"
#include "vm.h"

namespace kvm {

struct MsrValue {
  uint32_t index;
  uint64_t value;
};

class Vcpu final : public VcpuState {
 public:
  // KVM_CREATE_VCPU with `id` (the APIC ID on x86), then mmap of kvm_run.
  static base::Result<Vcpu> Create(const Vm& vm, uint32_t id);

  uint32_t id() const { return id_; }

  base::Result<kvm_regs> GetRegs() const override;
  base::Result<void> SetRegs(const kvm_regs& regs) override;
  base::Result<kvm_sregs> GetSregs() const override;
  base::Result<void> SetSregs(const kvm_sregs& sregs) override;
  // KVM_GET_MP_STATE (api.rst 4.38): KVM_MP_STATE_RUNNABLE, _HALTED, ...
  // With the in-kernel irqchip a HLT does not exit; this is how the run
  // loop sees that the VP sits in one.
  base::Result<uint32_t> GetMpState() const;
  // KVM_SET_MP_STATE (api.rst 4.39): e.g. RUNNABLE to start a VP that a
  // hypercall gave a context (StartVirtualProcessor).
  base::Result<void> SetMpState(uint32_t state);
  // KVM_GET_LAPIC (api.rst 4.57): the in-kernel local APIC's register
  // page (xAPIC layout, SDM vol. 3A Table 11-1).
  base::Result<kvm_lapic_state> GetLapic() const;
  // KVM_GET/SET_VCPU_EVENTS (api.rst 4.31/4.32): pending exception,
  // interrupt, NMI and interrupt shadow.
  // KVM_TRANSLATE (api.rst 4.15): the guest-physical address of linear
  // address `linear` through the vCPU's current page tables; nullopt when
  // the walk finds no valid mapping.
  base::Result<std::optional<uint64_t>> Translate(uint64_t linear) const;
  base::Result<kvm_vcpu_events> GetEvents() const override;
  base::Result<void> SetEvents(const kvm_vcpu_events& events) override;
  // KVM_GET_TSC_KHZ (api.rst 4.111): the guest TSC frequency in kHz.
  base::Result<uint32_t> GetTscKhz() const;
  // KVM_SET_CPUID2. On x86 it must precede KVM_SET_SREGS that enables long
  // mode: KVM checks EFER.LME against CPUID (api.rst 4.46 recommends
  // setting CPUID before anything else).
  base::Result<void> SetCpuid(std::span<const kvm_cpuid_entry2> entries);
  // KVM_SET_XCRS (api.rst 4.61): XCR0, the enabled XSAVE components.
  base::Result<void> SetXcr0(uint64_t xcr0);
  // KVM_SET_MSRS / KVM_GET_MSRS; an MSR KVM refuses is an error naming it.
  base::Result<void> SetMsrs(std::span<const MsrValue> msrs);
  base::Result<std::vector<MsrValue>> GetMsrs(std::span<const uint32_t> indexes) const;
  // The guest's TSC (IA32_TIME_STAMP_COUNTER) and its local APIC timer's
  // IA32_TSC_DEADLINE (0: disarmed; SDM vol. 3A §11.5.4.1), one
  // KVM_GET_MSRS.
  struct TscState {
    uint64_t tsc = 0;
    uint64_t deadline = 0;
  };
  base::Result<TscState> GetTscState() const;

  // One KVM_RUN. A signal (EINTR), immediate_exit, or an AP's wake-up
  // from wait-for-SIPI (EAGAIN) gives InterruptedExit.
  base::Result<VcpuExit> Run();

  // Answers the RdMsr/WrMsr exit just returned: `value` for a read;
  // Fail raises #GP in the guest (api.rst KVM_EXIT_X86_RDMSR: "error").
  void CompleteMsr(uint64_t value);
  void FailMsr();
  // Supplies the bytes of the MmioExit read just returned.
  void CompleteMmioRead(std::span<const std::byte> data);

  // Async-signal-safe: makes the current or next KVM_RUN return at once
  // (api.rst, immediate_exit). ClearImmediateExit before running again.
  void RequestImmediateExit() noexcept { run_->immediate_exit = 1; }
  void ClearImmediateExit() noexcept { run_->immediate_exit = 0; }

 private:
  Vcpu(os::UniqueFd fd, os::Mapping run_area, uint32_t id, bool sync_regs);

  // KVM_CAP_SYNC_REGS: the fields of kvm_run->s.regs kept in step.
  static constexpr uint64_t kSyncedState = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  // Gives KVM the registers written into the synced copy since the last
  // run (before an ioctl that must see them).
  base::Result<void> Settle() const;
  // Settle, then forget the copy: an ioctl is about to change state the
  // copy holds (EFER through KVM_SET_MSRS, RIP through INIT).
  base::Result<void> SettleAndForget() const;

  os::UniqueFd fd_;
  os::Mapping run_area_;
  kvm_run* run_;  // the start of run_area_
  uint32_t id_;
  bool sync_regs_;
  // run_->s.regs holds the vCPU's registers: a KVM_RUN has returned and
  // no state-changing ioctl came since.
  mutable bool synced_ = false;
};

}  // namespace kvm
