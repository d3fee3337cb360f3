// nvme::Controller::Core: the controller's state and its command handlers,
// shared (std::shared_ptr) between the Controller and the completion
// callbacks it hands to block devices, so a late completion finds live
// state. Internal to nvme/: controller.cpp (registers, doorbells, queues,
// completions), admin_commands.cpp, io_commands.cpp.
//
// Every member ending in Locked runs with mutex_ held; everything under
// "guarded by mutex_" is only touched so. Work that must happen without
// the lock (Submit, Signal) is collected into Actions and run by the
// caller after unlocking.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/rate_limited_log.h"
#include "nvme/controller.h"
#include "nvme/prp.h"
#include "nvme/wire.h"

namespace nvme {

class Controller::Core : public std::enable_shared_from_this<Controller::Core> {
 public:
  Core(Config config, DmaMemory& dma, InterruptSink& interrupts);

  devices::IoResult Read(uint64_t offset, std::span<std::byte> data);
  devices::IoResult Write(uint64_t offset, std::span<const std::byte> data);
  // Called by ~Controller: later completions touch nothing but the lock.
  void Detach();
  void AggregationTimeElapsed(uint16_t vector);

 private:
  struct Namespace {
    block::Device* device = nullptr;
    block::Geometry geometry;
    uint8_t lbads = 9;  // log2(block size)
  };

  struct SubmissionQueue {
    uint64_t base = 0;
    uint16_t size = 0;  // entries
    uint16_t head = 0;  // next entry to fetch (reported as SQHD)
    uint16_t tail = 0;  // last validated tail doorbell, guest-controlled
    uint16_t cqid = 0;
    uint32_t in_flight = 0;  // commands at the back end
    std::optional<uint16_t> delete_cid;  // a Delete I/O SQ waiting for in_flight == 0
  };

  struct CompletionQueue {
    uint64_t base = 0;
    uint16_t size = 0;
    uint16_t head = 0;  // last validated head doorbell, guest-controlled
    uint16_t tail = 0;  // next slot to write
    bool phase = true;  // phase tag of the entries written this pass
    bool interrupts = false;
    uint16_t vector = 0;
    uint32_t reserved = 0;  // fetched commands that have yet to post here
    uint32_t sq_count = 0;  // SQs that post here
  };

  // One command at the back end; a DSM becomes several requests.
  struct InFlight {
    uint64_t epoch = 0;  // reset_epoch_ when submitted
    uint16_t sqid = 0;
    uint16_t cid = 0;
    uint32_t parts_left = 0;
    wire::Status status;  // the first failure among the parts
    bool is_read = false;
  };

  struct Submission {
    block::Device* device = nullptr;
    block::Request request;
    uint32_t queue_hint = 0;
    uint64_t token = 0;
  };

  // Outside-the-lock work one call leaves behind.
  struct Actions {
    std::vector<Submission> submissions;
    std::vector<uint16_t> vectors;
    std::vector<std::pair<uint16_t, std::chrono::microseconds>> timers;  // vector, delay
  };

  // Interrupt coalescing of one vector (NVMe 2.0 "Interrupt Coalescing").
  struct Aggregation {
    uint32_t held = 0;        // completions posted since its last interrupt
    bool timer = false;       // an aggregation timer is running
    bool disabled = false;    // Interrupt Vector Configuration CD
  };
  // Whether completions on I/O CQ `cq` are coalesced now; the admin
  // queue's never are.
  bool CoalescesLocked(uint16_t cqid, const CompletionQueue& cq) const;
  // Completions posted on `vector`: interrupt now, or hold them.
  void InterruptLocked(uint16_t cqid, const CompletionQueue& cq, Actions& actions);

  // A command's immediate answer: status and completion dword 0.
  struct Reply {
    wire::Status status;
    uint32_t dw0 = 0;
  };
  static Reply Fail(wire::Status status) { return Reply{status, 0}; }

  enum class State {
    kDisabled,   // CSTS.RDY = 0
    kEnabled,    // CSTS.RDY = 1, processing
    kResetting,  // CC.EN = 0 seen, back-end requests still out: RDY stays 1
  };

  void RunActions(Actions& actions);
  void OnBlockComplete(uint64_t token, block::Status status);

