// hcl-attest: attestation evidence checked on the host (README.md).
//
//   hcl-attest snp verify REPORT --vcek CERT --chain PEM [--image IGVM]
//                         [--vmsa-order hyperv|kvm] [--json]
//   hcl-attest pcrs --kernel K [--initrd I] [--cmdline STR] [--bank ALG]...
//                   [--event-log OUT] [--json]
//   hcl-attest quote verify MESSAGE --signature SIG --ak AK [--pcrs JSON]
//                           [--nonce HEX] [--json]
//   hcl-attest [COMMAND] --help     (every option explained)
//
// REPORT is the raw 1184-byte SEV-SNP report or its hex text; CERT the
// VCEK, DER or PEM; PEM holds the ASK then the ARK (AMD KDS /cert_chain).
// Exit status: 0 every check held (the report's fields on stdout), 1 a
// check failed (one line on stderr naming it: "ark: ...", "report
// signature: ...", "image: ..."), 2 bad usage.
#include <algorithm>
#include <fstream>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

// g++ 12's -Wnull-dereference false positive inside std::string once
// CLI11 is inlined (as in igvmtool.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "attest/mbed_hash.h"
#include "attest/measured_boot.h"
#include "attest/quote_verify.h"
#include "attest/ak_binding.h"
#include "attest/snp_verify.h"
#include "digest.h"
#include "linux_boot.h"
#include "measure.h"
#include "reader.h"
#include "snp_id_block.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct SnpVerifyOptions {
  std::string report;
  std::string vcek;
  std::string chain;
  std::string image;
  std::string vmsa_order = "hyperv";
  bool json = false;
};

std::string Hex(std::span<const uint8_t> bytes) { return igvm::ToHex(bytes); }

