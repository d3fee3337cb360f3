// The few TPM 2.0 commands the paravisor itself sends (TPM 2.0 Part 3),
// and the response header they share. Sans I/O: bytes out, bytes in.
//   TPM2_Startup(CLEAR) before VTL0 runs (tpm-attestation.md §4.4: Linux
//   sends Startup only if SelfTest says TPM_RC_INITIALIZE, and measured
//   boot needs the TPM started);
//   TPM2_PCR_Extend for measured boot, with a password session of empty
//   auth (TPM_RS_PW), as the platform at locality 0 may.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace tpm {

// TPM 2.0 Part 2 §6.5 (command codes), §6.9 (tags), §6.11 (startup type).
inline constexpr uint16_t kStNoSessions = 0x8001;
inline constexpr uint16_t kStSessions = 0x8002;
inline constexpr uint32_t kCcStartup = 0x144;
inline constexpr uint32_t kCcPcrExtend = 0x182;
inline constexpr uint32_t kCcGetRandom = 0x17B;
inline constexpr uint32_t kCcPcrRead = 0x17E;
inline constexpr uint32_t kCcGetCapability = 0x17A;
inline constexpr uint32_t kCapPcrs = 5;  // §6.12 TPM_CAP_PCRS
inline constexpr uint16_t kSuClear = 0x0000;
inline constexpr uint32_t kRsPw = 0x40000009;  // §7.4 TPM_RS_PW
inline constexpr uint32_t kRcSuccess = 0;
inline constexpr uint32_t kRcInitialize = 0x100;  // §6.6 TPM_RC_INITIALIZE
// §7.4 permanent handles.
inline constexpr uint32_t kRhOwner = 0x40000001;
inline constexpr uint32_t kRhEndorsement = 0x4000000B;
inline constexpr uint32_t kRhPlatform = 0x4000000C;

struct TaggedDigest {
  uint16_t alg = 0;  // TPM_ALG_ID
  std::span<const uint8_t> digest;
};

std::vector<std::byte> StartupCommand(uint16_t startup_type);
std::vector<std::byte> PcrExtendCommand(uint32_t pcr, std::span<const TaggedDigest> digests);
// TPM2_GetRandom (Part 3 §16.1).
std::vector<std::byte> GetRandomCommand(uint16_t bytes);
// TPM2_CreatePrimary (Part 3 §24.1) of an attestation key in the
// endorsement hierarchy: ECC P-256, restricted signing, ECDSA with SHA-256
// (the shape tpm2_createak -G ecc makes). The response's handle is at byte 10.
std::vector<std::byte> CreateAttestationKeyCommand();
// TPM2_Quote (Part 3 §18.4) by `key` of SHA-256 PCRs 0-7 with `nonce`
// (at most 64 bytes), in the key's own scheme.
std::vector<std::byte> QuoteCommand(uint32_t key, std::span<const uint8_t> nonce);
// TPM2_GetCapability(TPM_CAP_PCRS): the PCR banks and which PCRs each has.
std::vector<std::byte> GetPcrAllocationCommand();
// The banks (TPM_ALG_IDs, in the TPM's order) whose selection is not empty,
// from a successful GetPcrAllocationCommand response (Part 2 §10.10.2
// TPMS_CAPABILITY_DATA, §10.9.7 TPML_PCR_SELECTION).
base::Result<std::vector<uint16_t>> ParsePcrAllocation(std::span<const std::byte> response);

// TPM2_ReadPublic (Part 3 §12.4) of `object`.
std::vector<std::byte> ReadPublicCommand(uint32_t object);
// TPM2_EvictControl (Part 3 §28.5) by hierarchy `auth` (empty password):
// persists transient `object` at `persistent`, or, given a persistent
// object as both, removes it.
std::vector<std::byte> EvictControlCommand(uint32_t auth, uint32_t object, uint32_t persistent);
// TPM2_FlushContext (Part 3 §28.4).
std::vector<std::byte> FlushContextCommand(uint32_t handle);
// TPM2_NV_DefineSpace (Part 3 §31.3) by hierarchy `auth`: an ordinary
// index of `size` bytes, SHA-256 names, empty auth value and policy.
std::vector<std::byte> NvDefineSpaceCommand(uint32_t auth, uint32_t index, uint32_t attributes,
                                            uint16_t size);
// TPM2_NV_UndefineSpace (Part 3 §31.4).
std::vector<std::byte> NvUndefineSpaceCommand(uint32_t auth, uint32_t index);
// TPM2_NV_Write (Part 3 §31.6) of `data` (at most kMaxNvBuffer bytes) at
// `offset`, authorised by `auth` (the platform for a PPWRITE index).
std::vector<std::byte> NvWriteCommand(uint32_t auth, uint32_t index, std::span<const uint8_t> data,
                                      uint16_t offset);
// TPM2_NV_Read (Part 3 §31.13) of `size` bytes (at most kMaxNvBuffer) at
// `offset`, authorised by `auth` (the owner for an OWNERREAD index).
std::vector<std::byte> NvReadCommand(uint32_t auth, uint32_t index, uint16_t size, uint16_t offset);
// libtpms' MAX_NV_BUFFER_SIZE: the most one NV_Write carries.
inline constexpr size_t kMaxNvBuffer = 1024;
// Part 2 §13.4 TPMA_NV bits.
namespace nv {
inline constexpr uint32_t kPpWrite = 1u << 0;
inline constexpr uint32_t kPpRead = 1u << 16;
inline constexpr uint32_t kOwnerRead = 1u << 17;
inline constexpr uint32_t kAuthRead = 1u << 18;
inline constexpr uint32_t kNoDa = 1u << 25;
inline constexpr uint32_t kPlatformCreate = 1u << 30;
}  // namespace nv

// An ECC key's public area (Part 2 §12.2.4 TPMT_PUBLIC with
// TPMS_ECC_PARMS and a TPMS_ECC_POINT), as a TPM returns it.
struct EccPublic {
  uint32_t attributes = 0;     // TPMA_OBJECT
  uint16_t curve = 0;          // TPM_ECC_CURVE (3: NIST P-256)
  uint16_t scheme = 0;         // TPM_ALG_ID (0x18: ECDSA)
  uint16_t scheme_hash = 0;    // TPM_ALG_ID (0x0B: SHA-256)
  std::vector<uint8_t> x, y;
  std::vector<uint8_t> area;   // the whole TPM2B_PUBLIC as returned
};
// The public area of a successful CreatePrimary (after the handle and
// parameterSize) or ReadPublic response; an Error if it is not an ECC key.
base::Result<EccPublic> ParseCreatePrimaryPublic(std::span<const std::byte> response);
base::Result<EccPublic> ParseReadPublic(std::span<const std::byte> response);

// The response code of a whole response whose header is consistent (at
// least 10 bytes, size field equal to its length); an Error otherwise.
base::Result<uint32_t> ResponseCode(std::span<const std::byte> response);

}  // namespace tpm
