#include "platform_binding.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>
#include <variant>

#include "base/le_bytes.h"

namespace igvm {
namespace {

using wire::HeaderType;
using wire::PlatformType;

// README.md, "Platform binding": the digest's domain string.
constexpr std::string_view kDigestDomain = "hcl-igvm-directive-digest-v1";

template <typename T>
std::span<const std::byte> BytesOf(const T& value) {
  return std::as_bytes(std::span(&value, 1));
}

bool AllZero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// How a header's data enters the digest.
enum class DataForm : uint8_t {
  kNone = 0,   // the header type references no data
  kZeros = 1,  // `length` zero bytes (no data, or all-zero data)
  kBytes = 2,  // `length` bytes, represented by their SHA-384
};

// The digest of one platform: records appended in file order. Data digests
// are cached by the view they come from, so headers that share file bytes
// (the reader's views alias) hash them once.
class DirectiveHasher {
 public:
  DirectiveHasher(wire::Architecture architecture, const wire::SupportedPlatform& platform)
      : bit_(platform.compatibility_mask) {
    hash_.Update(std::as_bytes(std::span(kDigestDomain)));
    U32(static_cast<uint32_t>(architecture));
    U32(platform.compatibility_mask);
    const std::array<uint8_t, 4> type{platform.platform_type, 0, 0, 0};
    hash_.Update(std::as_bytes(std::span(type)));
  }

  bool Applies(uint32_t mask) const { return (mask & bit_) != 0; }

  // A header without data.
  template <typename T>
  void Header(HeaderType type, const T& payload) {
    Record(type, BytesOf(payload));
    hash_.Update(BytesOf(DataForm::kNone));
    U64(0);
  }

  // A header with data, canonically `length` bytes: `data` zero-padded
  // (empty data: all zeros).
  template <typename T>
  base::Result<void> HeaderWithData(HeaderType type, const T& payload,
                                    std::span<const std::byte> data, uint64_t length) {
    if (data.size() > length)
      return base::Error::Format("%s data is %zu bytes, more than its %llu", HeaderTypeName(
                                     static_cast<uint32_t>(type)),
                                 data.size(), static_cast<unsigned long long>(length));
    Record(type, BytesOf(payload));
    const auto [form, digest] = DataDigest(data, length);
    hash_.Update(BytesOf(form));
    U64(length);
    if (form == DataForm::kBytes) hash_.Update(std::as_bytes(std::span(digest)));
    return base::Ok();
  }

  Sha384Digest Finish() { return hash_.Finish(); }

 private:
  void U32(uint32_t value) { hash_.Update(BytesOf(value)); }
  void U64(uint64_t value) { hash_.Update(BytesOf(value)); }

  void Record(HeaderType type, std::span<const std::byte> payload) {
    U32(static_cast<uint32_t>(type));
    U32(static_cast<uint32_t>(payload.size()));
    hash_.Update(payload);
  }

  std::pair<DataForm, Sha384Digest> DataDigest(std::span<const std::byte> data, uint64_t length) {
    const auto key = std::make_tuple(data.data(), data.size(), length);
    if (auto cached = cache_.find(key); cached != cache_.end()) return cached->second;
    std::pair<DataForm, Sha384Digest> result{DataForm::kZeros, {}};
    if (!AllZero(data)) {
      result.first = DataForm::kBytes;
      Sha384 hash;
      hash.Update(data);
      // Zero padding to the canonical length, a page at a time.
      static constexpr std::array<std::byte, wire::kPageSize> kZeros{};
      for (uint64_t left = length - data.size(); left != 0;) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, kZeros.size()));
        hash.Update(std::span(kZeros).first(chunk));
        left -= chunk;
      }
      result.second = hash.Finish();
    }
    cache_.emplace(key, result);
    return result;
  }

  uint32_t bit_;
  Sha384 hash_;
  std::map<std::tuple<const std::byte*, size_t, uint64_t>, std::pair<DataForm, Sha384Digest>>
      cache_;
};

bool IsPagePlatform(PlatformType type) {
  // VP_CONTEXT data is a 4 KiB page everywhere but VSM (spec digest §1.3).
  return type != PlatformType::kVsmIsolation;
}

