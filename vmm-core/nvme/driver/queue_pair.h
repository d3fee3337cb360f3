// nvme::driver::QueuePair: one submission queue and its completion queue,
// from the driver's side (NVMe 2.0 §3.3.1 "Memory-Based Transport Queue
// Model"; nvme-vfio.md §2, §7), in DMA pool memory. The admin queue and
// every I/O queue are one of these.
//
// Does:
//   - submission: a free slot, a command identifier (CID = slot index in
//     bits 9:0 | a per-slot generation in bits 15:10), PRP2 or a PRP list
//     page (one DMA page per slot, allocated on first use and kept), the
//     64-byte entry written into the SQ; the tail doorbell is rung once per
//     batch (RingDoorbell);
//   - completion: the phase tag of the entry at the head is acquire-loaded
//     (std::atomic_ref), the 16 bytes are then copied once and only the
//     copy is used. An entry is accepted only if its SQID is this queue's,
//     its SQHD is inside the SQ, and its CID names a slot that is
//     outstanding with the current generation. Anything else (unknown or
//     stale CID, a duplicate, a completion for a command never sent, a
//     wrong SQID, SQHD out of range) is consumed, counted and ignored: it
//     changes no slot. At most one ring's worth of entries per call. The
//     CQ head doorbell is lazy (each write is an MMIO exit in a VM): rung
//     once a quarter of the ring was consumed, or when consumed-but-
//     unreported plus outstanding entries reach half the ring (checked
//     after completions and before each SQ tail doorbell), so the
//     controller never sees a full CQ;
//   - credits: at most entries - 1 commands are outstanding (as Linux), so
//     SQHD is never needed to find room and is only checked;
//   - deadlines per command, for the driver's timeout scan;
//   - Rewind: after the controller is quiesced (CSTS.RDY = 0 after
//     CC.EN = 0), forget every outstanding command and empty both rings.
//
// Leaves to the driver: what commands mean, creating the queue on the
// controller (admin commands, AQA/ASQ/ACQ), interrupts, locking (not
// thread-safe: the driver calls it under its lock).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "nvme/driver/os_interfaces.h"
#include "nvme/driver/prp_builder.h"
#include "nvme/wire.h"

namespace nvme::driver {

// Completions a device got wrong; each was consumed and ignored.
struct QueueCounters {
  uint64_t completions = 0;        // accepted
  uint64_t bad_cid = 0;            // slot index beyond the queue
  uint64_t not_outstanding = 0;    // slot idle: duplicate or never sent
  uint64_t stale_generation = 0;   // slot busy with another generation
  uint64_t wrong_sqid = 0;
  uint64_t bad_sqhd = 0;
  uint64_t phase_changed = 0;      // phase tag differed between the acquire load and the copy
};

class QueuePair {
 public:
  static constexpr uint16_t kMaxEntries = 1024;  // CID slot field is 10 bits
  static constexpr unsigned kSlotBits = 10;

  // `entries` (2..kMaxEntries) for both rings; doorbells at the offsets for
  // `qid` with stride `dstrd`. Allocates and zeroes both rings.
  static base::Result<std::unique_ptr<QueuePair>> Create(DmaPool& pool, RegisterAccess& registers,
                                                         uint16_t qid, uint16_t entries, uint8_t dstrd);
  ~QueuePair();
  QueuePair(const QueuePair&) = delete;
  QueuePair& operator=(const QueuePair&) = delete;

  uint16_t qid() const { return qid_; }
  uint16_t entries() const { return entries_; }
  uint64_t sq_device_address() const { return sq_.device_address; }
  uint64_t cq_device_address() const { return cq_.device_address; }
  uint32_t outstanding() const { return outstanding_; }
  bool HasFreeSlot() const { return outstanding_ < slots_.size(); }

  // Writes `sqe` (its CID and, with `prps`, PRP1/PRP2 filled in here) at
  // the SQ tail. PSDT is set to PRPs. Returns the slot, which
  // ProcessCompletions reports back. Fails if no slot is free or a PRP list
  // page cannot be allocated; nothing changes then.
  base::Result<uint16_t> Submit(wire::SubmissionEntry sqe, const PrpPlan* prps, Time deadline);
  // As Submit, with `payload` (<= 4096 bytes, e.g. DSM ranges) copied into
  // the slot's DMA page and PRP1 pointing at it.
  base::Result<uint16_t> SubmitWithPayload(wire::SubmissionEntry sqe, std::span<const std::byte> payload,
                                           Time deadline);
  // Rings the SQ tail doorbell if entries were written since the last ring.
  void RingDoorbell();
  struct Completed {
    uint16_t slot = 0;
    wire::Status status;
    uint32_t dw0 = 0;
  };
  // Consumes new completion entries (at most one ring's worth) and
  // appends the accepted ones to `out`; their slots are free again.
  // Returns the number of entries consumed (accepted or not).
  size_t ProcessCompletions(std::vector<Completed>& out);

  // True if an outstanding command's deadline is at or before `now`.
  bool AnyExpired(Time now) const;

  // Only after the controller stopped (CSTS.RDY = 0 seen, or it is gone):
  // the slots that were outstanding, now free; both rings empty again and
  // the CQ zeroed (phase tag 1 expected next).
  std::vector<uint16_t> Rewind();

  // The device may still write to this memory (it never quiesced): never
  // give it back to the pool (nvme-vfio.md §7 defence 6).
  void LeakDmaMemory() { leak_ = true; }

  const QueueCounters& counters() const { return counters_; }

 private:
  // Writes the CQ head doorbell if entries were consumed since the last
  // one (unconditionally), or only if the CQ is crowded (see above).
  void ReportCqHead();
  void ReportCqHeadIfCrowded();

  struct Slot {
    bool busy = false;
    uint8_t generation = 0;  // 6 bits
    Time deadline{};
    std::optional<DmaBuffer> page;  // PRP list or payload page
  };

  QueuePair(DmaPool& pool, RegisterAccess& registers, uint16_t qid, uint16_t entries, uint8_t dstrd,
            DmaBuffer sq, DmaBuffer cq);
  std::optional<uint16_t> FreeSlot() const;
  base::Result<void> EnsurePage(Slot& slot);
  uint16_t Place(uint16_t slot_index, wire::SubmissionEntry sqe, Time deadline);

  DmaPool& pool_;
  RegisterAccess& registers_;
  const uint16_t qid_;
  const uint16_t entries_;
  const uint8_t dstrd_;
  DmaBuffer sq_;
  DmaBuffer cq_;
  std::vector<Slot> slots_;  // entries - 1
  uint32_t outstanding_ = 0;
  uint16_t sq_tail_ = 0;
  uint16_t sq_tail_rung_ = 0;
  uint16_t cq_head_ = 0;
  uint32_t cq_unreported_ = 0;  // entries consumed since the last head doorbell
  bool phase_ = true;  // Linux: a new entry has phase tag 1 on the first pass
  uint16_t next_slot_hint_ = 0;
  bool leak_ = false;
  QueueCounters counters_;
};

}  // namespace nvme::driver
