#include "paravisor/vp_runner.h"

#include <sched.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/page.h"
#include "base/pc_layout.h"
#include "x86emu/emulator.h"
#include "x86emu/page_walk.h"

namespace hcl {
namespace {

constexpr uint8_t kUd = 6;   // SDM vol. 3A §6.15, Table 6-1
constexpr uint8_t kGp = 13;
constexpr size_t kRax = MSHV_VTL_GP_RAX;
// RSP's index among the register page's 16 GPRs (the run page keeps CR2
// there instead).
constexpr size_t kPageRsp = ::hv::reg::kRsp - ::hv::reg::kRax;

hv_register_assoc Assoc(uint32_t name, uint64_t low = 0, uint64_t high = 0) {
  hv_register_assoc assoc{};
  assoc.name = name;
  assoc.value.reg128.low_part = low;
  assoc.value.reg128.high_part = high;
  return assoc;
}

x86emu::SegmentRegister FromWire(const ::hv::SegmentWire& wire) {
  return {wire.base, wire.limit, wire.selector, wire.attributes};
}

x86emu::SegmentRegister FromAssoc(const hv_register_assoc& assoc) {
  const uint64_t high = assoc.value.reg128.high_part;
  return {assoc.value.reg128.low_part, static_cast<uint32_t>(high),
          static_cast<uint16_t>(high >> 32), static_cast<uint16_t>(high >> 48)};
}

}  // namespace

// The one access an intercept reported: emulation may perform that one
// and no other device access (issue 9: the instruction is fetched again
// after the exit, and another VP may have rewritten it since). An MMIO
// intercept binds the page and, for a write, the direction (a read may be
// followed by a write to the same page: read-modify-write); a string I/O
// intercept binds the port and direction. The hardware checked CPL
// against IOPL and the TSS I/O bitmap for that port before it exited
// (SDM vol. 3C §26.1.1, AMD APM vol. 2 §15.10.2), so an emulation held to
// the same port needs no second check.
struct BoundAccess {
  enum class Kind { kMmio, kPort };
  Kind kind = Kind::kMmio;
  bool write = false;
  uint64_t mmio_page = 0;  // kMmio
  uint16_t port = 0;       // kPort
};

namespace {

// x86emu's view of VTL0 at an intercept: the shared registers from the run
// page, RIP/RFLAGS/CS from the message, the rest fetched from the
// hypervisor once (one MSHV_GET_VP_REGISTERS), writes collected and
// committed by Commit. RAM goes through the VTL0 gate (Vtl0Memory);
// device accesses must match `bound`, else mismatch() is set and the
// emulation fails without a device access.
class InterceptCpu final : public x86emu::X86Cpu {
 public:
  // `page`: the register page holding this entry's registers, or null.
  InterceptCpu(const VtlDriver& mshv, mshv_vtl_run& run, ::hv::VpRegisterPage* page,
               const ::hv::InterceptHeader& header, Vtl0Memory& memory, Vtl0Devices& devices,
               BoundAccess bound, std::function<bool(uint64_t)> is_vtl2)
      : mshv_(mshv),
        run_(run),
        page_(page),
        header_(header),
        memory_(memory),
        devices_(devices),
        bound_(bound),
        is_vtl2_(std::move(is_vtl2)),
        rip_(header.rip),
        rflags_(header.rflags) {}

