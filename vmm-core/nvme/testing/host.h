// nvme::testing::Host: the host side of an NVMe controller as the Linux
// 6.1 driver drives it (nvme-vfio.md §1.3, §2, §4.1), over a FakeDmaMemory:
// register accesses, the enable handshake, admin and I/O submission with
// a phase-tracking completion consumer, for controller_test.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "nvme/controller.h"
#include "nvme/testing/fake_dma_memory.h"
#include "nvme/wire.h"

namespace nvme::testing {

class RecordingInterrupts final : public InterruptSink {
 public:
  void Signal(uint16_t msix_vector) override {
    std::lock_guard lock(mutex_);
    vectors.push_back(msix_vector);
  }
  bool StartAggregationTimer(uint16_t msix_vector, std::chrono::microseconds delay) override {
    std::lock_guard lock(mutex_);
    if (!timers_available) return false;
    timers.emplace_back(msix_vector, delay);
    return true;
  }
  size_t count() {
    std::lock_guard lock(mutex_);
    return vectors.size();
  }
  std::vector<uint16_t> vectors;
  // With timers_available, StartAggregationTimer records and accepts;
  // the test ends the time itself (Controller::AggregationTimeElapsed).
  bool timers_available = false;
  std::vector<std::pair<uint16_t, std::chrono::microseconds>> timers;

 private:
  std::mutex mutex_;
};

// Where the host keeps its queues (all inside FakeDmaMemory at base 0).
struct HostQueue {
  uint16_t qid = 0;
  uint64_t sq_base = 0;
  uint64_t cq_base = 0;
  uint16_t sq_size = 0;
  uint16_t cq_size = 0;
  uint16_t sq_tail = 0;
  uint16_t cq_head = 0;
  bool phase = true;  // Linux: cq_phase starts at 1
};

class Host {
 public:
  Host(Controller& controller, FakeDmaMemory& dma) : controller_(controller), dma_(dma) {}

  uint32_t Read32(uint64_t offset) {
    std::array<std::byte, 4> data{};
    (void)controller_.Read(offset, data);
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(data, 0, value);
    return value;
  }
  uint64_t Read64(uint64_t offset) {
    std::array<std::byte, 8> data{};
    (void)controller_.Read(offset, data);
    uint64_t value = 0;
    (void)base::LoadLe<uint64_t>(data, 0, value);
    return value;
  }
  devices::IoResult Write32(uint64_t offset, uint32_t value) {
    std::array<std::byte, 4> data{};
    (void)base::StoreLe<uint32_t>(data, 0, value);
    return controller_.Write(offset, data);
  }
  wire::Csts csts() { return wire::Csts{Read32(wire::kRegCsts)}; }

  // nvme-vfio.md §1.3 steps 2-4; true if RDY came up.
  bool Enable(uint64_t asq, uint64_t acq, uint16_t entries = 32) {
    admin = HostQueue{0, asq, acq, entries, entries};
    Write32(wire::kRegCc, 0);
    if (csts().rdy()) return false;
    const uint32_t aqa = wire::Aqa{}.set_asqs(static_cast<uint16_t>(entries - 1))
                             .set_acqs(static_cast<uint16_t>(entries - 1)).raw;
    Write32(wire::kRegAqa, aqa);
    Write32(wire::kRegAsq, static_cast<uint32_t>(asq));  // lo_hi_writeq
    Write32(wire::kRegAsq + 4, static_cast<uint32_t>(asq >> 32));
    Write32(wire::kRegAcq, static_cast<uint32_t>(acq));
    Write32(wire::kRegAcq + 4, static_cast<uint32_t>(acq >> 32));
    wire::Cc cc;
    cc.set_css(0).set_mps(0).set_ams(0).set_shn(0).set_iosqes(6).set_iocqes(4);
    Write32(wire::kRegCc, cc.raw);
    Write32(wire::kRegCc, cc.set_en(true).raw);
    return csts().rdy();
  }

