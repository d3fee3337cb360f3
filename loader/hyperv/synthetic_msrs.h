// SyntheticMsrs: one VP's Hyper-V synthetic MSRs (TLFS "Synthetic MSRs",
// "Hypercall Interface", "Synthetic Interrupt Controller", "Timers";
// hyperv-vmbus.md §1.2), sans I/O except for guest memory: the loader's
// RdMsr/WrMsr exits (KVM's MSR filter over 0x40000000-0x400001FF) come
// here, and an error answer is #GP in the guest.
//
//   0x40000000 GUEST_OS_ID     RW. Writing 0 also disables the hypercall
//                              page (TLFS "Establishing the Hypercall
//                              Interface": the page can only be enabled
//                              once a guest OS ID is set).
//   0x40000001 HYPERCALL       bit 0 enable, bit 1 locked, bits 2-11
//                              reserved (#GP), 12-63 GPN. Enabling places
//                              the hypercall overlay page (HypercallPage())
//                              at the GPN in this VTL's view.
//                              An enable while GUEST_OS_ID is 0 is ignored;
//                              once locked, writes #GP (TLFS, same).
//   0x40000002 VP_INDEX        RO.
//   0x40000020 TIME_REF_COUNT  RO, 100 ns ticks since partition start,
//                              from the partition's clock (TLFS "Partition Reference Counter").
//   0x40000021 REFERENCE_TSC   bit 0 enable, 12-63 GPN. Enabling places the
//                              reference TSC page overlay (TLFS "Reference
//                              TSC Page"): with a guest TSC reader
//                              (SetGuestTsc), a valid page whose scale and
//                              offset turn this VTL's TSC into the
//                              reference time, so the guest reads its clock
//                              without an exit; without one, TscSequence 0
//                              ("invalid"): the guest reads TIME_REF_COUNT.
//   0x40000022 TSC_FREQUENCY   RO Hz, only with HvConfig::frequency_msrs.
//   0x40000023 APIC_FREQUENCY  RO Hz, likewise.
//   0x40000073 VP_ASSIST_PAGE  accepted and stored (TLFS "Virtual Processor Assist Page"; Linux
//                              writes it on every CPU).
//   0x40000080 SCONTROL        RW, reset 0 (TLFS "SynIC MSRs").
//   0x40000081 SVERSION        RO 1.
//   0x40000082 SIEFP           RW, reset 0.
//   0x40000083 SIMP            RW, reset 0.
//   0x40000084 EOM             write-only; reads 0.
//   0x40000090-9F SINT0-15     RW, reset 0x10000 (masked).
//   0x40000118 TSC_INVARIANT_CONTROL RW (A.15 is advertised).
// Anything else in the range, and a write to a read-only MSR: #GP.
// Overlay pages (hypercall, reference TSC, SIMP, SIEFP) are loader memory
// shown in this VTL's view only (vsm/vtl_view.h): no GPA a guest writes
// here makes the loader write guest RAM.
// The SynIC registers live in this VP's Synic (hv/synic.h), which also
// delivers messages and event flags; EOM may deliver queued messages,
// whose interrupt vectors the run loop takes with TakeDueVectors.
#pragma once

#include <array>
#include <optional>
#include <utility>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "hyperv/cpuid_leaves.h"
#include "hyperv/synic.h"
#include "mem/guest_memory.h"
#include "vsm/vtl_view.h"

