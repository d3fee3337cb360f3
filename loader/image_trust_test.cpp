#include "image_trust.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/le_bytes.h"
#include "platform_binding.h"
#include "reader.h"
#include "snp_id_block.h"
#include "testing/test_images.h"
#include "writer.h"

namespace {

namespace wire = igvm::wire;
using loader::SignatureCheck;

struct Signed {
  igvm::IgvmFile file;
  igvm::EcdsaP384Key key;
};

// A builder-made image signed by a fresh key, through the file format.
Signed SignedSample() {
  auto file = igvm::testing::BuildSampleImage();
  REQUIRE_MESSAGE(file.ok(), file.error().message());
  auto key = igvm::EcdsaP384Key::Generate();
  REQUIRE(key.ok());
  REQUIRE(igvm::testing::SignImage(*file, *key).ok());
  auto reread = igvm::ReadIgvm(igvm::WriteIgvm(*file).value());
  REQUIRE_MESSAGE(reread.ok(), reread.error().message());
  return {std::move(*reread), std::move(*key)};
}

igvm::Sha384Digest DigestOf(const igvm::EcdsaP384Key& key) {
  return igvm::KeyDigest(key.PublicKey());
}

std::string Refusal(const igvm::IgvmFile& file, std::vector<igvm::Sha384Digest> trusted) {
  auto trust = loader::CheckImageTrust(file, trusted, SignatureCheck::kRequired);
  REQUIRE_FALSE(trust.ok());
  const std::string message = trust.error().message();
  CHECK(message.find('\n') == std::string::npos);  // one line
  return message;
}

}  // namespace

TEST_CASE("an image signed by a trusted key, with its VSM directives bound, is accepted") {
  const Signed image = SignedSample();
  const std::vector trusted{DigestOf(image.key)};
  auto trust = loader::CheckImageTrust(image.file, trusted, SignatureCheck::kRequired);
  REQUIRE_MESSAGE(trust.ok(), trust.error().message());
  CHECK(trust->signature_checked);
  CHECK(trust->trusted_key_digest == DigestOf(image.key));
  CHECK(trust->vsm_directive_digest ==
        igvm::DirectiveDigest(image.file, wire::PlatformType::kVsmIsolation).value());
}

TEST_CASE("the tampered-VSM-context image (security review finding 4) is refused") {
  const Signed image = SignedSample();
  auto bytes = igvm::WriteIgvm(image.file).value();
  // poc/tamper_vsm_context.py's edit: the VSM VP context's RIP record.
  const size_t context = igvm::testing::VsmVpContextOffset(bytes).value();
  uint32_t count = 0;
  REQUIRE(base::LoadLe(bytes, context, count));
  for (uint32_t i = 0; i < count; ++i) {
    const size_t record = context + 4 + 32 * size_t{i};
    uint32_t name = 0;
    REQUIRE(base::LoadLe(bytes, record + 1, name));
    if (name == wire::hv_register::kRip)
      REQUIRE(base::StoreLe(bytes, record + 16, uint64_t{0x4141414141414141}));
  }
  const auto tampered = igvm::ReadIgvm(bytes);
  REQUIRE(tampered.ok());
  const std::string refusal = Refusal(*tampered, {DigestOf(image.key)});
  CHECK(refusal.find("platform binding: the vsm directive digest") == 0);
}

