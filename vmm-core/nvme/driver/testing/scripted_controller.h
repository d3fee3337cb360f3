// ScriptedController: a fake NVMe controller behind driver::RegisterAccess
// for the driver's hostile-device tests and its fuzzer. It does the CC/CSTS
// handshake and answers the bring-up admin commands by itself (Identify,
// Set Features Number of Queues, Create I/O CQ/SQ), but I/O commands are
// only fetched and held: the test decides what, if anything, comes back,
// by Complete (a well-formed completion) or Post (any 16 bytes, any phase).
// Knobs make registers lie (CSTS override, RDY that never moves).
// Memory is a nvme::testing::FakeDmaMemory shared with the driver's pool.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>

#include "base/le_bytes.h"
#include "nvme/driver/os_interfaces.h"
#include "nvme/testing/fake_dma_memory.h"
#include "nvme/wire.h"

namespace nvme::driver::testing {

class ScriptedController final : public RegisterAccess {
 public:
  explicit ScriptedController(nvme::testing::FakeDmaMemory& memory) : memory_(memory) {}

  // --- knobs
  wire::Cap cap = wire::Cap{}.set_mqes(63).set_cqr(true).set_to(2).set_css(wire::kCapCssNvm);
  bool rdy_follows_en = true;            // false: RDY never changes
  std::optional<uint32_t> csts_override;  // every CSTS read returns this
  bool all_ones = false;                 // every read returns all-ones
  uint8_t mdts = 5;
  uint64_t namespace_blocks = 1024;
  uint8_t lbads = 9;
  uint16_t metadata_bytes = 0;  // LBAF MS
  bool read_only = false;
  uint32_t granted_queues = 64;  // Set Features Number of Queues answers min(asked, this)
  bool answer_admin = true;      // false: admin commands are held like I/O

  // --- what the driver did
  struct Queue {
    uint64_t sq_base = 0, cq_base = 0;
    uint16_t size = 0;
    uint16_t sq_head = 0, cq_tail = 0;
    bool phase = true;
    uint16_t vector = 0;
  };
  std::map<uint16_t, Queue> queues;  // by qid, 0 = admin
  std::deque<std::pair<uint16_t, wire::SubmissionEntry>> held;  // fetched, not completed
  uint32_t cc = 0;
  uint32_t resets = 0;  // CC.EN 1 -> 0

  // A completion for a held command, with a chosen status; removes it.
  void Complete(size_t held_index, wire::Status status = wire::kSuccess, uint32_t dw0 = 0) {
    const auto [qid, sqe] = held.at(held_index);
    held.erase(held.begin() + static_cast<std::ptrdiff_t>(held_index));
    wire::CompletionEntry entry{};
    entry.dw0 = dw0;
    entry.sqid = qid;
    entry.cid = sqe.cid();
    entry.sqhd = queues.count(qid) ? queues[qid].sq_head : 0;
    entry.status = status.ToField();
    Post(qid, entry);
  }
  // Any entry at `qid`'s CQ tail; the phase tag is the queue's current one
  // unless `phase` says otherwise. False if the queue does not exist.
  bool Post(uint16_t qid, wire::CompletionEntry entry, std::optional<bool> phase = std::nullopt) {
    auto it = queues.find(qid);
    if (it == queues.end() || it->second.size == 0) return false;
    Queue& q = it->second;
    const bool tag = phase.value_or(q.phase);
    entry.status = static_cast<uint16_t>((entry.status & ~wire::kPhaseTag) | (tag ? wire::kPhaseTag : 0));
    const auto bytes = wire::ToBytes(entry);
    (void)memory_.Write(mem::Gpa{q.cq_base + uint64_t{q.cq_tail} * 16}, bytes);
    q.cq_tail = static_cast<uint16_t>((q.cq_tail + 1) % q.size);
    if (q.cq_tail == 0) q.phase = !q.phase;
    return true;
  }

