// Vtl0Memory: the one gate for everything hcl reads or writes on VTL0's
// behalf (instruction fetch, page walks and data of the x86 emulator,
// hypercall input pages; later rings, GPADLs, DMA buffers, the TPM
// buffer). VTL0's RAM is the ranges of hcl.vtl0_ram, mapped through the
// driver (MshvVtl::MapVtl0). An access is allowed only if every byte lies
// in VTL0's RAM and every page it touches grants VTL0 that access under
// the protections hcl set with HvCallModifyVtlProtectionMask (TLFS "Memory
// Protection": hcl acting for VTL0 must not do what VTL0 itself may not).
// VTL2's own memory is never part of it.
//
// Protection changes go through ChangeProtection, which holds the gate
// exclusively while the hypercall runs and records the new flags only if
// it succeeded; accesses hold it shared from their check to the end of
// their copy, so a check and its access never straddle a change.
// generation() moves on every change, for callers that check once and
// access later (a ring read in several steps).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <span>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace hcl {

class Vtl0Memory {
 public:
  // HV_MAP_GPA_* (TLFS "HvCallModifyVtlProtectionMask").
  static constexpr uint32_t kRead = 1, kWrite = 2, kKernelExecute = 4, kUserExecute = 8;
  static constexpr uint32_t kAll = kRead | kWrite | kKernelExecute | kUserExecute;

  // Setup, before any VP runs.
  void Add(mem::GuestMemory range) { ranges_.push_back(range); }

  // Whether [gpa, gpa + bytes) is VTL0 RAM (protections aside).
  bool Contains(uint64_t gpa, uint64_t bytes) const;
  // Whether it is VTL0 RAM whose every page grants VTL0 `needed` (kRead,
  // kWrite) now: for buffers a device will reach by DMA.
  bool Allows(uint64_t gpa, uint64_t bytes, uint32_t needed) const;
  // Reads or writes VTL0 RAM that VTL0 may read (write) now; an error
  // names the first refusal (not VTL0 RAM, or a protected page).
  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) const;
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in);
  // A view of VTL0 RAM VTL0 may read, for hashing what the loader placed
  // there before VTL0's first instruction (measured boot: nothing writes
  // it meanwhile, so reading in place is no double fetch). Not for memory
  // VTL0 can change while hcl reads it.
  base::Result<std::span<const std::byte>> ViewBeforeVtl0Runs(mem::Gpa gpa, uint64_t bytes) const;
  // A 4-aligned 32-bit word VTL0 shares with hcl (VMBus ring indices,
  // hyperv-vmbus.md §5.3): acquire load under read permission, release
  // store under write permission.
  base::Result<uint32_t> LoadAcquire32(mem::Gpa gpa) const;
  base::Result<void> StoreRelease32(mem::Gpa gpa, uint32_t value);

  // Sets `flags` on pages [first_gpn, first_gpn + count) of VTL0 RAM:
  // `apply` (the hypercall) runs with every access held off; the flags are
  // recorded only if it succeeds.
  base::Result<void> ChangeProtection(uint64_t first_gpn, uint64_t count, uint32_t flags,
                                      const std::function<base::Result<void>()>& apply);
  // The flags of page `gpn` (kAll unless changed).
  uint32_t Flags(uint64_t gpn) const;
  uint64_t generation() const;

  // The highest VTL0 RAM address + 1.
  uint64_t end() const;

 private:
  // The range holding all of [gpa, gpa + bytes), if any.
  std::optional<size_t> Find(uint64_t gpa, uint64_t bytes) const;
  // Refusal, if any, of `needed` on [gpa, gpa + bytes). Caller holds mutex_.
  base::Result<size_t> CheckLocked(uint64_t gpa, uint64_t bytes, uint32_t needed) const;

  std::vector<mem::GuestMemory> ranges_;  // fixed once VPs run
  mutable std::shared_mutex mutex_;
  std::map<uint64_t, uint32_t> protected_;  // guarded by mutex_; gpn -> flags != kAll
  uint64_t generation_ = 0;                 // guarded by mutex_
};

}  // namespace hcl
