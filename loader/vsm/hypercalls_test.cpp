// The loader's hypercall handler (vsm/hypercalls.h) over fake vCPU state
// and interrupt targets (testing/hypercall_machine.h).
#include "vsm/hypercalls.h"

#include <doctest/doctest.h>

#include "attest/snp_verify.h"

#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include "hv/hypercall_abi.h"
#include "vsm/testing/hypercall_machine.h"

namespace {

using loader::vsm::HypercallCall;
using loader::vsm::HypercallOutcome;
using loader::vsm::testing::HypercallMachine;

std::unique_ptr<HypercallMachine> Machine() {
  auto machine = HypercallMachine::Create();
  REQUIRE(machine.ok());
  return std::move(*machine);
}

HypercallCall Call(hv::CallCode code, uint64_t rdx = 0, uint64_t r8 = 0, uint16_t reps = 0,
                   bool fast = false) {
  HypercallCall call;
  call.input.code = static_cast<uint16_t>(code);
  call.input.rep_count = reps;
  call.input.fast = fast;
  call.rdx = rdx;
  call.r8 = r8;
  return call;
}

hv::Status StatusOf(const HypercallOutcome& outcome) {
  return static_cast<hv::Status>(outcome.result & 0xFFFF);
}

template <typename T>
void Put(HypercallMachine& m, uint64_t gpa, const T& value) {
  REQUIRE(m.view2->memory().WriteObj(mem::Gpa{gpa}, value).ok());
}

}  // namespace

TEST_CASE("hypercalls: VTL0 may only VtlCall, or post/signal through VTL2's intercept") {
  auto m = Machine();
  auto vtl_call = m->handler->Handle(0, Call(hv::CallCode::kVtlCall)).value();
  CHECK(vtl_call.kind == HypercallOutcome::Kind::kVtlCall);
  auto post = m->handler->Handle(0, Call(hv::CallCode::kPostMessage, 0x1000)).value();
  CHECK(StatusOf(post) == hv::Status::kInvalidConnectionId);
  // VTL-only calls from VTL0 are not hypercalls it can make.
  for (auto code : {hv::CallCode::kVtlReturn, hv::CallCode::kModifyVtlProtectionMask,
                    hv::CallCode::kSetVpRegisters, hv::CallCode::kInstallIntercept})
    CHECK(StatusOf(m->handler->Handle(0, Call(code, 0x1000, 0, 1)).value()) ==
          hv::Status::kInvalidHypercallCode);
  // VTL2 installs the unknown-connection intercept: VTL0's posts go there.
  hv::InstallInterceptInput intercept;
  intercept.access_type_mask = 4;
  intercept.intercept_type = hv::intercept_type::kUnknownSynicConnection;
  Put(*m, 0x2000, intercept);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kInstallIntercept, 0x2000)).value()) ==
        hv::Status::kSuccess);
  CHECK(m->handler->Handle(0, Call(hv::CallCode::kPostMessage, 0x1000)).value().kind ==
        HypercallOutcome::Kind::kForward);
}

