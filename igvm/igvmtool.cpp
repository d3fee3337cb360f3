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
//
// Exit status: 0 success, 1 the operation failed (bad image, bad signature),
// 2 bad usage. Errors are one line on stderr.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

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

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::set<std::string> switches;

  bool Has(const std::string& name) const { return values.contains(name); }
  std::string Get(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
};

base::Result<Args> ParseArgs(int argc, char** argv, const std::set<std::string>& value_flags,
                             const std::set<std::string>& switch_flags) {
  Args args;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      args.positional.push_back(arg);
    } else if (switch_flags.contains(arg)) {
      args.switches.insert(arg);
    } else if (value_flags.contains(arg)) {
      if (i + 1 >= argc) return UsageError("missing value after " + arg);
      args.values[arg] = argv[++i];
    } else {
      return UsageError("unknown option " + arg);
    }
  }
  return args;
}

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

base::Result<igvm::VmsaOrder> ParseVmsaOrder(const Args& args) {
  const std::string order = args.Get("--vmsa-order");
  if (order.empty() || order == "hyperv") return igvm::VmsaOrder::kDirectiveOrder;
  if (order == "kvm") return igvm::VmsaOrder::kAfterAllPages;
  return UsageError("--vmsa-order must be hyperv or kvm");
}

base::Result<std::array<uint8_t, 16>> ParseId(const Args& args, const std::string& flag) {
  std::array<uint8_t, 16> id{};
  if (!args.Has(flag)) return id;
  auto bytes = igvm::FromHex(args.Get(flag), 16);
  if (!bytes) return UsageError(flag + " wants 32 hex digits (16 bytes)");
  std::copy(bytes->begin(), bytes->end(), id.begin());
  return id;
}

base::Result<int> Dump(const Args& args) {
  if (args.positional.size() != 1) return UsageError("igvmtool dump FILE [--json]");
  const IgvmFile file = TRY(LoadImage(args.positional[0]));
  if (args.switches.contains("--json")) {
    std::printf("%s\n", igvm::DumpJson(file).dump(2).c_str());
  } else {
    std::printf("%s", igvm::DumpText(file).c_str());
  }
  return 0;
}

base::Result<int> Measure(const Args& args) {
  if (args.positional.size() != 1 || !args.Has("--platform"))
    return UsageError("igvmtool measure FILE --platform snp|tdx|vbs [--json]");
  const std::string platform = args.Get("--platform");
  const auto order = TRY(ParseVmsaOrder(args));
  const IgvmFile file = TRY(LoadImage(args.positional[0]));
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
  if (args.switches.contains("--json")) {
    details["digest"] = digest;
    std::printf("%s\n", details.dump(2).c_str());
  }
  return 0;
}

base::Result<int> Keygen(const Args& args) {
  if (!args.Has("--output") || !args.positional.empty())
    return UsageError("igvmtool keygen --output KEY.pem");
  const auto key = TRY(igvm::EcdsaP384Key::Generate());
  TRY(key.WritePem(args.Get("--output")));
  std::printf("%s\n", igvm::ToHex(igvm::KeyDigest(key.PublicKey())).c_str());
  return 0;
}

base::Result<int> KeyDigest(const Args& args) {
  if (args.positional.size() != 1) return UsageError("igvmtool key-digest KEY.pem");
  const auto key = TRY(igvm::LoadPublicKeyPem(args.positional[0]));
  std::printf("%s\n", igvm::ToHex(igvm::KeyDigest(key)).c_str());
  return 0;
}

