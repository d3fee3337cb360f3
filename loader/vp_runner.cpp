#include "vp_runner.h"

#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/page.h"
#include "base/string_printf.h"
#include "hyperv/hypercall_page.h"
#include "vp_state_kvm.h"
#include "kvm/lapic.h"
#include "vsm/intercept_message.h"
#include "vsm/io_instruction.h"
#include "vsm/register_page.h"
#include "x86emu/page_walk.h"

namespace loader {
namespace {

constexpr uint64_t kRflagsIf = 1u << 9;  // SDM vol. 1 §3.4.3
constexpr uint64_t kEferLma = 1u << 10;  // SDM vol. 3A §2.2.1

bool IsHypercallTrap(const kvm::IoExit& io) {
  return io.port == hyperv::kHypercallPort && io.direction == kvm::IoDirection::kOut && io.count == 1;
}

// What a read from nothing returns (a PC bus with no device decoding).
constexpr std::array<std::byte, 8> kAllOnes8{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                             std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                             std::byte{0xFF}, std::byte{0xFF}};

template <typename... Handlers>
struct Overloaded : Handlers... {
  using Handlers::operator()...;
};
// Spelled out: clang before 17 has no CTAD for aggregates.
template <typename... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

// The general registers the VTLs share (TLFS "VTL State": RAX-R15 but
// RSP; RIP, RFLAGS and RSP are private).
void CopySharedGprs(const kvm_regs& from, kvm_regs& to) {
  to.rax = from.rax; to.rbx = from.rbx; to.rcx = from.rcx; to.rdx = from.rdx;
  to.rsi = from.rsi; to.rdi = from.rdi; to.rbp = from.rbp;
  to.r8 = from.r8; to.r9 = from.r9; to.r10 = from.r10; to.r11 = from.r11;
  to.r12 = from.r12; to.r13 = from.r13; to.r14 = from.r14; to.r15 = from.r15;
}

// VTL0's page tables, read as VTL0's MMU reads them: RAM VTL0 may read.
class Vtl0PageTables final : public x86emu::PhysReader {
 public:
  explicit Vtl0PageTables(const vsm::Partition& partition) : partition_(partition) {}
  base::Result<void> ReadPhys(x86emu::Gpa gpa, std::span<std::byte> out) override {
    if (!partition_.ReadVtl0IfAllowed(mem::ToU64(gpa), out))
      return base::Error::Format("GPA 0x%llx is not RAM VTL0 may read",
                                 static_cast<unsigned long long>(mem::ToU64(gpa)));
    return base::Ok();
  }

