#include "devices/guest_dma.h"

#include <cinttypes>

namespace loader::devices {

base::Result<void> GuestDma::Check(mem::Gpa gpa, uint64_t bytes, bool device_writes) const {
  if (visible_ && !visible_(mem::ToU64(gpa), bytes, device_writes))
    return base::Error::Format("DMA to %#" PRIx64 "+%#" PRIx64 ": not host-visible",
                               mem::ToU64(gpa), bytes);
  return base::Ok();
}

base::Result<void> GuestDma::Read(mem::Gpa gpa, std::span<std::byte> out) {
  return Logged([&]() -> base::Result<void> {
    TRY(Check(gpa, out.size(), false));
    return memory_.Read(gpa, out);
  }());
}

base::Result<void> GuestDma::Write(mem::Gpa gpa, std::span<const std::byte> in) {
  return Logged([&]() -> base::Result<void> {
    TRY(Check(gpa, in.size(), true));
    return memory_.Write(gpa, in);
  }());
}

DmaWindow GuestDma::Window() {
  return [this](const block::Segment& segment,
                bool device_writes) -> base::Result<std::span<std::byte>> {
    return Logged([&]() -> base::Result<std::span<std::byte>> {
      TRY(Check(segment.gpa, segment.bytes, device_writes));
      return memory_.DmaSpan(segment.gpa, segment.bytes);
    }());
  };
}

}  // namespace loader::devices