// One visitor for both header variants: every alternative is handled, so
// a new header kind fails to compile until it is placed in the digest.
class DigestVisitor {
 public:
  DigestVisitor(DirectiveHasher& hasher, PlatformType platform)
      : hasher_(hasher), platform_(platform) {}

  // ---- initialization headers ----
  base::Result<void> operator()(const wire::GuestPolicy& policy) {
    if (hasher_.Applies(policy.compatibility_mask)) hasher_.Header(HeaderType::kGuestPolicy, policy);
    return base::Ok();
  }
  base::Result<void> operator()(const wire::RelocatableRegion& region) {
    if (hasher_.Applies(region.compatibility_mask))
      hasher_.Header(HeaderType::kRelocatableRegion, region);
    return base::Ok();
  }
  base::Result<void> operator()(const wire::PageTableRelocation& region) {
    if (hasher_.Applies(region.compatibility_mask))
      hasher_.Header(HeaderType::kPageTableRelocationRegion, region);
    return base::Ok();
  }
  base::Result<void> operator()(const CorimHeader& corim) {
    // A CoRIM signature signs a measurement; like the ID block it stays
    // outside, so it can be added after the binding.
    if (corim.type != HeaderType::kCorimDocument ||
        !hasher_.Applies(corim.header.compatibility_mask))
      return base::Ok();
    wire::CorimData header = corim.header;  // as the writer writes it
    header.file_offset = 0;
    header.size_bytes = static_cast<uint32_t>(corim.data.size());
    return hasher_.HeaderWithData(corim.type, header, corim.data, corim.data.size());
  }
  base::Result<void> operator()(const wire::CcaPolicy& policy) {
    if (hasher_.Applies(policy.compatibility_mask)) hasher_.Header(HeaderType::kCcaPolicy, policy);
    return base::Ok();
  }

  // ---- directives ----
  base::Result<void> operator()(const PageDataDirective& page) {
    if (!hasher_.Applies(page.header.compatibility_mask)) return base::Ok();
    wire::PageData header = page.header;
    header.file_offset = 0;
    return hasher_.HeaderWithData(HeaderType::kPageData, header, page.data, wire::kPageSize);
  }
  base::Result<void> operator()(const ParameterAreaDirective& area) {
    // Unmasked: applies to every platform (spec digest §1.4).
    wire::ParameterArea header = area.header;
    header.file_offset = 0;
    return hasher_.HeaderWithData(HeaderType::kParameterArea, header, area.initial_data,
                                  header.number_of_bytes);
  }
  base::Result<void> operator()(const wire::ParameterInsert& insert) {
    if (hasher_.Applies(insert.compatibility_mask))
      hasher_.Header(HeaderType::kParameterInsert, insert);
    return base::Ok();
  }
  base::Result<void> operator()(const VpContextDirective& context) {
    if (!hasher_.Applies(context.header.compatibility_mask)) return base::Ok();
    wire::VpContext header = context.header;
    header.file_offset = 0;
    const uint64_t length = IsPagePlatform(platform_) ? wire::kPageSize : context.data.size();
    return hasher_.HeaderWithData(HeaderType::kVpContext, header, context.data, length);
  }
  base::Result<void> operator()(const wire::RequiredMemory& memory) {
    if (hasher_.Applies(memory.compatibility_mask))
      hasher_.Header(HeaderType::kRequiredMemory, memory);
    return base::Ok();
  }
  base::Result<void> operator()(const ParameterUsage& usage) {
    hasher_.Header(usage.type, usage.header);  // unmasked, like the area
    return base::Ok();
  }
  base::Result<void> operator()(const wire::ErrorRange& range) {
    if (hasher_.Applies(range.compatibility_mask)) hasher_.Header(HeaderType::kErrorRange, range);
    return base::Ok();
  }
  // Signatures over measurements: outside what they sign.
  base::Result<void> operator()(const SnpIdBlockDirective&) { return base::Ok(); }
  base::Result<void> operator()(const VbsMeasurementDirective&) { return base::Ok(); }

 private:
  DirectiveHasher& hasher_;
  PlatformType platform_;
};