  base::Result<void> Fetch() {
    if (page_ != nullptr) {
      namespace seg = ::hv::register_page_segment;
      rsp_ = page_->gprs[kPageRsp];
      es_ = FromWire(page_->segments[seg::kEs]);
      ss_ = FromWire(page_->segments[seg::kSs]);
      ds_ = FromWire(page_->segments[seg::kDs]);
      fs_ = FromWire(page_->segments[seg::kFs]);
      gs_ = FromWire(page_->segments[seg::kGs]);
      cr_.cr0 = page_->cr0;
      cr_.cr3 = page_->cr3;
      cr_.cr4 = page_->cr4;
      cr_.efer = page_->efer;
      return base::Ok();
    }
    std::array registers = {Assoc(::hv::reg::kRsp),     Assoc(::hv::reg::kEs),
                            Assoc(::hv::reg::kSs),      Assoc(::hv::reg::kDs),
                            Assoc(::hv::reg::kFs),      Assoc(::hv::reg::kGs),
                            Assoc(::hv::reg::kCr0),     Assoc(::hv::reg::kCr3),
                            Assoc(::hv::reg::kCr4),     Assoc(::hv::reg::kEfer)};
    TRY(mshv_.GetRegisters(registers));
    rsp_ = registers[0].value.reg128.low_part;
    es_ = FromAssoc(registers[1]);
    ss_ = FromAssoc(registers[2]);
    ds_ = FromAssoc(registers[3]);
    fs_ = FromAssoc(registers[4]);
    gs_ = FromAssoc(registers[5]);
    cr_.cr0 = registers[6].value.reg128.low_part;
    cr_.cr3 = registers[7].value.reg128.low_part;
    cr_.cr4 = registers[8].value.reg128.low_part;
    cr_.efer = registers[9].value.reg128.low_part;
    return base::Ok();
  }

  base::Result<void> Commit() {
    if (page_ != nullptr) {
      namespace rc = ::hv::register_class;
      page_->rip = rip_;
      page_->dirty |= rc::kIp;
      if (rflags_ != header_.rflags) {
        page_->rflags = rflags_;
        page_->dirty |= rc::kFlags;
      }
      if (rsp_dirty_) {
        // The class is all 16 registers: the shared ones as the run page
        // has them now (the emulation may have written some), RSP ours.
        for (size_t i = 0; i < std::size(page_->gprs); ++i)
          page_->gprs[i] = i == kPageRsp ? rsp_ : run_.cpu_context.gp_regs[i];
        page_->dirty |= rc::kGeneral;
      }
      return base::Ok();
    }
    std::array<hv_register_assoc, 3> writes{};
    size_t n = 0;
    writes[n++] = Assoc(::hv::reg::kRip, rip_);
    if (rflags_ != header_.rflags) writes[n++] = Assoc(::hv::reg::kRflags, rflags_);
    if (rsp_dirty_) writes[n++] = Assoc(::hv::reg::kRsp, rsp_);
    return mshv_.SetRegisters(std::span(writes.data(), n));
  }

  uint64_t gpr(x86emu::Gpr reg) const override {
    const auto index = static_cast<size_t>(reg);
    // The run page keeps CR2 where RSP would be (uapi/mshv.h).
    if (reg == x86emu::Gpr::kRsp) return rsp_;
    return run_.cpu_context.gp_regs[index];
  }
  void set_gpr(x86emu::Gpr reg, uint64_t value) override {
    if (reg == x86emu::Gpr::kRsp) {
      rsp_ = value;
      rsp_dirty_ = true;
      return;
    }
    run_.cpu_context.gp_regs[static_cast<size_t>(reg)] = value;
  }
  uint64_t rip() const override { return rip_; }
  void set_rip(uint64_t value) override { rip_ = value; }
  uint64_t rflags() const override { return rflags_; }
  void set_rflags(uint64_t value) override { rflags_ = value; }
  x86emu::SegmentRegister segment(x86emu::Segment seg) const override {
    switch (seg) {
      case x86emu::Segment::kCs: return FromWire(header_.cs);
      case x86emu::Segment::kEs: return es_;
      case x86emu::Segment::kSs: return ss_;
      case x86emu::Segment::kDs: return ds_;
      case x86emu::Segment::kFs: return fs_;
      case x86emu::Segment::kGs: return gs_;
    }
    return {};
  }
  x86emu::ControlRegisters control_registers() const override { return cr_; }
  base::Result<void> ReadPhys(mem::Gpa gpa, std::span<std::byte> out) override {
    return memory_.Read(gpa, out);
  }
  base::Result<void> WritePhys(mem::Gpa gpa, std::span<const std::byte> in) override {
    return memory_.Write(gpa, in);
  }
  bool IsMmio(mem::Gpa gpa) const override {
    const uint64_t page = base::PageBase(mem::ToU64(gpa));
    return (bound_.kind == BoundAccess::Kind::kMmio && page == bound_.mmio_page) ||
           !memory_.Contains(mem::ToU64(gpa), 1);
  }
  base::Result<void> MmioRead(mem::Gpa gpa, std::span<std::byte> out) override {
    if (is_vtl2_(mem::ToU64(gpa))) return base::Error("VTL2 memory");
    TRY(CheckMmio(gpa, out.size(), /*write=*/false));
    if (devices_.MmioRead(mem::ToU64(gpa), out)) return base::Ok();
    // No device: reads float high, as on a PC bus with nothing decoding.
    for (std::byte& b : out) b = std::byte{0xFF};
    return base::Ok();
  }
  base::Result<void> MmioWrite(mem::Gpa gpa, std::span<const std::byte> in) override {
    if (is_vtl2_(mem::ToU64(gpa))) return base::Error("VTL2 memory");
    TRY(CheckMmio(gpa, in.size(), /*write=*/true));
    (void)devices_.MmioWrite(mem::ToU64(gpa), in);
    return base::Ok();
  }
  base::Result<void> IoIn(uint16_t port, std::span<std::byte> out) override {
    TRY(CheckPort(port, /*write=*/false));
    if (!devices_.ports().Read(port, out))
      for (std::byte& b : out) b = std::byte{0xFF};
    return base::Ok();
  }
  base::Result<void> IoOut(uint16_t port, std::span<const std::byte> in) override {
    TRY(CheckPort(port, /*write=*/true));
    (void)devices_.ports().Write(port, in);
    return base::Ok();
  }
  // The emulated instruction was not the intercepted access.
  bool mismatch() const { return mismatch_; }