 private:
  const vsm::Partition& partition_;
};

}  // namespace

VpRunner::VpRunner(VpVtls vtls, const MachineShared& shared)
    : vtls_(vtls),
      shared_(shared),
      trace_(shared.trace_vtl_switches),
      hypercalls_(*shared.partition, *shared.memory, vtls.vtl2->id(), vtls.vtl0, *vtls.vtl2) {}

void VpRunner::Log(const char* fmt, ...) {
  const std::string prefix =
      base::StringPrintf("hcl-loader: vp%u vtl%u: ", vtls_.vtl2->id(), active_vtl_);
  va_list args;
  va_start(args, fmt);
  log_.PrintV(prefix, fmt, args);
  va_end(args);
}

void VpRunner::HandleIo(devices::PortBus& bus, const kvm::IoExit& io) {
  for (uint32_t i = 0; i < io.count; ++i) {
    const auto element = io.data.subspan(size_t{i} * io.size, io.size);
    const bool claimed = io.direction == kvm::IoDirection::kOut ? bus.Write(io.port, element)
                                                                : bus.Read(io.port, element);
    if (!claimed)
      Log("%s port 0x%x (%u bytes): no device", io.direction == kvm::IoDirection::kOut ? "out" : "in",
          io.port, io.size);
  }
}

void VpRunner::Stop(StopReason reason, std::string detail) {
  shared_.group->RequestStop(MachineStop{reason, vtls_.vtl2->id(), std::move(detail)});
}

void VpRunner::RaiseDue(uint8_t vtl, const std::vector<uint8_t>& vectors) {
  kvm::MsiTarget* vm = vtl == 0 ? shared_.partition->vm0() : &shared_.partition->vm2();
  for (uint8_t vector : vectors)
    if (auto sent = vm->SignalMsi(vtls_.vtl2->id(), vector); !sent)
      Log("SynIC interrupt 0x%x: %s", vector, sent.error().message().c_str());
}

base::Result<VpRunner::Rewound> VpRunner::RewindExit() {
  kvm::Vcpu& vcpu = active();
  // api.rst, KVM_EXIT_IO/MMIO and immediate_exit: the registers before
  // re-entry are those from before the instruction; re-entering with
  // immediate_exit completes it (KVM's complete_userspace_io) and returns.
  // An access KVM splits (a REP string instruction, an MMIO access over
  // two pages) exits once per piece: each is answered with all-ones until
  // KVM is done, at most kMaxRewindExits times.
  constexpr int kMaxRewindExits = 4096;
  const kvm_regs before = TRY(vcpu.GetRegs());
  for (int round = 0;; ++round) {
    vcpu.RequestImmediateExit();
    const kvm::VcpuExit completion = TRY(vcpu.Run());
    vcpu.ClearImmediateExit();
    if (std::holds_alternative<kvm::InterruptedExit>(completion)) break;
    if (round == kMaxRewindExits)
      return base::Error("completing an exit to rewind it: " + kvm::DescribeExit(completion));
    if (const auto* mmio = std::get_if<kvm::MmioExit>(&completion); mmio && !mmio->is_write) {
      vcpu.CompleteMmioRead(kAllOnes8);
    } else if (const auto* io = std::get_if<kvm::IoExit>(&completion);
               io && io->direction == kvm::IoDirection::kIn) {
      std::fill(io->data.begin(), io->data.end(), std::byte{0xFF});
    } else if (!std::holds_alternative<kvm::MmioExit>(completion) &&
               !std::holds_alternative<kvm::IoExit>(completion)) {
      return base::Error("completing an exit to rewind it: " + kvm::DescribeExit(completion));
    }
  }
  const kvm_regs after = TRY(vcpu.GetRegs());
  TRY(vcpu.SetRegs(before));
  const uint64_t moved = after.rip - before.rip;
  return Rewound{before, static_cast<uint8_t>(moved <= 15 ? moved : 0)};
}

base::Result<hv::InterceptHeader> VpRunner::InterceptHeader(const kvm_regs& regs, uint8_t length,
                                                              uint8_t access) {
  return InterceptHeader(regs, TRY(vtls_.vtl0->GetSregs()), length, access);
}

hv::InterceptHeader VpRunner::InterceptHeader(const kvm_regs& regs, const kvm_sregs& sregs,
                                                uint8_t length, uint8_t access) {
  return vsm::MakeInterceptHeader(vtls_.vtl2->id(), regs, sregs, length, access);
}

base::Result<void> VpRunner::EnterVtl2(hv::VtlEntryReason reason,
                                       std::optional<std::span<const std::byte>> message) {
  kvm_regs vtl0 = TRY(vtls_.vtl0->GetRegs());
  kvm_regs vtl2 = TRY(vtls_.vtl2->GetRegs());
  if (trace_)
    std::fprintf(stderr, "hcl-loader: vp%u: VTL0 rip %#llx -> VTL2 rip %#llx rsp %#llx (%s)\n",
                 vtls_.vtl2->id(), static_cast<unsigned long long>(vtl0.rip),
                 static_cast<unsigned long long>(vtl2.rip), static_cast<unsigned long long>(vtl2.rsp),
                 message ? "intercept" : "interrupt");
  CopySharedGprs(vtl0, vtl2);
  TRY(vtls_.vtl2->SetRegs(vtl2));
  // The register page, if VTL2 registered one: VTL0's registers as they
  // are now (vsm/register_page.h).
  if (const auto page = hypercalls_.register_page()) {
    const hv::VpRegisterPage shown = vsm::ShowRegisters(vtl0, TRY(vtls_.vtl0->GetSregs()));
    if (!shared_.memory->WriteObj(mem::Gpa{*page}, shown)) Log("VTL2's register page is outside RAM");
  }
  // A message goes to VTL2's intercept page if it turned that on
  // (VsmPartitionConfig), else to its SINT0 (hyperv-vmbus.md §3.3).
  const bool intercept_page =
      message && (shared_.partition->vsm_partition_config() & hv::kVsmConfigInterceptPage) != 0;
  if (intercept_page) reason = hv::VtlEntryReason::kInterceptPage;
  // TLFS "VTL Entry": the entry reason in the VTL control area of the
  // target VTL's VP assist page.
  const auto assist = vtls_.vtl2_msrs->vp_assist_page();
  if (assist) {
    const uint32_t code = static_cast<uint32_t>(reason);
    if (!shared_.memory->WriteObj(mem::Gpa{mem::ToU64(*assist) + hv::vp_assist::kEntryReason},
                                  code))
      Log("VTL2's VP assist page is outside RAM");
  }
  std::array<std::byte, hv::kMessageBytes> slot{};
  if (message) std::copy(message->begin(), message->end(), slot.begin());
  if (intercept_page) {
    // The message in VTL2's VP assist page: nothing queued, no SINT0 slot
    // to free, no EOM.
    if (!assist ||
        !shared_.memory->WriteObj(mem::Gpa{mem::ToU64(*assist) + hv::vp_assist::kInterceptMessage}, slot))
      Log("intercept message lost: VTL2's VP assist page is missing or outside RAM");
  } else if (message) {
    const hyperv::Synic::Outcome posted = vtls_.vtl2_msrs->synic().Post(hv::kInterceptSint, slot);
    if (posted.status != hv::Status::kSuccess)
      Log("intercept message lost: VTL2's SynIC answered 0x%x",
          static_cast<unsigned>(posted.status));
    if (posted.vector) RaiseDue(2, {*posted.vector});
  }
  active_vtl_ = 2;
  shared_.group->NoteVtl0(vtls_.vtl2->id(), false);
  // VTL2 now takes whatever its APIC holds: an interrupt raised for it
  // before this switch needs no switch of its own later.
  (void)shared_.group->TakeVtl2Interrupt(vtls_.vtl2->id());
  ++vtl_switches_;
  return base::Ok();
}

base::Result<void> VpRunner::ReturnToVtl0(uint64_t control) {
  kvm_regs vtl2 = TRY(vtls_.vtl2->GetRegs());
  kvm_regs vtl0 = TRY(vtls_.vtl0->GetRegs());
  if (trace_)
    std::fprintf(stderr, "hcl-loader: vp%u: VTL2 rip %#llx -> VTL0 rip %#llx\n", vtls_.vtl2->id(),
                 static_cast<unsigned long long>(vtl2.rip), static_cast<unsigned long long>(vtl0.rip));
  CopySharedGprs(vtl2, vtl0);
  // TLFS "HvCallVtlReturn": bit 0 of the control is "fast"; otherwise the
  // lower VTL's RAX and RCX come from the returning VTL's VP assist page.
  if ((control & 1) == 0) {
    if (auto assist = vtls_.vtl2_msrs->vp_assist_page()) {
      const uint64_t base = mem::ToU64(*assist);
      if (auto rax = shared_.memory->ReadObj<uint64_t>(mem::Gpa{base + hv::vp_assist::kReturnRax}))
        vtl0.rax = *rax;
      if (auto rcx = shared_.memory->ReadObj<uint64_t>(mem::Gpa{base + hv::vp_assist::kReturnRcx}))
        vtl0.rcx = *rcx;
    }
  }
  // What VTL2 changed in the register page (an intercept completed there:
  // RIP moved on, RAX for an IN) goes to VTL0; the page is stale from now
  // until the next entry.
  if (const auto page = hypercalls_.register_page()) {
    if (auto shown = shared_.memory->ReadObj<hv::VpRegisterPage>(mem::Gpa{*page})) {
      vsm::TakeDirtyRegisters(*shown, vtl0);
      const uint64_t invalid = 0;  // version 0, not valid, nothing dirty
      (void)shared_.memory->WriteObj(mem::Gpa{*page}, invalid);
    }
  }
  if (const auto deferred = std::exchange(deferred_io_linear_rip_, std::nullopt))
    TRY(FinishDeferredIo(*deferred, vtl0.rip));
  TRY(vtls_.vtl0->SetRegs(vtl0));
  active_vtl_ = 0;
  shared_.group->NoteVtl0(vtls_.vtl2->id(), true);
  ++vtl_switches_;
  return base::Ok();
}

base::Result<void> VpRunner::KickAtVtl2Timer(const kvm::Vcpu::TscState& tsc) {
  if (ticker_ == nullptr) return base::Ok();
  // Later than the next periodic tick: that tick looks for it. (A kick
  // that comes a little early finds the deadline ahead and arms another.)
  const auto delay = kvm::TscDeadlineWithin(tsc.deadline, tsc.tsc, shared_.tsc_hz, kVsmTick);
  if (!delay) return base::Ok();
  return ticker_->KickAfter(*delay);
}

base::Result<bool> VpRunner::Vtl2InterruptPending() {
  const kvm_lapic_state lapic = TRY(vtls_.vtl2->GetLapic());
  if (kvm::InterruptDeliverable(lapic)) return true;
  // VTL2's timer: KVM leaves an expired timer of a vCPU outside KVM_RUN
  // pending, not in IRR (kvm/lapic.h); without this VTL2 would get no
  // tick while VTL0 runs, and a VTL2 task waiting for one (Linux's reboot
  // path migrating to CPU 0) would wait forever.
  const kvm::Vcpu::TscState tsc = TRY(vtls_.vtl2->GetTscState());
  if (kvm::TscDeadlineTimerDue(lapic, tsc.deadline, tsc.tsc)) return true;
  TRY(KickAtVtl2Timer(tsc));
  return false;
}

base::Result<std::optional<VpRunner::Vtl0Code>> VpRunner::ReadVtl0Code(const kvm_regs& regs,
                                                                      const kvm_sregs& sregs) {
  // The walk VTL0's MMU made to fetch the instruction, done again here
  // over VTL0's view of its RAM (a KVM_TRANSLATE costs an ioctl: about
  // 10 us an intercept in the carrier). A walk this one cannot make
  // (5-level paging) falls back to KVM's.
  Vtl0PageTables tables(*shared_.partition);
  const x86emu::PagingState paging{
      .cr = {.cr0 = sregs.cr0, .cr3 = sregs.cr3, .cr4 = sregs.cr4, .efer = sregs.efer},
      .cpl = static_cast<uint8_t>(sregs.ss.dpl & 3),
      .rflags_ac = (regs.rflags & x86emu::kFlagAc) != 0};
  const uint64_t linear = sregs.cs.base + regs.rip;
  std::optional<uint64_t> gpa;
  if (auto walked = x86emu::TranslateGva(tables, paging, x86emu::Gva{linear}, x86emu::Access::kExecute)) {
    const auto* found = std::get_if<x86emu::Gpa>(&*walked);
    if (found == nullptr) return std::optional<Vtl0Code>();  // not mapped now
    gpa = mem::ToU64(*found);
  } else {
    gpa = TRY(vtls_.vtl0->Translate(linear));
  }
  if (!gpa) return std::optional<Vtl0Code>();
  Vtl0Code code;
  const size_t offset = base::PageOffset(*gpa);
  code.size = std::min(base::kPageSize - offset, code.data.size());
  const size_t back = offset > 0 ? 1 : 0;
  std::array<std::byte, 16> read{};
  const auto wanted = std::span(read).first(back + code.size);
  if (!shared_.partition->ReadVtl0IfAllowed(*gpa - back, wanted)) return std::optional<Vtl0Code>();
  if (back != 0) code.before = read[0];
  std::copy_n(read.begin() + static_cast<ptrdiff_t>(back), code.size, code.data.begin());
  return std::optional<Vtl0Code>(code);
}

base::Result<void> VpRunner::FinishDeferredIo(uint64_t linear_rip, uint64_t rip_now) {
  const kvm_sregs sregs = TRY(vtls_.vtl0->GetSregs());
  if (sregs.cs.base + rip_now != linear_rip) return base::Ok();  // KVM will see RIP moved on
  // VTL2 left RIP at the instruction (a retried access, an exception it
  // injects there): finished now; the caller then puts back the registers
  // VTL2 wants.
  return FinishExitNow(*vtls_.vtl0);
}

base::Result<void> VpRunner::FinishExitNow(kvm::Vcpu& vcpu) {
  // api.rst, KVM_EXIT_IO / immediate_exit: with immediate_exit set KVM
  // finishes the OUT (RIP moves past it) and returns EINTR without running
  // the guest (hyperv-vmbus.md §1.4).
  vcpu.RequestImmediateExit();
  const kvm::VcpuExit completion = TRY(vcpu.Run());
  vcpu.ClearImmediateExit();
  if (!std::holds_alternative<kvm::InterruptedExit>(completion))
    return base::Error("finishing an I/O exit: " + kvm::DescribeExit(completion));
  return base::Ok();
}

base::Result<void> VpRunner::HandleHypercall() {
  kvm::Vcpu& vcpu = active();
  // The trap is `out 0x99, eax` (hypercall_page.h), 2 bytes, and RIP is at
  // it. KVM finishes an OUT it passed to user space at the next KVM_RUN
  // (api.rst, KVM_EXIT_IO), moving RIP past it unless RIP was changed
  // meanwhile (x86.c complete_fast_pio_out compares the linear RIP with
  // the one at the exit). A call that returns to the next instruction
  // sets that RIP itself and needs no run to complete the OUT; a call
  // forwarded to VTL2 leaves that to VTL2 (FinishDeferredIo); a #UD at the
  // trap completes it first (FinishExitNow), or KVM would skip the
  // instruction later.
  constexpr uint8_t kTrapLength = 2;
  kvm_regs regs = TRY(vcpu.GetRegs());
  // TLFS "Hypercall Inputs": 64-bit callers (EFER.LMA and CS.L) pass the
  // input value in RCX and get the result in RAX; 32-bit callers use
  // EDX:EAX for both (and EBX:ECX, EDI:ESI for the GPAs).
  const kvm_sregs sregs = TRY(vcpu.GetSregs());
  const bool long_mode = (sregs.efer & kEferLma) != 0 && sregs.cs.l != 0;
  const uint64_t value = long_mode ? regs.rcx : (regs.rdx << 32) | (regs.rax & 0xFFFFFFFFu);
  vsm::HypercallCall call;
  call.input = hyperv::DecodeHypercallInput(value);
  call.rdx = long_mode ? regs.rdx : (regs.rbx << 32) | (regs.rcx & 0xFFFFFFFFu);
  call.r8 = long_mode ? regs.r8 : (regs.rdi << 32) | (regs.rsi & 0xFFFFFFFFu);
  // TLFS "Hypercall Interface": a hypercall from CPL > 0 raises #UD (a
  // VTL0 process allowed port I/O could otherwise make VTL calls and post
  // messages). The exception is raised at the trapping instruction.
  if ((sregs.cs.dpl & 3) != 0) {
    constexpr uint8_t kUd = 6;
    TRY(FinishExitNow(vcpu));
    TRY(vcpu.SetRegs(regs));  // back at the trap
    kvm_vcpu_events events = TRY(vcpu.GetEvents());
    events.exception.injected = 1;
    events.exception.nr = kUd;
    events.exception.has_error_code = 0;
    events.flags = 0;
    TRY(vcpu.SetEvents(events));
    Log("hypercall from CPL %u: #UD", static_cast<unsigned>(sregs.cs.dpl & 3));
    return base::Ok();
  }
  profile_detail_ = call.input.code;
  const vsm::HypercallOutcome outcome = TRY(hypercalls_.Handle(active_vtl_, call));
  switch (outcome.kind) {
    case vsm::HypercallOutcome::Kind::kVtlReturn:
      // No lower VTL, or one that cannot run: answered below.
      if (vtls_.vtl0 == nullptr || vtl0_failed_) break;
      // VTL2 resumes after the trap at its next entry.
      regs.rip += kTrapLength;
      TRY(vcpu.SetRegs(regs));
      // The code page's VTL return entry put the caller's RCX (the
      // control) in RAX (hypercall_page.h, +0x26).
      return ReturnToVtl0(regs.rax);
    case vsm::HypercallOutcome::Kind::kVtlCall:
      regs.rip += kTrapLength;  // VTL0 resumes after it on the VTL return
      TRY(vcpu.SetRegs(regs));
      return EnterVtl2(hv::VtlEntryReason::kVtlCall, std::nullopt);
    case vsm::HypercallOutcome::Kind::kForward: {
      // TLFS HV_X64_HYPERCALL_INTERCEPT_MESSAGE: VTL0 stays at the
      // trapping instruction; VTL2 emulates the call and moves RIP on,
      // and KVM's completion of the trap's OUT waits for that (as for an
      // intercepted IN/OUT: ReturnToVtl0 finishes it if RIP stayed).
      deferred_io_linear_rip_ = sregs.cs.base + regs.rip;
      hv::HypercallIntercept message;
      message.header = TRY(InterceptHeader(regs, kTrapLength, hv::kAccessWrite));
      message.rax = regs.rax;
      message.rbx = regs.rbx;
      message.rcx = regs.rcx;
      message.rdx = regs.rdx;
      message.r8 = regs.r8;
      message.rsi = regs.rsi;
      message.rdi = regs.rdi;
      const auto bytes = vsm::Message(hv::message::kHypercallIntercept, message);
      return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::span<const std::byte>(bytes));
    }
    case vsm::HypercallOutcome::Kind::kResult:
      break;
  }
  uint64_t result = outcome.result;
  if (outcome.kind == vsm::HypercallOutcome::Kind::kVtlReturn)
    result = hyperv::HypercallResult(static_cast<uint16_t>(hv::Status::kInvalidVtlState), 0);
  if ((result & 0xFFFF) != hyperv::kStatusSuccess)
    Log("hypercall 0x%x (input 0x%llx): status 0x%llx", call.input.code,
        static_cast<unsigned long long>(value), static_cast<unsigned long long>(result & 0xFFFF));
  if (long_mode) {
    regs.rax = result;
  } else {
    regs.rax = result & 0xFFFFFFFFu;
    regs.rdx = result >> 32;
  }
  regs.rip += kTrapLength;
  TRY(vcpu.SetRegs(regs));
  return base::Ok();
}

