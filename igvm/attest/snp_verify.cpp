#include "attest/snp_verify.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "attest/mbed_util.h"
namespace attest {
namespace {

// SHA-256 of each ARK's SubjectPublicKeyInfo (DER), the roots AMD's KDS
// serves (https://kdsintf.amd.com/vcek/v1/{Milan,Genoa,Turin}/cert_chain;
// ARK-Milan valid to 2045, ARK-Genoa to 2047, ARK-Turin to 2048).
struct PinnedRoot {
  SnpProduct product;
  std::array<uint8_t, 32> spki_sha256;
};
constexpr std::array<PinnedRoot, 3> kAmdRoots = {{
    {SnpProduct::kMilan, {0x9f, 0x05, 0x6b, 0xee, 0x44, 0x37, 0x7e, 0x29, 0x30, 0x8c, 0xb5,
                          0xff, 0xa8, 0x95, 0xbd, 0xfb, 0x62, 0xd1, 0x88, 0x81, 0xfa, 0x6b,
                          0xed, 0x8d, 0x6f, 0x07, 0x5b, 0x02, 0x04, 0x08, 0x9c, 0xb9}},
    {SnpProduct::kGenoa, {0x42, 0x9a, 0x69, 0xc9, 0x42, 0x2a, 0xa2, 0x58, 0xee, 0x4d, 0x8d,
                          0xb5, 0xfc, 0xda, 0x9c, 0x64, 0x70, 0xef, 0x15, 0xf8, 0xcd, 0x5a,
                          0x9c, 0xeb, 0xd6, 0xcb, 0xc7, 0xd9, 0x0b, 0x86, 0x38, 0x31}},
    {SnpProduct::kTurin, {0x4f, 0x12, 0x54, 0x10, 0x56, 0x3a, 0x2a, 0xb9, 0xa5, 0x03, 0x56,
                          0xf9, 0x24, 0x3f, 0x6f, 0xe0, 0xb6, 0xf7, 0x3d, 0xe9, 0x86, 0x03,
                          0xf5, 0x3f, 0x90, 0x33, 0x9c, 0x70, 0xe9, 0xd7, 0xad, 0x08}},
}};

// OID 1.3.6.1.4.1.3704.1 (AMD's VCEK extensions) in DER, then the arcs.
constexpr std::array<uint8_t, 8> kAmdOidPrefix = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x9C, 0x78, 0x01};

class Certificate {
 public:
  Certificate() { mbedtls_x509_crt_init(&crt_); }
  ~Certificate() { mbedtls_x509_crt_free(&crt_); }
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;
  mbedtls_x509_crt* get() { return &crt_; }

