// hcl's intercept handling against a fake driver (paravisor/testing/
// fake_driver.h): what VTL0 sees after each intercept.
#include "paravisor/vp_runner.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "hv/hypercall_abi.h"
#include "paravisor/testing/fake_driver.h"

namespace {

using hcl::testing::FakeDriver;

constexpr uint64_t kRamBytes = 0x20000;
constexpr uint64_t kCode = 0x1000;

struct Fixture {
  FakeDriver driver;
  std::vector<std::byte> ram = std::vector<std::byte>(kRamBytes);
  hcl::Vtl0Memory memory;
  hcl::Vtl0Devices devices{driver};
  hcl::VmbusServer vmbus{driver, 1};
  std::vector<std::string> fatal;
  hcl::VpRunner runner{driver, memory, devices, vmbus, 0,
                       [this](const char* reason) { fatal.emplace_back(reason); }};

  // `register_page`: the driver has one (filled by ShowRegisterPage).
  explicit Fixture(bool register_page = false) {
    if (register_page) driver.register_page.emplace();
    memory.Add(mem::GuestMemory::Create(mem::Gpa{0}, ram).value());
    // Flat 32-bit protected mode, no paging.
    driver.registers[::hv::reg::kCr0] = {1, 0};
    const uint64_t flat_data = uint64_t{0xFFFFFFFF} | uint64_t{0x10} << 32 | uint64_t{0xC093} << 48;
    for (uint32_t seg : {::hv::reg::kEs, ::hv::reg::kSs, ::hv::reg::kDs, ::hv::reg::kFs, ::hv::reg::kGs})
      driver.registers[seg] = {0, flat_data};
    REQUIRE(runner.Prepare().ok());
  }
  ::hv::InterceptHeader Header(uint8_t length, uint8_t access, uint8_t cpl = 0) const {
    ::hv::InterceptHeader header;
    header.instruction_length_cr8 = length;
    header.intercept_access = access;
    header.execution_state = static_cast<uint16_t>(cpl | 1u << 2);  // CR0.PE
    header.cs = {0, 0xFFFFFFFF, 0x08, 0xC09B};                      // flat 32-bit code
    header.rip = kCode;
    header.rflags = 2;
    return header;
  }
  __u64& Rax() { return driver.run.cpu_context.gp_regs[MSHV_VTL_GP_RAX]; }
  // What the hypervisor puts in the register page at an entry: VTL0 in
  // flat 32-bit protected mode at kCode, stack at `rsp`, nothing dirty.
  ::hv::VpRegisterPage& ShowRegisterPage(uint64_t rsp = 0x8000) {
    ::hv::VpRegisterPage& page = *driver.register_page;
    page = {};
    page.version = ::hv::VpRegisterPage::kVersion;
    page.is_valid = 1;
    page.gprs[4] = rsp;
    page.rip = kCode;
    page.rflags = 2;
    for (::hv::SegmentWire& segment : page.segments) segment = {0, 0xFFFFFFFF, 0x10, 0xC093};
    page.segments[::hv::register_page_segment::kCs] = {0, 0xFFFFFFFF, 0x08, 0xC09B};
    page.cr0 = 1;
    return page;
  }
  // The exception VTL0 got, if any (PendingEvent0 vector).
  std::optional<uint32_t> Exception() const {
    const FakeDriver::Value* event = driver.LastWrite(::hv::reg::kPendingEvent0);
    if (event == nullptr || (event->low & 1) == 0) return std::nullopt;
    return static_cast<uint32_t>((event->low >> 16) & 0xFFFF);
  }
  std::optional<uint64_t> Rip() const {
    const FakeDriver::Value* rip = driver.LastWrite(::hv::reg::kRip);
    if (rip == nullptr) return std::nullopt;
    return rip->low;
  }
  void Code(std::vector<uint8_t> bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) ram[kCode + i] = std::byte{bytes[i]};
  }
  ::hv::IoPortIntercept Io(uint16_t port, uint8_t size, bool write) const {
    ::hv::IoPortIntercept io;
    io.header = Header(1, write ? ::hv::kAccessWrite : ::hv::kAccessRead);
    io.port = port;
    io.access_info = size;
    return io;
  }
};

}  // namespace

