// The three queue shapes GDMA builds from guest memory (mana-netvsc.md §3):
//   QueueMemory    - a queue's bytes: a list of 4 KiB guest pages (a DMA
//                    region, or one page the SMC names), addressed by byte
//                    offset modulo its size, so an SGL that wraps reads on;
//   CompletionRing - an EQ or CQ the device writes: entries carry owner
//                    bits (entry t of a ring of N, counting from N as the
//                    driver does, has owner (t / N) & 7), the arm state and
//                    the driver's head from its doorbell;
//   WorkQueue      - an SQ or RQ the device reads: the driver's tail is a
//                    monotonic byte count, WQEs are whole 32-byte units.
// Sans I/O: guest memory only through mem::DmaMemory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "mana/wire.h"
#include "mem/dma_memory.h"

namespace mana {

class QueueMemory {
 public:
  QueueMemory() = default;
  // `pages`: 4 KiB-aligned guest addresses; `bytes`: a power of two,
  // at least one page, at most pages.size() pages (checked).
  static base::Result<QueueMemory> Create(std::vector<uint64_t> pages, uint32_t bytes);
  uint32_t bytes() const { return bytes_; }
  // `data.size()` bytes at `offset` modulo the queue size (wrapping).
  base::Result<void> Read(mem::DmaMemory& dma, uint64_t offset, std::span<std::byte> data) const;
  base::Result<void> Write(mem::DmaMemory& dma, uint64_t offset,
                           std::span<const std::byte> data) const;

 private:
  std::vector<uint64_t> pages_;
  uint32_t bytes_ = 0;
};

class CompletionRing {
 public:
  CompletionRing() = default;
  CompletionRing(QueueMemory memory, size_t entry_bytes);
  uint32_t entries() const { return entries_; }
  bool armed() const { return armed_; }
  // Another entry fits without overwriting one the driver has not
  // acknowledged (by its last doorbell).
  bool HasRoom(uint32_t count = 1) const { return tail_ - head_ + count <= entries_; }
  // Writes one entry: `body` (entry size - 4 bytes), then the last dword,
  // `last_dword` with the owner bits (31:29) put in. Disarms the ring and
  // says whether it was armed (the caller then signals). No room: Error.
  base::Result<bool> Post(mem::DmaMemory& dma, std::span<const std::byte> body,
                          uint32_t last_dword);
  // The driver's doorbell: its head (modulo 8 * entries) and the arm bit.
  enum class DoorbellVerdict { kIdle, kFire, kIgnored };
  // kFire: armed with entries still unconsumed: the caller signals now
  // (and the ring stays disarmed). kIgnored: a head the device never
  // reached (nothing changes).
  DoorbellVerdict Doorbell(uint32_t head, bool arm);

 private:
  QueueMemory memory_;
  size_t entry_bytes_ = 0;
  uint32_t entries_ = 0;
  uint64_t tail_ = 0;  // the device's next entry, monotonic from entries_
  uint64_t head_ = 0;  // the driver's, from its last doorbell
  bool armed_ = true;  // CQs and EQs start armed (§3 "Interrupt/arm model")
};

struct Sge {
  uint64_t address = 0;
  uint32_t memory_key = 0;
  uint32_t size = 0;
};

struct Wqe {
  WqeHeader header;
  std::array<std::byte, 24> oob{};
  std::vector<Sge> sges;
  uint32_t offset = 0;  // byte offset of the WQE in the queue
  uint32_t bytes = 0;
};

class WorkQueue {
 public:
  WorkQueue() = default;
  WorkQueue(QueueMemory memory, size_t max_wqe_bytes)
      : memory_(std::move(memory)), max_wqe_bytes_(max_wqe_bytes) {}
  // The driver's new tail. Refused (false, nothing changes) when it would
  // post more than the queue holds or move backwards past the head.
  bool SetTail(uint32_t tail);
  bool empty() const { return head_ == tail_; }
  // The WQE at the head, read and checked (SGE count against the size
  // posted, size limit), not consumed.
  base::Result<Wqe> Peek(mem::DmaMemory& dma) const;
  void Consume(uint32_t bytes) { head_ += bytes; }

 private:
  QueueMemory memory_;
  size_t max_wqe_bytes_ = 0;
  uint32_t head_ = 0;  // bytes consumed (monotonic, wrapping at 2^32)
  uint32_t tail_ = 0;
};

}  // namespace mana
