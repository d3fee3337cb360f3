// Hyper-V TLFS definitions shared by the hypervisor side (hcl-loader) and
// the paravisor (hcl): hypercall codes and status values, register names,
// SynIC message layout, intercept messages and the VP assist page's VTL
// control area. Facts from the TLFS (MicrosoftDocs Virtualization-
// Documentation, tlfs/*.md) as digested in shared/specs/hyperv-vmbus.md;
// layouts pinned with static_assert. Little-endian throughout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hv {

// TLFS "Hypercall Interface": call codes (hyperv-vmbus.md §2 table).
enum class CallCode : uint16_t {
  kModifyVtlProtectionMask = 0x000C,
  kEnablePartitionVtl = 0x000D,
  kEnableVpVtl = 0x000F,
  kVtlCall = 0x0011,
  kVtlReturn = 0x0012,
  kInstallIntercept = 0x004D,
  kGetVpRegisters = 0x0050,
  kSetVpRegisters = 0x0051,
  kTranslateVirtualAddress = 0x0052,
  kDeletePort = 0x0058,
  kDisconnectPort = 0x005B,
  kPostMessage = 0x005C,
  kSignalEvent = 0x005D,
  kAssertVirtualInterrupt = 0x0094,
  kCreatePort = 0x0095,
  kConnectPort = 0x0096,
  kStartVirtualProcessor = 0x0099,
  kGetVpIndexFromApicId = 0x009A,
  kSignalEventDirect = 0x00C0,
  kPostMessageDirect = 0x00C1,
  kModifySparseGpaPageHostVisibility = 0x00DB,  // isolated partitions only
  // Not TLFS: hcl-loader's platform key for VTL2 (loader/vsm/platform_key.h),
  // standing in for SEV-SNP's MSG_KEY_REQ. Outside the codes Hyper-V uses.
  kHclGetPlatformKey = 0x0F00,
  // Not TLFS: hcl-loader's emulated hardware attestation report for VTL2
  // (loader/vsm/platform_report.h), standing in for SEV-SNP's MSG_REPORT_REQ.
  kHclGetPlatformReport = 0x0F01,
};

// TLFS Appendix "Hypercall Status Codes".
enum class Status : uint16_t {
  kSuccess = 0x0000,
  kInvalidHypercallCode = 0x0002,
  kInvalidHypercallInput = 0x0003,
  kInvalidAlignment = 0x0004,
  kInvalidParameter = 0x0005,
  kAccessDenied = 0x0006,
  kInvalidPartitionState = 0x0007,
  kOperationDenied = 0x0008,
  kInsufficientMemory = 0x000B,
  kInvalidPartitionId = 0x000D,
  kInvalidVpIndex = 0x000E,
  kInvalidPortId = 0x0011,
  kInvalidConnectionId = 0x0012,
  kInsufficientBuffers = 0x0013,
  kInvalidVpState = 0x0015,
  kInvalidSynicState = 0x0018,
  kInvalidVtlState = 0x0051,
  kVtlAlreadyEnabled = 0x0086,
  kUnknownRegisterName = 0x0087,
};

// TLFS "Synthetic MSRs" (hyperv-vmbus.md §1.4): the range Hyper-V
// reserves for its MSRs, [kSyntheticMsrFirst, + kSyntheticMsrCount).
inline constexpr uint32_t kSyntheticMsrFirst = 0x40000000;
inline constexpr uint32_t kSyntheticMsrCount = 0x200;
constexpr bool IsSyntheticMsr(uint32_t index) {
  return index >= kSyntheticMsrFirst && index - kSyntheticMsrFirst < kSyntheticMsrCount;
}
static_assert(IsSyntheticMsr(0x400001FF) && !IsSyntheticMsr(0x40000200) &&
              !IsSyntheticMsr(0x3FFFFFFF));

inline constexpr uint64_t kPartitionSelf = ~uint64_t{0};
inline constexpr uint32_t kVpIndexSelf = 0xFFFFFFFE;

