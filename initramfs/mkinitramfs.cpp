// mkinitramfs: builds a reproducible newc initramfs from a manifest.
//
//   mkinitramfs --manifest FILE --output FILE [--define NAME=VALUE]... [--mtime SECONDS]
//   mkinitramfs --help        (every option explained)
//
// Entries are written sorted by path (parents before children) with fixed
// ownership (root) and a fixed mtime, so the same inputs give the same bytes.
// Exit status: 0 written, 1 failed (one line on stderr), 2 bad usage.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

// g++ 12 reports a "potential null pointer dereference" inside std::string
// as CLI11 (header-only) is inlined here: a false positive of
// -Wnull-dereference at -O2 (as in loader/cli_options.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include "base/result.h"
#include "cpio_writer.h"
#include "manifest.h"

namespace {

constexpr uintmax_t kMaxFileBytes = uintmax_t{1} << 30;

struct Options {
  std::string manifest;
  std::string output;
  initramfs::Defines defines;
  uint32_t mtime = 0;
};

base::Result<std::vector<std::byte>> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::Error::FromErrno("cannot open " + path, errno);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<uintmax_t>(size) > kMaxFileBytes)
    return base::Error("cannot size " + path + " (or larger than 1 GiB)");
  in.seekg(0);
  std::vector<std::byte> data(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(data.data()), size);
  if (!in) return base::Error("short read from " + path);
  return data;
}

// Help and one-line usage errors come from CLI11; nullopt: --help was
// printed.
base::Result<std::optional<Options>> ParseArgs(int argc, char** argv) {
  CLI::App app{"mkinitramfs: builds a reproducible newc cpio initramfs from a "
               "manifest: entries sorted by path, owned by root, with one fixed mtime, so the "
               "same inputs give the same bytes. Exit status: 0 written, 1 failed, 2 bad usage.",
               "mkinitramfs"};
  Options options;
  std::vector<std::string> defines;
  std::string mtime;
  app.add_option("--manifest", options.manifest,
                 "the manifest, one entry a line: 'dir PATH MODE', 'file PATH SOURCE MODE', "
                 "'slink PATH TARGET MODE' or 'nod PATH MODE c|b MAJOR MINOR', MODE in octal "
                 "(initramfs/manifest.h)")
      ->required();
  app.add_option("--output", options.output,
                 "the archive to write (through OUTPUT.tmp, renamed when complete)")
      ->required();
  app.add_option("--define", defines,
                 "NAME=VALUE: ${NAME} in the manifest becomes VALUE (repeatable; an undefined "
                 "name is an error)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--mtime", mtime,
                 "every entry's mtime, in seconds since 1970, 32 bits (default 0)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return std::optional<Options>();
  } catch (const CLI::ParseError& error) {
    return base::Error(std::string(error.what()) + " (mkinitramfs --help)");
  }
  for (const std::string& define : defines) {
    const size_t eq = define.find('=');
    if (eq == std::string::npos || eq == 0) return base::Error("--define wants NAME=VALUE");
    options.defines[define.substr(0, eq)] = define.substr(eq + 1);
  }
  if (!mtime.empty()) {
    char* end = nullptr;
    errno = 0;
    const unsigned long seconds = std::strtoul(mtime.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || seconds > 0xffffffffu)
      return base::Error("--mtime wants seconds since 1970 that fit in 32 bits");
    options.mtime = static_cast<uint32_t>(seconds);
  }
  return std::optional<Options>(std::move(options));
}

base::Result<void> Run(const Options& options) {
  const auto manifest_bytes = TRY(ReadFile(options.manifest));
  const std::string_view text(reinterpret_cast<const char*>(manifest_bytes.data()),
                              manifest_bytes.size());
  auto parsed = initramfs::ParseManifest(text, options.defines);
  if (!parsed.ok()) return std::move(parsed).error().Context(options.manifest);
  auto entries = std::move(parsed).value();
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });

  initramfs::CpioWriter writer;
  for (const initramfs::ManifestEntry& entry : entries) {
    initramfs::CpioEntry cpio;
    cpio.kind = entry.kind;
    cpio.path = entry.path.substr(1);
    cpio.permissions = entry.permissions;
    cpio.mtime = options.mtime;
    cpio.rdev_major = entry.major;
    cpio.rdev_minor = entry.minor;
    if (entry.kind == initramfs::CpioEntry::Kind::kFile) {
      cpio.data = TRY(ReadFile(entry.source));
    } else if (entry.kind == initramfs::CpioEntry::Kind::kSymlink) {
      const auto* target = reinterpret_cast<const std::byte*>(entry.source.data());
      cpio.data.assign(target, target + entry.source.size());
    }
    TRY(writer.Add(cpio));
  }
  const std::vector<std::byte> archive = std::move(writer).Finish();

  // Write beside the target and rename, so a failed run leaves no torn file.
  const std::string temporary = options.output + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return base::Error::FromErrno("cannot create " + temporary, errno);
    out.write(reinterpret_cast<const char*>(archive.data()),
              static_cast<std::streamsize>(archive.size()));
    if (!out.flush()) return base::Error("write failed: " + temporary);
  }
  if (std::rename(temporary.c_str(), options.output.c_str()) != 0)
    return base::Error::FromErrno("cannot rename to " + options.output, errno);
  return base::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  auto options = ParseArgs(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "mkinitramfs: %s\n", options.error().message().c_str());
    return 2;
  }
  if (!*options) return 0;  // --help
  if (auto result = Run(**options); !result.ok()) {
    std::fprintf(stderr, "mkinitramfs: %s\n", result.error().message().c_str());
    return 1;
  }
  return 0;
}
