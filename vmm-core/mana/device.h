// mana::Device: a MANA VF (GDMA transport, one vport) as Linux 6.1's stock
// `mana` driver probes and drives it, sans I/O: BAR0 accesses in, DMA
// through mem::DmaMemory, interrupts to an InterruptSink, frames to a
// PacketSink and from Receive(). hcl-loader puts it on a PCI bus
// (loader/devices/mana_function.h); mana-netvsc.md §1-4 is the contract.
//
// Does:
//   - BAR0: the VF registers, the SMC (ESTABLISH_HWC / DESTROY_HWC,
//     answered within the write that triggers them), one doorbell page
//     (SQ, RQ, CQ, EQ doorbells; 8-byte writes);
//   - the hardware channel: its four one-page queues from the SMC, the
//     init EQEs, requests from its SQ answered into its RQ with both CQEs;
//   - GDMA requests 1-5, 10, 12 (EQ), 13, 25, 27 and MANA's 0x20001,
//     0x20003-0x20008: queues and DMA regions, one vport whose MAC and
//     queue-pair count are the host's choice, RSS (Toeplitz over the
//     driver's key, 64-entry indirection table) and the default RX object;
//   - EQ/CQ owner bits and the arm model (§3): an entry posted to an armed
//     CQ puts a COMPLETION EQE on its parent EQ; one posted to an armed
//     EQ raises its MSI-X vector; an arm doorbell behind the device's tail
//     fires again at once;
//   - TX: every WQE's SGEs gathered (at most 64 KiB + headers), checksum
//     offload, TSO (client_oob_in_sgl + MSS), VLAN insertion (long OOB),
//     one CQE per WQE in order; RX: frames into the next RQ WQE's SGEs in
//     posting order with checksum-verified flags and the RSS hash, held in
//     a bounded backlog while the RQ or its CQ has no room.
//
// Hostile driver: every id, handle, size and guest address is checked; a
// malformed request gets a failure status; a malformed TX WQE an error
// CQE; a WQE the queue cannot hold stops that queue only (logged,
// rate-limited). Memory keys and PDIDs are accepted as given (nothing
// here is protected by them).
//
// Threads: BAR accesses (VP threads), Receive (the back end's thread) and
// Reset serialize on one mutex; DmaMemory and PacketSink are called under
// it, InterruptSink never is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/result.h"
#include "devices/port_bus.h"
#include "mem/dma_memory.h"

namespace mana {

class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  virtual void Signal(uint16_t msix_vector) = 0;
};

class PacketSink {
 public:
  virtual ~PacketSink() = default;
  // One Ethernet frame for the outside (copied before returning).
  virtual void Transmit(std::span<const std::byte> frame) = 0;
};

struct Config {
  std::array<uint8_t, 6> mac{0x00, 0x15, 0x5D, 0x4D, 0x41, 0x01};
  uint16_t queue_pairs = 1;   // 1..16: SQ/RQ pairs (and EQs) the vport offers
  uint16_t msix_vectors = 2;  // >= 2: vector 0 for the HWC, one per EQ
  uint32_t mtu = 1500;
};

struct Counters {
  uint64_t tx_frames = 0, tx_bytes = 0, tx_errors = 0;
  uint64_t rx_frames = 0, rx_bytes = 0, rx_dropped = 0;
  uint64_t hwc_requests = 0;
};

inline constexpr uint64_t kBar0Bytes = 0x2000;

class Device final {
 public:
  static base::Result<std::unique_ptr<Device>> Create(const Config& config, mem::DmaMemory& dma,
                                                      InterruptSink& interrupts,
                                                      PacketSink& packets);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // One BAR0 access (offset < kBar0Bytes). Registers and the SMC: 4 or 8
  // bytes; doorbells: 8 bytes.
  devices::IoResult Read(uint64_t offset, std::span<std::byte> data);
  devices::IoResult Write(uint64_t offset, std::span<const std::byte> data);
  // A frame for the guest. False: dropped (receive off, no queue, backlog
  // full, or larger than any buffer could hold).
  bool Receive(std::span<const std::byte> frame);
  // Function reset (bus mastering off, FLR): every queue, region and the
  // HWC gone, as after power-on.
  void Reset();
  Counters counters() const;

  class State;

 private:
  explicit Device(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mana
