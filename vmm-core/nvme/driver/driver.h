// nvme::driver::Driver: a user-mode NVMe driver core, sans I/O. It brings
// up one NVMe controller through BAR0 (RegisterAccess) and DMA pool
// memory (DmaPool), and hands out one block::Device per active namespace,
// whose requests become NVMe commands with PRPs pointing straight at the
// requests' guest-physical segments (zero copy). hcl presents these
// devices to VTL0 through storvsp/SCSI.
//
// Does (nvme-vfio.md §1.3, §4.1, §5, §7):
//   - bring-up as Linux 6.1 does it: CC.EN = 0 and wait for RDY = 0
//     (bounded by CAP.TO and Options::ready_timeout_limit), admin queues
//     of 32 entries, CC written with EN = 0 and then EN = 1, wait for
//     RDY = 1; Identify Controller (MDTS, VWC, ONCS, NN), the active
//     namespace list (falling back to 1..NN as Linux does), Identify
//     Namespace for each (size from NSZE, block size from FLBAS/LBAF,
//     NSATTR write protect -> Geometry::read_only; a namespace with
//     metadata, an LBADS outside 9..12 or NCAP 0 is skipped), Set Features
//     Number of Queues, then one I/O queue pair per wanted queue with
//     MSI-X vector = qid (0 when only one vector exists);
//   - I/O: Read, Write (FUA), Flush (only if VWC; else completes at once),
//     Dataset Management deallocate, Write Zeroes, each checked against the
//     namespace first; requests longer than the largest transfer or whose
//     segments break the PRP rules are split (prp_builder.h; requests that
//     cannot be split fail with kInvalid, nothing is bounced); queue_hint
//     picks the I/O queue (hint % queues); NVMe status -> block::Status;
//   - hostile device: completions are copied then validated (queue_pair.h);
//     CSTS of all-ones (device gone) or CSTS.CFS fail every request with
//     kDeviceFailed and every later one too; RDY that never comes fails
//     bring-up; Identify data is range-checked before use;
//   - timeouts and recovery: a command outstanding past its deadline
//     (Options::io_timeout, admin_timeout) on a ready controller resets it:
//     CC.EN = 0, wait for RDY = 0 (only then are the old commands' buffers
//     quiet), admin queues again, Set Features and the I/O queues again,
//     and the commands that had not completed are resubmitted. A request
//     caught in more than Options::max_retries resets fails with
//     kDeviceFailed. A timeout during bring-up, or a reset that fails,
//     fails the driver (as Linux fails a probe).
//   Every Submit gets exactly one completion, unless the driver is
//   destroyed first (then kAborted, from the destructor).
//
// Leaves to the glue (hcl/): mapping BAR0, MSI-X and eventfds, the DMA
// pool, threads and timers. Nothing runs by itself: the glue calls
// Start once, Tick(now) periodically (timeouts, RDY waits, CSTS checks,
// and a poll of every queue in case an interrupt was lost), OnInterrupt
// for each MSI-X vector that fired and/or Poll.
// Not done: SGLs, metadata/PI, AER and namespace rescans, Abort (a timeout
// goes straight to a reset), shutdown notification (CC.SHN), retrying
// commands that fail with an NVMe status (they are reported as they are),
// shadow doorbells, bounce buffers for isolated VMs.
//
// Threads: every public method takes one internal mutex, so Submit may
// come from any VP thread while another thread polls. block::Completion
// callbacks run after the mutex is released, on the thread of the call
// that completed them (Submit itself for requests refused at once), so a
// callback may Submit again.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "block/device.h"
#include "nvme/driver/os_interfaces.h"
#include "nvme/driver/prp_builder.h"
#include "nvme/driver/queue_pair.h"
#include "nvme/wire.h"

namespace nvme::driver {

struct Options {
  uint16_t io_queue_pairs = 1;      // wanted, one per VP (1..1023)
  uint16_t interrupt_vectors = 1;   // MSI-X vectors the glue enabled; 0 = admin (>= 1)
  uint16_t io_queue_entries = 256;  // per I/O queue, capped by CAP.MQES + 1 (2..1024)
  // Per command, further capped by Identify MDTS: a multiple of 4096,
  // 4096..kMaxCommandBytes.
  uint32_t max_transfer_bytes = 1024 * 1024;
  Time admin_timeout = std::chrono::seconds(60);  // nvme-vfio.md §4.4: Linux's defaults
  Time io_timeout = std::chrono::seconds(30);
  Time ready_timeout_limit = std::chrono::seconds(60);  // our ceiling over CAP.TO (device data)
  uint32_t max_retries = 3;        // resets a request may be caught in
  uint32_t max_namespaces = 1024;  // namespaces looked at
  // Set Features Interrupt Coalescing (NVMe 2.0 Feature 08h) after the I/O
  // queues: CDW11, TIME in 100 us units (15:08) and THR, 0's based (7:0).
  // 0 leaves the controller's setting. A controller that refuses is used
  // without coalescing.
  uint16_t interrupt_coalescing = 0;
};

enum class DriverState {
  kNotStarted,
  kInitializing,  // bring-up
  kReady,
  kResetting,     // recovery after a timeout; requests wait
  kFailed,        // every request fails with kDeviceFailed
};

struct DriverCounters {
  QueueCounters queues;  // summed over the admin and I/O queues
  uint64_t timeouts = 0;
  uint64_t resets = 0;
  uint64_t retried_commands = 0;
  uint64_t requests_out_of_retries = 0;
};

// What bring-up learned about the controller.
struct ControllerInfo {
  uint32_t max_transfer_bytes = 0;  // per command, after MDTS and Options
  bool volatile_write_cache = false;
  uint16_t oncs = 0;
  uint32_t namespace_count = 0;  // NN
  uint16_t io_queues = 0;        // I/O queue pairs in use
  std::string serial;
  std::string model;
};

class Driver {
 public:
  static base::Result<std::unique_ptr<Driver>> Create(RegisterAccess& registers, DmaPool& pool,
                                                      Options options);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Begins bring-up; later Ticks, Polls and interrupts carry it on.
  void Start(Time now);
  // Timeouts, RDY waits, CSTS checks, and a poll of every queue. Command
  // deadlines count from the latest `now` seen, so tick often (~1 s).
  void Tick(Time now);
  void Poll();
  void OnInterrupt(uint16_t vector);

