#include "nvme/controller.h"

#include <algorithm>
#include <array>
#include <bit>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "nvme/controller_core.h"

namespace nvme {
namespace {

// CAP (nvme-vfio.md §1.1, §1.3 step 7): MQES 1023, contiguous queues
// required, TO = 60 (30 s: a reset waits for the back end to drain),
// DSTRD 0, NVM command set only, 4 KiB pages only.
constexpr uint64_t MakeCap() {
  return wire::Cap{}
      .set_mqes(kMaxQueueEntries - 1)
      .set_cqr(true)
      .set_to(60)
      .set_dstrd(0)
      .set_css(wire::kCapCssNvm)
      .set_mpsmin(0)
      .set_mpsmax(0)
      .raw;
}
constexpr uint32_t kVersion = wire::MakeVersion(2, 0);

bool Printable(const std::string& text, size_t max_bytes) {
  if (text.size() > max_bytes) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
}

}  // namespace

base::Result<std::unique_ptr<Controller>> Controller::Create(Config config, DmaMemory& dma,
                                                             InterruptSink& interrupts) {
  if (config.max_io_queue_pairs < 1 || config.max_io_queue_pairs > 64)
    return base::Error::Format("nvme: %u I/O queue pairs (want 1..64)", config.max_io_queue_pairs);
  if (config.msix_vectors < 1 || config.msix_vectors > 2048)
    return base::Error::Format("nvme: %u MSI-X vectors (want 1..2048)", config.msix_vectors);
  if (config.mdts < 1 || config.mdts > 15)
    return base::Error::Format("nvme: MDTS %u (want 1..15)", config.mdts);
  if (config.controller_id == 0) return base::Error("nvme: CNTLID 0 is reserved");
  if (config.namespaces.size() > 1024)
    return base::Error::Format("nvme: %zu namespaces (want <= 1024)", config.namespaces.size());
  if (!Printable(config.serial, 20) || !Printable(config.model, 40) ||
      !Printable(config.firmware_revision, 8) || !Printable(config.subsystem_nqn, 255))
    return base::Error("nvme: serial, model, firmware revision or NQN too long or not ASCII");
  if (config.serial.empty()) return base::Error("nvme: empty serial number");
  for (size_t i = 0; i < config.namespaces.size(); ++i) {
    const block::Device* device = config.namespaces[i];
    if (device == nullptr) return base::Error::Format("nvme: namespace %zu is null", i + 1);
    const block::Geometry& geometry = device->geometry();
    // NVM 1.0 LBA Format: LBADS >= 9; Linux 6.1 wants it <= PAGE_SHIFT
    // (nvme-vfio.md §4.3).
    if (geometry.block_size < 512 || geometry.block_size > 4096 ||
        !std::has_single_bit(geometry.block_size) || geometry.block_count == 0)
      return base::Error::Format("nvme: namespace %zu: block size %u, %llu blocks", i + 1,
                                 geometry.block_size,
                                 static_cast<unsigned long long>(geometry.block_count));
  }
  if (config.subsystem_nqn.empty()) config.subsystem_nqn = "nqn.2024-01.dev.hcl:nvme:" + config.serial;
  auto core = std::make_shared<Core>(std::move(config), dma, interrupts);
  return std::unique_ptr<Controller>(new Controller(std::move(core)));
}

Controller::~Controller() { core_->Detach(); }

devices::IoResult Controller::Read(uint64_t offset, std::span<std::byte> data) {
  return core_->Read(offset, data);
}
devices::IoResult Controller::Write(uint64_t offset, std::span<const std::byte> data) {
  return core_->Write(offset, data);
}
void Controller::AggregationTimeElapsed(uint16_t msix_vector) {
  core_->AggregationTimeElapsed(msix_vector);
}

Controller::Core::Core(Config config, DmaMemory& dma, InterruptSink& interrupts)
    : config_(std::move(config)), dma_(dma), interrupts_(interrupts), cap_(MakeCap()) {
  for (block::Device* device : config_.namespaces) {
    Namespace ns;
    ns.device = device;
    ns.geometry = device->geometry();
    ns.lbads = static_cast<uint8_t>(std::countr_zero(ns.geometry.block_size));
    namespaces_.push_back(ns);
  }
  sqs_.resize(size_t{config_.max_io_queue_pairs} + 1);
  cqs_.resize(size_t{config_.max_io_queue_pairs} + 1);
  granted_io_sqs_ = granted_io_cqs_ = config_.max_io_queue_pairs;
  write_cache_enabled_ = config_.volatile_write_cache;
  aggregation_.resize(config_.msix_vectors);
}

void Controller::Core::Detach() {
  std::lock_guard lock(mutex_);
  detached_ = true;
}

// ---------------------------------------------------------------------------
// BAR0 accesses.

devices::IoResult Controller::Core::Read(uint64_t offset, std::span<std::byte> data) {
  if (offset >= kBar0Bytes || (data.size() != 4 && data.size() != 8))
    return devices::IoResult::kBadSize;
  if (offset % data.size() != 0 || data.size() > kBar0Bytes - offset)
    return devices::IoResult::kBadRegister;
  uint64_t value = 0;
  if (offset < wire::kDoorbellBase) {
    std::lock_guard lock(mutex_);
    // Registers are dwords; an 8-byte read is the dword pair, low first.
    value = ReadRegisterLocked(offset);
    if (data.size() == 8) value |= ReadRegisterLocked(offset + 4) << 32;
  }
  // NVMe over PCIe "Register Definition": doorbells read back undefined; 0.
  if (data.size() == 8) {
    (void)base::StoreLe<uint64_t>(data, 0, value);
  } else {
    (void)base::StoreLe<uint32_t>(data, 0, static_cast<uint32_t>(value));
  }
  return devices::IoResult::kOk;
}

devices::IoResult Controller::Core::Write(uint64_t offset, std::span<const std::byte> data) {
  if (offset >= kBar0Bytes || (data.size() != 4 && data.size() != 8))
    return devices::IoResult::kBadSize;
  if (offset % data.size() != 0 || data.size() > kBar0Bytes - offset)
    return devices::IoResult::kBadRegister;
  uint64_t value = 0;
  if (data.size() == 8) {
    (void)base::LoadLe<uint64_t>(data, 0, value);
    if (offset >= wire::kDoorbellBase) return devices::IoResult::kBadSize;
  } else {
    uint32_t dword = 0;
    (void)base::LoadLe<uint32_t>(data, 0, dword);
    value = dword;
  }
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (offset >= wire::kDoorbellBase) {
      DoorbellLocked(offset, static_cast<uint32_t>(value), actions);
    } else {
      WriteRegisterLocked(offset, static_cast<uint32_t>(value));
      if (data.size() == 8) WriteRegisterLocked(offset + 4, static_cast<uint32_t>(value >> 32));
    }
  }
  RunActions(actions);
  return devices::IoResult::kOk;
}

