// Launch measurements of an IGVM image, one per isolation platform
// (spec digest §3-5):
//   - SEV-SNP launch digest: the SNP_LAUNCH_UPDATE PAGE_INFO chain (SHA-384);
//   - TDX MRTD: one running SHA-384 over TDH.MEM.PAGE.ADD / TDH.MR.EXTEND;
//   - Hyper-V VBS boot digest: a SHA-256 chain over page and register records.
// Directives are measured in file order, as a loader must import them.
#pragma once

#include <vector>

#include "base/result.h"
#include "digest.h"
#include "file.h"

namespace igvm {

// Where SNP VMSA pages enter the launch digest. Hyper-V (and the igvm
// crate) measure a VMSA where its VP_CONTEXT directive appears; KVM
// measures VMSAs at SNP_LAUNCH_FINISH, after every page (spec §3.4).
enum class VmsaOrder { kDirectiveOrder, kAfterAllPages };

struct SnpMeasurement {
  Sha384Digest launch_digest{};
  uint64_t pages_measured = 0;    // NORMAL and VMSA updates
  uint64_t pages_unmeasured = 0;  // ZERO/UNMEASURED/SECRETS/CPUID updates
};

base::Result<SnpMeasurement> MeasureSnp(const IgvmFile& file,
                                        VmsaOrder order = VmsaOrder::kDirectiveOrder);
base::Result<Sha384Digest> MeasureTdx(const IgvmFile& file);
base::Result<Sha256Digest> MeasureVbs(const IgvmFile& file);

// SNP guest policy from the file's GUEST_POLICY for the SNP platform.
base::Result<uint64_t> SnpPolicy(const IgvmFile& file);

}  // namespace igvm
