#include "serial.h"

#include "port_io.h"

namespace shim {
namespace {

// 16550 register offsets (National Semiconductor PC16550D datasheet, Table 2).
constexpr uint16_t kThr = 0;  // transmit holding (DLAB=0)
constexpr uint16_t kIer = 1;  // interrupt enable (DLAB=0)
constexpr uint16_t kFcr = 2;  // FIFO control
constexpr uint16_t kLcr = 3;  // line control
constexpr uint16_t kMcr = 4;  // modem control
constexpr uint16_t kLsr = 5;  // line status
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr int kMaxSpins = 100000;

}  // namespace

void Serial16550::Initialize() {
  OutByte(static_cast<uint16_t>(base_ + kIer), 0x00);  // polled: no interrupts
  OutByte(static_cast<uint16_t>(base_ + kLcr), 0x80);  // DLAB on
  OutByte(static_cast<uint16_t>(base_ + 0), 0x01);     // divisor 1: 115200 baud
  OutByte(static_cast<uint16_t>(base_ + 1), 0x00);
  OutByte(static_cast<uint16_t>(base_ + kLcr), 0x03);  // 8N1, DLAB off
  OutByte(static_cast<uint16_t>(base_ + kFcr), 0x07);  // FIFOs on and cleared
  OutByte(static_cast<uint16_t>(base_ + kMcr), 0x03);  // DTR, RTS
}

void Serial16550::PutByte(uint8_t byte) {
  for (int spin = 0; spin < kMaxSpins; ++spin) {
    if (InByte(static_cast<uint16_t>(base_ + kLsr)) & kLsrThrEmpty) break;
  }
  OutByte(static_cast<uint16_t>(base_ + kThr), byte);
}

void Serial16550::Write(std::string_view text) {
  for (char c : text) {
    if (c == '\n') PutByte('\r');
    PutByte(static_cast<uint8_t>(c));
  }
}

void Serial16550::WriteHex(uint64_t value) {
  char digits[19] = "0x";
  for (int i = 0; i < 16; ++i) {
    const auto nibble = static_cast<unsigned>((value >> (60 - 4 * i)) & 0xf);
    digits[2 + i] = static_cast<char>(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
  }
  Write(std::string_view(digits, 18));
}

void Serial16550::WriteDecimal(uint64_t value) {
  char digits[20];
  int count = 0;
  do {
    digits[19 - count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  Write(std::string_view(digits + 20 - count, static_cast<size_t>(count)));
}

}  // namespace shim
