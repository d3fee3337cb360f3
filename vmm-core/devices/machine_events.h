// MachineEvents: what a device can ask of the whole machine (power-off,
// reset), recorded here and acted on by the run loops between exits,
// so devices never reach into the VMM (STYLE.md P1, P4). Any VP thread
// may set or read it (an atomic flag).
//
// IrqLine: one interrupt request line out of a device. Devices drive the
// level; what it is wired to (the in-kernel irqchip through KVM_IRQ_LINE,
// a test recorder) is the owner's business.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace devices {

class MachineEvents {
 public:
  void RequestPowerOff() { power_off_requested_.store(true, std::memory_order_release); }
  bool power_off_requested() const {
    return power_off_requested_.load(std::memory_order_acquire);
  }
  // A platform reset (a reboot): the machine starts over. `origin` is the
  // owner's tag for the device that asked (which bus it sits on); the
  // first request's is kept.
  void RequestReset(uint8_t origin) {
    int none = kNoReset;
    reset_origin_.compare_exchange_strong(none, origin, std::memory_order_acq_rel);
  }
  std::optional<uint8_t> reset_origin() const {
    const int origin = reset_origin_.load(std::memory_order_acquire);
    if (origin == kNoReset) return std::nullopt;
    return static_cast<uint8_t>(origin);
  }

 private:
  static constexpr int kNoReset = -1;
  std::atomic<bool> power_off_requested_{false};
  std::atomic<int> reset_origin_{kNoReset};
};

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void Set(bool level) = 0;
};

}  // namespace devices