  // Places `sqe` at the queue's tail and rings its doorbell.
  void Submit(HostQueue& queue, wire::SubmissionEntry sqe) {
    const auto bytes = wire::ToBytes(sqe);
    const uint64_t at = queue.sq_base + uint64_t{queue.sq_tail} * 64;
    std::copy(bytes.begin(), bytes.end(), dma_.bytes().begin() + static_cast<std::ptrdiff_t>(at));
    queue.sq_tail = static_cast<uint16_t>((queue.sq_tail + 1) % queue.sq_size);
    Write32(wire::SqTailDoorbell(queue.qid, 0), queue.sq_tail);
  }

  // The next completion if its phase tag says it is new (no doorbell).
  std::optional<wire::CompletionEntry> Peek(const HostQueue& queue) {
    const uint64_t at = queue.cq_base + uint64_t{queue.cq_head} * 16;
    std::array<std::byte, 16> raw;
    std::copy_n(dma_.bytes().begin() + static_cast<std::ptrdiff_t>(at), 16, raw.begin());
    const auto cqe = wire::FromBytes<wire::CompletionEntry>(raw);
    if (((cqe.status & wire::kPhaseTag) != 0) != queue.phase) return std::nullopt;
    return cqe;
  }
  // Consumes the next completion and rings the CQ head doorbell.
  std::optional<wire::CompletionEntry> Reap(HostQueue& queue, bool ring = true) {
    auto cqe = Peek(queue);
    if (!cqe) return std::nullopt;
    queue.cq_head = static_cast<uint16_t>((queue.cq_head + 1) % queue.cq_size);
    if (queue.cq_head == 0) queue.phase = !queue.phase;
    if (ring) Write32(wire::CqHeadDoorbell(queue.qid, 0), queue.cq_head);
    return cqe;
  }

  // Submits and reaps one admin command; nullopt if nothing completed.
  std::optional<wire::CompletionEntry> Admin(wire::SubmissionEntry sqe) {
    sqe.cdw0 = (sqe.cdw0 & 0xFFFF) | uint32_t{next_cid_++} << 16;
    Submit(admin, sqe);
    return Reap(admin);
  }

  static wire::SubmissionEntry Command(uint8_t opcode, uint32_t nsid = 0) {
    wire::SubmissionEntry sqe{};
    sqe.cdw0 = opcode;
    sqe.nsid = nsid;
    return sqe;
  }

  // Set Features Number of Queues, then CQ and SQ `qid` as Linux creates
  // them (nvme-vfio.md §4.1 steps 9-10). True if both succeeded.
  bool CreateIoQueuePair(HostQueue& queue, uint16_t qid, uint64_t sq_base, uint64_t cq_base,
                         uint16_t sq_entries, uint16_t cq_entries, uint16_t vector) {
    queue = HostQueue{qid, sq_base, cq_base, sq_entries, cq_entries};
    auto cq = Command(static_cast<uint8_t>(wire::AdminOpcode::kCreateIoCq));
    cq.prp1 = cq_base;
    cq.cdw10 = uint32_t{static_cast<uint16_t>(cq_entries - 1)} << 16 | qid;
    cq.cdw11 = uint32_t{vector} << 16 | 2 | 1;
    auto done = Admin(cq);
    if (!done || !wire::Status::FromField(done->status).ok()) return false;
    auto sq = Command(static_cast<uint8_t>(wire::AdminOpcode::kCreateIoSq));
    sq.prp1 = sq_base;
    sq.cdw10 = uint32_t{static_cast<uint16_t>(sq_entries - 1)} << 16 | qid;
    sq.cdw11 = uint32_t{qid} << 16 | 1;
    done = Admin(sq);
    return done && wire::Status::FromField(done->status).ok();
  }

  HostQueue admin;

 private:
  Controller& controller_;
  FakeDmaMemory& dma_;
  uint16_t next_cid_ = 1;
};

inline wire::Status StatusOf(const wire::CompletionEntry& cqe) { return wire::Status::FromField(cqe.status); }

}  // namespace nvme::testing
