// MANA (Microsoft Azure Network Adapter) and its GDMA transport as Linux
// 6.1's `mana` driver sees them: the VF's BAR0 registers, the shared-memory
// channel (SMC), doorbells, queue entry formats and the hardware-channel
// (HWC) request codes and layouts. Offsets are bytes, little-endian;
// section numbers are mana-netvsc.md's. Shared by the emulator
// (mana/device.h) and hcl's user-mode driver.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mana {

// §1: PCI identity (the VF: the PF path uses other registers).
inline constexpr uint16_t kVendorId = 0x1414;
inline constexpr uint16_t kVfDeviceId = 0x00BA;

// §1: VF registers in BAR0. The driver reads the 64-bit ones with readq.
namespace reg {
inline constexpr uint64_t kVersion = 0x00;
inline constexpr uint64_t kDoorbellPageOffset = 0x08;  // u64
inline constexpr uint64_t kDoorbellPageSize = 0x10;    // u32, low 16 bits used
inline constexpr uint64_t kSmcOffset = 0x18;           // u64
inline constexpr uint64_t kSmcSize = 0x20;             // u16 = 32
}  // namespace reg

// §1: the shared-memory channel: 8 dwords; the driver writes them in
// order and the last (the header) triggers.
namespace smc {
inline constexpr size_t kBytes = 32;
inline constexpr uint32_t kEstablishHwc = 1;
inline constexpr uint32_t kDestroyHwc = 2;
// Header dword (bytes 28..31).
inline constexpr uint32_t TypeOf(uint32_t header) { return header & 7; }
inline constexpr uint32_t VersionOf(uint32_t header) { return (header >> 3) & 7; }
inline constexpr uint32_t kResponseBit = 1u << 7;
inline constexpr uint32_t kBusyBit = 1u << 31;  // the driver polls it clear
inline constexpr uint32_t Response(uint32_t type, uint32_t version, uint8_t status) {
  return type | (version << 3) | kResponseBit | (uint32_t{status} << 8);
}
}  // namespace smc

// §1: doorbell offsets within a doorbell page and their value layouts.
namespace doorbell {
inline constexpr uint64_t kSq = 0x000;
inline constexpr uint64_t kRq = 0x400;
inline constexpr uint64_t kCq = 0x800;
inline constexpr uint64_t kEq = 0xFF8;
inline constexpr uint32_t kWqIdMask = 0xFFFFFF;
inline constexpr uint32_t kEqIdMask = 0xFFFF;
inline constexpr uint64_t kArmBit = 1ull << 63;
// CQ/EQ tail: bits 62:32; SQ/RQ tail: bits 63:32.
inline constexpr uint32_t CompletionTail(uint64_t value) {
  return static_cast<uint32_t>(value >> 32) & 0x7FFFFFFF;
}
inline constexpr uint32_t WorkTail(uint64_t value) { return static_cast<uint32_t>(value >> 32); }
}  // namespace doorbell

// §3: queue entries.
inline constexpr size_t kEqeBytes = 16;
inline constexpr size_t kCqeBytes = 64;
inline constexpr size_t kWqeUnitBytes = 32;  // a WQE is whole 32-byte units
inline constexpr size_t kMaxSqWqeBytes = 512;
inline constexpr size_t kMaxRqWqeBytes = 256;
inline constexpr size_t kSgeBytes = 16;  // {address u64, memory key u32, size u32}
inline constexpr size_t kCqeDataBytes = 60;
inline constexpr uint32_t kOwnerBitsMask = 7;
inline constexpr size_t kPageBytes = 4096;

// EQE types (details[0..2] at 0, the info dword at 12).
namespace eqe {
inline constexpr uint8_t kCompletion = 3;
inline constexpr uint8_t kTest = 64;
inline constexpr uint8_t kHwcInitEqIdDb = 129;
inline constexpr uint8_t kHwcInitData = 130;
inline constexpr uint8_t kHwcInitDone = 131;
}  // namespace eqe

// HWC init data types (EQE 130, details[0] = value[23:0] | type[31:24]).
namespace hwc_init {
inline constexpr uint8_t kCqId = 1;
inline constexpr uint8_t kRqId = 2;
inline constexpr uint8_t kSqId = 3;
inline constexpr uint8_t kQueueDepth = 4;
inline constexpr uint8_t kMaxRequest = 5;
inline constexpr uint8_t kMaxResponse = 6;
inline constexpr uint8_t kMaxNumCqs = 7;
inline constexpr uint8_t kPdid = 8;
inline constexpr uint8_t kGpaMkey = 9;
}  // namespace hwc_init

