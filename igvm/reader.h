// ReadIgvm: the strict IGVM reader.
//
// Accepts only files that follow the format exactly (spec digest §1-2):
// lengths, offsets, alignment, checksum, section order, masks, platform
// uniqueness, parameter-area lifecycle, and no two directives of one
// platform placing data on the same page. Any violation is one error whose
// message starts with the file offset of the offending header.
//
// Input is untrusted: no read outside the buffer, no allocation or loop
// larger than what the file itself pays for (plus the fixed caps below).
// Concretely (finding 6 of the 2026-12 security review): the file's bytes
// are held once, in one shared buffer, and every header's data is a view
// into it (file.h, SharedBytes), so headers that point at the same bytes
// (aliasing PARAMETER_AREAs, deduplicated pages) cost no copy; beyond that
// buffer the model and the reader's bookkeeping take a small constant
// multiple of the variable-header bytes (a Directive is 64 bytes; page
// claims are one map node per platform and range, consecutive pages merged).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "file.h"

namespace igvm {

// Caps on what a header can make a consumer do, beyond the file's own size.
inline constexpr uint64_t kMaxParameterAreaBytes = uint64_t{64} << 20;
inline constexpr uint64_t kMaxUnbackedPages = uint64_t{1} << 16;  // inserts + error ranges: 256 MiB
inline constexpr uint32_t kMaxVbsRegisters = 512;

inline constexpr size_t kMaxWarnings = 32;  // then one "and more" line

// Copies `bytes` once into a buffer the returned model shares.
base::Result<IgvmFile> ReadIgvm(std::span<const std::byte> bytes);
// Shares `bytes` (no copy): the model keeps the buffer alive.
base::Result<IgvmFile> ReadIgvm(std::shared_ptr<const std::vector<std::byte>> bytes);
// Reads the file at `path` into one buffer and parses it in place.
base::Result<IgvmFile> ReadIgvmFile(const std::string& path);

// Reads a whole file (at most 4 GiB, the format's limit) into memory.
base::Result<std::vector<std::byte>> ReadFileBytes(const std::string& path);

}  // namespace igvm
