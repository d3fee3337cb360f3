#include "paravisor/vtl0_devices.h"

#include <unistd.h>

#include <cstdio>

namespace hcl {

void Vtl0Devices::ConsoleOutput::Put(uint8_t byte) {
  std::lock_guard lock(mutex_);
  line_.push_back(static_cast<char>(byte));
  // A line goes out whole with one write(2), so hcl's own lines never cut
  // it (vtl0-init's event-log line is several KiB); only a line longer than
  // kMaxLine is split.
  if (byte != '\n' && line_.size() < kMaxLine) return;
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

void Vtl0Devices::AssertInterrupt::Deliver(const devices::InterruptMessage& message) {
  // Only fixed and lowest-priority messages carry a vector; Linux programs
  // nothing else for ISA interrupts.
  if (message.delivery_mode != devices::DeliveryMode::kFixed &&
      message.delivery_mode != devices::DeliveryMode::kLowestPriority)
    return;
  uint32_t destination = message.destination;
  if (message.destination_mode == devices::DestinationMode::kLogical) {
    // Flat logical mode (SDM vol. 3A §11.6.2.2): one bit per APIC; the
    // lowest-numbered one takes it.
    if (destination == 0) return;
    destination = static_cast<uint32_t>(__builtin_ctz(destination));
  }
  // {partition u64, control u64 (type 0 fixed, bit 32 level), destination
  // u64, vector u32, target_vtl u8, rsvd[3]} (hyperv-vmbus.md §2).
  struct {
    uint64_t partition;
    uint64_t control;
    uint64_t destination;
    uint32_t vector;
    uint8_t target_vtl;
    uint8_t reserved[3];
  } input{::hv::kPartitionSelf,
          message.trigger_mode == devices::TriggerMode::kLevel ? uint64_t{1} << 32 : 0,
          destination, message.vector, 0, {}};
  static_assert(sizeof input == 32);
  auto status = mshv_.Hypercall(static_cast<uint64_t>(::hv::CallCode::kAssertVirtualInterrupt),
                                std::as_bytes(std::span(&input, 1)), {});
  if (!status || *status != ::hv::Status::kSuccess)
    std::fprintf(stderr, "hcl: interrupt 0x%x to APIC %u not delivered\n", message.vector,
                 destination);
}

Vtl0Devices::Vtl0Devices(const VtlDriver& mshv)
    : assert_interrupt_(mshv),
      ioapic_(0, assert_interrupt_),
      com1_irq_(ioapic_, devices::Uart16550::kCom1Irq),
      com1_(console_) {
  com1_.ConnectIrq(com1_irq_);
  // The port bus refuses only overlapping ranges; these are fixed.
  (void)ports_.Attach(devices::Uart16550::kCom1Base, devices::Uart16550::kRegisterCount, com1_);
}

bool Vtl0Devices::MmioRead(uint64_t gpa, std::span<std::byte> data) {
  if (tpm_ != nullptr && vtpm::Vtpm::Decodes(gpa)) {
    tpm_->MmioRead(gpa, data);
    return true;
  }
  if ((gpa & ~uint64_t{0xFFF}) != devices::IoApic::kDefaultBase) return false;
  if (ioapic_.MmioRead(gpa & 0xFFF, data) != devices::IoResult::kOk)
    for (std::byte& b : data) b = std::byte{0xFF};
  return true;
}

bool Vtl0Devices::MmioWrite(uint64_t gpa, std::span<const std::byte> data) {
  if (tpm_ != nullptr && vtpm::Vtpm::Decodes(gpa)) {
    tpm_->MmioWrite(gpa, data);
    return true;
  }
  if ((gpa & ~uint64_t{0xFFF}) != devices::IoApic::kDefaultBase) return false;
  (void)ioapic_.MmioWrite(gpa & 0xFFF, data);
  return true;
}

}  // namespace hcl
