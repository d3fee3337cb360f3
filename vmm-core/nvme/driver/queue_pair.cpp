#include "nvme/driver/queue_pair.h"

#include <algorithm>
#include <array>
#include <atomic>

#include "base/le_bytes.h"

namespace nvme::driver {
namespace {

size_t RoundUpToPages(size_t bytes) {
  return (bytes + kPrpPageBytes - 1) / kPrpPageBytes * kPrpPageBytes;
}

constexpr uint16_t kSlotMask = (1u << QueuePair::kSlotBits) - 1;
constexpr uint8_t kGenerationMask = 0x3F;

}  // namespace

base::Result<std::unique_ptr<QueuePair>> QueuePair::Create(DmaPool& pool, RegisterAccess& registers,
                                                           uint16_t qid, uint16_t entries, uint8_t dstrd) {
  if (entries < 2 || entries > kMaxEntries)
    return base::Error::Format("nvme queue %u: %u entries (want 2..%u)", qid, entries, kMaxEntries);
  if (wire::CqHeadDoorbell(qid, dstrd) + 4 > registers.bar_bytes())
    return base::Error::Format("nvme queue %u: doorbells beyond BAR0", qid);
  auto sq = TRY(pool.Allocate(RoundUpToPages(size_t{entries} * wire::kSubmissionEntryBytes)));
  auto cq = pool.Allocate(RoundUpToPages(size_t{entries} * wire::kCompletionEntryBytes));
  if (!cq) {
    pool.Free(sq);
    return std::move(cq).error();
  }
  if (sq.host.size() < size_t{entries} * wire::kSubmissionEntryBytes ||
      cq->host.size() < size_t{entries} * wire::kCompletionEntryBytes ||
      sq.device_address % kPrpPageBytes != 0 || cq->device_address % kPrpPageBytes != 0) {
    pool.Free(sq);
    pool.Free(*cq);
    return base::Error::Format("nvme queue %u: DMA pool returned a short or unaligned buffer", qid);
  }
  std::fill(sq.host.begin(), sq.host.end(), std::byte{0});
  std::fill(cq->host.begin(), cq->host.end(), std::byte{0});
  return std::unique_ptr<QueuePair>(new QueuePair(pool, registers, qid, entries, dstrd, sq, *cq));
}

QueuePair::QueuePair(DmaPool& pool, RegisterAccess& registers, uint16_t qid, uint16_t entries, uint8_t dstrd,
                     DmaBuffer sq, DmaBuffer cq)
    : pool_(pool), registers_(registers), qid_(qid), entries_(entries), dstrd_(dstrd), sq_(sq), cq_(cq),
      slots_(size_t{entries} - 1) {}

QueuePair::~QueuePair() {
  if (leak_) return;
  pool_.Free(sq_);
  pool_.Free(cq_);
  for (Slot& slot : slots_)
    if (slot.page) pool_.Free(*slot.page);
}

std::optional<uint16_t> QueuePair::FreeSlot() const {
  const size_t count = slots_.size();
  for (size_t i = 0; i < count; ++i) {
    const size_t index = (next_slot_hint_ + i) % count;
    if (!slots_[index].busy) return static_cast<uint16_t>(index);
  }
  return std::nullopt;
}

base::Result<void> QueuePair::EnsurePage(Slot& slot) {
  if (slot.page) return base::Ok();
  const DmaBuffer page = TRY(pool_.Allocate(kPrpPageBytes));
  if (page.host.size() < kPrpPageBytes || page.device_address % kPrpPageBytes != 0) {
    pool_.Free(page);
    return base::Error("nvme: DMA pool returned a short or unaligned page");
  }
  slot.page = page;
  return base::Ok();
}

uint16_t QueuePair::Place(uint16_t slot_index, wire::SubmissionEntry sqe, Time deadline) {
  Slot& slot = slots_[slot_index];
  slot.generation = static_cast<uint8_t>((slot.generation + 1) & kGenerationMask);
  slot.busy = true;
  slot.deadline = deadline;
  ++outstanding_;
  next_slot_hint_ = static_cast<uint16_t>((slot_index + 1) % slots_.size());
  const uint16_t cid = static_cast<uint16_t>(slot_index | uint32_t{slot.generation} << kSlotBits);
  // NVMe 2.0 "Common Command Format": CID 31:16, PSDT 15:14 = 00b (PRPs),
  // FUSE 9:8 = 00b; keep the opcode.
  sqe.cdw0 = wire::SubmissionEntry::MakeCdw0(sqe.opcode(), cid);
  const auto bytes = wire::ToBytes(sqe);
  std::copy(bytes.begin(), bytes.end(),
            sq_.host.begin() + static_cast<std::ptrdiff_t>(size_t{sq_tail_} * wire::kSubmissionEntryBytes));
  sq_tail_ = static_cast<uint16_t>((sq_tail_ + 1) % entries_);
  return slot_index;
}

base::Result<uint16_t> QueuePair::Submit(wire::SubmissionEntry sqe, const PrpPlan* prps, Time deadline) {
  const auto index = FreeSlot();
  if (!index) return base::Error::Format("nvme queue %u full", qid_);
  Slot& slot = slots_[*index];
  if (prps != nullptr) {
    if (prps->pages.size() > kMaxPrpListEntries) return base::Error("nvme: PRP list too long");
    sqe.prp1 = prps->prp1;
    // NVMe 2.0 §4.1.1: PRP2 is unused when the data ends in PRP1's page,
    // the second page when exactly one more is needed, else a PRP list.
    if (prps->pages.empty()) {
      sqe.prp2 = 0;
    } else if (prps->pages.size() == 1) {
      sqe.prp2 = prps->pages[0];
    } else {
      TRY(EnsurePage(slot));
      for (size_t i = 0; i < prps->pages.size(); ++i)
        (void)base::StoreLe<uint64_t>(slot.page->host, i * sizeof(uint64_t), prps->pages[i]);
      sqe.prp2 = slot.page->device_address;
    }
  }
  return Place(*index, sqe, deadline);
}

base::Result<uint16_t> QueuePair::SubmitWithPayload(wire::SubmissionEntry sqe, std::span<const std::byte> payload,
                                                    Time deadline) {
  if (payload.size() > kPrpPageBytes) return base::Error("nvme: payload larger than a page");
  const auto index = FreeSlot();
  if (!index) return base::Error::Format("nvme queue %u full", qid_);
  Slot& slot = slots_[*index];
  TRY(EnsurePage(slot));
  std::copy(payload.begin(), payload.end(), slot.page->host.begin());
  sqe.prp1 = slot.page->device_address;
  sqe.prp2 = 0;
  return Place(*index, sqe, deadline);
}

void QueuePair::RingDoorbell() {
  if (sq_tail_ == sq_tail_rung_) return;
  ReportCqHeadIfCrowded();  // the commands about to be fetched count too
  // The entries must be visible before the device sees the new tail.
  std::atomic_thread_fence(std::memory_order_release);
  registers_.Write32(wire::SqTailDoorbell(qid_, dstrd_), sq_tail_);
  sq_tail_rung_ = sq_tail_;
}

size_t QueuePair::ProcessCompletions(std::vector<Completed>& out) {
  size_t consumed = 0;
  // Bounded: one pass over the ring per call (nvme-vfio.md §7 defence 3).
  while (consumed < entries_) {
    const size_t at = size_t{cq_head_} * wire::kCompletionEntryBytes;
    constexpr size_t kStatusByte = offsetof(wire::CompletionEntry, status);
    // nvme-vfio.md §2, STYLE.md §3.6: acquire-load the phase tag, then
    // copy the entry once; everything below reads the copy.
    const std::byte tag = std::atomic_ref<std::byte>(cq_.host[at + kStatusByte]).load(std::memory_order_acquire);
    if (((std::to_integer<unsigned>(tag) & wire::kPhaseTag) != 0) != phase_) break;
    std::array<std::byte, wire::kCompletionEntryBytes> raw;
    std::copy_n(cq_.host.begin() + static_cast<std::ptrdiff_t>(at), raw.size(), raw.begin());
    const auto cqe = wire::FromBytes<wire::CompletionEntry>(raw);
    if (((cqe.status & wire::kPhaseTag) != 0) != phase_) {
      // Rewritten between the load and the copy: look again next time.
      ++counters_.phase_changed;
      break;
    }
    ++consumed;
    cq_head_ = static_cast<uint16_t>((cq_head_ + 1) % entries_);
    if (cq_head_ == 0) phase_ = !phase_;

    // Validate the copy (nvme-vfio.md §7 defences 1-2).
    const uint16_t slot_index = cqe.cid & kSlotMask;
    const uint8_t generation = static_cast<uint8_t>(cqe.cid >> kSlotBits);
    if (cqe.sqid != qid_) {
      ++counters_.wrong_sqid;
      continue;
    }
    if (cqe.sqhd >= entries_) {
      ++counters_.bad_sqhd;
      continue;
    }
    if (slot_index >= slots_.size()) {
      ++counters_.bad_cid;
      continue;
    }
    Slot& slot = slots_[slot_index];
    if (!slot.busy) {
      ++counters_.not_outstanding;
      continue;
    }
    if (slot.generation != generation) {
      ++counters_.stale_generation;
      continue;
    }
    slot.busy = false;
    --outstanding_;
    ++counters_.completions;
    out.push_back(Completed{slot_index, wire::Status::FromField(static_cast<uint16_t>(cqe.status & ~wire::kPhaseTag)),
                            cqe.dw0});
  }
  cq_unreported_ += static_cast<uint32_t>(consumed);
  if (cq_unreported_ >= entries_ / 4u) ReportCqHead();
  else ReportCqHeadIfCrowded();
  return consumed;
}

void QueuePair::ReportCqHead() {
  if (cq_unreported_ == 0) return;
  registers_.Write32(wire::CqHeadDoorbell(qid_, dstrd_), cq_head_);
  cq_unreported_ = 0;
}

void QueuePair::ReportCqHeadIfCrowded() {
  // What the controller counts as taken in the CQ (NVMe 2.0 §3.3.1.2:
  // entries not yet released by a head doorbell) is at most what was
  // consumed unreported plus what is outstanding. Kept under half the
  // ring, it never finds the CQ full for lack of a head update: it could
  // otherwise stop fetching commands and post nothing that would make
  // the driver look at the CQ again.
  if (cq_unreported_ > 0 && outstanding_ + cq_unreported_ >= entries_ / 2u) ReportCqHead();
}

bool QueuePair::AnyExpired(Time now) const {
  return std::any_of(slots_.begin(), slots_.end(),
                     [now](const Slot& slot) { return slot.busy && slot.deadline <= now; });
}

std::vector<uint16_t> QueuePair::Rewind() {
  std::vector<uint16_t> dropped;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].busy) continue;
    slots_[i].busy = false;
    dropped.push_back(static_cast<uint16_t>(i));
  }
  outstanding_ = 0;
  std::fill(cq_.host.begin(), cq_.host.end(), std::byte{0});
  std::fill(sq_.host.begin(), sq_.host.end(), std::byte{0});
  sq_tail_ = sq_tail_rung_ = cq_head_ = 0;
  cq_unreported_ = 0;
  phase_ = true;
  return dropped;
}

}  // namespace nvme::driver
