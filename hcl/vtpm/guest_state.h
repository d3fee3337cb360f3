// GuestStateStore: the vTPM's persistent state (issue 12 §2) on a block
// device only VTL2 sees: hcl-loader's --guest-state file, served as an NVMe
// namespace on VTL2's PCI bus. The host keeps the bytes; it can neither
// read nor change them undetected, because the keys come from the platform
// key (platform_key.h), which the host does not choose alone.
//
// Format (all integers little-endian). The device holds two slots, A at
// byte 0 and B at half the device; the valid slot with the higher sequence
// is the state, and a write always goes to the other one, then a flush:
// a crash or power-off mid-write leaves the previous state readable.
//   slot header (64 bytes):
//     0  magic "HCLGSTAT"           8  format version (1)
//     12 header bytes (64)          16 sequence (u64)
//     24 body bytes (u32)           28 item count (u32)
//     32 HMAC-SHA256, keyed with the integrity key, over header bytes 0-31
//        and the body: the integrity check over the whole slot
//   body: the items, each
//     0  item ID (u32)   4  item version (u32)   8  ciphertext bytes (u32)
//     12 GCM nonce (12 bytes, random per write)  24 GCM tag (16 bytes)
//     40 ciphertext: AES-256-GCM under the encryption key, associated data
//        "HCLGSTAT" || ID || version (so an item cannot be moved or
//        relabelled)
// Keys: HMAC-SHA256(platform key, "hcl guest state v1: encryption" /
// "...: integrity").
//
// Open refuses (one line saying why) a device too small for two slots, a
// slot whose fields lie, whose HMAC or any item's tag does not verify
// (corrupted, truncated, or sealed to a different image or host secret),
// unless the other slot is valid; a device whose slots are both all
// zeros is a new, empty state. What it cannot see: the host replaying an
// older copy of the whole file (no monotonic counter here).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "vtpm/state_store.h"

namespace hcl::vtpm {

// Byte-addressed access to the device (block alignment is the adapter's).
class BlockIo {
 public:
  virtual ~BlockIo() = default;
  virtual uint64_t size_bytes() const = 0;
  virtual base::Result<void> Read(uint64_t offset, std::span<std::byte> out) = 0;
  virtual base::Result<void> Write(uint64_t offset, std::span<const std::byte> in) = 0;
  virtual base::Result<void> Flush() = 0;
};

using PlatformKey = std::array<uint8_t, 32>;

class GuestStateStore final : public StateStore {
 public:
  static constexpr uint64_t kSlotHeaderBytes = 64;
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr uint64_t kMinDeviceBytes = 1 << 20;  // two 512 KiB slots
  // libtpms's state names and their item IDs.
  static constexpr uint32_t kItemTpmPermanent = 1;    // "permall"
  static constexpr uint32_t kItemTpmVolatile = 2;     // "volatilestate"
  static constexpr uint32_t kItemTpmSaveState = 3;    // "savestate"

  // `io` outlives the store.
  static base::Result<std::unique_ptr<GuestStateStore>> Open(BlockIo& io, const PlatformKey& key);

  base::Result<std::optional<std::vector<std::byte>>> Load(std::string_view name) override;
  base::Result<void> Store(std::string_view name, std::span<const std::byte> blob) override;
  base::Result<void> Delete(std::string_view name) override;

  bool was_new() const { return was_new_; }
  // Tests and fuzz targets: what a writer holding `key` puts in bytes
  // 32-63 of a slot whose header (0-31) and body follow in `slot`.
  static void SealSlotForTesting(const PlatformKey& key, std::span<std::byte> slot);
  uint64_t sequence() const;

 private:
  struct Item {
    uint32_t version = 1;
    std::vector<std::byte> plaintext;
  };
  GuestStateStore(BlockIo& io, const PlatformKey& key);
  base::Result<std::map<uint32_t, Item>> ReadSlot(size_t slot, uint64_t& sequence, bool& blank);
  base::Result<void> WriteLocked();
  // Sets (or with nullopt removes) item `id` and writes the state; if the
  // write fails, memory goes back to what the device still holds.
  base::Result<void> ReplaceLocked(uint32_t id, std::optional<Item> item);

  BlockIo& io_;
  std::array<uint8_t, 32> encryption_key_{};
  std::array<uint8_t, 32> integrity_key_{};
  uint64_t slot_bytes_ = 0;
  bool was_new_ = false;

  mutable std::mutex mutex_;
  std::map<uint32_t, Item> items_;  // guarded by mutex_
  uint64_t sequence_ = 0;           // of the current slot, guarded by mutex_
  int current_slot_ = -1;           // -1: none written yet
};

}  // namespace hcl::vtpm
