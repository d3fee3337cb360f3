// NVMe wire formats: the controller registers (BAR0), submission and
// completion queue entries, opcodes, status codes, and the data structures
// Identify and Dataset Management transfer. Citations name sections of
// the NVMe Base Specification 2.0 ("NVMe 2.0"), the NVMe over PCIe
// Transport Specification 1.0 and the NVM Command Set Specification 1.0
// ("NVM 1.0"); nvme-vfio.md digests what Linux 6.1 uses.
//
// Neutral on purpose: the controller emulator (nvme/controller.h) and a
// user-mode NVMe driver both read and write these layouts, so nothing here
// says what either side does with a value. Little-endian throughout; the
// structs pin layouts with static_assert (STYLE.md P5) and hold only
// integers and byte arrays, so any 64/16/4096 bytes are a valid object:
// code moves them in and out of byte buffers with std::bit_cast (a copy,
// never a pointer cast), which is why this header requires a little-endian
// host.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace nvme::wire {

static_assert(std::endian::native == std::endian::little,
              "NVMe structures are little-endian; bit_cast below assumes a matching host");

// Bits [lsb, lsb + width) of a register value, and the value with that field
// replaced (the field is truncated to `width`).
// `width` is below 64 for every field here.
constexpr uint64_t GetBits(uint64_t value, unsigned lsb, unsigned width) {
  return (value >> lsb) & ((uint64_t{1} << width) - 1);
}
constexpr uint64_t SetBits(uint64_t value, unsigned lsb, unsigned width, uint64_t field) {
  const uint64_t mask = ((uint64_t{1} << width) - 1) << lsb;
  return (value & ~mask) | ((field << lsb) & mask);
}

// ---------------------------------------------------------------------------
// NVMe 2.0 "Controller Properties" (the BAR0 register map of the PCIe
// transport) and the doorbells after them.

inline constexpr uint64_t kRegCap = 0x00;     // 8 bytes
inline constexpr uint64_t kRegVs = 0x08;
inline constexpr uint64_t kRegIntms = 0x0C;
inline constexpr uint64_t kRegIntmc = 0x10;
inline constexpr uint64_t kRegCc = 0x14;
inline constexpr uint64_t kRegCsts = 0x1C;
inline constexpr uint64_t kRegNssr = 0x20;
inline constexpr uint64_t kRegAqa = 0x24;
inline constexpr uint64_t kRegAsq = 0x28;     // 8 bytes
inline constexpr uint64_t kRegAcq = 0x30;     // 8 bytes
inline constexpr uint64_t kRegCmbloc = 0x38;
inline constexpr uint64_t kRegCmbsz = 0x3C;
inline constexpr uint64_t kRegCrto = 0x68;
// NVMe over PCIe 1.0 "Register Definition": SQyTDBL at 1000h + (2y)(4 << DSTRD), CQyHDBL
// at 1000h + (2y + 1)(4 << DSTRD).
inline constexpr uint64_t kDoorbellBase = 0x1000;

constexpr uint64_t SqTailDoorbell(uint16_t qid, uint8_t dstrd) {
  return kDoorbellBase + (2 * uint64_t{qid}) * (uint64_t{4} << dstrd);
}
constexpr uint64_t CqHeadDoorbell(uint16_t qid, uint8_t dstrd) {
  return kDoorbellBase + (2 * uint64_t{qid} + 1) * (uint64_t{4} << dstrd);
}

// NVMe 2.0 "Offset 0h: CAP - Controller Capabilities".
struct Cap {
  uint64_t raw = 0;
  constexpr uint16_t mqes() const { return static_cast<uint16_t>(GetBits(raw, 0, 16)); }  // 0's based
  constexpr bool cqr() const { return GetBits(raw, 16, 1) != 0; }
  constexpr uint8_t ams() const { return static_cast<uint8_t>(GetBits(raw, 17, 2)); }
  constexpr uint8_t to() const { return static_cast<uint8_t>(GetBits(raw, 24, 8)); }     // 500 ms units
  constexpr uint8_t dstrd() const { return static_cast<uint8_t>(GetBits(raw, 32, 4)); }
  constexpr bool nssrs() const { return GetBits(raw, 36, 1) != 0; }
  constexpr uint8_t css() const { return static_cast<uint8_t>(GetBits(raw, 37, 8)); }
  constexpr uint8_t mpsmin() const { return static_cast<uint8_t>(GetBits(raw, 48, 4)); }
  constexpr uint8_t mpsmax() const { return static_cast<uint8_t>(GetBits(raw, 52, 4)); }
  constexpr bool cmbs() const { return GetBits(raw, 57, 1) != 0; }
  constexpr bool crwms() const { return GetBits(raw, 59, 1) != 0; }