TEST_CASE("hcl intercepts: IN merges 8/16-bit results, zero-extends 32-bit; RIP moves on") {
  Fixture f;
  f.Rax() = 0xAB;
  f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 1, true));  // COM1 scratch
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(f.Rip() == kCode + 1);
  f.Rax() = 0x1122334455667700;
  f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 1, false));
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(f.Rax() == 0x11223344556677AB);
  f.Rax() = 0xFFFFFFFFFFFFFFFF;
  f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 4, false));
  REQUIRE(f.runner.HandleExit().ok());
  CHECK((f.Rax() >> 32) == 0);
  CHECK_FALSE(f.Exception());
}

TEST_CASE("hcl intercepts: an I/O size other than 1, 2, 4 is #GP and RIP stays") {
  Fixture f;
  f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 3, true));
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(f.Exception() == 13u);
  CHECK_FALSE(f.Rip());
}

TEST_CASE("hcl intercepts: VTL0 jumping outside its RAM, or into a denied page, gets #GP") {
  Fixture f;
  ::hv::MemoryIntercept fetch;
  fetch.header = f.Header(0, ::hv::kAccessExecute);
  fetch.guest_physical_address = 0x40000;  // above VTL0's RAM: "VTL2's"
  f.driver.Exit(::hv::message::kUnmappedGpa, fetch);
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(f.Exception() == 13u);
  CHECK_FALSE(f.Rip());
  Fixture g;
  fetch.guest_physical_address = 0x5000;
  g.driver.Exit(::hv::message::kGpaIntercept, fetch);
  REQUIRE(g.runner.HandleExit().ok());
  CHECK(g.Exception() == 13u);
}

TEST_CASE("hcl intercepts: a VTL0 triple fault goes to the fatal policy") {
  Fixture f;
  f.driver.Exit(::hv::message::kUnrecoverableException, f.Header(0, ::hv::kAccessRead));
  CHECK_FALSE(f.runner.HandleExit().ok());
  REQUIRE(f.fatal.size() == 1);
  CHECK(f.fatal[0].find("unrecoverable exception on vp0 at rip 0x1000") == 0);
}

TEST_CASE("hcl intercepts: a hypercall from CPL 3 is #UD") {
  Fixture f;
  ::hv::HypercallIntercept call;
  call.header = f.Header(2, ::hv::kAccessWrite, 3);
  call.rcx = static_cast<uint64_t>(::hv::CallCode::kPostMessage);
  f.driver.Exit(::hv::message::kHypercallIntercept, call);
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(f.Exception() == 6u);
  CHECK_FALSE(f.Rip());
}

TEST_CASE("hcl intercepts: PostMessage input checked: alignment, RAM, protections") {
  Fixture f;
  ::hv::HypercallIntercept call;
  call.header = f.Header(2, ::hv::kAccessWrite);
  call.header.execution_state |= 1u << 4;  // a 64-bit caller: EFER.LMA, CS.L
  call.header.cs.attributes |= 1u << 13;
  call.rcx = static_cast<uint64_t>(::hv::CallCode::kPostMessage);
  auto post = [&](uint64_t gpa) {
    call.rdx = gpa;
    f.driver.Exit(::hv::message::kHypercallIntercept, call);
    REQUIRE(f.runner.HandleExit().ok());
    return static_cast<::hv::Status>(f.Rax());
  };
  CHECK(post(0x3004) == ::hv::Status::kInvalidAlignment);
  CHECK(post(0x3F08) == ::hv::Status::kInvalidAlignment);  // crosses the page
  CHECK(post(0x80000) == ::hv::Status::kInvalidParameter);  // not VTL0 RAM
  // A well-formed InitiateContact-sized message on an unknown connection.
  ::hv::PostMessageInput input;
  input.connection_id = 77;
  input.message_type = 1;
  input.payload_size = 8;
  std::memcpy(f.ram.data() + 0x3000, &input, sizeof input);
  CHECK(post(0x3000) == ::hv::Status::kInvalidConnectionId);
  // The same page denied to VTL0: hcl may not read it for VTL0 either.
  REQUIRE(f.memory.ChangeProtection(3, 1, 0, [] { return base::Result<void>(base::Ok()); }).ok());
  CHECK(post(0x3000) == ::hv::Status::kInvalidParameter);
}

