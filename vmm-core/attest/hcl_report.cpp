#include "attest/hcl_report.h"

#include <algorithm>

#include "base/le_bytes.h"

namespace attest {
namespace {

constexpr size_t kRequestDataOffset = kHclReportHeaderBytes + kSnpReportBytes;

uint32_t Load32(std::span<const std::byte> bytes, size_t offset) {
  uint32_t value = 0;
  (void)base::LoadLe(bytes, offset, value);  // callers checked the size
  return value;
}

}  // namespace

std::vector<std::byte> BuildHclReport(std::span<const std::byte> hardware_report,
                                      std::string_view claims) {
  if (hardware_report.size() != kSnpReportBytes || claims.size() > kHclMaxClaimsBytes) return {};
  std::vector<std::byte> blob(kHclClaimsOffset + claims.size());
  const std::span<std::byte> out(blob);
  const auto claims_bytes = static_cast<uint32_t>(claims.size());
  // Every offset below lies inside `blob`: the stores cannot fail.
  (void)base::StoreLe(out, 0, kHclReportSignature);
  (void)base::StoreLe(out, 4, kHclReportVersion);
  (void)base::StoreLe(out, 8, static_cast<uint32_t>(blob.size()));
  (void)base::StoreLe(out, 12, kHclRequestTypeAkCert);
  (void)base::StoreLe(out, 16, uint32_t{0});  // status
  std::copy(hardware_report.begin(), hardware_report.end(), blob.begin() + kHclReportHeaderBytes);
  (void)base::StoreLe(out, kRequestDataOffset, static_cast<uint32_t>(kHclRequestDataBytes) + claims_bytes);
  (void)base::StoreLe(out, kRequestDataOffset + 4, kHclRequestDataVersion);
  (void)base::StoreLe(out, kRequestDataOffset + 8, kHclReportTypeSnp);
  (void)base::StoreLe(out, kRequestDataOffset + 12, kHclHashTypeSha256);
  (void)base::StoreLe(out, kRequestDataOffset + 16, claims_bytes);
  std::transform(claims.begin(), claims.end(), blob.begin() + kHclClaimsOffset,
                 [](char c) { return static_cast<std::byte>(c); });
  return blob;
}

base::Result<HclReport> ParseHclReport(std::span<const std::byte> blob) {
  if (blob.size() < kHclClaimsOffset)
    return base::Error::Format("%zu bytes, shorter than the %zu-byte fixed part", blob.size(),
                               kHclClaimsOffset);
  if (Load32(blob, 0) != kHclReportSignature) return base::Error("no \"HCLA\" signature");
  if (const uint32_t version = Load32(blob, 4); version != kHclReportVersion)
    return base::Error::Format("version %u, not %u", version, kHclReportVersion);
  const uint32_t report_size = Load32(blob, 8);
  if (report_size < kHclClaimsOffset || report_size > blob.size())
    return base::Error::Format("report_size %u is outside the %zu bytes given", report_size,
                               blob.size());
  if (const uint32_t type = Load32(blob, 12); type != kHclRequestTypeAkCert)
    return base::Error::Format("request type %u, not the AK certificate's (%u)", type,
                               kHclRequestTypeAkCert);
  if (const uint32_t status = Load32(blob, 16); status != 0)
    return base::Error::Format("status %u", status);
  const auto reserved = blob.subspan(20, kHclReportHeaderBytes - 20);
  if (!std::all_of(reserved.begin(), reserved.end(), [](std::byte b) { return b == std::byte{0}; }))
    return base::Error("reserved header bytes set");
  if (const uint32_t version = Load32(blob, kRequestDataOffset + 4); version != kHclRequestDataVersion)
    return base::Error::Format("request data version %u, not %u", version, kHclRequestDataVersion);
  if (const uint32_t type = Load32(blob, kRequestDataOffset + 8); type != kHclReportTypeSnp)
    return base::Error::Format("report type %u, not SEV-SNP (%u)", type, kHclReportTypeSnp);
  if (const uint32_t hash = Load32(blob, kRequestDataOffset + 12); hash != kHclHashTypeSha256)
    return base::Error::Format("hash type %u, not SHA-256 (%u)", hash, kHclHashTypeSha256);
  const uint32_t claims_bytes = Load32(blob, kRequestDataOffset + 16);
  const uint32_t data_size = Load32(blob, kRequestDataOffset);
  if (claims_bytes != report_size - kHclClaimsOffset ||
      data_size != kHclRequestDataBytes + uint64_t{claims_bytes})
    return base::Error::Format("sizes disagree: report %u, request data %u, claims %u",
                               report_size, data_size, claims_bytes);
  const auto padding = blob.subspan(report_size);
  if (!std::all_of(padding.begin(), padding.end(), [](std::byte b) { return b == std::byte{0}; }))
    return base::Error("bytes set past report_size");
  HclReport report;
  const auto hardware = blob.subspan(kHclReportHeaderBytes, kSnpReportBytes);
  report.hardware_report.assign(hardware.begin(), hardware.end());
  const auto claims = blob.subspan(kHclClaimsOffset, claims_bytes);
  report.claims.resize(claims.size());
  std::transform(claims.begin(), claims.end(), report.claims.begin(),
                 [](std::byte b) { return static_cast<char>(b); });
  return report;
}

std::array<uint8_t, 64> ClaimsReportData(std::span<const uint8_t, 32> claims_sha256) {
  std::array<uint8_t, 64> data{};
  std::copy(claims_sha256.begin(), claims_sha256.end(), data.begin());
  return data;
}

}  // namespace attest