base::Result<wire::SupportedPlatform> FindPlatform(const IgvmFile& file, PlatformType type) {
  auto platform = file.Platform(type);
  if (!platform)
    return base::Error::Format("the image has no %s platform",
                               PlatformName(static_cast<uint8_t>(type)));
  return *platform;
}

// The platforms a binding page carries digests for, in this order.
constexpr PlatformType kBoundPlatforms[] = {PlatformType::kVsmIsolation, PlatformType::kTdx};

bool IsBindingData(std::span<const std::byte> data) {
  return data.size() >= kBindingMagic.size() &&
         std::equal(kBindingMagic.begin(), kBindingMagic.end(), data.begin(),
                    [](char magic, std::byte byte) { return std::byte(magic) == byte; });
}

// The SNP platform's page data that carries the binding magic. Any such
// page must be measured by SNP (a NORMAL page with its contents in the
// launch digest, spec digest §3.2): an unmeasured one could say anything.
base::Result<std::vector<const PageDataDirective*>> BindingPages(const IgvmFile& file) {
  const auto snp = TRY(FindPlatform(file, PlatformType::kSevSnp));
  std::vector<const PageDataDirective*> pages;
  for (const auto& directive : file.directives) {
    const auto* page = std::get_if<PageDataDirective>(&directive);
    if (page == nullptr || (page->header.compatibility_mask & snp.compatibility_mask) == 0 ||
        !IsBindingData(page->data))
      continue;
    if ((page->header.flags & (wire::kPageDataUnmeasured | wire::kPageDataShared)) != 0 ||
        page->header.data_type != static_cast<uint16_t>(wire::PageDataType::kNormal))
      return base::Error::Format("the platform binding page at gpa %#llx is not measured by SEV-SNP",
                                 static_cast<unsigned long long>(page->header.gpa));
    pages.push_back(page);
  }
  return pages;
}

base::Result<const PageDataDirective*> TheBindingPage(const IgvmFile& file) {
  const auto pages = TRY(BindingPages(file));
  if (pages.empty())
    return base::Error("the image has no platform binding page (SNP page data binding the "
                       "other platforms' directives to the signature)");
  if (pages.size() > 1)
    return base::Error::Format("the image has %zu platform binding pages (one is allowed)",
                               pages.size());
  return pages.front();
}

}  // namespace

base::Result<Sha384Digest> DirectiveDigest(const IgvmFile& file, PlatformType platform) {
  const auto header = TRY(FindPlatform(file, platform));
  DirectiveHasher hasher(file.architecture, header);
  // File order: the platform's own header, initialization, directives
  // (the reader enforces the sections' order, so the model keeps it).
  hasher.Header(HeaderType::kSupportedPlatform, header);
  DigestVisitor visitor(hasher, platform);
  for (const auto& init : file.initialization) TRY(std::visit(visitor, init));
  for (const auto& directive : file.directives) TRY(std::visit(visitor, directive));
  return hasher.Finish();
}

bool NeedsBinding(const IgvmFile& file) {
  if (!file.Platform(PlatformType::kSevSnp)) return false;
  return std::any_of(std::begin(kBoundPlatforms), std::end(kBoundPlatforms),
                     [&](PlatformType type) { return file.Platform(type).has_value(); });
}

base::Result<std::vector<std::byte>> MakeBindingPage(const IgvmFile& file) {
  if (!NeedsBinding(file))
    return base::Error("a platform binding needs an SNP platform and a VSM or TDX platform");
  std::vector<std::byte> page(wire::kPageSize);
  std::transform(kBindingMagic.begin(), kBindingMagic.end(), page.begin(),
                 [](char c) { return std::byte(c); });
  uint32_t count = 0;
  for (PlatformType type : kBoundPlatforms) {
    const auto platform = file.Platform(type);
    if (!platform) continue;
    const Sha384Digest digest = TRY(DirectiveDigest(file, type));
    const size_t at = kBindingHeaderBytes + count * kBindingEntryBytes;
    (void)base::StoreLe(page, at, platform->compatibility_mask);
    page[at + 4] = std::byte{platform->platform_type};
    std::transform(digest.begin(), digest.end(), page.begin() + static_cast<long>(at + 16),
                   [](uint8_t b) { return std::byte{b}; });
    ++count;
  }
  (void)base::StoreLe(page, 16, kBindingVersion);
  (void)base::StoreLe(page, 20, count);
  return page;
}

