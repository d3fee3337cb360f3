// Manifest: the text that lists what goes into an initramfs.
//
// One entry per line, fields separated by blanks; '#' starts a comment:
//   dir   PATH MODE
//   file  PATH SOURCE MODE
//   slink PATH TARGET MODE
//   nod   PATH MODE c|b MAJOR MINOR
// MODE is octal. ${NAME} in any field is replaced by a --define value;
// an undefined name is an error, never an empty string.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cpio_writer.h"

namespace initramfs {

struct ManifestEntry {
  CpioEntry::Kind kind = CpioEntry::Kind::kFile;
  std::string path;    // absolute, as written ("/init")
  std::string source;  // host file for `file`, link target for `slink`
  uint32_t permissions = 0;
  uint32_t major = 0;
  uint32_t minor = 0;
  int line = 0;
};

using Defines = std::map<std::string, std::string, std::less<>>;

base::Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text,
                                                       const Defines& defines);

}  // namespace initramfs
