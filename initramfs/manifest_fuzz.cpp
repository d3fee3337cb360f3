// Fuzz target: the initramfs manifest parser and the cpio writer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/fuzz_target.h"
#include "cpio_writer.h"
#include "manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const initramfs::Defines defines{{"x", "/bin"}, {"y", "0755"}};
  auto entries = initramfs::ParseManifest(text, defines);
  if (!entries.ok()) return 0;
  initramfs::CpioWriter writer;
  for (const auto& entry : *entries) {
    initramfs::CpioEntry cpio;
    cpio.kind = entry.kind;
    cpio.path = entry.path.substr(1);
    cpio.permissions = entry.permissions;
    if (entry.kind == initramfs::CpioEntry::Kind::kSymlink) {
      const auto* target = reinterpret_cast<const std::byte*>(entry.source.data());
      cpio.data.assign(target, target + entry.source.size());
    }
    // Parsed entries are always writable: a failure here is a parser bug.
    if (!writer.Add(cpio).ok()) __builtin_trap();
  }
  auto archive = std::move(writer).Finish();
  if (archive.size() % 512 != 0) __builtin_trap();
  return 0;
}
