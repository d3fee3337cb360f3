#include "cpio_writer.h"

#include <doctest/doctest.h>

#include <string>

#include "manifest.h"

namespace {

std::string AsText(const std::vector<std::byte>& bytes, size_t offset, size_t length) {
  return std::string(reinterpret_cast<const char*>(bytes.data()) + offset, length);
}

}  // namespace

TEST_CASE("newc header encodes every field as 8 hex digits, name and data 4-aligned") {
  initramfs::CpioWriter writer;
  initramfs::CpioEntry file;
  file.path = "init";
  file.permissions = 0755;
  file.mtime = 0x5f5e100;
  file.data = {std::byte{'h'}, std::byte{'i'}};
  REQUIRE(writer.Add(file).ok());
  const auto archive = std::move(writer).Finish();

  // ino=1 mode=0100755 uid gid nlink=1 mtime filesize=2 dev 0 0 rdev 0 0
  // namesize=5 check=0
  CHECK(AsText(archive, 0, 110) ==
        "070701" "00000001" "000081ED" "00000000" "00000000" "00000001" "05F5E100"
        "00000002" "00000000" "00000000" "00000000" "00000000" "00000005" "00000000");
  CHECK(AsText(archive, 110, 5) == std::string("init\0", 5));
  // 110 + 5 = 115 → data at 116; 2 bytes → next header at 120.
  CHECK(AsText(archive, 116, 2) == "hi");
  CHECK(AsText(archive, 120, 6) == "070701");
  CHECK(AsText(archive, 120 + 110, 10) == "TRAILER!!!");
  CHECK(archive.size() % 512 == 0);
}

TEST_CASE("cpio writer refuses what the format or the kernel cannot take") {
  initramfs::CpioWriter writer;
  initramfs::CpioEntry entry;
  entry.path = "/absolute";
  CHECK_FALSE(writer.Add(entry).ok());
  entry.path = "dev/console";
  entry.kind = initramfs::CpioEntry::Kind::kCharDevice;
  entry.data = {std::byte{1}};
  CHECK_FALSE(writer.Add(entry).ok());
  entry.data.clear();
  entry.permissions = 010000;
  CHECK_FALSE(writer.Add(entry).ok());
  entry.kind = initramfs::CpioEntry::Kind::kSymlink;
  entry.permissions = 0777;
  CHECK_FALSE(writer.Add(entry).ok());  // symlink without target
}

TEST_CASE("manifest parses entries, expands names and rejects bad lines with the line number") {
  initramfs::Defines defines{{"hcl", "/build/hcl"}};
  auto parsed = initramfs::ParseManifest(
      "# comment\n"
      "dir /dev 0755\n"
      "nod /dev/console 0600 c 5 1   # trailing comment\n"
      "file /init ${hcl} 0755\n",
      defines);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 3);
  CHECK((*parsed)[1].kind == initramfs::CpioEntry::Kind::kCharDevice);
  CHECK((*parsed)[1].major == 5);
  CHECK((*parsed)[2].source == "/build/hcl");
  CHECK((*parsed)[2].permissions == 0755);

  auto error_of = [&](std::string_view text) {
    auto result = initramfs::ParseManifest(text, defines);
    REQUIRE_FALSE(result.ok());
    return result.error().message();
  };
  CHECK(error_of("dir /a 0755\nfile /a/b ${nope} 0644\n") == "line 2: undefined name ${nope}");
  CHECK(error_of("file /x/y /src 0644\n") ==
        "line 1: parent directory '/x' is not listed as a dir");
  CHECK(error_of("dir /a 0755\ndir /a 0700\n") == "line 2: '/a' listed twice");
  CHECK(error_of("dir /../etc 0755\n") ==
        "line 1: path '/../etc' is not a canonical absolute path");
  CHECK(error_of("dir /a 0955\n") == "line 1: bad mode '0955'");
  CHECK(error_of("nod /c 0600 x 1 1\n") == "line 1: device type must be c or b, not 'x'");
  CHECK(error_of("pipe /p 0600\n") == "line 1: unknown entry type 'pipe'");
  CHECK(error_of("dir /a\n") == "line 1: 'dir' takes 2 fields, found 1");
  // Found by fuzzing: a NUL inside a path reached the cpio writer.
  CHECK(error_of(std::string_view("dir /a\x01\0 0755\n", 14)) ==
        "line 1: field 2 contains a control character");
}