// The input_vtl byte of many VSM calls: target VTL bits 0-3, "use the
// target" bit 4 (0: the caller's own VTL). TLFS "HV_INPUT_VTL".
struct InputVtl {
  uint8_t target_vtl = 0;
  bool use_target = false;
};
constexpr InputVtl DecodeInputVtl(uint8_t byte) {
  return InputVtl{static_cast<uint8_t>(byte & 0xF), (byte & 0x10) != 0};
}
constexpr uint8_t EncodeInputVtl(uint8_t vtl) { return static_cast<uint8_t>(0x10 | (vtl & 0xF)); }

// TLFS "Virtual Processor Register Names" (hvdef; hyperv-vmbus.md §2).
namespace reg {
inline constexpr uint32_t kRax = 0x00020000;  // RAX..R15 = kRax + n, n in SDM order
inline constexpr uint32_t kRsp = 0x00020004;
inline constexpr uint32_t kRbp = 0x00020005;
inline constexpr uint32_t kRsi = 0x00020006;
inline constexpr uint32_t kRdi = 0x00020007;
inline constexpr uint32_t kR15 = 0x0002000F;
inline constexpr uint32_t kRip = 0x00020010;
inline constexpr uint32_t kRflags = 0x00020011;
inline constexpr uint32_t kCr0 = 0x00040000;
inline constexpr uint32_t kCr2 = 0x00040001;
inline constexpr uint32_t kCr3 = 0x00040002;
inline constexpr uint32_t kCr4 = 0x00040003;
inline constexpr uint32_t kCr8 = 0x00040004;
inline constexpr uint32_t kEs = 0x00060000;  // ES CS SS DS FS GS LDTR TR
inline constexpr uint32_t kCs = 0x00060001;
inline constexpr uint32_t kSs = 0x00060002;
inline constexpr uint32_t kDs = 0x00060003;
inline constexpr uint32_t kFs = 0x00060004;
inline constexpr uint32_t kGs = 0x00060005;
inline constexpr uint32_t kLdtr = 0x00060006;
inline constexpr uint32_t kTr = 0x00060007;
inline constexpr uint32_t kIdtr = 0x00070000;
inline constexpr uint32_t kGdtr = 0x00070001;
inline constexpr uint32_t kTsc = 0x00080000;
inline constexpr uint32_t kEfer = 0x00080001;
inline constexpr uint32_t kKernelGsBase = 0x00080002;
inline constexpr uint32_t kApicBase = 0x00080003;
inline constexpr uint32_t kPat = 0x00080004;
inline constexpr uint32_t kPendingEvent0 = 0x00010004;
inline constexpr uint32_t kVpIndex = 0x00090003;
inline constexpr uint32_t kVsmCodePageOffsets = 0x000D0002;
inline constexpr uint32_t kVsmVpStatus = 0x000D0003;
inline constexpr uint32_t kVsmPartitionStatus = 0x000D0004;
inline constexpr uint32_t kVsmCapabilities = 0x000D0006;
inline constexpr uint32_t kVsmPartitionConfig = 0x000D0007;
// The register page (VpRegisterPage below): a register of VTL2's own, in
// the SynIC overlay form (bit 0 enable, bits 12-63 the page's GPN).
inline constexpr uint32_t kRegisterPage = 0x0009001C;
}  // namespace reg

// HV_REGISTER_VSM_CAPABILITIES bit 27 (intercept_page_available) and
// HV_REGISTER_VSM_PARTITION_CONFIG bit 12 (intercept_page): a VTL2 that
// sets the latter gets each intercept in its VP assist page
// (vp_assist::kInterceptMessage) with entry reason kInterceptPage instead
// of a SINT0 message (hyperv-vmbus.md §3.3).
inline constexpr uint64_t kVsmCapInterceptPage = uint64_t{1} << 27;
inline constexpr uint64_t kVsmConfigInterceptPage = uint64_t{1} << 12;