TEST_CASE("hcl intercepts: emulation is bound to the intercepted MMIO page") {
  // `mov eax, [disp32]` (8B 05 disp32) in flat 32-bit code.
  auto mov_eax = [](uint32_t address) {
    return std::vector<uint8_t>{0x8B, 0x05, static_cast<uint8_t>(address),
                                static_cast<uint8_t>(address >> 8),
                                static_cast<uint8_t>(address >> 16),
                                static_cast<uint8_t>(address >> 24)};
  };
  ::hv::MemoryIntercept read;
  SUBCASE("the intercepted page: emulated") {
    Fixture f;
    f.Code(mov_eax(0xFEC00010));  // I/O APIC data window
    read.header = f.Header(6, ::hv::kAccessRead);
    read.guest_physical_address = 0xFEC00010;
    f.driver.Exit(::hv::message::kUnmappedGpa, read);
    REQUIRE(f.runner.HandleExit().ok());
    CHECK(f.Rip() == kCode + 6);
    CHECK_FALSE(f.Exception());
  }
  SUBCASE("rewritten to another device page: retried, nothing done") {
    Fixture f;
    f.Code(mov_eax(0xFED00000));
    read.header = f.Header(6, ::hv::kAccessRead);
    read.guest_physical_address = 0xFEC00010;
    f.driver.Exit(::hv::message::kUnmappedGpa, read);
    REQUIRE(f.runner.HandleExit().ok());
    CHECK_FALSE(f.Rip());
    CHECK_FALSE(f.Exception());
  }
  SUBCASE("rewritten to read a denied RAM page: refused by the gate") {
    Fixture f;
    f.Code(mov_eax(0x5000));
    REQUIRE(f.memory.ChangeProtection(5, 1, 0, [] { return base::Result<void>(base::Ok()); }).ok());
    read.header = f.Header(6, ::hv::kAccessRead);
    read.guest_physical_address = 0xFEC00010;
    f.Rax() = 0;
    f.driver.Exit(::hv::message::kUnmappedGpa, read);
    REQUIRE(f.runner.HandleExit().ok());
    CHECK(f.Rax() == 0);  // nothing of the denied page reached VTL0
    CHECK_FALSE(f.Rip());
  }
  SUBCASE("a port instruction where MMIO exited: retried") {
    Fixture f;
    f.Code({0xEE});  // out dx, al
    read.header = f.Header(1, ::hv::kAccessRead);
    read.guest_physical_address = 0xFEC00010;
    f.driver.Exit(::hv::message::kUnmappedGpa, read);
    REQUIRE(f.runner.HandleExit().ok());
    CHECK_FALSE(f.Rip());
  }
}