  constexpr Cap& set_mqes(uint16_t v) { raw = SetBits(raw, 0, 16, v); return *this; }
  constexpr Cap& set_cqr(bool v) { raw = SetBits(raw, 16, 1, v); return *this; }
  constexpr Cap& set_to(uint8_t v) { raw = SetBits(raw, 24, 8, v); return *this; }
  constexpr Cap& set_dstrd(uint8_t v) { raw = SetBits(raw, 32, 4, v); return *this; }
  constexpr Cap& set_css(uint8_t v) { raw = SetBits(raw, 37, 8, v); return *this; }
  constexpr Cap& set_mpsmin(uint8_t v) { raw = SetBits(raw, 48, 4, v); return *this; }
  constexpr Cap& set_mpsmax(uint8_t v) { raw = SetBits(raw, 52, 4, v); return *this; }
};
// CAP.CSS bits: bit 0 NVM command set, bit 6 I/O command sets
// (CSI), bit 7 admin only.
inline constexpr uint8_t kCapCssNvm = 0x01;

// NVMe 2.0 "Offset 8h: VS - Version": MJR 31:16, MNR 15:8, TER 7:0.
constexpr uint32_t MakeVersion(uint16_t major, uint8_t minor, uint8_t tertiary = 0) {
  return uint32_t{major} << 16 | uint32_t{minor} << 8 | tertiary;
}

// NVMe 2.0 "Offset 14h: CC - Controller Configuration".
struct Cc {
  uint32_t raw = 0;
  constexpr bool en() const { return GetBits(raw, 0, 1) != 0; }
  constexpr uint8_t css() const { return static_cast<uint8_t>(GetBits(raw, 4, 3)); }
  constexpr uint8_t mps() const { return static_cast<uint8_t>(GetBits(raw, 7, 4)); }
  constexpr uint8_t ams() const { return static_cast<uint8_t>(GetBits(raw, 11, 3)); }
  constexpr uint8_t shn() const { return static_cast<uint8_t>(GetBits(raw, 14, 2)); }
  constexpr uint8_t iosqes() const { return static_cast<uint8_t>(GetBits(raw, 16, 4)); }
  constexpr uint8_t iocqes() const { return static_cast<uint8_t>(GetBits(raw, 20, 4)); }
  constexpr bool crime() const { return GetBits(raw, 24, 1) != 0; }

  constexpr Cc& set_en(bool v) { raw = static_cast<uint32_t>(SetBits(raw, 0, 1, v)); return *this; }
  constexpr Cc& set_css(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 4, 3, v)); return *this; }
  constexpr Cc& set_mps(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 7, 4, v)); return *this; }
  constexpr Cc& set_ams(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 11, 3, v)); return *this; }
  constexpr Cc& set_shn(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 14, 2, v)); return *this; }
  constexpr Cc& set_iosqes(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 16, 4, v)); return *this; }
  constexpr Cc& set_iocqes(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 20, 4, v)); return *this; }
};
// CC.SHN: 00b none, 01b normal, 10b abrupt.
inline constexpr uint8_t kShnNone = 0;
inline constexpr uint8_t kShnNormal = 1;
inline constexpr uint8_t kShnAbrupt = 2;

// NVMe 2.0 "Offset 1Ch: CSTS - Controller Status".
struct Csts {
  uint32_t raw = 0;
  constexpr bool rdy() const { return GetBits(raw, 0, 1) != 0; }
  constexpr bool cfs() const { return GetBits(raw, 1, 1) != 0; }
  constexpr uint8_t shst() const { return static_cast<uint8_t>(GetBits(raw, 2, 2)); }
  constexpr bool nssro() const { return GetBits(raw, 4, 1) != 0; }
  constexpr bool pp() const { return GetBits(raw, 5, 1) != 0; }