base::Result<std::vector<BindingEntry>> ParseBindingPage(std::span<const std::byte> data) {
  if (data.size() > wire::kPageSize) return base::Error("binding page data is larger than a page");
  std::array<std::byte, wire::kPageSize> page{};
  std::copy(data.begin(), data.end(), page.begin());
  const std::span<const std::byte> bytes(page);
  if (!IsBindingData(bytes)) return base::Error("not a platform binding page (bad magic)");
  uint32_t version = 0, count = 0;
  uint64_t reserved = 0;
  if (!base::LoadLe(bytes, 16, version) || !base::LoadLe(bytes, 20, count) ||
      !base::LoadLe(bytes, 24, reserved))
    return base::Error("binding page header does not fit");
  if (version != kBindingVersion)
    return base::Error::Format("binding page version %u (expected %u)", version, kBindingVersion);
  if (count == 0 || count > kMaxBindingEntries)
    return base::Error::Format("binding page has %u entries (1..%u)", count, kMaxBindingEntries);
  if (reserved != 0) return base::Error("binding page reserved field is not 0");
  std::vector<BindingEntry> entries;
  for (uint32_t i = 0; i < count; ++i) {
    const auto entry = bytes.subspan(kBindingHeaderBytes + i * kBindingEntryBytes, kBindingEntryBytes);
    BindingEntry parsed;
    if (!base::LoadLe(entry, 0, parsed.compatibility_mask))
      return base::Error("binding entry does not fit");
    parsed.platform_type = static_cast<uint8_t>(entry[4]);
    if (!AllZero(entry.subspan(5, 11)))
      return base::Error::Format("binding entry %u has nonzero reserved bytes", i);
    std::transform(entry.begin() + 16, entry.end(), parsed.digest.begin(),
                   [](std::byte b) { return std::to_integer<uint8_t>(b); });
    for (const BindingEntry& earlier : entries)
      if (earlier.platform_type == parsed.platform_type)
        return base::Error::Format("binding page names platform %s twice",
                                   PlatformName(parsed.platform_type));
    entries.push_back(parsed);
  }
  if (!AllZero(bytes.subspan(kBindingHeaderBytes + count * kBindingEntryBytes)))
    return base::Error("binding page has nonzero bytes after its entries");
  return entries;
}

base::Result<void> RefreshBinding(IgvmFile& file) {
  const PageDataDirective* found = TRY(TheBindingPage(file));
  // The page is SNP page data, so it is in no bound platform's digest
  // unless its mask also names one, which no digest could then match.
  auto page = TRY(MakeBindingPage(file));
  for (auto& directive : file.directives)
    if (auto* candidate = std::get_if<PageDataDirective>(&directive); candidate == found)
      candidate->data = std::move(page);
  return base::Ok();
}

base::Result<BindingCheck> VerifyBinding(const IgvmFile& file, PlatformType platform) {
  const auto header = TRY(FindPlatform(file, platform));
  const PageDataDirective* page = TRY(TheBindingPage(file));
  const auto entries = TRY(ParseBindingPage(page->data));
  const BindingEntry* entry = nullptr;
  for (const BindingEntry& candidate : entries)
    if (candidate.platform_type == header.platform_type) entry = &candidate;
  if (entry == nullptr)
    return base::Error::Format("the platform binding has no entry for %s",
                               PlatformName(header.platform_type));
  if (entry->compatibility_mask != header.compatibility_mask)
    return base::Error::Format("the platform binding names %s as mask %#x, the image as %#x",
                               PlatformName(header.platform_type), entry->compatibility_mask,
                               header.compatibility_mask);
  BindingCheck check;
  check.page_gpa = page->header.gpa;
  check.digest = TRY(DirectiveDigest(file, platform));
  if (check.digest != entry->digest)
    return base::Error("the " + std::string(PlatformName(header.platform_type)) +
                       " directive digest " + ToHex(check.digest) + " does not match the bound " +
                       ToHex(entry->digest) + ": the image changed after it was signed");
  return check;
}

}  // namespace igvm
