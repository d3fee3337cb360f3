// kvm-probe: does /dev/kvm run a 64-bit guest, exit to user space the way
// hcl-loader needs, and do it at usable speed?
//
//   kvm-probe smoke [--iterations N] [--timeout-ms N]
//   kvm-probe speed [--budget-ms N] [--iterations N]
//   kvm-probe [MODE] --help     (every option explained; N is 1 to 2^32 - 1)
//
// Both modes create one VM with one vCPU over 2 MiB of guest RAM, map it
// 1:1 with a single 2 MiB page, and enter 64-bit mode directly through
// KVM_SET_SREGS (no real-mode trampoline). The guest is a few hand-assembled
// instructions (see Assembler below).
//
// smoke: enables KVM_CAP_X86_USER_SPACE_MSR (filter exits only) and a
//   KVM_X86_SET_MSR_FILTER that denies 0x40000000-0x400001FF, the Hyper-V
//   synthetic MSR range (DESIGN.md, "The VTL2 interface"). The guest does
//   `rdmsr 0x40000001`, stores EDX:EAX to RAM, runs N iterations (default 10
//   million) of a 64-bit LCG step, writes the result to port 0xE9 as two
//   dwords and halts. The probe answers the RDMSR exit, then checks RAM and
//   the port bytes against its own computation.
//   Exit 0 when all of that held, 1 otherwise (including KVM missing).
// speed: runs N iterations (default 10 million) of `dec ecx; jnz` and stops
//   the vCPU when the budget (default 1000 ms) runs out: a timer signal
//   (loader::VcpuTicker) interrupts KVM_RUN and immediate_exit covers the
//   race with entry.
//   Exit 0 within budget, 3 too slow, 2 KVM missing or unusable.
//
// Bad arguments (checked by CLI11): one line on stderr, exit 64.
//
// Output: exactly one line on stdout, starting "kvm-probe: ". A wall-clock
// watchdog bounds every phase, so a KVM that emulates each instruction
// (ENVIRONMENT.md: kvm_pvm, ~1.5 us per instruction) cannot hang a caller.
//
// Built on hcl-loader's KVM library (loader/kvm: KvmSystem, Vm, Vcpu,
// GuestRam, VcpuExit; loader/run_deadline.h) and vmm-core, for the host,
// and linked -static, so carrier-run can copy this one file into the
// carrier VM's initramfs.

#include <linux/kvm.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

// g++ 12 reports a "potential null pointer dereference" inside std::string
// as CLI11 (header-only) is inlined here: a false positive of
// -Wnull-dereference at -O2 (as in loader/cli_options.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include "base/le_bytes.h"
#include "base/result.h"
#include "base/string_printf.h"
#include "hv/hvdef.h"
#include "kvm/exit.h"
#include "kvm/guest_ram.h"
#include "kvm/system.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "mem/guest_memory.h"
#include "run_deadline.h"

