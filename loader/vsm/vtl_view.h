// VtlView: one VTL's view of guest RAM, and the overlay pages the
// hypervisor places in it (TLFS "GPA Overlay Pages").
//
// Each VTL's KVM VM maps guest RAM through a mapping of its own (an alias
// of the one memfd, kvm::GuestRam::Alias). An overlay page (the hypercall
// page, the reference TSC page, each VP's SIMP and SIEFP) is a page of
// loader memory, never guest RAM: placing it at a GPA replaces that page
// of this VTL's mapping only (os::Mapping::ReplacePages; KVM follows
// through its MMU notifier, so the VTL sees the overlay from its next
// access on, with no instant without memory). The RAM underneath is not
// written, another VTL's view is not touched, and removing the overlay
// shows the RAM again (TLFS: "the overlay page hides the underlying GPA
// page; the original contents reappear when the overlay is removed").
// The loader writes an overlay through OverlayPage only, so whatever GPA a
// guest writes into an overlay MSR, the loader writes no guest RAM.
//
// Where a VTL cannot see RAM at the GPA (beyond RAM, or VTL2's memory as
// VTL0 addresses it: no memory slot there), the overlay is recorded but
// shows nowhere; the VTL's access faults as any access there does.
// Several overlays at one GPA: the last placed shows (TLFS leaves this
// undefined).
//
// memory(): what the loader reads and writes on this VTL's behalf
// (hypercall input and output pages, the VP assist page): this VTL's
// mapping, so it sees the overlays the VTL sees; `accessible` says which
// pages the VTL may use.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/result.h"
#include "kvm/guest_ram.h"
#include "mem/guest_memory.h"
#include "os/mapping.h"
#include "os/unique_fd.h"

namespace loader::vsm {

class VtlView;

// Which overlay is which in a VTL's view: the partition-wide hypercall and
// reference TSC pages, then each VP's SIMP and SIEFP.
inline constexpr uint32_t kHypercallOverlay = 0;
inline constexpr uint32_t kReferenceTscOverlay = 1;
constexpr uint32_t SimpOverlay(uint32_t vp) { return 2 + 2 * vp; }
constexpr uint32_t SiefpOverlay(uint32_t vp) { return 3 + 2 * vp; }
constexpr uint32_t OverlayPagesFor(uint32_t vp_count) { return 2 + 2 * vp_count; }

// One overlay page: 4 KiB of loader memory. Offsets into the page are
// written as mem::Gpa{offset} through the checked GuestMemory (base 0).
class OverlayPage {
 public:
  mem::GuestMemory& contents() { return contents_; }
  // Shows the page at `gpa` (page-aligned) in its VTL's view, or nowhere.
  base::Result<void> Place(std::optional<mem::Gpa> gpa);

 private:
  friend class VtlView;

  OverlayPage(VtlView& view, uint32_t index, mem::GuestMemory contents)
      : view_(view), index_(index), contents_(contents) {}
  VtlView& view_;
  uint32_t index_;
  mem::GuestMemory contents_;
};

class VtlView {
 public:
  // `ram` is the machine's RAM (outlives the view); `overlay_pages` how
  // many overlays the VTL has (2 + 2 per VP: hypercall, reference TSC,
  // SIMP and SIEFP of each VP).
  static base::Result<std::unique_ptr<VtlView>> Create(uint8_t vtl, const kvm::GuestRam& ram,
                                                       uint32_t overlay_pages);

  uint8_t vtl() const { return vtl_; }
  // The mapping this VTL's KVM memory slots are made from.
  const kvm::GuestRam& ram() const { return ram_; }
  // This VTL's RAM as the VTL sees it (overlays included).
  mem::GuestMemory& memory() { return memory_; }
  // Overlay page `index` (< overlay_pages).
  OverlayPage& overlay(uint32_t index) { return *overlays_.at(index); }
  uint32_t overlay_count() const { return static_cast<uint32_t>(overlays_.size()); }
  // Where overlay `index` is placed, if anywhere.
  std::optional<mem::Gpa> placement(uint32_t index) const;

 private:
  friend class OverlayPage;
  VtlView(uint8_t vtl, kvm::GuestRam ram, os::UniqueFd overlay_fd, os::Mapping overlay_mapping,
          mem::GuestMemory memory)
      : vtl_(vtl),
        ram_(std::move(ram)),
        overlay_fd_(std::move(overlay_fd)),
        overlay_mapping_(std::move(overlay_mapping)),
        memory_(memory) {}
  base::Result<void> Place(uint32_t index, std::optional<mem::Gpa> gpa);
  // Makes page `gpn` of the mapping show the top overlay placed there, or
  // the RAM. Caller holds mutex_.
  base::Result<void> RefreshLocked(uint64_t gpn);

  uint8_t vtl_;
  kvm::GuestRam ram_;
  os::UniqueFd overlay_fd_;
  os::Mapping overlay_mapping_;
  mem::GuestMemory memory_;
  std::vector<std::unique_ptr<OverlayPage>> overlays_;
  mutable std::mutex mutex_;
  std::vector<std::optional<uint64_t>> placed_gpn_;       // guarded by mutex_; per overlay
  std::map<uint64_t, std::vector<uint32_t>> by_gpn_;      // guarded by mutex_; last shows
};

}  // namespace loader::vsm