  constexpr Csts& set_rdy(bool v) { raw = static_cast<uint32_t>(SetBits(raw, 0, 1, v)); return *this; }
  constexpr Csts& set_cfs(bool v) { raw = static_cast<uint32_t>(SetBits(raw, 1, 1, v)); return *this; }
  constexpr Csts& set_shst(uint8_t v) { raw = static_cast<uint32_t>(SetBits(raw, 2, 2, v)); return *this; }
};
// CSTS.SHST: 00b normal operation, 01b in progress, 10b complete.
inline constexpr uint8_t kShstNormal = 0;
inline constexpr uint8_t kShstOccurring = 1;
inline constexpr uint8_t kShstComplete = 2;

// NVMe 2.0 "Offset 24h: AQA - Admin Queue Attributes": ASQS 11:0, ACQS 27:16, both 0's based.
struct Aqa {
  uint32_t raw = 0;
  constexpr uint16_t asqs() const { return static_cast<uint16_t>(GetBits(raw, 0, 12)); }
  constexpr uint16_t acqs() const { return static_cast<uint16_t>(GetBits(raw, 16, 12)); }
  constexpr Aqa& set_asqs(uint16_t v) { raw = static_cast<uint32_t>(SetBits(raw, 0, 12, v)); return *this; }
  constexpr Aqa& set_acqs(uint16_t v) { raw = static_cast<uint32_t>(SetBits(raw, 16, 12, v)); return *this; }
};
// NVMe 2.0 "Offset 28h: ASQ", "Offset 30h: ACQ": bits 11:0 are reserved (the queues are 4 KiB aligned).
inline constexpr uint64_t kAdminQueueBaseMask = ~uint64_t{0xFFF};

// ---------------------------------------------------------------------------
// NVMe 2.0 "Submission Queue Entry": 64 bytes ("Common Command Format").

struct SubmissionEntry {
  uint32_t cdw0;   // OPC 7:0, FUSE 9:8, PSDT 15:14, CID 31:16
  uint32_t nsid;
  uint32_t cdw2;
  uint32_t cdw3;
  uint64_t mptr;
  uint64_t prp1;   // DPTR: PRP entry 1 (PSDT 00b)
  uint64_t prp2;   // DPTR: PRP entry 2 or PRP list pointer
  uint32_t cdw10;
  uint32_t cdw11;
  uint32_t cdw12;
  uint32_t cdw13;
  uint32_t cdw14;
  uint32_t cdw15;

  constexpr uint8_t opcode() const { return static_cast<uint8_t>(cdw0 & 0xFF); }
  constexpr uint8_t fuse() const { return static_cast<uint8_t>((cdw0 >> 8) & 3); }
  constexpr uint8_t psdt() const { return static_cast<uint8_t>((cdw0 >> 14) & 3); }
  constexpr uint16_t cid() const { return static_cast<uint16_t>(cdw0 >> 16); }
  static constexpr uint32_t MakeCdw0(uint8_t opcode, uint16_t cid) {
    return uint32_t{opcode} | uint32_t{cid} << 16;
  }
};
static_assert(sizeof(SubmissionEntry) == 64);
static_assert(offsetof(SubmissionEntry, nsid) == 4);
static_assert(offsetof(SubmissionEntry, mptr) == 16);
static_assert(offsetof(SubmissionEntry, prp1) == 24);
static_assert(offsetof(SubmissionEntry, prp2) == 32);
static_assert(offsetof(SubmissionEntry, cdw10) == 40);
static_assert(offsetof(SubmissionEntry, cdw15) == 60);
inline constexpr size_t kSubmissionEntryBytes = sizeof(SubmissionEntry);
inline constexpr uint8_t kSqesLog2 = 6;  // Identify SQES / CC.IOSQES

// PSDT ("Common Command Format"): 00b PRPs, 01b/10b SGLs.
inline constexpr uint8_t kPsdtPrp = 0;