namespace {

using base::Error;
using base::Result;
using mem::Gpa;

// ---------------------------------------------------------------------------
// Guest layout. One 2 MiB page covers all of it.

constexpr std::uint64_t kGuestRamBytes = 2 * 1024 * 1024;
constexpr Gpa kPml4Gpa{0x1000};
constexpr Gpa kPdptGpa{0x2000};
constexpr Gpa kPdGpa{0x3000};
constexpr Gpa kGdtGpa{0x4000};
constexpr Gpa kCodeGpa{0x8000};
constexpr Gpa kMsrResultGpa{0x9000};  // EDX:EAX as one little-endian u64
constexpr Gpa kStackTopGpa{0x1ff000};

constexpr Gpa operator+(Gpa gpa, std::uint64_t offset) { return Gpa{mem::ToU64(gpa) + offset}; }

constexpr std::uint16_t kDebugPort = 0xe9;
constexpr std::uint32_t kProbedMsr = 0x40000001;  // HV_X64_MSR_HYPERCALL
constexpr std::uint64_t kMsrAnswer = 0x0badc0de'5eed1e55;

// Knuth's MMIX LCG: the smoke loop's arithmetic, checked against the host.
constexpr std::uint64_t kLcgSeed = 0x0123456789abcdef;
constexpr std::uint64_t kLcgMultiplier = 6364136223846793005u;
constexpr std::uint64_t kLcgIncrement = 1442695040888963407u;

constexpr std::uint32_t kDefaultIterations = 10'000'000;

// x86 page-table entry bits (SDM Vol. 3A §4.5, Table 4-15..4-19).
constexpr std::uint64_t kPtePresent = 1u << 0;
constexpr std::uint64_t kPteWritable = 1u << 1;
constexpr std::uint64_t kPteLargePage = 1u << 7;

// Control registers (SDM Vol. 3A §2.5) and EFER (§2.2.1).
constexpr std::uint64_t kCr0Pe = 1u << 0;
constexpr std::uint64_t kCr0Mp = 1u << 1;
constexpr std::uint64_t kCr0Et = 1u << 4;
constexpr std::uint64_t kCr0Ne = 1u << 5;
constexpr std::uint64_t kCr0Wp = 1u << 16;
constexpr std::uint64_t kCr0Pg = 1u << 31;
constexpr std::uint64_t kCr4Pae = 1u << 5;
constexpr std::uint64_t kEferLme = 1u << 8;
constexpr std::uint64_t kEferLma = 1u << 10;

// ---------------------------------------------------------------------------
// A tiny x86-64 assembler: exactly the instructions the two guests use.
// Encodings from SDM Vol. 2; comments give the Intel syntax.

class Assembler {
 public:
  // mov r32, imm32 (B8+rd id); zero-extends into the 64-bit register.
  void MovR32Imm32(std::uint8_t reg, std::uint32_t imm) {
    Byte(static_cast<std::uint8_t>(0xb8 + reg));
    Le(imm, 4);
  }
  // mov r64, imm64 (REX.W B8+rd io), registers 0-7 only.
  void MovR64Imm64(std::uint8_t reg, std::uint64_t imm) {
    Byte(0x48);
    Byte(static_cast<std::uint8_t>(0xb8 + reg));
    Le(imm, 8);
  }
  // mov dword [disp32], r32 (89 /r, ModRM mod=00 rm=100, SIB base=101 no
  // index); the address must be below 2 GiB (disp32 is sign-extended).
  void MovAbs32R32(Gpa address, std::uint8_t reg) {
    Byte(0x89);
    Byte(static_cast<std::uint8_t>(0x04 | (reg << 3)));
    Byte(0x25);
    Le(mem::ToU64(address), 4);
  }
  void Rdmsr() { Bytes({0x0f, 0x32}); }
  // imul r64, r/m64 (REX.W 0F AF /r).
  void ImulR64R64(std::uint8_t dst, std::uint8_t src) {
    Bytes({0x48, 0x0f, 0xaf, ModRmReg(dst, src)});
  }
  // add r/m64, r64 (REX.W 01 /r).
  void AddR64R64(std::uint8_t dst, std::uint8_t src) { Bytes({0x48, 0x01, ModRmReg(src, dst)}); }
  // dec r/m32 (FF /1).
  void DecR32(std::uint8_t reg) { Bytes({0xff, ModRmReg(1, reg)}); }
  // shr r/m64, imm8 (REX.W C1 /5 ib).
  void ShrR64Imm8(std::uint8_t reg, std::uint8_t imm) {
    Bytes({0x48, 0xc1, ModRmReg(5, reg), imm});
  }
  // out imm8, eax (E7 ib).
  void OutImm8Eax(std::uint8_t port) { Bytes({0xe7, port}); }
  void Hlt() { Byte(0xf4); }
  // jnz rel8 (75 cb) back to a label taken with here().
  void JnzBack(std::size_t target) {
    const auto rel =
        static_cast<std::ptrdiff_t>(target) - static_cast<std::ptrdiff_t>(code_.size() + 2);
    Bytes({0x75, static_cast<std::uint8_t>(static_cast<std::int8_t>(rel))});
  }