TEST_CASE("page data flipped and re-signed: refused unless the new key is trusted") {
  // security review 2026-12, finding 5: flip a byte, keygen, sign.
  const Signed original = SignedSample();
  igvm::IgvmFile modified = original.file;
  for (auto& directive : modified.directives) {
    auto* page = std::get_if<igvm::PageDataDirective>(&directive);
    if (page == nullptr || page->header.compatibility_mask != 7 || page->data.empty()) continue;
    auto data = page->data.ToVector();
    data[0] ^= std::byte{0xFF};
    page->data = data;
    break;
  }
  const std::vector builtin{DigestOf(original.key)};
  // Unsigned again: the old signature no longer matches.
  CHECK(Refusal(modified, builtin).find("signature check failed") == 0);

  auto fresh = igvm::EcdsaP384Key::Generate().value();
  REQUIRE(igvm::testing::SignImage(modified, fresh).ok());  // refreshes the binding too
  const auto resigned = igvm::ReadIgvm(igvm::WriteIgvm(modified).value()).value();
  CHECK(igvm::VerifyIdBlock(resigned, igvm::VmsaOrder::kDirectiveOrder).ok());
  const std::string refusal = Refusal(resigned, builtin);
  CHECK(refusal.find("untrusted signer: the image is signed by ID key " +
                     igvm::ToHex(DigestOf(fresh))) == 0);
  CHECK(Refusal(resigned, {}).find("no key is trusted") != std::string::npos);

  // --trusted-key for the new key: accepted.
  const std::vector trusted{DigestOf(original.key), DigestOf(fresh)};
  auto trust = loader::CheckImageTrust(resigned, trusted, SignatureCheck::kRequired);
  REQUIRE_MESSAGE(trust.ok(), trust.error().message());
  CHECK(trust->trusted_key_digest == DigestOf(fresh));
}

TEST_CASE("an author key the loader trusts vouches for an ID key it does not know") {
  auto file = igvm::testing::BuildSampleImage().value();
  auto id = igvm::EcdsaP384Key::Generate().value();
  auto author = igvm::EcdsaP384Key::Generate().value();
  REQUIRE(igvm::testing::SignImage(file, id, &author).ok());
  auto trust = loader::CheckImageTrust(file, std::vector{DigestOf(author)},
                                       SignatureCheck::kRequired);
  REQUIRE_MESSAGE(trust.ok(), trust.error().message());
  CHECK(trust->trusted_key_digest == DigestOf(author));
  CHECK(Refusal(file, {}).find("(author key " + igvm::ToHex(DigestOf(author)) + ")") !=
        std::string::npos);
}

TEST_CASE("an image without its binding page is refused although its signature verifies") {
  auto file = igvm::testing::BuildSampleImage().value();
  std::erase_if(file.directives, [](const igvm::Directive& directive) {
    const auto* page = std::get_if<igvm::PageDataDirective>(&directive);
    return page != nullptr && page->header.compatibility_mask == 2 && page->data.size() >= 16 &&
           std::memcmp(page->data.data(), igvm::kBindingMagic.data(), 16) == 0;
  });
  auto key = igvm::EcdsaP384Key::Generate().value();
  const auto block = igvm::SignIdBlock(file, key, nullptr, {}, igvm::VmsaOrder::kDirectiveOrder);
  REQUIRE(block.ok());
  igvm::InstallIdBlock(file, *block);
  CHECK(igvm::VerifyIdBlock(file, igvm::VmsaOrder::kDirectiveOrder).ok());
  CHECK(Refusal(file, {DigestOf(key)}).find("platform binding: the image has no platform binding "
                                            "page") == 0);
}

TEST_CASE("--allow-unsigned skips the signature, trust and binding checks") {
  auto file = igvm::testing::BuildSampleImage().value();  // not signed
  CHECK(Refusal(file, {}).find("signature check failed: the image is not signed") == 0);
  auto trust = loader::CheckImageTrust(file, {}, SignatureCheck::kSkipped);
  REQUIRE(trust.ok());
  CHECK_FALSE(trust->signature_checked);
}

TEST_CASE("trusted keys from the command line: digests in hex, keys in PEM files") {
  const std::string hex(96, 'a');
  auto digest = loader::ParseKeyDigest(hex);
  REQUIRE(digest.ok());
  CHECK((*digest)[0] == 0xaa);
  CHECK_FALSE(loader::ParseKeyDigest(std::string(95, 'a')).ok());
  CHECK_FALSE(loader::ParseKeyDigest(std::string(96, 'g')).ok());

  auto key = igvm::EcdsaP384Key::Generate().value();
  const auto path = (std::filesystem::temp_directory_path() /
                     ("image-trust-" + std::to_string(::getpid()) + ".pem"))
                        .string();
  REQUIRE(key.WritePem(path).ok());
  auto from_pem = loader::KeyDigestOfPem(path);
  std::filesystem::remove(path);
  REQUIRE_MESSAGE(from_pem.ok(), from_pem.error().message());
  CHECK(*from_pem == DigestOf(key));
  CHECK_FALSE(loader::KeyDigestOfPem("/nonexistent.pem").ok());
}
