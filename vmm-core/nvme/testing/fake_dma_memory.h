// FakeDmaMemory: nvme::DmaMemory over a byte vector at a chosen guest
// address, for tests and fuzzers. Everything outside [base, base + size)
// is unbacked and fails. Counts accesses so tests can check that a PRP
// list page is read once. Thread-safe (one mutex), so a back end may
// complete on another thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "nvme/dma.h"

namespace nvme::testing {

class FakeDmaMemory final : public DmaMemory {
 public:
  FakeDmaMemory(uint64_t base, size_t size_bytes) : base_(base), bytes_(size_bytes) {}

  base::Result<void> Read(mem::Gpa gpa, std::span<std::byte> out) override {
    std::lock_guard lock(mutex_);
    ++reads_;
    const auto at = Offset(gpa, out.size());
    if (!at) return base::Error("fake DMA: read outside memory");
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(*at), out.size(), out.begin());
    return base::Ok();
  }
  base::Result<void> Write(mem::Gpa gpa, std::span<const std::byte> in) override {
    std::lock_guard lock(mutex_);
    ++writes_;
    const auto at = Offset(gpa, in.size());
    if (!at) return base::Error("fake DMA: write outside memory");
    std::copy(in.begin(), in.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(*at));
    return base::Ok();
  }

  uint64_t base() const { return base_; }
  size_t size_bytes() const { return bytes_.size(); }
  // Direct access for the test's "host" side (not through DMA counters).
  std::span<std::byte> bytes() { return bytes_; }
  void Put32(uint64_t gpa, uint32_t value) { (void)base::StoreLe<uint32_t>(bytes_, At(gpa), value); }
  void Put64(uint64_t gpa, uint64_t value) { (void)base::StoreLe<uint64_t>(bytes_, At(gpa), value); }
  uint32_t Get32(uint64_t gpa) const {
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(bytes_, At(gpa), value);
    return value;
  }
  uint16_t Get16(uint64_t gpa) const {
    uint16_t value = 0;
    (void)base::LoadLe<uint16_t>(bytes_, At(gpa), value);
    return value;
  }
  uint8_t Get8(uint64_t gpa) const { return static_cast<uint8_t>(bytes_.at(At(gpa))); }
  uint64_t reads() const { return reads_; }
  uint64_t writes() const { return writes_; }

 private:
  size_t At(uint64_t gpa) const { return static_cast<size_t>(gpa - base_); }
  std::optional<size_t> Offset(mem::Gpa gpa, size_t length) const {
    const uint64_t address = mem::ToU64(gpa);
    if (address < base_) return std::nullopt;
    if (!base::RangeFits<uint64_t>(address - base_, length, bytes_.size())) return std::nullopt;
    return static_cast<size_t>(address - base_);
  }

  uint64_t base_;
  std::vector<std::byte> bytes_;
  std::mutex mutex_;
  uint64_t reads_ = 0;
  uint64_t writes_ = 0;
};

}  // namespace nvme::testing
