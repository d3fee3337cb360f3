#include "paravisor/vtl0_devices.h"

#include <unistd.h>

namespace hcl {

void Vtl0Devices::ConsoleOutput::Put(uint8_t byte) {
  std::lock_guard lock(mutex_);
  line_.push_back(static_cast<char>(byte));
  if (byte != '\n' && line_.size() < 256) return;
  const char* data = line_.data();
  size_t left = line_.size();
  while (left > 0) {
    const ssize_t written = ::write(STDOUT_FILENO, data, left);
    if (written <= 0) break;  // the console is gone: drop the line
    data += written;
    left -= static_cast<size_t>(written);
  }
  line_.clear();
}

Vtl0Devices::Vtl0Devices() : com1_(console_) {
  // The port bus refuses only overlapping ranges; these are fixed.
  (void)ports_.Attach(devices::Uart16550::kCom1Base, devices::Uart16550::kRegisterCount, com1_);
}

}  // namespace hcl
