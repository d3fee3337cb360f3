#include "vsm/hypercalls.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "base/page.h"
#include "hv/hypercall_abi.h"
#include "vsm/initial_vp_context.h"
#include "vsm/register_file.h"

namespace loader::vsm {
namespace {

using hv::CallCode;
using Status = hv::Status;

uint64_t Result(Status status, uint16_t reps = 0) {
  return hyperv::HypercallResult(static_cast<uint16_t>(status), reps);
}

// The object of type T at `offset` in the caller's input, copied once
// (ReadInput read exactly the bytes the call's layout needs, so the
// object lies inside `bytes`). Layouts: hv/hypercall_abi.h.
template <typename T>
  requires std::is_trivially_copyable_v<T>
T Load(const std::vector<std::byte>& bytes, size_t offset = 0) {
  T value{};
  if (offset <= bytes.size() && sizeof value <= bytes.size() - offset)
    std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

// hvdef HV_REGISTER_VSM_CAPABILITIES: of the optional features only the
// intercept page (no MBEC, no return actions). A VTL2 that does not turn
// it on gets intercepts as SINT0 messages (hyperv-vmbus.md §3.3, §3.5).
constexpr uint64_t kVsmCapabilities = hv::kVsmCapInterceptPage;

}  // namespace

HypercallHandler::HypercallHandler(Partition& partition, mem::GuestMemory& memory, uint32_t vp,
                                   kvm::VcpuState* vtl0_vcpu, kvm::VcpuState& vtl2_vcpu)
    : partition_(partition), memory_(memory), vp_(vp), vtl0_vcpu_(vtl0_vcpu), vtl2_vcpu_(vtl2_vcpu) {}

base::Result<HypercallOutcome> HypercallHandler::Handle(uint8_t caller_vtl,
                                                        const HypercallCall& call) {
  // TLFS "Hypercall Inputs": reserved bits of the input value must be 0.
  if (call.input.reserved_set)
    return HypercallOutcome{HypercallOutcome::Kind::kResult,
                            Result(Status::kInvalidHypercallInput)};
  if (caller_vtl == 0) return FromVtl0(call);
  return FromVtl2(call);
}

HypercallOutcome HypercallHandler::FromVtl0(const HypercallCall& call) {
  switch (static_cast<CallCode>(call.input.code)) {
    case CallCode::kVtlCall:
      return {HypercallOutcome::Kind::kVtlCall, 0};
    case CallCode::kSignalEvent:
      // A connection VTL2 connected to one of its event ports: the flag is
      // set here, no intercept (vsm/event_ports.h).
      if (auto status = SignalEventPort(call))
        return {HypercallOutcome::Kind::kResult, Result(*status)};
      [[fallthrough]];
    case CallCode::kPostMessage:
      // TLFS "HvCallPostMessage": no port answers on this partition's own
      // connections; VTL2 serves them through the intercept it installed.
      if (partition_.UnknownSynicConnectionIntercepted())
        return {HypercallOutcome::Kind::kForward, 0};
      return {HypercallOutcome::Kind::kResult, Result(Status::kInvalidConnectionId)};
    case CallCode::kCreatePort:
    case CallCode::kConnectPort:
    case CallCode::kDeletePort:
    case CallCode::kDisconnectPort:
      // TLFS "HvCallCreatePort" and the others: the caller lacks the
      // CreatePort / ConnectPort privilege. Ports are VTL2's to make.
      return {HypercallOutcome::Kind::kResult, Result(Status::kAccessDenied)};
    default:
      return {HypercallOutcome::Kind::kResult, Result(Status::kInvalidHypercallCode)};
  }
}

std::optional<hv::Status> HypercallHandler::SignalEventPort(const HypercallCall& call) {
  // Fast form only: its input is in RDX. A memory-form input would have to
  // be read through VTL0's view, which this handler does not hold; such a
  // call keeps the unknown-connection path (VTL2 reads it through its map
  // of VTL0's RAM).
  if (!call.input.fast) return std::nullopt;
  const auto in = std::bit_cast<hv::SignalEventInput>(call.rdx);  // guest-controlled
  const auto signal = partition_.ResolveSignal(0, in.connection_id, in.flag_number);
  if (!signal) return std::nullopt;
  if (in.reserved != 0) return Status::kInvalidParameter;  // RsvdZ
  if (signal->status != Status::kSuccess) return signal->status;
  const EventPorts::Target& target = signal->target;
  hyperv::SyntheticMsrs* msrs = partition_.msrs(target.vp, target.vtl);
  if (msrs == nullptr) return Status::kInvalidVpIndex;
  const hyperv::Synic::Outcome signalled = msrs->synic().Signal(target.sint, target.flag);
  if (signalled.status != Status::kSuccess) return signalled.status;
  if (signalled.vector) {
    // The flag was newly set and the SINT is live: its vector goes to
    // VTL2's local APIC, and that VP leaves VTL0 for it (TLFS "Secure
    // Interrupts"; this VP's own thread included: right after this call).
    const Status raised = RaiseInterrupt(target.vp, target.vtl, *signalled.vector);
    if (raised != Status::kSuccess) return raised;
    partition_.RaisedVtl2Interrupt(target.vp);
  }
  return Status::kSuccess;
}

base::Result<std::vector<std::byte>> HypercallHandler::ReadGpnListInput(
    const HypercallCall& call, uint64_t header_bytes, std::vector<uint64_t>& gpns,
    Status& status) const {
  const uint16_t reps = call.input.rep_count;
  if (reps == 0 || call.input.fast) {
    status = Status::kInvalidHypercallInput;
    return std::vector<std::byte>{};
  }
  auto input = TRY(ReadInput(call, header_bytes + 8u * reps, status));
  if (status != Status::kSuccess) return input;
  gpns.resize(reps);
  for (uint16_t i = 0; i < reps; ++i) gpns[i] = Load<uint64_t>(input, header_bytes + 8u * i);
  return input;
}

base::Result<std::vector<std::byte>> HypercallHandler::ReadInput(const HypercallCall& call,
                                                                 uint64_t bytes,
                                                                 Status& status) const {
  status = Status::kSuccess;
  std::vector<std::byte> data(bytes);
  if (call.input.fast) {
    // Fast form: RDX and R8 carry up to 16 bytes (TLFS "Hypercall Inputs").
    if (bytes > 16) {
      status = Status::kInvalidHypercallInput;
      return data;
    }
    std::byte regs[16];
    std::memcpy(regs, &call.rdx, 8);
    std::memcpy(regs + 8, &call.r8, 8);
    std::memcpy(data.data(), regs, bytes);
    return data;
  }
  if ((call.rdx & 7) != 0 || base::PageOffset(call.rdx) + bytes > base::kPageSize) {
    status = Status::kInvalidAlignment;
    return data;
  }
  if (!memory_.Read(mem::Gpa{call.rdx}, data)) status = Status::kInvalidParameter;
  return data;
}

std::optional<hv::RegisterValue> HypercallHandler::VsmRegister(uint32_t name,
                                                                 uint8_t vtl) const {
  switch (name) {
    case hv::reg::kVsmCodePageOffsets:
      return hv::RegisterValue{hyperv::kVsmCodePageOffsets, 0};
    case hv::reg::kVsmVpStatus:
      // Active VTL 0-3, enabled VTL set 16-31 (hyperv-vmbus.md §3.1).
      return hv::RegisterValue{
          uint64_t{vtl} | (uint64_t{partition_.has_vtl0() ? 1u : 0u} | 4u) << 16, 0};
    case hv::reg::kVsmPartitionStatus:
      // Enabled VTL set 0-15, maximum VTL 16-19.
      return hv::RegisterValue{(partition_.has_vtl0() ? 1u : 0u) | 4u | uint64_t{2} << 16, 0};
    case hv::reg::kVsmCapabilities:
      return hv::RegisterValue{kVsmCapabilities, 0};
    case hv::reg::kVsmPartitionConfig:
      return hv::RegisterValue{partition_.vsm_partition_config(), 0};
    case hv::reg::kVpIndex:
      return hv::RegisterValue{vp_, 0};
    default:
      return std::nullopt;
  }
}

base::Result<uint64_t> HypercallHandler::VpRegisters(const HypercallCall& call, bool set) {
  const uint16_t reps = call.input.rep_count;
  if (reps == 0 || call.input.fast) return Result(Status::kInvalidHypercallInput);
  const uint64_t entry = set ? sizeof(hv::RegisterAssoc) : sizeof(uint32_t);
  Status status;
  const auto input =
      TRY(ReadInput(call, sizeof(hv::VpRegistersHeader) + entry * reps, status));
  if (status != Status::kSuccess) return Result(status);
  const auto header = Load<hv::VpRegistersHeader>(input, 0);
  if (header.partition_id != hv::kPartitionSelf) return Result(Status::kInvalidPartitionState);
  // Only this VP: another VP's vCPU belongs to another thread (it may be
  // inside KVM_RUN), so its registers are not reachable from here.
  if (header.vp_index != hv::kVpIndexSelf && header.vp_index != vp_)
    return Result(Status::kInvalidVpIndex);
  const hv::InputVtl target = hv::DecodeInputVtl(header.input_vtl);
  const uint8_t vtl = target.use_target ? target.target_vtl : 2;
  kvm::VcpuState* vcpu = vtl == 2 ? &vtl2_vcpu_ : vtl == 0 ? vtl0_vcpu_ : nullptr;
  if (vcpu == nullptr) return Result(Status::kInvalidVtlState);
  if (!set && ((call.r8 & 7) != 0 || base::PageOffset(call.r8) + 16 * reps > base::kPageSize))
    return Result(Status::kInvalidAlignment);
  RegisterFile registers(*vcpu);
  uint16_t done = 0;
  Status failed = Status::kSuccess;
  for (; done < reps; ++done) {
    if (set) {
      const auto assoc = Load<hv::RegisterAssoc>(
          input, sizeof(hv::VpRegistersHeader) + entry * done);
      if (assoc.name == hv::reg::kVsmPartitionConfig && vtl == 2) {
        partition_.set_vsm_partition_config(assoc.value.low);
        continue;
      }
      if (assoc.name == hv::reg::kRegisterPage && vtl == 2) {
        failed = SetRegisterPage(assoc.value.low);
        if (failed != Status::kSuccess) break;
        continue;
      }
      if (VsmRegister(assoc.name, vtl)) {
        failed = Status::kAccessDenied;  // read-only VSM registers
        break;
      }
      const Status s = TRY(registers.Set(assoc.name, assoc.value));
      if (s != Status::kSuccess) {
        failed = s;
        break;
      }
    } else {
      const auto name = Load<uint32_t>(input, sizeof(hv::VpRegistersHeader) + entry * done);
      hv::RegisterValue value;
      if (auto vsm = VsmRegister(name, vtl)) {
        value = *vsm;
      } else if (name == hv::reg::kRegisterPage && vtl == 2) {
        value = hv::RegisterValue{register_page_, 0};
      } else {
        const Status s = TRY(registers.Get(name, value));
        if (s != Status::kSuccess) {
          failed = s;
          break;
        }
      }
      if (!memory_.WriteObj(mem::Gpa{call.r8 + 16u * done}, value)) {
        failed = Status::kInvalidParameter;
        break;
      }
    }
  }
  TRY(registers.Flush());
  return Result(failed, done);
}

hv::Status HypercallHandler::SetRegisterPage(uint64_t value) {
  constexpr uint64_t kEnable = 1;
  if ((value & 0xFFE) != 0) return Status::kInvalidParameter;
  if ((value & kEnable) != 0) {
    const uint64_t gpa = value & ~uint64_t{0xFFF};
    const bool in_ram = memory_.DmaSpan(mem::Gpa{gpa}, base::kPageSize).ok();
    if (!in_ram ||
        partition_.ClassifyVtl0Range(gpa, base::kPageSize, false) !=
            Partition::Vtl0Access::kNotRam)
      return Status::kInvalidParameter;
  }
  register_page_ = value;
  return Status::kSuccess;
}

hv::Status HypercallHandler::RaiseInterrupt(uint32_t vp, uint8_t vtl, uint8_t vector) {
  kvm::MsiTarget* vm = vtl == 0 ? partition_.vm0() : &partition_.vm2();
  if (vm == nullptr) return Status::kInvalidVtlState;
  // APIC ID = VP index on this loader (vp_cpuid.h, acpi_madt.h).
  auto sent = vm->SignalMsi(vp, vector);
  return sent ? Status::kSuccess : Status::kInvalidVpState;
}

hv::Status HypercallHandler::AssertVirtualInterrupt(const HypercallCall& call) {
  Status status;
  auto input = ReadInput(call, sizeof(hv::AssertVirtualInterruptInput), status);
  if (!input) return Status::kInvalidParameter;
  if (status != Status::kSuccess) return status;
  const auto in = Load<hv::AssertVirtualInterruptInput>(*input);
  // Fixed interrupts to one physical APIC ID, into VTL0 or VTL2, only.
  if (hv::InterruptType(in.control) != hv::kInterruptTypeFixed ||
      hv::InterruptLogicalDestination(in.control) || in.vector < 16 || in.vector > 255 ||
      in.destination >= partition_.vp_count() || (in.target_vtl != 0 && in.target_vtl != 2))
    return Status::kInvalidParameter;
  return RaiseInterrupt(static_cast<uint32_t>(in.destination), in.target_vtl,
                        static_cast<uint8_t>(in.vector));
}

hv::Status HypercallHandler::PostMessageDirect(const HypercallCall& call) {
  Status status;
  auto input = ReadInput(call, sizeof(hv::PostMessageDirectInput), status);
  if (!input) return Status::kInvalidParameter;
  if (status != Status::kSuccess) return status;
  const auto in = Load<hv::PostMessageDirectInput>(*input);
  hyperv::SyntheticMsrs* target =
      partition_.msrs(in.vp_index == hv::kVpIndexSelf ? vp_ : in.vp_index, in.vtl);
  if (target == nullptr) return Status::kInvalidVpIndex;
  const hyperv::Synic::Outcome posted =
      target->synic().Post(in.sint, std::as_bytes(std::span(in.message)));
  if (posted.status != Status::kSuccess) return posted.status;
  if (posted.vector) return RaiseInterrupt(target->vp_index(), in.vtl, *posted.vector);
  return Status::kSuccess;
}

base::Result<uint64_t> HypercallHandler::SignalEventDirect(const HypercallCall& call) {
  Status status;
  const auto input = TRY(ReadInput(call, sizeof(hv::SignalEventDirectInput), status));
  if (status != Status::kSuccess) return Result(status);
  const auto in = Load<hv::SignalEventDirectInput>(input);
  hyperv::SyntheticMsrs* target =
      partition_.msrs(in.vp_index == hv::kVpIndexSelf ? vp_ : in.vp_index, in.vtl);
  if (target == nullptr) return Result(Status::kInvalidVpIndex);
  const hyperv::Synic::Outcome signalled = target->synic().Signal(in.sint, in.flag_number);
  if (signalled.status != Status::kSuccess) return Result(signalled.status);
  if (!call.input.fast) {
    if ((call.r8 & 7) != 0) return Result(Status::kInvalidAlignment);
    hv::SignalEventDirectOutput output;
    output.newly_signaled = signalled.vector ? 1 : 0;
    if (!memory_.WriteObj(mem::Gpa{call.r8}, output)) return Result(Status::kInvalidParameter);
  }
  if (signalled.vector) {
    const Status raised = RaiseInterrupt(target->vp_index(), in.vtl, *signalled.vector);
    if (raised != Status::kSuccess) return Result(raised);
  }
  return Result(Status::kSuccess);
}

base::Result<HypercallOutcome> HypercallHandler::FromVtl2(const HypercallCall& call) {
  auto result = [](uint64_t value) { return HypercallOutcome{HypercallOutcome::Kind::kResult, value}; };
  switch (static_cast<CallCode>(call.input.code)) {
    case CallCode::kVtlReturn:
      return HypercallOutcome{HypercallOutcome::Kind::kVtlReturn, 0};
    case CallCode::kGetVpRegisters:
      return result(TRY(VpRegisters(call, false)));
    case CallCode::kSetVpRegisters:
      return result(TRY(VpRegisters(call, true)));
    case CallCode::kInstallIntercept: {
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::InstallInterceptInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      const auto in = Load<hv::InstallInterceptInput>(input);
      return result(Result(
          partition_.InstallIntercept(in.intercept_type, in.access_type_mask, in.parameter)));
    }
    case CallCode::kEnablePartitionVtl:
    case CallCode::kEnableVpVtl: {
      // VTL2 exists from the start and there is no VTL1.
      static_assert(sizeof(hv::EnablePartitionVtlInput) == sizeof(hv::EnableVpVtlHeader));
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::EnableVpVtlHeader), status));
      if (status != Status::kSuccess) return result(Result(status));
      const uint8_t target = static_cast<CallCode>(call.input.code) == CallCode::kEnableVpVtl
                                 ? Load<hv::EnableVpVtlHeader>(input).target_vtl
                                 : Load<hv::EnablePartitionVtlInput>(input).target_vtl;
      return result(Result(target == 2 ? Status::kVtlAlreadyEnabled : Status::kInvalidParameter));
    }
    case CallCode::kModifyVtlProtectionMask: {
      // The header, then one u64 GPN per rep. A VTL changes the
      // protections of lower VTLs only; here that is VTL0.
      using Header = hv::ModifyVtlProtectionMaskHeader;
      Status status;
      std::vector<uint64_t> gpns;
      const auto input = TRY(ReadGpnListInput(call, sizeof(Header), gpns, status));
      if (status != Status::kSuccess) return result(Result(status));
      const auto header = Load<Header>(input);
      const hv::InputVtl target = hv::DecodeInputVtl(header.input_vtl);
      if (target.use_target && target.target_vtl != 0)
        return result(Result(Status::kInvalidParameter));
      const Status applied = partition_.ModifyVtl0Protection(gpns, header.map_flags);
      return result(Result(applied, applied == Status::kSuccess ? call.input.rep_count : 0));
    }
    case CallCode::kModifySparseGpaPageHostVisibility: {
      // The header, then one u64 GPN per rep (cvm-paravisor.md §3). Only an
      // isolated partition has private memory to share.
      using Header = hv::ModifySparseGpaPageHostVisibilityHeader;
      HostVisibility* visibility = partition_.host_visibility();
      if (visibility == nullptr) return result(Result(Status::kAccessDenied));
      Status status;
      std::vector<uint64_t> gpns;
      const auto input = TRY(ReadGpnListInput(call, sizeof(Header), gpns, status));
      if (status != Status::kSuccess) return result(Result(status));
      const auto header = Load<Header>(input);
      if (header.partition_id != hv::kPartitionSelf)
        return result(Result(Status::kInvalidPartitionId));
      const Status applied = visibility->Modify(gpns, header.host_visibility);
      return result(Result(applied, applied == Status::kSuccess ? call.input.rep_count : 0));
    }
    case CallCode::kHclGetPlatformKey: {
      // The output is one 32-byte block in its page (TLFS "Hypercall
      // Inputs": 8-aligned, not crossing a page).
      const PlatformKey* key = partition_.platform_key();
      if (key == nullptr) return result(Result(Status::kAccessDenied));
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::HclGetPlatformKeyInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      if ((call.r8 & 7) != 0 ||
          base::PageOffset(call.r8) + sizeof(hv::HclGetPlatformKeyOutput) > base::kPageSize)
        return result(Result(Status::kInvalidAlignment));
      const auto in = Load<hv::HclGetPlatformKeyInput>(input);
      hv::HclGetPlatformKeyOutput out;
      const auto derived = key->Derive(std::span<const uint8_t, 32>(in.context));
      std::copy(derived.begin(), derived.end(), out.key);
      if (!memory_.WriteObj(mem::Gpa{call.r8}, out)) return result(Result(Status::kInvalidParameter));
      return result(Result(Status::kSuccess));
    }
    case CallCode::kHclGetPlatformReport: {
      const EmulatedSnpReporter* reporter = partition_.platform_reporter();
      if (reporter == nullptr) return result(Result(Status::kAccessDenied));
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::HclGetPlatformReportInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      if ((call.r8 & 7) != 0 ||
          base::PageOffset(call.r8) + sizeof(hv::HclGetPlatformReportOutput) > base::kPageSize)
        return result(Result(Status::kInvalidAlignment));
      const auto in = Load<hv::HclGetPlatformReportInput>(input);
      auto report = reporter->Report(std::span<const uint8_t, 64>(in.report_data));
      if (!report) return result(Result(Status::kInsufficientMemory));
      hv::HclGetPlatformReportOutput out;
      std::transform(report->begin(), report->end(), out.report,
                     [](std::byte b) { return std::to_integer<uint8_t>(b); });
      if (!memory_.WriteObj(mem::Gpa{call.r8}, out)) return result(Result(Status::kInvalidParameter));
      return result(Result(Status::kSuccess));
    }
    case CallCode::kStartVirtualProcessor: {
      using Header = hv::StartVirtualProcessorHeader;
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(Header) + kInitialVpContextBytes, status));
      if (status != Status::kSuccess) return result(Result(status));
      const auto header = Load<Header>(input);
      const std::span<const std::byte, kInitialVpContextBytes> context(
          input.data() + sizeof(Header), kInitialVpContextBytes);
      return result(Result(partition_.RequestStart(
          header.vp_index,
          Partition::StartRequest{header.target_vtl,
                                  ParseInitialVpContext(context, header.target_vtl)})));
    }
    case CallCode::kCreatePort: {
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::CreatePortInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      return result(Result(partition_.CreatePort(Load<hv::CreatePortInput>(input))));
    }
    case CallCode::kConnectPort: {
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::ConnectPortInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      return result(Result(partition_.ConnectPort(Load<hv::ConnectPortInput>(input))));
    }
    case CallCode::kDeletePort: {
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::DeletePortInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      return result(Result(partition_.DeletePort(Load<hv::DeletePortInput>(input))));
    }
    case CallCode::kDisconnectPort: {
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(hv::DisconnectPortInput), status));
      if (status != Status::kSuccess) return result(Result(status));
      return result(Result(partition_.DisconnectPort(Load<hv::DisconnectPortInput>(input))));
    }
    case CallCode::kAssertVirtualInterrupt:
      return result(Result(AssertVirtualInterrupt(call)));
    case CallCode::kPostMessageDirect:
      return result(Result(PostMessageDirect(call)));
    case CallCode::kSignalEventDirect:
      return result(TRY(SignalEventDirect(call)));
    case CallCode::kGetVpIndexFromApicId: {
      using Header = hv::GetVpIndexFromApicIdHeader;
      const uint16_t reps = call.input.rep_count;
      Status status;
      const auto input = TRY(ReadInput(call, sizeof(Header) + 4u * reps, status));
      if (status != Status::kSuccess) return result(Result(status));
      // TLFS "Hypercall Inputs": the output list is 8-aligned, in one page.
      if (reps > 0 && ((call.r8 & 7) != 0 || base::PageOffset(call.r8) + 4u * reps > base::kPageSize))
        return result(Result(Status::kInvalidAlignment));
      uint16_t done = 0;
      for (; done < reps; ++done) {
        const auto apic_id = Load<uint32_t>(input, sizeof(Header) + 4u * done);
        if (apic_id >= partition_.vp_count()) return result(Result(Status::kInvalidParameter, done));
        if (!memory_.WriteObj(mem::Gpa{call.r8 + 4u * done}, apic_id))
          return result(Result(Status::kInvalidParameter, done));
      }
      return result(Result(Status::kSuccess, done));
    }
    case CallCode::kPostMessage:
    case CallCode::kSignalEvent:
      // No host-side VMBus for VTL2 on this loader.
      return result(Result(Status::kInvalidConnectionId));
    default:
      return result(Result(Status::kInvalidHypercallCode));
  }
}

}  // namespace loader::vsm
