// The loader's hypercall handler (vsm/hypercalls.h) over fake vCPU state
// and interrupt targets (testing/hypercall_machine.h).
#include "vsm/hypercalls.h"

#include <doctest/doctest.h>

#include <cstring>

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
