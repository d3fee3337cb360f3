// GuestDma (devices/guest_dma.h) under --isolation vbs: the loader's
// devices reach a page only once VTL2 shared it (vsm/host_visibility.h).
// The attacker here is a guest request naming private memory.
#include "devices/guest_dma.h"

#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "vsm/host_visibility.h"

TEST_CASE("GuestDma: on an isolated partition private pages are out of every device's reach") {
  std::vector<std::byte> ram(16 * 4096);
  auto memory = mem::GuestMemory::Create(mem::Gpa{0x100000}, ram);
  REQUIRE(memory.ok());
  loader::vsm::HostVisibility visibility(0x100000, ram.size());
  loader::devices::GuestDma dma(*memory, [&](uint64_t gpa, uint64_t bytes, bool device_writes) {
    return visibility.Allows(gpa, bytes, device_writes);
  });
  std::array<std::byte, 64> buffer{};
  // Queue entries (copies) and payload (the window) alike are refused.
  CHECK_FALSE(dma.Read(mem::Gpa{0x102000}, buffer).ok());
  CHECK_FALSE(dma.Write(mem::Gpa{0x102000}, buffer).ok());
  auto window = dma.Window();
  CHECK_FALSE(window(block::Segment{mem::Gpa{0x102000}, 4096}, true).ok());
  // Shared read-only: the device may read it (a write to disk), not write it.
  const std::array<uint64_t, 1> page{0x102};
  REQUIRE(visibility.Modify(page, loader::vsm::HostVisibility::kReadable) == hv::Status::kSuccess);
  CHECK(dma.Read(mem::Gpa{0x102000}, buffer).ok());
  CHECK_FALSE(dma.Write(mem::Gpa{0x102000}, buffer).ok());
  CHECK(window(block::Segment{mem::Gpa{0x102000}, 4096}, false).ok());
  CHECK_FALSE(window(block::Segment{mem::Gpa{0x102000}, 4097}, false).ok());  // next page private
  // Read-write: both; without a predicate (not isolated) all RAM is reachable.
  REQUIRE(visibility.Modify(page, loader::vsm::HostVisibility::kReadWrite) == hv::Status::kSuccess);
  CHECK(dma.Write(mem::Gpa{0x102000}, buffer).ok());
  loader::devices::GuestDma open(*memory, nullptr);
  CHECK(open.Write(mem::Gpa{0x105000}, buffer).ok());
}
