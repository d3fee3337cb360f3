// Rep hypercalls whose input is a fixed header, then one u64 GPN per rep
// (HvCallModifyVtlProtectionMask, HvCallModifySparseGpaPageHostVisibility;
// hv/hypercall_abi.h): one call carries at most a page of input (TLFS
// "Hypercall Inputs"), so callers go through their GPNs in batches of
// kGpnsPerCall<Header>.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "base/page.h"
#include "base/result.h"
#include "hv/hvdef.h"

namespace hcl {

// A hypercall without output (MshvVtl::Hypercall, HvcallFile::Call):
// control, input -> status.
using HypercallFn =
    std::function<base::Result<::hv::Status>(uint64_t control, std::span<const std::byte> input)>;

template <typename Header>
inline constexpr uint64_t kGpnsPerCall = (base::kPageSize - sizeof(Header)) / sizeof(uint64_t);

// One call of `code` (`name` for the error) for GPNs [first, first + count),
// count at most kGpnsPerCall<Header>. Fails on a status other than success.
template <typename Header>
base::Result<void> CallWithGpns(const HypercallFn& hypercall, ::hv::CallCode code,
                                const char* name, const Header& header, uint64_t first,
                                uint64_t count) {
  struct {
    Header header;
    std::array<uint64_t, kGpnsPerCall<Header>> gpns;
  } input{};
  static_assert(sizeof input == base::kPageSize);
  if (count == 0 || count > kGpnsPerCall<Header>)
    return base::Error::Format("%s: %llu GPNs in one call", name,
                               static_cast<unsigned long long>(count));
  input.header = header;
  for (uint64_t i = 0; i < count; ++i) input.gpns[i] = first + i;
  const uint64_t control = static_cast<uint64_t>(code) | count << 32;
  const ::hv::Status status = TRY(hypercall(
      control, std::as_bytes(std::span(&input, 1)).first(sizeof(Header) + 8 * count)));
  if (status != ::hv::Status::kSuccess)
    return base::Error::Format("%s at GPN %#llx: status %#x", name,
                               static_cast<unsigned long long>(first),
                               static_cast<unsigned>(status));
  return base::Ok();
}

}  // namespace hcl
