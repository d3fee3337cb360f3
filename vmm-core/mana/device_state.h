// mana::Device's state and the pieces of its behaviour, split by concept
// over device.cpp (BAR0, SMC, doorbells, the arm model), hwc_requests.cpp
// (the hardware channel and every GDMA/MANA request) and data_path.cpp
// (TX and RX). Private to vmm-core/mana.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "base/rate_limited_log.h"
#include "mana/device.h"
#include "mana/queues.h"
#include "net/toeplitz.h"

namespace mana {

// Queue ids: 0 of each kind is the hardware channel's; the data queues
// use 1..queue_pairs (EQs, SQs, RQs) and 1..2 * queue_pairs (CQs).
inline constexpr uint32_t kHwcQueueId = 0;
// Handles the driver gets back: nonzero, never ~0 (§2 "wq_obj != ~0").
inline constexpr uint64_t kVportHandle = 0x4D414E41'00000001ull;
inline constexpr uint64_t kSqObjectBase = 0x10000;
inline constexpr uint64_t kRqObjectBase = 0x20000;
inline constexpr size_t kMaxRegions = 1024;
inline constexpr size_t kRxBacklogFrames = 256;  // per RQ
inline constexpr size_t kIndirectionEntries = 64;
// The largest frame a TX WQE may gather: a 64 KiB TSO payload plus headers.
inline constexpr size_t kMaxTxBytes = 0x10000 + 256;

class Device::State {
 public:
  State(const Config& config, mem::DmaMemory& dma, InterruptSink& interrupts, PacketSink& packets)
      : config_(config), dma_(dma), interrupts_(interrupts), packets_(packets) {
    ResetLocked();
  }

  std::mutex mutex;

  // device.cpp
  devices::IoResult ReadLocked(uint64_t offset, std::span<std::byte> data);
  devices::IoResult WriteLocked(uint64_t offset, std::span<const std::byte> data);
  void ResetLocked();
  // Vectors to raise once the lock is dropped, and raising them.
  std::vector<uint16_t> TakeSignals() { return std::exchange(signals_, {}); }
  void Raise(const std::vector<uint16_t>& vectors) {
    for (uint16_t vector : vectors) interrupts_.Signal(vector);
  }

  // data_path.cpp
  bool ReceiveLocked(std::span<const std::byte> frame);
  Counters counters;

 private:
  struct Eq {
    CompletionRing ring;
    uint16_t msix = 0;
  };
  struct Cq {
    CompletionRing ring;
    uint32_t parent_eq = 0;
  };
  struct Sq {
    WorkQueue queue;
    uint32_t cq = 0;
    bool stopped = false;  // a WQE it cannot hold: nothing more from it
  };
  struct Rq {
    WorkQueue queue;
    uint32_t cq = 0;
    bool stopped = false;
    // Frames waiting for a WQE, with the RSS hash taken when they arrived.
    std::deque<std::pair<std::vector<std::byte>, net::RssHash>> backlog;
  };
  struct Region {
    std::vector<uint64_t> pages;
    uint64_t length = 0;
  };

  // device.cpp: the SMC, doorbells, posting entries.
  void SmcTriggered(uint32_t header);
  void EstablishHwc();
  void Doorbell(uint64_t offset, uint64_t value);
  // A CQE on CQ `cq`: 60 bytes of data, then wq_num and is_sq. Posts the
  // COMPLETION EQE when the CQ was armed. False: no room (or no CQ).
  bool PostCqe(uint32_t cq, std::span<const std::byte, kCqeDataBytes> data, uint32_t wq_num,
               bool is_sq);
  void PostEqe(uint32_t eq, uint8_t type, std::span<const uint32_t> details);
  bool CqHasRoom(uint32_t cq) const;
  // The queue ids a table has free in [first, end).
  template <typename T>
  static std::optional<uint32_t> FreeSlot(const std::vector<std::optional<T>>& table,
                                          uint32_t first);

  // hwc_requests.cpp
  void ServeHwc();
  // One request's bytes in, the response's bytes out (never empty: at
  // least the 32-byte header with a status).
  std::vector<std::byte> HandleRequest(std::span<const std::byte> request);
  base::Result<void> Dispatch(uint32_t code, std::span<const std::byte> request,
                              std::span<std::byte> response);
  base::Result<QueueMemory> TakeRegion(uint64_t handle, uint32_t bytes);
  base::Result<void> CreateWqObject(std::span<const std::byte> request,
                                    std::span<std::byte> response);
  base::Result<void> ConfigureRx(std::span<const std::byte> request);
  base::Result<uint32_t> RqFromObject(uint64_t handle) const;

  // data_path.cpp
  void ServeSq(uint32_t sq);
  void ServeRq(uint32_t rq);
  // 0: sent; else the CQE type to report.
  uint8_t Transmit(const Wqe& wqe);
  // `rss`: the frame's hash (type 0 when RSS is off), computed once by
  // ReceiveLocked to pick the RQ and reported in the CQE.
  bool DeliverTo(uint32_t rq, std::span<const std::byte> frame, const net::RssHash& rss);

  Config config_;
  mem::DmaMemory& dma_;
  InterruptSink& interrupts_;
  PacketSink& packets_;
  std::vector<uint16_t> signals_;
  std::array<uint32_t, smc::kBytes / 4> smc_{};
  bool hwc_up_ = false;
  std::vector<std::optional<Eq>> eqs_;
  std::vector<std::optional<Cq>> cqs_;
  std::vector<std::optional<Sq>> sqs_;
  std::vector<std::optional<Rq>> rqs_;
  std::map<uint64_t, Region> regions_;
  uint64_t next_region_ = 1;
  // The vport (§2 CONFIG_VPORT_TX/RX).
  bool rx_enabled_ = false;
  bool rss_enabled_ = false;
  std::optional<uint32_t> default_rq_;
  std::array<std::byte, net::kRssKeyBytes> rss_key_{};
  std::array<uint32_t, kIndirectionEntries> indirection_{};  // RQ ids
  base::RateLimitedLog log_{16};
};

}  // namespace mana
