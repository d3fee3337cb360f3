#include "devices/guest_state_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::string TempPath(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("hcl-gs-test-") + std::to_string(::getpid()) + "-" + name))
      .string();
}

TEST_CASE("guest state file: made when missing, kept when present, refused when truncated") {
  const std::string path = TempPath("state");
  std::filesystem::remove(path);
  auto made = loader::devices::PrepareGuestStateFile(path);
  REQUIRE(made.ok());
  CHECK(*made);
  CHECK(std::filesystem::file_size(path) == loader::devices::kGuestStateBytes);
  auto again = loader::devices::PrepareGuestStateFile(path);
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  std::filesystem::resize_file(path, 4096);
  auto truncated = loader::devices::PrepareGuestStateFile(path);
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.error().message().find("truncated") != std::string::npos);
  CHECK(std::filesystem::file_size(path) == 4096);  // never "repaired"
  std::filesystem::remove(path);
}

TEST_CASE("platform secret: made once (0600), then read back; other sizes refused") {
  const std::string dir = TempPath("dir");
  const std::string path = dir + "/secret";
  std::filesystem::remove_all(dir);
  CHECK_FALSE(loader::devices::LoadPlatformSecret(path, false).ok());
  auto made = loader::devices::LoadPlatformSecret(path, true);
  REQUIRE(made.ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto read = loader::devices::LoadPlatformSecret(path, true);
  REQUIRE(read.ok());
  CHECK(*read == *made);
  std::ofstream(path, std::ios::app) << "x";
  CHECK_FALSE(loader::devices::LoadPlatformSecret(path, false).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