void VpRunner::StopForMachineEvents() {
  if (shared_.events->power_off_requested()) {
    Stop(StopReason::kPoweredOff, "");
  } else if (const auto origin = shared_.events->reset_origin()) {
    // Tagged with the VTL whose bus took the write (loader/main.cpp):
    // VTL0's reboot resets the partition; VTL2 resetting it (its reboot,
    // or a panic with panic=-1) is the paravisor failing.
    Stop(*origin == 0 ? StopReason::kReset : StopReason::kVtl2Reset, "");
  }
}

base::Result<void> VpRunner::HandleVtl0Io(const kvm::IoExit& io) {
  if (!shared_.partition->IoPortIntercepted(io.port)) {
    HandleIo(*shared_.vtl0_ports, io);
    StopForMachineEvents();
    return base::Ok();
  }
  // TLFS HV_X64_IO_PORT_INTERCEPT_MESSAGE for VTL2, with VTL0's registers
  // from before the instruction.
  const kvm_sregs sregs = TRY(vtls_.vtl0->GetSregs());
  kvm_regs regs = TRY(vtls_.vtl0->GetRegs());
  // SDM vol. 3A §5.2.1: the mode from EFER.LMA, CS.L and CS.D.
  const x86emu::CpuMode code_size = (sregs.efer & kEferLma) != 0 && sregs.cs.l != 0 ? x86emu::CpuMode::k64
                                    : sregs.cs.db != 0 ? x86emu::CpuMode::k32
                                                       : x86emu::CpuMode::k16;
  const bool write = io.direction == kvm::IoDirection::kOut;
  const std::optional<Vtl0Code> code = TRY(ReadVtl0Code(regs, sregs));
  // KVM's exit does not say whether it was INS/OUTS: a single one (or REP
  // with RCX = 1) exits once, like IN/OUT. The instruction (VTL0's own
  // memory, if VTL0 may read it) tells.
  std::optional<vsm::IoInstructionForm> form =
      code ? vsm::DecodeIoInstruction(code->bytes(), code_size) : std::nullopt;
  const vsm::IoExitFacts facts{.port = io.port,
                               .size = static_cast<uint8_t>(io.size),
                               .in = !write,
                               .count = io.count,
                               .dx = static_cast<uint16_t>(regs.rdx)};
  uint8_t length = 0;
  if (const auto deferred =
          code ? vsm::DeferrableIoLength(form, code->before, facts) : std::nullopt) {
    // KVM finishes this exit at VTL0's next run only if VTL2 leaves RIP at
    // the instruction (ReturnToVtl0): no KVM_RUN now.
    length = *deferred;
    deferred_io_linear_rip_ = sregs.cs.base + regs.rip;
  } else {
    const Rewound rewound = TRY(RewindExit());
    regs = rewound.regs;
    length = rewound.instruction_length;
    // KVM moved RIP past the instruction before the exit (it emulated a
    // string one): what was read there is the next instruction.
    if (length == 0) form.reset();
  }
  hv::IoPortIntercept message;
  message.header = InterceptHeader(regs, sregs, length, write ? hv::kAccessWrite : hv::kAccessRead);
  message.port = io.port;
  message.access_info = static_cast<uint8_t>(io.size);
  if (form ? form->string : (io.count > 1 || length == 0))
    message.access_info |= hv::kIoString;
  if (form ? form->rep : (io.count > 1 || length == 0))
    message.access_info |= hv::kIoRep;
  message.rax = regs.rax;
  message.ds = vsm::ToWire(sregs.ds);
  message.es = vsm::ToWire(sregs.es);
  message.rcx = regs.rcx;
  message.rsi = regs.rsi;
  message.rdi = regs.rdi;
  const auto bytes = vsm::Message(hv::message::kIoPortIntercept, message);
  return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::span<const std::byte>(bytes));
}

