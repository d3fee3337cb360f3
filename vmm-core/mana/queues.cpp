#include "mana/queues.h"

#include <algorithm>
#include <bit>

#include "base/checked.h"
#include "base/le_bytes.h"

namespace mana {

base::Result<QueueMemory> QueueMemory::Create(std::vector<uint64_t> pages, uint32_t bytes) {
  if (bytes < kPageBytes || !std::has_single_bit(bytes))
    return base::Error::Format("queue size %u is not a power of two of at least a page", bytes);
  if (bytes / kPageBytes > pages.size())
    return base::Error::Format("queue of %u bytes on %zu pages", bytes, pages.size());
  for (uint64_t page : pages)
    if (page % kPageBytes != 0) return base::Error("queue page not 4 KiB aligned");
  pages.resize(bytes / kPageBytes);
  QueueMemory memory;
  memory.pages_ = std::move(pages);
  memory.bytes_ = bytes;
  return memory;
}

base::Result<void> QueueMemory::Read(mem::DmaMemory& dma, uint64_t offset,
                                     std::span<std::byte> data) const {
  if (bytes_ == 0) return base::Error("queue has no memory");
  while (!data.empty()) {
    const uint64_t at = offset % bytes_;
    const size_t chunk = std::min<size_t>(data.size(), kPageBytes - at % kPageBytes);
    TRY(dma.Read(mem::Gpa{pages_[at / kPageBytes] + at % kPageBytes}, data.first(chunk)));
    data = data.subspan(chunk);
    offset += chunk;
  }
  return base::Ok();
}

base::Result<void> QueueMemory::Write(mem::DmaMemory& dma, uint64_t offset,
                                      std::span<const std::byte> data) const {
  if (bytes_ == 0) return base::Error("queue has no memory");
  while (!data.empty()) {
    const uint64_t at = offset % bytes_;
    const size_t chunk = std::min<size_t>(data.size(), kPageBytes - at % kPageBytes);
    TRY(dma.Write(mem::Gpa{pages_[at / kPageBytes] + at % kPageBytes}, data.first(chunk)));
    data = data.subspan(chunk);
    offset += chunk;
  }
  return base::Ok();
}

CompletionRing::CompletionRing(QueueMemory memory, size_t entry_bytes)
    : memory_(std::move(memory)),
      entry_bytes_(entry_bytes),
      entries_(static_cast<uint32_t>(memory_.bytes() / entry_bytes)),
      tail_(entries_),
      head_(entries_) {}

base::Result<bool> CompletionRing::Post(mem::DmaMemory& dma, std::span<const std::byte> body,
                                        uint32_t last_dword) {
  if (entries_ == 0) return base::Error("completion ring has no memory");
  if (!HasRoom()) return base::Error("completion ring full");
  if (body.size() + 4 != entry_bytes_) return base::Error("completion entry of the wrong size");
  const uint64_t offset = (tail_ % entries_) * entry_bytes_;
  // The body first, the owner bits last (§3 "Owner bits": the driver
  // checks them, then reads the body).
  TRY(memory_.Write(dma, offset, body));
  const uint32_t owner = static_cast<uint32_t>(tail_ / entries_) & kOwnerBitsMask;
  std::array<std::byte, 4> last{};
  (void)base::StoreLe<uint32_t>(last, 0, (last_dword & 0x1FFFFFFF) | (owner << 29));
  TRY(memory_.Write(dma, offset + body.size(), last));
  ++tail_;
  const bool was_armed = armed_;
  armed_ = false;
  return was_armed;
}

CompletionRing::DoorbellVerdict CompletionRing::Doorbell(uint32_t head, bool arm) {
  if (entries_ == 0) return DoorbellVerdict::kIgnored;
  const uint64_t modulus = uint64_t{entries_} * 8;
  const uint64_t behind = (tail_ % modulus + modulus - head % modulus) % modulus;
  if (behind > entries_) return DoorbellVerdict::kIgnored;
  head_ = tail_ - behind;
  if (!arm) {
    armed_ = false;
    return DoorbellVerdict::kIdle;
  }
  if (behind == 0) {
    armed_ = true;
    return DoorbellVerdict::kIdle;
  }
  armed_ = false;
  return DoorbellVerdict::kFire;
}

bool WorkQueue::SetTail(uint32_t tail) {
  const uint32_t pending = tail - head_;
  if (pending > memory_.bytes() || pending < tail_ - head_) return false;
  tail_ = tail;
  return true;
}

base::Result<Wqe> WorkQueue::Peek(mem::DmaMemory& dma) const {
  const uint32_t pending = tail_ - head_;
  if (pending < 8) return base::Error("WQE header past the posted tail");
  Wqe wqe;
  wqe.offset = head_ % memory_.bytes();
  std::array<std::byte, 8> header{};
  TRY(memory_.Read(dma, wqe.offset, header));
  uint32_t dw0 = 0, dw1 = 0;
  (void)base::LoadLe<uint32_t>(header, 0, dw0);
  (void)base::LoadLe<uint32_t>(header, 4, dw1);
  wqe.header = WqeHeader::Decode(dw0, dw1);
  const size_t bytes = wqe.header.Bytes();
  if (wqe.header.inline_oob_bytes > wqe.oob.size())
    return base::Error::Format("WQE inline OOB of %u bytes", wqe.header.inline_oob_bytes);
  if (bytes > max_wqe_bytes_) return base::Error::Format("WQE of %zu bytes", bytes);
  if (bytes > pending) return base::Error("WQE runs past the posted tail");
  wqe.bytes = static_cast<uint32_t>(bytes);
  TRY(memory_.Read(dma, wqe.offset + 8,
                   std::span(wqe.oob).first(wqe.header.inline_oob_bytes)));
  std::vector<std::byte> sgl(size_t{wqe.header.sge_count} * kSgeBytes);
  TRY(memory_.Read(dma, wqe.offset + 8 + wqe.header.inline_oob_bytes, sgl));
  wqe.sges.resize(wqe.header.sge_count);
  for (size_t i = 0; i < wqe.sges.size(); ++i) {
    (void)base::LoadLe<uint64_t>(sgl, i * kSgeBytes, wqe.sges[i].address);
    (void)base::LoadLe<uint32_t>(sgl, i * kSgeBytes + 8, wqe.sges[i].memory_key);
    (void)base::LoadLe<uint32_t>(sgl, i * kSgeBytes + 12, wqe.sges[i].size);
  }
  return wqe;
}

}  // namespace mana
