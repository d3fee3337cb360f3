// HypercallMachine: what vsm::HypercallHandler needs, with fakes where it
// would reach KVM (kvm/vcpu_state.h): VP 0 (the handler's) whose VTL0 and
// VTL2 register state lives in memory, interrupt targets that record what
// they were asked to raise, 64 KiB of guest RAM (a real memfd) with each
// VTL's view and every VP's SynIC per VTL, and the Partition with a slot
// mapper that records layouts (and can be told to fail) and a kick that
// records which VPs it kicked. Unit tests and the hypercall fuzz target
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
  // VTL0's RAM is [0, kVtl0RamBytes); the pages above are VTL2's own.
  static constexpr uint64_t kVtl0RamBytes = 0xC000;

  static base::Result<std::unique_ptr<HypercallMachine>> Create(uint32_t vp_count = 1) {
    auto machine = std::make_unique<HypercallMachine>();
    HypercallMachine& m = *machine;
    m.ram = std::make_unique<kvm::GuestRam>(TRY(kvm::GuestRam::Create(kRamBytes)));
    m.view2 = TRY(VtlView::Create(2, *m.ram, OverlayPagesFor(vp_count)));
    m.view0 = TRY(VtlView::Create(0, *m.ram, OverlayPagesFor(vp_count)));
    const hyperv::HvConfig config{.vp_count = vp_count, .tsc_hz = 1'000'000'000, .apic_hz = 1'000'000'000};
    m.partition = std::make_unique<Partition>(vp_count, &m.vm0, m.vm2);
    for (uint32_t vp = 0; vp < vp_count; ++vp) {
      m.vp_msrs2.push_back(std::make_unique<hyperv::SyntheticMsrs>(vp, config, *m.view2,
                                                                   [] { return uint64_t{0}; }));
      m.vp_msrs0.push_back(std::make_unique<hyperv::SyntheticMsrs>(vp, config, *m.view0,
                                                                   [] { return uint64_t{0}; }));
      m.partition->SetVpSynics(vp, m.vp_msrs0.back().get(), m.vp_msrs2.back().get());
    }
    m.msrs2 = m.vp_msrs2.front().get();
    m.msrs0 = m.vp_msrs0.front().get();
    m.partition->SetKick([&m](uint32_t vp) { m.kicks.push_back(vp); });
    m.partition->SetVtl2InterruptHook([&m](uint32_t vp) { m.kicks.push_back(vp); });
    m.partition->SetVtl0Memory(
        {{0, kVtl0RamBytes}}, m.view0->memory(),
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
  std::vector<std::unique_ptr<hyperv::SyntheticMsrs>> vp_msrs2;  // per VP
  std::vector<std::unique_ptr<hyperv::SyntheticMsrs>> vp_msrs0;
  hyperv::SyntheticMsrs* msrs2 = nullptr;  // VP 0's
  hyperv::SyntheticMsrs* msrs0 = nullptr;
  std::unique_ptr<Partition> partition;
  std::unique_ptr<HypercallHandler> handler;
  // The slot mapper's record: calls, the last layout, and whether it fails.
  int remaps = 0;
  bool fail_remaps = false;
  std::vector<Vtl0Protections::Slot> layout;
  // The VPs Partition::Kick was asked to kick, in order.
  std::vector<uint32_t> kicks;  // Kick and RaisedVtl2Interrupt, in order
};

}  // namespace loader::vsm::testing
