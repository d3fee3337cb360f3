// SHA-256 / SHA-384 (mbedTLS) and hex helpers for measurements.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace igvm {

using Sha256Digest = std::array<uint8_t, 32>;
using Sha384Digest = std::array<uint8_t, 48>;

// Incremental SHA-384. Opaque storage keeps mbedTLS out of our headers.
class Sha384 {
 public:
  Sha384();
  ~Sha384();
  Sha384(const Sha384&) = delete;
  Sha384& operator=(const Sha384&) = delete;
  void Update(std::span<const std::byte> bytes);
  Sha384Digest Finish();

 private:
  alignas(8) std::byte context_[256];
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::span<const std::byte> bytes);
  Sha256Digest Finish();

 private:
  alignas(8) std::byte context_[128];
};

Sha384Digest Sha384Of(std::span<const std::byte> bytes);
Sha256Digest Sha256Of(std::span<const std::byte> bytes);

std::string ToHex(std::span<const uint8_t> bytes);
// Parses lowercase or uppercase hex of exactly `length` bytes.
std::optional<std::vector<uint8_t>> FromHex(std::string_view text, size_t length);

}  // namespace igvm
