// WriteIgvm: serializes an IgvmFile.
//
// Layout: fixed header, variable headers in model order (platforms,
// initialization, directives), then the file data. Identical page data is
// stored once, and an all-zero page is written as file_offset 0, which every
// measurement treats exactly like explicit zeros (spec digest §3.2, §4, §5).
// The output is deterministic: the same model gives the same bytes.
#pragma once

#include <cstddef>
#include <vector>

#include "base/result.h"
#include "file.h"

namespace igvm {

base::Result<std::vector<std::byte>> WriteIgvm(const IgvmFile& file);

}  // namespace igvm