  // The instruction bytes at CS:RIP (up to 15, SDM vol. 2 §2.3.11),
  // stopping at a page VTL0 cannot execute or that is not its RAM.
  base::Result<std::vector<std::byte>> FetchInstruction() {
    std::vector<std::byte> bytes;
    uint64_t linear = header_.cs.base + rip_;
    const x86emu::PagingState paging = x86emu::PagingState::FromCpu(*this);
    while (bytes.size() < 15) {
      const auto translation =
          TRY(x86emu::TranslateGva(*this, paging, x86emu::Gva{linear}, x86emu::Access::kExecute));
      const auto* gpa = std::get_if<mem::Gpa>(&translation);
      if (gpa == nullptr) break;
      const uint64_t in_page = base::kPageSize - base::PageOffset(linear);
      const size_t take = static_cast<size_t>(std::min<uint64_t>(in_page, 15 - bytes.size()));
      std::vector<std::byte> chunk(take);
      if (!memory_.Read(*gpa, chunk)) break;
      bytes.insert(bytes.end(), chunk.begin(), chunk.end());
      linear += take;
    }
    return bytes;
  }

 private:
  base::Result<void> Mismatch(const char* what) {
    mismatch_ = true;
    return base::Error(what);
  }
  base::Result<void> CheckMmio(mem::Gpa gpa, size_t size, bool write) {
    const uint64_t first = base::PageBase(mem::ToU64(gpa));
    const uint64_t last = base::PageBase(mem::ToU64(gpa) + (size == 0 ? 0 : size - 1));
    if (bound_.kind != BoundAccess::Kind::kMmio || first != bound_.mmio_page ||
        last != bound_.mmio_page)
      return Mismatch("device access outside the intercepted page");
    if (bound_.write && !write) return Mismatch("read of a page intercepted for a write");
    return base::Ok();
  }
  base::Result<void> CheckPort(uint16_t port, bool write) {
    if (bound_.kind != BoundAccess::Kind::kPort || port != bound_.port || write != bound_.write)
      return Mismatch("port access other than the intercepted one");
    return base::Ok();
  }

