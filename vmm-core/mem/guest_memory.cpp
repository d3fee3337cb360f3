#include "mem/guest_memory.h"

#include <algorithm>
#include <cinttypes>

#include "base/checked.h"

namespace mem {

base::Result<GuestMemory> GuestMemory::Create(Gpa base, std::span<std::byte> host) {
  if (!base::CheckedAdd<uint64_t>(ToU64(base), host.size()))
    return base::Error::Format("guest RAM at %#" PRIx64 " + %zu bytes wraps the address space",
                               ToU64(base), host.size());
  return GuestMemory(base, host);
}

base::Result<std::span<std::byte>> GuestMemory::Translate(Gpa gpa, uint64_t length) const {
  const uint64_t address = ToU64(gpa);
  const uint64_t start = ToU64(base_);
  if (address < start || !base::RangeFits<uint64_t>(address - start, length, host_.size()))
    return base::Error::Format("guest range %#" PRIx64 "+%#" PRIx64 " is outside guest RAM",
                               address, length);
  return host_.subspan(address - start, length);
}

base::Result<void> GuestMemory::Read(Gpa gpa, std::span<std::byte> out) const {
  auto source = TRY(Translate(gpa, out.size()));
  std::memcpy(out.data(), source.data(), out.size());
  return base::Ok();
}

base::Result<void> GuestMemory::Write(Gpa gpa, std::span<const std::byte> in) {
  auto target = TRY(Translate(gpa, in.size()));
  std::memcpy(target.data(), in.data(), in.size());
  return base::Ok();
}

base::Result<void> GuestMemory::Fill(Gpa gpa, uint64_t length, std::byte value) {
  auto target = TRY(Translate(gpa, length));
  std::fill(target.begin(), target.end(), value);
  return base::Ok();
}

}  // namespace mem
