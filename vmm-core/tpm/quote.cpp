#include "tpm/quote.h"

#include "base/be_bytes.h"

namespace tpm {
namespace {

// Big-endian fields in order; every read checks what is left.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const char* what) : bytes_(bytes), what_(what) {}

  base::Result<uint64_t> Uint(size_t width) {
    if (bytes_.size() - at_ < width)
      return base::Error::Format("%s: truncated at byte %zu", what_, at_);
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i) value = value << 8 | static_cast<uint8_t>(bytes_[at_ + i]);
    at_ += width;
    return value;
  }
  base::Result<std::vector<uint8_t>> Sized() {  // a TPM2B: u16 size, then that many bytes
    const size_t size = static_cast<size_t>(TRY(Uint(2)));
    if (bytes_.size() - at_ < size)
      return base::Error::Format("%s: a %zu-byte field runs past the end", what_, size);
    std::vector<uint8_t> out(size);
    for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(bytes_[at_ + i]);
    at_ += size;
    return out;
  }
  base::Result<void> End() const {
    if (at_ != bytes_.size())
      return base::Error::Format("%s: %zu bytes after its end", what_, bytes_.size() - at_);
    return base::Ok();
  }

 private:
  std::span<const std::byte> bytes_;
  const char* what_;
  size_t at_ = 0;
};

}  // namespace

base::Result<Quote> ParseQuote(std::span<const std::byte> attest) {
  Reader r(attest, "quote");
  if (TRY(r.Uint(4)) != kGeneratedValue)
    return base::Error("quote: not made by a TPM (magic is not TPM_GENERATED_VALUE)");
  if (TRY(r.Uint(2)) != kStAttestQuote) return base::Error("quote: not a TPM_ST_ATTEST_QUOTE");
  Quote q;
  q.qualified_signer = TRY(r.Sized());
  q.extra_data = TRY(r.Sized());
  q.clock = TRY(r.Uint(8));
  q.reset_count = static_cast<uint32_t>(TRY(r.Uint(4)));
  q.restart_count = static_cast<uint32_t>(TRY(r.Uint(4)));
  q.safe = TRY(r.Uint(1)) != 0;
  q.firmware_version = TRY(r.Uint(8));
  const uint64_t count = TRY(r.Uint(4));
  if (count > 16) return base::Error("quote: more than 16 PCR banks selected");
  for (uint64_t i = 0; i < count; ++i) {
    PcrSelection selection;
    selection.hash = static_cast<uint16_t>(TRY(r.Uint(2)));
    const uint64_t select_bytes = TRY(r.Uint(1));
    for (uint64_t b = 0; b < select_bytes; ++b) {
      const uint64_t bits = TRY(r.Uint(1));
      for (uint32_t bit = 0; bit < 8; ++bit)
        if (bits & (1u << bit)) selection.pcrs.push_back(static_cast<uint32_t>(b * 8 + bit));
    }
    q.selections.push_back(std::move(selection));
  }
  q.pcr_digest = TRY(r.Sized());
  TRY(r.End());
  return q;
}

base::Result<QuoteSignature> ParseQuoteSignature(std::span<const std::byte> signature) {
  Reader r(signature, "signature");
  QuoteSignature sig;
  sig.sig_alg = static_cast<uint16_t>(TRY(r.Uint(2)));
  sig.hash_alg = static_cast<uint16_t>(TRY(r.Uint(2)));
  switch (sig.sig_alg) {
    case kAlgRsassa:
    case kAlgRsapss: sig.rsa = TRY(r.Sized()); break;
    case kAlgEcdsa:
      sig.r = TRY(r.Sized());
      sig.s = TRY(r.Sized());
      break;
    default:
      return base::Error::Format("signature: scheme %#x is not RSASSA, RSAPSS or ECDSA", sig.sig_alg);
  }
  TRY(r.End());
  return sig;
}

}  // namespace tpm