bool VpRunner::HandlePciMmio(pci::Bus& bus, const kvm::MmioExit& mmio) {
  const size_t length = std::min<size_t>(mmio.length, mmio.data.size());
  if (mmio.is_write) return bus.MmioWrite(mmio.gpa, std::span(mmio.data).first(length));
  std::array<std::byte, 8> data{};
  if (length > data.size() || !bus.MmioRead(mmio.gpa, std::span(data).first(length))) return false;
  active().CompleteMmioRead(std::span<const std::byte>(data).first(length));
  return true;
}

base::Result<void> VpRunner::HandleVtl0Mmio(const kvm::MmioExit& mmio) {
  // A BAR of VTL0's own PCI bus (--disk-vtl0): the loader's device, not
  // VTL2's business (it lies outside VTL0's RAM and VTL2's ranges).
  if (shared_.vtl0_pci != nullptr && HandlePciMmio(*shared_.vtl0_pci, mmio)) return base::Ok();
  // Nothing of VTL0's is memory-mapped in the loader: every MMIO access,
  // and every access to memory VTL0 may not touch, is VTL2's to handle
  // (TLFS HV_X64_MEMORY_INTERCEPT_MESSAGE): UnmappedGpa outside VTL0's
  // RAM, GpaIntercept on a page VTL2 protected (TLFS "Memory
  // Protection": the violation goes to the VTL that set it).
  const size_t length = std::min<size_t>(mmio.length, mmio.data.size());
  // RAM VTL0 may use, met while ModifyVtlProtectionMask remaps VTL0's
  // slots on another VP: a store already executed lands in RAM (checked
  // and written under the partition's lock, so never into a page VTL2
  // has just denied); a load is rewound and runs again.
  const vsm::Partition::Vtl0Access access =
      mmio.is_write
          ? shared_.partition->WriteVtl0IfAllowed(mmio.gpa, std::span(mmio.data).first(length))
          : shared_.partition->ClassifyVtl0Access(mmio.gpa, false);
  if (access == vsm::Partition::Vtl0Access::kAllowed) {
    if (!mmio.is_write) (void)TRY(RewindExit());
    return base::Ok();
  }
  const uint32_t type = access == vsm::Partition::Vtl0Access::kDenied
                            ? hv::message::kGpaIntercept
                            : hv::message::kUnmappedGpa;
  hv::MemoryIntercept message;
  if (mmio.is_write) {
    // KVM has executed the store already (hvdef.h,
    // kMemoryAccessWriteCompleted): report the store, not the instruction.
    const kvm_regs regs = TRY(vtls_.vtl0->GetRegs());
    message.header = TRY(InterceptHeader(regs, 0, hv::kAccessWrite));
    message.memory_access_info = hv::kMemoryAccessWriteCompleted;
    message.instruction_byte_count = static_cast<uint8_t>(length);
    std::memcpy(message.instruction_bytes, mmio.data.data(), length);
  } else {
    const Rewound rewound = TRY(RewindExit());
    message.header = TRY(InterceptHeader(rewound.regs, rewound.instruction_length,
                                         hv::kAccessRead));
  }
  message.guest_physical_address = mmio.gpa;
  const auto bytes = vsm::Message(type, message);
  return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::span<const std::byte>(bytes));
}

