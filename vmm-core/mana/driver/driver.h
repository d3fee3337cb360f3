// mana::driver::Driver: hcl's user-mode driver for a MANA VF (the loader's
// --nic device, or Azure's), sans I/O: BAR0 through a Bar the OS glue
// implements (hcl/vfio: VFIO no-IOMMU), queue and buffer memory from an
// nvme::driver::DmaPool (the VTL2 DMA pool), time from a clock function.
// mana-netvsc.md §1-3 is the contract; OpenVMM's mana_driver and Linux's
// mana driver are the models for the order of requests.
//
// Bring-up (Create, synchronous, polling with deadlines): SMC ESTABLISH
// with four pages, the HWC init EQEs (ids, doorbell, limits), then over the
// HWC: VERIFY_VF_DRIVER_VERSION, QUERY_MAX_RESOURCES, LIST_DEVICES,
// REGISTER_DEVICE, QUERY_DEV_CONFIG, QUERY_VPORT_CONFIG (the MAC),
// CONFIG_VPORT_TX, an EQ (MSI-X vector 1), a TX and an RX work queue
// object with their CQs, CONFIG_VPORT_RX (receive on, the RQ as default
// object); RX buffers posted; the RX CQ and the EQ armed.
//
// Data path: Transmit copies a frame into a TX buffer (TransmitFrom has
// the caller's fill write it there) and posts one WQE
// (TX completions in order free the buffers); Poll (on the EQ vector's
// interrupt, or a timer) reaps both CQs, hands received frames to a
// callback in posting order, reposts their buffers and re-arms. A copied
// frame's completion only frees a buffer: it is reaped by the next Poll
// or by a Transmit that finds every buffer taken (each reap tells the
// device the CQ's new head), and the TX CQ stays unarmed for it (an
// interrupt per transmit burst would cost the paravisor a VTL2 interrupt,
// an EOI and a thread wake-up for nothing). TransmitInPlace copies only a
// frame's headers and has the device read the rest where the caller keeps
// it (zero copy): its completion tells the caller the memory is free
// again, so the driver reaps right after the doorbell and keeps the TX CQ
// armed while such frames are out.
//
// The device is semi-trusted (mana-netvsc.md §6 "Paravisor MANA driver"):
// every response is checked (status, message id, size, device and activity
// ids); CQEs by owner bits (overflow latches failure), queue number and
// type; an RX length beyond its buffer, a TX completion nothing was sent
// for, or an in-place frame not completed within tx_timeout latches
// failure. A failed driver drops every frame and touches no buffer again.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "nvme/driver/os_interfaces.h"

namespace mana::driver {

using nvme::driver::DmaBuffer;
using nvme::driver::DmaPool;
using nvme::driver::Time;

// BAR0 of the VF. Doorbells need a single 8-byte store.
class Bar {
 public:
  virtual ~Bar() = default;
  virtual uint32_t Read32(uint64_t offset) = 0;
  virtual uint64_t Read64(uint64_t offset) = 0;
  virtual void Write32(uint64_t offset, uint32_t value) = 0;
  virtual void Write64(uint64_t offset, uint64_t value) = 0;
  virtual uint64_t bar_bytes() const = 0;
};

struct Options {
  uint32_t rx_buffers = 256;  // power of two, 2 KiB each
  uint32_t tx_buffers = 256;  // power of two, 2 KiB each
  // TX buffers for frames larger than 2 KiB (TCP segmentation offload),
  // kLargeFrameBytes each; 0: such frames are dropped.
  uint32_t large_tx_buffers = 0;
  // Queue pairs wanted (each its own EQ and MSI-X vector i + 1, an SQ and
  // an RQ); fewer when the device offers fewer. More than one turns RSS on.
  uint32_t queue_pairs = 1;
  std::chrono::milliseconds request_timeout{5000};
  // An in-place frame not completed this long after it was posted: the
  // device stopped sending, and the driver fails (the caller's memory
  // would otherwise stay lent to it for good). Checked by Poll.
  std::chrono::milliseconds tx_timeout{2000};
};

// What the device is asked to finish for a frame (mana-netvsc.md §3 "TX
// OOB"): checksums at `l4_offset` (the L4 checksum field holds the
// pseudo-header sum), or TSO into `mss`-byte segments.
struct TxRequest {
  uint16_t l4_offset = 0;  // in the frame as given (without the tag below)
  bool ipv4 = false, ipv6 = false;
  bool tcp_checksum = false, udp_checksum = false;
  uint32_t mss = 0;  // 0: no segmentation; else 1..16383
  // The device inserts an 802.1Q tag (PCP[15:13], DEI[12], VID[11:0]):
  // the long TX OOB (mana-netvsc.md §3).
  bool insert_vlan = false;
  uint16_t vlan_tci = 0;
};
inline constexpr size_t kLargeFrameBytes = 64 * 1024;

struct RxInfo {
  bool ip_checksum_ok = false;
  bool tcp_checksum_ok = false;
  bool udp_checksum_ok = false;
  uint32_t hash = 0;
};

struct Stats {
  uint64_t tx_frames = 0, tx_dropped = 0, tx_errors = 0;
  uint64_t rx_frames = 0, rx_dropped = 0;
  uint64_t interrupts = 0;
};

class Driver {
 public:
  using Clock = std::function<Time()>;
  using Receive = std::function<void(std::span<const std::byte> frame, const RxInfo& info)>;

