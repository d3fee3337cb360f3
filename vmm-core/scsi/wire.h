// SCSI wire constants for the block disk: operation codes, sense keys and
// additional sense codes, VPD page codes (SPC-4 r37, SBC-3 r36). Big-endian
// CDB and parameter fields are read and written with the helpers at the
// bottom, never by casting bytes to structs.
//
// Not here: command semantics (disk.h and the per-family .cpp files), any
// transport (storvsp carries CDBs and sense in its SRB).
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/be_bytes.h"

namespace scsi {

// SPC-4 §4.4 / SBC-3 §5: operation codes we decode (and a few we refuse by
// name in tests).
namespace op {
inline constexpr uint8_t kTestUnitReady = 0x00;
inline constexpr uint8_t kRequestSense = 0x03;
inline constexpr uint8_t kRead6 = 0x08;
inline constexpr uint8_t kWrite6 = 0x0A;
inline constexpr uint8_t kInquiry = 0x12;
inline constexpr uint8_t kModeSelect6 = 0x15;
inline constexpr uint8_t kModeSense6 = 0x1A;
inline constexpr uint8_t kReadCapacity10 = 0x25;
inline constexpr uint8_t kRead10 = 0x28;
inline constexpr uint8_t kWrite10 = 0x2A;
inline constexpr uint8_t kSynchronizeCache10 = 0x35;
inline constexpr uint8_t kWriteSame10 = 0x41;
inline constexpr uint8_t kUnmap = 0x42;
inline constexpr uint8_t kModeSense10 = 0x5A;
inline constexpr uint8_t kRead16 = 0x88;
inline constexpr uint8_t kWrite16 = 0x8A;
inline constexpr uint8_t kSynchronizeCache16 = 0x91;
inline constexpr uint8_t kWriteSame16 = 0x93;
inline constexpr uint8_t kServiceActionIn16 = 0x9E;
inline constexpr uint8_t kReportLuns = 0xA0;
inline constexpr uint8_t kMaintenanceIn = 0xA3;
inline constexpr uint8_t kRead12 = 0xA8;
inline constexpr uint8_t kWrite12 = 0xAA;
}  // namespace op

// SBC-3 §5.16: SERVICE ACTION IN(16) service action READ CAPACITY(16).
inline constexpr uint8_t kServiceActionReadCapacity16 = 0x10;

// SAM-5 §5.3.1 status codes.
enum class Status : uint8_t {
  kGood = 0x00,
  kCheckCondition = 0x02,
};

// SPC-4 §4.5.6 Table 47: sense keys.
enum class SenseKey : uint8_t {
  kNoSense = 0x0,
  kNotReady = 0x2,
  kMediumError = 0x3,
  kHardwareError = 0x4,
  kIllegalRequest = 0x5,
  kUnitAttention = 0x6,
  kDataProtect = 0x7,
  kAbortedCommand = 0xB,
};

// SPC-4 §4.5.6 Table 48 / Annex D: the additional sense codes we report.
struct AdditionalSense {
  uint8_t asc = 0;
  uint8_t ascq = 0;
  friend constexpr bool operator==(AdditionalSense, AdditionalSense) = default;
};
namespace asc {
inline constexpr AdditionalSense kNone{0x00, 0x00};
inline constexpr AdditionalSense kWriteError{0x0C, 0x00};
inline constexpr AdditionalSense kUnrecoveredReadError{0x11, 0x00};
inline constexpr AdditionalSense kParameterListLengthError{0x1A, 0x00};
inline constexpr AdditionalSense kInvalidCommandOperationCode{0x20, 0x00};
inline constexpr AdditionalSense kLbaOutOfRange{0x21, 0x00};
inline constexpr AdditionalSense kInvalidFieldInCdb{0x24, 0x00};
inline constexpr AdditionalSense kLogicalUnitNotSupported{0x25, 0x00};
inline constexpr AdditionalSense kInvalidFieldInParameterList{0x26, 0x00};
inline constexpr AdditionalSense kWriteProtected{0x27, 0x00};
inline constexpr AdditionalSense kSavingParametersNotSupported{0x39, 0x00};
inline constexpr AdditionalSense kInternalTargetFailure{0x44, 0x00};
inline constexpr AdditionalSense kDataPhaseError{0x4B, 0x00};
}  // namespace asc

// SPC-4 §4.5.3: fixed-format sense data, the 18 bytes we always return.
inline constexpr size_t kFixedSenseBytes = 18;
inline constexpr uint8_t kFixedSenseCurrentErrors = 0x70;
using FixedSense = std::array<std::byte, kFixedSenseBytes>;

constexpr FixedSense EncodeFixedSense(SenseKey key, AdditionalSense additional) {
  FixedSense sense{};
  sense[0] = std::byte{kFixedSenseCurrentErrors};  // VALID 0: no INFORMATION
  sense[2] = std::byte{static_cast<uint8_t>(key)};
  sense[7] = std::byte{kFixedSenseBytes - 8};  // ADDITIONAL SENSE LENGTH
  sense[12] = std::byte{additional.asc};
  sense[13] = std::byte{additional.ascq};
  return sense;
}

// SPC-4 §6.4.2: the peripheral byte (PERIPHERAL QUALIFIER << 5 | DEVICE TYPE).
inline constexpr uint8_t kPeripheralDirectAccess = 0x00;
// PQ 011b, type 1Fh: "not capable of supporting a device at this LUN";
// what storvsp answers for absent LUNs (hyperv-vmbus.md §6 "Probe").
inline constexpr uint8_t kPeripheralNoDevice = 0x7F;

// SPC-4 §7.8: VPD page codes.
namespace vpd {
inline constexpr uint8_t kSupportedPages = 0x00;
inline constexpr uint8_t kUnitSerialNumber = 0x80;
inline constexpr uint8_t kDeviceIdentification = 0x83;
inline constexpr uint8_t kBlockLimits = 0xB0;                 // SBC-3 §6.5.3
inline constexpr uint8_t kBlockDeviceCharacteristics = 0xB1;  // SBC-3 §6.5.2
inline constexpr uint8_t kLogicalBlockProvisioning = 0xB2;    // SBC-3 §6.5.4
}  // namespace vpd

// SBC-3 §6.4.5: the caching mode page.
inline constexpr uint8_t kModePageCaching = 0x08;
inline constexpr uint8_t kModePageAll = 0x3F;

// Big-endian field access on CDBs and parameter data (base/be_bytes.h).
using base::LoadBe;
using base::StoreBe;

}  // namespace scsi