uint64_t Controller::Core::ReadRegisterLocked(uint64_t offset) const {
  switch (offset) {
    case wire::kRegCap: return cap_ & 0xFFFF'FFFF;
    case wire::kRegCap + 4: return cap_ >> 32;
    case wire::kRegVs: return kVersion;
    case wire::kRegCc: return cc_.raw;
    case wire::kRegCsts:
      return wire::Csts{}
          .set_rdy(state_ != State::kDisabled)
          .set_cfs(fatal_)
          .set_shst(shst_)
          .raw;
    case wire::kRegAqa: return aqa_.raw;
    case wire::kRegAsq: return asq_ & 0xFFFF'FFFF;
    case wire::kRegAsq + 4: return asq_ >> 32;
    case wire::kRegAcq: return acq_ & 0xFFFF'FFFF;
    case wire::kRegAcq + 4: return acq_ >> 32;
    default:
      // INTMS/INTMC (undefined under MSI-X), NSSR (NSSRS = 0), CMB, BP,
      // PMR and CRTO registers (not supported): 0.
      return 0;
  }
}

void Controller::Core::WriteRegisterLocked(uint64_t offset, uint32_t value) {
  // NVMe 2.0 "Offset 28h: ASQ"/"Offset 30h: ACQ"/AQA: changed only while
  // the controller is disabled (openvmm ignores them while enabled too).
  const bool writable_admin = state_ == State::kDisabled && !cc_.en();
  switch (offset) {
    case wire::kRegCc: WriteCcLocked(value); return;
    case wire::kRegAqa:
      if (writable_admin) aqa_.raw = value & 0x0FFF'0FFF;
      return;
    case wire::kRegAsq:
      if (writable_admin) asq_ = (asq_ & ~uint64_t{0xFFFF'FFFF}) | value;
      return;
    case wire::kRegAsq + 4:
      if (writable_admin) asq_ = (asq_ & 0xFFFF'FFFF) | uint64_t{value} << 32;
      return;
    case wire::kRegAcq:
      if (writable_admin) acq_ = (acq_ & ~uint64_t{0xFFFF'FFFF}) | value;
      return;
    case wire::kRegAcq + 4:
      if (writable_admin) acq_ = (acq_ & 0xFFFF'FFFF) | uint64_t{value} << 32;
      return;
    default:
      // CAP, VS, CSTS (NSSRO is never set), INTMS/INTMC, NSSR and the
      // reserved registers: writes are ignored.
      return;
  }
}

// nvme-vfio.md §1.3: Linux writes the configuration with EN = 0, reads it
// back, then sets EN; EN 1 -> 0 is a controller reset; SHN asks for a
// shutdown.
void Controller::Core::WriteCcLocked(uint32_t value) {
  const wire::Cc next{value};
  const bool was_enabled = cc_.en();
  if (was_enabled && next.en()) {
    // Enabled: only SHN may change (NVMe 2.0 "Offset 14h: CC": the other
    // fields are written while EN = 0).
    cc_.set_shn(next.shn());
    if (next.shn() != wire::kShnNone) {
      // Shutdown: nothing is cached here, so it completes at once.
      shst_ = wire::kShstComplete;
    } else {
      shst_ = wire::kShstNormal;
    }
    return;
  }
  cc_ = next;
  if (was_enabled) {
    ResetLocked();
    return;
  }
  if (next.en()) EnableLocked();
}

void Controller::Core::EnableLocked() {
  // openvmm refuses EN = 1 while RDY is still 1 (a reset draining).
  if (state_ != State::kDisabled || fatal_) return;
  // NVMe 2.0 "Offset 14h: CC" against our CAP: NVM command set only, 4 KiB
  // pages only, round robin only; IOSQES/IOCQES either unset (0) or the
  // only sizes we support. Anything else is a controller fatal status.
  const bool entry_sizes_ok = (cc_.iosqes() == 0 || cc_.iosqes() == wire::kSqesLog2) &&
                              (cc_.iocqes() == 0 || cc_.iocqes() == wire::kCqesLog2);
  if (cc_.css() != 0 || cc_.mps() != 0 || cc_.ams() != 0 || !entry_sizes_ok ||
      aqa_.asqs() == 0 || aqa_.acqs() == 0) {
    FatalLocked("invalid CC or AQA at enable");
    return;
  }
  const uint64_t asq = asq_ & wire::kAdminQueueBaseMask;
  const uint64_t acq = acq_ & wire::kAdminQueueBaseMask;
  SubmissionQueue sq;
  sq.base = asq;
  sq.size = static_cast<uint16_t>(aqa_.asqs() + 1);
  sq.cqid = 0;
  CompletionQueue cq;
  cq.base = acq;
  cq.size = static_cast<uint16_t>(aqa_.acqs() + 1);
  cq.interrupts = true;  // the admin CQ always uses vector 0
  cq.vector = 0;
  cq.sq_count = 1;
  sqs_[0] = sq;
  cqs_[0] = cq;
  shst_ = wire::kShstNormal;
  state_ = State::kEnabled;
}

// NVMe 2.0 "Controller Reset" (nvme-vfio.md §1.3 step 6): delete the I/O
// queues, forget the admin queue positions and every outstanding command,
// keep AQA/ASQ/ACQ.
void Controller::Core::ResetLocked() {
  ++reset_epoch_;
  for (auto& sq : sqs_) sq.reset();
  for (auto& cq : cqs_) cq.reset();
  held_aers_ = 0;
  granted_io_sqs_ = granted_io_cqs_ = config_.max_io_queue_pairs;
  write_cache_enabled_ = config_.volatile_write_cache;
  features_ = {};
  // Held completions were on queues now gone; timers still running find
  // nothing held.
  for (Aggregation& vector : aggregation_) vector = Aggregation{.timer = vector.timer};
  fatal_ = false;
  shst_ = wire::kShstNormal;
  // RDY drops once the back end holds none of our requests (OnBlockComplete).
  state_ = in_flight_.empty() ? State::kDisabled : State::kResetting;
}

void Controller::Core::FatalLocked(const char* why) {
  if (!fatal_) log_.Print("nvme: ", "controller fatal status: %s", why);
  fatal_ = true;
}

void Controller::Core::DoorbellLocked(uint64_t offset, uint32_t value, Actions& actions) {
  const uint64_t index = (offset - wire::kDoorbellBase) / 4;  // DSTRD 0
  const bool is_cq = (index & 1) != 0;
  const uint64_t qid = index / 2;
  if (state_ != State::kEnabled || fatal_) return;
  // NVMe 2.0 "Asynchronous Event Information - Error Status": writes to
  // an absent queue's doorbell or of an out-of-range value are Invalid
  // Doorbell errors; we report no events, so they are ignored and logged.
  if (qid >= sqs_.size()) {
    log_.Print("nvme: ", "doorbell 0x%llx beyond the queues", static_cast<unsigned long long>(offset));
    return;
  }
  if (is_cq) {
    auto& cq = cqs_[qid];
    if (!cq || value >= cq->size) {
      log_.Print("nvme: ", "CQ %llu head doorbell %u invalid", static_cast<unsigned long long>(qid), value);
      return;
    }
    // The host may consume only what was posted: the new head lies in
    // (head, tail] going round the ring.
    const uint32_t posted = (uint32_t{cq->tail} + cq->size - cq->head) % cq->size;
    const uint32_t consumed = (value + cq->size - cq->head) % cq->size;
    if (consumed > posted) {
      log_.Print("nvme: ", "CQ %llu head doorbell %u past the tail %u",
                 static_cast<unsigned long long>(qid), value, cq->tail);
      return;
    }
    cq->head = static_cast<uint16_t>(value);
    // Room freed: resume the SQs that stalled on this CQ.
    for (size_t sqid = 0; sqid < sqs_.size(); ++sqid) {
      if (sqs_[sqid] && sqs_[sqid]->cqid == qid && sqs_[sqid]->head != sqs_[sqid]->tail)
        ProcessSqLocked(static_cast<uint16_t>(sqid), actions);
    }
    return;
  }
  auto& sq = sqs_[qid];
  if (!sq || value >= sq->size) {
    log_.Print("nvme: ", "SQ %llu tail doorbell %u invalid", static_cast<unsigned long long>(qid), value);
    return;
  }
  sq->tail = static_cast<uint16_t>(value);
  ProcessSqLocked(static_cast<uint16_t>(qid), actions);
}

// ---------------------------------------------------------------------------
// Queues.

uint32_t Controller::Core::CqFreeLocked(const CompletionQueue& cq) const {
  const uint32_t posted = (uint32_t{cq.tail} + cq.size - cq.head) % cq.size;
  const uint32_t taken = posted + cq.reserved;
  return taken >= uint32_t{cq.size} - 1 ? 0 : cq.size - 1 - taken;
}

void Controller::Core::ProcessSqLocked(uint16_t sqid, Actions& actions) {
  // Bounded: at most one pass over the ring per call.
  for (uint32_t budget = sqs_[sqid]->size; budget > 0; --budget) {
    if (state_ != State::kEnabled || fatal_ || !sqs_[sqid]) return;
    SubmissionQueue& sq = *sqs_[sqid];
    if (sq.head == sq.tail || sq.delete_cid) return;
    const uint16_t cqid = sq.cqid;
    CompletionQueue& cq = *cqs_[cqid];
    if (CqFreeLocked(cq) == 0) return;  // resumes on the CQ head doorbell
    // Copy the entry once; everything below reads the copy.
    std::array<std::byte, wire::kSubmissionEntryBytes> raw;
    const uint64_t gpa = sq.base + uint64_t{sq.head} * wire::kSubmissionEntryBytes;
    if (!dma_.Read(mem::Gpa{gpa}, raw)) {
      FatalLocked("submission queue entry not readable");
      return;
    }
    const auto sqe = wire::FromBytes<wire::SubmissionEntry>(raw);
    sq.head = static_cast<uint16_t>((sq.head + 1) % sq.size);
    ++cq.reserved;
    const std::optional<Reply> reply = sqid == 0 ? AdminLocked(sqe) : IoLocked(sqid, sqe, actions);
    if (reply) PostLocked(cqid, sqid, sqe.cid(), *reply, actions);
  }
}

void Controller::Core::PostLocked(uint16_t cqid, uint16_t sqid, uint16_t cid, Reply reply,
                                  Actions& actions) {
  CompletionQueue& cq = *cqs_[cqid];
  --cq.reserved;
  wire::CompletionEntry entry{};
  entry.dw0 = reply.dw0;
  entry.sqhd = sqs_[sqid] ? sqs_[sqid]->head : 0;
  entry.sqid = sqid;
  entry.cid = cid;
  entry.status = static_cast<uint16_t>(reply.status.ToField() | (cq.phase ? wire::kPhaseTag : 0));
  const auto bytes = wire::ToBytes(entry);
  const uint64_t gpa = cq.base + uint64_t{cq.tail} * wire::kCompletionEntryBytes;
  // nvme-vfio.md §2: the host polls the phase tag, so the dword holding it
  // is written after the rest of the entry.
  constexpr size_t kTailDword = offsetof(wire::CompletionEntry, cid);
  if (!dma_.Write(mem::Gpa{gpa}, std::span(bytes).first(kTailDword)) ||
      !dma_.Write(mem::Gpa{gpa + kTailDword}, std::span(bytes).subspan(kTailDword))) {
    FatalLocked("completion queue entry not writable");
    return;
  }
  cq.tail = static_cast<uint16_t>((cq.tail + 1) % cq.size);
  if (cq.tail == 0) cq.phase = !cq.phase;
  if (cq.interrupts) InterruptLocked(cqid, cq, actions);
}

bool Controller::Core::CoalescesLocked(uint16_t cqid, const CompletionQueue& cq) const {
  // NVMe 2.0 "Interrupt Coalescing": TIME (bits 15:08, 100 us units) 0 is
  // no delay; not applied to the Admin Completion Queue, nor to a vector
  // the admin queue shares, nor where Interrupt Vector Configuration set
  // Coalescing Disable.
  const uint32_t setting = features_[wire::kFeatureInterruptCoalescing];
  if (cqid == 0 || ((setting >> 8) & 0xFF) == 0) return false;
  if (cqs_[0] && cqs_[0]->interrupts && cqs_[0]->vector == cq.vector) return false;
  return cq.vector < aggregation_.size() && !aggregation_[cq.vector].disabled;
}

void Controller::Core::InterruptLocked(uint16_t cqid, const CompletionQueue& cq, Actions& actions) {
  const auto now = [&] {
    if (std::find(actions.vectors.begin(), actions.vectors.end(), cq.vector) == actions.vectors.end())
      actions.vectors.push_back(cq.vector);
  };
  if (!CoalescesLocked(cqid, cq)) {
    if (cq.vector < aggregation_.size()) aggregation_[cq.vector].held = 0;
    now();
    return;
  }
  // THR (bits 07:00) is 0's based: interrupt once THR + 1 entries are
  // held, or when the aggregation time runs out, whichever comes first.
  const uint32_t setting = features_[wire::kFeatureInterruptCoalescing];
  Aggregation& vector = aggregation_[cq.vector];
  if (++vector.held >= (setting & 0xFF) + 1) {
    vector.held = 0;
    now();
    return;
  }
  if (!vector.timer) {
    vector.timer = true;
    actions.timers.emplace_back(cq.vector, std::chrono::microseconds(100 * ((setting >> 8) & 0xFF)));
  }
}

void Controller::Core::AggregationTimeElapsed(uint16_t vector) {
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (detached_ || vector >= aggregation_.size()) return;
    Aggregation& aggregation = aggregation_[vector];
    aggregation.timer = false;
    if (aggregation.held == 0) return;
    aggregation.held = 0;
    actions.vectors.push_back(vector);
  }
  RunActions(actions);
}

void Controller::Core::RunActions(Actions& actions) {
  for (uint16_t vector : actions.vectors) interrupts_.Signal(vector);
  for (const auto& [vector, delay] : actions.timers) {
    if (interrupts_.StartAggregationTimer(vector, delay)) continue;
    // No timers in this host: what was held is interrupted for now.
    AggregationTimeElapsed(vector);
  }
  for (Submission& submission : actions.submissions) {
    const uint64_t token = submission.token;
    submission.device->Submit(std::move(submission.request), submission.queue_hint,
                              [core = shared_from_this(), token](block::Status status) {
                                core->OnBlockComplete(token, status);
                              });
  }
}

void Controller::Core::OnBlockComplete(uint64_t token, block::Status status) {
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (detached_) return;
    const auto it = in_flight_.find(token);
    if (it == in_flight_.end()) return;  // a back end completing twice: ignore
    InFlight& command = it->second;
    if (status != block::Status::kOk && command.status.ok())
      command.status = MapBlockStatus(status, command.is_read);
    if (--command.parts_left > 0) return;
    const InFlight done = command;
    in_flight_.erase(it);
    if (done.epoch != reset_epoch_) {
      // Issued before a reset: nobody is waiting for it. The reset
      // finishes when the last such request is back.
      if (state_ == State::kResetting && in_flight_.empty()) state_ = State::kDisabled;
      return;
    }
    if (!sqs_[done.sqid]) return;  // not reached: deletion waits for in_flight
    SubmissionQueue& sq = *sqs_[done.sqid];
    --sq.in_flight;
    PostLocked(sq.cqid, done.sqid, done.cid, Reply{done.status, 0}, actions);
    if (sq.delete_cid && sq.in_flight == 0) FinishDeleteSqLocked(done.sqid, actions);
  }
  RunActions(actions);
}

}  // namespace nvme
