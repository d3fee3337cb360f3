// igvmtool: inspect, measure, sign and verify IGVM images.
//
//   igvmtool dump FILE [--json]
//   igvmtool measure FILE --platform snp|tdx|vbs [--json] [--vmsa-order hyperv|kvm]
//   igvmtool keygen --output KEY.pem
//   igvmtool key-digest KEY.pem      (private or public PEM: its ID_KEY_DIGEST)
//   igvmtool sign FILE --id-key KEY.pem [--author-key KEY.pem] [--family-id HEX]
//                 [--image-id HEX] [--svn N] [--vmsa-order hyperv|kvm] [--output OUT]
//   igvmtool verify FILE --platform snp [--id-key-digest HEX] [--vmsa-order hyperv|kvm]
//   igvmtool build --manifest FILE.json --output OUT.igvm
//   igvmtool [COMMAND] --help        (every option explained)
//
// The command line goes through CLI11. Exit status: 0 success, 1 the
// operation failed (bad image, bad signature), 2 bad usage. Errors are one
// line on stderr.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

// g++ 12 reports a "potential null pointer dereference" inside std::string
// as CLI11 (header-only) is inlined here: a false positive of
// -Wnull-dereference at -O2 (as in loader/cli_options.cpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include "builder.h"
#include "digest.h"
#include "dump.h"
#include "measure.h"
#include "platform_binding.h"
#include "reader.h"
#include "snp_id_block.h"
#include "writer.h"

namespace {

using igvm::IgvmFile;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Usage errors are reported with exit status 2; they start with "usage".
base::Error UsageError(std::string message) { return base::Error("usage: " + message); }

// Every command's options; each command binds the ones it takes.
struct Options {
  std::string file;  // FILE, or KEY.pem for key-digest
  bool json = false;
  std::string platform;
  std::string vmsa_order = "hyperv";
  std::string output;
  std::string id_key;
  std::string author_key;
  std::string family_id;
  std::string image_id;
  std::string svn;
  std::string id_key_digest;
  std::string manifest;
};

base::Result<IgvmFile> LoadImage(const std::string& path) {
  // One buffer for the file; the model's data are views into it.
  auto bytes = std::make_shared<const std::vector<std::byte>>(TRY(igvm::ReadFileBytes(path)));
  auto file = igvm::ReadIgvm(std::move(bytes));
  if (!file.ok()) return std::move(file).error().Context(path);
  return file;
}

base::Result<void> WriteBytes(const std::string& path, const std::vector<std::byte>& bytes) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return base::Error::FromErrno("cannot create " + temporary, errno);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return base::Error("write failed: " + temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0)
    return base::Error::FromErrno("cannot rename to " + path, errno);
  return base::Ok();
}

base::Result<igvm::VmsaOrder> ParseVmsaOrder(const Options& options) {
  const std::string& order = options.vmsa_order;
  if (order == "hyperv") return igvm::VmsaOrder::kDirectiveOrder;
  if (order == "kvm") return igvm::VmsaOrder::kAfterAllPages;
  return UsageError("--vmsa-order must be hyperv or kvm");
}

base::Result<std::array<uint8_t, 16>> ParseId(const std::string& hex, const std::string& flag) {
  std::array<uint8_t, 16> id{};
  if (hex.empty()) return id;
  auto bytes = igvm::FromHex(hex, 16);
  if (!bytes) return UsageError(flag + " wants 32 hex digits (16 bytes)");
  std::copy(bytes->begin(), bytes->end(), id.begin());
  return id;
}

base::Result<int> Dump(const Options& options) {
  const IgvmFile file = TRY(LoadImage(options.file));
  if (options.json) {
    std::printf("%s\n", igvm::DumpJson(file).dump(2).c_str());
  } else {
    std::printf("%s", igvm::DumpText(file).c_str());
  }
  return 0;
}

