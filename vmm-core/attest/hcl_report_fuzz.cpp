// Fuzz target: the HCL attestation report as a verifier receives it from
// VTL0 (attest/hcl_report.h); what parses must rebuild to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"

#include "attest/hcl_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto report = attest::ParseHclReport(bytes);
  if (!report) return 0;
  const auto rebuilt = attest::BuildHclReport(report->hardware_report, report->claims);
  if (rebuilt.size() > bytes.size() || !std::equal(rebuilt.begin(), rebuilt.end(), bytes.begin()))
    __builtin_trap();
  return 0;
}