// HV_REGISTER_ASSOC as GetVpRegisters outputs values and SetVpRegisters
// takes entries: a 16-byte value; a segment is {base u64, limit u32,
// selector u16, attributes u16} (VMX access-rights layout), a table
// register {pad u16 x3, limit u16, base u64}.
struct RegisterValue {
  uint64_t low = 0;
  uint64_t high = 0;
};
static_assert(sizeof(RegisterValue) == 16);

struct RegisterAssoc {
  uint32_t name = 0;
  uint32_t reserved1 = 0;
  uint64_t reserved2 = 0;
  RegisterValue value;
};
static_assert(sizeof(RegisterAssoc) == 32);

// The 16-byte header of Get/SetVpRegisters input (followed by u32 names,
// or by RegisterAssoc entries).
struct VpRegistersHeader {
  uint64_t partition_id = 0;
  uint32_t vp_index = 0;
  uint8_t input_vtl = 0;
  uint8_t reserved[3] = {};
};
static_assert(sizeof(VpRegistersHeader) == 16);

// PendingEvent0 for an exception (TLFS HV_X64_PENDING_EXCEPTION_EVENT):
// event_pending bit 0, event_type bits 1-3 (0 = exception),
// deliver_error_code bit 8, error_code bits 32-63; the high qword holds
// the exception parameter (CR2 for #PF). The vector sits in bits 16-31.
constexpr RegisterValue PendingException(uint8_t vector, bool has_error_code, uint32_t error_code,
                                         uint64_t parameter) {
  return RegisterValue{1 | (has_error_code ? uint64_t{1} << 8 : 0) | uint64_t{vector} << 16 |
                           uint64_t{error_code} << 32,
                       parameter};
}

// TLFS "SynIC Message Buffers": HV_MESSAGE, 256 bytes per SINT slot.
inline constexpr size_t kMessageBytes = 256;
inline constexpr size_t kMessagePayloadBytes = 240;
inline constexpr size_t kSintCount = 16;
struct MessageHeader {
  uint32_t type = 0;  // 0 = the slot is free
  uint8_t payload_size = 0;
  uint8_t flags = 0;  // bit 0: message_pending
  uint16_t reserved = 0;
  uint64_t sender = 0;  // port id or partition id
};
static_assert(sizeof(MessageHeader) == 16);
inline constexpr uint8_t kMessagePending = 0x1;

// Message types (hvdef HvMessageType).
namespace message {
inline constexpr uint32_t kNone = 0;
inline constexpr uint32_t kUnmappedGpa = 0x80000000;
inline constexpr uint32_t kGpaIntercept = 0x80000001;
// A lower VTL's VP hit a fault the hypervisor cannot resolve (a triple
// fault, an instruction it cannot run): the payload is the intercept
// header of the VP as it stopped (TLFS HvMessageTypeUnrecoverableException).
inline constexpr uint32_t kUnrecoverableException = 0x80000021;
inline constexpr uint32_t kHypercallIntercept = 0x80000050;
inline constexpr uint32_t kIoPortIntercept = 0x80010000;
inline constexpr uint32_t kMsrIntercept = 0x80010001;
inline constexpr uint32_t kCpuidIntercept = 0x80010002;
}  // namespace message

// The SINT that carries intercept messages to the VTL above (TLFS
// HV_SYNIC_INTERCEPTION_SINT_INDEX) and the one Linux VMBus uses.
inline constexpr uint32_t kInterceptSint = 0;
inline constexpr uint32_t kVmbusSint = 2;

// HV_X64_INTERCEPT_MESSAGE_HEADER (40 bytes; hyperv-vmbus.md §3.5).
struct SegmentWire {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint16_t selector = 0;
  uint16_t attributes = 0;  // VMX access rights
};
static_assert(sizeof(SegmentWire) == 16);