  DriverState state() const;
  std::string failure() const;  // why kFailed
  ControllerInfo info() const;
  DriverCounters counters() const;
  // The namespaces found at bring-up, in NSID order (valid once kReady;
  // owned by the driver, alive as long as it is).
  std::vector<block::Device*> namespaces();
  uint32_t nsid(const block::Device* device) const;  // 0 if not ours

  class NamespaceDevice;  // driver_internal.h

 private:
  struct Request;
  struct IoCommand;
  struct IoQueue;
  struct Namespace;
  enum class Phase { kIdle, kWaitDisabled, kWaitEnabled, kAdmin, kReady, kFailed };
  enum class AdminStep { kIdentifyController, kActiveNamespaces, kIdentifyNamespace, kNumberOfQueues,
                         kCreateCq, kCreateSq, kInterruptCoalescing };
  using Finished = std::vector<std::pair<block::Completion, block::Status>>;

  Driver(RegisterAccess& registers, DmaPool& pool, Options options, DmaBuffer identify,
         std::unique_ptr<QueuePair> admin);

  void SubmitIo(uint32_t ns_index, block::Request request, uint32_t queue_hint, block::Completion done);
  // block::Device::Plug/Unplug of any namespace: while plugs_ > 0, new
  // submission entries are written but their SQ tail doorbells wait for
  // the last Unplug (one MMIO write per queue for the batch).
  void Plug();
  void Unplug();
  base::Result<std::vector<IoCommand>> BuildCommandsLocked(const Namespace& ns, const block::Request& request,
                                                           const std::shared_ptr<Request>& owner) const;
  void RunFinished(Finished& finished);

  // Bring-up and reset (all *Locked run with mutex_ held).
  void BeginDisableLocked();
  void CheckReadyLocked();
  void OnDisabledLocked();
  void OnEnabledLocked();
  void StartResetLocked();
  void DrainForResetLocked();
  void FailLocked(std::string why);
  void FinishInitLocked();
  // The I/O queues exist: Set Features Interrupt Coalescing if asked, then
  // FinishInitLocked.
  void QueuesCreatedLocked();

  // Admin commands.
  void IssueAdminLocked(AdminStep step, wire::SubmissionEntry sqe, bool uses_identify_buffer);
  void OnAdminDoneLocked(wire::Status status, uint32_t dw0);
  void IssueIdentifyNamespaceLocked();
  void IssueCreateCqLocked();
  void OnIdentifyControllerLocked(wire::Status status);
  void OnActiveNamespacesLocked(wire::Status status);
  void OnIdentifyNamespaceLocked(wire::Status status);
  void OnNumberOfQueuesLocked(wire::Status status, uint32_t dw0);

  // Queues.
  void ProcessLocked(std::optional<uint16_t> vector);
  void ProcessIoQueueLocked(IoQueue& queue);
  void SubmitWaitingLocked(IoQueue& queue);
  void FinishPartLocked(const std::shared_ptr<Request>& request, block::Status status);
  void FinishRequestLocked(const std::shared_ptr<Request>& request, block::Status status);
  static block::Status MapStatus(wire::Status status);

  RegisterAccess& registers_;
  DmaPool& pool_;
  const Options options_;

  mutable std::mutex mutex_;
  // Guarded by mutex_:
  Phase phase_ = Phase::kIdle;
  bool recovering_ = false;
  std::string failure_;
  Time now_{};
  Time ready_deadline_{};
  Time ready_timeout_{};
  wire::Cap cap_;
  uint16_t admin_entries_ = 0;
  uint16_t io_entries_ = 0;
  uint16_t max_io_queues_ = 0;  // wanted, after vectors and BAR size
  DmaBuffer identify_;
  std::unique_ptr<QueuePair> admin_;
  std::optional<AdminStep> admin_step_;
  uint16_t admin_slot_ = 0;
  size_t step_index_ = 0;  // namespace candidate or qid being worked on
  std::vector<uint32_t> candidate_nsids_;
  uint16_t queues_to_create_ = 0;
  ControllerInfo info_;
  std::vector<std::unique_ptr<Namespace>> namespaces_;
  std::vector<std::unique_ptr<IoQueue>> io_queues_;  // index = qid - 1
  uint16_t live_io_queues_ = 0;                     // created on the controller, 0 while resetting
  uint32_t plugs_ = 0;                              // Plug calls not yet matched by Unplug
  uint64_t reset_number_ = 0;
  bool leak_dma_ = false;
  DriverCounters counters_;
  Finished finished_;  // completions to run once the mutex is released
};

}  // namespace nvme::driver
