// Fuzz target: a quote and its signature as a verifier receives them (the
// first byte picks which parser). Invariants: no crash; a parsed quote's
// PCR lists are ascending and below 8 * 255.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"
#include "tpm/quote.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto bytes = std::as_bytes(std::span(data + 1, size - 1));
  if (data[0] & 1) {
    (void)tpm::ParseQuoteSignature(bytes);
    return 0;
  }
  auto quote = tpm::ParseQuote(bytes);
  if (!quote.ok()) return 0;
  for (const tpm::PcrSelection& selection : quote->selections)
    for (size_t i = 0; i < selection.pcrs.size(); ++i)
      if (selection.pcrs[i] >= 8 * 255 || (i > 0 && selection.pcrs[i] <= selection.pcrs[i - 1]))
        __builtin_trap();
  return 0;
}
