#include "attest/snp_report.h"

#include <algorithm>

#include "base/hex.h"
#include "base/le_bytes.h"

namespace attest {
namespace {

// Field offsets (tpm-attestation.md §6.1).
constexpr size_t kVersion = 0x000;
constexpr size_t kGuestSvn = 0x004;
constexpr size_t kPolicy = 0x008;
constexpr size_t kFamilyId = 0x010;
constexpr size_t kImageId = 0x020;
constexpr size_t kVmpl = 0x030;
constexpr size_t kSignatureAlgo = 0x034;
constexpr size_t kCurrentTcb = 0x038;
constexpr size_t kPlatformInfo = 0x040;
constexpr size_t kSignerInfo = 0x048;
constexpr size_t kReportData = 0x050;
constexpr size_t kMeasurement = 0x090;
constexpr size_t kHostData = 0x0C0;
constexpr size_t kIdKeyDigest = 0x0E0;
constexpr size_t kAuthorKeyDigest = 0x110;
constexpr size_t kReportId = 0x140;
constexpr size_t kReportIdMa = 0x160;
constexpr size_t kReportedTcb = 0x180;
constexpr size_t kCpuidEnd = 0x18B;  // v3+: family, model, stepping before it
constexpr size_t kChipId = 0x1A0;
constexpr size_t kCommittedTcb = 0x1E0;
constexpr size_t kLaunchTcb = 0x1F0;
constexpr size_t kSignatureR = kSnpSignedBytes;
constexpr size_t kSignatureS = kSnpSignedBytes + kSnpSignatureComponentBytes;
constexpr size_t kSignatureEnd = kSignatureS + kSnpSignatureComponentBytes;

template <typename T>
T Load(std::span<const std::byte> bytes, size_t offset) {
  T value = 0;
  (void)base::LoadLe(bytes, offset, value);  // offsets are inside the checked size
  return value;
}

template <size_t N>
std::array<uint8_t, N> Copy(std::span<const std::byte> bytes, size_t offset) {
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = std::to_integer<uint8_t>(bytes[offset + i]);
  return out;
}

bool AllZero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

uint8_t Byte(uint64_t raw, unsigned index) { return static_cast<uint8_t>(raw >> (8 * index)); }

template <size_t N>
void Put(std::span<std::byte> bytes, size_t offset, const std::array<uint8_t, N>& value) {
  for (size_t i = 0; i < N; ++i) bytes[offset + i] = std::byte{value[i]};
}

}  // namespace

std::string_view ProductName(SnpProduct product) {
  switch (product) {
    case SnpProduct::kMilan: return "Milan";
    case SnpProduct::kGenoa: return "Genoa";
    case SnpProduct::kTurin: return "Turin";
  }
  return "?";
}

base::Result<SnpTcb> DecodeTcb(uint64_t raw, SnpProduct product) {
  SnpTcb tcb;
  if (product == SnpProduct::kTurin) {
    if (Byte(raw, 4) != 0 || Byte(raw, 5) != 0 || Byte(raw, 6) != 0)
      return base::Error::Format("TCB %016llx: reserved bytes 4-6 set (Turin layout)",
                                 static_cast<unsigned long long>(raw));
    tcb.fmc = Byte(raw, 0);
    tcb.bootloader = Byte(raw, 1);
    tcb.tee = Byte(raw, 2);
    tcb.snp = Byte(raw, 3);
  } else {
    if (Byte(raw, 2) != 0 || Byte(raw, 3) != 0 || Byte(raw, 4) != 0 || Byte(raw, 5) != 0)
      return base::Error::Format("TCB %016llx: reserved bytes 2-5 set (%s layout)",
                                 static_cast<unsigned long long>(raw),
                                 std::string(ProductName(product)).c_str());
    tcb.bootloader = Byte(raw, 0);
    tcb.tee = Byte(raw, 1);
    tcb.snp = Byte(raw, 6);
  }
  tcb.microcode = Byte(raw, 7);
  return tcb;
}

uint64_t EncodeTcb(const SnpTcb& tcb, SnpProduct product) {
  const auto at = [](uint8_t value, unsigned index) { return uint64_t{value} << (8 * index); };
  if (product == SnpProduct::kTurin)
    return at(tcb.fmc, 0) | at(tcb.bootloader, 1) | at(tcb.tee, 2) | at(tcb.snp, 3) |
           at(tcb.microcode, 7);
  return at(tcb.bootloader, 0) | at(tcb.tee, 1) | at(tcb.snp, 6) | at(tcb.microcode, 7);
}

base::Result<SnpReport> ParseSnpReport(std::span<const std::byte> bytes) {
  if (bytes.size() != kSnpReportBytes)
    return base::Error::Format("%zu bytes, not %zu", bytes.size(), kSnpReportBytes);
  SnpReport report;
  report.version = Load<uint32_t>(bytes, kVersion);
  // Versions 2-5 share this layout (3 added the CPUID bytes, 5 the
  // mitigation vectors, both in what was reserved).
  if (report.version < 2 || report.version > 5)
    return base::Error::Format("version %u is not 2-5", report.version);
  report.signature_algo = Load<uint32_t>(bytes, kSignatureAlgo);
  if (report.signature_algo != kSnpSigAlgoEcdsaP384Sha384)
    return base::Error::Format("signature algorithm %u is not ECDSA P-384 with SHA-384 (1)",
                               report.signature_algo);
  // What the firmware leaves zero: the CPUID tail of the reserved block
  // (all of it before version 3) and the signature area past S.
  const size_t reserved_from = report.version >= 3 ? kCpuidEnd : kReportedTcb + 8;
  if (!AllZero(bytes.subspan(reserved_from, kChipId - reserved_from)))
    return base::Error::Format("bytes 0x%zx-0x%zx are reserved but set", reserved_from,
                               kChipId - 1);
  if (!AllZero(bytes.subspan(kSignatureEnd)))
    return base::Error("the signature area is set past S (0x390)");
  report.guest_svn = Load<uint32_t>(bytes, kGuestSvn);
  report.policy = Load<uint64_t>(bytes, kPolicy);
  report.family_id = Copy<16>(bytes, kFamilyId);
  report.image_id = Copy<16>(bytes, kImageId);
  report.vmpl = Load<uint32_t>(bytes, kVmpl);
  report.current_tcb = Load<uint64_t>(bytes, kCurrentTcb);
  report.platform_info = Load<uint64_t>(bytes, kPlatformInfo);
  report.signer_info = Load<uint32_t>(bytes, kSignerInfo);
  report.report_data = Copy<64>(bytes, kReportData);
  report.measurement = Copy<48>(bytes, kMeasurement);
  report.host_data = Copy<32>(bytes, kHostData);
  report.id_key_digest = Copy<48>(bytes, kIdKeyDigest);
  report.author_key_digest = Copy<48>(bytes, kAuthorKeyDigest);
  report.report_id = Copy<32>(bytes, kReportId);
  report.report_id_ma = Copy<32>(bytes, kReportIdMa);
  report.reported_tcb = Load<uint64_t>(bytes, kReportedTcb);
  report.chip_id = Copy<64>(bytes, kChipId);
  report.committed_tcb = Load<uint64_t>(bytes, kCommittedTcb);
  report.launch_tcb = Load<uint64_t>(bytes, kLaunchTcb);
  report.signature_r = Copy<kSnpSignatureComponentBytes>(bytes, kSignatureR);
  report.signature_s = Copy<kSnpSignatureComponentBytes>(bytes, kSignatureS);
  return report;
}

std::array<std::byte, kSnpReportBytes> EncodeSnpReport(const SnpReport& report) {
  std::array<std::byte, kSnpReportBytes> bytes{};
  const std::span<std::byte> out(bytes);
  // Offsets are constants inside the array: the stores cannot fail.
  (void)base::StoreLe(out, kVersion, report.version);
  (void)base::StoreLe(out, kGuestSvn, report.guest_svn);
  (void)base::StoreLe(out, kPolicy, report.policy);
  Put(out, kFamilyId, report.family_id);
  Put(out, kImageId, report.image_id);
  (void)base::StoreLe(out, kVmpl, report.vmpl);
  (void)base::StoreLe(out, kSignatureAlgo, report.signature_algo);
  (void)base::StoreLe(out, kCurrentTcb, report.current_tcb);
  (void)base::StoreLe(out, kPlatformInfo, report.platform_info);
  (void)base::StoreLe(out, kSignerInfo, report.signer_info);
  Put(out, kReportData, report.report_data);
  Put(out, kMeasurement, report.measurement);
  Put(out, kHostData, report.host_data);
  Put(out, kIdKeyDigest, report.id_key_digest);
  Put(out, kAuthorKeyDigest, report.author_key_digest);
  Put(out, kReportId, report.report_id);
  Put(out, kReportIdMa, report.report_id_ma);
  (void)base::StoreLe(out, kReportedTcb, report.reported_tcb);
  Put(out, kChipId, report.chip_id);
  (void)base::StoreLe(out, kCommittedTcb, report.committed_tcb);
  (void)base::StoreLe(out, kLaunchTcb, report.launch_tcb);
  Put(out, kSignatureR, report.signature_r);
  Put(out, kSignatureS, report.signature_s);
  return bytes;
}

base::Result<std::vector<std::byte>> DecodeReportFile(std::span<const std::byte> contents) {
  if (contents.size() == kSnpReportBytes) return std::vector<std::byte>(contents.begin(), contents.end());
  // Hex text: two digits per byte, whitespace anywhere between pairs.
  std::vector<std::byte> out;
  int high = -1;
  for (std::byte b : contents) {
    const char c = static_cast<char>(b);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (high >= 0) return base::Error("hex digit pairs split by whitespace");
      continue;
    }
    const int value = base::HexDigitValue(c);
    if (value < 0)
      return base::Error::Format("neither %zu raw bytes nor hex text", kSnpReportBytes);
    if (high < 0) {
      high = value;
      continue;
    }
    if (out.size() == kSnpReportBytes)
      return base::Error::Format("hex text holds more than %zu bytes", kSnpReportBytes);
    out.push_back(static_cast<std::byte>(high << 4 | value));
    high = -1;
  }
  if (high >= 0) return base::Error("hex text has an odd number of digits");
  if (out.size() != kSnpReportBytes)
    return base::Error::Format("hex text holds %zu bytes, not %zu", out.size(), kSnpReportBytes);
  return out;
}

}  // namespace attest
