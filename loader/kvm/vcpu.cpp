#include "vcpu.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "os/ioctl.h"
#include "kvm_abi.h"

namespace kvm {

Vcpu::Vcpu(os::UniqueFd fd, os::Mapping run_area, uint32_t id, bool sync_regs)
    : fd_(std::move(fd)),
      run_area_(std::move(run_area)),
      // The mapping starts with struct kvm_run (api.rst 4.7 KVM_CREATE_VCPU).
      run_(reinterpret_cast<kvm_run*>(run_area_.bytes().data())),
      id_(id),
      sync_regs_(sync_regs) {
  if (sync_regs_) run_->kvm_valid_regs = kSyncedState;
}

base::Result<Vcpu> Vcpu::Create(const Vm& vm, uint32_t id) {
  const int fd = TRY(os::Ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id),
                           "KVM_CREATE_VCPU"));
  os::UniqueFd vcpu_fd(fd);
  // The vCPU's TSC rate, set again to the host's (KVM_SET_TSC_KHZ with 0:
  // the host's tsc_khz now). KVM creates a vCPU at the rate it read when
  // it was loaded; when the host's calibration moved since by more than
  // 250 ppm (a carrier VM refines its TSC rate after kvm-amd is loaded)
  // and the host cannot scale TSCs, arch/x86/kvm/x86.c set_tsc_khz fails
  // and leaves the vCPU's TSC multiplier at 0: KVM's own reading of the
  // guest's TSC then stands still while the guest's runs, and every
  // TSC-deadline timer fires later by the guest's age (the carrier's
  // "timer stalls", README). Refused by a kernel without the 0 shorthand:
  // nothing to repair there.
  (void)os::Ioctl(vcpu_fd, KVM_SET_TSC_KHZ, 0UL, "KVM_SET_TSC_KHZ");
  auto run_area = TRY(os::Mapping::Create(vm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED,
                                      vcpu_fd.get(), "kvm_run"));
  // api.rst, KVM_CAP_SYNC_REGS: the fields KVM can keep in step; a
  // kernel without it (or without these) gets ioctls.
  const auto fields = os::Ioctl(vm.fd(), KVM_CHECK_EXTENSION, long{KVM_CAP_SYNC_REGS},
                                "KVM_CHECK_EXTENSION");
  const bool sync_regs =
      fields && (static_cast<uint64_t>(*fields) & kSyncedState) == kSyncedState;
  return Vcpu(std::move(vcpu_fd), std::move(run_area), id, sync_regs);
}

base::Result<void> Vcpu::Settle() const {
  if (!sync_regs_) return base::Ok();
  if ((run_->kvm_dirty_regs & KVM_SYNC_X86_REGS) != 0) {
    TRY(os::Ioctl(fd_, KVM_SET_REGS, &run_->s.regs.regs, "KVM_SET_REGS"));
    run_->kvm_dirty_regs &= ~uint64_t{KVM_SYNC_X86_REGS};
  }
  if ((run_->kvm_dirty_regs & KVM_SYNC_X86_SREGS) != 0) {
    TRY(os::Ioctl(fd_, KVM_SET_SREGS, &run_->s.regs.sregs, "KVM_SET_SREGS"));
    run_->kvm_dirty_regs &= ~uint64_t{KVM_SYNC_X86_SREGS};
  }
  return base::Ok();
}

base::Result<void> Vcpu::SettleAndForget() const {
  TRY(Settle());
  synced_ = false;
  return base::Ok();
}

base::Result<kvm_regs> Vcpu::GetRegs() const {
  if (synced_) return run_->s.regs.regs;
  kvm_regs regs{};
  TRY(os::Ioctl(fd_, KVM_GET_REGS, &regs, "KVM_GET_REGS"));
  return regs;
}

base::Result<void> Vcpu::SetRegs(const kvm_regs& regs) {
  if (synced_) {
    run_->s.regs.regs = regs;
    run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    return base::Ok();
  }
  TRY(os::Ioctl(fd_, KVM_SET_REGS, &regs, "KVM_SET_REGS"));
  return base::Ok();
}

