#include "hyperv/synthetic_msrs.h"

#include <utility>

#include "base/fixed_point.h"
#include "base/le_bytes.h"
#include "hyperv/hypercall_page.h"

namespace loader::hyperv {
namespace {

// TLFS "Establishing the Hypercall Interface": HYPERCALL bits 2-11 are reserved.
constexpr uint64_t kHypercallReserved = 0xFFC;
// TLFS "Reference TSC Page": the reference TSC page header (TscSequence u32 @0,
// reserved @4, TscScale u64 @8, TscOffset i64 @16).
constexpr uint64_t kTscPageHeaderBytes = 24;
// The reference time's rate: 100 ns units.
constexpr uint64_t kReferenceHz = 10'000'000;

base::Error GpFault(const char* what, uint32_t index) {
  return base::Error::Format("%s 0x%x", what, index);
}

}  // namespace

std::array<std::byte, 24> ReferenceTscHeader(uint64_t tsc_hz, uint64_t tsc_now,
                                             uint64_t reference_now) {
  // TscScale is a 64.64 fixed-point count of 100 ns units per TSC tick.
  const uint64_t scale = base::Fraction64(kReferenceHz, tsc_hz);
  const uint64_t scaled_now = base::MulHigh64(tsc_now, scale);
  const uint64_t offset = reference_now - scaled_now;  // two's complement: TscOffset is signed
  std::array<std::byte, 24> header{};
  constexpr uint32_t kSequence = 1;  // any value but 0 (invalid) and 0xFFFFFFFF
  (void)base::StoreLe<uint32_t>(header, 0, kSequence);
  (void)base::StoreLe<uint64_t>(header, 8, scale);
  (void)base::StoreLe<uint64_t>(header, 16, offset);
  return header;
}

SyntheticMsrs::SyntheticMsrs(uint32_t vp_index, const HvConfig& config, vsm::VtlView& view,
                             ReferenceClock clock, std::shared_ptr<PartitionMsrs> partition)
    : vp_index_(vp_index),
      config_(config),
      view_(view),
      clock_(std::move(clock)),
      partition_(partition != nullptr ? std::move(partition) : std::make_shared<PartitionMsrs>()),
      synic_(std::make_unique<Synic>(view.overlay(vsm::SimpOverlay(vp_index)),
                                     view.overlay(vsm::SiefpOverlay(vp_index)))) {}

base::Result<uint64_t> SyntheticMsrs::Read(uint32_t index) const {
  if (index >= kMsrSint0 && index <= kMsrSint15) return synic_->ReadRegister(index);
  switch (index) {
    case kMsrGuestOsId: {
      std::lock_guard lock(partition_->mutex);
      return partition_->guest_os_id;
    }
    case kMsrHypercall: {
      std::lock_guard lock(partition_->mutex);
      return partition_->hypercall;
    }
    case kMsrVpIndex:
      return uint64_t{vp_index_};
    case kMsrTimeRefCount:
      return clock_();
    case kMsrReferenceTsc: {
      std::lock_guard lock(partition_->mutex);
      return partition_->reference_tsc;
    }
    case kMsrTscFrequency:
      if (!config_.frequency_msrs()) break;
      return config_.tsc_hz;
    case kMsrApicFrequency:
      if (!config_.frequency_msrs()) break;
      return config_.apic_hz;
    case kMsrVpAssistPage:
      return vp_assist_page_;
    case kMsrScontrol:
    case kMsrSiefp:
    case kMsrSimp:
      return synic_->ReadRegister(index);
    case kMsrSversion:
      return kSynicVersion;
    case kMsrEom:
      return uint64_t{0};  // TLFS "SynIC MSRs", EOM: write-only, reads as 0
    case kMsrTscInvariantControl:
      return tsc_invariant_control_;
    default:
      break;
  }
  return GpFault("read of unknown synthetic MSR", index);
}

base::Result<void> SyntheticMsrs::Write(uint32_t index, uint64_t value) {
  if (index >= kMsrSint0 && index <= kMsrSint15) return synic_->WriteRegister(index, value);
  switch (index) {
    case kMsrGuestOsId: {
      std::lock_guard lock(partition_->mutex);
      partition_->guest_os_id = value;
      // TLFS "Establishing the Hypercall Interface": with no guest OS ID
      // the hypercall page goes away.
      if (value == 0 && (partition_->hypercall & kHypercallEnable) != 0) {
        TRY(view_.overlay(vsm::kHypercallOverlay).Place(std::nullopt));
        partition_->hypercall &= ~kHypercallEnable;
      }
      return base::Ok();
    }
    case kMsrHypercall: {
      std::lock_guard lock(partition_->mutex);
      return WriteHypercall(value);
    }
    case kMsrReferenceTsc: {
      std::lock_guard lock(partition_->mutex);
      return WriteReferenceTsc(value);
    }
    case kMsrVpIndex:
    case kMsrTimeRefCount:
    case kMsrSversion:
      return GpFault("write to read-only synthetic MSR", index);
    case kMsrTscFrequency:
    case kMsrApicFrequency:
      if (!config_.frequency_msrs()) break;
      return GpFault("write to read-only synthetic MSR", index);
    case kMsrVpAssistPage:
      vp_assist_page_ = value;
      return base::Ok();
    case kMsrScontrol:
    case kMsrSiefp:
    case kMsrSimp:
      return synic_->WriteRegister(index, value);
    case kMsrEom: {
      // TLFS "SynIC MSRs", EOM: the guest freed a slot whose message had
      // message_pending set; queued messages move in.
      for (uint8_t vector : synic_->EndOfMessage()) due_vectors_.push_back(vector);
      return base::Ok();
    }
    case kMsrTscInvariantControl:
      tsc_invariant_control_ = value;
      return base::Ok();
    default:
      break;
  }
  return GpFault("write to unknown synthetic MSR", index);
}

base::Result<void> SyntheticMsrs::WriteHypercall(uint64_t value) {
  if ((partition_->hypercall & kHypercallLocked) != 0)
    return base::Error("write to the locked HYPERCALL MSR");
  if ((value & kHypercallReserved) != 0)
    return base::Error::Format("HYPERCALL MSR reserved bits set (0x%llx)",
                               static_cast<unsigned long long>(value));
  // TLFS "Establishing the Hypercall Interface": the enable bit cannot be
  // set before a guest OS ID is.
  if (partition_->guest_os_id == 0) value &= ~kHypercallEnable;
  vsm::OverlayPage& overlay = view_.overlay(vsm::kHypercallOverlay);
  if ((value & kHypercallEnable) != 0) {
    // The code is rewritten on each enable: the guest may have written
    // over its own overlay.
    TRY(overlay.contents().Write(mem::Gpa{0}, HypercallPage()));
    TRY(overlay.Place(mem::Gpa{value & kGpnMask}));
  } else {
    TRY(overlay.Place(std::nullopt));
  }
  partition_->hypercall = value;
  return base::Ok();
}

base::Result<void> SyntheticMsrs::WriteReferenceTsc(uint64_t value) {
  if ((value & 0xFFE) != 0)
    return base::Error::Format("REFERENCE_TSC MSR reserved bits set (0x%llx)",
                               static_cast<unsigned long long>(value));
  vsm::OverlayPage& overlay = view_.overlay(vsm::kReferenceTscOverlay);
  if ((value & 1) != 0) {
    // Without this VTL's TSC (or its rate), TscSequence 0: the page is
    // invalid and the guest reads TIME_REF_COUNT instead, an exit per clock
    // read (TLFS "Reference TSC Page").
    const std::optional<uint64_t> tsc = guest_tsc_ ? guest_tsc_() : std::nullopt;
    if (tsc && config_.tsc_hz > kReferenceHz) {
      TRY(overlay.contents().Write(mem::Gpa{0}, ReferenceTscHeader(config_.tsc_hz, *tsc, clock_())));
    } else {
      TRY(overlay.contents().Fill(mem::Gpa{0}, kTscPageHeaderBytes, std::byte{0}));
    }
    TRY(overlay.Place(mem::Gpa{value & kGpnMask}));
  } else {
    TRY(overlay.Place(std::nullopt));
  }
  partition_->reference_tsc = value;
  return base::Ok();
}

}  // namespace loader::hyperv
