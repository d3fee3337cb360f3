// The pieces that put hcl's MANA driver (mana/driver) on the loader's
// emulator core (mana/device) without either's OS glue: a Bar over
// Device::Read/Write and a DmaPool carving a FakeDmaMemory both share.
// For the driver's tests and its fuzz target; the Bar can hold SQ
// doorbells back, as a device that sends later than asked.
#pragma once

#include <array>
#include <utility>
#include <vector>

#include "base/le_bytes.h"
#include "mana/device.h"
#include "mana/driver/driver.h"
#include "nvme/testing/fake_dma_memory.h"

namespace mana::testing {

// BAR0 of a mana::Device as the driver's Bar.
class DeviceBar final : public driver::Bar {
 public:
  explicit DeviceBar(Device& device) : device_(device) {}
  uint32_t Read32(uint64_t offset) override {
    std::array<std::byte, 4> bytes{};
    (void)device_.Read(offset, bytes);
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(bytes, 0, value);
    return value;
  }
  uint64_t Read64(uint64_t offset) override {
    std::array<std::byte, 8> bytes{};
    (void)device_.Read(offset, bytes);
    uint64_t value = 0;
    (void)base::LoadLe<uint64_t>(bytes, 0, value);
    return value;
  }
  void Write32(uint64_t offset, uint32_t value) override {
    std::array<std::byte, 4> bytes{};
    (void)base::StoreLe<uint32_t>(bytes, 0, value);
    (void)device_.Write(offset, bytes);
  }
  void Write64(uint64_t offset, uint64_t value) override {
    // A device that is slow to send: SQ doorbells wait for Release.
    if (hold_sq_doorbells && offset % kPageBytes == doorbell::kSq) {
      held_.emplace_back(offset, value);
      return;
    }
    std::array<std::byte, 8> bytes{};
    (void)base::StoreLe<uint64_t>(bytes, 0, value);
    (void)device_.Write(offset, bytes);
  }
  uint64_t bar_bytes() const override { return kBar0Bytes; }

  bool hold_sq_doorbells = false;
  // The held SQ doorbells reach the device now, in order.
  void Release() {
    const auto held = std::exchange(held_, {});
    const bool hold = std::exchange(hold_sq_doorbells, false);
    for (const auto& [offset, value] : held) Write64(offset, value);
    hold_sq_doorbells = hold;
  }

 private:
  Device& device_;
  std::vector<std::pair<uint64_t, uint64_t>> held_;
};

// A bump allocator over the fake memory both sides share.
class FakePool final : public driver::DmaPool {
 public:
  explicit FakePool(nvme::testing::FakeDmaMemory& memory) : memory_(memory) {}
  base::Result<driver::DmaBuffer> Allocate(size_t bytes) override {
    if (next_ + bytes > memory_.size_bytes()) return base::Error("fake pool exhausted");
    driver::DmaBuffer buffer{memory_.bytes().subspan(next_, bytes), memory_.base() + next_};
    next_ += bytes;
    return buffer;
  }
  void Free(const driver::DmaBuffer&) override {}

 private:
  nvme::testing::FakeDmaMemory& memory_;
  size_t next_ = 0;
};

}  // namespace mana::testing
