// nvme::Controller: an NVMe 2.0 controller over PCIe, sans I/O: BAR0
// registers and doorbells in, DMA through nvme::DmaMemory, block requests
// to block::Device namespaces, interrupts to an InterruptSink. It is what
// hcl-loader presents to the VTL2 kernel's stock nvme driver; the command
// set is the one Linux 6.1 uses (nvme-vfio.md §4, §5, §10).
//
// Does:
//   - registers: CAP/VS/CC/CSTS/AQA/ASQ/ACQ (4- and 8-byte accesses; 64-bit
//     registers also as two dwords, low then high, as Linux does), the
//     CC.EN handshake (nvme-vfio.md §1.3), shutdown (SHN -> SHST complete),
//     CSTS.CFS on an invalid CC or unreachable queue memory;
//   - doorbells at 1000h (DSTRD 0): a tail or head out of range, on an
//     absent queue, or a CQ head past what was posted is ignored and
//     logged (rate-limited);
//   - admin: Identify (CNS 00h, 01h, 02h, 03h, 06h), Create/Delete I/O
//     CQ/SQ (physically contiguous only), Get/Set Features (Number of
//     Queues, Volatile Write Cache, Arbitration, Power Management,
//     Temperature Threshold, Interrupt Coalescing, Interrupt Vector
//     Configuration, Async Event Configuration: stored, not acted on),
//     Get Log Page (error, SMART, firmware slot, changed namespaces),
//     Asynchronous Event Request (held, never completed: no events are
//     generated), Abort (always "not aborted");
//   - NVM: Read, Write, Flush, Write Zeroes, Dataset Management
//     (deallocate), as block::Requests with queue_hint = SQ id.
//
// Leaves to others: PCI configuration space, the MSI-X table and its
// masking (the loader's PCI layer; it hands us a vector count and an
// InterruptSink), the back end (io_uring, files), SGLs (SGLS = 0),
// metadata and protection information, interrupt coalescing (settings are
// stored, every completion interrupts), shadow doorbells (OACS = 0).
//
// Flow control: a command is fetched from an SQ only while its CQ has a
// free slot that no earlier fetched command has claimed, so a completion
// always has room and CQ entries the host has not consumed are never
// overwritten; an SQ stalled on a full CQ resumes when the CQ head
// doorbell frees room. Each doorbell write does at most one queue's worth
// of work per SQ it touches.
//
// Reset: CC.EN 1 -> 0 drops every queue, held AER and outstanding command
// (their back-end completions are discarded when they arrive), but CSTS.RDY
// stays 1 until the back end has completed every request it was given, so
// that once the host sees RDY = 0 no DMA to its buffers is pending. A
// Delete I/O SQ likewise completes only after that SQ's commands have.
//
// Threads and locks: Read/Write (any vCPU thread) and block completions
// (any back-end thread, or inline within Submit) serialize on one mutex
// inside the controller. It is never held while calling
// block::Device::Submit or InterruptSink::Signal; DmaMemory is called
// under it. The DmaMemory, InterruptSink and devices must outlive the
// Controller; completions that arrive after its destruction are dropped.
#pragma once

#include <chrono>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "devices/port_bus.h"
#include "nvme/dma.h"

namespace nvme {

class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  // Raise MSI-X vector `msix_vector` (< Config::msix_vectors). Masking and
  // the pending bit are the PCI layer's.
  virtual void Signal(uint16_t msix_vector) = 0;
  // Interrupt coalescing's aggregation time (NVMe 2.0 "Interrupt
  // Coalescing"): call Controller::AggregationTimeElapsed(msix_vector)
  // once `delay` has passed (from any thread, without the caller's locks).
  // False: no timers here; the controller then interrupts at once.
  virtual bool StartAggregationTimer(uint16_t msix_vector, std::chrono::microseconds delay) {
    (void)msix_vector;
    (void)delay;
    return false;
  }
};

struct Config {
  // Namespace i + 1 is namespaces[i]; non-null, block size 512..4096.
  std::vector<block::Device*> namespaces;
  uint16_t max_io_queue_pairs = 16;  // 1..64
  uint16_t msix_vectors = 17;        // 1..2048; admin uses vector 0
  std::string serial = "HCL0000000000001";  // <= 20 ASCII chars, unique per controller
  std::string model = "HCL NVMe Controller";  // <= 40
  std::string firmware_revision = "0.1";      // <= 8
  std::string subsystem_nqn;  // <= 255; empty: "nqn.2024-01.dev.hcl:nvme:<serial>"
  uint16_t pci_vendor_id = 0x1414;            // Identify VID (Microsoft)
  uint16_t pci_subsystem_vendor_id = 0x1414;  // Identify SSVID
  uint16_t controller_id = 1;                 // CNTLID, nonzero
  // Identify MDTS: the largest transfer is 2^mdts pages of 4 KiB (1..15).
  uint8_t mdts = 8;
  // Identify VWC: report a volatile write cache, so Linux sends Flush and
  // FUA. Set Features VWC can then turn it off (writes become FUA).
  bool volatile_write_cache = true;
};

// Sizes and limits the controller reports (CAP, Identify).
inline constexpr uint64_t kBar0Bytes = 0x4000;
inline constexpr uint32_t kMaxQueueEntries = 1024;  // CAP.MQES + 1
inline constexpr uint8_t kAsyncEventRequestLimit = 4;  // AERL + 1
inline constexpr uint8_t kAbortCommandLimit = 4;       // ACL + 1

class Controller final {
 public:
  static base::Result<std::unique_ptr<Controller>> Create(Config config, DmaMemory& dma,
                                                           InterruptSink& interrupts);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // One BAR0 access at `offset` (< kBar0Bytes). 4 bytes anywhere 4-aligned,
  // 8 bytes at an 8-aligned offset below the doorbells. Reserved registers
  // read 0 and ignore writes.
  devices::IoResult Read(uint64_t offset, std::span<std::byte> data);
  devices::IoResult Write(uint64_t offset, std::span<const std::byte> data);
  // An aggregation timer the controller started has elapsed: completions
  // held back on `msix_vector` get their interrupt now.
  void AggregationTimeElapsed(uint16_t msix_vector);

  class Core;  // the state completions share (controller_core.h)

 private:
  explicit Controller(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  std::shared_ptr<Core> core_;
};

}  // namespace nvme