base::Result<void> VpRunner::HandleVtl0Fatal(const kvm::VcpuExit& exit) {
  const kvm_regs regs = TRY(vtls_.vtl0->GetRegs());
  const kvm_sregs sregs = TRY(vtls_.vtl0->GetSregs());
  if (std::holds_alternative<kvm::InternalErrorExit>(exit)) {
    // KVM could not emulate the instruction at RIP; with VTL0 that is an
    // instruction fetch from a GPA without a memory slot (VTL2's memory, a
    // page VTL2 denied, no RAM): KVM fails to read the instruction
    // (x86.c handle_emulation_failure; for CPL > 0 it injects #UD itself).
    // Find where RIP points and report an execute access there (TLFS
    // HV_X64_MEMORY_INTERCEPT_MESSAGE, intercept_access 2).
    const std::optional<uint64_t> gpa = TRY(vtls_.vtl0->Translate(sregs.cs.base + regs.rip));
    if (gpa) {
      const vsm::Partition::Vtl0Access access =
          shared_.partition->ClassifyVtl0Access(*gpa, false);
      // RAM VTL0 may use: a slot being remapped under it; run again.
      if (access == vsm::Partition::Vtl0Access::kAllowed) return base::Ok();
      hv::MemoryIntercept message;
      message.header = InterceptHeader(regs, sregs, 0, hv::kAccessExecute);
      message.guest_virtual_address = regs.rip;
      message.guest_physical_address = *gpa;
      message.memory_access_info = 0x3;  // GVA valid, GVA->GPA valid
      Log("instruction fetch at 0x%llx (gpa 0x%llx) from memory VTL0 may not use: to VTL2",
          static_cast<unsigned long long>(regs.rip), static_cast<unsigned long long>(*gpa));
      const auto bytes = vsm::Message(access == vsm::Partition::Vtl0Access::kDenied
                                     ? hv::message::kGpaIntercept
                                     : hv::message::kUnmappedGpa,
                                 message);
      return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::span<const std::byte>(bytes));
    }
  }
  // A triple fault, a failed entry, an emulation failure elsewhere: VTL0
  // cannot go on; VTL2 is told and decides (TLFS
  // HvMessageTypeUnrecoverableException).
  Log("VTL0 cannot continue (%s): to VTL2", kvm::DescribeExit(exit).c_str());
  vtl0_failed_ = true;
  const hv::InterceptHeader header = InterceptHeader(regs, sregs, 0, hv::kAccessRead);
  const auto bytes = vsm::Message(hv::message::kUnrecoverableException, header);
  return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::span<const std::byte>(bytes));
}

