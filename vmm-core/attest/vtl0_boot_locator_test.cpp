#include "attest/vtl0_boot_locator.h"

#include <doctest/doctest.h>

#include <vector>

#include "base/le_bytes.h"

namespace {

std::vector<std::byte> ZeroPage(uint32_t syssize) {
  std::vector<std::byte> page(4096);
  (void)base::StoreLe<uint32_t>(page, 0x202, 0x53726448);
  (void)base::StoreLe<uint32_t>(page, 0x1F4, syssize);
  (void)base::StoreLe<uint32_t>(page, 0x218, 0x7000000);
  (void)base::StoreLe<uint32_t>(page, 0x21C, 0x123456);
  (void)base::StoreLe<uint32_t>(page, 0x0C0, 0x1);  // initrd above 4 GiB
  (void)base::StoreLe<uint32_t>(page, 0x228, 0x31000);
  (void)base::StoreLe<uint32_t>(page, 0x238, 2047);
  return page;
}

TEST_CASE("vtl0 boot locator: kernel from the entry point, initrd and command line from the zero page") {
  auto where = attest::LocateVtl0Boot(ZeroPage(0x80000), 0x3000200);
  REQUIRE(where.ok());
  CHECK(where->kernel_gpa == 0x3000000);
  CHECK(where->kernel_bytes == 0x800000);
  CHECK(where->initrd_gpa == 0x1'07000000);
  CHECK(where->initrd_bytes == 0x123456);
  CHECK(where->cmdline_gpa == 0x31000);
  CHECK(where->cmdline_max_bytes == 2047);
}

TEST_CASE("vtl0 boot locator: a zero page that is not one is refused") {
  CHECK_FALSE(attest::LocateVtl0Boot(std::vector<std::byte>(4096), 0x3000200).ok());  // no HdrS
  CHECK_FALSE(attest::LocateVtl0Boot(ZeroPage(0x80000), 0x100).ok());    // entry below 0x200
  CHECK_FALSE(attest::LocateVtl0Boot(ZeroPage(0), 0x3000200).ok());      // no kernel
  CHECK_FALSE(attest::LocateVtl0Boot(ZeroPage(0xFFFFFFFF), 0x3000200).ok());  // 64 GiB kernel
  CHECK_FALSE(attest::LocateVtl0Boot(ZeroPage(0x80000), ~uint64_t{0}).ok());  // wraps
  auto page = ZeroPage(0x80000);
  CHECK_FALSE(attest::LocateVtl0Boot(std::span(page).first(100), 0x3000200).ok());
  (void)base::StoreLe<uint32_t>(page, 0x21C, 0);
  auto where = attest::LocateVtl0Boot(page, 0x3000200);
  REQUIRE(where.ok());
  CHECK(where->initrd_bytes == 0);
  CHECK(where->initrd_gpa == 0);
}

}  // namespace
