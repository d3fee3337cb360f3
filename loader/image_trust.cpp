#include "image_trust.h"

#include <algorithm>

#include "measure.h"
#include "platform_binding.h"
#include "signing_key.h"
#include "snp_id_block.h"

namespace loader {
namespace {

bool Contains(std::span<const igvm::Sha384Digest> keys, const igvm::Sha384Digest& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

base::Result<ImageTrust> CheckImageTrust(const igvm::IgvmFile& file,
                                         std::span<const igvm::Sha384Digest> trusted_keys,
                                         SignatureCheck check) {
  ImageTrust trust;
  if (check == SignatureCheck::kSkipped) return trust;

  // 1. The signature over the SNP launch digest (Hyper-V order: where each
  // VMSA's directive is; our builder's images measure the same either way).
  auto id_block = igvm::VerifyIdBlock(file, igvm::VmsaOrder::kDirectiveOrder);
  if (!id_block) return std::move(id_block).error().Context("signature check failed");
  trust.launch_digest = id_block->launch_digest;

  // 2. By a key we trust.
  if (Contains(trusted_keys, id_block->id_key_digest)) {
    trust.trusted_key_digest = id_block->id_key_digest;
  } else if (id_block->author_key_digest && Contains(trusted_keys, *id_block->author_key_digest)) {
    trust.trusted_key_digest = *id_block->author_key_digest;
  } else {
    std::string signer = "ID key " + igvm::ToHex(id_block->id_key_digest);
    if (id_block->author_key_digest)
      signer += " (author key " + igvm::ToHex(*id_block->author_key_digest) + ")";
    return base::Error(
        "untrusted signer: the image is signed by " + signer + ", which is not trusted (" +
        (trusted_keys.empty() ? std::string("no key is trusted")
                              : std::to_string(trusted_keys.size()) + " trusted key(s)") +
        "; see --trusted-key, --trusted-key-digest)");
  }

  // 3. Everything the VSM platform loads is under that signature.
  auto binding = igvm::VerifyBinding(file, igvm::wire::PlatformType::kVsmIsolation);
  if (!binding) return std::move(binding).error().Context("platform binding");
  trust.vsm_directive_digest = binding->digest;
  trust.signature_checked = true;
  return trust;
}

base::Result<igvm::Sha384Digest> ParseKeyDigest(std::string_view hex) {
  auto bytes = igvm::FromHex(hex, 48);
  if (!bytes)
    return base::Error("a key digest is 96 hex digits (SHA-384 of the SNP public key), not '" +
                       std::string(hex.substr(0, 100)) + "'");
  igvm::Sha384Digest digest;
  std::copy(bytes->begin(), bytes->end(), digest.begin());
  return digest;
}

base::Result<igvm::Sha384Digest> KeyDigestOfPem(const std::string& path) {
  return igvm::KeyDigest(TRY(igvm::LoadPublicKeyPem(path)));
}

}  // namespace loader
