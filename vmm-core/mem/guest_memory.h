// GuestMemory: the one module that touches guest RAM (STYLE.md P3).
//
// Guest memory is shared with an untrusted peer, so every access is a copy
// (copy, then validate: no double fetch) through a bounds check that cannot
// overflow. Callers never hold raw pointers into guest RAM; they hold Gpa
// values and get Results back.
//
// Not here yet: multiple RAM regions (a hole for MMIO), per-VTL protections,
// atomic access to shared ring indices. Each arrives with its first user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "base/result.h"

namespace mem {

// A guest physical address. A distinct type so it is never confused with a
// host pointer, an offset or a guest virtual address.
enum class Gpa : uint64_t {};

constexpr uint64_t ToU64(Gpa gpa) { return static_cast<uint64_t>(gpa); }

class GuestMemory {
 public:
  // `host` is the host mapping of guest RAM that starts at guest address
  // `base`. The mapping must outlive this object.
  static base::Result<GuestMemory> Create(Gpa base, std::span<std::byte> host);

  Gpa base() const { return base_; }
  uint64_t size_bytes() const { return host_.size(); }

  base::Result<void> Read(Gpa gpa, std::span<std::byte> out) const;
  base::Result<void> Write(Gpa gpa, std::span<const std::byte> in);
  base::Result<void> Fill(Gpa gpa, uint64_t length, std::byte value);

  // The host bytes behind [gpa, gpa + length), for host devices whose
  // data moves by the kernel straight into or out of guest RAM (the
  // loader's disks: io_uring reads and writes, i.e. DMA). The guest may
  // change these bytes at any moment: only payload the device never parses
  // may go through such a span; anything it interprets is Read (copied).
  base::Result<std::span<std::byte>> DmaSpan(Gpa gpa, uint64_t length) const {
    return Translate(gpa, length);
  }

  template <typename T>
    requires std::is_trivially_copyable_v<T>
  base::Result<T> ReadObj(Gpa gpa) const {
    T object;
    TRY(Read(gpa, std::as_writable_bytes(std::span(&object, 1))));
    return object;
  }

  template <typename T>
    requires std::is_trivially_copyable_v<T>
  base::Result<void> WriteObj(Gpa gpa, const T& object) {
    return Write(gpa, std::as_bytes(std::span(&object, 1)));
  }

  // 32-bit atomics on guest memory another CPU (the guest) may touch at
  // the same time: the SynIC's event flags and message slot types (TLFS
  // "SynIC Event Flags", "Message Buffers"). `gpa` must be 4-aligned.
  // AtomicOr32 returns the previous value; StoreRelease32 orders every
  // earlier write before the store (the slot's payload before its type).
  base::Result<uint32_t> AtomicOr32(Gpa gpa, uint32_t bits);
  base::Result<uint32_t> LoadAcquire32(Gpa gpa) const;
  base::Result<void> StoreRelease32(Gpa gpa, uint32_t value);

 private:
  GuestMemory(Gpa base, std::span<std::byte> host) : base_(base), host_(host) {}

  // The host bytes for [gpa, gpa + length), or an error naming the range.
  base::Result<std::span<std::byte>> Translate(Gpa gpa, uint64_t length) const;
  // The aligned 32-bit word at `gpa`, for the atomics.
  base::Result<uint32_t*> Word32(Gpa gpa) const;

  Gpa base_;
  std::span<std::byte> host_;
};

}  // namespace mem
