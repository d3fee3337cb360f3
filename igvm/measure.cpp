#include "measure.h"

#include <cstring>
#include <map>

namespace igvm {
namespace {

using wire::PlatformType;

base::Result<uint32_t> MaskFor(const IgvmFile& file, PlatformType type) {
  auto platform = file.Platform(type);
  if (!platform)
    return base::Error::Format("the image has no %s platform",
                               PlatformName(static_cast<uint8_t>(type)));
  return platform->compatibility_mask;
}

// Parameter area sizes by index, for PARAMETER_INSERT.
std::map<uint32_t, uint64_t> AreaSizes(const IgvmFile& file) {
  std::map<uint32_t, uint64_t> sizes;
  for (const auto& directive : file.directives)
    if (const auto* area = std::get_if<ParameterAreaDirective>(&directive))
      sizes[area->header.parameter_area_index] = area->header.number_of_bytes;
  return sizes;
}

// A page's bytes as loaded: the data zero-padded to 4096, or zeros. Full
// pages (the common case) are used in place, without a copy.
class PageContents {
 public:
  explicit PageContents(std::span<const std::byte> data) {
    if (data.size() == wire::kPageSize) {
      view_ = std::span<const std::byte, wire::kPageSize>(data.data(), wire::kPageSize);
    } else {
      // An empty vector's data() may be null, which memcpy must not see.
      if (!data.empty())
        std::memcpy(padded_.data(), data.data(), std::min<size_t>(data.size(), padded_.size()));
      view_ = padded_;
    }
  }
  PageContents(const PageContents&) = delete;  // view_ may point into padded_
  PageContents& operator=(const PageContents&) = delete;
  std::span<const std::byte, wire::kPageSize> bytes() const { return view_; }

 private:
  std::array<std::byte, wire::kPageSize> padded_{};
  std::span<const std::byte, wire::kPageSize> view_{padded_};
};

// ---- SEV-SNP (SNP ABI, SNP_LAUNCH_UPDATE; spec digest §3.1) ----

enum class SnpPageType : uint8_t {
  kNormal = 1,
  kVmsa = 2,
  kZero = 3,
  kUnmeasured = 4,
  kSecrets = 5,
  kCpuid = 6,
};

struct PageInfo {
  uint8_t digest_cur[48];
  uint8_t contents[48];
  uint16_t length;
  uint8_t page_type;
  uint8_t imi_page;
  uint8_t vmpl3_perms;
  uint8_t vmpl2_perms;
  uint8_t vmpl1_perms;
  uint8_t reserved;
  uint64_t gpa;
};
static_assert(sizeof(PageInfo) == 0x70);
static_assert(offsetof(PageInfo, length) == 0x60);
static_assert(offsetof(PageInfo, gpa) == 0x68);

class SnpChain {
 public:
  // contents: SHA-384 of the page for NORMAL and VMSA, zeros otherwise.
  void Update(SnpPageType type, uint64_t gpa, const Sha384Digest* contents) {
    PageInfo info{};
    std::memcpy(info.digest_cur, result_.launch_digest.data(), 48);
    if (contents) std::memcpy(info.contents, contents->data(), 48);
    info.length = sizeof(PageInfo);
    info.page_type = static_cast<uint8_t>(type);
    info.gpa = gpa;
    result_.launch_digest = Sha384Of(std::as_bytes(std::span(&info, 1)));
    ++(contents ? result_.pages_measured : result_.pages_unmeasured);
  }
  SnpMeasurement result() const { return result_; }

