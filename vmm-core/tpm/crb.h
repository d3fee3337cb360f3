// CrbInterface: the TPM Command Response Buffer interface (TCG PC Client
// Platform TPM Profile, "PTP" below, §6.5.3; register table in
// tpm-attestation.md §1.1) as the paravisor presents it to VTL0's stock
// tpm_crb driver. Sans I/O: register accesses in, commands out; the
// command/response buffer is reached through CommandBuffer (in hcl, VTL0
// RAM through the memory gate); the TPM engine is the caller's.
//
// What it implements, per locality page (0-4, platform.h):
//   LOC_STATE   tpmRegValidSts, locAssigned and activeLocality;
//   LOC_CTRL    requestAccess (granted at once if no locality is active,
//               otherwise when the active one relinquishes, highest
//               request first), relinquish; seize and resetEstablishment
//               are not offered (PTP §6.5.3.4 makes them optional);
//   LOC_STS     granted;
//   INTF_ID     CRB interface, version 1, five localities, CRB selected and
//               locked (no FIFO);
//   CTRL_REQ    cmdReady / goIdle, acknowledged at once (the bits read 0);
//   CTRL_STS    tpmSts (fatal error) and tpmIdle;
//   CTRL_CANCEL bit 0, read back; 1 while a command runs asks the caller
//               to cancel it;
//   CTRL_START  1 from the active locality starts the command in the buffer;
//               it reads 1 until the caller completes the command;
//   CMD/RSP     size and address of the one buffer (read only: VTL0 cannot
//               move it).
// INT_ENABLE/INT_STS read 0 (Linux 6.1 polls).
//
// Commands: START snapshots the command's header, takes its size from the
// header (TPM 2.0 Part 1 §18.2: tag, size, code, big-endian) and copies
// exactly that many bytes out of the buffer once: the engine runs on the
// copy, so VTL0 changing the buffer meanwhile changes nothing. A size under
// a header or over the buffer is answered at once with TPM_RC_COMMAND_SIZE,
// as a TPM would. A buffer that cannot be read or written, or a response
// that does not fit it, sets tpmSts: the driver reports -EIO.
//
// Hostile input: any offset, width (1-8 bytes) and value; bytes outside
// the registers read 0xFF and ignore writes; a write reaches a writable
// register only through a dword-aligned access that covers its first byte
// (Linux uses 32-bit accesses), which is what an 8-byte write does to two
// registers at once.
//
// Locking: VP threads access registers while a TPM thread completes
// commands; one mutex guards the state. CommandBuffer calls happen under
// it (they must not call back).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"

namespace tpm {

class CommandBuffer {
 public:
  virtual ~CommandBuffer() = default;
  virtual base::Result<void> Read(uint32_t offset, std::span<std::byte> out) = 0;
  virtual base::Result<void> Write(uint32_t offset, std::span<const std::byte> in) = 0;
};

struct CrbCommand {
  uint8_t locality = 0;
  std::vector<std::byte> bytes;  // the whole command, header included
};

// What a register write asks of the caller.
struct CrbWriteEffect {
  std::optional<CrbCommand> start;  // run it, then call Complete
  bool cancel = false;              // cancel the command that runs
};

class CrbInterface final {
 public:
  // PTP Table 41 (CRB registers), offsets within a locality's page.
  static constexpr uint32_t kLocState = 0x00;
  static constexpr uint32_t kLocCtrl = 0x08;
  static constexpr uint32_t kLocSts = 0x0C;
  static constexpr uint32_t kIntfId = 0x30;
  static constexpr uint32_t kCtrlExt = 0x38;
  static constexpr uint32_t kCtrlReq = 0x40;
  static constexpr uint32_t kCtrlSts = 0x44;
  static constexpr uint32_t kCtrlCancel = 0x48;
  static constexpr uint32_t kCtrlStart = 0x4C;
  static constexpr uint32_t kIntEnable = 0x50;
  static constexpr uint32_t kIntSts = 0x54;
  static constexpr uint32_t kCmdSize = 0x58;
  static constexpr uint32_t kCmdLowAddress = 0x5C;
  static constexpr uint32_t kCmdHighAddress = 0x60;
  static constexpr uint32_t kRspSize = 0x64;
  static constexpr uint32_t kRspAddress = 0x68;
  static constexpr uint32_t kRegisterBytes = 0x80;  // the data buffer is elsewhere

  // LOC_STATE, LOC_CTRL, LOC_STS, CTRL_REQ, CTRL_STS bits (PTP §6.5.3.x).
  static constexpr uint32_t kLocStateAssigned = 1u << 1;
  static constexpr uint32_t kLocStateRegValid = 1u << 7;
  static constexpr uint32_t kLocCtrlRequest = 1u << 0;
  static constexpr uint32_t kLocCtrlRelinquish = 1u << 1;
  static constexpr uint32_t kLocStsGranted = 1u << 0;
  static constexpr uint32_t kReqCmdReady = 1u << 0;
  static constexpr uint32_t kReqGoIdle = 1u << 1;
  static constexpr uint32_t kStsFatal = 1u << 0;
  static constexpr uint32_t kStsIdle = 1u << 1;

  // TPM 2.0 Part 2 §6.6: TPM_RC_COMMAND_SIZE (RC_VER1 + 0x042).
  static constexpr uint32_t kRcCommandSize = 0x142;
  static constexpr size_t kHeaderBytes = 10;

  // `buffer_gpa`/`buffer_bytes`: what CMD/RSP registers report (the
  // buffer CommandBuffer reaches). `buffer_bytes` >= a header.
  CrbInterface(CommandBuffer& buffer, uint64_t buffer_gpa, uint32_t buffer_bytes);
  CrbInterface(const CrbInterface&) = delete;
  CrbInterface& operator=(const CrbInterface&) = delete;

  // `offset` from the base of locality 0's page; `data` 1-8 bytes.
  void Read(uint64_t offset, std::span<std::byte> data);
  CrbWriteEffect Write(uint64_t offset, std::span<const std::byte> data);

  // The engine's answer to the command Write returned. Ignored when no
  // command runs (a late answer after a reset).
  void Complete(std::span<const std::byte> response);

  bool executing() const;
  std::optional<uint8_t> active_locality() const;

 private:
  uint32_t RegisterLocked(uint8_t locality, uint32_t dword_offset) const;
  void WriteRegisterLocked(uint8_t locality, uint32_t dword_offset, uint32_t value,
                           CrbWriteEffect& effect);
  void StartLocked(uint8_t locality, CrbWriteEffect& effect);
  void GrantNextLocked();

  CommandBuffer& buffer_;
  const uint64_t buffer_gpa_;
  const uint32_t buffer_bytes_;

  mutable std::mutex mutex_;
  std::optional<uint8_t> active_;  // guarded by mutex_
  uint8_t requested_ = 0;          // bit per locality waiting for access
  bool idle_ = true;
  bool fatal_ = false;
  bool cancel_ = false;
  bool executing_ = false;  // CTRL_START reads 1
};

}  // namespace tpm
