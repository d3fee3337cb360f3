// SnpReport: the AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI specification
// 56860, "ATTESTATION_REPORT Structure"; tpm-attestation.md §6.1), parsed
// from its 1184 bytes. Sans I/O and without cryptography: the report is
// untrusted input until its signature is checked (igvm/attest/), so the
// parser only takes it apart, bounds-checked, and refuses what no
// firmware signs: a wrong size, an unknown version, a signature algorithm
// other than ECDSA P-384 with SHA-384, bytes set past the signature.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace attest {

inline constexpr size_t kSnpReportBytes = 0x4A0;
// The bytes the signature covers (0x000-0x29F) and where it starts.
inline constexpr size_t kSnpSignedBytes = 0x2A0;
// ECDSA P-384: R and S, 72 bytes each, little-endian (zero-padded).
inline constexpr size_t kSnpSignatureComponentBytes = 72;
inline constexpr uint32_t kSnpSigAlgoEcdsaP384Sha384 = 1;

// The processor lines whose TCB_VERSION layouts differ (tpm-attestation.md
// §6.1): Milan and Genoa [0] BL, [1] TEE, [6] SNP, [7] microcode; Turin
// [0] FMC, [1] BL, [2] TEE, [3] SNP, [7] microcode.
enum class SnpProduct { kMilan, kGenoa, kTurin };
std::string_view ProductName(SnpProduct product);

// The security patch levels of one TCB_VERSION.
struct SnpTcb {
  uint8_t fmc = 0;  // Turin only
  uint8_t bootloader = 0;
  uint8_t tee = 0;
  uint8_t snp = 0;
  uint8_t microcode = 0;
  bool operator==(const SnpTcb&) const = default;
};
// TCB_VERSION (8 bytes little-endian as a u64) in `product`'s layout, and
// back. Decode refuses bytes the layout keeps reserved (non-zero).
base::Result<SnpTcb> DecodeTcb(uint64_t raw, SnpProduct product);
uint64_t EncodeTcb(const SnpTcb& tcb, SnpProduct product);

struct SnpReport {
  uint32_t version = 0;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
  std::array<uint8_t, 16> family_id{};
  std::array<uint8_t, 16> image_id{};
  uint32_t vmpl = 0;
  uint32_t signature_algo = 0;
  uint64_t current_tcb = 0;
  uint64_t platform_info = 0;
  uint32_t signer_info = 0;  // bit 0 AUTHOR_KEY_EN, 1 MASK_CHIP_KEY, 2-4 SIGNING_KEY
  std::array<uint8_t, 64> report_data{};
  std::array<uint8_t, 48> measurement{};
  std::array<uint8_t, 32> host_data{};
  std::array<uint8_t, 48> id_key_digest{};
  std::array<uint8_t, 48> author_key_digest{};
  std::array<uint8_t, 32> report_id{};
  std::array<uint8_t, 32> report_id_ma{};
  uint64_t reported_tcb = 0;
  std::array<uint8_t, 64> chip_id{};
  uint64_t committed_tcb = 0;
  uint64_t launch_tcb = 0;
  // The signature as stored: R then S, little-endian.
  std::array<uint8_t, kSnpSignatureComponentBytes> signature_r{};
  std::array<uint8_t, kSnpSignatureComponentBytes> signature_s{};

  // POLICY bit 19 (SEV-SNP ABI "Guest Policy"): the guest may be debugged.
  bool debug_allowed() const { return (policy >> 19) & 1; }
  // SIGNING_KEY (signer_info bits 2-4): 0 VCEK, 1 VLEK, 7 none.
  uint32_t signing_key() const { return (signer_info >> 2) & 7; }
  bool chip_id_masked() const { return (signer_info >> 1) & 1; }
};

// The report in `bytes` (exactly kSnpReportBytes).
base::Result<SnpReport> ParseSnpReport(std::span<const std::byte> bytes);

// The 1184 bytes of `report` (the inverse of ParseSnpReport for versions
// 2 and up: reserved bytes zero). hcl-loader's emulated report is made
// with it; a real report comes from the firmware.
std::array<std::byte, kSnpReportBytes> EncodeSnpReport(const SnpReport& report);

// A report as tools are given it: raw bytes, or hex text (whitespace and
// line breaks allowed, nothing else). Returns the raw bytes.
base::Result<std::vector<std::byte>> DecodeReportFile(std::span<const std::byte> contents);

}  // namespace attest