base::Result<int> Sign(const Args& args) {
  if (args.positional.size() != 1 || !args.Has("--id-key"))
    return UsageError("igvmtool sign FILE --id-key KEY.pem [--author-key KEY.pem] "
                       "[--family-id HEX] [--image-id HEX] [--svn N] [--output OUT]");
  igvm::IdBlockIdentity identity;
  identity.family_id = TRY(ParseId(args, "--family-id"));
  identity.image_id = TRY(ParseId(args, "--image-id"));
  if (args.Has("--svn")) {
    const std::string text = args.Get("--svn");
    char* end = nullptr;
    errno = 0;
    const unsigned long svn = std::strtoul(text.c_str(), &end, 0);
    if (text.empty() || *end != '\0' || errno != 0 || svn > 0xffffffffu)
      return UsageError("--svn wants a 32-bit number");
    identity.guest_svn = static_cast<uint32_t>(svn);
  }
  const auto order = TRY(ParseVmsaOrder(args));
  IgvmFile file = TRY(LoadImage(args.positional[0]));
  const auto id_key = TRY(igvm::EcdsaP384Key::LoadPem(args.Get("--id-key")));
  std::optional<igvm::EcdsaP384Key> author_key;
  if (args.Has("--author-key")) author_key = TRY(igvm::EcdsaP384Key::LoadPem(args.Get("--author-key")));
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
  const std::string output = args.Has("--output") ? args.Get("--output") : args.positional[0];
  TRY(WriteBytes(output, bytes));
  std::printf("%s\n", igvm::ToHex(std::span<const uint8_t>(block.ld, 48)).c_str());
  return 0;
}

base::Result<int> Verify(const Args& args) {
  if (args.positional.size() != 1 || args.Get("--platform") != "snp")
    return UsageError("igvmtool verify FILE --platform snp [--id-key-digest HEX]");
  const auto order = TRY(ParseVmsaOrder(args));
  std::optional<std::vector<uint8_t>> expected_key;
  if (args.Has("--id-key-digest")) {
    expected_key = igvm::FromHex(args.Get("--id-key-digest"), 48);
    if (!expected_key) return UsageError("--id-key-digest wants 96 hex digits (SHA-384)");
  }
  const IgvmFile file = TRY(LoadImage(args.positional[0]));
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

base::Result<int> Build(const Args& args) {
  if (!args.Has("--manifest") || !args.Has("--output") || !args.positional.empty())
    return UsageError("igvmtool build --manifest FILE.json --output OUT.igvm");
  const IgvmFile file = TRY(igvm::BuildFromManifestFile(args.Get("--manifest")));
  const auto bytes = TRY(igvm::WriteIgvm(file));
  TRY(WriteBytes(args.Get("--output"), bytes));
  return 0;
}

struct Command {
  const char* name;
  base::Result<int> (*run)(const Args&);
  std::set<std::string> value_flags;
  std::set<std::string> switch_flags;
};

const Command kCommands[] = {
    {"dump", Dump, {}, {"--json"}},
    {"measure", Measure, {"--platform", "--vmsa-order"}, {"--json"}},
    {"keygen", Keygen, {"--output"}, {}},
    {"key-digest", KeyDigest, {}, {}},
    {"sign", Sign,
     {"--id-key", "--author-key", "--family-id", "--image-id", "--svn", "--vmsa-order", "--output"},
     {}},
    {"verify", Verify, {"--platform", "--id-key-digest", "--vmsa-order"}, {}},
    {"build", Build, {"--manifest", "--output"}, {}},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: igvmtool dump|measure|keygen|key-digest|sign|verify|build ...\n");
    return kExitUsage;
  }
  const std::string name = argv[1];
  for (const Command& command : kCommands) {
    if (name != command.name) continue;
    auto args = ParseArgs(argc, argv, command.value_flags, command.switch_flags);
    if (!args.ok()) {
      std::fprintf(stderr, "igvmtool %s: %s\n", command.name, args.error().message().c_str());
      return kExitUsage;
    }
    auto result = command.run(*args);
    if (!result.ok()) {
      const std::string& message = result.error().message();
      const bool usage = message.rfind("usage: ", 0) == 0;
      std::fprintf(stderr, "igvmtool %s: %s\n", command.name, message.c_str());
      return usage ? kExitUsage : kExitFailure;
    }
    return *result;
  }
  std::fprintf(stderr, "igvmtool: unknown command '%s'\n", name.c_str());
  return kExitUsage;
}
