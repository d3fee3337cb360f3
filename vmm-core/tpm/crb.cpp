#include "tpm/crb.h"

#include <array>

#include "base/be_bytes.h"
#include "tpm/platform.h"

namespace tpm {
namespace {

// PTP §6.5.3.6, CRB_INTF_ID: InterfaceType CRB (1), InterfaceVersion 1,
// CapLocality (five localities), CapDataXferSizeSupport 3 (64 bytes),
// CapCRB, InterfaceSelector CRB (1), IntfSelLock (the selector cannot
// change: there is no FIFO). VID/DID in the upper dword: Microsoft's PCI
// vendor ID, device 1.
constexpr uint32_t kIntfIdLow = 0x1 | (0x1u << 4) | (1u << 8) | (3u << 11) | (1u << 14) |
                                (1u << 17) | (1u << 19);
constexpr uint32_t kIntfIdHigh = 0x0001'1414;

// TPM 2.0 Part 2 §6.9: TPM_ST_NO_SESSIONS.
constexpr uint16_t kStNoSessions = 0x8001;

}  // namespace

CrbInterface::CrbInterface(CommandBuffer& buffer, uint64_t buffer_gpa, uint32_t buffer_bytes)
    : buffer_(buffer), buffer_gpa_(buffer_gpa), buffer_bytes_(buffer_bytes) {}

bool CrbInterface::executing() const {
  std::lock_guard lock(mutex_);
  return executing_;
}

std::optional<uint8_t> CrbInterface::active_locality() const {
  std::lock_guard lock(mutex_);
  return active_;
}

uint32_t CrbInterface::RegisterLocked(uint8_t locality, uint32_t dword_offset) const {
  switch (dword_offset) {
    case kLocState: {
      uint32_t value = kLocStateRegValid;
      if (active_) value |= kLocStateAssigned | (uint32_t{*active_} << 2);
      return value;
    }
    case kLocSts: return active_ == locality ? kLocStsGranted : 0;
    case kIntfId: return kIntfIdLow;
    case kIntfId + 4: return kIntfIdHigh;
    case kCtrlSts: return (fatal_ ? kStsFatal : 0) | (idle_ ? kStsIdle : 0);
    case kCtrlCancel: return cancel_ ? 1 : 0;
    case kCtrlStart: return executing_ ? 1 : 0;
    case kCmdSize:
    case kRspSize: return buffer_bytes_;
    case kCmdLowAddress:
    case kRspAddress: return static_cast<uint32_t>(buffer_gpa_);
    case kCmdHighAddress:
    case kRspAddress + 4: return static_cast<uint32_t>(buffer_gpa_ >> 32);
    default: return 0;  // LOC_CTRL and CTRL_REQ read back 0: done at once
  }
}

void CrbInterface::Read(uint64_t offset, std::span<std::byte> data) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    const uint64_t in_page = at % kCrbLocalityStride;
    if (at < offset || at >= kCrbRegisterBytes || in_page >= kRegisterBytes) {
      data[i] = std::byte{0xFF};
      continue;
    }
    const auto locality = static_cast<uint8_t>(at / kCrbLocalityStride);
    const uint32_t dword = RegisterLocked(locality, static_cast<uint32_t>(in_page & ~3u));
    data[i] = static_cast<std::byte>(dword >> (8 * (in_page & 3)));
  }
}

CrbWriteEffect CrbInterface::Write(uint64_t offset, std::span<const std::byte> data) {
  CrbWriteEffect effect;
  std::lock_guard lock(mutex_);
  // Each dword whose first byte the write covers gets the covered bytes
  // (the rest zero); bytes written into the middle of a dword are dropped.
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    if (at < offset || at >= kCrbRegisterBytes || (at & 3) != 0) continue;
    const uint64_t in_page = at % kCrbLocalityStride;
    if (in_page >= kRegisterBytes) continue;
    uint32_t value = 0;
    for (size_t b = 0; b < 4 && i + b < data.size(); ++b)
      value |= static_cast<uint32_t>(data[i + b]) << (8 * b);
    WriteRegisterLocked(static_cast<uint8_t>(at / kCrbLocalityStride),
                        static_cast<uint32_t>(in_page), value, effect);
  }
  return effect;
}

void CrbInterface::GrantNextLocked() {
  if (active_ || requested_ == 0) return;
  for (int l = kCrbLocalities - 1; l >= 0; --l) {
    if (requested_ & (1u << l)) {
      active_ = static_cast<uint8_t>(l);
      requested_ = static_cast<uint8_t>(requested_ & ~(1u << l));
      return;
    }
  }
}

void CrbInterface::WriteRegisterLocked(uint8_t locality, uint32_t dword_offset, uint32_t value,
                                       CrbWriteEffect& effect) {
  switch (dword_offset) {
    case kLocCtrl:
      // PTP §6.5.3.3: relinquish takes effect before a request in the same
      // write would.
      if (value & kLocCtrlRelinquish) {
        requested_ = static_cast<uint8_t>(requested_ & ~(1u << locality));
        if (active_ == locality) active_.reset();
      }
      if ((value & kLocCtrlRequest) && active_ != locality)
        requested_ = static_cast<uint8_t>(requested_ | (1u << locality));
      GrantNextLocked();
      return;
    case kCtrlReq:
      // PTP §6.5.3.8: only the active locality's requests count; both are
      // acknowledged at once. goIdle while a command runs is refused
      // (the TPM leaves the bit set until it may idle; we never block).
      if (active_ != locality) return;
      if (value & kReqCmdReady) idle_ = false;
      if ((value & kReqGoIdle) && !executing_) idle_ = true;
      return;
    case kCtrlCancel:
      if (active_ != locality) return;
      cancel_ = (value & 1) != 0;
      if (cancel_ && executing_) effect.cancel = true;
      return;
    case kCtrlStart:
      if ((value & 1) && active_ == locality && !executing_ && !fatal_)
        StartLocked(locality, effect);
      return;
    default: return;  // read-only or unimplemented (INT_ENABLE: Linux polls)
  }
}

void CrbInterface::StartLocked(uint8_t locality, CrbWriteEffect& effect) {
  idle_ = false;  // a command leaves the idle state (PTP §6.5.3.8)
  std::array<std::byte, kHeaderBytes> header{};
  if (!buffer_.Read(0, header).ok()) {
    fatal_ = true;
    return;
  }
  const uint32_t size = base::LoadBe<uint32_t>(header, 2);
  if (size < kHeaderBytes || size > buffer_bytes_) {
    // Answered as the TPM would (Part 1 §18.4: the size field is checked
    // before anything else), without involving the engine.
    std::array<std::byte, kHeaderBytes> response{};
    base::StoreBe<uint16_t>(response, 0, kStNoSessions);
    base::StoreBe<uint32_t>(response, 2, kHeaderBytes);
    base::StoreBe<uint32_t>(response, 6, kRcCommandSize);
    if (!buffer_.Write(0, response).ok()) fatal_ = true;
    return;
  }
  CrbCommand command;
  command.locality = locality;
  command.bytes.resize(size);
  if (!buffer_.Read(0, command.bytes).ok()) {
    fatal_ = true;
    return;
  }
  executing_ = true;
  effect.start = std::move(command);
}

void CrbInterface::Complete(std::span<const std::byte> response) {
  std::lock_guard lock(mutex_);
  if (!executing_) return;
  executing_ = false;
  if (response.size() < kHeaderBytes || response.size() > buffer_bytes_ ||
      !buffer_.Write(0, response).ok())
    fatal_ = true;
}

}  // namespace tpm