// WQE header: dw0 last_vbytes[31:24]; dw1 num_sge[7:0],
// inline_oob_size/4[10:8], client_oob_in_sgl[11], client_data_unit[29:16].
struct WqeHeader {
  uint8_t last_vbytes = 0;
  uint8_t sge_count = 0;
  uint8_t inline_oob_bytes = 0;
  bool client_oob_in_sgl = false;
  uint16_t client_data_unit = 0;
  static WqeHeader Decode(uint32_t dw0, uint32_t dw1) {
    return {static_cast<uint8_t>(dw0 >> 24), static_cast<uint8_t>(dw1 & 0xFF),
            static_cast<uint8_t>(((dw1 >> 8) & 7) * 4), ((dw1 >> 11) & 1) != 0,
            static_cast<uint16_t>((dw1 >> 16) & 0x3FFF)};
  }
  size_t Bytes() const {
    const size_t raw = 8 + inline_oob_bytes + size_t{sge_count} * kSgeBytes;
    return (raw + kWqeUnitBytes - 1) / kWqeUnitBytes * kWqeUnitBytes;
  }
};

// §3: CQE data types (the MANA OOB's first dword: type[5:0], client[7:6]).
namespace cqe {
inline constexpr uint32_t kClientMana = 1;
inline constexpr uint8_t kRxOkay = 1;
inline constexpr uint8_t kRxTruncated = 4;
inline constexpr uint8_t kRxObjectFence = 3;
inline constexpr uint8_t kTxOkay = 32;
inline constexpr uint8_t kTxMtuDrop = 34;
inline constexpr uint8_t kTxInvalidOob = 35;
inline constexpr uint8_t kTxHeaderProcessingError = 37;
}  // namespace cqe

// TX OOB, short form dw0: pkt_fmt[1:0], v4[2], v6[3], comp_ip[4],
// comp_tcp[5], comp_udp[6], suppress_cqe[7], vcq[31:8]; dw1: trans_off[9:0].
// Long form (24 bytes) adds dw2: inject_vlan[3], pcp[18:16], dei[19], vid[31:20].
struct TxOob {
  bool long_form = false;
  bool ipv4 = false, ipv6 = false;
  bool ip_checksum = false, tcp_checksum = false, udp_checksum = false;
  uint16_t transport_offset = 0;
  bool inject_vlan = false;
  uint16_t vlan_tci = 0;
};

// GDMA message header (16 bytes) and request/response headers.
namespace msg {
inline constexpr size_t kHeaderBytes = 16;  // hdr_type, msg_type, version u16, hwc id u16, size
inline constexpr size_t kRequestHeaderBytes = 40;   // req, resp, dev_id @32, activity @36
inline constexpr size_t kResponseHeaderBytes = 32;  // resp, dev_id @16, activity @20, status @24
inline constexpr size_t kMaxBytes = 0x1000;          // HWC request/response limit
// Request codes (GDMA).
inline constexpr uint32_t kVerifyVfDriverVersion = 1;
inline constexpr uint32_t kQueryMaxResources = 2;
inline constexpr uint32_t kListDevices = 3;
inline constexpr uint32_t kRegisterDevice = 4;
inline constexpr uint32_t kDeregisterDevice = 5;
inline constexpr uint32_t kGenerateTestEqe = 10;
inline constexpr uint32_t kCreateQueue = 12;
inline constexpr uint32_t kDisableQueue = 13;
inline constexpr uint32_t kCreateDmaRegion = 25;
inline constexpr uint32_t kDmaRegionAddPages = 26;
inline constexpr uint32_t kDestroyDmaRegion = 27;
// Request codes (MANA).
inline constexpr uint32_t kQueryDevConfig = 0x20001;
inline constexpr uint32_t kConfigVportTx = 0x20003;
inline constexpr uint32_t kCreateWqObj = 0x20004;
inline constexpr uint32_t kDestroyWqObj = 0x20005;
inline constexpr uint32_t kFenceRq = 0x20006;
inline constexpr uint32_t kConfigVportRx = 0x20007;
inline constexpr uint32_t kQueryVportConfig = 0x20008;
}  // namespace msg

// GDMA queue and device types.
inline constexpr uint32_t kQueueTypeSq = 1;
inline constexpr uint32_t kQueueTypeRq = 2;
inline constexpr uint32_t kQueueTypeCq = 3;
inline constexpr uint32_t kQueueTypeEq = 4;
inline constexpr uint16_t kDeviceTypeHwc = 1;
inline constexpr uint16_t kDeviceTypeMana = 2;

// hwc_tx_oob / hwc_rx_oob (§2 "HWC transport"): the response's CQE data
// carries the RQ WQE's byte offset at 12 and the response length at 24.
inline constexpr size_t kHwcRxOobWqeOffset = 12;
inline constexpr size_t kHwcRxOobDataSize = 24;

// RX completion OOB (§3): flags @4, ppi[i] {len u16 @8+12i, hash u32
// @16+12i}, rx_wqe_offset @56.
namespace rx_flags {
inline constexpr uint32_t kVlanPresent = 1u << 12;
inline constexpr uint32_t kHashTypeShift = 16;
inline constexpr uint32_t kIpOk = 1u << 25;
inline constexpr uint32_t kIpFail = 1u << 26;
inline constexpr uint32_t kTcpOk = 1u << 27;
inline constexpr uint32_t kTcpFail = 1u << 28;
inline constexpr uint32_t kUdpOk = 1u << 29;
inline constexpr uint32_t kUdpFail = 1u << 30;
}  // namespace rx_flags

}  // namespace mana
