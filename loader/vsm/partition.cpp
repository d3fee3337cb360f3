#include "vsm/partition.h"

#include <algorithm>

#include "base/page.h"

namespace loader::vsm {

Partition::Partition(uint32_t vp_count, kvm::MsiTarget* vm0, kvm::MsiTarget& vm2)
    : vp_count_(vp_count),
      vm0_(vm0),
      vm2_(vm2),
      vtl0_msrs_(vp_count),
      vtl2_msrs_(vp_count),
      event_ports_(vp_count),
      starts_(vp_count) {}

void Partition::Kick(uint32_t vp) {
  if (kick_ && vp < vp_count_) kick_(vp);
}

void Partition::RaisedVtl2Interrupt(uint32_t vp) {
  if (vtl2_interrupt_ && vp < vp_count_) vtl2_interrupt_(vp);
}

hv::Status Partition::RequestStart(uint32_t vp, StartRequest request) {
  if (vp >= vp_count_) return hv::Status::kInvalidVpIndex;
  if (request.vtl == 0 ? vm0_ == nullptr : request.vtl != 2) return hv::Status::kInvalidVtlState;
  {
    std::lock_guard lock(mutex_);
    if (starts_[vp]) return hv::Status::kInvalidVpState;  // one is pending already
    starts_[vp] = std::move(request);
  }
  if (kick_) kick_(vp);
  return hv::Status::kSuccess;
}

std::optional<Partition::StartRequest> Partition::TakeStart(uint32_t vp) {
  std::lock_guard lock(mutex_);
  if (vp >= vp_count_) return std::nullopt;
  return std::exchange(starts_[vp], std::nullopt);
}

void Partition::SetVpSynics(uint32_t vp, hyperv::SyntheticMsrs* vtl0, hyperv::SyntheticMsrs* vtl2) {
  vtl0_msrs_.at(vp) = vtl0;
  vtl2_msrs_.at(vp) = vtl2;
}

hyperv::SyntheticMsrs* Partition::msrs(uint32_t vp, uint8_t vtl) const {
  if (vp >= vp_count_) return nullptr;
  return vtl == 0 ? vtl0_msrs_[vp] : vtl == 2 ? vtl2_msrs_[vp] : nullptr;
}

hv::Status Partition::InstallIntercept(uint32_t type, uint32_t access, uint64_t parameter) {
  // Access mask: read 1, write 2, execute 4 (TLFS HV_INTERCEPT_ACCESS_MASK).
  if (access == 0 || (access & ~uint32_t{7}) != 0) return hv::Status::kInvalidParameter;
  std::lock_guard lock(mutex_);
  switch (type) {
    case hv::intercept_type::kIoPort:
      if (parameter > 0xFFFF) return hv::Status::kInvalidParameter;
      io_ports_.set(static_cast<size_t>(parameter));
      return hv::Status::kSuccess;
    case hv::intercept_type::kIoPortRange: {
      const uint64_t first = parameter & 0xFFFF;
      const uint64_t last = (parameter >> 16) & 0xFFFF;
      if (last < first || (parameter >> 32) != 0) return hv::Status::kInvalidParameter;
      for (uint64_t port = first; port <= last; ++port) io_ports_.set(static_cast<size_t>(port));
      return hv::Status::kSuccess;
    }
    case hv::intercept_type::kMsr:
      msr_intercept_ = true;
      return hv::Status::kSuccess;
    case hv::intercept_type::kUnknownSynicConnection:
      unknown_connection_intercept_ = true;
      return hv::Status::kSuccess;
    default:
      // CPUID, exception and hypercall intercepts: KVM answers CPUID and
      // exceptions in the kernel, so the loader cannot deliver them.
      return hv::Status::kInvalidParameter;
  }
}

bool Partition::IoPortIntercepted(uint16_t port) const {
  std::lock_guard lock(mutex_);
  return io_ports_.test(port);
}

bool Partition::MsrIntercepted() const {
  std::lock_guard lock(mutex_);
  return msr_intercept_;
}

bool Partition::UnknownSynicConnectionIntercepted() const {
  std::lock_guard lock(mutex_);
  return unknown_connection_intercept_;
}

hv::Status Partition::CreatePort(const hv::CreatePortInput& in) {
  std::lock_guard lock(mutex_);
  return event_ports_.Create(in);
}

hv::Status Partition::ConnectPort(const hv::ConnectPortInput& in) {
  std::lock_guard lock(mutex_);
  return event_ports_.Connect(in);
}

hv::Status Partition::DeletePort(const hv::DeletePortInput& in) {
  std::lock_guard lock(mutex_);
  return event_ports_.Delete(in);
}

hv::Status Partition::DisconnectPort(const hv::DisconnectPortInput& in) {
  std::lock_guard lock(mutex_);
  return event_ports_.Disconnect(in);
}

std::optional<EventPorts::Signal> Partition::ResolveSignal(uint8_t vtl, uint32_t connection_id,
                                                           uint32_t flag) const {
  std::lock_guard lock(mutex_);
  return event_ports_.Resolve(vtl, connection_id, flag);
}

void Partition::SetVtl0Memory(std::vector<Vtl0Protections::Range> ram,
                              mem::GuestMemory& vtl0_memory, SlotMapper mapper) {
  std::lock_guard lock(mutex_);
  protections_.emplace(std::move(ram));
  vtl0_memory_ = &vtl0_memory;
  slot_mapper_ = std::move(mapper);
}

hv::Status Partition::ModifyVtl0Protection(std::span<const uint64_t> gpns, uint32_t flags) {
  std::lock_guard lock(mutex_);
  if (!protections_) return hv::Status::kInvalidVtlState;
  Vtl0Protections next = *protections_;
  const hv::Status applied = next.Apply(gpns, flags);
  if (applied != hv::Status::kSuccess) return applied;
  if (slot_mapper_ && !slot_mapper_(next.Layout())) {
    // KVM refused the slots: the recorded protections stay the ones in
    // force, and the slots go back to them.
    (void)slot_mapper_(protections_->Layout());
    return hv::Status::kInsufficientMemory;
  }
  *protections_ = std::move(next);
  return hv::Status::kSuccess;
}

Partition::Vtl0Access Partition::ClassifyVtl0Access(uint64_t gpa, bool write) const {
  std::lock_guard lock(mutex_);
  return ClassifyLocked(gpa, write);
}

Partition::Vtl0Access Partition::ClassifyLocked(uint64_t gpa, bool write) const {
  if (!protections_ || !protections_->IsRam(gpa)) return Vtl0Access::kNotRam;
  const uint32_t flags = protections_->Flags(gpa >> 12);
  const uint32_t needed = write ? Vtl0Protections::kWrite : Vtl0Protections::kRead;
  return (flags & needed) != 0 ? Vtl0Access::kAllowed : Vtl0Access::kDenied;
}

Partition::Vtl0Access Partition::ClassifyVtl0Range(uint64_t gpa, uint64_t bytes,
                                                   bool write) const {
  std::lock_guard lock(mutex_);
  return ClassifyRangeLocked(gpa, bytes, write);
}

Partition::Vtl0Access Partition::ClassifyRangeLocked(uint64_t gpa, uint64_t bytes,
                                                     bool write) const {
  if (bytes == 0) return ClassifyLocked(gpa, write);
  const uint64_t last = gpa + (bytes - 1);
  if (last < gpa) return Vtl0Access::kNotRam;
  for (uint64_t page = base::PageBase(gpa); page <= last; page += base::kPageSize) {
    const Vtl0Access access = ClassifyLocked(std::max(page, gpa), write);
    if (access != Vtl0Access::kAllowed) return access;
    if (page > last - base::kPageSize) break;  // the last page: no wrap past 2^64
  }
  return Vtl0Access::kAllowed;
}

Partition::Vtl0Access Partition::WriteVtl0IfAllowed(uint64_t gpa, std::span<const std::byte> data) {
  std::lock_guard lock(mutex_);
  const Vtl0Access access = ClassifyRangeLocked(gpa, data.size(), true);
  if (access != Vtl0Access::kAllowed || data.empty()) return access;
  if (vtl0_memory_ == nullptr || !vtl0_memory_->Write(mem::Gpa{gpa}, data))
    return Vtl0Access::kNotRam;
  return Vtl0Access::kAllowed;
}

bool Partition::ReadVtl0IfAllowed(uint64_t gpa, std::span<std::byte> out) const {
  std::lock_guard lock(mutex_);
  if (out.empty()) return true;
  if (ClassifyRangeLocked(gpa, out.size(), false) != Vtl0Access::kAllowed) return false;
  return vtl0_memory_ != nullptr && vtl0_memory_->Read(mem::Gpa{gpa}, out).ok();
}

uint64_t Partition::vsm_partition_config() const {
  return vsm_partition_config_.load(std::memory_order_acquire);
}

void Partition::set_vsm_partition_config(uint64_t value) {
  vsm_partition_config_.store(value, std::memory_order_release);
}

}  // namespace loader::vsm