TEST_CASE("hypercalls: a protection change KVM refuses changes nothing (finding 10a)") {
  auto m = Machine();
  hv::ModifyVtlProtectionMaskHeader header;
  header.map_flags = 0;
  header.input_vtl = hv::EncodeInputVtl(0);
  Put(*m, 0x3000, header);
  Put(*m, 0x3000 + sizeof header, uint64_t{5});  // GPN 5
  m->fail_remaps = true;
  auto refused =
      m->handler->Handle(2, Call(hv::CallCode::kModifyVtlProtectionMask, 0x3000, 0, 1)).value();
  CHECK(StatusOf(refused) == hv::Status::kInsufficientMemory);
  CHECK(m->partition->ClassifyVtl0Access(0x5000, false) ==
        loader::vsm::Partition::Vtl0Access::kAllowed);
  CHECK(m->remaps == 2);  // the attempt, then the old layout restored
  m->fail_remaps = false;
  auto applied =
      m->handler->Handle(2, Call(hv::CallCode::kModifyVtlProtectionMask, 0x3000, 0, 1)).value();
  CHECK(StatusOf(applied) == hv::Status::kSuccess);
  CHECK((applied.result >> 32 & 0xFFF) == 1);  // reps completed
  CHECK(m->partition->ClassifyVtl0Access(0x5000, false) ==
        loader::vsm::Partition::Vtl0Access::kDenied);
  // A store VTL0 made into the denied page mid-remap is not written.
  const std::array<std::byte, 4> data{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  CHECK(m->partition->WriteVtl0IfAllowed(0x5000, data) ==
        loader::vsm::Partition::Vtl0Access::kDenied);
  CHECK(m->partition->WriteVtl0IfAllowed(0x4FFE, data) ==
        loader::vsm::Partition::Vtl0Access::kDenied);  // straddles into it
  CHECK(m->partition->WriteVtl0IfAllowed(0x4000, data) ==
        loader::vsm::Partition::Vtl0Access::kAllowed);
  // A VTL0 device's DMA range: every page counts, wrapping ranges are refused.
  using Access = loader::vsm::Partition::Vtl0Access;
  CHECK(m->partition->ClassifyVtl0Range(0x3000, 0x2000, true) == Access::kAllowed);
  CHECK(m->partition->ClassifyVtl0Range(0x3000, 0x2001, true) == Access::kDenied);
  CHECK(m->partition->ClassifyVtl0Range(0x5FFF, 1, false) == Access::kDenied);
  CHECK(m->partition->ClassifyVtl0Range(0x6000, 0x1000, false) == Access::kAllowed);
  CHECK(m->partition->ClassifyVtl0Range(0xF000, 0x1001, false) == Access::kNotRam);  // past RAM
  CHECK(m->partition->ClassifyVtl0Range(~uint64_t{0} - 0xFFF, 0x2000, false) == Access::kNotRam);
  CHECK(m->partition->ClassifyVtl0Range(~uint64_t{0} - 0xFFF, 0x1000, false) == Access::kNotRam);
}

TEST_CASE("hypercalls: typed inputs checked (alignment, VTLs, outputs)") {
  auto m = Machine();
  // Misaligned or page-crossing input.
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kInstallIntercept, 0x2004)).value()) ==
        hv::Status::kInvalidAlignment);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kInstallIntercept, 0x2FF0)).value()) ==
        hv::Status::kInvalidAlignment);
  // AssertVirtualInterrupt to VTL1 (no such VTL here) and a logical destination.
  hv::AssertVirtualInterruptInput interrupt;
  interrupt.vector = 0x30;
  interrupt.target_vtl = 1;
  Put(*m, 0x2000, interrupt);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kAssertVirtualInterrupt, 0x2000))
                     .value()) == hv::Status::kInvalidParameter);
  interrupt.target_vtl = 0;
  interrupt.control = uint64_t{1} << 33;
  Put(*m, 0x2000, interrupt);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kAssertVirtualInterrupt, 0x2000))
                     .value()) == hv::Status::kInvalidParameter);
  // GetVpIndexFromApicId: a misaligned output list is refused, a good one written.
  hv::GetVpIndexFromApicIdHeader header;
  Put(*m, 0x2000, header);
  Put(*m, 0x2000 + sizeof header, uint32_t{0});
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kGetVpIndexFromApicId, 0x2000, 0x4002,
                                            1))
                     .value()) == hv::Status::kInvalidAlignment);
  Put(*m, 0x4000, uint32_t{0xFFFFFFFF});
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kGetVpIndexFromApicId, 0x2000, 0x4000,
                                            1))
                     .value()) == hv::Status::kSuccess);
  CHECK(m->view2->memory().ReadObj<uint32_t>(mem::Gpa{0x4000}).value() == 0);
  // A good AssertVirtualInterrupt reaches VTL0's local APIC 0.
  interrupt.control = 0;
  Put(*m, 0x2000, interrupt);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kAssertVirtualInterrupt, 0x2000))
                     .value()) == hv::Status::kSuccess);
  REQUIRE(m->vm0.raised.size() == 1);
  CHECK(m->vm0.raised[0] == std::pair<uint32_t, uint8_t>{0, 0x30});
  CHECK(m->vm2.raised.empty());
}

