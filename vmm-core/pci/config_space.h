// pci::ConfigSpace: the 256-byte configuration header of one PCI function
// (PCI Local Bus 3.0 §6.1-§6.2, type 0 header) with memory BARs and an
// optional MSI-X capability (PCI 3.0 §6.8.2), as a device emulator needs
// it. Sans I/O: accesses in, register state out; the glue (pci::Bus, the
// device) acts on what changed (BAR moves, MSI-X enable and mask).
//
// What the guest may change, and nothing else: Command (memory space, bus
// master, INTx disable), the BAR address bits above each BAR's size (so
// writing all-ones reads back the size mask, §6.2.5.1), Cache Line Size,
// Latency Timer, Interrupt Line, and MSI-X Message Control's Enable and
// Function Mask bits. Everything else is read-only; reads past the
// capabilities are zero.
//
// Not here: I/O BARs, expansion ROMs, bridges (type 1 headers), PCI
// Express extended space, MSI (MSI-X only), INTx (Interrupt Pin 0: every
// function here signals through MSI-X).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"

namespace pci {

inline constexpr size_t kConfigBytes = 256;
inline constexpr unsigned kBarCount = 6;

// Register offsets (PCI 3.0 §6.1, Figure 6-1).
inline constexpr uint16_t kVendorIdOffset = 0x00;
inline constexpr uint16_t kCommandOffset = 0x04;
inline constexpr uint16_t kStatusOffset = 0x06;
inline constexpr uint16_t kRevisionOffset = 0x08;
inline constexpr uint16_t kClassCodeOffset = 0x09;  // 3 bytes: prog IF, subclass, class
inline constexpr uint16_t kHeaderTypeOffset = 0x0E;
inline constexpr uint16_t kBar0Offset = 0x10;
inline constexpr uint16_t kSubsystemVendorIdOffset = 0x2C;
inline constexpr uint16_t kCapabilitiesPointerOffset = 0x34;
inline constexpr uint16_t kInterruptLineOffset = 0x3C;

// Command register bits (§6.2.2).
inline constexpr uint16_t kCommandMemorySpace = 1u << 1;
inline constexpr uint16_t kCommandBusMaster = 1u << 2;
inline constexpr uint16_t kCommandIntxDisable = 1u << 10;
// Status register: a capabilities list is present (§6.2.3).
inline constexpr uint16_t kStatusCapabilitiesList = 1u << 4;

// MSI-X capability (§6.8.2): ID 0x11; Message Control at +2 (table size
// minus one in bits 10:0, Function Mask bit 14, Enable bit 15), Table
// Offset/BIR at +4, PBA Offset/BIR at +8.
inline constexpr uint8_t kCapabilityIdMsix = 0x11;
inline constexpr uint16_t kMsixCapabilityOffset = 0x40;
inline constexpr uint16_t kMsixControlFunctionMask = 1u << 14;
inline constexpr uint16_t kMsixControlEnable = 1u << 15;
inline constexpr uint16_t kMsixMaxVectors = 2048;

struct Identity {
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  uint16_t subsystem_vendor_id = 0;
  uint16_t subsystem_id = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // class << 16 | subclass << 8 | programming interface
};

// A memory BAR. A 64-bit BAR also uses the next BAR slot (its high half),
// which must then be left unused.
struct MemoryBar {
  uint64_t size_bytes = 0;  // 0: unused; else a power of two >= 16 (§6.2.5.1)
  bool is_64bit = true;
  bool prefetchable = false;
};

struct MsixLayout {
  uint16_t vector_count = 0;  // 1..kMsixMaxVectors
  uint8_t table_bar = 0;
  uint32_t table_offset = 0;  // 8-byte aligned
  uint8_t pba_bar = 0;
  uint32_t pba_offset = 0;    // 8-byte aligned
};

class ConfigSpace {
 public:
  // Checks the layout: BAR sizes, 64-bit BARs not in slot 5 nor followed
  // by a used slot, the MSI-X table and PBA inside their BARs.
  static base::Result<ConfigSpace> Create(const Identity& identity,
                                          const std::array<MemoryBar, kBarCount>& bars,
                                          std::optional<MsixLayout> msix);

  // A guest access of 1, 2 or 4 bytes, naturally aligned, inside the 256
  // bytes (the caller, the config mechanism, guarantees it; anything else
  // reads all-ones and writes nothing).
  void Read(uint16_t offset, std::span<std::byte> data) const;
  void Write(uint16_t offset, std::span<const std::byte> data);

  // What firmware does before the OS runs: places a BAR.
  base::Result<void> AssignBar(unsigned index, uint64_t gpa);
  void SetCommand(uint16_t bits) { command_ = bits & kWritableCommandBits; }

  uint64_t bar_size(unsigned index) const;
  // Where BAR `index` decodes: its base when memory space is enabled and
  // the BAR is in use; nullopt otherwise (also while the guest sizes it,
  // since the all-ones pattern leaves it above any RAM the guest has).
  std::optional<uint64_t> BarAddress(unsigned index) const;

  uint16_t command() const { return command_; }
  bool bus_master() const { return (command_ & kCommandBusMaster) != 0; }
  bool msix_enabled() const { return (msix_control_ & kMsixControlEnable) != 0; }
  bool msix_function_masked() const { return (msix_control_ & kMsixControlFunctionMask) != 0; }
  const std::optional<MsixLayout>& msix() const { return msix_; }

 private:
  static constexpr uint16_t kWritableCommandBits =
      kCommandMemorySpace | kCommandBusMaster | kCommandIntxDisable;

  ConfigSpace() = default;
  uint32_t ReadDword(uint16_t dword_offset) const;
  // Applies the bytes of `value` selected by `byte_mask` (bit i: byte i).
  void WriteDword(uint16_t dword_offset, uint32_t value, uint8_t byte_mask);
  // The BAR register (slot) at `index`, as the guest reads it.
  uint32_t BarRegister(unsigned index) const;
  void WriteBarRegister(unsigned index, uint32_t value);

  Identity identity_;
  std::array<MemoryBar, kBarCount> bars_{};
  // Address bits of each in-use BAR (the low slot's for a 64-bit BAR),
  // masked to its size: guest-controlled.
  std::array<uint64_t, kBarCount> bar_addresses_{};
  std::optional<MsixLayout> msix_;
  uint16_t command_ = 0;         // guest-controlled (writable bits)
  uint8_t cache_line_size_ = 0;  // guest-controlled, unused
  uint8_t latency_timer_ = 0;    // guest-controlled, unused
  uint8_t interrupt_line_ = 0;   // guest-controlled, unused
  uint16_t msix_control_ = 0;    // guest-controlled: Enable and Function Mask only
};

}  // namespace pci
