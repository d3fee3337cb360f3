// Builder-made images for tests (igvm, loader): a small VSM + SEV-SNP + TDX
// image the way igvm/openhcl-x64.json.in describes the real one, with the
// platform binding page, and signing as `igvmtool sign` does it.
#pragma once

#include <cstddef>
#include <vector>

#include "base/result.h"
#include "file.h"
#include "signing_key.h"

namespace igvm::testing {

// VTL2 memory of the sample image: 1 MiB at 1 MiB (fits a 4 MiB test RAM).
inline constexpr uint64_t kSampleVtl2Base = 0x100000;
inline constexpr uint64_t kSampleVtl2Size = 0x100000;

// Built from a manifest over pseudo-random component bytes (deterministic).
base::Result<IgvmFile> BuildSampleImage();

// igvmtool sign: refreshes the platform binding, then installs an SNP ID
// block signed by `id_key` (and `author_key`, if given).
base::Result<void> SignImage(IgvmFile& file, const EcdsaP384Key& id_key,
                             const EcdsaP384Key* author_key = nullptr);

// The file offset of the data of the VSM platform's VP_CONTEXT in `bytes`
// (an image as written), found by walking the variable headers.
base::Result<size_t> VsmVpContextOffset(const std::vector<std::byte>& bytes);

}  // namespace igvm::testing
