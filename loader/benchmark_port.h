// BenchmarkPort: a port on VTL0's host bus that the loader answers itself
// (writes counted and dropped, reads all-ones), the "hypervisor handles
// it" side of the intercept benchmark (tests/guest/port_bench.cpp,
// tests/bench/vtl0/intercept-bench); with --exit-profile each write also
// starts a new profile window (vtl0-port-bench --mark). Port 0xE9 is free on a PC (Bochs and
// QEMU use it for a debug console, which this loader has none of).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "devices/port_bus.h"

namespace loader {

class BenchmarkPort final : public devices::PortDevice {
 public:
  static constexpr uint16_t kPort = 0xE9;

  const char* name() const override { return "benchmark-port"; }
  devices::IoResult Read(uint16_t, std::span<std::byte> data) override {
    for (std::byte& b : data) b = std::byte{0xFF};
    return devices::IoResult::kOk;
  }
  devices::IoResult Write(uint16_t, std::span<const std::byte>) override {
    writes_.fetch_add(1, std::memory_order_relaxed);
    return devices::IoResult::kOk;
  }
  uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }
  // The count itself, for readers on other threads (--exit-profile windows).
  const std::atomic<uint64_t>& write_count() const { return writes_; }

 private:
  std::atomic<uint64_t> writes_{0};
};

}  // namespace loader