  std::size_t here() const { return code_.size(); }
  std::span<const std::byte> code() const { return code_; }

  static constexpr std::uint8_t kRax = 0, kRcx = 1, kRdx = 2, kRbx = 3, kRsi = 6;

 private:
  static std::uint8_t ModRmReg(std::uint8_t reg, std::uint8_t rm) {
    return static_cast<std::uint8_t>(0xc0 | (reg << 3) | rm);
  }
  void Byte(std::uint8_t b) { code_.push_back(std::byte{b}); }
  void Bytes(std::initializer_list<std::uint8_t> bytes) {
    for (auto b : bytes) Byte(b);
  }
  void Le(std::uint64_t value, int count) {
    for (int i = 0; i < count; ++i) Byte(static_cast<std::uint8_t>(value >> (8 * i)));
  }
  std::vector<std::byte> code_;
};

struct GuestProgram {
  std::vector<std::byte> code;
  std::uint64_t instruction_count;  // executed, not encoded
};

// rdmsr 0x40000001; store EDX:EAX; LCG loop; out result as two dwords; hlt.
GuestProgram SmokeProgram(std::uint32_t iterations) {
  using A = Assembler;
  A a;
  a.MovR32Imm32(A::kRcx, kProbedMsr);
  a.Rdmsr();
  a.MovAbs32R32(kMsrResultGpa, A::kRax);
  a.MovAbs32R32(kMsrResultGpa + 4, A::kRdx);
  a.MovR64Imm64(A::kRax, kLcgSeed);
  a.MovR64Imm64(A::kRbx, kLcgMultiplier);
  a.MovR64Imm64(A::kRsi, kLcgIncrement);
  a.MovR32Imm32(A::kRcx, iterations);
  const auto loop = a.here();
  a.ImulR64R64(A::kRax, A::kRbx);
  a.AddR64R64(A::kRax, A::kRsi);
  a.DecR32(A::kRcx);
  a.JnzBack(loop);
  a.OutImm8Eax(static_cast<std::uint8_t>(kDebugPort));
  a.ShrR64Imm8(A::kRax, 32);
  a.OutImm8Eax(static_cast<std::uint8_t>(kDebugPort));
  a.Hlt();
  const auto code = a.code();
  return {{code.begin(), code.end()}, 8 + 4ull * iterations + 4};
}

// mov ecx, N; 1: dec ecx; jnz 1b; hlt.
GuestProgram SpeedProgram(std::uint32_t iterations) {
  using A = Assembler;
  A a;
  a.MovR32Imm32(A::kRcx, iterations);
  const auto loop = a.here();
  a.DecR32(A::kRcx);
  a.JnzBack(loop);
  a.Hlt();
  const auto code = a.code();
  return {{code.begin(), code.end()}, 2 + 2ull * iterations};
}

std::uint64_t LcgResult(std::uint32_t iterations) {
  std::uint64_t x = kLcgSeed;
  for (std::uint32_t i = 0; i < iterations; ++i) x = x * kLcgMultiplier + kLcgIncrement;
  return x;
}

// ---------------------------------------------------------------------------
// Watchdog. One ITIMER_REAL and one SIGALRM handler that reports the phase
// that overran and ends the process: during setup a fire means an ioctl
// hung; during a run it means the vCPU did not stop one grace period after
// its deadline (the deadline itself stops the vCPU through
// loader::VcpuTicker's kick: the signal makes KVM_RUN return EINTR, and
// immediate_exit covers a kick that lands just before entry).

volatile sig_atomic_t g_phase_running = 0;
int g_setup_hung_exit_code = 1;
int g_vcpu_stuck_exit_code = 1;
const char* g_setup_hung_message = "kvm-probe: KVM setup hung\n";
const char* g_vcpu_stuck_message = "kvm-probe: vCPU did not stop\n";

constexpr auto kGracePeriod = std::chrono::seconds(2);

extern "C" void OnAlarm(int) {
  const char* message = g_phase_running ? g_vcpu_stuck_message : g_setup_hung_message;
  (void)!write(STDOUT_FILENO, message, std::strlen(message));
  _exit(g_phase_running ? g_vcpu_stuck_exit_code : g_setup_hung_exit_code);
}

Result<void> InstallWatchdog() {
  struct sigaction action {};
  action.sa_handler = OnAlarm;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGALRM, &action, nullptr) != 0) return Error::FromErrno("sigaction", errno);
  return loader::InstallKickHandler();
}

