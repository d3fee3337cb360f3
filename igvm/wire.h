// IGVM on-disk layouts (igvm_defs, the normative definition; digest in
// ../shared/specs/igvm.md §1). All integers little-endian; structures are C
// layout with natural alignment except where marked packed. Every struct
// has its size and key offsets checked below, so a layout slip fails the
// build rather than a measurement.
//
// These are plain data: readers copy bytes into them (copy, then validate).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "hv/hvdef.h"

namespace igvm::wire {

inline constexpr uint32_t kMagic = 0x4D564749;  // "IGVM" read little-endian
inline constexpr uint32_t kPageSize = 4096;
inline constexpr uint32_t kOptionalBit = 0x80000000;  // IGVM_VHT_OPTIONAL_BIT

// §1.1 fixed header. V2 adds architecture and page_size.
struct FixedHeaderV1 {
  uint32_t magic;
  uint32_t format_version;
  uint32_t variable_header_offset;
  uint32_t variable_header_size;
  uint32_t total_file_size;
  uint32_t checksum;
};
static_assert(sizeof(FixedHeaderV1) == 0x18);
static_assert(offsetof(FixedHeaderV1, checksum) == 0x14);

struct FixedHeaderV2 {
  FixedHeaderV1 v1;
  uint32_t architecture;
  uint32_t page_size;
};
static_assert(sizeof(FixedHeaderV2) == 0x20);

enum class Architecture : uint32_t { kX64 = 0, kAArch64 = 1 };

// §1.2 variable header types.
enum class HeaderType : uint32_t {
  kSupportedPlatform = 0x001,
  kGuestPolicy = 0x101,
  kRelocatableRegion = 0x102,
  kPageTableRelocationRegion = 0x103,
  kCorimDocument = 0x104,
  kCorimSignature = 0x105,
  kCcaPolicy = 0x106,
  kParameterArea = 0x301,
  kPageData = 0x302,
  kParameterInsert = 0x303,
  kVpContext = 0x304,
  kRequiredMemory = 0x305,
  kVpCountParameter = 0x307,
  kSrat = 0x308,
  kMadt = 0x309,
  kMmioRanges = 0x30A,
  kSnpIdBlock = 0x30B,
  kMemoryMap = 0x30C,
  kErrorRange = 0x30D,
  kCommandLine = 0x30E,
  kSlit = 0x30F,
  kPptt = 0x310,
  kVbsMeasurement = 0x311,
  kDeviceTree = 0x312,
  kEnvironmentInfo = 0x313,
};

// Type ranges: the sections a file must present in this order.
inline constexpr uint32_t kPlatformTypeFirst = 0x001, kPlatformTypeLast = 0x100;
inline constexpr uint32_t kInitTypeFirst = 0x101, kInitTypeLast = 0x200;
inline constexpr uint32_t kDirectiveTypeFirst = 0x301, kDirectiveTypeLast = 0x400;

struct TlvHeader {
  uint32_t type;
  uint32_t length;  // payload bytes, without this header or padding
};
static_assert(sizeof(TlvHeader) == 8);

enum class PlatformType : uint8_t {
  kNative = 0,
  kVsmIsolation = 1,
  kSevSnp = 2,
  kTdx = 3,
  kSev = 4,
  kSevEs = 5,
  kCca = 6,
};

struct SupportedPlatform {
  uint32_t compatibility_mask;
  uint8_t highest_vtl;
  uint8_t platform_type;
  uint16_t platform_version;
  uint64_t shared_gpa_boundary;
};
static_assert(sizeof(SupportedPlatform) == 16);

struct GuestPolicy {
  uint64_t policy;
  uint32_t compatibility_mask;
  uint32_t reserved;
};
static_assert(sizeof(GuestPolicy) == 16);

struct RelocatableRegion {
  uint32_t compatibility_mask;
  uint16_t vp_index;
  uint8_t vtl;
  uint8_t flags;  // 1 IS_VTL2, 2 APPLY_RIP, 4 APPLY_GDTR
  uint64_t relocation_alignment;
  uint64_t relocation_region_gpa;
  uint64_t relocation_region_size;
  uint64_t minimum_relocation_gpa;
  uint64_t maximum_relocation_gpa;
};
static_assert(sizeof(RelocatableRegion) == 48);

struct PageTableRelocation {
  uint32_t compatibility_mask;
  uint16_t vp_index;
  uint8_t vtl;
  uint8_t reserved;
  uint64_t gpa;
  uint64_t size;
  uint64_t used_size;
};
static_assert(sizeof(PageTableRelocation) == 32);

struct CorimData {
  uint32_t compatibility_mask;
  uint32_t file_offset;
  uint32_t size_bytes;
  uint32_t reserved;
};
static_assert(sizeof(CorimData) == 16);

struct CcaPolicy {
  uint32_t compatibility_mask;
  uint32_t reserved;
  uint64_t attributes_required_zeroes;
  uint64_t attributes_required_ones;
  uint8_t hash_algorithm;  // 0 SHA-256, 1 SHA-512, 2 SHA-384
  uint8_t lfa_policy;
  uint8_t reserved2[6];
};
static_assert(sizeof(CcaPolicy) == 32);

struct ParameterArea {
  uint64_t number_of_bytes;
  uint32_t parameter_area_index;
  uint32_t file_offset;  // 0: the area starts zeroed
};
static_assert(sizeof(ParameterArea) == 16);

enum PageDataFlags : uint32_t {
  kPageData2Mb = 1u << 0,
  kPageDataUnmeasured = 1u << 1,
  kPageDataShared = 1u << 2,
};

enum class PageDataType : uint16_t {
  kNormal = 0,
  kSecrets = 1,
  kCpuidData = 2,
  kCpuidXf = 3,
};

struct PageData {
  uint64_t gpa;
  uint32_t compatibility_mask;
  uint32_t file_offset;  // 0: a page of zeros
  uint32_t flags;
  uint16_t data_type;
  uint16_t reserved;
};
static_assert(sizeof(PageData) == 24);

struct ParameterInsert {
  uint64_t gpa;
  uint32_t compatibility_mask;
  uint32_t parameter_area_index;
};
static_assert(sizeof(ParameterInsert) == 16);

// IGVM_VHS_PARAMETER: VP count, SRAT, MADT, MMIO ranges, memory map,
// command line, SLIT, PPTT, device tree, environment info.
struct Parameter {
  uint32_t parameter_area_index;
  uint32_t byte_offset;
};
static_assert(sizeof(Parameter) == 8);

// 20 bytes of payload; the TLV is padded to 24. The gpa is unaligned in the
// Rust definition (packed), hence the byte array.
#pragma pack(push, 1)
struct VpContext {
  uint64_t gpa;
  uint32_t compatibility_mask;
  uint32_t file_offset;
  uint16_t vp_index;
  uint16_t reserved;
};
#pragma pack(pop)
static_assert(sizeof(VpContext) == 20);

struct RequiredMemory {
  uint64_t gpa;
  uint32_t compatibility_mask;
  uint32_t number_of_bytes;
  uint32_t flags;  // bit 0: VTL2 protectable
  uint32_t reserved;
};
static_assert(sizeof(RequiredMemory) == 24);

struct ErrorRange {
  uint64_t gpa;
  uint32_t compatibility_mask;
  uint32_t size_bytes;
};
static_assert(sizeof(ErrorRange) == 16);

// SNP ID block (§1.3, §3.3). Signatures and key coordinates are 48-byte
// big integers stored little-endian and zero-extended to 72 bytes.
struct SnpSignature {
  uint8_t r_comp[72];
  uint8_t s_comp[72];
};
static_assert(sizeof(SnpSignature) == 144);

struct SnpPublicKey {
  uint32_t curve;     // 2 = P-384
  uint32_t reserved;  // dropped when converted to the firmware's ID_KEY
  uint8_t qx[72];
  uint8_t qy[72];
};
static_assert(sizeof(SnpPublicKey) == 152);

struct SnpIdBlock {
  uint32_t compatibility_mask;
  uint8_t author_key_enabled;
  uint8_t reserved[3];
  uint8_t ld[48];
  uint8_t family_id[16];
  uint8_t image_id[16];
  uint32_t version;
  uint32_t guest_svn;
  uint32_t id_key_algorithm;
  uint32_t author_key_algorithm;
  SnpSignature id_key_signature;
  SnpPublicKey id_public_key;
  SnpSignature author_key_signature;
  SnpPublicKey author_public_key;
};
static_assert(sizeof(SnpIdBlock) == 0x2B8);
static_assert(offsetof(SnpIdBlock, ld) == 0x008);
static_assert(offsetof(SnpIdBlock, version) == 0x058);
static_assert(offsetof(SnpIdBlock, id_key_signature) == 0x068);
static_assert(offsetof(SnpIdBlock, id_public_key) == 0x0F8);
static_assert(offsetof(SnpIdBlock, author_key_signature) == 0x190);
static_assert(offsetof(SnpIdBlock, author_public_key) == 0x220);

struct VbsMeasurement {
  uint32_t compatibility_mask;
  uint32_t version;
  uint32_t product_id;
  uint32_t module_id;
  uint32_t security_version;
  uint32_t policy_flags;
  uint32_t boot_digest_algo;
  uint32_t signing_algo;
  uint8_t boot_measurement_digest[64];
  uint8_t signature[256];
  uint8_t public_key[512];
};
static_assert(sizeof(VbsMeasurement) == 0x360);

// IGVM_MEMORY_MAP_ENTRY_TYPE (igvm_defs): what a memory-map entry describes.
enum class MemoryMapEntryType : uint16_t {
  kMemory = 0,
  kPlatformReserved = 1,
  kPersistent = 2,
  kVtl2Protectable = 3,
  kSpecificPurpose = 4,
  kHidden = 5,
};

// Memory map entries a loader writes into a MEMORY_MAP parameter area.
struct MemoryMapEntry {
  uint64_t starting_gpa_page_number;
  uint64_t number_of_pages;
  uint16_t entry_type;  // a MemoryMapEntryType
  uint16_t flags;
  uint32_t reserved;
};
static_assert(sizeof(MemoryMapEntry) == 24);

// VP context for the VSM (VBS) platform: u32 count, then these.
#pragma pack(push, 1)
struct VbsVpContextRegister {
  uint8_t vtl;
  uint32_t register_name;  // a Hyper-V register name (TLFS)
  uint8_t mbz[11];
  uint8_t value[16];       // HV_REGISTER_VALUE
};
#pragma pack(pop)
static_assert(sizeof(VbsVpContextRegister) == 32);

struct VbsVpContextHeader {
  uint32_t register_count;
};

// Hyper-V register names used in VBS VP contexts: the TLFS's, shared with
// the hypervisor side (vmm-core/hv/hvdef.h).
namespace hv_register = ::hv::reg;

}  // namespace igvm::wire