 private:
  mbedtls_x509_crt crt_;
};

// A small non-negative DER INTEGER (an SPL): 02 01 vv, or 02 02 00 vv for
// 0x80-0xFF.
std::optional<uint8_t> SmallInteger(const unsigned char* p, const unsigned char* end) {
  const auto size = end - p;
  if (size == 3 && p[0] == 0x02 && p[1] == 0x01 && p[2] < 0x80) return p[2];
  if (size == 4 && p[0] == 0x02 && p[1] == 0x02 && p[2] == 0x00 && p[3] >= 0x80) return p[3];
  return std::nullopt;
}

struct ClaimsBuilder {
  VcekClaims claims;
  bool has_product = false;
  uint32_t spls_seen = 0;  // bit n: .3.n
  // mbedTLS ignores a callback's error for a non-critical extension (all
  // of AMD's are), so a malformed one is remembered here.
  const char* malformed = nullptr;
};

// mbedtls_x509_crt_ext_cb_t: called for each extension mbedTLS does not
// know. AMD's: .2 productName (IA5String), .3.n SPLs (INTEGER), .4 hwID
// (64 bytes, raw or as an OCTET STRING). Others pass.
int OnExtension(void* context, const mbedtls_x509_crt*, const mbedtls_x509_buf* oid, int,
                const unsigned char* p, const unsigned char* end) {
  auto& builder = *static_cast<ClaimsBuilder*>(context);
  if (oid->len < kAmdOidPrefix.size() ||
      std::memcmp(oid->p, kAmdOidPrefix.data(), kAmdOidPrefix.size()) != 0)
    return 0;
  const std::span<const unsigned char> arcs(oid->p + kAmdOidPrefix.size(),
                                            oid->len - kAmdOidPrefix.size());
  constexpr int kMalformed = MBEDTLS_ERR_X509_INVALID_EXTENSIONS;
  const auto malformed = [&](const char* what) {
    if (builder.malformed == nullptr) builder.malformed = what;
    return kMalformed;
  };
  const auto size = end - p;
  if (arcs.size() == 1 && arcs[0] == 2) {  // productName
    if (size < 2 || p[0] != 0x16 || p[1] != size - 2 || p[1] > 64)
      return malformed("productName is not a short IA5String");
    builder.claims.product_name.assign(reinterpret_cast<const char*>(p + 2), p[1]);
    builder.has_product = true;
    return 0;
  }
  if (arcs.size() == 2 && arcs[0] == 3 && arcs[1] >= 1 && arcs[1] <= 9) {  // SPLs
    const auto value = SmallInteger(p, end);
    if (!value) return malformed("an SPL is not an INTEGER 0-255");
    builder.spls_seen |= 1u << arcs[1];
    SnpTcb& tcb = builder.claims.tcb;
    switch (arcs[1]) {
      case 1: tcb.bootloader = *value; break;
      case 2: tcb.tee = *value; break;
      case 3: tcb.snp = *value; break;
      case 8: tcb.microcode = *value; break;
      case 9: tcb.fmc = *value; break;
      default: break;  // spl4-7: reserved, not in TCB_VERSION
    }
    return 0;
  }
  if (arcs.size() == 1 && arcs[0] == 4) {  // hwID: raw bytes, or wrapped in an OCTET STRING
    const unsigned char* bytes = p;
    auto length = size;
    if ((size == 66 || size == 10) && p[0] == 0x04 && p[1] == size - 2) {
      bytes += 2;
      length -= 2;
    }
    if (length != 64 && length != 8) return malformed("hwID is not 64 (or Turin's 8) bytes");
    builder.claims.hwid.assign(bytes, bytes + length);
    return 0;
  }
  return 0;
}

base::Result<VcekClaims> FinishClaims(const ClaimsBuilder& builder) {
  if (builder.malformed != nullptr) return base::Error(builder.malformed);
  if (!builder.has_product) return base::Error("no productName extension (1.3.6.1.4.1.3704.1.2)");
  const std::string_view name = builder.claims.product_name;
  VcekClaims claims = builder.claims;
  const std::string_view family = name.substr(0, name.find('-'));
  if (family == "Milan") claims.product = SnpProduct::kMilan;
  else if (family == "Genoa") claims.product = SnpProduct::kGenoa;
  else if (family == "Turin") claims.product = SnpProduct::kTurin;
  else return base::Error("unknown product \"" + std::string(name) + "\"");
  uint32_t needed = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 8;
  if (claims.product == SnpProduct::kTurin) needed |= 1u << 9;
  if ((builder.spls_seen & needed) != needed)
    return base::Error("a TCB extension (blSPL, teeSPL, snpSPL, ucodeSPL, Turin's fmcSPL) is missing");
  return claims;
}

base::Result<VcekClaims> ParseDerWithClaims(mbedtls_x509_crt* crt, std::span<const std::byte> der) {
  ClaimsBuilder builder;
  const int rc = mbedtls_x509_crt_parse_der_with_ext_cb(
      crt, reinterpret_cast<const unsigned char*>(der.data()), der.size(), 1, OnExtension, &builder);
  if (rc != 0) return base::Error("cannot parse: " + MbedError(rc));
  return FinishClaims(builder);
}

// PEM text for mbedTLS: it wants the terminating NUL counted.
std::vector<unsigned char> PemBuffer(std::span<const std::byte> text) {
  std::vector<unsigned char> buffer(text.size() + 1, 0);
  std::transform(text.begin(), text.end(), buffer.begin(),
                 [](std::byte b) { return std::to_integer<unsigned char>(b); });
  return buffer;
}

bool LooksPem(std::span<const std::byte> bytes) {
  constexpr std::string_view kBegin = "-----BEGIN";
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return text.find(kBegin) != std::string_view::npos;
}

// `cert` (alone) against `anchor` (alone): signature, validity, CA flags.
std::optional<std::string> VerifySignedBy(mbedtls_x509_crt* cert, mbedtls_x509_crt* anchor) {
  uint32_t flags = 0;
  const int rc = mbedtls_x509_crt_verify(cert, anchor, nullptr, nullptr, &flags, nullptr, nullptr);
  if (rc == 0) return std::nullopt;
  if (flags == 0) return MbedError(rc);
  char info[512];
  const int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
  std::string text = n > 0 ? std::string(info, static_cast<size_t>(n)) : MbedError(rc);
  std::replace(text.begin(), text.end(), '\n', ';');
  while (!text.empty() && (text.back() == ';' || text.back() == ' ')) text.pop_back();
  return text;
}

// A copy of one certificate of a parsed list, alone.
base::Result<void> CopyOne(const mbedtls_x509_crt* from, mbedtls_x509_crt* to) {
  const int rc = mbedtls_x509_crt_parse_der(to, from->raw.p, from->raw.len);
  if (rc != 0) return base::Error(MbedError(rc));
  return base::Ok();
}

base::Result<void> VerifyReportSignature(const SnpReport& report, std::span<const std::byte> raw,
                                         const mbedtls_pk_context& vcek) {
  if (mbedtls_pk_get_type(&vcek) != MBEDTLS_PK_ECKEY)
    return base::Error("report signature: the VCEK's key is not an EC key");
  const mbedtls_ecp_keypair* key = mbedtls_pk_ec(vcek);
  if (key == nullptr || key->grp.id != MBEDTLS_ECP_DP_SECP384R1)
    return base::Error("report signature: the VCEK's key is not on P-384");
  std::array<unsigned char, 64> digest{};  // SHA-384 fills the first 48
  if (mbedtls_sha512_ret(reinterpret_cast<const unsigned char*>(raw.data()), kSnpSignedBytes,
                         digest.data(), 1) != 0)
    return base::Error("report signature: SHA-384 failed");
  // R and S are stored little-endian (SEV-SNP ABI "Signature Format").
  std::array<unsigned char, kSnpSignatureComponentBytes> big{};
  Mpi r, s;
  std::reverse_copy(report.signature_r.begin(), report.signature_r.end(), big.begin());
  if (mbedtls_mpi_read_binary(r.get(), big.data(), big.size()) != 0)
    return base::Error("report signature: R unreadable");
  std::reverse_copy(report.signature_s.begin(), report.signature_s.end(), big.begin());
  if (mbedtls_mpi_read_binary(s.get(), big.data(), big.size()) != 0)
    return base::Error("report signature: S unreadable");
  if (mbedtls_ecdsa_verify(const_cast<mbedtls_ecp_group*>(&key->grp), digest.data(), 48, &key->Q,
                           r.get(), s.get()) != 0)
    return base::Error("report signature: does not verify with the VCEK's key");
  return base::Ok();
}

bool TcbAbove(const SnpTcb& a, const SnpTcb& b) {
  return a.fmc > b.fmc || a.bootloader > b.bootloader || a.tee > b.tee || a.snp > b.snp ||
         a.microcode > b.microcode;
}

}  // namespace

