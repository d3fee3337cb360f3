// Measured boot of VTL0 (issue 12 §3), run by hcl on VP 0 before VTL0's
// first instruction: the kernel, initrd and command line are found from
// VTL0's zero page and entry point (attest/vtl0_boot_locator.h) and read
// from VTL0's memory through the gate, measured into every PCR bank the
// vTPM has allocated (attest/measured_boot.h: the same events hcl-attest
// pcrs predicts), and the TCG crypto-agile event log is written to the
// area the TPM2 table's LASA names (tpm/platform.h), zero-filled to its
// end, where Linux finds it (tpm-attestation.md §2.3, §3.2).
//
// If anything fails, PCRs 0-9 are capped instead (extended with the
// digest of an EV_SEPARATOR error value, 01 00 00 00, TCG PC Client PFP
// §10.4.4): VTL0 still boots, but cannot extend its way to the PCR values
// of a boot that was measured.
#pragma once

#include <cstdint>
#include <string>

#include "attest/measured_boot.h"
#include "base/result.h"
#include "paravisor/vtl0_memory.h"
#include "vtpm/vtpm.h"

namespace hcl::vtpm {

struct MeasuredBoot {
  uint64_t kernel_bytes = 0;
  uint64_t initrd_bytes = 0;
  std::string cmdline;
  std::vector<attest::HashAlg> banks;
  size_t event_log_bytes = 0;
};

base::Result<MeasuredBoot> MeasureVtl0Boot(Vtpm& tpm, Vtl0Memory& memory, uint64_t zero_page_gpa,
                                           uint64_t entry_rip, const attest::HashFn& hash);

// The fallback: PCRs 0-9 of every bank capped.
base::Result<void> CapBootPcrs(Vtpm& tpm, const attest::HashFn& hash);

}  // namespace hcl::vtpm