struct InterceptHeader {
  uint32_t vp_index = 0;
  uint8_t instruction_length_cr8 = 0;  // bits 0-3 length, 4-7 CR8
  uint8_t intercept_access = 0;        // 0 read, 1 write, 2 execute
  uint16_t execution_state = 0;        // CPL 0-1, CR0.PE 2, EFER.LMA 4, VTL 7-10
  SegmentWire cs;
  uint64_t rip = 0;
  uint64_t rflags = 0;
};
static_assert(sizeof(InterceptHeader) == 40);
inline constexpr uint8_t kAccessRead = 0;
inline constexpr uint8_t kAccessWrite = 1;
inline constexpr uint8_t kAccessExecute = 2;

// HV_X64_IO_PORT_INTERCEPT_MESSAGE (128 bytes).
struct IoPortIntercept {
  InterceptHeader header;
  uint16_t port = 0;
  uint8_t access_info = 0;  // bits 0-2 access size (1, 2, 4), 3 string, 4 rep
  uint8_t instruction_byte_count = 0;
  uint32_t reserved = 0;
  uint64_t rax = 0;
  uint8_t instruction_bytes[16] = {};
  SegmentWire ds;
  SegmentWire es;
  uint64_t rcx = 0;
  uint64_t rsi = 0;
  uint64_t rdi = 0;
};
static_assert(sizeof(IoPortIntercept) == 128);
static_assert(offsetof(IoPortIntercept, rax) == 48);
static_assert(offsetof(IoPortIntercept, rdi) == 120);
inline constexpr uint8_t kIoString = 1 << 3;
inline constexpr uint8_t kIoRep = 1 << 4;

// HV_X64_MEMORY_INTERCEPT_MESSAGE (80 bytes).
struct MemoryIntercept {
  InterceptHeader header;
  uint32_t cache_type = 0;
  uint8_t instruction_byte_count = 0;
  uint8_t memory_access_info = 0;  // bit 0 GVA valid, bit 1 GVA->GPA valid
  uint8_t tpr_priority = 0;
  uint8_t reserved = 0;
  uint64_t guest_virtual_address = 0;
  uint64_t guest_physical_address = 0;
  uint8_t instruction_bytes[16] = {};
};
static_assert(sizeof(MemoryIntercept) == 80);
// memory_access_info bit 2, reserved in the TLFS, set by hcl-loader only:
// "the write has already executed". KVM finishes an MMIO store (RIP moves
// past it) before telling user space, so the loader cannot hand VTL2 the
// instruction as Hyper-V would; it reports the store itself: the written
// bytes in instruction_bytes, their count in instruction_byte_count, RIP
// already past the instruction. The paravisor performs the device write
// and leaves RIP alone. (Loads are rewound and intercepted as on Hyper-V.)
inline constexpr uint8_t kMemoryAccessWriteCompleted = 1 << 2;
static_assert(offsetof(MemoryIntercept, guest_physical_address) == 56);

// HV_X64_MSR_INTERCEPT_MESSAGE (64 bytes).
struct MsrIntercept {
  InterceptHeader header;
  uint32_t msr_number = 0;
  uint32_t reserved = 0;
  uint64_t rdx = 0;
  uint64_t rax = 0;
};
static_assert(sizeof(MsrIntercept) == 64);

// HV_X64_HYPERCALL_INTERCEPT_MESSAGE (first 96 bytes; the XMM block and
// flags follow and are unused here: no XMM-fast input is advertised).
struct HypercallIntercept {
  InterceptHeader header;
  uint64_t rax = 0;
  uint64_t rbx = 0;
  uint64_t rcx = 0;
  uint64_t rdx = 0;
  uint64_t r8 = 0;
  uint64_t rsi = 0;
  uint64_t rdi = 0;
};
static_assert(sizeof(HypercallIntercept) == 96);

