#include "paravisor/isolation.h"

#include <cpuid.h>

#include <algorithm>

#include "base/page.h"
#include "hv/hypercall_abi.h"

namespace hcl {
namespace {

constexpr uint32_t kLeafVendor = 0x40000000;
constexpr uint32_t kLeafFeatures = 0x40000003;
constexpr uint32_t kLeafIsolation = 0x4000000C;
constexpr uint32_t kPrivilegeIsolation = 1u << 22;  // B.22

}  // namespace

const char* Describe(Isolation isolation) {
  switch (isolation) {
    case Isolation::kNone: return "none";
    case Isolation::kVbs: return "vbs";
    case Isolation::kSnp: return "snp";
    case Isolation::kTdx: return "tdx";
    case Isolation::kUnknown: return "unknown";
  }
  return "?";
}

Isolation DecodeIsolation(uint32_t max_hv_leaf, uint32_t privileges_b, uint32_t isolation_ebx) {
  if ((privileges_b & kPrivilegeIsolation) == 0) return Isolation::kNone;
  if (max_hv_leaf < kLeafIsolation) return Isolation::kUnknown;
  switch (isolation_ebx & 0xF) {
    case 1: return Isolation::kVbs;
    case 2: return Isolation::kSnp;
    case 3: return Isolation::kTdx;
    default: return Isolation::kUnknown;
  }
}

Isolation DetectIsolation() {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(1, eax, ebx, ecx, edx);
  if ((ecx & (1u << 31)) == 0) return Isolation::kNone;  // no hypervisor
  __cpuid(kLeafVendor, eax, ebx, ecx, edx);
  const uint32_t max_leaf = eax;
  if (max_leaf < kLeafFeatures) return Isolation::kNone;
  __cpuid(kLeafFeatures, eax, ebx, ecx, edx);
  const uint32_t privileges_b = ebx;
  uint32_t isolation_ebx = 0;
  if (max_leaf >= kLeafIsolation) {
    __cpuid(kLeafIsolation, eax, ebx, ecx, edx);
    isolation_ebx = ebx;
  }
  return DecodeIsolation(max_leaf, privileges_b, isolation_ebx);
}

base::Result<void> ShareWithHost(const HypercallFn& hypercall, std::span<const GpaRange> ranges) {
  using Header = ::hv::ModifySparseGpaPageHostVisibilityHeader;
  Header header;
  header.host_visibility = ::hv::host_visibility::kReadWrite;
  for (const GpaRange& range : ranges) {
    const uint64_t end_gpn = (range.start + range.bytes) / base::kPageSize;
    for (uint64_t gpn = range.start / base::kPageSize; gpn < end_gpn;) {
      const uint64_t count = std::min<uint64_t>(kGpnsPerCall<Header>, end_gpn - gpn);
      TRY(CallWithGpns(hypercall, ::hv::CallCode::kModifySparseGpaPageHostVisibility,
                       "HvCallModifySparseGpaPageHostVisibility", header, gpn, count));
      gpn += count;
    }
  }
  return base::Ok();
}

}  // namespace hcl
