// Vtl0Devices: the devices hcl emulates for its VTL0 guest, shared by the
// VP threads: COM1 (a 16550 at 0x3F8; its output goes to hcl's own
// console, which on this loader is the host's), on the port bus VTL2
// intercepts for (InstallIntercept, I/O port range). Memory-mapped ones
// (the IOAPIC) come with interrupt routing.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "devices/port_bus.h"
#include "devices/uart16550.h"

namespace hcl {

class Vtl0Devices {
 public:
  Vtl0Devices();
  Vtl0Devices(const Vtl0Devices&) = delete;
  Vtl0Devices& operator=(const Vtl0Devices&) = delete;

  devices::PortBus& ports() { return ports_; }
  // The port ranges to intercept: [first, last].
  struct PortRange {
    uint16_t first;
    uint16_t last;
  };
  static constexpr PortRange kCom1{devices::Uart16550::kCom1Base,
                                   devices::Uart16550::kCom1Base + 7};

 private:
  // VTL0's COM1 output on hcl's stdout, written a line at a time so the
  // console's other writers (the VTL2 kernel) split it only at line ends.
  class ConsoleOutput final : public devices::SerialOutput {
   public:
    void Put(uint8_t byte) override;

   private:
    std::mutex mutex_;
    std::string line_;  // guarded by mutex_
  };

  ConsoleOutput console_;
  devices::Uart16550 com1_;
  devices::PortBus ports_;
};

}  // namespace hcl
