// FakeDmaPool: a driver::DmaPool carved out of a region of a
// nvme::testing::FakeDmaMemory, so that what the driver writes into its
// queues is what an nvme::Controller (or the scripted fake) reads by DMA
// at the same addresses. First fit over 4 KiB pages; counts live
// allocations so tests can see leaks and deliberate leaking.
#pragma once

#include <cstdint>
#include <vector>

#include "nvme/driver/os_interfaces.h"
#include "nvme/testing/fake_dma_memory.h"

namespace nvme::driver::testing {

class FakeDmaPool final : public DmaPool {
 public:
  // Pages [first_address, first_address + bytes) of `memory` (4 KiB aligned).
  FakeDmaPool(nvme::testing::FakeDmaMemory& memory, uint64_t first_address, uint64_t bytes)
      : memory_(memory), first_(first_address), used_(bytes / 4096, false) {}

  base::Result<DmaBuffer> Allocate(size_t bytes) override {
    if (fail_allocations) return base::Error("fake DMA pool: allocation refused");
    const size_t pages = (bytes + 4095) / 4096;
    if (pages == 0) return base::Error("fake DMA pool: empty allocation");
    size_t run = 0;
    for (size_t i = 0; i < used_.size(); ++i) {
      run = used_[i] ? 0 : run + 1;
      if (run == pages) {
        const size_t start = i + 1 - pages;
        for (size_t j = start; j <= i; ++j) used_[j] = true;
        ++live_;
        const uint64_t address = first_ + start * 4096;
        const size_t offset = static_cast<size_t>(address - memory_.base());
        // Garbage, as a real pool may hand out: the driver must zero.
        auto host = memory_.bytes().subspan(offset, pages * 4096);
        for (auto& b : host) b = std::byte{0xA5};
        return DmaBuffer{host, address};
      }
    }
    return base::Error("fake DMA pool: out of pages");
  }

  void Free(const DmaBuffer& buffer) override {
    const size_t start = static_cast<size_t>((buffer.device_address - first_) / 4096);
    for (size_t j = start; j < start + buffer.host.size() / 4096 && j < used_.size(); ++j) used_[j] = false;
    --live_;
  }

  size_t live_allocations() const { return live_; }
  bool fail_allocations = false;

 private:
  nvme::testing::FakeDmaMemory& memory_;
  uint64_t first_;
  std::vector<bool> used_;
  size_t live_ = 0;
};

}  // namespace nvme::driver::testing
