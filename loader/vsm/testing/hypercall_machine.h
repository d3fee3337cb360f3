// HypercallMachine: what vsm::HypercallHandler needs, with fakes where it
// would reach KVM (kvm/vcpu_state.h): one VP whose VTL0 and VTL2 register
// state lives in memory, interrupt targets that record what they were
// asked to raise, 64 KiB of guest RAM (a real memfd) with each VTL's view
// and SynIC, and the Partition with a slot mapper that records layouts
// (and can be told to fail). Unit tests and the hypercall fuzz target
// drive the handler with it; no /dev/kvm needed.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "base/result.h"
#include "hyperv/synthetic_msrs.h"
#include "kvm/guest_ram.h"
#include "kvm/vcpu_state.h"
#include "vsm/hypercalls.h"
#include "vsm/partition.h"
#include "vsm/vtl_view.h"

namespace loader::vsm::testing {

class FakeVcpuState final : public kvm::VcpuState {
 public:
  base::Result<kvm_regs> GetRegs() const override { return regs; }
  base::Result<void> SetRegs(const kvm_regs& value) override {
    regs = value;
    return base::Ok();
  }
  base::Result<kvm_sregs> GetSregs() const override { return sregs; }
  base::Result<void> SetSregs(const kvm_sregs& value) override {
    sregs = value;
    return base::Ok();
  }
  base::Result<kvm_vcpu_events> GetEvents() const override { return events; }
  base::Result<void> SetEvents(const kvm_vcpu_events& value) override {
    events = value;
    return base::Ok();
  }
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_vcpu_events events{};
};

class FakeMsiTarget final : public kvm::MsiTarget {
 public:
  base::Result<void> SignalMsi(uint32_t apic_id, uint8_t vector) override {
    raised.emplace_back(apic_id, vector);
    return base::Ok();
  }
  std::vector<std::pair<uint32_t, uint8_t>> raised;
};

struct HypercallMachine {
  static constexpr uint64_t kRamBytes = 0x10000;

  static base::Result<std::unique_ptr<HypercallMachine>> Create() {
    auto machine = std::make_unique<HypercallMachine>();
    HypercallMachine& m = *machine;
    m.ram = std::make_unique<kvm::GuestRam>(TRY(kvm::GuestRam::Create(kRamBytes)));
    m.view2 = TRY(VtlView::Create(2, *m.ram, OverlayPagesFor(1)));
    m.view0 = TRY(VtlView::Create(0, *m.ram, OverlayPagesFor(1)));
    const hyperv::HvConfig config{.vp_count = 1, .tsc_hz = 1'000'000'000, .apic_hz = 1'000'000'000};
    m.msrs2 = std::make_unique<hyperv::SyntheticMsrs>(0, config, *m.view2, [] { return uint64_t{0}; });
    m.msrs0 = std::make_unique<hyperv::SyntheticMsrs>(0, config, *m.view0, [] { return uint64_t{0}; });
    m.partition = std::make_unique<Partition>(1, &m.vm0, m.vm2);
    m.partition->SetVpSynics(0, m.msrs0.get(), m.msrs2.get());
    m.partition->SetKick([](uint32_t) {});
    m.partition->SetVtl0Memory(
        {{0, kRamBytes}}, m.view0->memory(),
        [&m](std::span<const Vtl0Protections::Slot> slots) -> base::Result<void> {
          ++m.remaps;
          if (m.fail_remaps) return base::Error("remap refused (test)");
          m.layout.assign(slots.begin(), slots.end());
          return base::Ok();
        });
    m.handler = std::make_unique<HypercallHandler>(*m.partition, m.view2->memory(), 0, &m.vcpu0,
                                                   m.vcpu2);
    return machine;
  }

  FakeVcpuState vcpu2;
  FakeVcpuState vcpu0;
  FakeMsiTarget vm2;
  FakeMsiTarget vm0;
  std::unique_ptr<kvm::GuestRam> ram;
  std::unique_ptr<VtlView> view2;
  std::unique_ptr<VtlView> view0;
  std::unique_ptr<hyperv::SyntheticMsrs> msrs2;
  std::unique_ptr<hyperv::SyntheticMsrs> msrs0;
  std::unique_ptr<Partition> partition;
  std::unique_ptr<HypercallHandler> handler;
  // The slot mapper's record: calls, the last layout, and whether it fails.
  int remaps = 0;
  bool fail_remaps = false;
  std::vector<Vtl0Protections::Slot> layout;
};

}  // namespace loader::vsm::testing