base::Result<int> Measure(const Options& options) {
  const std::string& platform = options.platform;
  const auto order = TRY(ParseVmsaOrder(options));
  const IgvmFile file = TRY(LoadImage(options.file));
  std::string digest;
  nlohmann::json details = {{"platform", platform}};
  if (platform == "snp") {
    const auto measurement = TRY(igvm::MeasureSnp(file, order));
    digest = igvm::ToHex(measurement.launch_digest);
    details["algorithm"] = "SEV-SNP launch digest (PAGE_INFO chain, SHA-384)";
    details["vmsa_order"] = order == igvm::VmsaOrder::kDirectiveOrder ? "hyperv" : "kvm";
    details["pages_measured"] = measurement.pages_measured;
    details["pages_unmeasured"] = measurement.pages_unmeasured;
  } else if (platform == "tdx") {
    digest = igvm::ToHex(TRY(igvm::MeasureTdx(file)));
    details["algorithm"] = "TDX MRTD (SHA-384)";
  } else if (platform == "vbs") {
    digest = igvm::ToHex(TRY(igvm::MeasureVbs(file)));
    details["algorithm"] = "Hyper-V VBS boot digest (SHA-256 chain)";
  } else {
    return UsageError("--platform must be snp, tdx or vbs");
  }
  // First line: the digest alone, for scripts.
  std::printf("%s\n", digest.c_str());
  if (options.json) {
    details["digest"] = digest;
    std::printf("%s\n", details.dump(2).c_str());
  }
  return 0;
}

base::Result<int> Keygen(const Options& options) {
  const auto key = TRY(igvm::EcdsaP384Key::Generate());
  TRY(key.WritePem(options.output));
  std::printf("%s\n", igvm::ToHex(igvm::KeyDigest(key.PublicKey())).c_str());
  return 0;
}

base::Result<int> KeyDigest(const Options& options) {
  const auto key = TRY(igvm::LoadPublicKeyPem(options.file));
  std::printf("%s\n", igvm::ToHex(igvm::KeyDigest(key)).c_str());
  return 0;
}

base::Result<int> Sign(const Options& options) {
  igvm::IdBlockIdentity identity;
  identity.family_id = TRY(ParseId(options.family_id, "--family-id"));
  identity.image_id = TRY(ParseId(options.image_id, "--image-id"));
  if (!options.svn.empty()) {
    const std::string& text = options.svn;
    char* end = nullptr;
    errno = 0;
    const unsigned long svn = std::strtoul(text.c_str(), &end, 0);
    if (text.empty() || *end != '\0' || errno != 0 || svn > 0xffffffffu)
      return UsageError("--svn wants a 32-bit number");
    identity.guest_svn = static_cast<uint32_t>(svn);
  }
  const auto order = TRY(ParseVmsaOrder(options));
  IgvmFile file = TRY(LoadImage(options.file));
  const auto id_key = TRY(igvm::EcdsaP384Key::LoadPem(options.id_key));
  std::optional<igvm::EcdsaP384Key> author_key;
  if (!options.author_key.empty())
    author_key = TRY(igvm::EcdsaP384Key::LoadPem(options.author_key));
  // The signer vouches for every platform: the binding page (SNP page
  // data, so under this signature) gets the current VSM/TDX digests.
  if (igvm::NeedsBinding(file)) {
    if (auto refreshed = igvm::RefreshBinding(file); !refreshed.ok())
      std::fprintf(stderr, "igvmtool sign: warning: %s; hcl-loader will refuse this image\n",
                   refreshed.error().message().c_str());
  }
  const auto block = TRY(igvm::SignIdBlock(file, id_key, author_key ? &*author_key : nullptr,
                                           identity, order));
  igvm::InstallIdBlock(file, block);
  const auto bytes = TRY(igvm::WriteIgvm(file));
  const std::string& output = options.output.empty() ? options.file : options.output;
  TRY(WriteBytes(output, bytes));
  std::printf("%s\n", igvm::ToHex(std::span<const uint8_t>(block.ld, 48)).c_str());
  return 0;
}

