// The admin commands of bring-up and recovery (nvme-vfio.md §4.1), one at
// a time: Identify Controller, the active namespace list, Identify
// Namespace, Set Features Number of Queues, Create I/O CQ/SQ.
#include <algorithm>
#include <array>
#include <string>

#include "base/le_bytes.h"
#include "nvme/driver/driver_internal.h"

namespace nvme::driver {
namespace {

// Identify strings: ASCII, space padded; anything unprintable becomes '?'.
template <size_t N>
std::string TrimmedAscii(const std::array<uint8_t, N>& field) {
  std::string text;
  for (uint8_t c : field) text.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?');
  while (!text.empty() && (text.back() == ' ' || text.back() == '?')) text.pop_back();
  return text;
}

}  // namespace

using namespace internal;

void Driver::IssueAdminLocked(AdminStep step, wire::SubmissionEntry sqe, bool uses_identify_buffer) {
  PrpPlan prps;
  prps.prp1 = identify_.device_address;  // 4096 bytes, page aligned: PRP1 only
  if (uses_identify_buffer) std::fill(identify_.host.begin(), identify_.host.end(), std::byte{0});
  auto slot = admin_->Submit(sqe, uses_identify_buffer ? &prps : nullptr, now_ + options_.admin_timeout);
  if (!slot) {
    FailLocked(std::move(slot).error().message());
    return;
  }
  admin_step_ = step;
  admin_slot_ = *slot;
  admin_->RingDoorbell();
}

void Driver::OnAdminDoneLocked(wire::Status status, uint32_t dw0) {
  const AdminStep step = *admin_step_;
  admin_step_.reset();
  switch (step) {
    case AdminStep::kIdentifyController: OnIdentifyControllerLocked(status); return;
    case AdminStep::kActiveNamespaces: OnActiveNamespacesLocked(status); return;
    case AdminStep::kIdentifyNamespace: OnIdentifyNamespaceLocked(status); return;
    case AdminStep::kNumberOfQueues: OnNumberOfQueuesLocked(status, dw0); return;
    case AdminStep::kCreateCq: {
      const uint16_t qid = static_cast<uint16_t>(step_index_);
      if (!status.ok()) break;
      // NVMe 2.0 "Create I/O Submission Queue command": CDW11 CQID 31:16, PC 0.
      IoQueue& queue = *io_queues_[qid - 1];
      auto sq = Command(Op(wire::AdminOpcode::kCreateIoSq));
      sq.prp1 = queue.pair->sq_device_address();
      sq.cdw10 = uint32_t{static_cast<uint16_t>(queue.pair->entries() - 1)} << 16 | qid;
      sq.cdw11 = uint32_t{qid} << 16 | 1;
      IssueAdminLocked(AdminStep::kCreateSq, sq, false);
      return;
    }
    case AdminStep::kCreateSq: {
      if (!status.ok()) break;
      live_io_queues_ = static_cast<uint16_t>(step_index_);
      if (step_index_ < queues_to_create_) {
        ++step_index_;
        IssueCreateCqLocked();
      } else {
        QueuesCreatedLocked();
      }
      return;
    }
    case AdminStep::kInterruptCoalescing:
      // Optional: refused, completions are interrupted one by one.
      FinishInitLocked();
      return;
  }
  // A queue the controller refused: use the ones made so far (Linux
  // retries with fewer, nvme-vfio.md §4.1 step 9).
  if (live_io_queues_ == 0) {
    FailLocked("the controller refused to create I/O queue 1");
    return;
  }
  QueuesCreatedLocked();
}

void Driver::QueuesCreatedLocked() {
  if (options_.interrupt_coalescing == 0) {
    FinishInitLocked();
    return;
  }
  auto features = Command(Op(wire::AdminOpcode::kSetFeatures));
  features.cdw10 = wire::kFeatureInterruptCoalescing;
  features.cdw11 = options_.interrupt_coalescing;
  IssueAdminLocked(AdminStep::kInterruptCoalescing, features, false);
}

void Driver::OnIdentifyControllerLocked(wire::Status status) {
  if (!status.ok()) {
    FailLocked("Identify Controller failed");  // Linux removes the device too
    return;
  }
  std::array<std::byte, wire::kIdentifyBytes> raw;
  std::copy_n(identify_.host.begin(), raw.size(), raw.begin());
  const auto id = wire::FromBytes<wire::IdentifyController>(raw);
  // NVMe 2.0 "Identify Controller": MDTS in units of the minimum page size
  // (4 KiB, CAP.MPSMIN = 0), 0 = no limit.
  uint64_t max_bytes = options_.max_transfer_bytes;
  if (id.mdts != 0 && id.mdts < 32) max_bytes = std::min<uint64_t>(max_bytes, kPrpPageBytes << id.mdts);
  info_.max_transfer_bytes = static_cast<uint32_t>(max_bytes);
  info_.volatile_write_cache = (id.vwc & wire::kVwcPresent) != 0;
  info_.oncs = id.oncs;
  info_.namespace_count = id.nn;
  info_.serial = TrimmedAscii(id.sn);
  info_.model = TrimmedAscii(id.mn);
  auto list = Command(Op(wire::AdminOpcode::kIdentify));
  list.cdw10 = wire::kCnsActiveNamespaceList;
  IssueAdminLocked(AdminStep::kActiveNamespaces, list, true);
}

void Driver::OnActiveNamespacesLocked(wire::Status status) {
  candidate_nsids_.clear();
  const uint32_t limit = std::min(options_.max_namespaces, info_.namespace_count);
  if (status.ok()) {
    // NVMe 2.0 "Active Namespace ID list": ascending, 0 ends it. A list
    // that is not ascending ends where it stops being so.
    uint32_t previous = 0;
    for (size_t at = 0; at + 4 <= wire::kIdentifyBytes && candidate_nsids_.size() < options_.max_namespaces;
         at += 4) {
      uint32_t nsid = 0;
      (void)base::LoadLe<uint32_t>(identify_.host, at, nsid);
      if (nsid == 0 || nsid <= previous || nsid >= wire::kBroadcastNsid - 1) break;
      candidate_nsids_.push_back(nsid);
      previous = nsid;
    }
  } else {
    // nvme-vfio.md §4.1 step 15: Linux scans 1..NN sequentially.
    for (uint32_t nsid = 1; nsid <= limit; ++nsid) candidate_nsids_.push_back(nsid);
  }
  step_index_ = 0;
  IssueIdentifyNamespaceLocked();
}

void Driver::IssueIdentifyNamespaceLocked() {
  if (step_index_ >= candidate_nsids_.size()) {
    auto features = Command(Op(wire::AdminOpcode::kSetFeatures));
    features.cdw10 = wire::kFeatureNumberOfQueues;
    // nvme-vfio.md §4.1 step 7: NSQR 15:0, NCQR 31:16, 0's based.
    features.cdw11 = uint32_t{static_cast<uint16_t>(max_io_queues_ - 1)} |
                     uint32_t{static_cast<uint16_t>(max_io_queues_ - 1)} << 16;
    IssueAdminLocked(AdminStep::kNumberOfQueues, features, false);
    return;
  }
  auto identify = Command(Op(wire::AdminOpcode::kIdentify), candidate_nsids_[step_index_]);
  identify.cdw10 = wire::kCnsNamespace;
  IssueAdminLocked(AdminStep::kIdentifyNamespace, identify, true);
}

void Driver::OnIdentifyNamespaceLocked(wire::Status status) {
  const uint32_t nsid = candidate_nsids_[step_index_];
  ++step_index_;
  // An error skips the namespace (Linux, nvme-vfio.md §4.1 step 16).
  if (status.ok()) {
    std::array<std::byte, wire::kIdentifyBytes> raw;
    std::copy_n(identify_.host.begin(), raw.size(), raw.begin());
    const auto id = wire::FromBytes<wire::IdentifyNamespace>(raw);
    // nvme-vfio.md §7 defence 7 and §4.3: NLBAF <= 63, the FLBAS index
    // (bits 3:0, and 6:5 above them) within it, no metadata, LBADS 9..12,
    // NCAP nonzero and no larger than NSZE.
    const uint32_t format = (id.flbas & 0x0Fu) | ((id.flbas >> 5) & 0x3u) << 4;
    const bool format_ok = id.nlbaf <= 63 && format <= id.nlbaf;
    const wire::LbaFormat lbaf = format_ok ? id.lbaf[format] : wire::LbaFormat{};
    if (format_ok && lbaf.ms() == 0 && lbaf.lbads() >= 9 && lbaf.lbads() <= 12 && id.ncap != 0 &&
        id.ncap <= id.nsze) {
      auto ns = std::make_unique<Namespace>();
      ns->nsid = nsid;
      block::Geometry& geometry = ns->geometry;
      geometry.block_size = uint32_t{1} << lbaf.lbads();
      geometry.block_count = id.nsze;
      geometry.read_only = (id.nsattr & 1) != 0;  // NVM 1.0 NSATTR bit 0: write protected
      geometry.supports_deallocate = (info_.oncs & wire::kOncsDatasetManagement) != 0;
      geometry.supports_write_zeroes = (info_.oncs & wire::kOncsWriteZeroes) != 0;
      geometry.max_transfer_blocks = 0;  // longer requests are split here
      geometry.serial = info_.serial;
      const bool has_nguid = std::any_of(id.nguid.begin(), id.nguid.end(), [](uint8_t b) { return b != 0; });
      if (has_nguid) {
        std::copy(id.nguid.begin(), id.nguid.end(), geometry.unique_id.begin());
      } else {
        std::copy(id.eui64.begin(), id.eui64.end(), geometry.unique_id.begin());
      }
      ns->device = std::make_unique<NamespaceDevice>(*this, static_cast<uint32_t>(namespaces_.size()), geometry);
      namespaces_.push_back(std::move(ns));
    }
  }
  IssueIdentifyNamespaceLocked();
}

void Driver::OnNumberOfQueuesLocked(wire::Status status, uint32_t dw0) {
  if (!status.ok()) {
    FailLocked("Set Features Number of Queues failed");
    return;
  }
  // NSQA 15:0, NCQA 31:16, 0's based; never more than we asked for.
  const uint32_t granted = std::min({(dw0 & 0xFFFF) + 1, (dw0 >> 16) + 1, uint32_t{max_io_queues_}});
  if (io_queues_.empty()) {
    for (uint32_t qid = 1; qid <= granted; ++qid) {
      auto pair = QueuePair::Create(pool_, registers_, static_cast<uint16_t>(qid), io_entries_, cap_.dstrd());
      if (!pair) {
        if (qid == 1) {
          FailLocked(std::move(pair).error().message());
          return;
        }
        break;
      }
      auto queue = std::make_unique<IoQueue>();
      queue->pair = std::move(pair).value();
      queue->vector = options_.interrupt_vectors > 1 ? static_cast<uint16_t>(qid) : 0;
      queue->in_flight.resize(queue->pair->entries());
      io_queues_.push_back(std::move(queue));
    }
  }
  queues_to_create_ = static_cast<uint16_t>(std::min<size_t>(granted, io_queues_.size()));
  live_io_queues_ = 0;
  step_index_ = 1;
  IssueCreateCqLocked();
}

void Driver::IssueCreateCqLocked() {
  const uint16_t qid = static_cast<uint16_t>(step_index_);
  IoQueue& queue = *io_queues_[qid - 1];
  // NVMe 2.0 "Create I/O Completion Queue command": CDW10 QSIZE 31:16
  // (0's based) | QID; CDW11 IV 31:16, IEN bit 1, PC bit 0.
  auto cq = Command(Op(wire::AdminOpcode::kCreateIoCq));
  cq.prp1 = queue.pair->cq_device_address();
  cq.cdw10 = uint32_t{static_cast<uint16_t>(queue.pair->entries() - 1)} << 16 | qid;
  cq.cdw11 = uint32_t{queue.vector} << 16 | 2 | 1;
  IssueAdminLocked(AdminStep::kCreateCq, cq, false);
}

}  // namespace nvme::driver
