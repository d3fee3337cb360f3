#include "devices/uart16550.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

class StringOutput final : public devices::SerialOutput {
 public:
  void Put(uint8_t byte) override { text.push_back(static_cast<char>(byte)); }
  std::string text;
};

class RecordingLine final : public devices::IrqLine {
 public:
  void Set(bool level) override { levels.push_back(level); }
  std::vector<bool> levels;
};

}  // namespace

TEST_CASE("16550: THR writes reach the output; LSR always says THRE|TEMT") {
  StringOutput out;
  devices::Uart16550 uart(out);
  for (char c : std::string("hi\n")) uart.WriteRegister(0, static_cast<uint8_t>(c));
  CHECK(out.text == "hi\n");
  CHECK((uart.ReadRegister(5) & 0x60) == 0x60);
  CHECK((uart.ReadRegister(5) & 0x01) == 0);  // no data ready
}

TEST_CASE("16550: DLAB switches offsets 0 and 1 to the divisor latch") {
  StringOutput out;
  devices::Uart16550 uart(out);
  uart.WriteRegister(3, 0x80);  // DLAB
  uart.WriteRegister(0, 0x01);
  uart.WriteRegister(1, 0x00);
  uart.WriteRegister(3, 0x03);  // 8N1
  CHECK(out.text.empty());
  CHECK(uart.ReadRegister(3) == 0x03);
  uart.WriteRegister(3, 0x83);
  CHECK(uart.ReadRegister(0) == 0x01);
  CHECK(uart.ReadRegister(1) == 0x00);
}

TEST_CASE("16550: what Linux's 8250 autoconfig probes") {
  StringOutput out;
  devices::Uart16550 uart(out);
  // Scratch register holds a value.
  uart.WriteRegister(7, 0xA5);
  CHECK(uart.ReadRegister(7) == 0xA5);
  // FIFO enable shows in IIR bits 6-7 (a 16550A).
  uart.WriteRegister(2, 0x07);
  CHECK((uart.ReadRegister(2) & 0xC0) == 0xC0);
  // Loopback: MCR OUT2|RTS -> MSR DCD|CTS; THR comes back on RBR.
  uart.WriteRegister(4, 0x10 | 0x0A);
  CHECK((uart.ReadRegister(6) & 0xF0) == 0x90);
  uart.WriteRegister(0, 'x');
  CHECK(out.text.empty());
  CHECK((uart.ReadRegister(5) & 0x01) == 0x01);
  CHECK(uart.ReadRegister(0) == 'x');
  uart.WriteRegister(4, 0x00);
  CHECK(uart.ReadRegister(6) == 0xB0);
}

TEST_CASE("16550: THRE interrupt is raised by enabling it and cleared by reading IIR") {
  StringOutput out;
  devices::Uart16550 uart(out);
  CHECK(uart.ReadRegister(2) == 0x01);  // none pending
  uart.WriteRegister(1, 0x02);          // ETBEI
  CHECK(uart.interrupt_pending());
  CHECK(uart.ReadRegister(2) == 0x02);
  CHECK(uart.ReadRegister(2) == 0x01);
  uart.WriteRegister(0, 'a');  // sent at once: empty again
  CHECK(uart.ReadRegister(2) == 0x02);
  // Received data outranks THRE when enabled.
  uart.WriteRegister(1, 0x03);
  REQUIRE(uart.Receive('z'));
  CHECK(uart.ReadRegister(2) == 0x04);
}

TEST_CASE("16550: port interface takes one byte at offsets 0-7 only") {
  StringOutput out;
  devices::Uart16550 uart(out);
  std::byte two[2]{};
  std::byte one[1]{std::byte{'q'}};
  CHECK(uart.Write(0, std::span(two)) == devices::IoResult::kBadSize);
  CHECK(uart.Write(8, std::span(one)) == devices::IoResult::kBadRegister);
  CHECK(uart.Write(0, std::span(one)) == devices::IoResult::kOk);
  CHECK(out.text == "q");

  devices::PortBus bus;
  REQUIRE(bus.Attach(0x3F8, 8, uart).ok());
  CHECK_FALSE(bus.Attach(0x3FF, 1, uart).ok());  // overlap
  CHECK(bus.Write(0x3F8, std::span<const std::byte>(one)));
  CHECK(out.text == "qq");
  CHECK_FALSE(bus.Read(0x80, std::span(one)));
  CHECK(one[0] == std::byte{0xFF});  // unclaimed reads float high
}

TEST_CASE("16550: the IRQ output follows IIR, gated by MCR.OUT2, edges only on change") {
  StringOutput out;
  devices::Uart16550 uart(out);
  RecordingLine line;
  uart.ConnectIrq(line);
  CHECK(line.levels == std::vector<bool>{false});
  uart.WriteRegister(1, 0x02);  // ETBEI: THRE pending, but OUT2 is low
  CHECK(uart.interrupt_pending());
  CHECK_FALSE(uart.irq_level());
  CHECK(line.levels == std::vector<bool>{false});
  uart.WriteRegister(4, 0x08);  // OUT2 (Linux's 8250 driver sets it when the port has an IRQ)
  CHECK(line.levels == std::vector<bool>{false, true});
  CHECK(uart.ReadRegister(2) == 0x02);  // the 8250 ISR reads IIR: THRE cleared, line falls
  CHECK(line.levels == std::vector<bool>{false, true, false});
  uart.WriteRegister(0, 'x');  // THR written, sent at once: THRE again, a new rising edge
  CHECK(line.levels == std::vector<bool>{false, true, false, true});
  uart.WriteRegister(0, 'y');  // still high: no new call
  CHECK(line.levels.size() == 4);
  uart.WriteRegister(4, 0x08 | 0x10);  // loopback disconnects the output
  CHECK(line.levels.back() == false);
  CHECK(out.text == "xy");
}