  // Registers and the CC handshake (controller.cpp).
  uint64_t ReadRegisterLocked(uint64_t offset) const;
  void WriteRegisterLocked(uint64_t offset, uint32_t value);
  void WriteCcLocked(uint32_t value);
  void EnableLocked();
  void ResetLocked();
  void FatalLocked(const char* why);
  void DoorbellLocked(uint64_t offset, uint32_t value, Actions& actions);

  // Queues (controller.cpp).
  void ProcessSqLocked(uint16_t sqid, Actions& actions);
  uint32_t CqFreeLocked(const CompletionQueue& cq) const;
  // Posts one entry to `cqid`, consuming a reservation.
  void PostLocked(uint16_t cqid, uint16_t sqid, uint16_t cid, Reply reply, Actions& actions);
  void FinishDeleteSqLocked(uint16_t sqid, Actions& actions);

  // Admin commands (admin_commands.cpp). nullopt: no completion now.
  std::optional<Reply> AdminLocked(const wire::SubmissionEntry& sqe);
  Reply IdentifyLocked(const wire::SubmissionEntry& sqe);
  Reply CreateIoCqLocked(const wire::SubmissionEntry& sqe);
  Reply CreateIoSqLocked(const wire::SubmissionEntry& sqe);
  Reply DeleteIoCqLocked(const wire::SubmissionEntry& sqe);
  std::optional<Reply> DeleteIoSqLocked(const wire::SubmissionEntry& sqe);
  Reply SetFeaturesLocked(const wire::SubmissionEntry& sqe);
  Reply GetFeaturesLocked(const wire::SubmissionEntry& sqe);
  Reply GetLogPageLocked(const wire::SubmissionEntry& sqe);
  std::optional<Reply> AsyncEventRequestLocked();
  // Copies `bytes` to the command's PRP buffer of `transfer_bytes`.
  Reply SendDataLocked(const wire::SubmissionEntry& sqe, std::span<const std::byte> bytes);

  // NVM commands (io_commands.cpp). nullopt: submitted to the back end.
  std::optional<Reply> IoLocked(uint16_t sqid, const wire::SubmissionEntry& sqe, Actions& actions);
  std::optional<Reply> ReadWriteLocked(uint16_t sqid, const wire::SubmissionEntry& sqe,
                                       const Namespace& ns, Actions& actions);
  std::optional<Reply> WriteZeroesLocked(uint16_t sqid, const wire::SubmissionEntry& sqe,
                                         const Namespace& ns, Actions& actions);
  std::optional<Reply> DatasetManagementLocked(uint16_t sqid, const wire::SubmissionEntry& sqe,
                                               const Namespace& ns, Actions& actions);
  // Registers a command whose `requests` go to `ns`; returns nullopt.
  std::optional<Reply> SubmitLocked(uint16_t sqid, uint16_t cid, const Namespace& ns,
                                    std::vector<block::Request> requests, bool is_read,
                                    Actions& actions);
  static wire::Status MapBlockStatus(block::Status status, bool is_read);

  uint32_t max_transfer_bytes() const { return kMemoryPageBytes << config_.mdts; }

  // Fixed at creation.
  const Config config_;
  DmaMemory& dma_;
  InterruptSink& interrupts_;
  std::vector<Namespace> namespaces_;
  uint64_t cap_ = 0;

  std::mutex mutex_;
  // Guarded by mutex_:
  bool detached_ = false;
  State state_ = State::kDisabled;
  bool fatal_ = false;         // CSTS.CFS
  uint8_t shst_ = wire::kShstNormal;
  wire::Cc cc_;
  wire::Aqa aqa_;
  uint64_t asq_ = 0;
  uint64_t acq_ = 0;
  std::vector<std::optional<SubmissionQueue>> sqs_;  // index = qid, 0 = admin
  std::vector<std::optional<CompletionQueue>> cqs_;
  uint16_t granted_io_sqs_ = 0;  // Set Features Number of Queues
  uint16_t granted_io_cqs_ = 0;
  uint32_t held_aers_ = 0;
  bool write_cache_enabled_ = false;
  std::array<uint32_t, 0x0C> features_{};  // stored values of accepted features, by FID
  std::vector<Aggregation> aggregation_;    // by MSI-X vector
  uint64_t reset_epoch_ = 0;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, InFlight> in_flight_;  // by token
  base::RateLimitedLog log_{32};
};

}  // namespace nvme
