#include "vfio/pci_sysfs.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using hcl::vfio::IsPciAddress;
using hcl::vfio::ParseSysfsHex;

TEST_CASE("hcl vfio ParseSysfsHex: the kernel's 0x-prefixed values, nothing looser") {
  CHECK(ParseSysfsHex("0x1b36\n", 0xFFFF).value_or(0) == 0x1b36);
  CHECK(ParseSysfsHex("0x010802\n", 0xFFFFFF).value_or(0) == 0x010802);
  CHECK(ParseSysfsHex("0xFFFF", 0xFFFF).value_or(0) == 0xFFFF);
  CHECK_FALSE(ParseSysfsHex("0x10000\n", 0xFFFF).ok());  // above the field's width
  CHECK_FALSE(ParseSysfsHex("1b36\n", 0xFFFF).ok());
  CHECK_FALSE(ParseSysfsHex("0x\n", 0xFFFF).ok());
  CHECK_FALSE(ParseSysfsHex("0x1b36 \n", 0xFFFF).ok());
  CHECK_FALSE(ParseSysfsHex("0x123456789\n", 0xFFFFFFFF).ok());
  CHECK_FALSE(ParseSysfsHex("", 0xFFFF).ok());
}

TEST_CASE("hcl vfio IsPciAddress: DDDD:BB:DD.F with device < 32 and function < 8") {
  CHECK(IsPciAddress("0000:00:01.0"));
  CHECK(IsPciAddress("0001:ff:1f.7"));
  CHECK_FALSE(IsPciAddress("0000:00:20.0"));  // device 32
  CHECK_FALSE(IsPciAddress("0000:00:01.8"));  // function 8
  CHECK_FALSE(IsPciAddress("0000:00:1F.0"));  // sysfs names are lower case
  CHECK_FALSE(IsPciAddress("0000:00:01"));
  CHECK_FALSE(IsPciAddress("0000:00:01.0/"));
  CHECK_FALSE(IsPciAddress("../00:01.0"));
  CHECK_FALSE(IsPciAddress("pci0000:00"));
}

TEST_CASE("hcl vfio ListPciFunctions: reads a sysfs-shaped tree, sorted, skipping what does not parse") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "hcl-vfio-sysfs-test";
  fs::remove_all(root);
  auto function = [&](const std::string& name, const char* vendor, const char* device,
                      const char* class_code) {
    fs::create_directories(root / name);
    std::ofstream(root / name / "vendor") << vendor;
    std::ofstream(root / name / "device") << device;
    std::ofstream(root / name / "class") << class_code;
  };
  function("0000:00:01.0", "0x1b36\n", "0x0010\n", "0x010802\n");
  function("0000:00:00.0", "0x8086\n", "0x1237\n", "0x060000\n");
  function("0000:00:02.0", "0x1b36\n", "garbage\n", "0x010802\n");
  fs::create_directories(root / "not-a-device");

  std::vector<std::string> skipped;
  auto functions = hcl::vfio::ListPciFunctions(root.string(), skipped);
  REQUIRE(functions.ok());
  REQUIRE(functions->size() == 2);
  CHECK(hcl::vfio::Describe((*functions)[0]) == "0000:00:00.0 8086:1237 class 060000");
  CHECK(hcl::vfio::Describe((*functions)[1]) == "0000:00:01.0 1b36:0010 class 010802");
  CHECK((*functions)[1].class_code == hcl::vfio::kNvmeClassCode);
  CHECK(skipped.size() == 2);
  fs::remove_all(root);

  CHECK_FALSE(hcl::vfio::ListPciFunctions(root.string(), skipped).ok());
}

}  // namespace