void VpRunner::BindLazyEoi(kvm::Vcpu& vcpu, uint64_t assist_msr) {
  // TLFS "Lazy EOI": KVM marks an interrupt that needs no EOI in the
  // assist page's first word (its PV EOI, which KVM binds to the page given
  // as VP_ASSIST_PAGE) and takes the guest's clearing of the mark as the
  // EOI. Without it VTL2 still works: it then writes the EOI MSR each time.
  const kvm::MsrValue assist{hyperv::kMsrVpAssistPage, assist_msr};
  if (auto bound = vcpu.SetMsrs(std::span(&assist, 1)); !bound && !lazy_eoi_refused_) {
    lazy_eoi_refused_ = true;
    Log("VTL2 VP assist page: KVM refused it (%s): no lazy EOI",
        bound.error().message().c_str());
  }
}

base::Result<void> VpRunner::HandleMsr(const kvm::VcpuExit& exit) {
  kvm::Vcpu& vcpu = active();
  const auto* rdmsr = std::get_if<kvm::RdMsrExit>(&exit);
  const auto* wrmsr = std::get_if<kvm::WrMsrExit>(&exit);
  if (rdmsr == nullptr && wrmsr == nullptr) return base::Error("HandleMsr: not an MSR exit");
  const uint32_t index = rdmsr != nullptr ? rdmsr->index : wrmsr->index;
  if (!hv::IsSyntheticMsr(index)) {
    // Only VTL0's VM sends MSRs KVM does not know (TrapMsrsAndUnknown).
    if (active_vtl_ != 0 || !shared_.partition->MsrIntercepted()) {
      Log("%s 0x%x: not implemented: #GP", rdmsr != nullptr ? "rdmsr" : "wrmsr", index);
      vcpu.FailMsr();
      return base::Ok();
    }
    vcpu.CompleteMsr(0);  // completed without a fault, then rewound
    const Rewound rewound = TRY(RewindExit());
    hv::MsrIntercept message;
    message.header = TRY(InterceptHeader(rewound.regs, rewound.instruction_length,
                                         rdmsr != nullptr ? hv::kAccessRead : hv::kAccessWrite));
    message.msr_number = index;
    message.rax = rewound.regs.rax;
    message.rdx = rewound.regs.rdx;
    const auto bytes = vsm::Message(hv::message::kMsrIntercept, message);
    return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::span<const std::byte>(bytes));
  }
  // The Hyper-V synthetic MSRs of the active VTL (hyperv-vmbus.md §1.2).
  hyperv::SyntheticMsrs& msrs = active_msrs();
  if (rdmsr != nullptr) {
    auto value = msrs.Read(index);
    if (value) {
      vcpu.CompleteMsr(*value);
    } else {
      Log("rdmsr 0x%x: %s: #GP", index, value.error().message().c_str());
      vcpu.FailMsr();
    }
    return base::Ok();
  }
  if (wrmsr == nullptr) return base::Ok();
  auto written = msrs.Write(index, wrmsr->data);
  if (written) {
    vcpu.CompleteMsr(0);
    RaiseDue(active_vtl_, msrs.TakeDueVectors());
    if (active_vtl_ == 2 && index == hyperv::kMsrVpAssistPage) BindLazyEoi(vcpu, wrmsr->data);
  } else {
    Log("wrmsr 0x%x <- 0x%llx: %s: #GP", index, static_cast<unsigned long long>(wrmsr->data),
        written.error().message().c_str());
    vcpu.FailMsr();
  }
  return base::Ok();
}

base::Result<void> VpRunner::Start(const vsm::Partition::StartRequest& request) {
  kvm::Vcpu* vcpu = request.vtl == 0 ? vtls_.vtl0 : vtls_.vtl2;
  if (vcpu == nullptr) return base::Ok();
  // TLFS HvCallStartVirtualProcessor: only a VP that has not started in
  // that VTL (here: still waiting for INIT/SIPI).
  const uint32_t mp_state = TRY(vcpu->GetMpState());
  if (mp_state != KVM_MP_STATE_UNINITIALIZED && mp_state != KVM_MP_STATE_INIT_RECEIVED) {
    Log("StartVirtualProcessor for VTL%u: already running, ignored", request.vtl);
    return base::Ok();
  }
  if (auto applied = ApplyVpState(*vcpu, request.state); !applied) {
    Log("StartVirtualProcessor for VTL%u: %s", request.vtl, applied.error().message().c_str());
    return base::Ok();
  }
  return vcpu->SetMpState(KVM_MP_STATE_RUNNABLE);
}

base::Result<bool> VpRunner::IsParked() {
  kvm::Vcpu& vcpu = active();
  // api.rst 4.38: a vCPU blocked in HLT under the in-kernel irqchip
  // reports KVM_MP_STATE_HALTED; an AP not yet started by INIT/SIPI,
  // UNINITIALIZED or INIT_RECEIVED (KVM_GET_MP_STATE first accepts any
  // INIT/SIPI already latched in its LAPIC).
  switch (TRY(vcpu.GetMpState())) {
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_INIT_RECEIVED:
      return true;
    case KVM_MP_STATE_HALTED:
      return (TRY(vcpu.GetRegs()).rflags & kRflagsIf) == 0;
    default:
      return false;
  }
}

base::Result<void> VpRunner::Handle(const kvm::VcpuExit& exit) {
  TRY(HandleExit(exit));
  return TakeVtl2Interrupt();
}