// One shot `after` from now (0: disarmed).
void ArmWatchdog(std::chrono::milliseconds after) {
  itimerval timer{};
  timer.it_value.tv_sec = static_cast<time_t>(after.count() / 1000);
  timer.it_value.tv_usec = static_cast<suseconds_t>((after.count() % 1000) * 1000);
  setitimer(ITIMER_REAL, &timer, nullptr);
}

// The run phase, for one scope: the watchdog fires one grace period after
// `deadline`; on every way out it is disarmed.
class RunPhase {
 public:
  explicit RunPhase(std::chrono::milliseconds deadline) {
    g_phase_running = 1;
    ArmWatchdog(deadline + kGracePeriod);
  }
  RunPhase(const RunPhase&) = delete;
  RunPhase& operator=(const RunPhase&) = delete;
  ~RunPhase() {
    ArmWatchdog(std::chrono::milliseconds(0));
    g_phase_running = 0;
  }
};

using base::StringPrintf;

// ---------------------------------------------------------------------------
// The VM: hcl-loader's KVM library over 2 MiB of guest RAM.

// The RAM outlives the VM (Vm::MapRam); members are destroyed in reverse.
struct Machine {
  kvm::KvmSystem system;
  kvm::GuestRam ram;
  mem::GuestMemory memory;  // over ram
  kvm::Vm vm;
  kvm::Vcpu vcpu;
};

enum class MsrExits { kNone, kHyperV };

// Page tables (PML4 -> PDPT -> PD with one 2 MiB page at 0) and a GDT with
// null, 64-bit code (0x08) and data (0x10) descriptors. The descriptor bytes
// mirror the segment registers set in EnterLongMode.
Result<void> BuildGuest(mem::GuestMemory& ram, const GuestProgram& program) {
  TRY(ram.WriteObj<std::uint64_t>(kPml4Gpa, mem::ToU64(kPdptGpa) | kPtePresent | kPteWritable));
  TRY(ram.WriteObj<std::uint64_t>(kPdptGpa, mem::ToU64(kPdGpa) | kPtePresent | kPteWritable));
  TRY(ram.WriteObj<std::uint64_t>(kPdGpa, 0 | kPtePresent | kPteWritable | kPteLargePage));
  TRY(ram.WriteObj<std::uint64_t>(kGdtGpa + 0x00, 0));
  TRY(ram.WriteObj<std::uint64_t>(kGdtGpa + 0x08, 0x00af9b000000ffff));  // L=1, P, DPL0, code e/r/a
  TRY(ram.WriteObj<std::uint64_t>(kGdtGpa + 0x10,
                                  0x00cf93000000ffff));  // D/B=1, P, DPL0, data r/w/a
  TRY(ram.Write(kCodeGpa, program.code));
  return base::Ok();
}

