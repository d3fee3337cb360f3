// Measured boot of VTL0 (issue 12 §3; tpm-attestation.md §3): the events
// hcl extends into the vTPM before VTL0's first instruction, the PCR values
// they lead to, and the TCG crypto-agile event log VTL0 reads. One module
// for both sides, so what hcl measures and what `hcl-attest pcrs` predicts
// cannot drift apart. Sans I/O and without a crypto library: the caller
// supplies the hash (hcl and hcl-attest both pass mbedTLS's).
//
// The sequence (tpm-attestation.md §3.3; no UEFI, a direct Linux boot):
//   PCR 0-7  EV_SEPARATOR, data 00 00 00 00: the platform phase ends (the
//            paravisor itself is measured by the hardware's launch digest,
//            not here);
//   PCR 9    EV_IPL "vtl0 kernel\0", digest H(kernel image as loaded);
//            EV_IPL "vtl0 initrd\0", digest H(initrd) (omitted if empty);
//   PCR 8    EV_IPL "kernel_cmdline: <command line>\0", digest H(command
//            line without the NUL) (GRUB's convention, which tpm2-tools'
//            eventlog verifies).
// No EV_NO_ACTION after the header, StartupLocality 0 (tpm2-tools 5.4
// would extend one: §3.4).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace attest {

// TPM_ALG_ID (TPM 2.0 Part 2 §6.3) of the PCR banks we measure into.
enum class HashAlg : uint16_t { kSha1 = 0x0004, kSha256 = 0x000B, kSha384 = 0x000C, kSha512 = 0x000D };
size_t DigestBytes(HashAlg alg);
std::string_view HashName(HashAlg alg);  // "sha256", as tpm2-tools names banks
// The inverse: nullopt for a name that is none of the four.
std::optional<HashAlg> HashAlgFromName(std::string_view name);

// The caller's hash: `alg`'s digest of `data` (DigestBytes(alg) bytes).
using HashFn = std::function<std::vector<uint8_t>(HashAlg alg, std::span<const std::byte> data)>;

// TCG PC Client PFP event types (tpm-attestation.md §3.3).
inline constexpr uint32_t kEvNoAction = 0x3;
inline constexpr uint32_t kEvSeparator = 0x4;
inline constexpr uint32_t kEvIpl = 0xD;

inline constexpr uint32_t kPcrCount = 24;

struct BootEvent {
  uint32_t pcr = 0;
  uint32_t type = 0;
  std::vector<std::vector<uint8_t>> digests;  // one per bank, in the banks' order
  std::vector<std::byte> data;
};

struct Vtl0Boot {
  std::span<const std::byte> kernel;
  std::span<const std::byte> initrd;
  std::string_view cmdline;
};

// The events, in order, for `banks` (1-4 distinct algorithms).
base::Result<std::vector<BootEvent>> MeasureVtl0Boot(const Vtl0Boot& boot,
                                                     std::span<const HashAlg> banks,
                                                     const HashFn& hash);

// PCRs 0-23 of each bank after `events`, from all zeros (TPM2_Startup
// CLEAR at locality 0): PCR = H(PCR || digest) per event.
struct PcrBank {
  HashAlg alg;
  std::array<std::vector<uint8_t>, kPcrCount> pcrs;
};
std::vector<PcrBank> ReplayPcrs(std::span<const BootEvent> events, std::span<const HashAlg> banks,
                                const HashFn& hash);

// The log (TCG PC Client PFP "Crypto Agile Log Entries Format"): a
// TCG_PCR_EVENT header carrying the Spec ID Event03 with `banks`, then one
// TCG_PCR_EVENT2 per event, each with every bank's digest (Linux 6.1
// requires all of them: §3.2).
std::vector<std::byte> SerializeEventLog(std::span<const BootEvent> events,
                                         std::span<const HashAlg> banks);

}  // namespace attest
