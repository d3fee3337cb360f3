#include "x86emu/emulator.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "x86emu/page_walk.h"
#include "x86emu/testing/fake_cpu.h"

namespace x86emu {
namespace {

using testing::FakeCpu;

// Kernel-half addresses, as a Linux ioremap() hands out.
constexpr uint64_t kMmioGva = 0xffff'c900'0010'0000ull;
constexpr uint64_t kRamGva = 0xffff'8880'0020'0000ull;
constexpr uint64_t kRamGpa = 0x20'0000;
constexpr uint64_t kCodeGva = 0xffff'ffff'8100'0000ull;

std::vector<std::byte> Bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> bytes;
  for (unsigned value : values) bytes.push_back(static_cast<std::byte>(value));
  return bytes;
}

// A long-mode vCPU with one MMIO page, two RAM pages and the code page mapped.
FakeCpu LongModeCpu() {
  FakeCpu cpu;
  cpu.EnterLongMode();
  cpu.MapPage(kMmioGva, cpu.mmio_base, testing::kPteP | testing::kPteW | testing::kPteNx);
  cpu.MapPage(kRamGva, kRamGpa);
  cpu.MapPage(kRamGva + 0x1000, kRamGpa + 0x1000);
  cpu.MapPage(kCodeGva, 0x30'0000, testing::kPteP);
  cpu.rip_value = kCodeGva + 0x10;
  return cpu;
}

Completion Run(FakeCpu& cpu, std::initializer_list<unsigned> values) {
  const auto bytes = Bytes(values);
  auto completion = Emulate(cpu, bytes);
  REQUIRE(completion.ok());
  return std::move(completion).value();
}

void RunOk(FakeCpu& cpu, std::initializer_list<unsigned> values) {
  const uint64_t rip = cpu.rip_value;
  const Completion completion = Run(cpu, values);
  REQUIRE(std::holds_alternative<Executed>(completion));
  CHECK(std::get<Executed>(completion).rip_advanced);
  CHECK(cpu.rip_value == rip + values.size());
}

InjectException RunFault(FakeCpu& cpu, std::initializer_list<unsigned> values) {
  const uint64_t rip = cpu.rip_value;
  const Completion completion = Run(cpu, values);
  REQUIRE(std::holds_alternative<InjectException>(completion));
  CHECK(cpu.rip_value == rip);
  return std::get<InjectException>(completion);
}

uint64_t MmioValue(const FakeCpu& cpu, uint64_t gpa, size_t size) {
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i) {
    const auto it = cpu.mmio_bytes.find(gpa + i);
    if (it != cpu.mmio_bytes.end()) value |= static_cast<uint64_t>(it->second) << (8 * i);
  }
  return value;
}

void SetMmio(FakeCpu& cpu, uint64_t gpa, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) cpu.mmio_bytes[gpa + i] = static_cast<std::byte>(value >> (8 * i));
}

uint64_t Flags(const FakeCpu& cpu) { return cpu.rflags_value & kArithmeticFlags; }

TEST_CASE("x86emu: mov %eax,0x10(%rbx) writes 4 bytes at the translated GPA") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[0] = 0x1122'3344'5566'7788ull;
  cpu.gprs[3] = kMmioGva;
  RunOk(cpu, {0x89, 0x43, 0x10});
  REQUIRE(cpu.mmio_log.size() == 1);
  CHECK(cpu.mmio_log[0].write);
  CHECK(cpu.mmio_log[0].address == cpu.mmio_base + 0x10);
  CHECK(cpu.mmio_log[0].bytes == Bytes({0x88, 0x77, 0x66, 0x55}));
}

