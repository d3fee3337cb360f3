// Serial16550: the shim's log output on the VTL2 COM1 (I/O port 0x3F8).
//
// Programs the UART once (8N1, FIFOs on) and writes bytes with a bounded
// wait on THR-empty, so a missing or wedged UART slows the shim down but
// never hangs it.
#pragma once

#include <cstdint>
#include <string_view>

namespace shim {

class Serial16550 {
 public:
  explicit Serial16550(uint16_t base_port) : base_(base_port) {}

  void Initialize();
  void Write(std::string_view text);
  void WriteHex(uint64_t value);
  void WriteDecimal(uint64_t value);

 private:
  void PutByte(uint8_t byte);
  uint16_t base_;
};

}  // namespace shim
