// The partition's isolation, as VTL2 learns it, and what hcl does about it.
//
// TLFS "Feature and Interface Discovery": CPUID 0x40000003 EBX bit 22
// (Isolation) says the partition is isolated; then leaf 0x4000000C
// ("Isolation Configuration", present when the maximum leaf reaches it)
// gives the type in EBX[3:0]: 1 VBS (software), 2 SNP, 3 TDX.
// cvm-paravisor.md §3: on an isolated partition guest RAM is private; the
// host's devices reach only pages made host-visible with
// HvCallModifySparseGpaPageHostVisibility (0x00DB), so hcl shares its DMA
// pool and bounces every guest request through it (never VTL0's pages).
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "paravisor/gpn_list_call.h"

namespace hcl {

enum class Isolation { kNone, kVbs, kSnp, kTdx, kUnknown };

const char* Describe(Isolation isolation);

// From the three CPUID words (0x40000000 EAX, 0x40000003 EBX, 0x4000000C
// EBX); sans I/O for tests.
Isolation DecodeIsolation(uint32_t max_hv_leaf, uint32_t privileges_b, uint32_t isolation_ebx);
// This CPU's (the CPUID instruction; kNone without a Hyper-V interface).
Isolation DetectIsolation();

struct GpaRange {
  uint64_t start = 0;  // page aligned
  uint64_t bytes = 0;  // a multiple of 4096
};

// Makes every page of `ranges` host-visible, read-write, a page-sized batch
// of GPNs per hypercall. Fails on the first status other than success.
base::Result<void> ShareWithHost(const HypercallFn& hypercall, std::span<const GpaRange> ranges);

}  // namespace hcl