// InstallIntercept types (hvdef HvInterceptType).
namespace intercept_type {
inline constexpr uint32_t kIoPort = 0x0;
inline constexpr uint32_t kMsr = 0x1;
inline constexpr uint32_t kCpuid = 0x2;
inline constexpr uint32_t kException = 0x3;
inline constexpr uint32_t kHypercall = 0x8;
inline constexpr uint32_t kUnknownSynicConnection = 0xD;
inline constexpr uint32_t kIoPortRange = 0x11;
}  // namespace intercept_type

// The register page (Hyper-V's hv_vp_register_page, version 1; upstream
// include/hyperv/hvhdk.h): a page of VTL2's memory in which the hypervisor
// shows the lower VTL's registers at each entry to VTL2 (is_valid 1) and
// from which it takes, at the VtlReturn, the classes VTL2 marked in
// `dirty`. An intercept is then completed (RIP moved on) without a
// SetVpRegisters hypercall, a VTL2 exit of its own.
namespace register_class {
inline constexpr uint32_t kGeneral = 1u << 0;  // the 16 GPRs
inline constexpr uint32_t kIp = 1u << 1;
inline constexpr uint32_t kXmm = 1u << 2;
inline constexpr uint32_t kSegment = 1u << 3;
inline constexpr uint32_t kFlags = 1u << 4;
}  // namespace register_class

struct VpRegisterPage {
  static constexpr uint16_t kVersion = 1;
  uint16_t version = 0;
  uint8_t is_valid = 0;
  uint8_t reserved0 = 0;
  uint32_t dirty = 0;         // register_class bits
  uint64_t gprs[16] = {};     // RAX RCX RDX RBX RSP RBP RSI RDI R8-R15
  uint64_t rip = 0;
  uint64_t rflags = 0;
  uint8_t reserved1[8] = {};
  uint8_t xmm[6][16] = {};    // XMM0-5
  SegmentWire segments[6];    // ES CS SS DS FS GS
  uint64_t cr0 = 0;           // CR0 to EFER: shown, never taken back
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t cr8 = 0;
  uint64_t efer = 0;
  uint64_t dr7 = 0;
  uint64_t pending_interruption = 0;
  uint64_t interrupt_state = 0;
  uint64_t instruction_emulation_hints = 0;
  uint64_t xfem = 0;
};
static_assert(offsetof(VpRegisterPage, gprs) == 8);
static_assert(offsetof(VpRegisterPage, rip) == 136);
static_assert(offsetof(VpRegisterPage, xmm) == 160);
static_assert(offsetof(VpRegisterPage, segments) == 256);
static_assert(offsetof(VpRegisterPage, cr0) == 352);
static_assert(offsetof(VpRegisterPage, efer) == 384);
static_assert(sizeof(VpRegisterPage) == 432);
namespace register_page_segment {
inline constexpr size_t kEs = 0, kCs = 1, kSs = 2, kDs = 3, kFs = 4, kGs = 5;
}

// TLFS "Virtual Processor Assist Page", VTL control (hyperv-vmbus.md §3.2).
namespace vp_assist {
inline constexpr size_t kEntryReason = 8;
inline constexpr size_t kVinaStatus = 12;
inline constexpr size_t kReturnRax = 16;
inline constexpr size_t kReturnRcx = 24;
inline constexpr size_t kInterceptMessage = 112;
}  // namespace vp_assist
enum class VtlEntryReason : uint32_t {
  kReserved = 0,
  kVtlCall = 1,
  kInterrupt = 2,
  kInterceptPage = 3,
};

// SINTx MSR fields (TLFS "SINTx Registers").
constexpr uint8_t SintVector(uint64_t sint) { return static_cast<uint8_t>(sint & 0xFF); }
constexpr bool SintMasked(uint64_t sint) { return (sint & (uint64_t{1} << 16)) != 0; }
constexpr bool SintPolling(uint64_t sint) { return (sint & (uint64_t{1} << 18)) != 0; }

}  // namespace hv
