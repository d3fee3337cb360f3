#include "snp_id_block.h"

#include <cstring>

namespace igvm {
namespace {

constexpr uint32_t kAlgorithmEcdsaP384Sha384 = 1;

base::Result<uint32_t> SnpMask(const IgvmFile& file) {
  auto platform = file.Platform(wire::PlatformType::kSevSnp);
  if (!platform) return base::Error("the image has no sev-snp platform");
  return platform->compatibility_mask;
}

FirmwareIdBlock MakeFirmwareIdBlock(const Sha384Digest& ld, const wire::SnpIdBlock& block,
                                    uint64_t policy) {
  FirmwareIdBlock firmware{};
  std::memcpy(firmware.ld, ld.data(), 48);
  std::memcpy(firmware.family_id, block.family_id, 16);
  std::memcpy(firmware.image_id, block.image_id, 16);
  firmware.version = 1;  // the only ID block version (QEMU forces it too)
  firmware.guest_svn = block.guest_svn;
  firmware.policy = policy;
  return firmware;
}

}  // namespace

FirmwarePublicKey ToFirmwarePublicKey(const wire::SnpPublicKey& key) {
  FirmwarePublicKey out{};
  std::memcpy(out.data(), &key.curve, 4);
  std::memcpy(out.data() + 4, key.qx, sizeof key.qx);
  std::memcpy(out.data() + 4 + sizeof key.qx, key.qy, sizeof key.qy);
  return out;
}

Sha384Digest KeyDigest(const wire::SnpPublicKey& key) {
  return Sha384Of(ToFirmwarePublicKey(key));
}

base::Result<wire::SnpIdBlock> SignIdBlock(const IgvmFile& file, const EcdsaP384Key& id_key,
                                           const EcdsaP384Key* author_key,
                                           const IdBlockIdentity& identity, VmsaOrder order) {
  const uint32_t mask = TRY(SnpMask(file));
  const SnpMeasurement measurement = TRY(MeasureSnp(file, order));
  const uint64_t policy = TRY(SnpPolicy(file));

  wire::SnpIdBlock block{};
  block.compatibility_mask = mask;
  std::memcpy(block.ld, measurement.launch_digest.data(), 48);
  std::memcpy(block.family_id, identity.family_id.data(), 16);
  std::memcpy(block.image_id, identity.image_id.data(), 16);
  block.version = 1;
  block.guest_svn = identity.guest_svn;
  block.id_key_algorithm = kAlgorithmEcdsaP384Sha384;
  block.id_public_key = id_key.PublicKey();

  const FirmwareIdBlock firmware = MakeFirmwareIdBlock(measurement.launch_digest, block, policy);
  block.id_key_signature = TRY(id_key.Sign(std::as_bytes(std::span(&firmware, 1))));
  if (author_key) {
    block.author_key_enabled = 1;
    block.author_key_algorithm = kAlgorithmEcdsaP384Sha384;
    block.author_public_key = author_key->PublicKey();
    block.author_key_signature = TRY(author_key->Sign(ToFirmwarePublicKey(block.id_public_key)));
  }
  return block;
}

void InstallIdBlock(IgvmFile& file, const wire::SnpIdBlock& block) {
  for (auto& directive : file.directives) {
    if (auto* existing = std::get_if<SnpIdBlockDirective>(&directive);
        existing && ((*existing)->compatibility_mask & block.compatibility_mask)) {
      **existing = block;
      return;
    }
  }
  file.directives.emplace_back(block);
}

base::Result<IdBlockCheck> VerifyIdBlock(const IgvmFile& file, VmsaOrder order) {
  const uint32_t mask = TRY(SnpMask(file));
  const wire::SnpIdBlock* block = nullptr;
  for (const auto& directive : file.directives)
    if (const auto* candidate = std::get_if<SnpIdBlockDirective>(&directive))
      if ((*candidate)->compatibility_mask & mask) block = &**candidate;
  if (!block) return base::Error("the image is not signed: it has no SNP_ID_BLOCK");

  IdBlockCheck check;
  check.launch_digest = TRY(MeasureSnp(file, order)).launch_digest;
  if (std::memcmp(block->ld, check.launch_digest.data(), 48) != 0)
    return base::Error("the ID block's launch digest " +
                       ToHex(std::span<const uint8_t>(block->ld, 48)) +
                       " does not match the image's " + ToHex(check.launch_digest));
  if (block->id_key_algorithm != kAlgorithmEcdsaP384Sha384)
    return base::Error::Format("unsupported ID key algorithm %u", block->id_key_algorithm);
  const uint64_t policy = TRY(SnpPolicy(file));
  const FirmwareIdBlock firmware = MakeFirmwareIdBlock(check.launch_digest, *block, policy);
  if (auto ok = VerifyP384(block->id_public_key, std::as_bytes(std::span(&firmware, 1)),
                           block->id_key_signature);
      !ok.ok())
    return std::move(ok).error().Context("ID block signature");
  check.id_key_digest = KeyDigest(block->id_public_key);

  if (block->author_key_enabled) {
    if (block->author_key_algorithm != kAlgorithmEcdsaP384Sha384)
      return base::Error::Format("unsupported author key algorithm %u",
                                 block->author_key_algorithm);
    if (auto ok = VerifyP384(block->author_public_key,
                             ToFirmwarePublicKey(block->id_public_key),
                             block->author_key_signature);
        !ok.ok())
      return std::move(ok).error().Context("author signature over the ID key");
    check.author_key_digest = KeyDigest(block->author_public_key);
  }
  return check;
}

base::Result<SnpLaunchIdentity> ExpectedSnpLaunch(const IgvmFile& file, VmsaOrder order) {
  SnpLaunchIdentity identity;
  if (auto checked = VerifyIdBlock(file, order)) {
    identity.launch_digest = checked->launch_digest;
    identity.id_block = *checked;
    return identity;
  }
  identity.launch_digest = TRY(MeasureSnp(file, order)).launch_digest;
  return identity;
}

}  // namespace igvm