TEST_CASE("x86emu: register-destination loads zero-extend or merge by size") {
  FakeCpu cpu = LongModeCpu();
  SetMmio(cpu, cpu.mmio_base + 0x20, 0x8899'aabb'ccdd'eeffull, 8);
  cpu.gprs[3] = kMmioGva + 0x20;
  cpu.gprs[1] = ~0ull;
  RunOk(cpu, {0x8b, 0x0b});  // mov (%rbx),%ecx
  CHECK(cpu.gprs[1] == 0xccdd'eeffull);
  cpu.gprs[1] = 0x1234'0000;
  RunOk(cpu, {0x8a, 0x0b});  // mov (%rbx),%cl
  CHECK(cpu.gprs[1] == 0x1234'00ff);
  cpu.gprs[1] = 0x1234;
  RunOk(cpu, {0x66, 0x8b, 0x0b});  // mov (%rbx),%cx
  CHECK(cpu.gprs[1] == 0xeeff);
  RunOk(cpu, {0x48, 0x8b, 0x0b});  // mov (%rbx),%rcx
  CHECK(cpu.gprs[1] == 0x8899'aabb'ccdd'eeffull);
  RunOk(cpu, {0x0f, 0xb6, 0x0b});  // movzbl (%rbx),%ecx
  CHECK(cpu.gprs[1] == 0xff);
  RunOk(cpu, {0x48, 0x0f, 0xbf, 0x0b});  // movswq (%rbx),%rcx
  CHECK(cpu.gprs[1] == 0xffff'ffff'ffff'eeffull);
  // mov (%rbx),%ah: without REX, reg 4 is AH.
  cpu.gprs[0] = 0;
  RunOk(cpu, {0x8a, 0x23});
  CHECK(cpu.gprs[0] == 0xff00);
  // With REX, reg 4 is SPL.
  cpu.gprs[4] = 0x1000;
  RunOk(cpu, {0x40, 0x8a, 0x23});
  CHECK(cpu.gprs[4] == 0x10ff);
}

TEST_CASE("x86emu: REX.W stores and sign-extended immediates") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[3] = kMmioGva;
  RunOk(cpu, {0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0xff});  // movq $-1,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 8) == ~0ull);
  cpu.gprs[8] = 0x0102'0304'0506'0708ull;
  RunOk(cpu, {0x4c, 0x89, 0x43, 0x08});  // mov %r8,0x8(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base + 8, 8) == 0x0102'0304'0506'0708ull);
  RunOk(cpu, {0xc6, 0x43, 0x10, 0xab});  // movb $0xab,0x10(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base + 0x10, 2) == 0xab);
  // movabs %eax,moffs64
  cpu.gprs[0] = 0xdead'beef;
  RunOk(cpu, {0xa3, 0x40, 0x00, 0x10, 0x00, 0x00, 0xc9, 0xff, 0xff});
  CHECK(MmioValue(cpu, cpu.mmio_base + 0x40, 4) == 0xdead'beef);
}

TEST_CASE("x86emu: RIP-relative addressing uses the next instruction's RIP") {
  FakeCpu cpu = LongModeCpu();
  // Code at kMmioGva - 0x1000 + 0xff0; mov 0x10a(%rip),%eax (6 bytes) reads
  // kMmioGva + 0x100.
  cpu.MapPage(kMmioGva - 0x1000, 0x31'0000, testing::kPteP);
  cpu.rip_value = kMmioGva - 0x10;
  SetMmio(cpu, cpu.mmio_base + 0x100, 0xcafe'f00d, 4);
  RunOk(cpu, {0x8b, 0x05, 0x0a, 0x01, 0x00, 0x00});
  CHECK(cpu.gprs[0] == 0xcafe'f00d);
}

TEST_CASE("x86emu: flags after or, and, cmp, add, sub") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[3] = kMmioGva;

  SetMmio(cpu, cpu.mmio_base, 0x0100'0000, 4);
  cpu.rflags_value = 0x2 | kArithmeticFlags;
  RunOk(cpu, {0x81, 0x0b, 0x00, 0x00, 0x00, 0x80});  // orl $0x80000000,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 0x8100'0000);
  CHECK(Flags(cpu) == (kFlagSf | kFlagPf));  // low byte 0: even parity
  CHECK((cpu.rflags_value & 0x2) != 0);

  RunOk(cpu, {0x83, 0x23, 0x01});  // andl $1,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 0);
  CHECK(Flags(cpu) == (kFlagZf | kFlagPf));

  SetMmio(cpu, cpu.mmio_base, 5, 4);
  cpu.gprs[0] = 7;
  RunOk(cpu, {0x39, 0x03});  // cmp %eax,(%rbx): 5 - 7
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 5);
  CHECK(Flags(cpu) == (kFlagCf | kFlagSf | kFlagAf));  // 0xfffffffe: odd parity

  SetMmio(cpu, cpu.mmio_base, 0x8000'0000, 4);
  cpu.gprs[0] = 1;
  RunOk(cpu, {0x3b, 0x03});  // cmp (%rbx),%eax: 1 - 0x80000000 overflows
  CHECK(Flags(cpu) == (kFlagOf | kFlagCf | kFlagSf));  // 0x80000001: odd parity

  SetMmio(cpu, cpu.mmio_base, 0x7f, 1);
  RunOk(cpu, {0x80, 0x03, 0x01});  // addb $1,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 1) == 0x80);
  CHECK(Flags(cpu) == (kFlagOf | kFlagSf | kFlagAf));

  SetMmio(cpu, cpu.mmio_base, 0xff, 1);
  RunOk(cpu, {0x80, 0x03, 0x01});  // addb $1,(%rbx): carry out, zero
  CHECK(Flags(cpu) == (kFlagCf | kFlagZf | kFlagAf | kFlagPf));

  cpu.gprs[0] = 3;
  SetMmio(cpu, cpu.mmio_base, 3, 8);
  RunOk(cpu, {0x48, 0x29, 0x03});  // sub %rax,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 8) == 0);
  CHECK(Flags(cpu) == (kFlagZf | kFlagPf));

  // adc uses CF; test writes nothing.
  cpu.rflags_value |= kFlagCf;
  SetMmio(cpu, cpu.mmio_base, 1, 4);
  RunOk(cpu, {0x83, 0x13, 0x01});  // adcl $1,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 3);
  RunOk(cpu, {0xf7, 0x03, 0x02, 0x00, 0x00, 0x00});  // testl $2,(%rbx)
  CHECK(Flags(cpu) == 0);
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 3);
}

TEST_CASE("x86emu: xchg and bit tests on MMIO") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[3] = kMmioGva;
  SetMmio(cpu, cpu.mmio_base, 0x1111, 4);
  cpu.gprs[0] = 0x2222;
  RunOk(cpu, {0x87, 0x03});  // xchg %eax,(%rbx)
  CHECK(cpu.gprs[0] == 0x1111);
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 0x2222);

  RunOk(cpu, {0x0f, 0xba, 0x2b, 0x03});  // btsl $3,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 0x222a);
  CHECK((cpu.rflags_value & kFlagCf) == 0);
  RunOk(cpu, {0x0f, 0xba, 0x33, 0x01});  // btrl $1,(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base, 4) == 0x2228);
  CHECK((cpu.rflags_value & kFlagCf) != 0);
  // bt %rcx,(%rbx) with bit 65: the next quadword's bit 1.
  SetMmio(cpu, cpu.mmio_base + 8, 2, 8);
  cpu.gprs[1] = 65;
  RunOk(cpu, {0x48, 0x0f, 0xa3, 0x0b});
  CHECK((cpu.rflags_value & kFlagCf) != 0);
  CHECK(cpu.mmio_log.back().address == cpu.mmio_base + 8);
  // A negative offset reaches backwards: bit -1 is bit 31 of the dword below.
  cpu.gprs[3] = kMmioGva + 0x10;
  cpu.gprs[1] = 0xffff'ffff;
  SetMmio(cpu, cpu.mmio_base + 0xc, 0x8000'0000, 4);
  RunOk(cpu, {0x0f, 0xab, 0x0b});  // bts %ecx,(%rbx)
  CHECK((cpu.rflags_value & kFlagCf) != 0);
  CHECK(cpu.mmio_log.back().address == cpu.mmio_base + 0xc);
}

TEST_CASE("x86emu: rep outsb moves N bytes from guest memory to a port") {
  FakeCpu cpu = LongModeCpu();
  const auto text = Bytes({'h', 'e', 'l', 'l', 'o'});
  REQUIRE(cpu.WritePhys(Gpa{kRamGpa + 0x100}, text).ok());
  cpu.gprs[1] = 5;                   // rcx
  cpu.gprs[2] = 0xffff'0000'0000'03f8ull;  // dx = 0x3f8
  cpu.gprs[6] = kRamGva + 0x100;     // rsi
  RunOk(cpu, {0xf3, 0x6e});
  REQUIRE(cpu.port_log.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(cpu.port_log[i].address == 0x3f8);
    CHECK(cpu.port_log[i].write);
    CHECK(cpu.port_log[i].bytes == std::vector<std::byte>{text[i]});
  }
  CHECK(cpu.gprs[1] == 0);
  CHECK(cpu.gprs[6] == kRamGva + 0x105);

  // DF=1 walks down; rep with rcx=0 does nothing but retire.
  cpu.port_log.clear();
  cpu.rflags_value |= kFlagDf;
  cpu.gprs[1] = 2;
  cpu.gprs[6] = kRamGva + 0x104;
  RunOk(cpu, {0xf3, 0x66, 0x6f});  // rep outsw
  REQUIRE(cpu.port_log.size() == 2);
  CHECK(cpu.port_log[0].bytes == Bytes({'o', 0}));
  CHECK(cpu.port_log[1].bytes == Bytes({'l', 'l'}));
  CHECK(cpu.gprs[6] == kRamGva + 0x100);
  RunOk(cpu, {0xf3, 0x6e});
  CHECK(cpu.port_log.size() == 2);
}

TEST_CASE("x86emu: rep insw, stos, movs and lods") {
  FakeCpu cpu = LongModeCpu();
  cpu.port_in_value = std::byte{0x5a};
  cpu.gprs[1] = 3;
  cpu.gprs[2] = 0x1f0;
  cpu.gprs[7] = kRamGva + 0xffe;  // crosses into the second RAM page
  RunOk(cpu, {0xf3, 0x66, 0x6d});
  CHECK(cpu.port_log.size() == 3);
  CHECK(cpu.ReadRamLe(kRamGpa + 0xffe, 6) == 0x5a5a'5a5a'5a5aull);
  CHECK(cpu.gprs[7] == kRamGva + 0x1004);

  // rep stosl to MMIO.
  cpu.gprs[0] = 0xa5a5'a5a5;
  cpu.gprs[1] = 4;
  cpu.gprs[7] = kMmioGva;
  RunOk(cpu, {0xf3, 0xab});
  CHECK(MmioValue(cpu, cpu.mmio_base + 12, 4) == 0xa5a5'a5a5);
  CHECK(cpu.gprs[7] == kMmioGva + 16);

  // rep movsq: MMIO to RAM (memcpy_fromio).
  SetMmio(cpu, cpu.mmio_base + 0x200, 0x0123'4567'89ab'cdefull, 8);
  cpu.gprs[1] = 1;
  cpu.gprs[6] = kMmioGva + 0x200;
  cpu.gprs[7] = kRamGva + 0x40;
  RunOk(cpu, {0xf3, 0x48, 0xa5});
  CHECK(cpu.ReadRamLe(kRamGpa + 0x40) == 0x0123'4567'89ab'cdefull);

  // lodsb, no rep.
  cpu.gprs[6] = kMmioGva + 0x200;
  cpu.gprs[0] = 0;
  RunOk(cpu, {0xac});
  CHECK(cpu.gprs[0] == 0xef);
  CHECK(cpu.gprs[6] == kMmioGva + 0x201);
}

TEST_CASE("x86emu: a huge rep count stops early without retiring") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[1] = kMaxRepIterations + 10;
  cpu.gprs[2] = 0x80;
  const uint64_t rip = cpu.rip_value;
  const Completion completion = Run(cpu, {0xf3, 0x6c});  // rep insb to unmapped %rdi=0
  REQUIRE(std::holds_alternative<InjectException>(completion));
  CHECK(std::get<InjectException>(completion).vector == ExceptionVector::kPf);
  CHECK(cpu.rip_value == rip);
  CHECK(cpu.port_log.empty());  // translated before the port was read
  CHECK(cpu.gprs[1] == kMaxRepIterations + 10);

  FakeCpu io = LongModeCpu();
  io.gprs[1] = kMaxRepIterations + 10;
  io.gprs[6] = kRamGva;
  io.MapPage(kRamGva + 0x2000, kRamGpa + 0x2000);
  io.MapPage(kRamGva + 0x3000, kRamGpa + 0x3000);
  io.MapPage(kRamGva + 0x4000, kRamGpa + 0x4000);
  const Completion partial = Run(io, {0xf3, 0x6e});
  REQUIRE(std::holds_alternative<Executed>(partial));
  CHECK_FALSE(std::get<Executed>(partial).rip_advanced);
  CHECK(io.gprs[1] == 10);
  CHECK(io.gprs[6] == kRamGva + kMaxRepIterations);
  CHECK(io.port_log.size() == kMaxRepIterations);
}

TEST_CASE("x86emu: plain in and out") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[0] = 0xffff'ffff'ffff'ffffull;
  RunOk(cpu, {0xe5, 0x71});  // in $0x71,%eax
  CHECK(cpu.gprs[0] == 0x5a5a'5a5a);
  CHECK(cpu.port_log.back().address == 0x71);
  cpu.gprs[2] = 0xcf8;
  cpu.gprs[0] = 0x8000'1234;
  RunOk(cpu, {0xef});  // out %eax,(%dx)
  CHECK(cpu.port_log.back().bytes == Bytes({0x34, 0x12, 0x00, 0x80}));
  RunOk(cpu, {0x66, 0xed});  // in (%dx),%ax
  CHECK(cpu.gprs[0] == 0x8000'5a5a);
  RunOk(cpu, {0xe6, 0x80});  // out %al,$0x80
  CHECK(cpu.port_log.back().bytes == Bytes({0x5a}));
}

TEST_CASE("x86emu: a not-present page yields #PF with error code and CR2") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[3] = kMmioGva + 0x5000;  // not mapped
  InjectException fault = RunFault(cpu, {0x89, 0x03});
  CHECK(fault.vector == ExceptionVector::kPf);
  CHECK(fault.error_code == kPfWrite);
  CHECK(fault.cr2 == kMmioGva + 0x5000);
  CHECK(cpu.mmio_log.empty());

  // A write to a read-only page: present + write.
  cpu.gprs[3] = kCodeGva;
  fault = RunFault(cpu, {0x89, 0x03});
  CHECK(fault.error_code == (kPfPresent | kPfWrite));

  // A write straddling into an unmapped page writes nothing.
  cpu.gprs[3] = kRamGva + 0x1ffe;
  fault = RunFault(cpu, {0x89, 0x03});
  CHECK(fault.cr2 == kRamGva + 0x2000);
  CHECK(cpu.ReadRamLe(kRamGpa + 0x1ffe, 2) == 0);
}

TEST_CASE("x86emu: accesses crossing a page boundary are split") {
  FakeCpu cpu = LongModeCpu();
  // Two virtually adjacent pages, the second one MMIO.
  cpu.MapPage(kMmioGva - 0x1000, kRamGpa + 0x5000);
  cpu.gprs[3] = kMmioGva - 2;
  cpu.gprs[0] = 0x4433'2211;
  RunOk(cpu, {0x89, 0x03});
  CHECK(cpu.ReadRamLe(kRamGpa + 0x5ffe, 2) == 0x2211);
  REQUIRE(cpu.mmio_log.size() == 1);
  CHECK(cpu.mmio_log[0].address == cpu.mmio_base);
  CHECK(cpu.mmio_log[0].bytes == Bytes({0x33, 0x44}));
}

TEST_CASE("x86emu: non-canonical addresses fault with #GP, FS base applies") {
  FakeCpu cpu = LongModeCpu();
  cpu.gprs[3] = 0x8000'0000'0000'0000ull;
  InjectException fault = RunFault(cpu, {0x89, 0x03});
  CHECK(fault.vector == ExceptionVector::kGp);
  CHECK(fault.error_code == 0u);

  cpu.segments[static_cast<size_t>(Segment::kFs)].base = kMmioGva;
  cpu.gprs[3] = 0x30;
  cpu.gprs[0] = 0x99;
  RunOk(cpu, {0x64, 0x88, 0x03});  // mov %al,%fs:(%rbx)
  CHECK(MmioValue(cpu, cpu.mmio_base + 0x30, 1) == 0x99);
  // A DS override is no base in 64-bit mode.
  cpu.segments[static_cast<size_t>(Segment::kDs)].base = 0x1000;
  cpu.gprs[3] = kMmioGva + 0x30;
  RunOk(cpu, {0x3e, 0x8a, 0x0b});
  CHECK((cpu.gprs[1] & 0xff) == 0x99);
}

TEST_CASE("x86emu: unsupported and truncated instructions") {
  FakeCpu cpu = LongModeCpu();
  const InjectException ud = RunFault(cpu, {0x0f, 0x0b});
  CHECK(ud.vector == ExceptionVector::kUd);
  CHECK_FALSE(ud.error_code.has_value());
  CHECK(ud.reason == "unsupported instruction: 0f 0b");

  const auto truncated = Bytes({0x48, 0xc7, 0x03, 0xff});
  auto result = Emulate(cpu, truncated);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message().find("instruction truncated") == 0);
  CHECK(cpu.mmio_log.empty());
}

TEST_CASE("x86emu: 32-bit protected mode without paging uses segment bases") {
  FakeCpu cpu;
  cpu.cr.cr0 = kCr0Pe;
  cpu.segments[static_cast<size_t>(Segment::kCs)].attributes = 0xc09b;  // D=1
  cpu.segments[static_cast<size_t>(Segment::kDs)].base = 0xfd00'0000;
  cpu.rip_value = 0x1000;
  cpu.gprs[3] = 0x0100'0010;  // + DS base = 0xfe000010
  cpu.gprs[0] = 0xffff'ffff'1234'5678ull;
  RunOk(cpu, {0x89, 0x03});
  CHECK(MmioValue(cpu, cpu.mmio_base + 0x10, 4) == 0x1234'5678);
  // 66 67 in 32-bit code: 16-bit operand, 16-bit address [bx+si].
  cpu.segments[static_cast<size_t>(Segment::kDs)].base = 0xfe00'0000;
  cpu.gprs[3] = 0x1'0000;  // bx = 0: the sum wraps at 16 bits
  cpu.gprs[6] = 0x20;
  RunOk(cpu, {0x66, 0x67, 0x89, 0x00});
  CHECK(MmioValue(cpu, cpu.mmio_base + 0x20, 4) == 0x5678);
}

}  // namespace
}  // namespace x86emu
