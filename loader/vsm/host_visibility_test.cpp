// HostVisibility (vsm/host_visibility.h): what an isolated partition's
// devices may reach, page by page.
#include "vsm/host_visibility.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>

using loader::vsm::HostVisibility;

TEST_CASE("HostVisibility: every page starts private; sharing is per page and per direction") {
  HostVisibility visibility(0x10000, 0x10000);  // GPNs 0x10-0x1F
  CHECK_FALSE(visibility.Allows(0x10000, 0x1000, false));
  CHECK(visibility.visible_pages() == 0);
  const std::array<uint64_t, 2> read_write{0x12, 0x13};
  CHECK(visibility.Modify(read_write, HostVisibility::kReadWrite) == hv::Status::kSuccess);
  const std::array<uint64_t, 1> read_only{0x14};
  CHECK(visibility.Modify(read_only, HostVisibility::kReadable) == hv::Status::kSuccess);
  CHECK(visibility.visible_pages() == 3);
  CHECK(visibility.Allows(0x12000, 0x2000, true));
  CHECK(visibility.Allows(0x12000, 0x3000, false));
  CHECK_FALSE(visibility.Allows(0x12000, 0x3000, true));   // 0x14 is read-only
  CHECK_FALSE(visibility.Allows(0x11FFF, 2, false));        // straddles a private page
  CHECK_FALSE(visibility.Allows(0x12000, 0, false));        // empty
  // Back to private.
  CHECK(visibility.Modify(read_write, HostVisibility::kNone) == hv::Status::kSuccess);
  CHECK_FALSE(visibility.Allows(0x12000, 1, false));
  CHECK(visibility.visible_pages() == 1);
}

TEST_CASE("HostVisibility: bad GPNs or visibilities change nothing") {
  HostVisibility visibility(0x10000, 0x10000);
  const std::array<uint64_t, 2> one_outside{0x15, 0x20};  // 0x20: past RAM
  CHECK(visibility.Modify(one_outside, HostVisibility::kReadWrite) == hv::Status::kInvalidParameter);
  CHECK(visibility.visible_pages() == 0);  // all or nothing
  const std::array<uint64_t, 1> below{0xF};
  CHECK(visibility.Modify(below, HostVisibility::kReadWrite) == hv::Status::kInvalidParameter);
  const std::array<uint64_t, 1> inside{0x15};
  CHECK(visibility.Modify(inside, 2) == hv::Status::kInvalidParameter);  // write without read
  CHECK(visibility.Modify(inside, 7) == hv::Status::kInvalidParameter);
  CHECK(visibility.visible_pages() == 0);
  // Ranges outside RAM or wrapping are never allowed.
  CHECK_FALSE(visibility.Allows(0x1F000, 0x2000, false));
  CHECK_FALSE(visibility.Allows(~uint64_t{0} - 0xFFF, 0x2000, false));
  CHECK_FALSE(visibility.Allows(0, 0x1000, false));
}