TEST_CASE("hcl intercepts: the register page completes them without a hypercall") {
  Fixture f(true);
  namespace rc = ::hv::register_class;
  SUBCASE("port I/O: RIP moves on in the page") {
    ::hv::VpRegisterPage& page = f.ShowRegisterPage();
    f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 1, true));
    REQUIRE(f.runner.HandleExit().ok());
    CHECK(page.rip == kCode + 1);
    CHECK(page.dirty == rc::kIp);
    CHECK(f.driver.written.empty());
  }
  SUBCASE("emulated MMIO: registers read from the page, RSP written back with the shared ones") {
    // `mov esp, [0xFEC00010]` (8B 25 disp32): the I/O APIC's data window.
    f.Code({0x8B, 0x25, 0x10, 0x00, 0xC0, 0xFE});
    ::hv::VpRegisterPage& page = f.ShowRegisterPage(0x8000);
    f.Rax() = 0x1234;
    ::hv::MemoryIntercept read;
    read.header = f.Header(6, ::hv::kAccessRead);
    read.guest_physical_address = 0xFEC00010;
    const int reads_before = f.driver.register_reads;
    f.driver.Exit(::hv::message::kUnmappedGpa, read);
    REQUIRE(f.runner.HandleExit().ok());
    CHECK(f.driver.register_reads == reads_before);  // nothing fetched by hypercall
    CHECK(f.driver.written.empty());
    CHECK(page.rip == kCode + 6);
    CHECK(page.dirty == (rc::kIp | rc::kGeneral));
    CHECK(page.gprs[4] != 0x8000);  // the value read went to ESP
    CHECK(page.gprs[0] == 0x1234);  // RAX as the run page holds it
  }
  SUBCASE("a page not valid for this entry: SetVpRegisters as before") {
    ::hv::VpRegisterPage& page = f.ShowRegisterPage();
    page.is_valid = 0;
    f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 1, true));
    REQUIRE(f.runner.HandleExit().ok());
    CHECK(f.Rip() == kCode + 1);
    CHECK(page.dirty == 0);
  }
}

TEST_CASE("hcl intercepts: string I/O is bound to its port, page 0 is RAM") {
  Fixture f;
  f.Code({0x6E});  // outsb: DS:[ESI] -> DX
  f.driver.run.cpu_context.gp_regs[MSHV_VTL_GP_RDX] = 0x3FF;
  f.driver.run.cpu_context.gp_regs[MSHV_VTL_GP_RSI] = 0x10;  // page 0
  f.ram[0x10] = std::byte{0x5A};
  ::hv::IoPortIntercept io = f.Io(0x3FF, 1, true);
  io.access_info |= ::hv::kIoString;
  f.driver.Exit(::hv::message::kIoPortIntercept, io);
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(f.Rip() == kCode + 1);
  // The scratch register now holds the byte from page 0 (not 0xFF).
  f.driver.Exit(::hv::message::kIoPortIntercept, f.Io(0x3FF, 1, false));
  REQUIRE(f.runner.HandleExit().ok());
  CHECK((f.Rax() & 0xFF) == 0x5A);
  // An OUTS to another port than the one that exited: retried.
  Fixture g;
  g.Code({0x6E});
  g.driver.run.cpu_context.gp_regs[MSHV_VTL_GP_RDX] = 0x3F8;
  io = g.Io(0x3FF, 1, true);
  io.access_info |= ::hv::kIoString;
  g.driver.Exit(::hv::message::kIoPortIntercept, io);
  REQUIRE(g.runner.HandleExit().ok());
  CHECK_FALSE(g.Rip());
}

TEST_CASE("hcl intercepts: 32-bit hypercall callers use EDX:EAX and EBX:ECX (finding 19)") {
  Fixture f;
  ::hv::PostMessageInput input;
  input.connection_id = 77;
  input.message_type = 1;
  input.payload_size = 8;
  std::memcpy(f.ram.data() + 0x3000, &input, sizeof input);
  ::hv::HypercallIntercept call;
  call.header = f.Header(2, ::hv::kAccessWrite);  // 32-bit protected mode: no EFER.LMA
  call.rax = static_cast<uint64_t>(::hv::CallCode::kPostMessage);
  call.rdx = 0;
  call.rbx = 0;
  call.rcx = 0x3000;
  f.driver.run.cpu_context.gp_regs[MSHV_VTL_GP_RDX] = 0xDEAD;
  f.driver.Exit(::hv::message::kHypercallIntercept, call);
  REQUIRE(f.runner.HandleExit().ok());
  CHECK(static_cast<::hv::Status>(f.Rax()) == ::hv::Status::kInvalidConnectionId);
  CHECK(f.driver.run.cpu_context.gp_regs[MSHV_VTL_GP_RDX] == 0);
  CHECK(f.Rip() == kCode + 2);
}
