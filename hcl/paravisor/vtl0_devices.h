// Vtl0Devices: the devices hcl emulates for its VTL0 guest, shared by the
// VP threads: COM1 (a 16550 at 0x3F8, IRQ 4; its output goes to hcl's own
// console, which on this loader is the host's) on the port bus VTL2
// intercepts for (InstallIntercept, I/O port range), and the I/O APIC at
// 0xFEC00000 (VTL0's MADT names it; the hypervisor leaves it to VTL2),
// whose interrupt messages reach VTL0's local APICs through
// HvCallAssertVirtualInterrupt; and the TPM's CRB registers at 0xFED40000
// once the paravisor attached its vTPM (vtpm/vtpm.h).
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "devices/ioapic.h"
#include "devices/port_bus.h"
#include "devices/uart16550.h"
#include "paravisor/vtl_driver.h"
#include "vtpm/vtpm.h"

namespace hcl {

class Vtl0Devices {
 public:
  explicit Vtl0Devices(const VtlDriver& mshv);
  Vtl0Devices(const Vtl0Devices&) = delete;
  Vtl0Devices& operator=(const Vtl0Devices&) = delete;

  devices::PortBus& ports() { return ports_; }
  // Setup, before any VP runs; `tpm` outlives the devices.
  void AttachTpm(vtpm::Vtpm& tpm) { tpm_ = &tpm; }
  // Memory-mapped devices; false: nothing at `gpa`.
  bool MmioRead(uint64_t gpa, std::span<std::byte> data);
  bool MmioWrite(uint64_t gpa, std::span<const std::byte> data);
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
    static constexpr size_t kMaxLine = 64 * 1024;
    std::mutex mutex_;
    std::string line_;  // guarded by mutex_
  };

  // I/O APIC messages to VTL0's local APICs (TLFS
  // HvCallAssertVirtualInterrupt: fixed interrupts, physical APIC ID).
  class AssertInterrupt final : public devices::InterruptSink {
   public:
    explicit AssertInterrupt(const VtlDriver& mshv) : mshv_(mshv) {}
    void Deliver(const devices::InterruptMessage& message) override;

   private:
    const VtlDriver& mshv_;
  };
  // COM1's interrupt request into the I/O APIC's pin 4.
  class IoApicPin final : public devices::IrqLine {
   public:
    IoApicPin(devices::IoApic& ioapic, uint32_t pin) : ioapic_(ioapic), pin_(pin) {}
    void Set(bool level) override { ioapic_.SetIrq(pin_, level); }

   private:
    devices::IoApic& ioapic_;
    uint32_t pin_;
  };

  AssertInterrupt assert_interrupt_;
  devices::IoApic ioapic_;
  IoApicPin com1_irq_;
  ConsoleOutput console_;
  devices::Uart16550 com1_;
  devices::PortBus ports_;
  vtpm::Vtpm* tpm_ = nullptr;  // fixed before VPs run
};

}  // namespace hcl