// NVMe 2.0 "Completion Queue Entry": 16 bytes.
struct CompletionEntry {
  uint32_t dw0;     // command specific
  uint32_t dw1;
  uint16_t sqhd;    // SQ head pointer
  uint16_t sqid;
  uint16_t cid;
  uint16_t status;  // P 0, SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15
};
static_assert(sizeof(CompletionEntry) == 16);
static_assert(offsetof(CompletionEntry, sqhd) == 8);
static_assert(offsetof(CompletionEntry, sqid) == 10);
static_assert(offsetof(CompletionEntry, cid) == 12);
static_assert(offsetof(CompletionEntry, status) == 14);
inline constexpr size_t kCompletionEntryBytes = sizeof(CompletionEntry);
inline constexpr uint8_t kCqesLog2 = 4;  // Identify CQES / CC.IOCQES

// ---------------------------------------------------------------------------
// NVMe 2.0 "Status Field Definition". Status codes live in their own namespaces by type.

enum class StatusCodeType : uint8_t {
  kGeneric = 0,
  kCommandSpecific = 1,
  kMediaAndDataIntegrity = 2,
  kPathRelated = 3,
  kVendorSpecific = 7,
};

// NVMe 2.0 "Generic Command Status Definition".
namespace generic {
inline constexpr uint8_t kSuccess = 0x00;
inline constexpr uint8_t kInvalidOpcode = 0x01;
inline constexpr uint8_t kInvalidField = 0x02;
inline constexpr uint8_t kCommandIdConflict = 0x03;
inline constexpr uint8_t kDataTransferError = 0x04;
inline constexpr uint8_t kInternalError = 0x06;
inline constexpr uint8_t kAbortRequested = 0x07;
inline constexpr uint8_t kAbortedSqDeletion = 0x08;
inline constexpr uint8_t kInvalidNamespaceOrFormat = 0x0B;
inline constexpr uint8_t kCommandSequenceError = 0x0C;
inline constexpr uint8_t kPrpOffsetInvalid = 0x13;
inline constexpr uint8_t kNamespaceWriteProtected = 0x20;
inline constexpr uint8_t kCommandInterrupted = 0x21;
// NVM 1.0 "Generic Command Status Values" (NVM command set).
inline constexpr uint8_t kLbaOutOfRange = 0x80;
inline constexpr uint8_t kCapacityExceeded = 0x81;
inline constexpr uint8_t kNamespaceNotReady = 0x82;
}  // namespace generic

// NVMe 2.0 "Command Specific Status Definition".
namespace command_specific {
inline constexpr uint8_t kCompletionQueueInvalid = 0x00;
inline constexpr uint8_t kInvalidQueueIdentifier = 0x01;
inline constexpr uint8_t kInvalidQueueSize = 0x02;
inline constexpr uint8_t kAbortCommandLimitExceeded = 0x03;
inline constexpr uint8_t kAsyncEventRequestLimitExceeded = 0x05;
inline constexpr uint8_t kInvalidInterruptVector = 0x08;
inline constexpr uint8_t kInvalidLogPage = 0x09;
inline constexpr uint8_t kInvalidQueueDeletion = 0x0C;
inline constexpr uint8_t kFeatureIdNotSaveable = 0x0D;
}  // namespace command_specific

// NVMe 2.0 "Media and Data Integrity Errors".
namespace media {
inline constexpr uint8_t kWriteFault = 0x80;
inline constexpr uint8_t kUnrecoveredReadError = 0x81;
}  // namespace media

struct Status {
  StatusCodeType sct = StatusCodeType::kGeneric;
  uint8_t sc = generic::kSuccess;
  bool dnr = false;  // Do Not Retry