TEST_CASE("hypercalls: Get/SetVpRegisters reach the VTL's vCPU; VSM registers are read-only") {
  auto m = Machine();
  hv::VpRegistersHeader header;
  header.partition_id = hv::kPartitionSelf;
  header.vp_index = hv::kVpIndexSelf;
  header.input_vtl = hv::EncodeInputVtl(0);
  Put(*m, 0x2000, header);
  hv::RegisterAssoc rip;
  rip.name = hv::reg::kRip;
  rip.value = {0x1234, 0};
  Put(*m, 0x2000 + sizeof header, rip);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kSetVpRegisters, 0x2000, 0, 1))
                     .value()) == hv::Status::kSuccess);
  CHECK(m->vcpu0.regs.rip == 0x1234);
  CHECK(m->vcpu2.regs.rip == 0);
  // Reading it back into an output page.
  Put(*m, 0x2000 + sizeof header, uint32_t{hv::reg::kRip});
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kGetVpRegisters, 0x2000, 0x4000, 1))
                     .value()) == hv::Status::kSuccess);
  CHECK(m->view2->memory().ReadObj<uint64_t>(mem::Gpa{0x4000}).value() == 0x1234);
  // Another VP's registers are not this thread's to touch.
  header.vp_index = 3;
  Put(*m, 0x2000, header);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kGetVpRegisters, 0x2000, 0x4000, 1))
                     .value()) == hv::Status::kInvalidVpIndex);
}

TEST_CASE("hypercalls: the register page is VTL2's own register, on a page of VTL2's own") {
  auto m = Machine();
  hv::VpRegistersHeader header;
  header.partition_id = hv::kPartitionSelf;
  header.vp_index = hv::kVpIndexSelf;
  header.input_vtl = 0;  // the caller's VTL, as mshv_vtl registers it
  Put(*m, 0x2000, header);
  auto set = [&](uint64_t value) {
    hv::RegisterAssoc assoc;
    assoc.name = hv::reg::kRegisterPage;
    assoc.value = {value, 0};
    Put(*m, 0x2000 + sizeof header, assoc);
    return StatusOf(m->handler->Handle(2, Call(hv::CallCode::kSetVpRegisters, 0x2000, 0, 1))
                        .value());
  };
  constexpr uint64_t kVtl2Page = HypercallMachine::kVtl0RamBytes + 0x1000;
  CHECK_FALSE(m->handler->register_page());
  // VTL0's RAM would let VTL0 write what VTL2 hands back: refused, as are
  // pages outside RAM and reserved bits.
  CHECK(set(0x3000 | 1) == hv::Status::kInvalidParameter);
  CHECK(set(HypercallMachine::kRamBytes | 1) == hv::Status::kInvalidParameter);
  CHECK(set(kVtl2Page | 0x10 | 1) == hv::Status::kInvalidParameter);
  CHECK_FALSE(m->handler->register_page());
  CHECK(set(kVtl2Page | 1) == hv::Status::kSuccess);
  CHECK(m->handler->register_page() == kVtl2Page);
  // Read back as written.
  Put(*m, 0x2000 + sizeof header, uint32_t{hv::reg::kRegisterPage});
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kGetVpRegisters, 0x2000, 0x4000, 1))
                     .value()) == hv::Status::kSuccess);
  CHECK(m->view2->memory().ReadObj<uint64_t>(mem::Gpa{0x4000}).value() == (kVtl2Page | 1));
  // Disabled: no page.
  CHECK(set(kVtl2Page) == hv::Status::kSuccess);
  CHECK_FALSE(m->handler->register_page());
  // It is no register of VTL0's vCPU.
  header.input_vtl = hv::EncodeInputVtl(0);
  Put(*m, 0x2000, header);
  CHECK(set(kVtl2Page | 1) == hv::Status::kUnknownRegisterName);
}

namespace {

constexpr uint8_t kSint7Vector = 0x60;

// VP `vp`'s VTL2 SynIC: enabled, its SIEFP at `siefp`, SINT7 live with
// kSint7Vector (the VMBus SINT hcl uses, hyperv-vmbus.md §3.5).
void EnableVtl2Synic(HypercallMachine& m, uint32_t vp, uint64_t siefp) {
  auto& synic = m.vp_msrs2.at(vp)->synic();
  REQUIRE(synic.WriteRegister(0x40000080, 1).ok());          // SCONTROL
  REQUIRE(synic.WriteRegister(0x40000082, siefp | 1).ok());  // SIEFP
  REQUIRE(synic.WriteRegister(0x40000090 + 7, kSint7Vector).ok());
}

// Bit `flag` of SINT `sint`'s SIEF area, as VTL2 sees it.
bool SiefBit(HypercallMachine& m, uint64_t siefp, uint32_t sint, uint32_t flag) {
  const auto word =
      m.view2->memory().ReadObj<uint32_t>(mem::Gpa{siefp + 256u * sint + (flag / 32) * 4});
  REQUIRE(word.ok());
  return ((*word >> (flag % 32)) & 1) != 0;
}

// Linux's hv_do_fast_hypercall8(HVCALL_SIGNAL_EVENT, connection | flag << 32).
HypercallCall FastSignal(uint32_t connection_id, uint16_t flag) {
  return Call(hv::CallCode::kSignalEvent, connection_id | uint64_t{flag} << 32, 0, 0, true);
}

hv::Status Vtl2Call(HypercallMachine& m, hv::CallCode code, const auto& input) {
  Put(m, 0x2000, input);
  return StatusOf(m.handler->Handle(2, Call(code, 0x2000)).value());
}

}  // namespace

