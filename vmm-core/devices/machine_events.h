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

namespace devices {

class MachineEvents {
 public:
  void RequestPowerOff() { power_off_requested_.store(true, std::memory_order_release); }
  bool power_off_requested() const {
    return power_off_requested_.load(std::memory_order_acquire);
  }
  // A platform reset (the guest's reboot): the machine starts over.
  void RequestReset() { reset_requested_.store(true, std::memory_order_release); }
  bool reset_requested() const { return reset_requested_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> power_off_requested_{false};
  std::atomic<bool> reset_requested_{false};
};

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void Set(bool level) = 0;
};

}  // namespace devices