  constexpr bool ok() const { return sct == StatusCodeType::kGeneric && sc == generic::kSuccess; }
  // The CQE status word (without the phase tag, bit 0).
  constexpr uint16_t ToField() const {
    return static_cast<uint16_t>(uint32_t{sc} << 1 | (uint32_t{static_cast<uint8_t>(sct)} & 7) << 9 |
                                 (dnr ? 1u << 15 : 0u));
  }
  static constexpr Status FromField(uint16_t field) {
    return Status{static_cast<StatusCodeType>((field >> 9) & 7), static_cast<uint8_t>(field >> 1),
                  (field >> 15) != 0};
  }
  friend constexpr bool operator==(const Status&, const Status&) = default;
};
inline constexpr Status kSuccess{};
constexpr Status GenericStatus(uint8_t sc, bool dnr = true) {
  return Status{StatusCodeType::kGeneric, sc, dnr};
}
constexpr Status CommandSpecificStatus(uint8_t sc, bool dnr = true) {
  return Status{StatusCodeType::kCommandSpecific, sc, dnr};
}
constexpr Status MediaStatus(uint8_t sc, bool dnr = false) {
  return Status{StatusCodeType::kMediaAndDataIntegrity, sc, dnr};
}
inline constexpr uint16_t kPhaseTag = 1;

// ---------------------------------------------------------------------------
// NVMe 2.0 "Admin Command Set" opcodes and NVM 1.0 "NVM Command Set"
// I/O opcodes.

enum class AdminOpcode : uint8_t {
  kDeleteIoSq = 0x00,
  kCreateIoSq = 0x01,
  kGetLogPage = 0x02,
  kDeleteIoCq = 0x04,
  kCreateIoCq = 0x05,
  kIdentify = 0x06,
  kAbort = 0x08,
  kSetFeatures = 0x09,
  kGetFeatures = 0x0A,
  kAsyncEventRequest = 0x0C,
  kNamespaceManagement = 0x0D,
  kFirmwareCommit = 0x10,
  kFirmwareImageDownload = 0x11,
  kKeepAlive = 0x18,
  kDoorbellBufferConfig = 0x7C,
};

enum class NvmOpcode : uint8_t {
  kFlush = 0x00,
  kWrite = 0x01,
  kRead = 0x02,
  kWriteUncorrectable = 0x04,
  kCompare = 0x05,
  kWriteZeroes = 0x08,
  kDatasetManagement = 0x09,
};

// NVMe 2.0 "Identify command": CNS values.
inline constexpr uint8_t kCnsNamespace = 0x00;
inline constexpr uint8_t kCnsController = 0x01;
inline constexpr uint8_t kCnsActiveNamespaceList = 0x02;
inline constexpr uint8_t kCnsNamespaceIdDescriptors = 0x03;
inline constexpr uint8_t kCnsIoCommandSetController = 0x06;
inline constexpr size_t kIdentifyBytes = 4096;
inline constexpr uint32_t kBroadcastNsid = 0xFFFF'FFFF;

// NVMe 2.0 "Namespace Identification Descriptor" types (NIDT).
inline constexpr uint8_t kNidtEui64 = 1;
inline constexpr uint8_t kNidtNguid = 2;
inline constexpr uint8_t kNidtUuid = 3;
inline constexpr uint8_t kNidtCsi = 4;

// NVMe 2.0 "Set Features command": feature identifiers.
inline constexpr uint8_t kFeatureArbitration = 0x01;
inline constexpr uint8_t kFeaturePowerManagement = 0x02;
inline constexpr uint8_t kFeatureTemperatureThreshold = 0x04;
inline constexpr uint8_t kFeatureVolatileWriteCache = 0x06;
inline constexpr uint8_t kFeatureNumberOfQueues = 0x07;
inline constexpr uint8_t kFeatureInterruptCoalescing = 0x08;
inline constexpr uint8_t kFeatureInterruptVectorConfig = 0x09;
inline constexpr uint8_t kFeatureAsyncEventConfig = 0x0B;

// NVMe 2.0 "Get Log Page command": log page identifiers.
inline constexpr uint8_t kLogErrorInformation = 0x01;
inline constexpr uint8_t kLogSmartHealth = 0x02;
inline constexpr uint8_t kLogFirmwareSlot = 0x03;
inline constexpr uint8_t kLogChangedNamespaces = 0x04;
inline constexpr size_t kLogErrorEntryBytes = 64;
inline constexpr size_t kLogSmartHealthBytes = 512;
inline constexpr size_t kLogFirmwareSlotBytes = 512;
inline constexpr size_t kLogChangedNamespacesBytes = 4096;

