#include "base/result.h"

#include <doctest/doctest.h>

#include <memory>

#include "base/checked.h"

namespace {

base::Result<int> Parse(int raw) {
  if (raw < 0) return base::Error::Format("negative value %d", raw);
  return raw * 2;
}

base::Result<int> ParseTwice(int raw) {
  const int once = TRY(Parse(raw));
  return TRY(Parse(once)) + 1;
}

base::Result<void> Check(bool good) {
  if (!good) return base::Error("not good");
  return base::Ok();
}

base::Result<int> Nested(int raw) { return TRY(Parse(TRY(Parse(raw)))); }

base::Result<int> CheckThenValue(bool good) {
  TRY(Check(good));
  return 5;
}

}  // namespace

TEST_CASE("TRY yields the value or returns the error unchanged") {
  CHECK(ParseTwice(3).value() == 13);
  auto failed = ParseTwice(-4);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message() == "negative value -4");
  CHECK(CheckThenValue(true).value() == 5);
  CHECK(Nested(3).value() == 12);
  CHECK(Nested(-1).error().message() == "negative value -1");
  CHECK(CheckThenValue(false).error().message() == "not good");
}

TEST_CASE("Result holds move-only values and adds context to errors") {
  base::Result<std::unique_ptr<int>> owned = std::make_unique<int>(9);
  REQUIRE(owned.ok());
  std::unique_ptr<int> taken = std::move(owned).value();
  CHECK(*taken == 9);

  base::Error inner("bad magic");
  CHECK(std::move(inner).Context("reading header").message() == "reading header: bad magic");
  CHECK(base::Error::FromErrno("open /x", 2).message() == "open /x: No such file or directory");
}

TEST_CASE("checked arithmetic catches overflow") {
  CHECK_FALSE(base::CheckedAdd<uint64_t>(~uint64_t{0}, 1).has_value());
  CHECK(base::CheckedAdd<uint32_t>(1, 2).value() == 3);
  CHECK_FALSE(base::CheckedMul<uint32_t>(0x10000, 0x10000).has_value());
  CHECK(base::RangeFits<uint64_t>(8, 8, 16));
  CHECK_FALSE(base::RangeFits<uint64_t>(9, 8, 16));
  CHECK_FALSE(base::RangeFits<uint64_t>(~uint64_t{0}, 2, 16));
  CHECK(base::AlignUp<uint64_t>(4097, 4096).value() == 8192);
  CHECK_FALSE(base::AlignUp<uint64_t>(~uint64_t{0}, 4096).has_value());
  CHECK_FALSE(base::AlignUp<uint64_t>(5, 3).has_value());
}