base::Result<kvm_sregs> Vcpu::GetSregs() const {
  if (synced_) return run_->s.regs.sregs;
  kvm_sregs sregs{};
  TRY(os::Ioctl(fd_, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"));
  return sregs;
}

base::Result<void> Vcpu::SetSregs(const kvm_sregs& sregs) {
  if (synced_) {
    run_->s.regs.sregs = sregs;
    run_->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
    return base::Ok();
  }
  TRY(os::Ioctl(fd_, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS"));
  return base::Ok();
}

base::Result<uint32_t> Vcpu::GetMpState() const {
  TRY(Settle());
  kvm_mp_state state{};
  TRY(os::Ioctl(fd_, KVM_GET_MP_STATE, &state, "KVM_GET_MP_STATE"));
  return state.mp_state;
}

base::Result<void> Vcpu::SetMpState(uint32_t state) {
  TRY(SettleAndForget());
  kvm_mp_state mp{};
  mp.mp_state = state;
  TRY(os::Ioctl(fd_, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE"));
  return base::Ok();
}

base::Result<kvm_lapic_state> Vcpu::GetLapic() const {
  TRY(Settle());
  kvm_lapic_state lapic{};
  TRY(os::Ioctl(fd_, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC"));
  return lapic;
}

base::Result<std::optional<uint64_t>> Vcpu::Translate(uint64_t linear) const {
  TRY(Settle());  // the page tables of the CR3 last written
  kvm_translation translation{};
  translation.linear_address = linear;
  TRY(os::Ioctl(fd_, KVM_TRANSLATE, &translation, "KVM_TRANSLATE"));
  if (translation.valid == 0) return std::optional<uint64_t>();
  return std::optional<uint64_t>(translation.physical_address);
}

base::Result<kvm_vcpu_events> Vcpu::GetEvents() const {
  TRY(Settle());
  kvm_vcpu_events events{};
  TRY(os::Ioctl(fd_, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS"));
  return events;
}

base::Result<void> Vcpu::SetEvents(const kvm_vcpu_events& events) {
  TRY(SettleAndForget());  // an injected interrupt shows in the sregs' bitmap
  TRY(os::Ioctl(fd_, KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS"));
  return base::Ok();
}

base::Result<uint32_t> Vcpu::GetTscKhz() const {
  TRY(Settle());
  const int khz = TRY(os::Ioctl(fd_, KVM_GET_TSC_KHZ, 0UL, "KVM_GET_TSC_KHZ"));
  if (khz <= 0) return base::Error::Format("KVM_GET_TSC_KHZ returned %d", khz);
  return static_cast<uint32_t>(khz);
}

base::Result<void> Vcpu::SetCpuid(std::span<const kvm_cpuid_entry2> entries) {
  if (entries.size() > abi::kMaxCpuidEntries)
    return base::Error::Format("%zu CPUID entries, at most %u", entries.size(),
                               abi::kMaxCpuidEntries);
  TRY(SettleAndForget());
  abi::CpuidBuffer buffer{};
  buffer.header.nent = static_cast<uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), buffer.entries.begin());
  TRY(os::Ioctl(fd_, abi::kSetCpuid2, &buffer, "KVM_SET_CPUID2"));
  return base::Ok();
}

base::Result<void> Vcpu::SetXcr0(uint64_t xcr0) {
  kvm_xcrs xcrs{};
  xcrs.nr_xcrs = 1;
  xcrs.xcrs[0].xcr = 0;
  xcrs.xcrs[0].value = xcr0;
  TRY(os::Ioctl(fd_, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS"));
  return base::Ok();
}

base::Result<void> Vcpu::SetMsrs(std::span<const MsrValue> msrs) {
  if (msrs.size() > abi::kMaxMsrEntries)
    return base::Error::Format("%zu MSRs in one KVM_SET_MSRS, at most %u", msrs.size(),
                               abi::kMaxMsrEntries);
  TRY(SettleAndForget());
  abi::MsrBuffer buffer{};
  buffer.header.nmsrs = static_cast<uint32_t>(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    buffer.entries[i].index = msrs[i].index;
    buffer.entries[i].data = msrs[i].value;
  }
  // api.rst 4.19: returns the number of MSRs set; it stops at the first
  // one KVM refuses.
  const int set = TRY(os::Ioctl(fd_, abi::kSetMsrs, &buffer, "KVM_SET_MSRS"));
  if (static_cast<size_t>(set) != msrs.size())
    return base::Error::Format("KVM_SET_MSRS refused MSR 0x%x",
                               msrs[static_cast<size_t>(set)].index);
  return base::Ok();
}

base::Result<std::vector<MsrValue>> Vcpu::GetMsrs(std::span<const uint32_t> indexes) const {
  if (indexes.size() > abi::kMaxMsrEntries)
    return base::Error::Format("%zu MSRs in one KVM_GET_MSRS, at most %u", indexes.size(),
                               abi::kMaxMsrEntries);
  TRY(Settle());
  abi::MsrBuffer buffer{};
  buffer.header.nmsrs = static_cast<uint32_t>(indexes.size());
  for (size_t i = 0; i < indexes.size(); ++i) buffer.entries[i].index = indexes[i];
  const int got = TRY(os::Ioctl(fd_, abi::kGetMsrs, &buffer, "KVM_GET_MSRS"));
  if (static_cast<size_t>(got) != indexes.size())
    return base::Error::Format("KVM_GET_MSRS refused MSR 0x%x",
                               indexes[static_cast<size_t>(got)]);
  std::vector<MsrValue> values;
  for (size_t i = 0; i < indexes.size(); ++i)
    values.push_back({buffer.entries[i].index, buffer.entries[i].data});
  return values;
}

base::Result<Vcpu::TscState> Vcpu::GetTscState() const {
  constexpr uint32_t kMsrTsc = 0x10;           // SDM vol. 4, IA32_TIME_STAMP_COUNTER
  constexpr uint32_t kMsrTscDeadline = 0x6E0;  // SDM vol. 4, IA32_TSC_DEADLINE
  const std::array<uint32_t, 2> indexes{kMsrTsc, kMsrTscDeadline};
  const std::vector<MsrValue> values = TRY(GetMsrs(indexes));
  return TscState{values[0].value, values[1].value};
}

base::Result<VcpuExit> Vcpu::Run() {
  // Not the retrying Ioctl wrapper: EINTR is how a stop request arrives.
  // EAGAIN: an application processor waiting for INIT/SIPI under the
  // in-kernel LAPIC (KVM_MP_STATE_UNINITIALIZED) was woken and has not
  // started yet; KVM asks to be called again (arch/x86/kvm/x86.c,
  // kvm_arch_vcpu_ioctl_run). Both go back to the run loop unchanged.
  // KVM_RUN loads the dirty synced registers on entry and stores all of
  // them on every way out (x86.c kvm_arch_vcpu_ioctl_run, label `out`),
  // the EINTR and EAGAIN returns included.
  if (::ioctl(fd_.get(), KVM_RUN, 0UL) != 0) {
    const int error = errno;
    synced_ = sync_regs_ && (error == EINTR || error == EAGAIN);
    if (error == EINTR || error == EAGAIN) return VcpuExit{InterruptedExit{}};
    return base::Error::FromErrno("KVM_RUN", error);
  }
  synced_ = sync_regs_;
  return DecodeExit(*run_, run_area_.bytes());
}

void Vcpu::CompleteMsr(uint64_t value) {
  run_->msr.error = 0;
  run_->msr.data = value;
}

void Vcpu::FailMsr() { run_->msr.error = 1; }

void Vcpu::CompleteMmioRead(std::span<const std::byte> data) {
  const size_t n = std::min(data.size(), sizeof run_->mmio.data);
  for (size_t i = 0; i < n; ++i) run_->mmio.data[i] = static_cast<uint8_t>(data[i]);
}

}  // namespace kvm
