// Partition: the VSM state every VP thread of one machine shares (TLFS
// "Virtual Secure Mode"; hyperv-vmbus.md §3): which VTLs exist, the
// intercepts VTL2 installed for VTL0's accesses (HvCallInstallIntercept),
// VTL2's partition configuration, the VTL0 VM for interrupt delivery,
// every VP's SynIC per VTL (for PostMessageDirect / SignalEventDirect to
// another VP), and VTL2's event ports with VTL0's connections to them
// (vsm/event_ports.h).
//
// The VTL model (DESIGN.md, "VTLs"): one KVM VM per VTL over one memfd of
// guest RAM; each VP is a vCPU in both, run by one host thread, which
// runs the active VTL's vCPU. VTL2 RAM is not mapped in the VTL0 VM.
//
// Locking: mutex_ guards the intercept table, the event ports and the
// configuration; the
// SynIC objects lock themselves. Setup (SetVpSynics) happens before any VP
// thread runs.
#pragma once

#include <atomic>
#include <bitset>
#include <functional>
#include <optional>
#include <span>
#include <cstdint>
#include <mutex>
#include <vector>

#include "hv/hvdef.h"
#include "hyperv/synthetic_msrs.h"
#include "base/result.h"
#include "kvm/vcpu_state.h"
#include "mem/guest_memory.h"
#include "vp_state.h"
#include "vsm/event_ports.h"
#include "vsm/host_visibility.h"
#include "vsm/platform_key.h"
#include "vsm/platform_report.h"
#include "vsm/vtl0_protections.h"

namespace loader::vsm {

class Partition {
 public:
  // `vm0`: the VTL0 VM, or null for a machine without VTL0; `vm2` VTL2's.
  Partition(uint32_t vp_count, kvm::MsiTarget* vm0, kvm::MsiTarget& vm2);

  uint32_t vp_count() const { return vp_count_; }
  bool has_vtl0() const { return vm0_ != nullptr; }
  kvm::MsiTarget* vm0() { return vm0_; }
  kvm::MsiTarget& vm2() { return vm2_; }

  // Each VP's synthetic MSRs (and so SynIC) per VTL; `vtl0` may be null.
  void SetVpSynics(uint32_t vp, hyperv::SyntheticMsrs* vtl0, hyperv::SyntheticMsrs* vtl2);
  hyperv::SyntheticMsrs* msrs(uint32_t vp, uint8_t vtl) const;

  // HvCallInstallIntercept from VTL2 (TLFS "HvCallInstallIntercept"):
  // `type` an hv::intercept_type, `access` the R/W/X mask, `parameter` the
  // port (IoPort), first|last<<16 (IoPortRange), or unused.
  hv::Status InstallIntercept(uint32_t type, uint32_t access, uint64_t parameter);
  bool IoPortIntercepted(uint16_t port) const;
  bool MsrIntercepted() const;
  bool UnknownSynicConnectionIntercepted() const;

  // VTL2's event ports and VTL0's connections to them (HvCallCreatePort,
  // ConnectPort, DeletePort, DisconnectPort; vsm/event_ports.h), and where
  // a VTL0 SignalEvent on a connected id goes (nullopt: not connected).
  hv::Status CreatePort(const hv::CreatePortInput& in);
  hv::Status ConnectPort(const hv::ConnectPortInput& in);
  hv::Status DeletePort(const hv::DeletePortInput& in);
  hv::Status DisconnectPort(const hv::DisconnectPortInput& in);
  std::optional<EventPorts::Signal> ResolveSignal(uint8_t vtl, uint32_t connection_id,
                                                  uint32_t flag) const;

  // VTL0's memory protections (HvCallModifyVtlProtectionMask) and the
  // function that makes VTL0's VM's memory slots match a layout. Set up
  // before the VPs run.
  using SlotMapper =
      std::function<base::Result<void>(std::span<const Vtl0Protections::Slot>)>;
  // `vtl0_memory` is VTL0's view of RAM (vsm/vtl_view.h).
  void SetVtl0Memory(std::vector<Vtl0Protections::Range> ram, mem::GuestMemory& vtl0_memory,
                     SlotMapper mapper);
  // Applies `flags` to `gpns` and remaps VTL0's VM. The new protections
  // are kept only if the remap succeeded; otherwise the previous layout is
  // mapped again and the call fails with nothing changed.
  hv::Status ModifyVtl0Protection(std::span<const uint64_t> gpns, uint32_t flags);
  // What a VTL0 access that exited as MMIO hit: not VTL0 RAM; a page the
  // protections deny it; or RAM it may use (a slot being remapped).
  enum class Vtl0Access { kNotRam, kDenied, kAllowed };
  Vtl0Access ClassifyVtl0Access(uint64_t gpa, bool write) const;
  // The same for every page of [gpa, gpa + bytes) (bytes >= 1; a range
  // that wraps is kNotRam): the first page's verdict that is not
  // kAllowed, else kAllowed. A VTL0 device's DMA is checked this way.
  Vtl0Access ClassifyVtl0Range(uint64_t gpa, uint64_t bytes, bool write) const;

