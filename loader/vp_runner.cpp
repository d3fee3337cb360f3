#include "vp_runner.h"

#include <array>
#include <cstdarg>
#include <cstdio>

#include "base/string_printf.h"
#include "hv/hypercall_page.h"

namespace loader {
namespace {

constexpr uint64_t kRflagsIf = 1u << 9;  // SDM vol. 1 §3.4.3
constexpr uint64_t kEferLma = 1u << 10;  // SDM vol. 3A §2.2.1

bool IsHypercallTrap(const kvm::IoExit& io) {
  return io.port == hv::kHypercallPort && io.direction == kvm::IoDirection::kOut && io.count == 1;
}

}  // namespace

void VpRunner::Log(const char* fmt, ...) {
  if (log_lines_ > kMaxLogLines) return;
  if (log_lines_++ == kMaxLogLines) {
    std::fprintf(stderr, "hcl-loader: vp%u: further guest events not logged\n", vcpu_.id());
    return;
  }
  va_list args;
  va_start(args, fmt);
  const std::string line = base::StringPrintfV(fmt, args);
  va_end(args);
  std::fprintf(stderr, "hcl-loader: vp%u: %s\n", vcpu_.id(), line.c_str());
}

void VpRunner::HandleIo(const kvm::IoExit& io) {
  for (uint32_t i = 0; i < io.count; ++i) {
    const auto element = io.data.subspan(size_t{i} * io.size, io.size);
    const bool claimed = io.direction == kvm::IoDirection::kOut ? ports_.Write(io.port, element)
                                                                : ports_.Read(io.port, element);
    if (!claimed)
      Log("%s port 0x%x (%u bytes): no device", io.direction == kvm::IoDirection::kOut ? "out" : "in",
          io.port, io.size);
  }
}

void VpRunner::Stop(StopReason reason, std::string detail) {
  group_.RequestStop(MachineStop{reason, vcpu_.id(), std::move(detail)});
}

base::Result<void> VpRunner::HandleHypercall() {
  // api.rst, KVM_EXIT_IO / immediate_exit: an exit's instruction is only
  // complete, and the registers consistent, once KVM_RUN is entered again;
  // with immediate_exit set KVM finishes the OUT (RIP moves past it) and
  // returns EINTR without running the guest (hyperv-vmbus.md §1.4).
  vcpu_.RequestImmediateExit();
  const kvm::VcpuExit completion = TRY(vcpu_.Run());
  vcpu_.ClearImmediateExit();
  if (!std::holds_alternative<kvm::InterruptedExit>(completion)) {
    Stop(StopReason::kUnhandledExit,
         "completing the hypercall trap: " + kvm::DescribeExit(completion));
    return base::Ok();
  }
  kvm_regs regs = TRY(vcpu_.GetRegs());
  // TLFS "Hypercall Inputs": 64-bit callers (EFER.LMA and CS.L) pass the
  // input value in RCX and get the result in RAX; 32-bit callers use
  // EDX:EAX for both.
  const kvm_sregs sregs = TRY(vcpu_.GetSregs());
  const bool long_mode = (sregs.efer & kEferLma) != 0 && sregs.cs.l != 0;
  const uint64_t value = long_mode ? regs.rcx : (regs.rdx << 32) | (regs.rax & 0xFFFFFFFFu);
  const hv::HypercallInput input = hv::DecodeHypercallInput(value);
  const uint64_t result = hv::DispatchHypercall(input);
  if ((result & 0xFFFF) != hv::kStatusSuccess)
    Log("hypercall 0x%x (input 0x%llx): status 0x%llx", input.code,
        static_cast<unsigned long long>(value), static_cast<unsigned long long>(result & 0xFFFF));
  if (long_mode) {
    regs.rax = result;
  } else {
    regs.rax = result & 0xFFFFFFFFu;
    regs.rdx = result >> 32;
  }
  TRY(vcpu_.SetRegs(regs));
  return base::Ok();
}

base::Result<bool> VpRunner::IsParked() const {
  // api.rst 4.38: a vCPU blocked in HLT under the in-kernel irqchip
  // reports KVM_MP_STATE_HALTED; an AP not yet started by INIT/SIPI,
  // UNINITIALIZED or INIT_RECEIVED (KVM_GET_MP_STATE first accepts any
  // INIT/SIPI already latched in its LAPIC).
  switch (TRY(vcpu_.GetMpState())) {
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_INIT_RECEIVED:
      return true;
    case KVM_MP_STATE_HALTED:
      return (TRY(vcpu_.GetRegs()).rflags & kRflagsIf) == 0;
    default:
      return false;
  }
}

base::Result<void> VpRunner::Handle(const kvm::VcpuExit& exit) {
  if (std::holds_alternative<kvm::InterruptedExit>(exit)) {
    // A kick (VcpuTicker's tick, or another VP's stop).
    vcpu_.ClearImmediateExit();
    if (TRY(IsParked()))
      group_.NoteParked(vcpu_.id());
    else
      group_.NoteRunning(vcpu_.id());
    return base::Ok();
  }
  group_.NoteRunning(vcpu_.id());
  // Without an enabled hypercall page, hv::kHypercallPort is an ordinary
  // unclaimed port.
  if (const auto* io = std::get_if<kvm::IoExit>(&exit);
      io != nullptr && IsHypercallTrap(*io) && msrs_.hypercall_page_enabled()) {
    TRY(HandleHypercall());
  } else if (io != nullptr) {
    HandleIo(*io);
    if (events_.power_off_requested()) Stop(StopReason::kPoweredOff, "");
  } else if (const auto* mmio = std::get_if<kvm::MmioExit>(&exit)) {
    Log("mmio %s 0x%llx (%u bytes): nothing mapped", mmio->is_write ? "write" : "read",
        static_cast<unsigned long long>(mmio->gpa), mmio->length);
    if (!mmio->is_write) {
      const std::array<std::byte, 8> ones{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                          std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                          std::byte{0xFF}, std::byte{0xFF}};
      vcpu_.CompleteMmioRead(ones);
    }
  } else if (std::holds_alternative<kvm::HltExit>(exit)) {
    // Only without the in-kernel irqchip (HLT exits only then; the loader
    // always creates one): nothing can wake this VP.
    const kvm_regs regs = TRY(vcpu_.GetRegs());
    Stop((regs.rflags & kRflagsIf) == 0 ? StopReason::kHalted : StopReason::kHaltedInterruptible,
         kvm::DescribeExit(exit));
  } else if (std::holds_alternative<kvm::ShutdownExit>(exit)) {
    Stop(StopReason::kTripleFault, kvm::DescribeExit(exit));
  } else if (const auto* rdmsr = std::get_if<kvm::RdMsrExit>(&exit)) {
    // The Hyper-V synthetic MSRs (hyperv-vmbus.md §1.2, hv/synthetic_msrs.h).
    auto value = msrs_.Read(rdmsr->index);
    if (value) {
      vcpu_.CompleteMsr(*value);
    } else {
      Log("rdmsr 0x%x: %s: #GP", rdmsr->index, value.error().message().c_str());
      vcpu_.FailMsr();
    }
  } else if (const auto* wrmsr = std::get_if<kvm::WrMsrExit>(&exit)) {
    auto written = msrs_.Write(wrmsr->index, wrmsr->data);
    if (written) {
      vcpu_.CompleteMsr(0);
    } else {
      Log("wrmsr 0x%x <- 0x%llx: %s: #GP", wrmsr->index,
          static_cast<unsigned long long>(wrmsr->data), written.error().message().c_str());
      vcpu_.FailMsr();
    }
  } else if (std::holds_alternative<kvm::InternalErrorExit>(exit)) {
    Stop(StopReason::kInternalError, kvm::DescribeExit(exit));
  } else if (std::holds_alternative<kvm::FailEntryExit>(exit)) {
    Stop(StopReason::kFailEntry, kvm::DescribeExit(exit));
  } else {
    Stop(StopReason::kUnhandledExit, kvm::DescribeExit(exit));
  }
  return base::Ok();
}

base::Result<void> VpRunner::RunLoop(const RunDeadline& deadline) {
  const VcpuTicker ticker = TRY(VcpuTicker::Start(vcpu_));
  for (;;) {
    if (group_.stop_requested()) return base::Ok();
    if (deadline.expired()) {
      Stop(StopReason::kTimedOut, "");
      return base::Ok();
    }
    if (group_.pause_requested()) {
      const bool parked = TRY(IsParked());
      if (!parked) group_.NoteRunning(vcpu_.id());
      group_.WaitInPause(parked);
      continue;
    }
    const kvm::VcpuExit exit = TRY(vcpu_.Run());
    ++exits_;
    TRY(Handle(exit));
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
