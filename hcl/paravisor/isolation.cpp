#include "paravisor/isolation.h"

#include <cpuid.h>

#include <algorithm>
#include <array>

#include "base/page.h"
#include "hv/hypercall_abi.h"

namespace hcl {
namespace {

constexpr uint32_t kLeafVendor = 0x40000000;
constexpr uint32_t kLeafFeatures = 0x40000003;
constexpr uint32_t kLeafIsolation = 0x4000000C;
constexpr uint32_t kPrivilegeIsolation = 1u << 22;  // B.22
// HV_MAP_GPA_READABLE | HV_MAP_GPA_WRITABLE.
constexpr uint32_t kHostReadWrite = 3;

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
  constexpr uint64_t kBatch = (base::kPageSize - sizeof(Header)) / sizeof(uint64_t);
  for (const GpaRange& range : ranges) {
    const uint64_t end_gpn = (range.start + range.bytes) / base::kPageSize;
    for (uint64_t gpn = range.start / base::kPageSize; gpn < end_gpn;) {
      const uint64_t count = std::min<uint64_t>(kBatch, end_gpn - gpn);
      struct {
        Header header;
        std::array<uint64_t, kBatch> gpns;
      } input{};
      static_assert(sizeof input == base::kPageSize);
      input.header.host_visibility = kHostReadWrite;
      for (uint64_t i = 0; i < count; ++i) input.gpns[i] = gpn + i;
      const uint64_t control =
          static_cast<uint64_t>(::hv::CallCode::kModifySparseGpaPageHostVisibility) | count << 32;
      const ::hv::Status status = TRY(
          hypercall(control, std::as_bytes(std::span(&input, 1)).first(sizeof(Header) + 8 * count)));
      if (status != ::hv::Status::kSuccess)
        return base::Error::Format("HvCallModifySparseGpaPageHostVisibility at GPN %#llx: status %#x",
                                   static_cast<unsigned long long>(gpn),
                                   static_cast<unsigned>(status));
      gpn += count;
    }
  }
  return base::Ok();
}

}  // namespace hcl
