// PortBus: x86 I/O ports to devices (STYLE.md P1). A device sees offsets
// from its base, never absolute ports. An access no device claims reads
// all-ones and drops writes, as an unclaimed ISA cycle does on a PC.
//
// Locking: every VP thread dispatches its port exits here. One mutex,
// mutex_, guards the range table and serializes every call into an
// attached device, so devices (the 16550, CMOS RTC, ACPI PM1) are written
// as single-threaded state machines and need no lock of their own; what a
// device calls out to while serving an access (its IrqLine, its
// SerialOutput, MachineEvents) runs under mutex_ too and must not call
// back into the bus. Port exits are rare next to guest execution (console
// output and a few RTC/PM reads), so one lock costs nothing measurable.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.h"

namespace devices {

enum class IoResult {
  kOk,
  kBadRegister,  // no such register at that offset
  kBadSize,      // the register cannot be accessed with that width
};

class PortDevice {
 public:
  virtual ~PortDevice() = default;
  virtual const char* name() const = 0;
  virtual IoResult Read(uint16_t offset, std::span<std::byte> data) = 0;
  virtual IoResult Write(uint16_t offset, std::span<const std::byte> data) = 0;
};

class PortBus {
 public:
  // Claims [base, base + length) for `device`, which must outlive the bus.
  base::Result<void> Attach(uint16_t base, uint16_t length, PortDevice& device);

  // One access. Bytes of a failed or unclaimed read are 0xFF.
  // Returns false when no device claimed the port or the device refused.
  bool Read(uint16_t port, std::span<std::byte> data);
  bool Write(uint16_t port, std::span<const std::byte> data);

 private:
  struct Range {
    uint16_t base;
    uint16_t length;
    PortDevice* device;
  };
  const Range* FindLocked(uint16_t port) const;

  std::mutex mutex_;
  std::vector<Range> ranges_;  // guarded by mutex_; so is every attached device
};

}  // namespace devices
