#include "platform_binding.h"

#include <doctest/doctest.h>

#include <cstring>

#include "base/le_bytes.h"
#include "reader.h"
#include "snp_id_block.h"
#include "testing/test_images.h"
#include "writer.h"

namespace {

using namespace igvm;
using wire::PlatformType;

IgvmFile Sample() {
  auto built = testing::BuildSampleImage();
  REQUIRE_MESSAGE(built.ok(), built.error().message());
  return std::move(*built);
}

IgvmFile RoundTrip(const IgvmFile& file) {
  auto bytes = WriteIgvm(file);
  REQUIRE_MESSAGE(bytes.ok(), bytes.error().message());
  auto read = ReadIgvm(*bytes);
  REQUIRE_MESSAGE(read.ok(), read.error().message());
  return std::move(*read);
}

size_t BindingPageIndex(const IgvmFile& file) {
  for (size_t i = 0; i < file.directives.size(); ++i)
    if (const auto* page = std::get_if<PageDataDirective>(&file.directives[i]))
      if (page->data.size() >= 16 && std::memcmp(page->data.data(), kBindingMagic.data(), 16) == 0)
        return i;
  FAIL("no binding page");
  return 0;
}

}  // namespace

TEST_CASE("the builder binds the VSM and TDX directives in an SNP-only page before the VMSA") {
  const IgvmFile file = Sample();
  const size_t index = BindingPageIndex(file);
  const auto& page = std::get<PageDataDirective>(file.directives[index]);
  CHECK(page.header.compatibility_mask == 2);  // SNP only
  CHECK(page.header.gpa == testing::kSampleVtl2Base + 0x12000);
  // The SNP VMSA is still the last SNP directive (both VMSA orders agree).
  const auto* vmsa = std::get_if<VpContextDirective>(&file.directives.back());
  REQUIRE(vmsa != nullptr);
  CHECK(vmsa->header.compatibility_mask == 2);

  const auto entries = ParseBindingPage(page.data);
  REQUIRE_MESSAGE(entries.ok(), entries.error().message());
  REQUIRE(entries->size() == 2);
  CHECK((*entries)[0].platform_type == static_cast<uint8_t>(PlatformType::kVsmIsolation));
  CHECK((*entries)[0].compatibility_mask == 1);
  CHECK((*entries)[0].digest == DirectiveDigest(file, PlatformType::kVsmIsolation).value());
  CHECK((*entries)[1].platform_type == static_cast<uint8_t>(PlatformType::kTdx));
  CHECK((*entries)[1].digest == DirectiveDigest(file, PlatformType::kTdx).value());
  CHECK(VerifyBinding(file, PlatformType::kVsmIsolation).ok());
  CHECK(VerifyBinding(file, PlatformType::kTdx).ok());
}

TEST_CASE("directive digests survive writing, reading and signing, and differ per platform") {
  IgvmFile file = Sample();
  const auto vsm = DirectiveDigest(file, PlatformType::kVsmIsolation).value();
  const auto tdx = DirectiveDigest(file, PlatformType::kTdx).value();
  CHECK(vsm != tdx);
  // The builder's short pages and vectors against the reader's padded
  // pages and views into the file: the same digest.
  const IgvmFile reread = RoundTrip(file);
  CHECK(DirectiveDigest(reread, PlatformType::kVsmIsolation).value() == vsm);
  CHECK(DirectiveDigest(reread, PlatformType::kTdx).value() == tdx);
  // Signing adds an SNP-only ID block and refreshes an SNP-only page.
  auto key = EcdsaP384Key::Generate().value();
  REQUIRE(testing::SignImage(file, key).ok());
  const IgvmFile signed_image = RoundTrip(file);
  CHECK(DirectiveDigest(signed_image, PlatformType::kVsmIsolation).value() == vsm);
  CHECK(VerifyIdBlock(signed_image, VmsaOrder::kDirectiveOrder).ok());
  CHECK(VerifyBinding(signed_image, PlatformType::kVsmIsolation).ok());
  // The SNP platform itself has a digest too (the binding carries none).
  CHECK(DirectiveDigest(file, PlatformType::kSevSnp).ok());
  CHECK_FALSE(DirectiveDigest(file, PlatformType::kCca).ok());
}

TEST_CASE("every VSM-applicable header is in the VSM digest; SNP-only ones are not") {
  const IgvmFile file = Sample();
  const auto vsm = DirectiveDigest(file, PlatformType::kVsmIsolation).value();
  auto changed = [&](auto edit) {
    IgvmFile copy = file;
    edit(copy);
    return DirectiveDigest(copy, PlatformType::kVsmIsolation).value() != vsm;
  };
  for (size_t i = 0; i < file.directives.size(); ++i) {
    CAPTURE(i);
    if (auto* page = std::get_if<PageDataDirective>(&file.directives[i])) {
      const bool vsm_page = (page->header.compatibility_mask & 1) != 0;
      CHECK(changed([&](IgvmFile& f) {
              std::get<PageDataDirective>(f.directives[i]).header.gpa ^= 0x1000;
            }) == vsm_page);
      CHECK(changed([&](IgvmFile& f) {
              auto& data = std::get<PageDataDirective>(f.directives[i]).data;
              auto bytes = data.ToVector();
              bytes.resize(wire::kPageSize);
              bytes[17] ^= std::byte{1};
              data = bytes;
            }) == vsm_page);
    } else if (std::holds_alternative<ParameterUsage>(file.directives[i])) {
      CHECK(changed([&](IgvmFile& f) {
        std::get<ParameterUsage>(f.directives[i]).header.byte_offset += 8;
      }));
    } else if (std::holds_alternative<wire::RequiredMemory>(file.directives[i])) {
      CHECK(changed([&](IgvmFile& f) {
        std::get<wire::RequiredMemory>(f.directives[i]).number_of_bytes += 0x1000;
      }));
    } else if (std::holds_alternative<wire::ParameterInsert>(file.directives[i])) {
      CHECK(changed([&](IgvmFile& f) {
        std::get<wire::ParameterInsert>(f.directives[i]).gpa += 0x1000;
      }));
    }
  }
  // The VSM platform header (highest VTL), an added unmasked area.
  CHECK(changed([](IgvmFile& f) { f.platforms[0].highest_vtl = 0; }));
  CHECK(changed([](IgvmFile& f) {
    f.directives.emplace_back(ParameterAreaDirective{{0x1000, 9, 0}, {}});
  }));
  // An added SNP ID block or VBS measurement is outside (signatures).
  CHECK_FALSE(changed([](IgvmFile& f) { f.directives.emplace_back(wire::SnpIdBlock{}); }));
}