// 64-bit mode straight away: paging on, PAE, EFER.LME|LMA, a flat 64-bit
// code segment and flat data segments (SDM Vol. 3A §9.8.5).
Result<void> EnterLongMode(kvm::Vcpu& vcpu, Gpa rip) {
  kvm_sregs sregs = TRY(vcpu.GetSregs());
  sregs.cr3 = mem::ToU64(kPml4Gpa);
  sregs.cr4 = kCr4Pae;
  sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  sregs.efer = kEferLme | kEferLma;

  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = 0x08;
  code.type = 0xb;  // execute/read, accessed
  code.present = 1;
  code.dpl = 0;
  code.db = 0;
  code.s = 1;
  code.l = 1;
  code.g = 1;
  sregs.cs = code;

  kvm_segment data = code;
  data.selector = 0x10;
  data.type = 0x3;  // read/write, accessed
  data.db = 1;
  data.l = 0;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;

  sregs.gdt.base = mem::ToU64(kGdtGpa);
  sregs.gdt.limit = 3 * 8 - 1;
  TRY(vcpu.SetSregs(sregs));

  kvm_regs regs{};
  regs.rip = mem::ToU64(rip);
  regs.rsp = mem::ToU64(kStackTopGpa);
  regs.rflags = 0x2;  // bit 1 is reserved, always 1
  TRY(vcpu.SetRegs(regs));
  return base::Ok();
}

Result<Machine> CreateMachine(const GuestProgram& program, MsrExits msr_exits) {
  auto system = TRY(kvm::KvmSystem::Open());
  auto ram = TRY(kvm::GuestRam::Create(kGuestRamBytes));
  // The span stays valid when Machine moves: it points at the mapping,
  // which does not move with its owner.
  auto memory = TRY(mem::GuestMemory::Create(Gpa{0}, ram.bytes()));
  auto vm = TRY(kvm::Vm::Create(system));
  TRY(vm.MapRam(0, Gpa{0}, ram, 0, kGuestRamBytes));
  if (msr_exits == MsrExits::kHyperV) {
    // RDMSR/WRMSR of the Hyper-V synthetic range exit to user space.
    if (TRY(system.CheckExtension(KVM_CAP_X86_USER_SPACE_MSR)) <= 0)
      return Error("KVM lacks KVM_CAP_X86_USER_SPACE_MSR");
    if (TRY(system.CheckExtension(KVM_CAP_X86_MSR_FILTER)) <= 0)
      return Error("KVM lacks KVM_CAP_X86_MSR_FILTER");
    const kvm::MsrRange synthetic{::hv::kSyntheticMsrFirst, ::hv::kSyntheticMsrCount};
    TRY(vm.TrapMsrs(std::span(&synthetic, 1)));
  }
  TRY(BuildGuest(memory, program));
  auto vcpu = TRY(kvm::Vcpu::Create(vm, 0));
  // A new vCPU has an empty CPUID table; give it everything KVM supports
  // (long mode included), as the loader does before trimming.
  TRY(vcpu.SetCpuid(TRY(system.SupportedCpuid())));
  TRY(EnterLongMode(vcpu, kCodeGpa));
  return Machine{std::move(system), std::move(ram), memory, std::move(vm), std::move(vcpu)};
}

// ---------------------------------------------------------------------------
// Running a guest to HLT.

enum class RunEnd { kHalted, kDeadline };

struct RunStats {
  RunEnd end;
  std::chrono::steady_clock::duration elapsed;
  std::vector<std::byte> port_output;
  int msr_exits;
};

Error UnexpectedExit(const kvm::Vcpu& vcpu, const kvm::VcpuExit& exit) {
  const auto regs = vcpu.GetRegs();
  const unsigned long long rip = regs ? regs->rip : 0;
  return Error::Format("unexpected exit (%s) at rip 0x%llx", kvm::DescribeExit(exit).c_str(), rip);
}

