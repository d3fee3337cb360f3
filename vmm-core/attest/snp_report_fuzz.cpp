// Fuzz target: the SEV-SNP report as a tool receives it (raw or hex) and
// its parser, then the TCB decoders on what it holds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"

#include "attest/snp_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto raw = attest::DecodeReportFile(bytes);
  if (!raw) return 0;
  auto report = attest::ParseSnpReport(*raw);
  if (!report) return 0;
  for (auto product : {attest::SnpProduct::kMilan, attest::SnpProduct::kGenoa, attest::SnpProduct::kTurin}) {
    if (auto tcb = attest::DecodeTcb(report->reported_tcb, product))
      if (attest::EncodeTcb(*tcb, product) != report->reported_tcb) __builtin_trap();
  }
  return 0;
}