base::Result<void> VpRunner::TakeVtl2Interrupt() {
  if (active_vtl_ != 0 || !shared_.group->TakeVtl2Interrupt(vtls_.vtl2->id()))
    return base::Ok();
  // Raised while this VP was in VTL0 (or about to be), by a device or by
  // VTL0's own signal just handled: VTL2 takes it now (TLFS "Secure
  // Interrupts"). Its APIC is not asked whether it would deliver the
  // vector (a KVM_GET_LAPIC on the other VTL's vCPU costs as much as the
  // switch's own work in the carrier): VTL2's driver enables interrupts
  // on an interrupt entry and returns to VTL0 if none came, so the rare
  // masked case costs one round trip.
  return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::nullopt);
}

base::Result<void> VpRunner::HandleExit(const kvm::VcpuExit& exit) {
  // One handler per kind of exit (Zircon vmexit.cc's one switch): a new
  // kvm::VcpuExit alternative does not compile until it is handled here.
  return std::visit(
      Overloaded{
          [&](const kvm::InterruptedExit&) { return HandleKick(); },
          [&](const kvm::IoExit& io) { return HandleIoExit(io); },
          [&](const kvm::MmioExit& mmio) { return HandleMmioExit(mmio); },
          [&](const kvm::RdMsrExit&) { return Running(HandleMsr(exit)); },
          [&](const kvm::WrMsrExit&) { return Running(HandleMsr(exit)); },
          [&](const kvm::HltExit&) -> base::Result<void> {
            // Only without the in-kernel irqchip (HLT exits only then; the
            // loader always creates one): nothing can wake this VP.
            shared_.group->NoteRunning(vtls_.vtl2->id());
            const kvm_regs regs = TRY(active().GetRegs());
            Stop((regs.rflags & kRflagsIf) == 0 ? StopReason::kHalted
                                                : StopReason::kHaltedInterruptible,
                 kvm::DescribeExit(exit));
            return base::Ok();
          },
          [&](const kvm::ShutdownExit&) { return Fatal(exit, StopReason::kTripleFault); },
          [&](const kvm::InternalErrorExit&) { return Fatal(exit, StopReason::kInternalError); },
          [&](const kvm::FailEntryExit&) { return Fatal(exit, StopReason::kFailEntry); },
          [&](const kvm::SystemEventExit&) { return Fatal(exit, StopReason::kUnhandledExit); },
          [&](const kvm::UnknownExit&) { return Fatal(exit, StopReason::kUnhandledExit); },
      },
      exit);
}

base::Result<void> VpRunner::Running(base::Result<void> handled) {
  shared_.group->NoteRunning(vtls_.vtl2->id());
  return handled;
}

base::Result<void> VpRunner::HandleKick() {
  // A kick (VcpuTicker's tick, or another VP's stop).
  VpGroup& group = *shared_.group;
  const uint32_t vp = vtls_.vtl2->id();
  // The kick's signal set both VTLs' immediate_exit (run_deadline.cpp):
  // this handling is the answer to it, so the other VTL's next run must
  // not end at once too (a kick arriving from here on sets them again).
  vtls_.vtl2->ClearImmediateExit();
  if (vtls_.vtl0 != nullptr) vtls_.vtl0->ClearImmediateExit();
  WatchTimers();
  if (active_vtl_ == 0 && TRY(Vtl2InterruptPending())) {
    group.NoteRunning(vp);
    return EnterVtl2(hv::VtlEntryReason::kInterrupt, std::nullopt);
  }
  if (TRY(IsParked()))
    group.NoteParked(vp);
  else
    group.NoteRunning(vp);
  return base::Ok();
}

void VpRunner::WatchTimers() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_timer_watch_) return;
  next_timer_watch_ = now + std::chrono::seconds(1);
  const std::pair<unsigned, const kvm::Vcpu*> vtls[] = {{2, vtls_.vtl2}, {0, vtls_.vtl0}};
  for (const auto& [vtl, vcpu] : vtls) {
    if (vcpu == nullptr) continue;
    auto lapic = vcpu->GetLapic();
    auto tsc = vcpu->GetTscState();
    if (!lapic || !tsc) continue;
    const TimerWatch::Sample sample{.guest_tsc = tsc->tsc,
                                    .host_tsc = __rdtsc(),
                                    .deadline = tsc->deadline,
                                    .deadline_mode = kvm::TscDeadlineMode(*lapic)};
    if (auto report = timer_watch_.Check(vtl, sample, shared_.tsc_hz))
      std::fprintf(stderr, "hcl-loader: vp%u: %s (%s)\n", vtls_.vtl2->id(), report->c_str(),
                   kvm::DescribeLapic(*lapic, tsc->deadline, tsc->tsc, shared_.tsc_hz).c_str());
  }
}

base::Result<void> VpRunner::HandleIoExit(const kvm::IoExit& io) {
  shared_.group->NoteRunning(vtls_.vtl2->id());
  // Without an enabled hypercall page, hyperv::kHypercallPort is an ordinary
  // unclaimed port.
  if (IsHypercallTrap(io) && active_msrs().hypercall_page_enabled()) return HandleHypercall();
  if (active_vtl_ == 0) return HandleVtl0Io(io);
  HandleIo(*shared_.vtl2_ports, io);
  StopForMachineEvents();
  return base::Ok();
}

base::Result<void> VpRunner::HandleMmioExit(const kvm::MmioExit& mmio) {
  shared_.group->NoteRunning(vtls_.vtl2->id());
  if (active_vtl_ == 0) return HandleVtl0Mmio(mmio);
  if (shared_.vtl2_pci != nullptr && HandlePciMmio(*shared_.vtl2_pci, mmio)) return base::Ok();
  Log("mmio %s 0x%llx (%u bytes): nothing mapped", mmio.is_write ? "write" : "read",
      static_cast<unsigned long long>(mmio.gpa), mmio.length);
  if (!mmio.is_write) active().CompleteMmioRead(kAllOnes8);
  return base::Ok();
}

base::Result<void> VpRunner::Fatal(const kvm::VcpuExit& exit, StopReason reason) {
  shared_.group->NoteRunning(vtls_.vtl2->id());
  // VTL0's failures are VTL2's to handle (HandleVtl0Fatal); VTL2's stop
  // the machine.
  if (active_vtl_ == 0 && reason != StopReason::kUnhandledExit) return HandleVtl0Fatal(exit);
  Stop(reason, kvm::DescribeExit(exit));
  return base::Ok();
}