TEST_CASE("hypercalls: VTL0's SignalEvent on a connected id sets VTL2's SIEF flag, no intercept") {
  auto m = HypercallMachine::Create(2).value();
  constexpr uint64_t kSiefp0 = 0xE000, kSiefp1 = 0xD000;
  EnableVtl2Synic(*m, 0, kSiefp0);
  EnableVtl2Synic(*m, 1, kSiefp1);
  // VTL2 intercepts unknown connections, as hcl does.
  hv::InstallInterceptInput intercept;
  intercept.access_type_mask = 4;
  intercept.intercept_type = hv::intercept_type::kUnknownSynicConnection;
  REQUIRE(Vtl2Call(*m, hv::CallCode::kInstallIntercept, intercept) == hv::Status::kSuccess);
  // Port 1: SINT7 flags 64-95 on VP 0 (this handler's VP); port 2: flag
  // 200 on VP 1. Connection ids as OpenVMM makes them (relid | sint<<12).
  REQUIRE(Vtl2Call(*m, hv::CallCode::kCreatePort, hv::EventPort(1, 2, 0, 7, 0, 64, 32)) ==
          hv::Status::kSuccess);
  REQUIRE(Vtl2Call(*m, hv::CallCode::kCreatePort, hv::EventPort(2, 2, 0, 7, 1, 200, 1)) ==
          hv::Status::kSuccess);
  REQUIRE(Vtl2Call(*m, hv::CallCode::kConnectPort, hv::EventConnection(0x7005, 0, 1)) ==
          hv::Status::kSuccess);
  REQUIRE(Vtl2Call(*m, hv::CallCode::kConnectPort, hv::EventConnection(0x7006, 0, 2)) ==
          hv::Status::kSuccess);

  SUBCASE("this VP: flag set, vector raised in VTL2, the VP kicked out of VTL0") {
    const auto outcome = m->handler->Handle(0, FastSignal(0x7005, 3)).value();
    CHECK(outcome.kind == HypercallOutcome::Kind::kResult);
    CHECK(StatusOf(outcome) == hv::Status::kSuccess);
    CHECK(SiefBit(*m, kSiefp0, 7, 67));
    CHECK_FALSE(SiefBit(*m, kSiefp1, 7, 67));
    REQUIRE(m->vm2.raised.size() == 1);
    CHECK(m->vm2.raised[0] == std::pair<uint32_t, uint8_t>{0, kSint7Vector});
    CHECK(m->vm0.raised.empty());
    CHECK(m->kicks == std::vector<uint32_t>{0});
    // Already set: no new interrupt, no kick (TLFS "SynIC Event Flags").
    CHECK(StatusOf(m->handler->Handle(0, FastSignal(0x7005, 3)).value()) == hv::Status::kSuccess);
    CHECK(m->vm2.raised.size() == 1);
    CHECK(m->kicks.size() == 1);
  }
  SUBCASE("another VP: its SIEF, its VTL2 local APIC, and that VP kicked") {
    CHECK(StatusOf(m->handler->Handle(0, FastSignal(0x7006, 0)).value()) == hv::Status::kSuccess);
    CHECK(SiefBit(*m, kSiefp1, 7, 200));
    CHECK_FALSE(SiefBit(*m, kSiefp0, 7, 200));
    REQUIRE(m->vm2.raised.size() == 1);
    CHECK(m->vm2.raised[0] == std::pair<uint32_t, uint8_t>{1, kSint7Vector});
    CHECK(m->kicks == std::vector<uint32_t>{1});
  }
  SUBCASE("a flag past the port's count, or RsvdZ set: refused, nothing set") {
    CHECK(StatusOf(m->handler->Handle(0, FastSignal(0x7005, 32)).value()) ==
          hv::Status::kInvalidParameter);
    auto reserved = FastSignal(0x7005, 0);
    reserved.rdx |= uint64_t{1} << 48;
    CHECK(StatusOf(m->handler->Handle(0, reserved).value()) == hv::Status::kInvalidParameter);
    CHECK_FALSE(SiefBit(*m, kSiefp0, 7, 64));
    CHECK(m->vm2.raised.empty());
    CHECK(m->kicks.empty());
  }
  SUBCASE("a masked SINT: the flag is set, no interrupt, no kick (VTL2 polls)") {
    REQUIRE(m->msrs2->synic().WriteRegister(0x40000090 + 7, uint64_t{1} << 16).ok());
    CHECK(StatusOf(m->handler->Handle(0, FastSignal(0x7005, 1)).value()) == hv::Status::kSuccess);
    CHECK(SiefBit(*m, kSiefp0, 7, 65));
    CHECK(m->vm2.raised.empty());
    CHECK(m->kicks.empty());
  }
  SUBCASE("unknown ids and the memory form keep the intercept path") {
    CHECK(m->handler->Handle(0, FastSignal(0x7007, 0)).value().kind ==
          HypercallOutcome::Kind::kForward);
    CHECK(m->handler->Handle(0, Call(hv::CallCode::kSignalEvent, 0x1000)).value().kind ==
          HypercallOutcome::Kind::kForward);
    CHECK(m->vm2.raised.empty());
  }
  SUBCASE("disconnected, then deleted: back to the intercept, then INVALID_PORT_ID") {
    hv::DisconnectPortInput disconnect;
    disconnect.connection_id = 0x7005;
    // Fast form: the 16 bytes in RDX and R8.
    const auto raw = std::bit_cast<std::array<uint64_t, 2>>(disconnect);
    CHECK(StatusOf(m->handler
                       ->Handle(2, Call(hv::CallCode::kDisconnectPort, raw[0], raw[1], 0, true))
                       .value()) == hv::Status::kSuccess);
    CHECK(m->handler->Handle(0, FastSignal(0x7005, 0)).value().kind ==
          HypercallOutcome::Kind::kForward);
    hv::DeletePortInput del;
    del.port_id = 2;
    CHECK(Vtl2Call(*m, hv::CallCode::kDeletePort, del) == hv::Status::kSuccess);
    CHECK(StatusOf(m->handler->Handle(0, FastSignal(0x7006, 0)).value()) ==
          hv::Status::kInvalidPortId);
    CHECK(m->vm2.raised.empty());
  }
}