// Runs the vCPU until HLT, answering the exits the probe guests make, or
// until the deadline stops it (then stats.end is kDeadline).
Result<RunStats> RunToHalt(kvm::Vcpu& vcpu, std::chrono::milliseconds deadline) {
  RunStats stats{RunEnd::kHalted, {}, {}, 0};
  const loader::RunDeadline run_deadline(deadline);
  // Kicks the vCPU out of KVM_RUN at the deadline (its period: a run ends
  // at the first kick that finds the deadline expired).
  const auto ticker = TRY(loader::VcpuTicker::Start(vcpu, nullptr, deadline));
  const RunPhase phase(deadline);
  const auto start = std::chrono::steady_clock::now();
  // Bounds the exits a confused guest can cause; the real guests make three.
  constexpr int kMaxExits = 1000;
  for (int exits = 0; exits < kMaxExits; ++exits) {
    const kvm::VcpuExit exit = TRY(vcpu.Run());
    if (std::holds_alternative<kvm::InterruptedExit>(exit)) {
      vcpu.ClearImmediateExit();
      if (!run_deadline.expired()) continue;  // some other signal; go again
      stats.end = RunEnd::kDeadline;
      stats.elapsed = std::chrono::steady_clock::now() - start;
      return stats;
    }
    if (std::holds_alternative<kvm::HltExit>(exit)) {
      stats.elapsed = std::chrono::steady_clock::now() - start;
      return stats;
    }
    if (const auto* io = std::get_if<kvm::IoExit>(&exit)) {
      if (io->direction != kvm::IoDirection::kOut || io->port != kDebugPort)
        return UnexpectedExit(vcpu, exit);
      // The bytes KVM put in the vCPU's shared area (api.rst, KVM_EXIT_IO;
      // kvm::DecodeExit checked they lie inside it).
      stats.port_output.insert(stats.port_output.end(), io->data.begin(), io->data.end());
    } else if (const auto* rdmsr = std::get_if<kvm::RdMsrExit>(&exit)) {
      ++stats.msr_exits;
      if (rdmsr->index != kProbedMsr)
        return Error::Format("unexpected rdmsr 0x%x", rdmsr->index);
      // Only the filter was asked for (KVM_MSR_EXIT_REASON_FILTER).
      if (rdmsr->reason != KVM_MSR_EXIT_REASON_FILTER)
        return Error::Format("rdmsr 0x%x exited with reason %u, not the MSR filter",
                             rdmsr->index, rdmsr->reason);
      vcpu.CompleteMsr(kMsrAnswer);
    } else if (const auto* wrmsr = std::get_if<kvm::WrMsrExit>(&exit)) {
      return Error::Format("unexpected wrmsr 0x%x", wrmsr->index);
    } else {
      return UnexpectedExit(vcpu, exit);
    }
  }
  return Error::Format("guest made %d exits without halting", kMaxExits);
}

