#include "nvsp/receive_slots.h"

#include "base/le_bytes.h"

namespace nvsp {

ReceiveSlots::ReceiveSlots(const ReceiveSection& section)
    : section_(section),
      limit_(section.sub_allocations > 1 ? section.sub_allocations - 1 : 0),
      generation_(section.sub_allocations, 0),
      out_(section.sub_allocations, false),
      owner_(section.sub_allocations, 0) {
  free_.reserve(section.sub_allocations);
  for (uint32_t i = section.sub_allocations; i-- > 0;) free_.push_back(i);
}

std::optional<ReceiveSlots::Slot> ReceiveSlots::Take(uint32_t owner) {
  if (outstanding_ >= limit_ || free_.empty()) return std::nullopt;
  const uint32_t index = free_.back();
  free_.pop_back();
  out_[index] = true;
  owner_[index] = owner;
  ++outstanding_;
  const uint32_t generation = ++generation_[index];
  return Slot{section_.offset + index * section_.sub_allocation_bytes,
              section_.sub_allocation_bytes, uint64_t{generation} << 32 | index};
}

bool ReceiveSlots::Complete(uint64_t transaction_id, uint32_t owner) {
  const auto index = static_cast<uint32_t>(transaction_id);
  const auto generation = static_cast<uint32_t>(transaction_id >> 32);
  if (index >= out_.size() || !out_[index] || generation_[index] != generation ||
      owner_[index] != owner)
    return false;
  Free(index);
  return true;
}

uint32_t ReceiveSlots::Release(uint32_t owner) {
  uint32_t released = 0;
  for (uint32_t index = 0; index < out_.size(); ++index) {
    if (!out_[index] || owner_[index] != owner) continue;
    Free(index);
    ++released;
  }
  return released;
}

void ReceiveSlots::Free(uint32_t index) {
  out_[index] = false;
  --outstanding_;
  free_.push_back(index);
}

std::array<std::byte, 16> ReceiveSlots::TransferHeader(uint32_t byte_offset, uint32_t byte_count) {
  std::array<std::byte, 16> header{};
  const std::span<std::byte> out(header);
  // Constant offsets inside the array: the stores cannot fail.
  (void)base::StoreLe(out, 0, kReceivePageSetId);
  (void)base::StoreLe(out, 4, uint32_t{1});  // range count
  (void)base::StoreLe(out, 8, byte_count);
  (void)base::StoreLe(out, 12, byte_offset);
  return header;
}

}  // namespace nvsp