TEST_CASE("hypercalls: VTL0 may not create, connect, delete or disconnect ports") {
  auto m = HypercallMachine::Create(1).value();
  EnableVtl2Synic(*m, 0, 0xE000);
  // The attacker in VTL0 aims a port of its own at VTL2's SINT7 and
  // connects an id to it; every call is refused and nothing is made.
  Put(*m, 0x3000, hv::EventPort(9, 2, 0, 7, 0, 0, 1));
  CHECK(StatusOf(m->handler->Handle(0, Call(hv::CallCode::kCreatePort, 0x3000)).value()) ==
        hv::Status::kAccessDenied);
  Put(*m, 0x3000, hv::EventConnection(0x99, 0, 9));
  CHECK(StatusOf(m->handler->Handle(0, Call(hv::CallCode::kConnectPort, 0x3000)).value()) ==
        hv::Status::kAccessDenied);
  for (auto code : {hv::CallCode::kDeletePort, hv::CallCode::kDisconnectPort})
    CHECK(StatusOf(m->handler->Handle(0, Call(code, hv::kPartitionSelf, 9, 0, true)).value()) ==
          hv::Status::kAccessDenied);
  CHECK(StatusOf(m->handler->Handle(0, FastSignal(0x99, 0)).value()) ==
        hv::Status::kInvalidConnectionId);
  CHECK_FALSE(SiefBit(*m, 0xE000, 7, 0));
  // VTL2's own calls: the fast form of CreatePort cannot carry 56 bytes.
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kCreatePort, 0, 0, 0, true)).value()) ==
        hv::Status::kInvalidHypercallInput);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kCreatePort, 0x3004)).value()) ==
        hv::Status::kInvalidAlignment);
}

