// MachineEvents: what a device can ask of the whole machine (today only
// power-off), recorded here and acted on by the run loop between exits,
// so devices never reach into the VMM (STYLE.md P1, P4).
//
// IrqLine: one interrupt request line out of a device. Devices drive the
// level; what it is wired to (the in-kernel irqchip through KVM_IRQ_LINE,
// a test recorder) is the owner's business.
#pragma once

namespace loader {

class MachineEvents {
 public:
  void RequestPowerOff() { power_off_requested_ = true; }
  bool power_off_requested() const { return power_off_requested_; }

 private:
  bool power_off_requested_ = false;
};

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void Set(bool level) = 0;
};

}  // namespace loader