 private:
  SnpMeasurement result_;
};

}  // namespace

base::Result<SnpMeasurement> MeasureSnp(const IgvmFile& file, VmsaOrder order) {
  const uint32_t mask = TRY(MaskFor(file, PlatformType::kSevSnp));
  const auto area_sizes = AreaSizes(file);
  SnpChain chain;
  std::vector<const VpContextDirective*> deferred_vmsas;

  auto measure_vmsa = [&](const VpContextDirective& context) {
    const Sha384Digest contents = Sha384Of(PageContents(context.data).bytes());
    chain.Update(SnpPageType::kVmsa, context.header.gpa, &contents);
  };

  for (const auto& directive : file.directives) {
    if (const auto* page = std::get_if<PageDataDirective>(&directive)) {
      const auto& header = page->header;
      if ((header.compatibility_mask & mask) == 0) continue;
      // Host-visible pages are not part of the launch (igvm crate; QEMU and
      // igvmmeasure differ here, see spec digest §3.2). As in the igvm
      // crate, the 2 MiB flag does not change what is measured: one 4 KiB
      // page at the directive's GPA, on every platform.
      if (header.flags & wire::kPageDataShared) continue;
      // The data type decides first: secrets and CPUID pages are filled by
      // the firmware, whatever the flags say.
      switch (static_cast<wire::PageDataType>(header.data_type)) {
        case wire::PageDataType::kSecrets:
          chain.Update(SnpPageType::kSecrets, header.gpa, nullptr);
          continue;
        case wire::PageDataType::kCpuidData:
        case wire::PageDataType::kCpuidXf:
          chain.Update(SnpPageType::kCpuid, header.gpa, nullptr);
          continue;
        case wire::PageDataType::kNormal:
          break;
      }
      if (header.flags & wire::kPageDataUnmeasured) {
        chain.Update(SnpPageType::kUnmeasured, header.gpa, nullptr);
      } else {
        // A page without data is imported as a normal page of zeros.
        const Sha384Digest contents = Sha384Of(PageContents(page->data).bytes());
        chain.Update(SnpPageType::kNormal, header.gpa, &contents);
      }
    } else if (const auto* insert = std::get_if<wire::ParameterInsert>(&directive)) {
      if ((insert->compatibility_mask & mask) == 0) continue;
      auto size = area_sizes.find(insert->parameter_area_index);
      if (size == area_sizes.end()) return base::Error("PARAMETER_INSERT of an undeclared area");
      for (uint64_t offset = 0; offset < size->second; offset += wire::kPageSize)
        chain.Update(SnpPageType::kUnmeasured, insert->gpa + offset, nullptr);
    } else if (const auto* context = std::get_if<VpContextDirective>(&directive)) {
      if ((context->header.compatibility_mask & mask) == 0) continue;
      if (order == VmsaOrder::kAfterAllPages) {
        deferred_vmsas.push_back(context);
      } else {
        measure_vmsa(*context);
      }
    }
  }
  for (const auto* context : deferred_vmsas) measure_vmsa(*context);
  return chain.result();
}

base::Result<uint64_t> SnpPolicy(const IgvmFile& file) {
  const uint32_t mask = TRY(MaskFor(file, PlatformType::kSevSnp));
  for (const auto& init : file.initialization)
    if (const auto* policy = std::get_if<wire::GuestPolicy>(&init))
      if (policy->compatibility_mask & mask) return policy->policy;
  return base::Error("the image has no GUEST_POLICY for SEV-SNP");
}

// ---- TDX (Intel TDX module ABI: TDH.MEM.PAGE.ADD, TDH.MR.EXTEND; §4) ----

namespace {

void TdxPageAdd(Sha384& mrtd, uint64_t gpa) {
  std::array<std::byte, 128> buffer{};
  std::memcpy(buffer.data(), "MEM.PAGE.ADD", 12);
  std::memcpy(buffer.data() + 16, &gpa, 8);
  mrtd.Update(buffer);
}

void TdxExtendPage(Sha384& mrtd, uint64_t gpa, std::span<const std::byte, wire::kPageSize> page) {
  for (uint64_t chunk = 0; chunk < wire::kPageSize; chunk += 256) {
    std::array<std::byte, 128> header{};
    std::memcpy(header.data(), "MR.EXTEND", 9);
    const uint64_t chunk_gpa = gpa + chunk;
    std::memcpy(header.data() + 16, &chunk_gpa, 8);
    mrtd.Update(header);
    mrtd.Update(page.subspan(chunk, 256));
  }
}

}  // namespace

base::Result<Sha384Digest> MeasureTdx(const IgvmFile& file) {
  const uint32_t mask = TRY(MaskFor(file, PlatformType::kTdx));
  const auto area_sizes = AreaSizes(file);
  Sha384 mrtd;
  for (const auto& directive : file.directives) {
    if (const auto* page = std::get_if<PageDataDirective>(&directive)) {
      const auto& header = page->header;
      if ((header.compatibility_mask & mask) == 0) continue;
      if (header.flags & wire::kPageDataShared) continue;
      TdxPageAdd(mrtd, header.gpa);
      if (!(header.flags & wire::kPageDataUnmeasured)) {
        TdxExtendPage(mrtd, header.gpa, PageContents(page->data).bytes());
      }
    } else if (const auto* insert = std::get_if<wire::ParameterInsert>(&directive)) {
      if ((insert->compatibility_mask & mask) == 0) continue;
      auto size = area_sizes.find(insert->parameter_area_index);
      if (size == area_sizes.end()) return base::Error("PARAMETER_INSERT of an undeclared area");
      for (uint64_t offset = 0; offset < size->second; offset += wire::kPageSize)
        TdxPageAdd(mrtd, insert->gpa + offset);
    }
  }
  return mrtd.Finish();
}

// ---- Hyper-V VBS boot digest (spec digest §5) ----

namespace {

struct VbsPageRecord {
  uint32_t byte_count;  // 32 + 4096
  uint32_t type;        // 2: VP_GPA_PAGE
  uint64_t reserved;
  uint64_t metadata;    // bits 0-1 acceptance, bit 2 data unmeasured
  uint64_t page_number;
};
static_assert(sizeof(VbsPageRecord) == 32);

#pragma pack(push, 1)
struct VbsRegisterRecord {
  uint32_t byte_count;  // 48
  uint32_t type;        // 0: VP_REGISTER
  uint64_t reserved;
  uint32_t reserved2;
  uint8_t vtl;
  uint8_t reserved3;
  uint16_t reserved4;
  uint32_t reserved5;
  uint32_t register_name;
  uint8_t value[16];
};
#pragma pack(pop)
static_assert(sizeof(VbsRegisterRecord) == 48);

constexpr uint64_t kVbsUnmeasured = 1u << 2;
constexpr uint64_t kVbsAcceptReadWrite = 3;

class VbsChain {
 public:
  void Page(uint64_t gpa, uint64_t metadata, std::span<const std::byte, wire::kPageSize> data) {
    const VbsPageRecord record{32 + wire::kPageSize, 2, 0, metadata, gpa / wire::kPageSize};
    Sha256 hash;
    hash.Update(digest_);
    hash.Update(std::as_bytes(std::span(&record, 1)));
    hash.Update(data);
    Store(hash.Finish());
  }
  void Register(const wire::VbsVpContextRegister& reg) {
    VbsRegisterRecord record{};
    record.byte_count = sizeof(VbsRegisterRecord);
    record.vtl = reg.vtl;
    record.register_name = reg.register_name;
    std::memcpy(record.value, reg.value, 16);
    // The value is hashed in canonical form, as the igvm crate re-encodes
    // it: table registers {pad[3], limit, base} with zero pad; scalar
    // registers as a zero-extended u64; segments in full.
    const uint32_t group = reg.register_name & 0xFFFF0;
    if (reg.register_name == wire::hv_register::kGdtr || reg.register_name == wire::hv_register::kIdtr) {
      std::memset(record.value, 0, 6);
    } else if (group != 0x60000) {
      std::memset(record.value + 8, 0, 8);
    }
    Sha256 hash;
    hash.Update(digest_);
    hash.Update(std::as_bytes(std::span(&record, 1)));
    Store(hash.Finish());
  }
  Sha256Digest digest() const {
    Sha256Digest out;
    std::memcpy(out.data(), digest_.data(), out.size());
    return out;
  }

