#include "cpio_writer.h"

#include <sys/stat.h>

#include <cstdio>

namespace initramfs {
namespace {

// newc header: magic "070701" then 13 fields of 8 ASCII hex digits.
constexpr std::string_view kMagic = "070701";
constexpr uint32_t kMaxPath = 4096;

uint32_t TypeBits(CpioEntry::Kind kind) {
  switch (kind) {
    case CpioEntry::Kind::kDirectory: return S_IFDIR;
    case CpioEntry::Kind::kFile: return S_IFREG;
    case CpioEntry::Kind::kSymlink: return S_IFLNK;
    case CpioEntry::Kind::kCharDevice: return S_IFCHR;
    case CpioEntry::Kind::kBlockDevice: return S_IFBLK;
  }
  return 0;
}

}  // namespace

void CpioWriter::PadTo4() {
  while (out_.size() % 4 != 0) out_.push_back(std::byte{0});
}

void CpioWriter::AppendHeader(const CpioEntry& entry, uint32_t mode, uint32_t inode,
                              uint32_t nlink) {
  const uint32_t fields[13] = {
      inode,
      mode,
      entry.uid,
      entry.gid,
      nlink,
      entry.mtime,
      static_cast<uint32_t>(entry.data.size()),
      0,  // devmajor: the device holding the file; meaningless here
      0,  // devminor
      entry.rdev_major,
      entry.rdev_minor,
      static_cast<uint32_t>(entry.path.size() + 1),  // name size includes the NUL
      0,  // check: only used by the "070702" CRC variant
  };
  for (char c : kMagic) out_.push_back(static_cast<std::byte>(c));
  for (uint32_t field : fields) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08X", field);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::byte>(hex[i]));
  }
  for (char c : entry.path) out_.push_back(static_cast<std::byte>(c));
  out_.push_back(std::byte{0});
  PadTo4();  // the name is padded so the data starts 4-aligned
  out_.insert(out_.end(), entry.data.begin(), entry.data.end());
  PadTo4();
}

base::Result<void> CpioWriter::Add(const CpioEntry& entry) {
  if (entry.path.empty() || entry.path.front() == '/' || entry.path.size() >= kMaxPath)
    return base::Error::Format("cpio: bad path '%s' (relative, 1..%u bytes)",
                               entry.path.c_str(), kMaxPath - 1);
  if (entry.path.find('\0') != std::string::npos)
    return base::Error("cpio: path contains a NUL byte");
  if ((entry.permissions & ~07777u) != 0)
    return base::Error::Format("cpio: %s: permissions %#o exceed 07777", entry.path.c_str(),
                               entry.permissions);
  if (entry.data.size() > 0xffffffffu)
    return base::Error::Format("cpio: %s: newc cannot hold 4 GiB or more", entry.path.c_str());
  const bool carries_data =
      entry.kind == CpioEntry::Kind::kFile || entry.kind == CpioEntry::Kind::kSymlink;
  if (!carries_data && !entry.data.empty())
    return base::Error::Format("cpio: %s: only files and symlinks carry data",
                               entry.path.c_str());
  if (entry.kind == CpioEntry::Kind::kSymlink && entry.data.empty())
    return base::Error::Format("cpio: %s: symlink without a target", entry.path.c_str());

  const uint32_t nlink = entry.kind == CpioEntry::Kind::kDirectory ? 2 : 1;
  AppendHeader(entry, TypeBits(entry.kind) | entry.permissions, next_inode_++, nlink);
  return base::Ok();
}

std::vector<std::byte> CpioWriter::Finish() && {
  CpioEntry trailer;
  trailer.path = "TRAILER!!!";
  AppendHeader(trailer, 0, 0, 1);
  // The kernel reads archives in 512-byte blocks of tradition; pad so that
  // archives can be concatenated safely.
  while (out_.size() % 512 != 0) out_.push_back(std::byte{0});
  return std::move(out_);
}

}  // namespace initramfs
