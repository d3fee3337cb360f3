// ShimMain: the boot shim's C++ entry, called from entry.S with a stack.
//
// This revision logs its arrival with a TSC timestamp and halts. Parameter
// validation, boot_params and the jump to Linux come with the boot-spine
// work (issue 4); the logging format here is the one the boot timeline
// parser reads: "shim: <stage> tsc=<decimal>".
#include <cstdint>

#include "port_io.h"
#include "serial.h"

extern "C" [[noreturn]] void ShimMain(uint64_t boot_parameters);

extern "C" [[noreturn]] void ShimMain(uint64_t boot_parameters) {
  shim::Serial16550 console(0x3f8);
  console.Initialize();
  console.Write("shim: entered tsc=");
  console.WriteDecimal(shim::ReadTsc());
  console.Write(" params=");
  console.WriteHex(boot_parameters);
  console.Write("\n");
  for (;;) asm volatile("cli; hlt");
}
