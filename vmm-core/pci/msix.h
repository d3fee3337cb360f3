// pci::MsixTable: a function's MSI-X table and Pending Bit Array (PCI 3.0
// §6.8.2.6-§6.8.2.9) and the rule for sending a vector's message: sent
// when MSI-X is enabled and neither the function nor the vector is masked;
// otherwise its pending bit is set, and the message goes out when the mask
// clears (§6.8.2.9 "if a masked vector has its Pending bit set ... the
// function must send the message when the vector is unmasked").
//
// The table and PBA live in BAR space; the owner routes accesses in BAR
// offsets relative to each. Entries: Message Address (low, high), Message
// Data, Vector Control (bit 0 mask), 16 bytes; reset state masked
// (§6.8.2.9). Accesses are 4 or 8 bytes, aligned (§6.8.2: "software must
// not use other sizes"); others are refused. The PBA is read-only.
//
// Thread-safe: device threads call Signal while VP threads program the
// table; one mutex. MsiSink::Deliver runs under it and must not call back.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "devices/port_bus.h"

namespace pci {

// An MSI message (address 0xFEEx_xxxx on x86, Intel SDM vol. 3A §11.11).
struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
};

class MsiSink {
 public:
  virtual ~MsiSink() = default;
  virtual void Deliver(const MsiMessage& message) = 0;
};

class MsixTable {
 public:
  // 1..2048 vectors.
  MsixTable(uint16_t vector_count, MsiSink& sink);

  uint16_t vector_count() const { return static_cast<uint16_t>(entries_.size()); }
  uint64_t table_bytes() const { return uint64_t{vector_count()} * kEntryBytes; }
  uint64_t pba_bytes() const { return (uint64_t{vector_count()} + 63) / 64 * 8; }

  devices::IoResult ReadTable(uint64_t offset, std::span<std::byte> data);
  devices::IoResult WriteTable(uint64_t offset, std::span<const std::byte> data);
  devices::IoResult ReadPba(uint64_t offset, std::span<std::byte> data);

  // Message Control's Enable and Function Mask, as config space holds
  // them; call after every config write. Sends what became deliverable.
  void SetControl(bool enabled, bool function_masked);

  // The device raises `vector` (out of range: ignored).
  void Signal(uint16_t vector);

 private:
  static constexpr uint64_t kEntryBytes = 16;
  struct Entry {
    uint64_t address = 0;       // guest-controlled
    uint32_t data = 0;          // guest-controlled
    uint32_t control = 1;       // guest-controlled; bit 0 mask, set at reset
    bool pending = false;
  };

  bool DeliverableLocked(const Entry& entry) const;
  void FlushPendingLocked();

  std::mutex mutex_;
  std::vector<Entry> entries_;  // guarded by mutex_
  bool enabled_ = false;        // guarded by mutex_
  bool function_masked_ = false;  // guarded by mutex_
  MsiSink& sink_;
};

}  // namespace pci
