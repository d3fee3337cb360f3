#include "base/rate_limited_log.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

namespace {

std::string Contents(std::FILE* file) {
  std::rewind(file);
  std::string text;
  for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) text += static_cast<char>(c);
  return text;
}

}  // namespace

TEST_CASE("RateLimitedLog: max_lines lines, one notice, then nothing") {
  base::RateLimitedLog log(3);
  CHECK(log.Next() == base::RateLimitedLog::Verdict::kLine);
  CHECK(log.Next() == base::RateLimitedLog::Verdict::kLine);
  CHECK(log.Next() == base::RateLimitedLog::Verdict::kLine);
  CHECK(log.Next() == base::RateLimitedLog::Verdict::kNotice);
  for (int i = 0; i < 1000; ++i) REQUIRE(log.Next() == base::RateLimitedLog::Verdict::kQuiet);

  base::RateLimitedLog none(0);
  CHECK(none.Next() == base::RateLimitedLog::Verdict::kNotice);
  CHECK(none.Next() == base::RateLimitedLog::Verdict::kQuiet);
}

TEST_CASE("RateLimitedLog: Print formats each line after its prefix") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  base::RateLimitedLog log(2, file);
  log.Print("hcl: vp1: ", "VTL0 at %#x: %s", 0x1000u, "#GP");
  log.Print("vp1 vtl0: ", "port 0x%x", 0x80u);
  log.Print("hcl: vp1: ", "not printed %d", 3);
  log.Print("hcl: vp1: ", "not printed %d", 4);
  CHECK(Contents(file) ==
        "hcl: vp1: VTL0 at 0x1000: #GP\n"
        "vp1 vtl0: port 0x80\n"
        "hcl: vp1: further guest events not logged\n");
  std::fclose(file);
}