base::Result<int> Verify(const Options& options) {
  const auto order = TRY(ParseVmsaOrder(options));
  std::optional<std::vector<uint8_t>> expected_key;
  if (!options.id_key_digest.empty()) {
    expected_key = igvm::FromHex(options.id_key_digest, 48);
    if (!expected_key) return UsageError("--id-key-digest wants 96 hex digits (SHA-384)");
  }
  const IgvmFile file = TRY(LoadImage(options.file));
  auto check = igvm::VerifyIdBlock(file, order);
  if (!check.ok()) {
    std::fprintf(stderr, "igvmtool: verify failed: %s\n", check.error().message().c_str());
    return kExitFailure;
  }
  if (expected_key && !std::equal(expected_key->begin(), expected_key->end(),
                                  check->id_key_digest.begin())) {
    std::fprintf(stderr, "igvmtool: verify failed: ID key digest %s is not the expected one\n",
                 igvm::ToHex(check->id_key_digest).c_str());
    return kExitFailure;
  }
  // The other platforms, through the binding page the signature covers.
  std::vector<std::string> bound;
  for (auto type : {igvm::wire::PlatformType::kVsmIsolation, igvm::wire::PlatformType::kTdx}) {
    if (!file.Platform(type)) continue;
    auto binding = igvm::VerifyBinding(file, type);
    if (!binding.ok()) {
      std::fprintf(stderr, "igvmtool: verify failed: platform binding: %s\n",
                   binding.error().message().c_str());
      return kExitFailure;
    }
    bound.push_back(std::string(igvm::PlatformName(static_cast<uint8_t>(type))) +
                    " directive digest " + igvm::ToHex(binding->digest));
  }
  std::printf("verified: launch digest %s\n", igvm::ToHex(check->launch_digest).c_str());
  for (const std::string& line : bound) std::printf("bound: %s\n", line.c_str());
  std::printf("id key digest %s\n", igvm::ToHex(check->id_key_digest).c_str());
  if (check->author_key_digest)
    std::printf("author key digest %s\n", igvm::ToHex(*check->author_key_digest).c_str());
  return 0;
}

base::Result<int> Build(const Options& options) {
  const IgvmFile file = TRY(igvm::BuildFromManifestFile(options.manifest));
  const auto bytes = TRY(igvm::WriteIgvm(file));
  TRY(WriteBytes(options.output, bytes));
  return 0;
}

// The command line (CLI11): one subcommand per operation, each with its
// options and what they mean.
struct Command {
  CLI::App* app;
  base::Result<int> (*run)(const Options&);
};

const std::vector<std::string> kVmsaOrders = {"hyperv", "kvm"};
constexpr const char* kVmsaOrderHelp =
    "where SNP VMSA pages enter the launch digest: hyperv (default: at their VP_CONTEXT "
    "directive, as Hyper-V and the igvm crate measure) or kvm (after every page, at "
    "SNP_LAUNCH_FINISH)";