TEST_CASE("hypercalls: ModifySparseGpaPageHostVisibility shares VTL2's pages on an isolated partition") {
  auto m = Machine();
  hv::ModifySparseGpaPageHostVisibilityHeader header;
  header.host_visibility = loader::vsm::HostVisibility::kReadWrite;
  Put(*m, 0x3000, header);
  Put(*m, 0x3000 + sizeof header, uint64_t{5});
  Put(*m, 0x3000 + sizeof header + 8, uint64_t{6});
  const auto share = Call(hv::CallCode::kModifySparseGpaPageHostVisibility, 0x3000, 0, 2);
  // Not isolated: there is no private memory to share.
  CHECK(StatusOf(m->handler->Handle(2, share).value()) == hv::Status::kAccessDenied);
  loader::vsm::HostVisibility visibility(0, HypercallMachine::kRamBytes);
  m->partition->SetHostVisibility(&visibility);
  // VTL0 cannot make this call: its memory is shared only through VTL2.
  CHECK(StatusOf(m->handler->Handle(0, share).value()) == hv::Status::kInvalidHypercallCode);
  CHECK_FALSE(visibility.Allows(0x5000, 0x2000, true));
  const auto applied = m->handler->Handle(2, share).value();
  CHECK(StatusOf(applied) == hv::Status::kSuccess);
  CHECK((applied.result >> 32 & 0xFFF) == 2);  // reps completed
  CHECK(visibility.Allows(0x5000, 0x2000, true));
  // A GPN outside RAM fails the call and shares nothing.
  Put(*m, 0x3000 + sizeof header + 8, uint64_t{0x100});
  header.host_visibility = loader::vsm::HostVisibility::kNone;
  Put(*m, 0x3000, header);
  const auto refused = m->handler->Handle(2, share).value();
  CHECK(StatusOf(refused) == hv::Status::kInvalidParameter);
  CHECK((refused.result >> 32 & 0xFFF) == 0);
  CHECK(visibility.Allows(0x5000, 0x1000, true));
  // Another partition, a fast call, or no reps: refused.
  header.partition_id = 7;
  Put(*m, 0x3000, header);
  CHECK(StatusOf(m->handler->Handle(2, share).value()) == hv::Status::kInvalidPartitionId);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kModifySparseGpaPageHostVisibility,
                                            0x3000, 0, 1, true))
                     .value()) == hv::Status::kInvalidHypercallInput);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kModifySparseGpaPageHostVisibility,
                                            0x3000, 0, 0))
                     .value()) == hv::Status::kInvalidHypercallInput);
}

namespace {

TEST_CASE("hypercalls: HvCallHclGetPlatformKey gives VTL2, and only VTL2, keys bound to the image") {
  auto m = Machine();
  hv::HclGetPlatformKeyInput input;
  input.context[0] = 'a';
  Put(*m, 0x3000, input);
  const auto call = Call(hv::CallCode::kHclGetPlatformKey, 0x3000, 0x4000);
  // No --guest-state: no platform key to derive from.
  CHECK(StatusOf(m->handler->Handle(2, call).value()) == hv::Status::kAccessDenied);
  const loader::vsm::PlatformSecret secret{1, 2, 3};
  const std::array<uint8_t, 32> image_a{0xA}, image_b{0xB};
  const loader::vsm::PlatformKey key(secret, image_a);
  m->partition->SetPlatformKey(&key);
  // VTL0 may not ask (the key seals VTL2's secrets).
  CHECK(StatusOf(m->handler->Handle(0, call).value()) == hv::Status::kInvalidHypercallCode);
  REQUIRE(StatusOf(m->handler->Handle(2, call).value()) == hv::Status::kSuccess);
  const auto out = m->view2->memory().ReadObj<hv::HclGetPlatformKeyOutput>(mem::Gpa{0x4000});
  REQUIRE(out.ok());
  const auto expected = key.Derive(std::span<const uint8_t, 32>(input.context));
  CHECK(std::equal(expected.begin(), expected.end(), out->key));
  // Another context, another image or another secret: another key.
  std::array<uint8_t, 32> other_context{'b'};
  CHECK(key.Derive(other_context) != expected);
  CHECK(loader::vsm::PlatformKey(secret, image_b).Derive(std::span<const uint8_t, 32>(input.context)) !=
        expected);
  CHECK(loader::vsm::PlatformKey(loader::vsm::PlatformSecret{9}, image_a)
            .Derive(std::span<const uint8_t, 32>(input.context)) != expected);
  // An output that is unaligned or crosses its page is refused.
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kHclGetPlatformKey, 0x3000, 0x4004))
                     .value()) == hv::Status::kInvalidAlignment);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kHclGetPlatformKey, 0x3000, 0x4FF0))
                     .value()) == hv::Status::kInvalidAlignment);
}