// NVMe 2.0 "Create I/O Completion Queue command" and "Create I/O
// Submission Queue command": CDW10 QID 15:0, QSIZE 31:16 (0's based); CQ CDW11 PC 0, IEN 1,
// IV 31:16; SQ CDW11 PC 0, QPRIO 2:1, CQID 31:16.
constexpr uint16_t QueueId(uint32_t cdw10) { return static_cast<uint16_t>(cdw10 & 0xFFFF); }
constexpr uint16_t QueueSize0(uint32_t cdw10) { return static_cast<uint16_t>(cdw10 >> 16); }
constexpr bool PhysicallyContiguous(uint32_t cdw11) { return (cdw11 & 1) != 0; }
constexpr bool InterruptsEnabled(uint32_t cdw11) { return (cdw11 & 2) != 0; }
constexpr uint16_t InterruptVector(uint32_t cdw11) { return static_cast<uint16_t>(cdw11 >> 16); }
constexpr uint16_t CompletionQueueId(uint32_t cdw11) { return static_cast<uint16_t>(cdw11 >> 16); }

// NVM 1.0 "Read command", "Write command", "Write Zeroes command":
// SLBA in CDW11:CDW10, NLB 0's based in CDW12 15:0, FUA CDW12 bit 30.
constexpr uint64_t StartingLba(const SubmissionEntry& sqe) {
  return uint64_t{sqe.cdw11} << 32 | sqe.cdw10;
}
constexpr uint32_t BlockCount(const SubmissionEntry& sqe) { return (sqe.cdw12 & 0xFFFF) + 1; }
constexpr bool ForceUnitAccess(const SubmissionEntry& sqe) { return (sqe.cdw12 >> 30 & 1) != 0; }

// NVM 1.0 "Dataset Management command": CDW10 NR 7:0 (0's based
// number of ranges), CDW11 AD bit 2 (deallocate); the data is an array of
// 16-byte ranges.
struct DsmRange {
  uint32_t context_attributes;
  uint32_t block_count;  // NLB: a count, not 0's based
  uint64_t starting_lba;
};
static_assert(sizeof(DsmRange) == 16);
static_assert(offsetof(DsmRange, block_count) == 4);
static_assert(offsetof(DsmRange, starting_lba) == 8);
inline constexpr uint32_t kDsmMaxRanges = 256;
constexpr uint32_t DsmRangeCount(uint32_t cdw10) { return (cdw10 & 0xFF) + 1; }
constexpr bool DsmDeallocate(uint32_t cdw11) { return (cdw11 >> 2 & 1) != 0; }

// ---------------------------------------------------------------------------
// NVMe 2.0 "Identify Controller Data Structure", 4096 bytes.
// Fields are named by their spec acronyms; reserved and unnamed ranges are
// byte arrays. Strings are ASCII, space padded, not NUL terminated.

struct PowerStateDescriptor {
  uint16_t mp;  // maximum power, centiwatts (MXPS = 0)
  uint8_t reserved2;
  uint8_t flags;  // MXPS 0, NOPS 1
  uint32_t enlat;
  uint32_t exlat;
  uint8_t rrt, rrl, rwt, rwl;
  uint16_t idlp;
  uint8_t ips;
  uint8_t reserved19;
  uint16_t actp;
  uint8_t apw_aps;
  uint8_t reserved23[9];
};
static_assert(sizeof(PowerStateDescriptor) == 32);