 private:
  void Store(const Sha256Digest& digest) { std::memcpy(digest_.data(), digest.data(), 32); }
  std::array<std::byte, 32> digest_{};
};

}  // namespace

base::Result<Sha256Digest> MeasureVbs(const IgvmFile& file) {
  const uint32_t mask = TRY(MaskFor(file, PlatformType::kVsmIsolation));
  const auto area_sizes = AreaSizes(file);
  const std::array<std::byte, wire::kPageSize> zero_page{};
  VbsChain chain;
  std::vector<wire::VbsVpContextRegister> registers;

  for (const auto& directive : file.directives) {
    if (const auto* page = std::get_if<PageDataDirective>(&directive)) {
      const auto& header = page->header;
      if ((header.compatibility_mask & mask) == 0) continue;
      if (header.flags & wire::kPageDataShared) continue;
      if (header.data_type != static_cast<uint16_t>(wire::PageDataType::kNormal))
        return base::Error::Format("VBS cannot import PAGE_DATA of type %u at %#llx",
                                   header.data_type, static_cast<unsigned long long>(header.gpa));
      if (header.flags & wire::kPageDataUnmeasured) {
        chain.Page(header.gpa, kVbsUnmeasured, zero_page);
      } else {
        chain.Page(header.gpa, 0, PageContents(page->data).bytes());
      }
    } else if (const auto* insert = std::get_if<wire::ParameterInsert>(&directive)) {
      if ((insert->compatibility_mask & mask) == 0) continue;
      auto size = area_sizes.find(insert->parameter_area_index);
      if (size == area_sizes.end()) return base::Error("PARAMETER_INSERT of an undeclared area");
      for (uint64_t offset = 0; offset < size->second; offset += wire::kPageSize)
        chain.Page(insert->gpa + offset, kVbsUnmeasured, zero_page);
    } else if (const auto* range = std::get_if<wire::ErrorRange>(&directive)) {
      if ((range->compatibility_mask & mask) == 0) continue;
      // One record per page touched: ceil(size / 4096).
      for (uint64_t offset = 0; offset < range->size_bytes; offset += wire::kPageSize)
        chain.Page(range->gpa + offset, kVbsAcceptReadWrite | kVbsUnmeasured, zero_page);
    } else if (const auto* context = std::get_if<VpContextDirective>(&directive)) {
      if ((context->header.compatibility_mask & mask) == 0) continue;
      uint32_t count = 0;
      if (context->data.size() >= 4) std::memcpy(&count, context->data.data(), 4);
      if (context->data.size() < 4 || (context->data.size() - 4) / sizeof(wire::VbsVpContextRegister) < count)
        return base::Error("VBS VP context is shorter than its register count");
      for (uint32_t i = 0; i < count; ++i) {
        wire::VbsVpContextRegister reg;
        std::memcpy(&reg, context->data.data() + 4 + i * sizeof reg, sizeof reg);
        registers.push_back(reg);
      }
    }
  }
  // Registers are measured after every page, in directive order.
  for (const auto& reg : registers) chain.Register(reg);
  return chain.digest();
}

}  // namespace igvm
