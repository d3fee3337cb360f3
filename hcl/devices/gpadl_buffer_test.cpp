// GpadlBuffer: netvsc's buffers by offset across pages and ranges, never
// past the GPADL or into pages VTL0 may not touch.
#include "devices/gpadl_buffer.h"

#include <doctest/doctest.h>

#include <vector>

TEST_CASE("GpadlBuffer: offsets map across scattered pages and ranges; bounds and protections hold") {
  std::vector<std::byte> ram(0x10000);
  hcl::Vtl0Memory memory;
  memory.Add(mem::GuestMemory::Create(mem::Gpa{0}, ram).value());
  // Range 1: 5000 bytes from 0x100 into page 7, then page 3. Range 2: 100
  // bytes of page 9.
  vmbus::Gpadl gpadl;
  gpadl.ranges.push_back({5000, 0x100, {7, 3}});
  gpadl.ranges.push_back({100, 0, {9}});
  hcl::GpadlBuffer buffer(memory, gpadl);
  CHECK(buffer.size() == 5100);

  std::vector<std::byte> pattern(5100);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>(i * 7);
  REQUIRE(buffer.Write(0, pattern).ok());
  // Where the bytes went: page 7 from 0x100 (3840 bytes), page 3 (1160), page 9.
  CHECK(ram[7 * 4096 + 0x100] == pattern[0]);
  CHECK(ram[7 * 4096 + 4095] == pattern[3839]);
  CHECK(ram[3 * 4096] == pattern[3840]);
  CHECK(ram[3 * 4096 + 1159] == pattern[4999]);
  CHECK(ram[9 * 4096] == pattern[5000]);
  std::vector<std::byte> back(200);
  REQUIRE(buffer.Read(3800, back).ok());
  CHECK(std::equal(back.begin(), back.end(), pattern.begin() + 3800));
  REQUIRE(buffer.Read(4950, std::span(back).first(150)).ok());
  CHECK(std::equal(back.begin(), back.begin() + 150, pattern.begin() + 4950));

  // Past the end, or an offset that would wrap.
  CHECK(!buffer.Read(5000, back).ok());
  CHECK(!buffer.Write(~uint64_t{0} - 10, std::span(back).first(20)).ok());
  // A page VTL0 may no longer write.
  REQUIRE(memory.ChangeProtection(3, 1, hcl::Vtl0Memory::kRead, [] { return base::Ok(); }).ok());
  CHECK(!buffer.Write(3840, std::span(back).first(4)).ok());
  CHECK(buffer.Read(3840, std::span(back).first(4)).ok());
  // A PFN outside VTL0's RAM.
  vmbus::Gpadl outside;
  outside.ranges.push_back({4096, 0, {0x100000}});
  hcl::GpadlBuffer far(memory, outside);
  CHECK(!far.Read(0, std::span(back).first(4)).ok());
}
