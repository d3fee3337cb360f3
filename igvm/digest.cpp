#include "digest.h"

#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#include <new>

#include "base/hex.h"

namespace igvm {
namespace {

template <typename T>
T* As(std::byte* storage) {
  return std::launder(reinterpret_cast<T*>(storage));
}

}  // namespace

static_assert(sizeof(mbedtls_sha512_context) <= 256);
static_assert(sizeof(mbedtls_sha256_context) <= 128);

Sha384::Sha384() {
  auto* context = new (context_) mbedtls_sha512_context;
  mbedtls_sha512_init(context);
  mbedtls_sha512_starts_ret(context, /*is384=*/1);
}

Sha384::~Sha384() { mbedtls_sha512_free(As<mbedtls_sha512_context>(context_)); }

void Sha384::Update(std::span<const std::byte> bytes) {
  mbedtls_sha512_update_ret(As<mbedtls_sha512_context>(context_),
                            reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

Sha384Digest Sha384::Finish() {
  unsigned char out[64];
  mbedtls_sha512_finish_ret(As<mbedtls_sha512_context>(context_), out);
  Sha384Digest digest;
  std::copy(out, out + 48, digest.begin());
  return digest;
}

Sha256::Sha256() {
  auto* context = new (context_) mbedtls_sha256_context;
  mbedtls_sha256_init(context);
  mbedtls_sha256_starts_ret(context, /*is224=*/0);
}

Sha256::~Sha256() { mbedtls_sha256_free(As<mbedtls_sha256_context>(context_)); }

void Sha256::Update(std::span<const std::byte> bytes) {
  mbedtls_sha256_update_ret(As<mbedtls_sha256_context>(context_),
                            reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

Sha256Digest Sha256::Finish() {
  Sha256Digest digest;
  mbedtls_sha256_finish_ret(As<mbedtls_sha256_context>(context_), digest.data());
  return digest;
}

Sha384Digest Sha384Of(std::span<const std::byte> bytes) {
  Sha384 hash;
  hash.Update(bytes);
  return hash.Finish();
}

Sha256Digest Sha256Of(std::span<const std::byte> bytes) {
  Sha256 hash;
  hash.Update(bytes);
  return hash.Finish();
}

std::string ToHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    text += kDigits[b >> 4];
    text += kDigits[b & 0xf];
  }
  return text;
}

std::optional<std::vector<uint8_t>> FromHex(std::string_view text, size_t length) {
  if (text.size() != length * 2) return std::nullopt;
  std::vector<uint8_t> bytes(length);
  for (size_t i = 0; i < length; ++i) {
    const int high = base::HexDigitValue(text[2 * i]);
    const int low = base::HexDigitValue(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return bytes;
}

}  // namespace igvm
