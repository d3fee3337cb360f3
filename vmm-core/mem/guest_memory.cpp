#include "mem/guest_memory.h"

#include <algorithm>
#include <atomic>
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

base::Result<uint32_t*> GuestMemory::Word32(Gpa gpa) const {
  if ((ToU64(gpa) & 3) != 0)
    return base::Error::Format("guest word %#" PRIx64 " is not 4-byte aligned", ToU64(gpa));
  auto bytes = TRY(Translate(gpa, sizeof(uint32_t)));
  // The mapping is page-aligned, so an aligned guest address is an aligned
  // host address: atomic_ref's alignment requirement holds.
  return reinterpret_cast<uint32_t*>(bytes.data());
}

base::Result<uint32_t> GuestMemory::AtomicOr32(Gpa gpa, uint32_t bits) {
  uint32_t* word = TRY(Word32(gpa));
  return std::atomic_ref<uint32_t>(*word).fetch_or(bits, std::memory_order_acq_rel);
}

base::Result<uint32_t> GuestMemory::LoadAcquire32(Gpa gpa) const {
  uint32_t* word = TRY(Word32(gpa));
  return std::atomic_ref<uint32_t>(*word).load(std::memory_order_acquire);
}

base::Result<void> GuestMemory::StoreRelease32(Gpa gpa, uint32_t value) {
  uint32_t* word = TRY(Word32(gpa));
  std::atomic_ref<uint32_t>(*word).store(value, std::memory_order_release);
  return base::Ok();
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
