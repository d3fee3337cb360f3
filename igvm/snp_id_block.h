// SEV-SNP ID block and ID authentication (SNP ABI, SNP_LAUNCH_FINISH; spec
// digest §3.3), carried in an IGVM SNP_ID_BLOCK header.
//
// The ID key signs the 96-byte ID_BLOCK (launch digest, family and image
// IDs, SVN, policy); an optional author key signs the ID key. The guest's
// attestation report then names SHA-384 of the ID key (ID_KEY_DIGEST).
#pragma once

#include <array>
#include <optional>

#include "base/result.h"
#include "digest.h"
#include "file.h"
#include "measure.h"
#include "signing_key.h"

namespace igvm {

// The firmware's ID_BLOCK: exactly what the ID key signs.
struct FirmwareIdBlock {
  uint8_t ld[48];
  uint8_t family_id[16];
  uint8_t image_id[16];
  uint32_t version;  // 1
  uint32_t guest_svn;
  uint64_t policy;
};
static_assert(sizeof(FirmwareIdBlock) == 96);

// The firmware's 0x404-byte public key: curve, then Qx, Qy (72 bytes each,
// little-endian). The IGVM form carries an extra reserved word after curve.
using FirmwarePublicKey = std::array<std::byte, 0x404>;
FirmwarePublicKey ToFirmwarePublicKey(const wire::SnpPublicKey& key);
// ID_KEY_DIGEST / AUTHOR_KEY_DIGEST as the attestation report shows them.
Sha384Digest KeyDigest(const wire::SnpPublicKey& key);

struct IdBlockIdentity {
  std::array<uint8_t, 16> family_id{};
  std::array<uint8_t, 16> image_id{};
  uint32_t guest_svn = 0;
};

// Measures the SNP platform of `file` and returns a signed ID block for it.
base::Result<wire::SnpIdBlock> SignIdBlock(const IgvmFile& file, const EcdsaP384Key& id_key,
                                           const EcdsaP384Key* author_key,
                                           const IdBlockIdentity& identity, VmsaOrder order);

// Replaces the file's SNP ID block, or appends one after every directive.
void InstallIdBlock(IgvmFile& file, const wire::SnpIdBlock& block);

struct IdBlockCheck {
  Sha384Digest launch_digest{};
  Sha384Digest id_key_digest{};
  std::optional<Sha384Digest> author_key_digest;
};

// Recomputes the launch digest and checks the ID block against it: digest
// equal, ID signature valid over the ID_BLOCK the firmware will build, and
// the author signature over the ID key if one is enabled.
base::Result<IdBlockCheck> VerifyIdBlock(const IgvmFile& file, VmsaOrder order);

// What an SEV-SNP report of this image's launch carries: MEASUREMENT (the
// launch digest) and, if the image has a valid ID block, ID_KEY_DIGEST and
// AUTHOR_KEY_DIGEST (tpm-attestation.md §6.2). A verifier checks a report
// against it; hcl-loader's emulated report is made from it.
struct SnpLaunchIdentity {
  Sha384Digest launch_digest{};
  std::optional<IdBlockCheck> id_block;  // empty: unsigned, or its block does not verify
};
base::Result<SnpLaunchIdentity> ExpectedSnpLaunch(const IgvmFile& file, VmsaOrder order);

}  // namespace igvm