base::Result<VcekClaims> ParseVcekClaims(std::span<const std::byte> der) {
  Certificate crt;
  return ParseDerWithClaims(crt.get(), der);
}

base::Result<SnpVerified> VerifySnpReport(std::span<const std::byte> report_file,
                                          std::span<const std::byte> vcek_file,
                                          std::span<const std::byte> chain_file) {
  auto decoded = DecodeReportFile(report_file);
  if (!decoded) return std::move(decoded).error().Context("report");
  const std::vector<std::byte> raw = std::move(decoded).value();
  SnpVerified out;
  {
    auto parsed = ParseSnpReport(raw);
    if (!parsed) return std::move(parsed).error().Context("report");
    out.report = *parsed;
  }

  // The VCEK, DER or PEM, with its AMD extensions.
  Certificate vcek;
  {
    std::vector<std::byte> der;
    if (LooksPem(vcek_file)) {
      Certificate pem;
      const auto buffer = PemBuffer(vcek_file);
      const int rc = mbedtls_x509_crt_parse(pem.get(), buffer.data(), buffer.size());
      if (rc != 0) return base::Error("vcek: cannot parse: " + MbedError(rc));
      const auto* bytes = reinterpret_cast<const std::byte*>(pem.get()->raw.p);
      der.assign(bytes, bytes + pem.get()->raw.len);
    } else {
      der.assign(vcek_file.begin(), vcek_file.end());
    }
    auto claims = ParseDerWithClaims(vcek.get(), der);
    if (!claims) return std::move(claims).error().Context("vcek");
    out.vcek = *claims;
  }

  // The chain: ASK then ARK.
  Certificate chain, ask, ark;
  {
    const auto buffer = PemBuffer(chain_file);
    const int rc = mbedtls_x509_crt_parse(chain.get(), buffer.data(), buffer.size());
    if (rc != 0) return base::Error("chain: cannot parse: " + MbedError(rc));
    const mbedtls_x509_crt* first = chain.get();
    const mbedtls_x509_crt* second = first->next;
    if (first->raw.len == 0 || second == nullptr || second->raw.len == 0 || second->next != nullptr)
      return base::Error("chain: want two certificates, the ASK then the ARK");
    if (auto copied = CopyOne(first, ask.get()); !copied)
      return std::move(copied).error().Context("chain: ASK");
    if (auto copied = CopyOne(second, ark.get()); !copied)
      return std::move(copied).error().Context("chain: ARK");
  }

  // The ARK is one of AMD's, and the one for the VCEK's product line.
  {
    std::array<unsigned char, 32> fingerprint{};
    if (mbedtls_sha256_ret(ark.get()->pk_raw.p, ark.get()->pk_raw.len, fingerprint.data(), 0) != 0)
      return base::Error("ark: SHA-256 failed");
    const auto root = std::find_if(kAmdRoots.begin(), kAmdRoots.end(), [&](const PinnedRoot& r) {
      return std::equal(r.spki_sha256.begin(), r.spki_sha256.end(), fingerprint.begin());
    });
    if (root == kAmdRoots.end()) return base::Error("ark: not one of AMD's root keys (Milan, Genoa, Turin)");
    if (root->product != out.vcek.product)
      return base::Error("ark: the " + std::string(ProductName(root->product)) +
                         " root, but the VCEK is for " + out.vcek.product_name);
  }
  if (auto failed = VerifySignedBy(ark.get(), ark.get()))
    return base::Error("ark: self-signature: " + *failed);
  if (auto failed = VerifySignedBy(ask.get(), ark.get()))
    return base::Error("ask: not signed by the ARK: " + *failed);
  if (auto failed = VerifySignedBy(vcek.get(), ask.get()))
    return base::Error("vcek: not signed by the ASK: " + *failed);

  const SnpReport& report = out.report;
  if (report.signing_key() != 0)
    return base::Error::Format("report: signed with key %u (1 VLEK, 7 none), not the VCEK",
                               report.signing_key());
  TRY(VerifyReportSignature(report, raw, vcek.get()->pk));

  // The VCEK is the key for exactly the TCB the report names.
  const uint64_t vcek_tcb = EncodeTcb(out.vcek.tcb, out.vcek.product);
  if (vcek_tcb != report.reported_tcb)
    return base::Error::Format("tcb: REPORTED_TCB %016llx is not the VCEK's %016llx",
                               static_cast<unsigned long long>(report.reported_tcb),
                               static_cast<unsigned long long>(vcek_tcb));
  if (auto current = DecodeTcb(report.current_tcb, out.vcek.product); !current)
    return std::move(current).error().Context("tcb: CURRENT_TCB");
  else if (TcbAbove(out.vcek.tcb, *current))
    return base::Error::Format("tcb: REPORTED_TCB %016llx is above CURRENT_TCB %016llx",
                               static_cast<unsigned long long>(report.reported_tcb),
                               static_cast<unsigned long long>(report.current_tcb));
  const bool chip_id_zero =
      std::all_of(report.chip_id.begin(), report.chip_id.end(), [](uint8_t b) { return b == 0; });
  if (!report.chip_id_masked() && !chip_id_zero) {
    if (!out.vcek.has_hwid()) return base::Error("chip id: the VCEK has no hwID extension");
    // Turin's hwID is CHIP_ID's first 8 bytes.
    if (!std::equal(out.vcek.hwid.begin(), out.vcek.hwid.end(), report.chip_id.begin()))
      return base::Error("chip id: CHIP_ID is not the VCEK's hwID");
  }
  if (report.debug_allowed())
    return base::Error("policy: the guest allows debugging (POLICY bit 19)");
  return out;
}

base::Result<SnpReport> VerifyEmulatedSnpReport(std::span<const std::byte> report_file,
                                                 std::span<const std::byte> key_pem) {
  auto decoded = DecodeReportFile(report_file);
  if (!decoded) return std::move(decoded).error().Context("report");
  const std::vector<std::byte> raw = std::move(decoded).value();
  auto report = ParseSnpReport(raw);
  if (!report) return std::move(report).error().Context("report");
  PublicKey key;
  if (auto parsed = ParsePublicKey(key_pem, key); !parsed)
    return std::move(parsed).error().Context("emulated vcek");
  TRY(VerifyReportSignature(*report, raw, *key.get()));
  if (report->debug_allowed())
    return base::Error("policy: the guest allows debugging (POLICY bit 19)");
  return report;
}

}  // namespace attest