namespace loader::hyperv {

inline constexpr uint32_t kMsrGuestOsId = 0x40000000;
inline constexpr uint32_t kMsrHypercall = 0x40000001;
inline constexpr uint32_t kMsrVpIndex = 0x40000002;
inline constexpr uint32_t kMsrTimeRefCount = 0x40000020;
inline constexpr uint32_t kMsrReferenceTsc = 0x40000021;
inline constexpr uint32_t kMsrTscFrequency = 0x40000022;
inline constexpr uint32_t kMsrApicFrequency = 0x40000023;
// TLFS "Synthetic APIC MSRs" (AccessApicMsrs): the local APIC's EOI, ICR
// and TPR as MSRs. VTL2's are KVM's own (hcl-loader does not trap them:
// KVM's in-kernel LAPIC serves them); VTL0 is not offered them.
inline constexpr uint32_t kMsrApicEoi = 0x40000070;
inline constexpr uint32_t kMsrApicTpr = 0x40000072;
inline constexpr uint32_t kMsrVpAssistPage = 0x40000073;
inline constexpr uint32_t kMsrScontrol = 0x40000080;
inline constexpr uint32_t kMsrSversion = 0x40000081;
inline constexpr uint32_t kMsrSiefp = 0x40000082;
inline constexpr uint32_t kMsrSimp = 0x40000083;
inline constexpr uint32_t kMsrEom = 0x40000084;
inline constexpr uint32_t kMsrSint0 = 0x40000090;
inline constexpr uint32_t kMsrSint15 = 0x4000009F;
inline constexpr uint32_t kMsrTscInvariantControl = 0x40000118;

inline constexpr uint64_t kHypercallEnable = 1u << 0;
inline constexpr uint64_t kHypercallLocked = 1u << 1;
inline constexpr uint64_t kGpnMask = ~uint64_t{0xFFF};
inline constexpr uint64_t kSintReset = 0x10000;  // masked
inline constexpr uint64_t kSynicVersion = 1;

// 100 ns ticks since the partition started; shared by every VP, monotonic.
using ReferenceClock = std::function<uint64_t()>;
// This VP's TSC as its guest reads it now (KVM_GET_MSRS IA32_TSC), if known.
using GuestTscReader = std::function<std::optional<uint64_t>()>;

// The reference TSC page header for a guest whose TSC runs at `tsc_hz` and
// reads `tsc_now` when the reference time is `reference_now` (TLFS
// "Reference TSC Page": time = ((tsc * TscScale) >> 64) + TscOffset, in
// 100 ns units): TscSequence 1, scale and offset, little-endian.
std::array<std::byte, 24> ReferenceTscHeader(uint64_t tsc_hz, uint64_t tsc_now,
                                             uint64_t reference_now);

// The MSRs one VTL of the partition shares across its VPs (TLFS
// "Partition-Wide Synthetic MSRs"... GUEST_OS_ID, HYPERCALL, REFERENCE_TSC
// are per partition, not per VP: Linux writes them on the BSP only).
struct PartitionMsrs {
  std::mutex mutex;
  uint64_t guest_os_id = 0;    // guarded by mutex
  uint64_t hypercall = 0;      // guarded by mutex
  uint64_t reference_tsc = 0;  // guarded by mutex
};

class SyntheticMsrs {
 public:
  // `view` (this VTL's, with OverlayPagesFor(vp_count) overlays) and
  // `clock` are the partition's and outlive this object; `partition` is
  // shared by every VP of this VTL (null: this VP alone).
  SyntheticMsrs(uint32_t vp_index, const HvConfig& config, vsm::VtlView& view,
                ReferenceClock clock, std::shared_ptr<PartitionMsrs> partition = nullptr);

  // Lets REFERENCE_TSC place a valid page (read on the VP's own thread).
  void SetGuestTsc(GuestTscReader reader) { guest_tsc_ = std::move(reader); }

  // The value of synthetic MSR `index`; an error means #GP, with the reason.
  base::Result<uint64_t> Read(uint32_t index) const;
  // Writes synthetic MSR `index`; an error means #GP, with the reason.
  base::Result<void> Write(uint32_t index, uint64_t value);

  bool hypercall_page_enabled() const {
    std::lock_guard lock(partition_->mutex);
    return (partition_->hypercall & kHypercallEnable) != 0;
  }
  uint32_t vp_index() const { return vp_index_; }
  // The guest-physical address of the VP assist page, if enabled (TLFS
  // "Virtual Processor Assist Page": bit 0 enable, bits 12-63 GPN).
  std::optional<mem::Gpa> vp_assist_page() const {
    if ((vp_assist_page_ & 1) == 0) return std::nullopt;
    return mem::Gpa{vp_assist_page_ & kGpnMask};
  }
  Synic& synic() { return *synic_; }
  // Interrupt vectors due after an EOM delivered queued messages.
  std::vector<uint8_t> TakeDueVectors() { return std::exchange(due_vectors_, {}); }

 private:
  base::Result<void> WriteHypercall(uint64_t value);
  base::Result<void> WriteReferenceTsc(uint64_t value);

  uint32_t vp_index_;
  HvConfig config_;
  vsm::VtlView& view_;
  ReferenceClock clock_;
  GuestTscReader guest_tsc_;

  std::shared_ptr<PartitionMsrs> partition_;
  uint64_t vp_assist_page_ = 0;
  uint64_t tsc_invariant_control_ = 0;
  std::unique_ptr<Synic> synic_;  // shared with other VPs' threads; see Synic
  std::vector<uint8_t> due_vectors_;
};

}  // namespace loader::hyperv