long long Ms(std::chrono::steady_clock::duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// ---------------------------------------------------------------------------
// Modes.

struct Options {
  std::uint32_t iterations = kDefaultIterations;
  std::chrono::milliseconds budget{1000};
  std::chrono::milliseconds timeout{60'000};
};

constexpr auto kSetupLimit = std::chrono::milliseconds(20'000);

Result<std::string> Smoke(const Options& options) {
  const auto program = SmokeProgram(options.iterations);
  auto machine = TRY(CreateMachine(program, MsrExits::kHyperV));
  const auto stats = TRY(RunToHalt(machine.vcpu, options.timeout));
  if (stats.end == RunEnd::kDeadline)
    return Error::Format("guest did not halt within %lld ms",
                         static_cast<long long>(options.timeout.count()));
  if (stats.msr_exits != 1)
    return Error::Format("rdmsr 0x%x made %d user-space exits, want 1", kProbedMsr,
                         stats.msr_exits);
  const auto stored = TRY(machine.memory.ReadObj<std::uint64_t>(kMsrResultGpa));
  if (stored != kMsrAnswer)
    return Error::Format("guest stored rdmsr result 0x%016llx, want 0x%016llx",
                         static_cast<unsigned long long>(stored),
                         static_cast<unsigned long long>(kMsrAnswer));
  if (stats.port_output.size() != 8)
    return Error::Format("guest wrote %zu bytes to port 0x%x, want 8", stats.port_output.size(),
                         kDebugPort);
  std::uint64_t result = 0;
  if (!base::LoadLe(std::span<const std::byte>(stats.port_output), 0, result))
    return Error("guest output is not 8 bytes");
  const std::uint64_t want = LcgResult(options.iterations);
  if (result != want)
    return Error::Format("guest computed 0x%016llx, want 0x%016llx",
                         static_cast<unsigned long long>(result),
                         static_cast<unsigned long long>(want));
  return StringPrintf("smoke ok (long mode, msr exit, %llu insns in %lld ms)",
                static_cast<unsigned long long>(program.instruction_count), Ms(stats.elapsed));
}

enum class SpeedVerdict { kFast, kSlow };

Result<std::pair<SpeedVerdict, std::string>> Speed(const Options& options) {
  const auto program = SpeedProgram(options.iterations);
  auto machine = TRY(CreateMachine(program, MsrExits::kNone));
  if (TRY(machine.system.CheckExtension(KVM_CAP_IMMEDIATE_EXIT)) <= 0)
    return Error("KVM lacks KVM_CAP_IMMEDIATE_EXIT");
  const auto stats = TRY(RunToHalt(machine.vcpu, options.budget));
  const long long budget_ms = static_cast<long long>(options.budget.count());
  if (stats.end == RunEnd::kHalted) {
    if (!stats.port_output.empty() || stats.msr_exits != 0)
      return Error("speed guest made unexpected exits");
    // A halt just past the deadline, before the signal landed, is still slow.
    if (stats.elapsed > options.budget)
      return std::pair{SpeedVerdict::kSlow,
                       StringPrintf("speed too slow (%llu insns in %lld ms, budget %lld ms)",
                              static_cast<unsigned long long>(program.instruction_count),
                              Ms(stats.elapsed), budget_ms)};
    return std::pair{SpeedVerdict::kFast,
                     StringPrintf("speed ok (%llu insns in %lld ms, budget %lld ms)",
                            static_cast<unsigned long long>(program.instruction_count),
                            Ms(stats.elapsed), budget_ms)};
  }
  // Stopped at the deadline: RCX says how far the loop got.
  const auto regs = TRY(machine.vcpu.GetRegs());
  const std::uint64_t left = regs.rcx & 0xffffffff;
  const std::uint64_t done_insns =
      2 * (options.iterations - std::min<std::uint64_t>(left, options.iterations));
  const double ns_per_insn =
      done_insns == 0
          ? 0.0
          : static_cast<double>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(stats.elapsed).count()) /
                static_cast<double>(done_insns);
  return std::pair{SpeedVerdict::kSlow,
                   StringPrintf("speed too slow (stopped at the %lld ms budget after %llu of %llu insns, "
                          "~%.0f ns/insn)",
                          budget_ms, static_cast<unsigned long long>(done_insns),
                          static_cast<unsigned long long>(program.instruction_count), ns_per_insn)};
}

// ---------------------------------------------------------------------------
// Command line.

constexpr int kExitUsage = 64;  // sysexits.h EX_USAGE

// N: a decimal number of 1 to 2^32 - 1.
std::optional<std::uint32_t> ParseU32(std::string_view text) {
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

const CLI::Validator kPositiveU32(
    [](std::string& text) {
      return ParseU32(text) ? std::string() : "wants a decimal number from 1 to 4294967295";
    },
    "", "positive 32-bit number");

enum class Mode { kSmoke, kSpeed };

// The command line (CLI11); nullopt with `exit_code`: help was printed (0)
// or the arguments were bad (kExitUsage, one line on stderr).
std::optional<std::pair<Mode, Options>> ParseArgs(int argc, char** argv, int& exit_code) {
  CLI::App app{"kvm-probe: does /dev/kvm run a 64-bit guest, exit to user space the way "
               "hcl-loader needs, and do it at usable speed? Prints one line starting "
               "\"kvm-probe: \" on stdout; a watchdog bounds every phase. Bad arguments: exit 64.",
               "kvm-probe"};
  app.require_subcommand(1);
  std::string iterations, timeout_ms, budget_ms;
  CLI::App* smoke = app.add_subcommand(
      "smoke", "A long-mode guest reads a Hyper-V synthetic MSR (answered from user space "
               "through KVM's MSR filter), runs an LCG loop and reports its result on port "
               "0xE9; the probe checks both. Exit 0 ok, 1 failed (KVM missing included)");
  smoke->add_option("--iterations", iterations, "LCG loop iterations (default 10000000)")
      ->check(kPositiveU32)
      ->type_name("N");
  smoke->add_option("--timeout-ms", timeout_ms,
                    "give up if the guest has not halted after this long (default 60000)")
      ->check(kPositiveU32)
      ->type_name("N");
  CLI::App* speed = app.add_subcommand(
      "speed", "Runs a `dec ecx; jnz` loop against a budget, stopping the vCPU when it runs "
               "out. Exit 0 within budget, 3 too slow, 2 KVM missing or unusable");
  speed->add_option("--budget-ms", budget_ms, "the time the loop may take (default 1000)")
      ->check(kPositiveU32)
      ->type_name("N");
  speed->add_option("--iterations", iterations, "loop iterations (default 10000000)")
      ->check(kPositiveU32)
      ->type_name("N");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());  // the selected mode's, if any
    exit_code = 0;
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-')
      std::fprintf(stderr, "kvm-probe: unknown mode '%s' (kvm-probe --help)\n", argv[1]);
    else
      std::fprintf(stderr, "kvm-probe: %s (kvm-probe --help)\n", error.what());
    exit_code = kExitUsage;
    return std::nullopt;
  }
  Options options;
  if (!iterations.empty()) options.iterations = *ParseU32(iterations);
  if (!timeout_ms.empty()) options.timeout = std::chrono::milliseconds(*ParseU32(timeout_ms));
  if (!budget_ms.empty()) options.budget = std::chrono::milliseconds(*ParseU32(budget_ms));
  return std::pair{smoke->parsed() ? Mode::kSmoke : Mode::kSpeed, options};
}

void Say(std::string_view line) {
  std::printf("kvm-probe: %.*s\n", static_cast<int>(line.size()), line.data());
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int exit_code = 0;
  const auto parsed = ParseArgs(argc, argv, exit_code);
  if (!parsed) return exit_code;
  const auto& [mode, options] = *parsed;
  const bool smoke = mode == Mode::kSmoke;

  const int unusable = smoke ? 1 : 2;
  g_setup_hung_exit_code = unusable;
  g_vcpu_stuck_exit_code = smoke ? 1 : 3;
  g_setup_hung_message = smoke ? "kvm-probe: smoke failed: KVM setup did not finish in 20 s\n"
                               : "kvm-probe: speed: KVM unusable: setup did not finish in 20 s\n";
  g_vcpu_stuck_message = smoke ? "kvm-probe: smoke failed: vCPU did not stop at the timeout\n"
                               : "kvm-probe: speed too slow (vCPU did not stop at the budget)\n";
  if (auto installed = InstallWatchdog(); !installed) {
    Say(std::string(smoke ? "smoke" : "speed") + " failed: " + installed.error().message());
    return unusable;
  }
  ArmWatchdog(kSetupLimit);

  if (smoke) {
    auto outcome = Smoke(options);
    if (!outcome) {
      Say("smoke failed: " + outcome.error().message());
      return 1;
    }
    Say(*outcome);
    return 0;
  }
  auto outcome = Speed(options);
  if (!outcome) {
    Say("speed: KVM unusable: " + outcome.error().message());
    return 2;
  }
  Say(outcome->second);
  return outcome->first == SpeedVerdict::kFast ? 0 : 3;
}
