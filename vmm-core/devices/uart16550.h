// Uart16550: a 16550A serial port as Linux's 8250 driver and the boot
// shim drive it (National Semiconductor PC16550D datasheet, "Register
// Summary" table; register numbers are offsets 0-7 from the base, 0x3F8
// for COM1).
//
// Transmission is instant: a THR write goes to the output sink at once,
// so LSR always reports THRE | TEMT. Received bytes queue in a 16-byte
// FIFO. Enough of IIR, FCR, MCR loopback and MSR is modelled for the 8250
// driver's autoconfiguration to identify a 16550A. The interrupt output
// (IRQ 4 for COM1) is interrupt_pending() gated by MCR.OUT2, as on PC
// serial ports, where OUT2 enables the line driver (Linux's 8250 driver
// sets OUT2 whenever the port has an IRQ); in loopback the output is
// disconnected (datasheet, MCR bit 4). Its level goes to an IrqLine after
// every access that can change it.
#pragma once

#include <cstdint>
#include <deque>
#include <span>

#include "devices/machine_events.h"
#include "devices/port_bus.h"

namespace devices {

class SerialOutput {
 public:
  virtual ~SerialOutput() = default;
  virtual void Put(uint8_t byte) = 0;
};

class Uart16550 final : public PortDevice {
 public:
  static constexpr uint16_t kCom1Base = 0x3F8;
  static constexpr uint16_t kRegisterCount = 8;
  static constexpr uint32_t kCom1Irq = 4;

  explicit Uart16550(SerialOutput& output) : output_(output) {}

  const char* name() const override { return "uart16550"; }
  IoResult Read(uint16_t offset, std::span<std::byte> data) override;
  IoResult Write(uint16_t offset, std::span<const std::byte> data) override;

  // Input from the host side; false (and LSR.OE) when the FIFO is full.
  bool Receive(uint8_t byte);
  bool interrupt_pending() const { return InterruptId() != kIirNoInterrupt; }
  // The level on the interrupt output pin.
  bool irq_level() const;
  // Wires the interrupt output; `line` must outlive the UART.
  void ConnectIrq(IrqLine& line);

  uint8_t ReadRegister(uint16_t offset);
  void WriteRegister(uint16_t offset, uint8_t value);

 private:
  static constexpr uint8_t kIirNoInterrupt = 0x01;
  static constexpr size_t kFifoBytes = 16;

  bool dlab() const { return (lcr_ & 0x80) != 0; }
  bool loopback() const { return (mcr_ & 0x10) != 0; }
  uint8_t InterruptId() const;
  uint8_t LineStatus() const;
  uint8_t ModemStatus() const;
  void Transmit(uint8_t byte);
  void UpdateIrq();
  uint8_t ReadRegisterNoIrq(uint16_t offset);
  void WriteRegisterNoIrq(uint16_t offset, uint8_t value);

  SerialOutput& output_;
  IrqLine* irq_ = nullptr;
  bool irq_driven_ = false;  // the level last sent to irq_
  std::deque<uint8_t> rx_fifo_;
  uint8_t ier_ = 0;
  uint8_t fcr_ = 0;  // only bit 0 (FIFO enable) is remembered
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t scr_ = 0;
  uint8_t dll_ = 0x0C;  // 9600 baud at the 1.8432 MHz reference clock
  uint8_t dlm_ = 0;
  bool overrun_ = false;
  bool thre_pending_ = false;  // THR-empty interrupt, until IIR read or THR write
};

}  // namespace devices