std::string Hex64(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

// --image: the report is of this image's launch (tpm-attestation.md §6.2,
// "MEASUREMENT / ID_KEY_DIGEST"): MEASUREMENT is its SNP launch digest, and
// if it carries an ID block, ID_KEY_DIGEST (and AUTHOR_KEY_DIGEST when the
// report says the author key was used) are its keys'.
base::Result<void> CheckImage(const attest::SnpReport& report, const SnpVerifyOptions& options) {
  const igvm::VmsaOrder order = options.vmsa_order == "kvm" ? igvm::VmsaOrder::kAfterAllPages
                                                            : igvm::VmsaOrder::kDirectiveOrder;
  auto file = igvm::ReadIgvmFile(options.image);
  if (!file) return std::move(file).error().Context("image");
  auto expected = igvm::ExpectedSnpLaunch(*file, order);
  if (!expected) return std::move(expected).error().Context("image");
  if (expected->launch_digest != report.measurement)
    return base::Error("image: MEASUREMENT " + Hex(report.measurement) +
                       " is not the image's SNP launch digest " + Hex(expected->launch_digest));
  if (const auto& checked = expected->id_block) {
    if (checked->id_key_digest != report.id_key_digest)
      return base::Error("image: ID_KEY_DIGEST is not the image's ID key");
    const bool author_used = (report.signer_info & 1) != 0;
    if (author_used && (!checked->author_key_digest ||
                        *checked->author_key_digest != report.author_key_digest))
      return base::Error("image: AUTHOR_KEY_DIGEST is not the image's author key");
  }
  return base::Ok();
}

base::Result<attest::SnpVerified> SnpVerify(const SnpVerifyOptions& options) {
  auto read = [](const std::string& path, const char* what) -> base::Result<std::vector<std::byte>> {
    auto bytes = igvm::ReadFileBytes(path);
    if (!bytes) return std::move(bytes).error().Context(what);
    return bytes;
  };
  const auto report = TRY(read(options.report, "report"));
  const auto vcek = TRY(read(options.vcek, "vcek"));
  const auto chain = TRY(read(options.chain, "chain"));
  attest::SnpVerified verified = TRY(attest::VerifySnpReport(report, vcek, chain));
  if (!options.image.empty()) TRY(CheckImage(verified.report, options));
  return verified;
}

// A result as one JSON object (--json) or as "key: value" lines.
void Emit(const nlohmann::ordered_json& out, bool json) {
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  for (const auto& [key, value] : out.items())
    std::printf("%s: %s\n", key.c_str(),
                value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
}

void Print(const attest::SnpVerified& verified, bool json) {
  const attest::SnpReport& r = verified.report;
  const attest::SnpTcb& tcb = verified.vcek.tcb;
  nlohmann::ordered_json out = {
      {"verified", true},
      {"product", verified.vcek.product_name},
      {"version", r.version},
      {"guest_svn", r.guest_svn},
      {"policy", Hex64(r.policy)},
      {"debug_allowed", r.debug_allowed()},
      {"vmpl", r.vmpl},
      {"family_id", Hex(r.family_id)},
      {"image_id", Hex(r.image_id)},
      {"current_tcb", Hex64(r.current_tcb)},
      {"reported_tcb", Hex64(r.reported_tcb)},
      {"reported_tcb_spl",
       {{"fmc", tcb.fmc}, {"bootloader", tcb.bootloader}, {"tee", tcb.tee}, {"snp", tcb.snp},
        {"microcode", tcb.microcode}}},
      {"committed_tcb", Hex64(r.committed_tcb)},
      {"launch_tcb", Hex64(r.launch_tcb)},
      {"platform_info", Hex64(r.platform_info)},
      {"report_data", Hex(r.report_data)},
      {"measurement", Hex(r.measurement)},
      {"host_data", Hex(r.host_data)},
      {"id_key_digest", Hex(r.id_key_digest)},
      {"author_key_digest", Hex(r.author_key_digest)},
      {"report_id", Hex(r.report_id)},
      {"chip_id", Hex(r.chip_id)},
  };
  Emit(out, json);
}

struct PcrsOptions {
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::vector<std::string> banks{"sha256"};
  std::string event_log;
  bool json = false;
};

// The PCRs hcl's measured boot of VTL0 produces (vmm-core/attest/
// measured_boot.h: the same code hcl runs), and optionally its event log.
base::Result<void> Pcrs(const PcrsOptions& options) {
  std::vector<attest::HashAlg> banks;
  for (const std::string& name : options.banks) {
    const auto alg = attest::HashAlgFromName(name);
    if (!alg) return base::Error("--bank " + name + ": want sha1, sha256, sha384 or sha512");
    banks.push_back(*alg);
  }
  auto kernel = igvm::ReadFileBytes(options.kernel);
  if (!kernel) return std::move(kernel).error().Context("kernel");
  std::vector<std::byte> initrd;
  if (!options.initrd.empty()) {
    auto read = igvm::ReadFileBytes(options.initrd);
    if (!read) return std::move(read).error().Context("initrd");
    initrd = std::move(read).value();
  }
  // What hcl measures is the kernel as loaded: the bzImage's protected-mode
  // payload after its setup sectors (vtl0_boot_locator.h).
  const auto image = shim::ParseBzImage(*kernel);
  if (!image.ok())
    return base::Error::Format("kernel: %s is not a bzImage hcl-loader boots (%s)",
                               options.kernel.c_str(), image.status().message());
  const auto payload =
      std::span<const std::byte>(*kernel).subspan(image.value().setup_bytes, image.value().payload_bytes);
  const attest::Vtl0Boot boot{payload, initrd, options.cmdline};
  const auto events = TRY(attest::MeasureVtl0Boot(boot, banks, attest::MbedHash));
  const auto pcrs = attest::ReplayPcrs(events, banks, attest::MbedHash);
  if (!options.event_log.empty()) {
    const auto log = attest::SerializeEventLog(events, banks);
    std::FILE* out = std::fopen(options.event_log.c_str(), "wb");
    if (out == nullptr) return base::Error::FromErrno("event log " + options.event_log, errno);
    const bool written = std::fwrite(log.data(), 1, log.size(), out) == log.size();
    if (std::fclose(out) != 0 || !written)
      return base::Error("event log " + options.event_log + ": write failed");
  }
  // The PCRs the boot extends: 0-9.
  constexpr uint32_t kLastMeasured = 9;
  nlohmann::ordered_json json;
  for (const attest::PcrBank& bank : pcrs) {
    const std::string name(attest::HashName(bank.alg));
    for (uint32_t pcr = 0; pcr <= kLastMeasured; ++pcr) {
      json[name][std::to_string(pcr)] = Hex(bank.pcrs[pcr]);
      if (!options.json) std::printf("%s %u: %s\n", name.c_str(), pcr, Hex(bank.pcrs[pcr]).c_str());
    }
  }
  if (options.json) std::printf("%s\n", json.dump(2).c_str());
  return base::Ok();
}

struct QuoteOptions {
  std::string message;
  std::string signature;
  std::string ak;
  std::string pcrs;
  std::string nonce;
  bool json = false;
};

// `hcl-attest pcrs --json`'s shape: {"sha256": {"0": "hex", ...}, ...}.
base::Result<attest::ExpectedPcrs> ReadExpectedPcrs(const std::string& path) {
  const auto bytes = TRY(igvm::ReadFileBytes(path));
  std::string text(bytes.size(), '\0');
  std::transform(bytes.begin(), bytes.end(), text.begin(),
                 [](std::byte b) { return static_cast<char>(b); });
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return base::Error("pcrs: " + path + " is not a JSON object");
  attest::ExpectedPcrs out;
  for (const auto& [bank, values] : json.items()) {
    const std::optional<attest::HashAlg> alg = attest::HashAlgFromName(bank);
    if (!alg || !values.is_object()) return base::Error("pcrs: bank \"" + bank + "\" unknown");
    for (const auto& [index, value] : values.items()) {
      const std::string hex = value.is_string() ? value.get<std::string>() : "";
      auto digest = igvm::FromHex(hex, attest::DigestBytes(*alg));
      char* end = nullptr;
      const unsigned long pcr = std::strtoul(index.c_str(), &end, 10);
      if (!digest || end == index.c_str() || *end != '\0' || pcr >= attest::kPcrCount)
        return base::Error("pcrs: " + bank + " PCR \"" + index + "\" is not an index and a digest");
      out[static_cast<uint16_t>(*alg)][static_cast<uint32_t>(pcr)] = *digest;
    }
  }
  return out;
}

base::Result<attest::QuoteVerified> QuoteVerify(const QuoteOptions& options) {
  const auto message = TRY(igvm::ReadFileBytes(options.message));
  const auto signature = TRY(igvm::ReadFileBytes(options.signature));
  const auto ak = TRY(igvm::ReadFileBytes(options.ak));
  std::optional<attest::ExpectedPcrs> pcrs;
  if (!options.pcrs.empty()) pcrs = TRY(ReadExpectedPcrs(options.pcrs));
  std::optional<std::vector<uint8_t>> nonce;
  if (!options.nonce.empty()) {
    nonce = igvm::FromHex(options.nonce, options.nonce.size() / 2);
    if (!nonce || options.nonce.size() % 2 != 0) return base::Error("nonce: not hex");
  }
  return attest::VerifyQuote(message, signature, ak, pcrs, nonce);
}

void PrintQuote(const attest::QuoteVerified& verified, bool json) {
  const tpm::Quote& q = verified.quote;
  nlohmann::ordered_json selections = nlohmann::ordered_json::object();
  for (const tpm::PcrSelection& s : q.selections) {
    const auto alg = static_cast<attest::HashAlg>(s.hash);
    const std::string bank =
        attest::DigestBytes(alg) != 0 ? std::string(attest::HashName(alg)) : std::to_string(s.hash);
    selections[bank] = s.pcrs;
  }
  const nlohmann::ordered_json out = {
      {"pcrs", selections},
      {"pcr_digest", igvm::ToHex(q.pcr_digest)},
      {"nonce", igvm::ToHex(q.extra_data)},
      {"clock", q.clock},
      {"reset_count", q.reset_count},
      {"restart_count", q.restart_count},
      {"firmware_version", q.firmware_version},
  };
  Emit(out, json);
}

struct AkVerifyOptions {
  std::string report;
  std::string vcek;
  std::string chain;
  std::string emulated_vcek;
  std::string ak_out;
  SnpVerifyOptions image;  // its image and vmsa_order
  bool json = false;
};

// The vTPM's AK bound to the platform's report (attest/ak_binding.h), then
// the report checked against the image like snp verify --image.
base::Result<attest::AkBinding> AkVerify(const AkVerifyOptions& options) {
  const auto report = TRY(igvm::ReadFileBytes(options.report));
  std::vector<std::byte> vcek, chain, emulated;
  attest::ReportTrust trust;
  if (!options.emulated_vcek.empty()) {
    emulated = TRY(igvm::ReadFileBytes(options.emulated_vcek));
    trust.emulated_vcek = emulated;
  } else {
    vcek = TRY(igvm::ReadFileBytes(options.vcek));
    chain = TRY(igvm::ReadFileBytes(options.chain));
    trust.vcek = vcek;
    trust.chain = chain;
  }
  attest::AkBinding bound = TRY(attest::VerifyAkBinding(report, trust));
  if (!options.image.image.empty()) TRY(CheckImage(bound.report, options.image));
  if (!options.ak_out.empty()) {
    std::ofstream out(options.ak_out, std::ios::trunc);
    if (!out || !(out << bound.ak_pem) || !out.flush())
      return base::Error("--ak-out: cannot write " + options.ak_out);
  }
  return bound;
}

void PrintAk(const attest::AkBinding& bound, bool emulated, bool json) {
  const attest::SnpReport& r = bound.report;
  const nlohmann::ordered_json out = {
      {"verified", true},
      {"report_signer", emulated ? std::string("emulated VCEK (hcl-loader)")
                                 : "VCEK " + bound.vcek->product_name},
      {"measurement", Hex(r.measurement)},
      {"policy", Hex64(r.policy)},
      {"chip_id", Hex(r.chip_id)},
      {"report_data", Hex(r.report_data)},
      {"claims", bound.claims},
      {"ak", bound.ak_pem},
  };
  Emit(out, json);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hcl-attest: checks attestation evidence (SEV-SNP reports) on the host"};
  app.require_subcommand(1);
  CLI::App* snp = app.add_subcommand("snp", "AMD SEV-SNP attestation reports");
  snp->require_subcommand(1);
  CLI::App* verify = snp->add_subcommand(
      "verify",
      "Check a report against AMD's chain: ARK pinned, ARK -> ASK -> VCEK signatures, the "
      "report's signature, REPORTED_TCB and CHIP_ID against the VCEK, debugging off; with "
      "--image, MEASUREMENT and the ID key digests against an IGVM image");
  SnpVerifyOptions options;
  verify->add_option("REPORT", options.report, "the report: 1184 raw bytes, or hex text")
      ->required();
  verify->add_option("--vcek", options.vcek, "the VCEK certificate that signed it (DER or PEM)")
      ->required();
  verify->add_option("--chain", options.chain,
                     "AMD's chain for the product line, PEM: the ASK, then the ARK")
      ->required();
  verify->add_option("--image", options.image,
                     "an IGVM image: the report must be of its launch (MEASUREMENT, ID block)");
  verify->add_option("--vmsa-order", options.vmsa_order,
                     "where the image's VMSAs enter the launch digest: hyperv (at their "
                     "directive) or kvm (after all pages)")
      ->check(CLI::IsMember({"hyperv", "kvm"}));
  verify->add_flag("--json", options.json, "print the report's fields as JSON");

  CLI::App* pcrs = app.add_subcommand(
      "pcrs",
      "The PCR values (0-9) hcl's measured boot of VTL0 produces for this kernel, initrd and "
      "command line: PCRs 0-7 a separator each, PCR 9 the kernel and initrd, PCR 8 the command "
      "line (the same code hcl runs; vmm-core/attest/measured_boot.h)");
  PcrsOptions pcrs_options;
  pcrs->add_option("--kernel", pcrs_options.kernel, "the VTL0 kernel image, as loaded")->required();
  pcrs->add_option("--initrd", pcrs_options.initrd, "the VTL0 initrd (none: not measured)");
  pcrs->add_option("--cmdline", pcrs_options.cmdline, "the VTL0 kernel command line");
  pcrs->add_option("--bank", pcrs_options.banks,
                   "a PCR bank: sha1, sha256, sha384, sha512 (repeatable; default sha256)");
  pcrs->add_option("--event-log", pcrs_options.event_log,
                   "also write the TCG crypto-agile event log VTL0 will read to this file");
  pcrs->add_flag("--json", pcrs_options.json, "print the PCRs as JSON");
  CLI::App* quote = app.add_subcommand("quote", "TPM 2.0 quotes");
  quote->require_subcommand(1);
  CLI::App* quote_verify = quote->add_subcommand(
      "verify",
      "Check a TPM2 quote (tpm2_quote -m/-s): its signature with the attestation key, the "
      "nonce, and the quoted PCR digest against expected values");
  QuoteOptions quote_options;
  quote_verify->add_option("MESSAGE", quote_options.message, "the quote (TPMS_ATTEST, tpm2_quote -m)")
      ->required();
  quote_verify->add_option("--signature", quote_options.signature,
                           "its signature (TPMT_SIGNATURE, tpm2_quote -s)")
      ->required();
  quote_verify->add_option("--ak", quote_options.ak,
                           "the attestation key's public key, PEM or DER (tpm2_createak -f pem)")
      ->required();
  quote_verify->add_option("--pcrs", quote_options.pcrs,
                           "expected PCR values, JSON as `hcl-attest pcrs --json` prints them; "
                           "every quoted PCR must be there");
  quote_verify->add_option("--nonce", quote_options.nonce,
                           "the verifier's nonce (hex) the quote must carry (tpm2_quote -q)");
  quote_verify->add_flag("--json", quote_options.json, "print the quote's fields as JSON");
  CLI::App* ak = app.add_subcommand("ak", "The vTPM's attestation key and the platform report");
  ak->require_subcommand(1);
  CLI::App* ak_verify = ak->add_subcommand(
      "verify",
      "Check the HCL report VTL0 reads from the vTPM's NV index 0x01400001 (tpm2_nvread "
      "0x01400001): the hardware report's signature (AMD's chain, or hcl-loader's emulated "
      "VCEK), REPORT_DATA = SHA-256(runtime claims) || 0^32, and the claims' AK (HCLAkPub); "
      "with --image, the launch measurement");
  AkVerifyOptions ak_options;
  ak_verify->add_option("REPORT", ak_options.report, "the HCL report, as read from the NV index")
      ->required();
  ak_verify->add_option("--vcek", ak_options.vcek, "SEV-SNP: the VCEK certificate (DER or PEM)");
  ak_verify->add_option("--chain", ak_options.chain, "SEV-SNP: AMD's chain, PEM: the ASK, then the ARK");
  ak_verify->add_option("--emulated-vcek", ak_options.emulated_vcek,
                        "instead of AMD's: the public key `hcl-loader emulated-vcek` prints (a "
                        "report hcl-loader emulated; proves the binding, not the hardware)");
  ak_verify->add_option("--image", ak_options.image.image,
                        "an IGVM image: the report must be of its launch (MEASUREMENT, ID block)");
  ak_verify->add_option("--vmsa-order", ak_options.image.vmsa_order,
                        "where the image's VMSAs enter the launch digest: hyperv or kvm")
      ->check(CLI::IsMember({"hyperv", "kvm"}));
  ak_verify->add_option("--ak-out", ak_options.ak_out,
                        "write the verified AK's public key here (PEM), for quote verify --ak");
  ak_verify->add_flag("--json", ak_options.json, "print the result as JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (pcrs->parsed()) {
    if (auto done = Pcrs(pcrs_options); !done) {
      std::fprintf(stderr, "hcl-attest: %s\n", done.error().message().c_str());
      return kExitFailure;
    }
    return 0;
  }
  if (ak_verify->parsed()) {
    const bool emulated = !ak_options.emulated_vcek.empty();
    const bool amd = !ak_options.vcek.empty() && !ak_options.chain.empty();
    if (emulated == amd || (emulated && (!ak_options.vcek.empty() || !ak_options.chain.empty()))) {
      std::fprintf(stderr, "hcl-attest: ak verify: give --vcek and --chain, or --emulated-vcek\n");
      return kExitUsage;
    }
    auto bound = AkVerify(ak_options);
    if (!bound) {
      std::fprintf(stderr, "hcl-attest: %s\n", bound.error().message().c_str());
      return kExitFailure;
    }
    PrintAk(*bound, emulated, ak_options.json);
    return 0;
  }
  if (quote_verify->parsed()) {
    auto checked = QuoteVerify(quote_options);
    if (!checked) {
      std::fprintf(stderr, "hcl-attest: %s\n", checked.error().message().c_str());
      return kExitFailure;
    }
    PrintQuote(*checked, quote_options.json);
    return 0;
  }
  auto verified = SnpVerify(options);
  if (!verified) {
    std::fprintf(stderr, "hcl-attest: %s\n", verified.error().message().c_str());
    return kExitFailure;
  }
  Print(*verified, options.json);
  return 0;
}
