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
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "base/result.h"
#include "file.h"

namespace igvm {

// Caps on what a header can make a consumer do, beyond the file's own size.
inline constexpr uint64_t kMaxParameterAreaBytes = uint64_t{64} << 20;
inline constexpr uint64_t kMaxUnbackedPages = uint64_t{1} << 16;  // inserts + error ranges: 256 MiB
inline constexpr uint32_t kMaxVbsRegisters = 512;

base::Result<IgvmFile> ReadIgvm(std::span<const std::byte> bytes);

// Reads a whole file (at most 4 GiB, the format's limit) into memory.
base::Result<std::vector<std::byte>> ReadFileBytes(const std::string& path);

}  // namespace igvm
