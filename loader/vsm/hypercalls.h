// HypercallHandler: the hypercalls one VP makes, from VTL2 or VTL0, as
// the loader (the hypervisor) answers them (TLFS "Hypercall Interface",
// "Virtual Secure Mode", "Inter-Partition Communication"; codes and
// layouts in hyperv-vmbus.md §2, hvdef.h).
//
// From VTL2:
//   VtlReturn (0x12)              -> Outcome::kVtlReturn; the run loop switches
//   Get/SetVpRegisters (0x50/51)  this VP, VTL0 or VTL2 (input_vtl); the VSM
//                                 registers (code page offsets, VP/partition
//                                 status, capabilities, partition config)
//   InstallIntercept (0x4D)       I/O port, port range, MSR, unknown SynIC
//                                 connection (Partition)
//   EnablePartitionVtl / EnableVpVtl (0x0D/0x0F): VTL2 is enabled from the
//                                 start (the IGVM image is VTL2's): 0x86
//   ModifyVtlProtectionMask (0x0C) VTL0's page protections, enforced by
//                                 VTL0's VM's memory slots (vtl0_protections.h)
//   AssertVirtualInterrupt (0x94) fixed interrupts into VTL0's local APICs
//   PostMessageDirect (0xC1), SignalEventDirect (0xC0): into any VP's SynIC
//   GetVpIndexFromApicId (0x9A)   APIC ID = VP index on this loader
//   StartVirtualProcessor (0x99)  another VP's VTL0 or VTL2, from an initial
//                                 context (Partition::RequestStart)
//   CreatePort / ConnectPort / DeletePort / DisconnectPort (0x95/0x96/0x58/
//                                 0x5B): VTL2's event ports and VTL0's
//                                 connections to them (vsm/event_ports.h)
// From VTL0:
//   VtlCall (0x11)                -> Outcome::kVtlCall
//   SignalEvent (0x5D, fast) on a connection to a VTL2 event port: the flag
//                                 is set in VTL2's SIEF area of the port's SINT
//                                 on the port's VP; if newly set (and the SINT
//                                 live) its vector is raised in that VP's VTL2
//                                 local APIC and the VP is kicked, so it
//                                 leaves VTL0 for VTL2 (TLFS "Secure
//                                 Interrupts"); no intercept
//   PostMessage (0x5C), other SignalEvents: with an unknown-SynIC-connection
//                                 intercept installed by VTL2 -> kForward (a
//                                 hypercall intercept to VTL2); else 0x12
//   the port calls                HV_STATUS_ACCESS_DENIED (no privilege)
// Anything else: HV_STATUS_INVALID_HYPERCALL_CODE.
//
// Memory-form input and output are guest-physical, 8-byte aligned and may
// not cross a page (TLFS "Hypercall Inputs"). Rep calls complete every rep
// at once (no continuations). No call VTL0 makes reads memory here: the
// buffers of the PostMessage/SignalEvent it forwards are VTL2's to check
// (hcl reads them through its map of VTL0's RAM only).
#pragma once

#include <cstdint>
#include <optional>

#include "base/result.h"
#include "hyperv/hypercall_page.h"
#include "kvm/vcpu_state.h"
#include "mem/guest_memory.h"
#include "vsm/partition.h"

namespace loader::vsm {

struct HypercallCall {
  hyperv::HypercallInput input;
  uint64_t rdx = 0;  // input GPA, or the first fast input qword
  uint64_t r8 = 0;   // output GPA, or the second fast input qword
};

struct HypercallOutcome {
  enum class Kind { kResult, kVtlReturn, kVtlCall, kForward };
  Kind kind = Kind::kResult;
  uint64_t result = 0;  // RAX for kResult
};

class HypercallHandler {
 public:
  // `vtl0_vcpu` may be null (no VTL0).
  HypercallHandler(Partition& partition, mem::GuestMemory& memory, uint32_t vp,
                   kvm::VcpuState* vtl0_vcpu, kvm::VcpuState& vtl2_vcpu);

  base::Result<HypercallOutcome> Handle(uint8_t caller_vtl, const HypercallCall& call);

  // The GPA of the register page VTL2 registered on this VP
  // (SetVpRegisters of its own kRegisterPage; vsm/register_page.h), or
  // nullopt: none, or disabled.
  std::optional<uint64_t> register_page() const {
    if ((register_page_ & 1) == 0) return std::nullopt;
    return register_page_ & ~uint64_t{0xFFF};
  }

 private:
  using Status = hv::Status;
  base::Result<HypercallOutcome> FromVtl2(const HypercallCall& call);
  HypercallOutcome FromVtl0(const HypercallCall& call);
  base::Result<uint64_t> VpRegisters(const HypercallCall& call, bool set);
  // A VSM register answered by the hypervisor, not the vCPU; nullopt if
  // `name` is not one.
  std::optional<hv::RegisterValue> VsmRegister(uint32_t name, uint8_t vtl) const;
  // kRegisterPage written: bit 0 enable, bits 12-63 the GPN of a page of
  // VTL2's own (never VTL0 RAM: VTL0 would write the registers VTL2 takes
  // back), other bits zero.
  Status SetRegisterPage(uint64_t value);
  Status AssertVirtualInterrupt(const HypercallCall& call);
  Status PostMessageDirect(const HypercallCall& call);
  base::Result<uint64_t> SignalEventDirect(const HypercallCall& call);
  // VTL0's SignalEvent through an event port: its status, or nullopt if
  // the call names no connected id (the unknown-connection path).
  std::optional<hv::Status> SignalEventPort(const HypercallCall& call);
  // Reads `bytes` of memory-form input (checked: alignment, one page).
  base::Result<std::vector<std::byte>> ReadInput(const HypercallCall& call, uint64_t bytes,
                                                 Status& status) const;
  // A rep call's memory-form input: a `header_bytes` header, then one u64
  // GPN per rep (at least one); the GPNs go to `gpns`.
  base::Result<std::vector<std::byte>> ReadGpnListInput(const HypercallCall& call,
                                                        uint64_t header_bytes,
                                                        std::vector<uint64_t>& gpns,
                                                        Status& status) const;
  // Raises `vector` in VP `vp`'s local APIC of VTL `vtl`.
  Status RaiseInterrupt(uint32_t vp, uint8_t vtl, uint8_t vector);

  Partition& partition_;
  mem::GuestMemory& memory_;
  uint32_t vp_;
  kvm::VcpuState* vtl0_vcpu_;
  kvm::VcpuState& vtl2_vcpu_;
  uint64_t register_page_ = 0;  // kRegisterPage's value
};

}  // namespace loader::vsm