std::vector<Command> AddCommands(CLI::App& app, Options& o) {
  std::vector<Command> commands;
  CLI::App* dump = app.add_subcommand("dump", "Print an image's headers, platforms, directives "
                                              "and a memory layout per platform");
  dump->add_option("FILE", o.file, "the IGVM image")->required();
  dump->add_flag("--json", o.json, "print the same as one JSON document");
  commands.push_back({dump, Dump});

  CLI::App* measure = app.add_subcommand(
      "measure", "Compute a platform's launch measurement; the first line is the digest alone");
  measure->add_option("FILE", o.file, "the IGVM image")->required();
  measure->add_option("--platform", o.platform,
                      "snp (SEV-SNP launch digest), tdx (MRTD) or vbs (Hyper-V VBS boot digest)")
      ->required()
      ->check(CLI::IsMember({"snp", "tdx", "vbs"}));
  measure->add_flag("--json", o.json, "then the digest and how it was computed, as JSON");
  measure->add_option("--vmsa-order", o.vmsa_order, kVmsaOrderHelp)
      ->check(CLI::IsMember(kVmsaOrders));
  commands.push_back({measure, Measure});

  CLI::App* keygen = app.add_subcommand(
      "keygen", "Make an ECDSA P-384 signing key; prints its SNP ID_KEY_DIGEST");
  keygen->add_option("--output", o.output, "the private key's PEM file (written mode 0600)")
      ->required();
  commands.push_back({keygen, Keygen});

  CLI::App* key_digest = app.add_subcommand(
      "key-digest", "Print the SNP ID_KEY_DIGEST (SHA-384 of the public key) of a PEM key");
  key_digest->add_option("KEY.pem", o.file, "a private or public ECDSA P-384 key, PEM")
      ->required();
  commands.push_back({key_digest, KeyDigest});

  CLI::App* sign = app.add_subcommand(
      "sign", "Refresh the platform binding page, then sign the SNP launch digest with an ID "
              "block; prints the signed digest");
  sign->add_option("FILE", o.file, "the IGVM image")->required();
  sign->add_option("--id-key", o.id_key, "the ID key (ECDSA P-384 private key, PEM)")
      ->required();
  sign->add_option("--author-key", o.author_key,
                   "also sign the ID key with this author key (ECDSA P-384 private key, PEM)");
  sign->add_option("--family-id", o.family_id,
                   "the ID block's FAMILY_ID, 32 hex digits (default zero)");
  sign->add_option("--image-id", o.image_id,
                   "the ID block's IMAGE_ID, 32 hex digits (default zero)");
  sign->add_option("--svn", o.svn, "the ID block's guest SVN, a 32-bit number (default 0)");
  sign->add_option("--vmsa-order", o.vmsa_order, kVmsaOrderHelp)
      ->check(CLI::IsMember(kVmsaOrders));
  sign->add_option("--output", o.output, "write the signed image here (default: over FILE)");
  commands.push_back({sign, Sign});

  CLI::App* verify = app.add_subcommand(
      "verify", "Check the SNP ID block against the recomputed launch digest, then every VSM "
                "and TDX platform's binding under it");
  verify->add_option("FILE", o.file, "the IGVM image")->required();
  verify->add_option("--platform", o.platform, "snp (the only platform with a signature)")
      ->required()
      ->check(CLI::IsMember({"snp"}));
  verify->add_option("--id-key-digest", o.id_key_digest,
                     "also require this signer: its ID_KEY_DIGEST, 96 hex digits");
  verify->add_option("--vmsa-order", o.vmsa_order, kVmsaOrderHelp)
      ->check(CLI::IsMember(kVmsaOrders));
  commands.push_back({verify, Verify});

  CLI::App* build = app.add_subcommand(
      "build", "Build an unsigned image from a JSON manifest (igvm/README.md, \"Manifest\")");
  build->add_option("--manifest", o.manifest, "the manifest (JSON); its paths are relative to it")
      ->required();
  build->add_option("--output", o.output, "the IGVM image to write")->required();
  commands.push_back({build, Build});
  return commands;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"igvmtool: build, inspect, measure, sign and verify IGVM images. Exit status: "
               "0 success, 1 the operation failed (bad image, bad signature), 2 bad usage.",
               "igvmtool"};
  app.require_subcommand(1);
  Options options;
  const std::vector<Command> commands = AddCommands(app, options);
  std::string name = "igvmtool";
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());  // the selected command's, if any
    return 0;
  } catch (const CLI::ParseError& error) {
    const auto selected = app.get_subcommands();
    if (!selected.empty()) {
      name += " " + selected.front()->get_name();
    } else if (argc > 1 && argv[1][0] != '-') {
      std::fprintf(stderr, "igvmtool: unknown command '%s' (igvmtool --help)\n", argv[1]);
      return kExitUsage;
    }
    std::fprintf(stderr, "%s: %s (%s --help)\n", name.c_str(), error.what(), name.c_str());
    return kExitUsage;
  }
  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    auto result = command.run(options);
    if (!result.ok()) {
      const std::string& message = result.error().message();
      const bool usage = message.rfind("usage: ", 0) == 0;
      std::fprintf(stderr, "igvmtool %s: %s\n", command.app->get_name().c_str(), message.c_str());
      return usage ? kExitUsage : kExitFailure;
    }
    return *result;
  }
  return kExitUsage;  // require_subcommand(1) leaves no other way here
}