struct IdentifyController {
  uint16_t vid;
  uint16_t ssvid;
  std::array<uint8_t, 20> sn;
  std::array<uint8_t, 40> mn;
  std::array<uint8_t, 8> fr;
  uint8_t rab;
  std::array<uint8_t, 3> ieee;
  uint8_t cmic;
  uint8_t mdts;     // 2^n minimum pages; 0 = no limit
  uint16_t cntlid;
  uint32_t ver;
  uint32_t rtd3r;
  uint32_t rtd3e;
  uint32_t oaes;
  uint32_t ctratt;
  uint16_t rrls;
  std::array<uint8_t, 9> reserved102;
  uint8_t cntrltype;
  std::array<uint8_t, 16> fguid;
  uint16_t crdt1;
  uint16_t crdt2;
  uint16_t crdt3;
  std::array<uint8_t, 122> reserved134;
  uint16_t oacs;
  uint8_t acl;      // 0's based
  uint8_t aerl;     // 0's based
  uint8_t frmw;
  uint8_t lpa;
  uint8_t elpe;     // 0's based
  uint8_t npss;     // 0's based
  uint8_t avscc;
  uint8_t apsta;
  uint16_t wctemp;
  uint16_t cctemp;
  uint16_t mtfa;
  uint32_t hmpre;
  uint32_t hmmin;
  std::array<uint8_t, 16> tnvmcap;
  std::array<uint8_t, 16> unvmcap;
  std::array<uint8_t, 200> reserved312;
  uint8_t sqes;     // required 3:0, maximum 7:4 (log2 bytes)
  uint8_t cqes;
  uint16_t maxcmd;
  uint32_t nn;
  uint16_t oncs;
  uint16_t fuses;
  uint8_t fna;
  uint8_t vwc;
  uint16_t awun;
  uint16_t awupf;
  uint8_t nvscc;
  uint8_t nwpc;
  uint16_t acwu;
  uint16_t reserved534;
  uint32_t sgls;
  uint32_t mnan;
  std::array<uint8_t, 224> reserved544;
  std::array<uint8_t, 256> subnqn;
  std::array<uint8_t, 1024> reserved1024;
  std::array<PowerStateDescriptor, 32> psd;
  std::array<uint8_t, 1024> vendor_specific;
};
static_assert(sizeof(IdentifyController) == kIdentifyBytes);
static_assert(offsetof(IdentifyController, sn) == 4);
static_assert(offsetof(IdentifyController, mn) == 24);
static_assert(offsetof(IdentifyController, fr) == 64);
static_assert(offsetof(IdentifyController, rab) == 72);
static_assert(offsetof(IdentifyController, ieee) == 73);
static_assert(offsetof(IdentifyController, cmic) == 76);
static_assert(offsetof(IdentifyController, mdts) == 77);
static_assert(offsetof(IdentifyController, cntlid) == 78);
static_assert(offsetof(IdentifyController, ver) == 80);
static_assert(offsetof(IdentifyController, rtd3e) == 88);
static_assert(offsetof(IdentifyController, oaes) == 92);
static_assert(offsetof(IdentifyController, ctratt) == 96);
static_assert(offsetof(IdentifyController, cntrltype) == 111);
static_assert(offsetof(IdentifyController, crdt1) == 128);
static_assert(offsetof(IdentifyController, oacs) == 256);
static_assert(offsetof(IdentifyController, acl) == 258);
static_assert(offsetof(IdentifyController, aerl) == 259);
static_assert(offsetof(IdentifyController, frmw) == 260);
static_assert(offsetof(IdentifyController, lpa) == 261);
static_assert(offsetof(IdentifyController, elpe) == 262);
static_assert(offsetof(IdentifyController, npss) == 263);
static_assert(offsetof(IdentifyController, apsta) == 265);
static_assert(offsetof(IdentifyController, hmpre) == 272);
static_assert(offsetof(IdentifyController, tnvmcap) == 280);
static_assert(offsetof(IdentifyController, sqes) == 512);
static_assert(offsetof(IdentifyController, cqes) == 513);
static_assert(offsetof(IdentifyController, maxcmd) == 514);
static_assert(offsetof(IdentifyController, nn) == 516);
static_assert(offsetof(IdentifyController, oncs) == 520);
static_assert(offsetof(IdentifyController, fuses) == 522);
static_assert(offsetof(IdentifyController, fna) == 524);
static_assert(offsetof(IdentifyController, vwc) == 525);
static_assert(offsetof(IdentifyController, awun) == 526);
static_assert(offsetof(IdentifyController, awupf) == 528);
static_assert(offsetof(IdentifyController, nvscc) == 530);
static_assert(offsetof(IdentifyController, sgls) == 536);
static_assert(offsetof(IdentifyController, subnqn) == 768);
static_assert(offsetof(IdentifyController, psd) == 2048);
static_assert(offsetof(IdentifyController, vendor_specific) == 3072);