  const VtlDriver& mshv_;
  mshv_vtl_run& run_;
  ::hv::VpRegisterPage* page_;
  const ::hv::InterceptHeader& header_;
  Vtl0Memory& memory_;
  Vtl0Devices& devices_;
  BoundAccess bound_;
  bool mismatch_ = false;
  std::function<bool(uint64_t)> is_vtl2_;
  uint64_t rip_;
  uint64_t rflags_;
  uint64_t rsp_ = 0;
  bool rsp_dirty_ = false;
  x86emu::SegmentRegister es_, ss_, ds_, fs_, gs_;
  x86emu::ControlRegisters cr_;
};

}  // namespace

bool VpRunner::IsVtl2Memory(uint64_t gpa) const {
  return gpa < memory_.end() && !memory_.Contains(gpa, 1) && !base::InPcLegacyHole(gpa);
}

::hv::VpRegisterPage* VpRunner::ValidRegisterPage() const {
  if (register_page_ == nullptr || register_page_->version != ::hv::VpRegisterPage::kVersion ||
      register_page_->is_valid == 0)
    return nullptr;
  return register_page_;
}

base::Result<void> VpRunner::AdvanceRip(const ::hv::InterceptHeader& header) {
  const uint64_t length = header.instruction_length_cr8 & 0xF;
  if (::hv::VpRegisterPage* page = ValidRegisterPage()) {
    page->rip = header.rip + length;
    page->dirty |= ::hv::register_class::kIp;
    return base::Ok();
  }
  const std::array registers = {Assoc(::hv::reg::kRip, header.rip + length)};
  return mshv_.SetRegisters(registers);
}

base::Result<void> VpRunner::InjectException(uint8_t vector, std::optional<uint32_t> error_code,
                                             uint64_t cr2) {
  ++stats_.faults;
  const ::hv::RegisterValue event =
      ::hv::PendingException(vector, error_code.has_value(), error_code.value_or(0), cr2);
  const std::array registers = {Assoc(::hv::reg::kPendingEvent0, event.low, event.high)};
  return mshv_.SetRegisters(registers);
}

base::Result<void> VpRunner::Emulate(const ::hv::InterceptHeader& header, BoundAccess bound) {
  InterceptCpu cpu(mshv_, *run_, ValidRegisterPage(), header, memory_, devices_, bound,
                   [this](uint64_t gpa) { return IsVtl2Memory(gpa); });
  TRY(cpu.Fetch());
  const std::vector<std::byte> bytes = TRY(cpu.FetchInstruction());
  if (trace_) {
    std::string hex;
    for (std::byte b : bytes) hex += " " + std::to_string(std::to_integer<unsigned>(b));
    std::fprintf(stderr, "hcl: vp%u: emulate at %#llx gpa %#llx%s bytes%s\n", cpu_,
                 static_cast<unsigned long long>(header.rip),
                 static_cast<unsigned long long>(bound.kind == BoundAccess::Kind::kMmio
                                                     ? bound.mmio_page
                                                     : bound.port),
                 header.intercept_access == ::hv::kAccessWrite ? " write" : " read", hex.c_str());
  }
  auto completion = x86emu::Emulate(cpu, bytes);
  if (!completion && cpu.mismatch()) {
    // What is at RIP now is not what exited (rewritten since, or another
    // access first): no device was touched; VTL0 runs the instruction
    // again and the hardware reports what it really does.
    log_.Print(log_prefix_, "VTL0 at %#llx: %s: retried",
               static_cast<unsigned long long>(header.rip),
               completion.error().message().c_str());
    return base::Ok();
  }
  if (!completion) {
    // A refused access (VTL2's memory) or an instruction we cannot fetch:
    // VTL0 gets #GP and its registers stay as they were.
    log_.Print(log_prefix_, "VTL0 at %#llx: %s: #GP",
               static_cast<unsigned long long>(header.rip),
               completion.error().message().c_str());
    return InjectException(kGp, 0, 0);
  }
  if (const auto* fault = std::get_if<x86emu::InjectException>(&*completion)) {
    log_.Print(log_prefix_, "VTL0 at %#llx: %s",
               static_cast<unsigned long long>(header.rip), fault->reason.c_str());
    return InjectException(static_cast<uint8_t>(fault->vector), fault->error_code, fault->cr2);
  }
  return cpu.Commit();
}

base::Result<void> VpRunner::HandleIoPort(const ::hv::IoPortIntercept& message) {
  ++stats_.io;
  if ((message.access_info & ::hv::kIoString) != 0)
    return Emulate(message.header,
                   BoundAccess{BoundAccess::Kind::kPort,
                               message.header.intercept_access == ::hv::kAccessWrite, 0,
                               message.port});
  const size_t size = message.access_info & 7;
  if (size != 1 && size != 2 && size != 4) return InjectException(kGp, 0, 0);
  std::array<std::byte, 4> data{};
  __u64& rax = Gpr(kRax);
  if (message.header.intercept_access == ::hv::kAccessWrite) {
    std::memcpy(data.data(), &rax, size);
    (void)devices_.ports().Write(message.port, std::span(data.data(), size));
  } else {
    if (!devices_.ports().Read(message.port, std::span(data.data(), size)))
      data.fill(std::byte{0xFF});
    uint32_t value = 0;
    std::memcpy(&value, data.data(), size);
    // SDM vol. 1 §3.4.1.1: a 32-bit result zero-extends into RAX; 8 and
    // 16-bit results leave the upper bits.
    if (size == 4) rax = value;
    else if (size == 2) rax = (rax & ~uint64_t{0xFFFF}) | value;
    else rax = (rax & ~uint64_t{0xFF}) | value;
  }
  return AdvanceRip(message.header);
}

base::Result<void> VpRunner::HandleMemory(const ::hv::MemoryIntercept& message) {
  ++stats_.mmio;
  if ((message.memory_access_info & ::hv::kMemoryAccessWriteCompleted) != 0) {
    // hcl-loader reports a store KVM already executed (hvdef.h): only the
    // device write is left; RIP is already past the instruction.
    const uint64_t gpa = message.guest_physical_address;
    const size_t length = std::min<size_t>(message.instruction_byte_count, 8);
    const auto data = std::as_bytes(std::span(message.instruction_bytes, length));
    if (trace_)
      std::fprintf(stderr, "hcl: vp%u: store of %zu bytes at gpa %#llx\n", cpu_, length,
                   static_cast<unsigned long long>(gpa));
    if (IsVtl2Memory(gpa)) return InjectException(kGp, 0, 0);
    (void)devices_.MmioWrite(gpa, data);
    return base::Ok();
  }
  if (message.header.intercept_access == ::hv::kAccessExecute) {
    // VTL0 jumped to memory that is not its RAM (VTL2's, or nothing):
    // there is no instruction to emulate; the fault stays in VTL0.
    log_.Print(log_prefix_, "VTL0 at %#llx: instruction fetch from %#llx: #GP",
               static_cast<unsigned long long>(message.header.rip),
               static_cast<unsigned long long>(message.guest_physical_address));
    return InjectException(kGp, 0, 0);
  }
  return Emulate(message.header,
                 BoundAccess{BoundAccess::Kind::kMmio,
                             message.header.intercept_access == ::hv::kAccessWrite,
                             base::PageBase(message.guest_physical_address), 0});
}

base::Result<void> VpRunner::HandleHypercall(const ::hv::HypercallIntercept& message) {
  ++stats_.hypercall;
  // TLFS "Hypercall Interface": hypercalls from CPL > 0 raise #UD.
  if ((message.header.execution_state & 3) != 0) return InjectException(kUd, std::nullopt, 0);
  // TLFS "Hypercall Inputs": a 64-bit caller (EFER.LMA and CS.L) passes
  // the input value in RCX and the input GPA (or fast data) in RDX, and
  // gets the result in RAX; a 32-bit caller uses EDX:EAX for the value
  // and the result, EBX:ECX for the GPA (review finding 19).
  constexpr uint16_t kExecutionStateLma = 1u << 4;
  constexpr uint16_t kCsLong = 1u << 13;  // VMX access rights, L
  const bool long_mode = (message.header.execution_state & kExecutionStateLma) != 0 &&
                         (message.header.cs.attributes & kCsLong) != 0;
  const uint64_t control =
      long_mode ? message.rcx : (message.rdx << 32) | (message.rax & 0xFFFFFFFFu);
  const uint64_t input = long_mode ? message.rdx : (message.rbx << 32) | (message.rcx & 0xFFFFFFFFu);
  const auto code = static_cast<::hv::CallCode>(control & 0xFFFF);
  const bool fast = (control >> 16) & 1;
  ::hv::Status status = ::hv::Status::kInvalidHypercallCode;
  if (code == ::hv::CallCode::kPostMessage && !fast)
    status = vmbus_.PostMessage(memory_, input);
  else if (code == ::hv::CallCode::kSignalEvent && fast)
    status = vmbus_.SignalEvent(input);
  else if (code == ::hv::CallCode::kPostMessage || code == ::hv::CallCode::kSignalEvent)
    status = ::hv::Status::kInvalidHypercallInput;
  // The result: status in bits 0-15, reps completed 32-43 (none here).
  const auto result = static_cast<uint64_t>(status);
  if (long_mode) {
    Gpr(kRax) = result;
  } else {
    Gpr(kRax) = result & 0xFFFFFFFFu;
    Gpr(MSHV_VTL_GP_RDX) = result >> 32;
  }
  return AdvanceRip(message.header);
}

base::Result<void> VpRunner::HandleExit() {
  if (run_ == nullptr) return base::Error("HandleExit before Prepare");
  ::hv::MessageHeader header;
  std::memcpy(&header, run_->exit_message, sizeof header);
  const std::byte* payload = reinterpret_cast<const std::byte*>(run_->exit_message) + sizeof header;
  // Copy out of the run page before anything else (no double fetch).
  auto load = [&](auto& message) { std::memcpy(&message, payload, sizeof message); };
  switch (header.type) {
    case ::hv::message::kIoPortIntercept: {
      ::hv::IoPortIntercept message;
      load(message);
      return HandleIoPort(message);
    }
    case ::hv::message::kUnmappedGpa: {
      ::hv::MemoryIntercept message;
      load(message);
      return HandleMemory(message);
    }
    case ::hv::message::kGpaIntercept: {
      // VTL0 broke a protection VTL2 set (HvCallModifyVtlProtectionMask):
      // it gets #GP, and nothing is read or written.
      ::hv::MemoryIntercept message;
      load(message);
      ++stats_.mmio;
      log_.Print(log_prefix_, "VTL0 at %#llx: protected page %#llx: #GP",
                 static_cast<unsigned long long>(message.header.rip),
                 static_cast<unsigned long long>(message.guest_physical_address));
      return InjectException(kGp, 0, 0);
    }
    case ::hv::message::kMsrIntercept:
      ++stats_.msr;
      return InjectException(kGp, 0, 0);
    case ::hv::message::kUnrecoverableException: {
      ::hv::InterceptHeader message;
      load(message);
      char reason[96];
      std::snprintf(reason, sizeof reason, "unrecoverable exception on vp%u at rip %#llx", cpu_,
                    static_cast<unsigned long long>(message.rip));
      if (on_vtl0_fatal_) on_vtl0_fatal_(reason);
      return base::Error(reason);
    }
    case ::hv::message::kHypercallIntercept: {
      ::hv::HypercallIntercept message;
      load(message);
      return HandleHypercall(message);
    }
    default:
      log_.Print(log_prefix_, "unexpected message type %#x", header.type);
      return base::Ok();
  }
}

base::Result<void> VpRunner::Run(
    const std::function<base::Result<void>(uint64_t rsi)>& before_vtl0) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu_, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0)
    return base::Error::FromErrno("sched_setaffinity", errno);
  TRY(Prepare());
  if (before_vtl0) TRY(before_vtl0(run_->cpu_context.gp_regs[MSHV_VTL_GP_RSI]));
  for (;;) {
    if (!TRY(mshv_.ReturnToLowerVtl())) continue;  // a signal: go back in
    TRY(HandleExit());
  }
}

base::Result<void> VpRunner::Prepare() {
  run_ = TRY(mshv_.MapRunPage(cpu_));
  // Without a register page every completed intercept is a hypercall.
  if (auto page = mshv_.MapRegisterPage(cpu_)) register_page_ = *page;
  // The general registers are shared between VTLs and live in the run
  // page while VTL2 runs: start from the state the hypervisor gave VTL0
  // (a boot protocol's RSI, say).
  std::array<hv_register_assoc, MSHV_VTL_GP_COUNT> gprs{};
  for (size_t i = 0; i < gprs.size(); ++i)
    gprs[i] = Assoc(i == MSHV_VTL_GP_CR2 ? ::hv::reg::kCr2 : ::hv::reg::kRax + static_cast<uint32_t>(i));
  TRY(mshv_.GetRegisters(gprs));
  for (size_t i = 0; i < gprs.size(); ++i)
    run_->cpu_context.gp_regs[i] = gprs[i].value.reg128.low_part;
  return base::Ok();
}

}  // namespace hcl