TEST_CASE("hypercalls: HvCallHclGetPlatformReport gives VTL2, and only VTL2, a signed report of its data") {
  auto m = Machine();
  hv::HclGetPlatformReportInput input;
  for (size_t i = 0; i < sizeof input.report_data; ++i) input.report_data[i] = static_cast<uint8_t>(i);
  Put(*m, 0x3000, input);
  const auto call = Call(hv::CallCode::kHclGetPlatformReport, 0x3000, 0x4000);
  // No --guest-state: no emulated platform to report.
  CHECK(StatusOf(m->handler->Handle(2, call).value()) == hv::Status::kAccessDenied);
  igvm::SnpLaunchIdentity launch;
  launch.launch_digest[5] = 0x55;
  auto reporter = loader::vsm::EmulatedSnpReporter::Create(loader::vsm::PlatformSecret{4}, launch, 0x30000);
  REQUIRE(reporter.ok());
  m->partition->SetPlatformReporter(&*reporter);
  CHECK(StatusOf(m->handler->Handle(0, call).value()) == hv::Status::kInvalidHypercallCode);
  REQUIRE(StatusOf(m->handler->Handle(2, call).value()) == hv::Status::kSuccess);
  const auto out = m->view2->memory().ReadObj<hv::HclGetPlatformReportOutput>(mem::Gpa{0x4000});
  REQUIRE(out.ok());
  const auto raw = std::as_bytes(std::span(out->report));
  const auto report = attest::ParseSnpReport(raw);
  REQUIRE(report.ok());
  CHECK(std::equal(report->report_data.begin(), report->report_data.end(), input.report_data));
  CHECK(report->measurement == launch.launch_digest);
  CHECK(report->policy == 0x30000);
  const std::string pem = reporter->PublicKeyPem().value();
  CHECK(attest::VerifyEmulatedSnpReport(raw, std::as_bytes(std::span(pem))).ok());
  // The page's end: 0x4A0 bytes from 0x4C00 would cross it.
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kHclGetPlatformReport, 0x3000, 0x4C00))
                     .value()) == hv::Status::kInvalidAlignment);
}

}  // namespace

TEST_CASE("hypercalls: the intercept page is offered, and VTL2 turns it on in its partition config") {
  auto m = Machine();
  hv::VpRegistersHeader header;
  header.partition_id = hv::kPartitionSelf;
  header.vp_index = hv::kVpIndexSelf;
  header.input_vtl = 0;
  Put(*m, 0x2000, header);
  Put(*m, 0x2000 + sizeof header, uint32_t{hv::reg::kVsmCapabilities});
  REQUIRE(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kGetVpRegisters, 0x2000, 0x4000, 1))
                       .value()) == hv::Status::kSuccess);
  CHECK((m->view2->memory().ReadObj<uint64_t>(mem::Gpa{0x4000}).value() & hv::kVsmCapInterceptPage) != 0);
  CHECK((m->partition->vsm_partition_config() & hv::kVsmConfigInterceptPage) == 0);
  hv::RegisterAssoc config;
  config.name = hv::reg::kVsmPartitionConfig;
  config.value = {hv::kVsmConfigInterceptPage | 1, 0};
  Put(*m, 0x2000 + sizeof header, config);
  REQUIRE(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kSetVpRegisters, 0x2000, 0, 1))
                       .value()) == hv::Status::kSuccess);
  CHECK((m->partition->vsm_partition_config() & hv::kVsmConfigInterceptPage) != 0);
  // It is no register of VTL0's: VTL2 naming VTL0 is refused.
  header.input_vtl = hv::EncodeInputVtl(0);
  Put(*m, 0x2000, header);
  config.value = {0, 0};
  Put(*m, 0x2000 + sizeof header, config);
  CHECK(StatusOf(m->handler->Handle(2, Call(hv::CallCode::kSetVpRegisters, 0x2000, 0, 1))
                     .value()) != hv::Status::kSuccess);
  CHECK((m->partition->vsm_partition_config() & hv::kVsmConfigInterceptPage) != 0);
}
