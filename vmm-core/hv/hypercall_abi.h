// The hypercall inputs and outputs hcl and hcl-loader exchange (TLFS
// "Hypercall Reference"; hyperv-vmbus.md §2): one struct per call, the
// layout pinned with static_assert. hcl builds them by value; the loader
// copies the caller's bytes into them once (copy, then validate) and
// never reads the input at byte offsets. The VTL2 driver keeps its own C
// copy of PostMessage's input (kernel-config/mshv_vtl/mshv_vtl_main.c,
// mv_post_message_input), checked against the same size there.
// Little-endian, like everything in hvdef.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hv/hvdef.h"

namespace hv {

// HvCallInstallIntercept (0x004D).
struct InstallInterceptInput {
  uint64_t partition_id = kPartitionSelf;
  uint32_t access_type_mask = 0;  // HV_INTERCEPT_ACCESS_MASK: R 1, W 2, X 4
  uint32_t intercept_type = 0;    // intercept_type::
  uint64_t parameter = 0;         // port, first|last<<16, or unused
};
static_assert(sizeof(InstallInterceptInput) == 24);
static_assert(offsetof(InstallInterceptInput, intercept_type) == 12);

// HvCallModifyVtlProtectionMask (0x000C): this header, then one u64 GPN
// per rep.
struct ModifyVtlProtectionMaskHeader {
  uint64_t partition_id = kPartitionSelf;
  uint32_t map_flags = 0;  // HV_MAP_GPA_*: read 1, write 2, kernel exec 4, user exec 8
  uint8_t input_vtl = 0;   // HV_INPUT_VTL (EncodeInputVtl)
  uint8_t reserved[3] = {};
};
static_assert(sizeof(ModifyVtlProtectionMaskHeader) == 16);
static_assert(offsetof(ModifyVtlProtectionMaskHeader, input_vtl) == 12);

// HvCallModifySparseGpaPageHostVisibility (0x00DB, isolated partitions):
// this header, then one u64 GPN per rep.
struct ModifySparseGpaPageHostVisibilityHeader {
  uint64_t partition_id = kPartitionSelf;
  uint32_t host_visibility = 0;  // host_visibility::
  uint32_t reserved = 0;
};
// Its visibilities: HV_MAP_GPA_READABLE (1) and WRITABLE (2); write alone
// is not one.
namespace host_visibility {
inline constexpr uint32_t kNone = 0;
inline constexpr uint32_t kReadable = 1;
inline constexpr uint32_t kReadWrite = 3;
}  // namespace host_visibility
static_assert(sizeof(ModifySparseGpaPageHostVisibilityHeader) == 16);

// HvCallHclGetPlatformKey (CallCode::kHclGetPlatformKey, VTL2 only, not
// TLFS): a 32-byte context in, the 32-byte key derived for it out.
struct HclGetPlatformKeyInput {
  uint8_t context[32] = {};
};
struct HclGetPlatformKeyOutput {
  uint8_t key[32] = {};
};
static_assert(sizeof(HclGetPlatformKeyInput) == 32 && sizeof(HclGetPlatformKeyOutput) == 32);

// HvCallHclGetPlatformReport (CallCode::kHclGetPlatformReport, VTL2 only,
// not TLFS): the 64 bytes for REPORT_DATA in, the 1184-byte SEV-SNP-layout
// report out (8-aligned, inside one page).
struct HclGetPlatformReportInput {
  uint8_t report_data[64] = {};
};
struct HclGetPlatformReportOutput {
  uint8_t report[0x4A0] = {};
};
static_assert(sizeof(HclGetPlatformReportInput) == 64 &&
              sizeof(HclGetPlatformReportOutput) == 0x4A0);

// HvCallPostMessage (0x005C): the input page.
struct PostMessageInput {
  uint32_t connection_id = 0;
  uint32_t reserved = 0;
  uint32_t message_type = 0;  // > 0, top bit clear
  uint32_t payload_size = 0;  // <= kMessagePayloadBytes
  uint8_t payload[kMessagePayloadBytes] = {};
};
static_assert(sizeof(PostMessageInput) == 256);
static_assert(offsetof(PostMessageInput, payload) == 16);
inline constexpr size_t kPostMessageHeaderBytes = offsetof(PostMessageInput, payload);

// HvCallSignalEvent (0x005D), fast: RDX = connection id | flag << 32.
struct SignalEventInput {
  uint32_t connection_id = 0;
  uint16_t flag_number = 0;
  uint16_t reserved = 0;
};
static_assert(sizeof(SignalEventInput) == 8);

// Event ports (TLFS "Inter-Partition Communication": HvCallCreatePort,
// HvCallConnectPort, HvCallDeletePort, HvCallDisconnectPort; layouts as in
// Linux include/hyperv/hvhdk.h). A port lives in the partition (and VTL)
// that receives; a connection is the id a sender names in SignalEvent.
// HV_PORT_ID and HV_CONNECTION_ID: 24-bit ids, the top 8 bits reserved.
inline constexpr uint32_t kPortIdMask = 0x00FFFFFF;

// HV_PORT_TYPE.
namespace port_type {
inline constexpr uint32_t kMessage = 1;
inline constexpr uint32_t kEvent = 2;
inline constexpr uint32_t kMonitor = 3;
inline constexpr uint32_t kDoorbell = 4;
}  // namespace port_type

// HV_PORT_INFO (24 bytes): the type, then the type's fields; for an event
// port {target_sint u32, target_vp u32, base_flag_number u16, flag_count
// u16, rsvdz u32}. A signal with flag f (< flag_count) sets bit
// base_flag_number + f of the target SINT's SIEF area (TLFS
// "HvCallSignalEvent").
struct PortInfo {
  uint32_t port_type = 0;  // port_type::
  uint32_t padding = 0;
  uint32_t target_sint = 0;
  uint32_t target_vp = 0;
  uint16_t base_flag_number = 0;
  uint16_t flag_count = 0;
  uint32_t reserved = 0;
};
static_assert(sizeof(PortInfo) == 24);
static_assert(offsetof(PortInfo, target_sint) == 8);
static_assert(offsetof(PortInfo, base_flag_number) == 16);

// HV_CONNECTION_INFO (32 bytes with the doorbell arm): the port type, then
// per type; an event connection has only reserved-zero fields.
struct ConnectionInfo {
  uint32_t port_type = 0;
  uint32_t padding = 0;
  uint64_t reserved[3] = {};
};
static_assert(sizeof(ConnectionInfo) == 32);

// HvCallCreatePort (0x0095), 56 bytes.
struct CreatePortInput {
  uint64_t port_partition_id = kPartitionSelf;
  uint32_t port_id = 0;
  uint8_t port_vtl = 0;
  uint8_t min_connection_vtl = 0;
  uint16_t reserved = 0;
  uint64_t connection_partition_id = kPartitionSelf;
  PortInfo port_info;
  uint64_t proximity_domain_info = 0;
};
static_assert(sizeof(CreatePortInput) == 56);
static_assert(offsetof(CreatePortInput, port_vtl) == 12);
static_assert(offsetof(CreatePortInput, connection_partition_id) == 16);
static_assert(offsetof(CreatePortInput, port_info) == 24);
static_assert(offsetof(CreatePortInput, proximity_domain_info) == 48);

// HvCallConnectPort (0x0096), 72 bytes.
struct ConnectPortInput {
  uint64_t connection_partition_id = kPartitionSelf;
  uint32_t connection_id = 0;
  uint8_t connection_vtl = 0;
  uint8_t reserved0 = 0;
  uint16_t reserved1 = 0;
  uint64_t port_partition_id = kPartitionSelf;
  uint32_t port_id = 0;
  uint32_t reserved2 = 0;
  ConnectionInfo connection_info;
  uint64_t proximity_domain_info = 0;
};
static_assert(sizeof(ConnectPortInput) == 72);
static_assert(offsetof(ConnectPortInput, connection_vtl) == 12);
static_assert(offsetof(ConnectPortInput, port_partition_id) == 16);
static_assert(offsetof(ConnectPortInput, port_id) == 24);
static_assert(offsetof(ConnectPortInput, connection_info) == 32);
static_assert(offsetof(ConnectPortInput, proximity_domain_info) == 64);

// HvCallDeletePort (0x0058), 16 bytes (fast or memory form).
struct DeletePortInput {
  uint64_t port_partition_id = kPartitionSelf;
  uint32_t port_id = 0;
  uint32_t reserved = 0;
};
static_assert(sizeof(DeletePortInput) == 16);

// HvCallDisconnectPort (0x005B), 16 bytes (fast or memory form); bit 0 of
// `flags` is is_doorbell, the rest reserved.
struct DisconnectPortInput {
  uint64_t connection_partition_id = kPartitionSelf;
  uint32_t connection_id = 0;
  uint32_t flags = 0;
};
static_assert(sizeof(DisconnectPortInput) == 16);

// An event port in this partition at VTL `vtl` that sets flags
// [base_flag, base_flag + flag_count) of SINT `sint` on VP `vp`, for
// connections from VTL `min_connection_vtl` and up. hcl sends this; the
// loader's tests build their calls with it, so both use the same bytes.
constexpr CreatePortInput EventPort(uint32_t port_id, uint8_t vtl, uint8_t min_connection_vtl,
                                    uint32_t sint, uint32_t vp, uint16_t base_flag,
                                    uint16_t flag_count) {
  CreatePortInput in;
  in.port_id = port_id;
  in.port_vtl = vtl;
  in.min_connection_vtl = min_connection_vtl;
  in.port_info.port_type = port_type::kEvent;
  in.port_info.target_sint = sint;
  in.port_info.target_vp = vp;
  in.port_info.base_flag_number = base_flag;
  in.port_info.flag_count = flag_count;
  return in;
}

// Connection `connection_id` of VTL `connection_vtl` in this partition to
// event port `port_id` of this partition.
constexpr ConnectPortInput EventConnection(uint32_t connection_id, uint8_t connection_vtl,
                                           uint32_t port_id) {
  ConnectPortInput in;
  in.connection_id = connection_id;
  in.connection_vtl = connection_vtl;
  in.port_id = port_id;
  in.connection_info.port_type = port_type::kEvent;
  return in;
}

// HvCallPostMessageDirect (0x00C1).
struct PostMessageDirectInput {
  uint64_t partition_id = kPartitionSelf;
  uint32_t vp_index = 0;
  uint8_t vtl = 0;
  uint8_t padding0[3] = {};
  uint8_t sint = 0;
  uint8_t padding1[3] = {};
  uint8_t message[kMessageBytes] = {};  // HV_MESSAGE: header, then payload
  uint32_t padding2 = 0;
};
static_assert(sizeof(PostMessageDirectInput) == 280);
static_assert(offsetof(PostMessageDirectInput, sint) == 16);
static_assert(offsetof(PostMessageDirectInput, message) == 20);

// HvCallSignalEventDirect (0x00C0).
struct SignalEventDirectInput {
  uint64_t partition_id = kPartitionSelf;
  uint32_t vp_index = 0;
  uint8_t vtl = 0;
  uint8_t sint = 0;
  uint16_t flag_number = 0;
};
static_assert(sizeof(SignalEventDirectInput) == 16);
struct SignalEventDirectOutput {
  uint8_t newly_signaled = 0;
  uint8_t reserved[7] = {};
};
static_assert(sizeof(SignalEventDirectOutput) == 8);

// HvCallAssertVirtualInterrupt (0x0094). HV_INTERRUPT_CONTROL: bits 0-31
// the HV_INTERRUPT_TYPE (0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT,
// 6 SIPI, 7 ExtInt), bit 32 level-triggered, bit 33 logical destination.
struct AssertVirtualInterruptInput {
  uint64_t partition_id = kPartitionSelf;
  uint64_t control = 0;
  uint64_t destination = 0;  // APIC ID (physical) or logical mask
  uint32_t vector = 0;
  uint8_t target_vtl = 0;
  uint8_t reserved[3] = {};
};
static_assert(sizeof(AssertVirtualInterruptInput) == 32);
inline constexpr uint32_t InterruptType(uint64_t control) { return static_cast<uint32_t>(control); }
inline constexpr bool InterruptLevelTriggered(uint64_t control) { return (control >> 32) & 1; }
inline constexpr bool InterruptLogicalDestination(uint64_t control) { return (control >> 33) & 1; }
inline constexpr uint32_t kInterruptTypeFixed = 0;

// HvCallStartVirtualProcessor (0x0099): this header, then
// HV_INITIAL_VP_CONTEXT (loader/vsm/initial_vp_context.h).
struct StartVirtualProcessorHeader {
  uint64_t partition_id = kPartitionSelf;
  uint32_t vp_index = 0;
  uint8_t target_vtl = 0;
  uint8_t reserved[3] = {};
};
static_assert(sizeof(StartVirtualProcessorHeader) == 16);

// HvCallEnablePartitionVtl (0x000D).
struct EnablePartitionVtlInput {
  uint64_t partition_id = kPartitionSelf;
  uint8_t target_vtl = 0;
  uint8_t flags = 0;
  uint8_t reserved[6] = {};
};
static_assert(sizeof(EnablePartitionVtlInput) == 16);

// HvCallEnableVpVtl (0x000F): this header, then HV_INITIAL_VP_CONTEXT.
struct EnableVpVtlHeader {
  uint64_t partition_id = kPartitionSelf;
  uint32_t vp_index = 0;
  uint8_t target_vtl = 0;
  uint8_t reserved[3] = {};
};
static_assert(sizeof(EnableVpVtlHeader) == 16);

// HvCallGetVpIndexFromApicId (0x009A): this header, then one u32 APIC ID
// per rep; output one u32 VP index per rep.
struct GetVpIndexFromApicIdHeader {
  uint64_t partition_id = kPartitionSelf;
  uint8_t target_vtl = 0;
  uint8_t reserved[7] = {};
};
static_assert(sizeof(GetVpIndexFromApicIdHeader) == 16);

}  // namespace hv
