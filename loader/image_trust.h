// Whether hcl-loader may run an image: decided before any guest code runs
// or the carrier VM starts (security review 2026-12, findings 4 and 5).
//
// An image is accepted when, in this order:
//   1. its SNP ID block verifies over the launch digest recomputed from
//      the file (igvm::VerifyIdBlock: the ID key's signature over the
//      ID_BLOCK, and the author key's over the ID key when enabled);
//   2. the digest of the ID key, or of the verified author key, is one the
//      loader was told to trust: SHA-384 of the SNP ABI public key, as the
//      attestation report's ID_KEY_DIGEST / AUTHOR_KEY_DIGEST show it (spec
//      digest §3.3). The key in the file proves nothing by itself: anyone
//      can re-sign a modified image with a key of their own;
//   3. the platform binding page under that signature holds the VSM
//      platform's current directive digest (igvm/platform_binding.h), so
//      what the VSM load uses (its VP context, VSM-only pages, memory,
//      parameter areas) is what was signed, not only the SNP platform.
// SignatureCheck::kSkipped (--allow-unsigned, development only) skips all
// three; never the reader's format checks nor the load's own.
//
// Sans I/O except KeyDigestOfPem, which reads a key file.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "digest.h"
#include "file.h"

namespace loader {

enum class SignatureCheck { kRequired, kSkipped };

struct ImageTrust {
  bool signature_checked = false;
  igvm::Sha384Digest launch_digest{};
  igvm::Sha384Digest trusted_key_digest{};  // the trusted key that signed (ID or author)
  igvm::Sha384Digest vsm_directive_digest{};
};

// The error is the refusal, one line.
base::Result<ImageTrust> CheckImageTrust(const igvm::IgvmFile& file,
                                         std::span<const igvm::Sha384Digest> trusted_keys,
                                         SignatureCheck check);

// --trusted-key-digest: exactly 96 hex digits.
base::Result<igvm::Sha384Digest> ParseKeyDigest(std::string_view hex);
// --trusted-key: the digest of the public key in a PEM file (an ECDSA P-384
// private key as `igvmtool keygen` writes it, or its public key).
base::Result<igvm::Sha384Digest> KeyDigestOfPem(const std::string& path);

// The key that signed this build's own image (built into hcl-loader by
// loader/embed-trusted-keys; empty in builds without the image and without
// -Dsigning_key). Defined in builtin_trusted_keys.cpp, linked into
// hcl-loader only.
std::span<const igvm::Sha384Digest> BuiltInTrustedKeys();

}  // namespace loader
