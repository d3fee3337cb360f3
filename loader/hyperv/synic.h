// Synic: one VP's synthetic interrupt controller in one VTL (TLFS
// "Synthetic Interrupt Controller (SynIC)"; hyperv-vmbus.md §4): its
// registers (SCONTROL, SIMP, SIEFP, SINT0-15, EOM), message delivery into
// the SIMP slots with a per-SINT queue, and event flags in the SIEFP.
//
// The SIMP and SIEFP are overlay pages (TLFS "GPA Overlay Pages",
// vsm/vtl_view.h): loader memory that the VTL sees at the GPA it writes
// into the MSR while the page is enabled; messages and flags are written
// there, never into guest RAM.
//
// Delivery (TLFS "Message Buffers"): a slot is written only when its
// message type is 0 (free); payload first, the type last with release
// order. When the slot is taken the message waits in the SINT's queue
// (at most kQueueDepth; more is HV_STATUS_INSUFFICIENT_BUFFERS) and the
// occupant gets message_pending, so the guest writes EOM after freeing the
// slot; EOM (or the next post) then moves the queue along. Event flags are
// an atomic OR of bit `flag` in the SINT's 256-byte area of the SIEFP.
//
// An interrupt is due when a message lands in a slot or a flag is newly
// set, unless the SINT is masked or in polling mode; the caller raises the
// returned vector in the right local APIC. Thread-safe: other VPs post
// here (PostMessageDirect, SignalEventDirect); the owning VP's thread
// writes the registers.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "hv/hvdef.h"
#include "base/result.h"
#include "mem/guest_memory.h"
#include "vsm/vtl_view.h"

namespace loader::hyperv {

class Synic {
 public:
  static constexpr size_t kQueueDepth = 16;
  using Message = std::array<std::byte, hv::kMessageBytes>;

  // `simp` and `siefp` are this VP's overlay pages in its VTL's view.
  Synic(vsm::OverlayPage& simp, vsm::OverlayPage& siefp);

  // What a post or signal did: its hypercall status and, if an interrupt
  // is due, its vector.
  struct Outcome {
    hv::Status status = hv::Status::kSuccess;
    std::optional<uint8_t> vector;
  };

  // TLFS "SynIC MSRs": SCONTROL 0x40000080, SIEFP 0x40000082, SIMP
  // 0x40000083, SINT0-15 0x40000090-9F. Values are stored as written,
  // except reserved SINT bits. Enabling or moving the SIMP or SIEFP
  // places its overlay; an error (the mapping failed) leaves the register
  // as it was.
  uint64_t ReadRegister(uint32_t msr) const;
  base::Result<void> WriteRegister(uint32_t msr, uint64_t value);
  // EOM (0x40000084) or a re-check: moves queued messages into free
  // slots; returns the vectors due (one per delivered SINT).
  std::vector<uint8_t> EndOfMessage();

  // Posts `message` (256 bytes, type first) to slot `sint`.
  Outcome Post(uint32_t sint, std::span<const std::byte, hv::kMessageBytes> message);
  // Sets flag `flag` (0-2047) of SINT `sint`'s event flags.
  Outcome Signal(uint32_t sint, uint32_t flag);

  uint64_t sint(uint32_t n) const;

 private:
  bool enabled() const { return (scontrol_ & 1) != 0; }
  // Writes the head of `sint`'s queue into its slot if the slot is free.
  // Returns whether a message was delivered. Caller holds mutex_.
  bool DeliverQueuedLocked(uint32_t sint);
  std::optional<uint8_t> VectorDueLocked(uint32_t sint) const;

  vsm::OverlayPage& simp_page_;
  vsm::OverlayPage& siefp_page_;
  mutable std::mutex mutex_;
  uint64_t scontrol_ = 0;  // guarded by mutex_
  uint64_t simp_ = 0;      // guarded by mutex_
  uint64_t siefp_ = 0;     // guarded by mutex_
  std::array<uint64_t, hv::kSintCount> sints_;              // guarded by mutex_
  std::array<std::deque<Message>, hv::kSintCount> queues_;  // guarded by mutex_
};

}  // namespace loader::hyperv