  // --- RegisterAccess
  uint64_t bar_bytes() const override { return 0x4000; }
  uint32_t Read32(uint64_t offset) override {
    if (all_ones) return 0xFFFF'FFFF;
    switch (offset) {
      case wire::kRegCap: return static_cast<uint32_t>(cap.raw);
      case wire::kRegCap + 4: return static_cast<uint32_t>(cap.raw >> 32);
      case wire::kRegVs: return wire::MakeVersion(2, 0);
      case wire::kRegCc: return cc;
      case wire::kRegCsts: return csts_override ? *csts_override : wire::Csts{}.set_rdy(rdy_).raw;
      default: return 0;
    }
  }
  uint64_t Read64(uint64_t offset) override {
    const uint64_t low = Read32(offset);
    return low | uint64_t{Read32(offset + 4)} << 32;
  }
  void Write32(uint64_t offset, uint32_t value) override {
    if (offset >= wire::kDoorbellBase) {
      Doorbell(offset, value);
      return;
    }
    switch (offset) {
      case wire::kRegCc: {
        const bool was = wire::Cc{cc}.en();
        cc = value;
        const bool now = wire::Cc{cc}.en();
        if (was && !now) {
          ++resets;
          queues.clear();
          held.clear();
        }
        if (!was && now) {
          Queue admin;
          admin.sq_base = asq_;
          admin.cq_base = acq_;
          admin.size = static_cast<uint16_t>(wire::Aqa{aqa_}.asqs() + 1);
          queues[0] = admin;
        }
        if (rdy_follows_en) rdy_ = now;
        return;
      }
      case wire::kRegAqa: aqa_ = value; return;
      case wire::kRegAsq: asq_ = (asq_ & ~uint64_t{0xFFFF'FFFF}) | value; return;
      case wire::kRegAsq + 4: asq_ = (asq_ & 0xFFFF'FFFF) | uint64_t{value} << 32; return;
      case wire::kRegAcq: acq_ = (acq_ & ~uint64_t{0xFFFF'FFFF}) | value; return;
      case wire::kRegAcq + 4: acq_ = (acq_ & 0xFFFF'FFFF) | uint64_t{value} << 32; return;
      default: return;
    }
  }

 private:
  void Doorbell(uint64_t offset, uint32_t value) {
    const uint64_t index = (offset - wire::kDoorbellBase) / 4;
    const uint16_t qid = static_cast<uint16_t>(index / 2);
    auto it = queues.find(qid);
    if ((index & 1) != 0 || it == queues.end() || value >= it->second.size) return;
    // Fetch everything up to the new tail (bounded by the ring size).
    for (uint32_t n = 0; n < it->second.size && it->second.sq_head != value; ++n) {
      Queue& q = queues[qid];
      std::array<std::byte, 64> raw;
      if (!memory_.Read(mem::Gpa{q.sq_base + uint64_t{q.sq_head} * 64}, raw)) return;
      q.sq_head = static_cast<uint16_t>((q.sq_head + 1) % q.size);
      const auto sqe = wire::FromBytes<wire::SubmissionEntry>(raw);
      if (qid == 0 && answer_admin) {
        Admin(sqe);
      } else {
        held.emplace_back(qid, sqe);
      }
    }
  }

  void Admin(const wire::SubmissionEntry& sqe) {
    wire::Status status = wire::kSuccess;
    uint32_t dw0 = 0;
    switch (static_cast<wire::AdminOpcode>(sqe.opcode())) {
      case wire::AdminOpcode::kIdentify: {
        std::array<std::byte, 4096> page{};
        const uint8_t cns = static_cast<uint8_t>(sqe.cdw10 & 0xFF);
        if (cns == wire::kCnsController) {
          wire::IdentifyController id{};
          id.mdts = mdts;
          id.nn = 1;
          id.oncs = wire::kOncsDatasetManagement | wire::kOncsWriteZeroes;
          id.vwc = wire::kVwcPresent;
          id.sn.fill(' ');
          id.sn[0] = 'S';
          page = wire::ToBytes(id);
        } else if (cns == wire::kCnsActiveNamespaceList) {
          (void)base::StoreLe<uint32_t>(page, 0, 1);
        } else if (cns == wire::kCnsNamespace && sqe.nsid == 1) {
          wire::IdentifyNamespace id{};
          id.nsze = id.ncap = id.nuse = namespace_blocks;
          id.lbaf[0] = wire::LbaFormat{uint32_t{lbads} << 16 | metadata_bytes};
          id.nsattr = read_only ? 1 : 0;
          page = wire::ToBytes(id);
        } else {
          status = wire::GenericStatus(wire::generic::kInvalidNamespaceOrFormat);
        }
        if (status.ok()) (void)memory_.Write(mem::Gpa{sqe.prp1}, page);
        break;
      }
      case wire::AdminOpcode::kSetFeatures: {
        const uint32_t asked = (sqe.cdw11 & 0xFFFF) + 1;
        const uint32_t n = std::min(asked, granted_queues);
        dw0 = (n - 1) | (n - 1) << 16;
        break;
      }
      case wire::AdminOpcode::kCreateIoCq: {
        Queue& q = queues[wire::QueueId(sqe.cdw10)];
        q.cq_base = sqe.prp1;
        q.size = static_cast<uint16_t>(wire::QueueSize0(sqe.cdw10) + 1);
        q.vector = wire::InterruptVector(sqe.cdw11);
        break;
      }
      case wire::AdminOpcode::kCreateIoSq: {
        Queue& q = queues[wire::QueueId(sqe.cdw10)];
        q.sq_base = sqe.prp1;
        break;
      }
      default:
        status = wire::GenericStatus(wire::generic::kInvalidOpcode);
        break;
    }
    wire::CompletionEntry entry{};
    entry.dw0 = dw0;
    entry.sqid = 0;
    entry.cid = sqe.cid();
    entry.sqhd = queues[0].sq_head;
    entry.status = status.ToField();
    Post(0, entry);
  }

  nvme::testing::FakeDmaMemory& memory_;
  bool rdy_ = false;
  uint32_t aqa_ = 0;
  uint64_t asq_ = 0, acq_ = 0;
};

}  // namespace nvme::driver::testing
