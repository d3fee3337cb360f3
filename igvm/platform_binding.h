// Platform binding: the SNP signature covers what runs on every platform.
//
// The SNP ID block signs the SEV-SNP launch digest, which covers only the
// directives masked for SNP (spec digest §3.2): the VSM platform's own
// VP_CONTEXT, VSM-only PAGE_DATA, REQUIRED_MEMORY and the parameter areas
// are outside it (security review 2026-12, finding 4). So an image that
// also serves VSM (or TDX) carries one *binding page*: PAGE_DATA masked
// for SNP only, hence measured into the launch digest the ID block signs,
// that holds the *directive digest* of each of those other platforms. A
// loader of the VSM platform verifies the ID block, then recomputes the
// VSM directive digest and compares it with the bound one: an edit to
// anything VSM loads breaks either the launch digest or the binding.
//
// Both definitions (the digest and the page layout) are ours; igvm/README.md
// ("Platform binding") states them byte by byte. This module does not
// verify the ID block (snp_id_block.h) or decide which keys to trust (the
// loader's image_trust.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "digest.h"
#include "file.h"

namespace igvm {

// Page layout (little-endian): magic[16], u32 version, u32 entry_count,
// u64 reserved (0); then entry_count 64-byte entries {u32 compatibility_mask,
// u8 platform_type, u8 reserved[11] (0), u8 directive_digest[48]}; then
// zeros to the end of the 4096-byte page.
inline constexpr std::array<char, 16> kBindingMagic = {'H', 'C', 'L', ' ', 'I', 'G', 'V', 'M',
                                                       ' ', 'B', 'I', 'N', 'D', 'I', 'N', 'G'};
inline constexpr uint32_t kBindingVersion = 1;
inline constexpr size_t kBindingHeaderBytes = 0x20;
inline constexpr size_t kBindingEntryBytes = 0x40;
inline constexpr uint32_t kMaxBindingEntries = 8;

// The directive digest of one platform of `file` (SHA-384; README.md):
// every header that applies to the platform, in file order, with its data.
base::Result<Sha384Digest> DirectiveDigest(const IgvmFile& file, wire::PlatformType platform);

struct BindingEntry {
  uint32_t compatibility_mask = 0;
  uint8_t platform_type = 0;
  Sha384Digest digest{};
};

// Whether `file` has an SNP platform to carry a binding and VSM or TDX
// platforms to bind.
bool NeedsBinding(const IgvmFile& file);

// A binding page for `file`'s current directives: one entry for each of its
// VSM and TDX platforms.
base::Result<std::vector<std::byte>> MakeBindingPage(const IgvmFile& file);

// Parses and checks a binding page (as loaded: data shorter than a page is
// zero-padded).
base::Result<std::vector<BindingEntry>> ParseBindingPage(std::span<const std::byte> page);

// Rewrites the contents of `file`'s one binding page for its current
// directives (igvmtool sign: the signer vouches for every platform). Only
// SNP-only page data changes, so no directive digest does.
base::Result<void> RefreshBinding(IgvmFile& file);

struct BindingCheck {
  uint64_t page_gpa = 0;
  Sha384Digest digest{};  // the platform's directive digest, equal to the bound one
};

// Finds the one binding page among the SNP platform's measured page data
// and checks that it holds `platform`'s current directive digest. Refuses
// a missing page, two pages, an unmeasured page with the magic, a page
// without an entry for `platform`, and a mismatch.
base::Result<BindingCheck> VerifyBinding(const IgvmFile& file, wire::PlatformType platform);

}  // namespace igvm
