// CpioWriter: writes a cpio archive in the "newc" format the Linux kernel
// unpacks as its initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst).
//
// Reproducible by construction: the caller supplies every field that could
// vary (mode, ownership, mtime); inode numbers are assigned in write order.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace initramfs {

struct CpioEntry {
  enum class Kind { kDirectory, kFile, kSymlink, kCharDevice, kBlockDevice };
  Kind kind = Kind::kFile;
  std::string path;           // without a leading '/', as the kernel expects
  uint32_t permissions = 0;   // the low 12 bits of st_mode
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mtime = 0;
  uint32_t rdev_major = 0;    // devices only
  uint32_t rdev_minor = 0;
  std::vector<std::byte> data;  // file contents, or the symlink target
};

class CpioWriter {
 public:
  // Appends one entry. Refuses fields the format cannot hold.
  base::Result<void> Add(const CpioEntry& entry);
  // Appends the TRAILER!!! entry and returns the archive.
  std::vector<std::byte> Finish() &&;

 private:
  void AppendHeader(const CpioEntry& entry, uint32_t mode, uint32_t inode, uint32_t nlink);
  void PadTo4();

  std::vector<std::byte> out_;
  uint32_t next_inode_ = 1;
};

}  // namespace initramfs