  static base::Result<std::unique_ptr<Driver>> Create(Bar& bar, DmaPool& pool, Clock clock,
                                                      const Options& options = {});
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  std::array<uint8_t, 6> mac() const { return mac_; }
  // The queue pairs brought up; pair i's EQ raises MSI-X vector i + 1
  // (vector 0 is the HWC's).
  uint32_t queue_pairs() const { return static_cast<uint32_t>(pairs_.size()); }
  static constexpr uint16_t kDataVector = 1;  // pair 0's
  // Any thread, on SQ `queue` (modulo the pairs: a caller may pass its
  // CPU). False: dropped (no free TX buffer, too large, or failed).
  bool Transmit(std::span<const std::byte> frame, const TxRequest& request = {},
                uint32_t queue = 0);
  // As Transmit for a frame of `bytes` that `fill` writes straight into
  // the TX buffer (the frame's one copy, from wherever the caller keeps
  // it). A fill that fails drops the frame; nothing is posted.
  using Fill = std::function<base::Result<void>(std::span<std::byte> buffer)>;
  bool TransmitFrom(size_t bytes, const Fill& fill, const TxRequest& request = {},
                    uint32_t queue = 0);
  // Zero copy, for a frame of `bytes` > kInPlaceHeadBytes whose memory the
  // device may read: `fill_head` copies its first kInPlaceHeadBytes (the
  // headers the device and a TSO need) into a TX buffer; the device reads
  // the rest from `rest`, the remaining bytes' device-addressed pieces in
  // order (at most kMaxInPlaceSegments, their sum bytes -
  // kInPlaceHeadBytes). `done(sent)` runs exactly once, when the device is
  // done with `rest` (sent: the device reported success), on whichever
  // thread reaps the completion (maybe within this call), with none of
  // the driver's locks held; a failed driver runs it with false. False:
  // refused (the queue is full, the request does not fit, or the driver
  // failed), and `done` never runs.
  static constexpr size_t kInPlaceHeadBytes = 256;
  static constexpr size_t kMaxInPlaceSegments = 24;
  using Done = std::function<void(bool sent)>;
  bool TransmitInPlace(size_t bytes, const Fill& fill_head, std::span<const block::Segment> rest,
                       Done done, const TxRequest& request = {}, uint32_t queue = 0);
  // One thread per pair (or one for all): reap pair `pair`'s completions,
  // deliver its received frames. Poll(receive) does every pair.
  void Poll(uint32_t pair, const Receive& receive);
  void Poll(const Receive& receive);
  Stats stats() const;
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const std::string& failure() const { return failure_; }

  struct Ring;  // driver.cpp

 private:
  Driver(Bar& bar, DmaPool& pool, Clock clock, const Options& options);
  struct QueuePair;
  base::Result<void> BringUp();
  base::Result<std::vector<std::byte>> Request(uint32_t code, std::span<const std::byte> body,
                                               uint32_t response_bytes, uint32_t device);
  base::Result<uint64_t> CreateRegion(const DmaBuffer& buffer);
  void Fail(std::string why);
  void Doorbell(uint64_t offset, uint64_t value);
  void PostRx(QueuePair& pair, uint32_t buffer);
  // TransmitFrom and TransmitInPlace: `fill` copies the frame's first
  // bytes (all of them when `rest` is empty) into a TX buffer; `done` for
  // an in-place frame.
  bool PostTx(size_t bytes, const Fill& fill, std::span<const block::Segment> rest, Done done,
              const TxRequest& request, uint32_t queue);
  void ReapTx(QueuePair& pair);
  // ReapTx, then the CQ's new head to the device if it moved, armed while
  // in-place frames are out; a failed driver's in-place frames finish as
  // not sent (tx_mutex held; their `done`s run when the caller's
  // FinishedSends goes).
  void ReapTxAndReport(QueuePair& pair);
  class FinishedSends;
  void ReapRx(QueuePair& pair, const Receive& receive);

  Bar& bar_;
  DmaPool& pool_;
  Clock clock_;
  Options options_;
  std::vector<DmaBuffer> allocations_;  // freed at destruction (unless failed)
  std::array<uint8_t, 6> mac_{};
  uint64_t doorbell_page_ = 0;  // BAR offset of the doorbell page the data queues use
  uint64_t hwc_doorbell_page_ = 0;
  uint32_t device_id_ = 0;      // the MANA device {type, instance}
  uint32_t activity_ = 0x48434C00;
  uint16_t message_id_ = 0;
  std::unique_ptr<Ring> hwc_eq_, hwc_cq_, hwc_rq_, hwc_sq_;
  DmaBuffer hwc_request_{}, hwc_response_{};
  uint32_t hwc_eq_id_ = 0, hwc_cq_id_ = 0, hwc_rq_id_ = 0, hwc_sq_id_ = 0, max_cqs_ = 0;
  uint64_t vport_ = 0;
  uint32_t memory_key_ = 0;
  std::vector<std::unique_ptr<QueuePair>> pairs_;
  std::atomic<bool> failed_{false};
  std::string failure_;
};

}  // namespace mana::driver