TEST_CASE("the poc's edit of the VSM VP context is caught by the binding, not the ID block") {
  // security review 2026-12, finding 4 (poc/tamper_vsm_context.py), in C++
  // on a builder-made signed image: RIP in the VSM register list.
  IgvmFile file = Sample();
  auto key = EcdsaP384Key::Generate().value();
  REQUIRE(testing::SignImage(file, key).ok());
  auto bytes = WriteIgvm(file).value();
  const size_t context = testing::VsmVpContextOffset(bytes).value();
  uint32_t count = 0;
  REQUIRE(base::LoadLe(bytes, context, count));
  bool edited = false;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t record = context + 4 + 32 * size_t{i};
    uint32_t name = 0;
    REQUIRE(base::LoadLe(bytes, record + 1, name));
    if (name != wire::hv_register::kRip) continue;
    REQUIRE(base::StoreLe(bytes, record + 16, uint64_t{0x4141414141414141}));
    edited = true;
  }
  REQUIRE(edited);
  const auto tampered = ReadIgvm(bytes);
  REQUIRE_MESSAGE(tampered.ok(), tampered.error().message());  // the CRC does not cover data
  CHECK(VerifyIdBlock(*tampered, VmsaOrder::kDirectiveOrder).ok());  // the gap it exploited
  const auto binding = VerifyBinding(*tampered, PlatformType::kVsmIsolation);
  REQUIRE_FALSE(binding.ok());
  CHECK(binding.error().message().find("vsm directive digest") != std::string::npos);
  CHECK(binding.error().message().find("does not match the bound") != std::string::npos);
}

TEST_CASE("a binding page must be there, once, measured and well formed") {
  const IgvmFile file = Sample();
  const size_t index = BindingPageIndex(file);
  SUBCASE("missing") {
    IgvmFile copy = file;
    copy.directives.erase(copy.directives.begin() + static_cast<long>(index));
    CHECK(VerifyBinding(copy, PlatformType::kVsmIsolation).error().message().find(
              "the image has no platform binding page") == 0);
    CHECK_FALSE(RefreshBinding(copy).ok());
  }
  SUBCASE("twice") {
    IgvmFile copy = file;
    auto second = std::get<PageDataDirective>(copy.directives[index]);
    second.header.gpa += 0x1000;
    copy.directives.insert(copy.directives.begin() + static_cast<long>(index), second);
    CHECK(VerifyBinding(copy, PlatformType::kVsmIsolation).error().message() ==
          "the image has 2 platform binding pages (one is allowed)");
  }
  SUBCASE("unmeasured") {
    IgvmFile copy = file;
    std::get<PageDataDirective>(copy.directives[index]).header.flags = wire::kPageDataUnmeasured;
    CHECK(VerifyBinding(copy, PlatformType::kVsmIsolation).error().message().find(
              "is not measured by SEV-SNP") != std::string::npos);
  }
  SUBCASE("a VSM-only page with the magic is not a binding page (and changes the digest)") {
    IgvmFile copy = file;
    auto fake = std::get<PageDataDirective>(copy.directives[index]);
    fake.header.compatibility_mask = 1;
    fake.header.gpa += 0x1000;
    copy.directives.insert(copy.directives.begin() + static_cast<long>(index), fake);
    CHECK(VerifyBinding(copy, PlatformType::kVsmIsolation).error().message().find(
              "does not match") != std::string::npos);
  }
  SUBCASE("layout checks") {
    auto page = MakeBindingPage(file).value();
    CHECK(ParseBindingPage(page).ok());
    auto bad = page;
    bad[0x20 + 5] = std::byte{1};  // entry reserved
    CHECK_FALSE(ParseBindingPage(bad).ok());
    bad = page;
    bad[0xFFF] = std::byte{1};  // after the entries
    CHECK_FALSE(ParseBindingPage(bad).ok());
    bad = page;
    bad[16] = std::byte{2};  // version
    CHECK_FALSE(ParseBindingPage(bad).ok());
    bad = page;
    bad[20] = std::byte{9};  // entry count
    CHECK_FALSE(ParseBindingPage(bad).ok());
    bad = page;
    std::memcpy(bad.data() + 0x60, bad.data() + 0x20, 0x40);  // VSM twice
    CHECK_FALSE(ParseBindingPage(bad).ok());
  }
}
