// Tests' reader of ../shared/testdata (real evidence read in place, never
// copied into the repository; meson -Dshared_testdata picks the directory
// and passes it as HCL_SHARED_TESTDATA). A missing file fails the test.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace attest::testing {

inline std::vector<std::byte> ReadSharedTestdata(const std::string& relative) {
  const std::string path = std::string(HCL_SHARED_TESTDATA) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  INFO("test data: ", path, " (meson -Dshared_testdata)");
  REQUIRE(in.good());
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  for (size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

}  // namespace attest::testing