std::pair<ExitProfile::Kind, uint64_t> VpRunner::ProfileKey(const kvm::VcpuExit& exit) const {
  using Kind = ExitProfile::Kind;
  if (const auto* io = std::get_if<kvm::IoExit>(&exit))
    return IsHypercallTrap(*io) ? std::pair{Kind::kHypercall, profile_detail_}
                                : std::pair{Kind::kIo, uint64_t{io->port}};
  if (const auto* mmio = std::get_if<kvm::MmioExit>(&exit))
    return {Kind::kMmio, mmio->gpa & ~uint64_t{base::kPageSize - 1}};
  if (const auto* rdmsr = std::get_if<kvm::RdMsrExit>(&exit)) return {Kind::kMsr, rdmsr->index};
  if (const auto* wrmsr = std::get_if<kvm::WrMsrExit>(&exit)) return {Kind::kMsr, wrmsr->index};
  if (std::holds_alternative<kvm::InterruptedExit>(exit)) return {Kind::kKick, 0};
  return {Kind::kOther, 0};
}

base::Result<void> VpRunner::RunLoop(const RunDeadline& deadline) {
  VcpuTicker ticker = TRY(VcpuTicker::Start(
      *vtls_.vtl2, vtls_.vtl0, vtls_.vtl0 != nullptr ? kVsmTick : VcpuTicker::kTick));
  ticker_ = &ticker;
  struct Forget {
    const VcpuTicker*& ticker;
    ~Forget() { ticker = nullptr; }
  } forget{ticker_};
  if (shared_.profile_exits && shared_.sample_period.count() > 0)
    TRY(ticker.StartSampling(shared_.sample_period));
  VpGroup& group = *shared_.group;
  for (;;) {
    if (group.stop_requested()) return base::Ok();
    if (deadline.expired()) {
      Stop(StopReason::kTimedOut, "");
      return base::Ok();
    }
    if (group.pause_requested()) {
      const bool parked = TRY(IsParked());
      if (!parked) group.NoteRunning(vtls_.vtl2->id());
      group.WaitInPause(parked);
      continue;
    }
    if (auto start = shared_.partition->TakeStart(vtls_.vtl2->id())) TRY(Start(*start));
    if (!shared_.profile_exits) {
      const kvm::VcpuExit exit = TRY(active().Run());
      ++exits_;
      TRY(Handle(exit));
      continue;
    }
    const uint8_t vtl = active_vtl_;
    const auto entered = std::chrono::steady_clock::now();
    VcpuTicker::MarkInRun(true);
    const kvm::VcpuExit exit = TRY(active().Run());
    VcpuTicker::MarkInRun(false);
    const auto exited = std::chrono::steady_clock::now();
    ++exits_;
    // Where the sample tick found this VP: the guest's RIP at this exit, or
    // the loader handling the previous one.
    const VcpuTicker::Sample sample = VcpuTicker::TakeSample();
    uint64_t rip = 0;
    if (sample == VcpuTicker::Sample::kGuest) {
      if (auto regs = active().GetRegs()) rip = regs->rip;
    }
    profile_detail_ = 0;
    TRY(Handle(exit));
    const auto handled = std::chrono::steady_clock::now();
    const auto [kind, detail] = ProfileKey(exit);
    const auto ns = [](auto d) {
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    };
    const uint64_t marks =
        shared_.profile_marks != nullptr ? shared_.profile_marks->load(std::memory_order_relaxed) : 0;
    const size_t window = static_cast<size_t>(std::min<uint64_t>(marks, kMaxProfileWindows - 1));
    if (profiles_.size() <= window) profiles_.resize(window + 1);
    profiles_[window].Record(vtl, kind, detail, ns(exited - entered), ns(handled - exited));
    if (sample != VcpuTicker::Sample::kNone)
      profiles_[window].Sample(vtl, sample == VcpuTicker::Sample::kLoader, rip);
  }
}

uint64_t VpRunner::Run(const RunDeadline& deadline) {
  auto ran = RunLoop(deadline);
  if (!ran) Stop(StopReason::kVcpuError, ran.error().message());
  return exits_;
}

std::string DumpVcpu(const kvm::Vcpu& vcpu) {
  auto regs = vcpu.GetRegs();
  auto sregs = vcpu.GetSregs();
  if (!regs || !sregs) return "(registers unavailable)\n";
  const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  const kvm_regs& r = *regs;
  const kvm_sregs& s = *sregs;
  std::string out = base::StringPrintf(
      "rip %016llx rflags %016llx rsp %016llx rbp %016llx\n"
      "rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
      "rsi %016llx rdi %016llx r8  %016llx r9  %016llx\n"
      "r10 %016llx r11 %016llx r12 %016llx r13 %016llx\n"
      "r14 %016llx r15 %016llx\n"
      "cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx\n",
      u(r.rip), u(r.rflags), u(r.rsp), u(r.rbp), u(r.rax), u(r.rbx), u(r.rcx), u(r.rdx), u(r.rsi),
      u(r.rdi), u(r.r8), u(r.r9), u(r.r10), u(r.r11), u(r.r12), u(r.r13), u(r.r14), u(r.r15),
      u(s.cr0), u(s.cr2), u(s.cr3), u(s.cr4), u(s.efer));
  const std::pair<const char*, const kvm_segment*> segments[] = {
      {"cs", &s.cs}, {"ds", &s.ds}, {"es", &s.es}, {"fs", &s.fs},
      {"gs", &s.gs}, {"ss", &s.ss}, {"tr", &s.tr}, {"ldt", &s.ldt}};
  for (const auto& [name, seg] : segments)
    out += base::StringPrintf(
        "%-3s sel %04x base %016llx limit %08x type %x s%u dpl%u p%u l%u db%u g%u%s\n", name,
        seg->selector, u(seg->base), seg->limit, seg->type, seg->s, seg->dpl, seg->present, seg->l,
        seg->db, seg->g, seg->unusable != 0 ? " unusable" : "");
  out += base::StringPrintf("gdt base %016llx limit %04x  idt base %016llx limit %04x\n",
                            u(s.gdt.base), s.gdt.limit, u(s.idt.base), s.idt.limit);
  return out;
}

}  // namespace loader
