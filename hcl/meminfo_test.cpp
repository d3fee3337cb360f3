#include "meminfo.h"

#include <doctest/doctest.h>

TEST_CASE("meminfo gives total, available and used memory in KiB") {
  auto figures = hcl::ParseMeminfo(
      "MemTotal:          26652 kB\nMemFree:           20000 kB\nMemAvailable:      19876 kB\n"
      "Buffers:               0 kB\n");
  REQUIRE(figures.has_value());
  CHECK(figures->total_kib == 26652);
  CHECK(figures->available_kib == 19876);
  CHECK(figures->used_kib() == 6776);
}

TEST_CASE("malformed meminfo gives nothing rather than a wrong figure") {
  CHECK_FALSE(hcl::ParseMeminfo("").has_value());
  CHECK_FALSE(hcl::ParseMeminfo("MemTotal: 10 kB\n").has_value());
  CHECK_FALSE(hcl::ParseMeminfo("MemTotal: 10 kB\nMemAvailable: 20 kB\n").has_value());
  CHECK_FALSE(hcl::ParseMeminfo("MemTotal: 10 MB\nMemAvailable: 2 kB\n").has_value());
  CHECK_FALSE(hcl::ParseMeminfo("MemTotal: x kB\nMemAvailable: 2 kB\n").has_value());
  CHECK_FALSE(hcl::ParseMeminfo("MemTotalX: 10 kB\nMemAvailable: 2 kB\n").has_value());
}
