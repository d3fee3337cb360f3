#include <algorithm>
#include <array>

#include "nvme/driver/driver_internal.h"

namespace nvme::driver {

using namespace internal;

base::Result<std::unique_ptr<Driver>> Driver::Create(RegisterAccess& registers, DmaPool& pool, Options options) {
  if (options.io_queue_pairs < 1 || options.io_queue_pairs > kMaxIoQueues)
    return base::Error::Format("nvme driver: %u I/O queue pairs (want 1..%u)", options.io_queue_pairs,
                               kMaxIoQueues);
  if (options.interrupt_vectors < 1) return base::Error("nvme driver: no interrupt vectors");
  if (options.io_queue_entries < 2 || options.io_queue_entries > QueuePair::kMaxEntries)
    return base::Error::Format("nvme driver: %u I/O queue entries", options.io_queue_entries);
  if (options.max_transfer_bytes < kPrpPageBytes || options.max_transfer_bytes > kMaxCommandBytes ||
      options.max_transfer_bytes % kPrpPageBytes != 0)
    return base::Error::Format("nvme driver: maximum transfer %u bytes", options.max_transfer_bytes);
  if (options.admin_timeout <= Time{} || options.io_timeout <= Time{} || options.ready_timeout_limit <= Time{})
    return base::Error("nvme driver: timeouts must be positive");
  if (options.max_namespaces < 1) return base::Error("nvme driver: max_namespaces 0");
  if (registers.bar_bytes() < wire::kDoorbellBase + 8) return base::Error("nvme driver: BAR0 too small");
  const DmaBuffer identify = TRY(pool.Allocate(wire::kIdentifyBytes));
  if (identify.host.size() < wire::kIdentifyBytes || identify.device_address % kPrpPageBytes != 0) {
    pool.Free(identify);
    return base::Error("nvme driver: DMA pool returned a short or unaligned page");
  }
  // CAP.DSTRD is not known yet; the admin queue pair is created with
  // stride 0 and recreated in Start if the controller says otherwise.
  auto admin = QueuePair::Create(pool, registers, 0, kAdminEntries, 0);
  if (!admin) {
    pool.Free(identify);
    return std::move(admin).error();
  }
  return std::unique_ptr<Driver>(new Driver(registers, pool, options, identify, std::move(admin).value()));
}

Driver::Driver(RegisterAccess& registers, DmaPool& pool, Options options, DmaBuffer identify,
               std::unique_ptr<QueuePair> admin)
    : registers_(registers), pool_(pool), options_(options), identify_(identify), admin_(std::move(admin)) {}

Driver::~Driver() {
  Finished finished;
  {
    std::lock_guard lock(mutex_);
    if (phase_ != Phase::kIdle && phase_ != Phase::kFailed) {
      // Stop the controller; if it does not stop at once its DMA may
      // continue, so the queue memory is never given back.
      const wire::Cc cc{registers_.Read32(wire::kRegCc)};
      registers_.Write32(wire::kRegCc, wire::Cc{cc}.set_en(false).set_shn(wire::kShnNone).raw);
      if (wire::Csts{registers_.Read32(wire::kRegCsts)}.rdy()) leak_dma_ = true;
    }
    for (auto& queue : io_queues_) {
      for (auto& command : queue->in_flight)
        if (command) FinishRequestLocked(command->request, block::Status::kAborted);
      for (auto& command : queue->waiting) FinishRequestLocked(command.request, block::Status::kAborted);
      if (leak_dma_) queue->pair->LeakDmaMemory();
    }
    if (leak_dma_) admin_->LeakDmaMemory();
    if (!leak_dma_) pool_.Free(identify_);
    finished.swap(finished_);
  }
  RunFinished(finished);
}

void Driver::RunFinished(Finished& finished) {
  for (auto& [done, status] : finished) done(status);
  finished.clear();
}

// ---------------------------------------------------------------------------
// Public entry points: lock, work, then run completions unlocked.

void Driver::Start(Time now) {
  Finished finished;
  {
    std::lock_guard lock(mutex_);
    if (phase_ != Phase::kIdle) return;
    now_ = now;
    cap_ = wire::Cap{registers_.Read64(wire::kRegCap)};
    if (cap_.raw == UINT64_MAX) {
      FailLocked("CAP reads all-ones: device gone");
    } else if (cap_.mpsmin() != 0) {
      // nvme-vfio.md §1.3 step 4: 4 KiB pages must be allowed.
      FailLocked("CAP.MPSMIN excludes 4 KiB pages");
    } else if ((cap_.css() & wire::kCapCssNvm) == 0) {
      FailLocked("CAP.CSS lacks the NVM command set");
    } else if (cap_.mqes() == 0) {
      FailLocked("CAP.MQES is 0");  // nvme-vfio.md §7 defence 7
    } else if (wire::CqHeadDoorbell(0, cap_.dstrd()) + 4 > registers_.bar_bytes()) {
      FailLocked("admin doorbells beyond BAR0");
    } else {
      admin_entries_ = static_cast<uint16_t>(std::min<uint32_t>(kAdminEntries, uint32_t{cap_.mqes()} + 1));
      io_entries_ = static_cast<uint16_t>(std::min<uint32_t>(options_.io_queue_entries, uint32_t{cap_.mqes()} + 1));
      // nvme-vfio.md §4.1 step 8: one vector per I/O queue after the
      // admin queue's, at least one I/O queue; and its doorbells in BAR0.
      uint32_t queues = options_.io_queue_pairs;
      if (options_.interrupt_vectors > 1) queues = std::min<uint32_t>(queues, options_.interrupt_vectors - 1u);
      while (queues > 0 &&
             wire::CqHeadDoorbell(static_cast<uint16_t>(queues), cap_.dstrd()) + 4 > registers_.bar_bytes())
        --queues;
      max_io_queues_ = static_cast<uint16_t>(queues);
      // CAP.TO is in 500 ms units (nvme-vfio.md §1.3 step 2), capped by us.
      ready_timeout_ = std::min<Time>(std::chrono::milliseconds(500) * (uint32_t{cap_.to()} + 1),
                                      options_.ready_timeout_limit);
      bool ok = true;
      if (admin_entries_ != kAdminEntries || cap_.dstrd() != 0) {
        auto admin = QueuePair::Create(pool_, registers_, 0, admin_entries_, cap_.dstrd());
        if (!admin) {
          FailLocked(std::move(admin).error().message());
          ok = false;
        } else {
          admin_ = std::move(admin).value();
        }
      }
      if (ok && max_io_queues_ == 0) {
        FailLocked("no I/O queue doorbell fits BAR0");
        ok = false;
      }
      if (ok) BeginDisableLocked();
    }
    finished.swap(finished_);
  }
  RunFinished(finished);
}

void Driver::Tick(Time now) {
  Finished finished;
  {
    std::lock_guard lock(mutex_);
    now_ = std::max(now_, now);
    switch (phase_) {
      case Phase::kIdle:
      case Phase::kFailed:
        break;
      case Phase::kWaitDisabled:
      case Phase::kWaitEnabled:
        CheckReadyLocked();
        break;
      case Phase::kAdmin:
      case Phase::kReady: {
        // nvme-vfio.md §7 defence 5: all-ones is a device gone, CFS a
        // controller that lost its state.
        const uint32_t csts_raw = registers_.Read32(wire::kRegCsts);
        if (csts_raw == kAllOnes) {
          FailLocked("CSTS reads all-ones: device gone");
          break;
        }
        if (wire::Csts{csts_raw}.cfs()) {
          FailLocked("controller fatal status (CSTS.CFS)");
          break;
        }
        // A lost interrupt must not look like a timeout (Linux's
        // nvme_timeout polls first, nvme-vfio.md §4.4).
        ProcessLocked(std::nullopt);
        if (phase_ == Phase::kAdmin && admin_->AnyExpired(now_)) {
          ++counters_.timeouts;
          FailLocked(recovering_ ? "admin command timed out during reset" : "admin command timed out during bring-up");
          break;
        }
        if (phase_ == Phase::kReady) {
          const bool expired = std::any_of(io_queues_.begin(), io_queues_.begin() + live_io_queues_,
                                           [this](const auto& queue) { return queue->pair->AnyExpired(now_); });
          if (expired) {
            ++counters_.timeouts;
            StartResetLocked();
          }
        }
        break;
      }
    }
    finished.swap(finished_);
  }
  RunFinished(finished);
}

void Driver::Poll() {
  Finished finished;
  {
    std::lock_guard lock(mutex_);
    ProcessLocked(std::nullopt);
    finished.swap(finished_);
  }
  RunFinished(finished);
}

void Driver::OnInterrupt(uint16_t vector) {
  Finished finished;
  {
    std::lock_guard lock(mutex_);
    ProcessLocked(vector);
    finished.swap(finished_);
  }
  RunFinished(finished);
}

DriverState Driver::state() const {
  std::lock_guard lock(mutex_);
  switch (phase_) {
    case Phase::kIdle: return DriverState::kNotStarted;
    case Phase::kWaitDisabled:
    case Phase::kWaitEnabled:
    case Phase::kAdmin:
      return recovering_ ? DriverState::kResetting : DriverState::kInitializing;
    case Phase::kReady: return DriverState::kReady;
    case Phase::kFailed: return DriverState::kFailed;
  }
  return DriverState::kFailed;
}

std::string Driver::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

ControllerInfo Driver::info() const {
  std::lock_guard lock(mutex_);
  return info_;
}

DriverCounters Driver::counters() const {
  std::lock_guard lock(mutex_);
  DriverCounters total = counters_;
  const auto add = [&total](const QueueCounters& c) {
    total.queues.completions += c.completions;
    total.queues.bad_cid += c.bad_cid;
    total.queues.not_outstanding += c.not_outstanding;
    total.queues.stale_generation += c.stale_generation;
    total.queues.wrong_sqid += c.wrong_sqid;
    total.queues.bad_sqhd += c.bad_sqhd;
    total.queues.phase_changed += c.phase_changed;
  };
  add(admin_->counters());
  for (const auto& queue : io_queues_) add(queue->pair->counters());
  return total;
}

std::vector<block::Device*> Driver::namespaces() {
  std::lock_guard lock(mutex_);
  std::vector<block::Device*> devices;
  if (info_.io_queues == 0) return devices;  // not ready yet
  for (const auto& ns : namespaces_) devices.push_back(ns->device.get());
  return devices;
}

uint32_t Driver::nsid(const block::Device* device) const {
  std::lock_guard lock(mutex_);
  for (const auto& ns : namespaces_)
    if (ns->device.get() == device) return ns->nsid;
  return 0;
}

// ---------------------------------------------------------------------------
// Bring-up and reset.

// nvme-vfio.md §1.3 step 2: CC.EN = 0 (and SHN = 0), then RDY = 0.
void Driver::BeginDisableLocked() {
  phase_ = Phase::kWaitDisabled;
  const wire::Cc cc{registers_.Read32(wire::kRegCc)};
  if (cc.raw != kAllOnes && (cc.en() || cc.shn() != wire::kShnNone))
    registers_.Write32(wire::kRegCc, wire::Cc{cc}.set_en(false).set_shn(wire::kShnNone).raw);
  ready_deadline_ = now_ + ready_timeout_;
  CheckReadyLocked();
}

void Driver::CheckReadyLocked() {
  const uint32_t csts_raw = registers_.Read32(wire::kRegCsts);
  if (csts_raw == kAllOnes) {
    FailLocked("CSTS reads all-ones: device gone");
    return;
  }
  const wire::Csts csts{csts_raw};
  if (phase_ == Phase::kWaitDisabled) {
    if (!csts.rdy()) {
      OnDisabledLocked();
    } else if (now_ >= ready_deadline_) {
      FailLocked("controller did not clear CSTS.RDY (device not ready)");
    }
    return;
  }
  if (phase_ == Phase::kWaitEnabled) {
    if (csts.cfs()) {
      FailLocked("controller fatal status (CSTS.CFS) while enabling");
    } else if (csts.rdy()) {
      OnEnabledLocked();
    } else if (now_ >= ready_deadline_) {
      FailLocked("controller did not set CSTS.RDY");
    }
  }
}

// RDY = 0: the controller has dropped every command and does no more DMA
// for them (NVMe 2.0 "Controller Reset"), so their buffers are free.
void Driver::OnDisabledLocked() {
  if (recovering_) DrainForResetLocked();
  admin_step_.reset();
  (void)admin_->Rewind();
  // nvme-vfio.md §1.3 steps 3-4.
  registers_.Write32(wire::kRegAqa, wire::Aqa{}
                                        .set_asqs(static_cast<uint16_t>(admin_entries_ - 1))
                                        .set_acqs(static_cast<uint16_t>(admin_entries_ - 1))
                                        .raw);
  registers_.Write32(wire::kRegAsq, static_cast<uint32_t>(admin_->sq_device_address()));
  registers_.Write32(wire::kRegAsq + 4, static_cast<uint32_t>(admin_->sq_device_address() >> 32));
  registers_.Write32(wire::kRegAcq, static_cast<uint32_t>(admin_->cq_device_address()));
  registers_.Write32(wire::kRegAcq + 4, static_cast<uint32_t>(admin_->cq_device_address() >> 32));
  wire::Cc cc;
  cc.set_css(0).set_mps(0).set_ams(0).set_shn(wire::kShnNone).set_iosqes(wire::kSqesLog2).set_iocqes(
      wire::kCqesLog2);
  registers_.Write32(wire::kRegCc, cc.raw);
  registers_.Write32(wire::kRegCc, cc.set_en(true).raw);
  phase_ = Phase::kWaitEnabled;
  ready_deadline_ = now_ + ready_timeout_;
  CheckReadyLocked();
}

void Driver::OnEnabledLocked() {
  phase_ = Phase::kAdmin;
  if (!recovering_) {
    auto identify = Command(Op(wire::AdminOpcode::kIdentify));
    identify.cdw10 = wire::kCnsController;
    IssueAdminLocked(AdminStep::kIdentifyController, identify, true);
    return;
  }
  // A reset keeps what Identify said; the queues must be made again.
  auto features = Command(Op(wire::AdminOpcode::kSetFeatures));
  features.cdw10 = wire::kFeatureNumberOfQueues;
  features.cdw11 = uint32_t{static_cast<uint16_t>(max_io_queues_ - 1)} |
                   uint32_t{static_cast<uint16_t>(max_io_queues_ - 1)} << 16;
  IssueAdminLocked(AdminStep::kNumberOfQueues, features, false);
}

void Driver::StartResetLocked() {
  ++counters_.resets;
  recovering_ = true;
  live_io_queues_ = 0;
  BeginDisableLocked();
}

// Every command the controller held is gone: resubmit those whose request
// still has retries, in front of the ones that never went out.
void Driver::DrainForResetLocked() {
  ++reset_number_;
  for (auto& queue : io_queues_) {
    const std::vector<uint16_t> dropped = queue->pair->Rewind();
    for (auto it = dropped.rbegin(); it != dropped.rend(); ++it) {
      std::optional<IoCommand> command = std::move(queue->in_flight[*it]);
      queue->in_flight[*it].reset();
      if (!command || command->request->finished) continue;
      Request& request = *command->request;
      if (request.last_reset != reset_number_) {
        request.last_reset = reset_number_;
        ++request.resets_seen;
      }
      if (request.resets_seen > options_.max_retries) {
        ++counters_.requests_out_of_retries;
        FinishRequestLocked(command->request, block::Status::kDeviceFailed);
        continue;
      }
      ++counters_.retried_commands;
      queue->waiting.push_front(std::move(*command));
    }
  }
}

void Driver::FailLocked(std::string why) {
  if (phase_ == Phase::kFailed) return;
  phase_ = Phase::kFailed;
  failure_ = std::move(why);
  admin_step_.reset();
  live_io_queues_ = 0;
  // Try to stop the device; it may ignore us or be gone, so its DMA may
  // go on: the queue memory is never reused (nvme-vfio.md §7 defence 6).
  const uint32_t cc = registers_.Read32(wire::kRegCc);
  if (cc != kAllOnes) registers_.Write32(wire::kRegCc, wire::Cc{cc}.set_en(false).raw);
  leak_dma_ = true;
  admin_->LeakDmaMemory();
  for (auto& queue : io_queues_) {
    queue->pair->LeakDmaMemory();
    for (auto& command : queue->in_flight) {
      if (command) FinishRequestLocked(command->request, block::Status::kDeviceFailed);
      command.reset();
    }
    for (auto& command : queue->waiting) FinishRequestLocked(command.request, block::Status::kDeviceFailed);
    queue->waiting.clear();
  }
}

void Driver::FinishInitLocked() {
  phase_ = Phase::kReady;
  recovering_ = false;
  info_.io_queues = live_io_queues_;
  // Requests waiting on queues the controller no longer gave us move to
  // the first queue.
  for (size_t i = live_io_queues_; i < io_queues_.size(); ++i) {
    auto& from = io_queues_[i]->waiting;
    auto& to = io_queues_[0]->waiting;
    std::move(from.begin(), from.end(), std::back_inserter(to));
    from.clear();
  }
  for (uint16_t i = 0; i < live_io_queues_; ++i) SubmitWaitingLocked(*io_queues_[i]);
}

}  // namespace nvme::driver