  // A VTL0 store KVM already executed into a gap of a remap: written to
  // VTL0's RAM only if every page it touches allows VTL0 to write, checked
  // and written under the same lock as protection changes (so a store
  // never lands in a page VTL2 has just denied). Returns the verdict.
  Vtl0Access WriteVtl0IfAllowed(uint64_t gpa, std::span<const std::byte> data);
  // Reads VTL0 RAM VTL0 may read (instruction bytes for an intercept
  // message), under the same lock; false if refused.
  bool ReadVtl0IfAllowed(uint64_t gpa, std::span<std::byte> out) const;

  // HvCallStartVirtualProcessor: a VP's vCPUs belong to its own thread, so
  // a start is left in that VP's mailbox and the thread is kicked (`kick`,
  // set up before the VPs run); the thread applies it between exits
  // (VpRunner), if that VTL of the VP has not started yet.
  struct StartRequest {
    uint8_t vtl = 0;
    X64VpState state;
  };
  void SetKick(std::function<void(uint32_t)> kick) { kick_ = std::move(kick); }
  // An isolated partition (--isolation vbs): the pages its devices may
  // reach (vsm/host_visibility.h); null otherwise. Set before VPs run.
  void SetHostVisibility(HostVisibility* visibility) { host_visibility_ = visibility; }
  HostVisibility* host_visibility() const { return host_visibility_; }
  // The platform key VTL2 may derive keys from (vsm/platform_key.h); null:
  // none (no --guest-state). Set before VPs run.
  void SetPlatformKey(const PlatformKey* key) { platform_key_ = key; }
  const PlatformKey* platform_key() const { return platform_key_; }
  // The emulated hardware report VTL2 may ask for (vsm/platform_report.h);
  // null: none (no --guest-state). Set before VPs run.
  void SetPlatformReporter(const EmulatedSnpReporter* reporter) { platform_reporter_ = reporter; }
  const EmulatedSnpReporter* platform_reporter() const { return platform_reporter_; }
  // Kicks VP `vp`'s thread out of KVM_RUN (the calling thread's own VP
  // too: the kick then ends its next KVM_RUN at once), so it looks at
  // what changed: a start request.
  void Kick(uint32_t vp);
  // An interrupt was raised in VP `vp`'s VTL2 local APIC (an event port's
  // SINT): `raised` tells the VP's run loop (VpGroup::RaisedVtl2Interrupt),
  // which takes it from VTL0 if the VP is there.
  void SetVtl2InterruptHook(std::function<void(uint32_t)> raised) {
    vtl2_interrupt_ = std::move(raised);
  }
  void RaisedVtl2Interrupt(uint32_t vp);
  hv::Status RequestStart(uint32_t vp, StartRequest request);
  std::optional<StartRequest> TakeStart(uint32_t vp);

  // HvRegisterVsmPartitionConfig (VTL2's, hyperv-vmbus.md §3.1).
  uint64_t vsm_partition_config() const;
  void set_vsm_partition_config(uint64_t value);

 private:
  Vtl0Access ClassifyLocked(uint64_t gpa, bool write) const;
  Vtl0Access ClassifyRangeLocked(uint64_t gpa, uint64_t bytes, bool write) const;

  const uint32_t vp_count_;
  kvm::MsiTarget* const vm0_;
  kvm::MsiTarget& vm2_;
  std::vector<hyperv::SyntheticMsrs*> vtl0_msrs_;  // set up before the VPs run
  std::vector<hyperv::SyntheticMsrs*> vtl2_msrs_;
  mutable std::mutex mutex_;
  std::bitset<65536> io_ports_;           // guarded by mutex_
  bool msr_intercept_ = false;            // guarded by mutex_
  bool unknown_connection_intercept_ = false;  // guarded by mutex_
  EventPorts event_ports_;                // guarded by mutex_
  std::atomic<uint64_t> vsm_partition_config_{0};  // read at every VTL2 entry with a message
  std::optional<Vtl0Protections> protections_;  // guarded by mutex_
  SlotMapper slot_mapper_;
  mem::GuestMemory* vtl0_memory_ = nullptr;  // set up before the VPs run
  std::vector<std::optional<StartRequest>> starts_;  // guarded by mutex_; one per VP
  std::function<void(uint32_t)> kick_;
  std::function<void(uint32_t)> vtl2_interrupt_;
  HostVisibility* host_visibility_ = nullptr;
  const PlatformKey* platform_key_ = nullptr;
  const EmulatedSnpReporter* platform_reporter_ = nullptr;
};

}  // namespace loader::vsm