// ONCS bits: b2 Dataset Management, b3 Write Zeroes.
inline constexpr uint16_t kOncsDatasetManagement = 1u << 2;
inline constexpr uint16_t kOncsWriteZeroes = 1u << 3;
// VWC: b0 present; b2:1 = 10b: Flush with NSID FFFFFFFFh not supported.
inline constexpr uint8_t kVwcPresent = 0x01;
inline constexpr uint8_t kVwcBroadcastFlushUnsupported = 0x04;
// CNTRLTYPE: 1 = I/O controller.
inline constexpr uint8_t kControllerTypeIo = 1;

// NVM 1.0 "Identify Namespace Data Structure", 4096 bytes.
struct LbaFormat {
  uint32_t raw;  // MS 15:0, LBADS 23:16 (log2 bytes), RP 25:24
  constexpr uint16_t ms() const { return static_cast<uint16_t>(raw & 0xFFFF); }
  constexpr uint8_t lbads() const { return static_cast<uint8_t>(raw >> 16); }
  static constexpr LbaFormat Make(uint8_t lbads) { return LbaFormat{uint32_t{lbads} << 16}; }
};
static_assert(sizeof(LbaFormat) == 4);

struct IdentifyNamespace {
  uint64_t nsze;
  uint64_t ncap;
  uint64_t nuse;
  uint8_t nsfeat;
  uint8_t nlbaf;   // 0's based
  uint8_t flbas;   // format index 3:0 (+ 6:5), extended metadata 4
  uint8_t mc;
  uint8_t dpc;
  uint8_t dps;
  uint8_t nmic;
  uint8_t rescap;
  uint8_t fpi;
  uint8_t dlfeat;
  uint16_t nawun;
  uint16_t nawupf;
  uint16_t nacwu;
  uint16_t nabsn;
  uint16_t nabo;
  uint16_t nabspf;
  uint16_t noiob;
  std::array<uint8_t, 16> nvmcap;
  uint16_t npwg;
  uint16_t npwa;
  uint16_t npdg;
  uint16_t npda;
  uint16_t nows;
  std::array<uint8_t, 18> reserved74;
  uint32_t anagrpid;
  std::array<uint8_t, 3> reserved96;
  uint8_t nsattr;  // b0 write protected
  uint16_t nvmsetid;
  uint16_t endgid;
  std::array<uint8_t, 16> nguid;
  std::array<uint8_t, 8> eui64;
  std::array<LbaFormat, 64> lbaf;
  std::array<uint8_t, 3712> reserved384;
};
static_assert(sizeof(IdentifyNamespace) == kIdentifyBytes);
static_assert(offsetof(IdentifyNamespace, nsfeat) == 24);
static_assert(offsetof(IdentifyNamespace, nlbaf) == 25);
static_assert(offsetof(IdentifyNamespace, flbas) == 26);
static_assert(offsetof(IdentifyNamespace, dps) == 29);
static_assert(offsetof(IdentifyNamespace, nmic) == 30);
static_assert(offsetof(IdentifyNamespace, dlfeat) == 33);
static_assert(offsetof(IdentifyNamespace, noiob) == 46);
static_assert(offsetof(IdentifyNamespace, nsattr) == 99);
static_assert(offsetof(IdentifyNamespace, nguid) == 104);
static_assert(offsetof(IdentifyNamespace, eui64) == 120);
static_assert(offsetof(IdentifyNamespace, lbaf) == 128);

// Byte images of the structures above (copies, no aliasing).
template <typename T>
constexpr std::array<std::byte, sizeof(T)> ToBytes(const T& object) {
  return std::bit_cast<std::array<std::byte, sizeof(T)>>(object);
}
template <typename T>
constexpr T FromBytes(const std::array<std::byte, sizeof(T)>& bytes) {
  return std::bit_cast<T>(bytes);
}

}  // namespace nvme::wire
