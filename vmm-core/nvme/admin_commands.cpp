// The admin command set (NVMe 2.0 "Admin Command Set"), as far as
// nvme-vfio.md §4 and §10 say Linux 6.1 needs it. Each handler validates
// a copied SubmissionEntry and answers with a status; none waits.
#include <algorithm>
#include <array>
#include <string>

#include "base/le_bytes.h"
#include "nvme/controller_core.h"

namespace nvme {
namespace {

template <size_t N>
std::array<uint8_t, N> SpacePadded(const std::string& text) {
  std::array<uint8_t, N> out;
  out.fill(' ');
  for (size_t i = 0; i < text.size() && i < N; ++i) out[i] = static_cast<uint8_t>(text[i]);
  return out;
}

constexpr uint16_t kAdminQueueId = 0;

// Number of Queues completion DW0: NSQA 15:0, NCQA 31:16, both 0's based.
constexpr uint32_t NumberOfQueues(uint16_t sqs, uint16_t cqs) {
  return (uint32_t{sqs} - 1) | (uint32_t{cqs} - 1) << 16;
}

}  // namespace

std::optional<Controller::Core::Reply> Controller::Core::AdminLocked(const wire::SubmissionEntry& sqe) {
  // Fused operations and SGLs are not supported (Identify FUSES = 0,
  // SGLS = 0); admin commands never use SGLs anyway.
  if (sqe.fuse() != 0 || sqe.psdt() != wire::kPsdtPrp)
    return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  switch (static_cast<wire::AdminOpcode>(sqe.opcode())) {
    case wire::AdminOpcode::kIdentify: return IdentifyLocked(sqe);
    case wire::AdminOpcode::kCreateIoCq: return CreateIoCqLocked(sqe);
    case wire::AdminOpcode::kCreateIoSq: return CreateIoSqLocked(sqe);
    case wire::AdminOpcode::kDeleteIoCq: return DeleteIoCqLocked(sqe);
    case wire::AdminOpcode::kDeleteIoSq: return DeleteIoSqLocked(sqe);
    case wire::AdminOpcode::kSetFeatures: return SetFeaturesLocked(sqe);
    case wire::AdminOpcode::kGetFeatures: return GetFeaturesLocked(sqe);
    case wire::AdminOpcode::kGetLogPage: return GetLogPageLocked(sqe);
    case wire::AdminOpcode::kAsyncEventRequest: return AsyncEventRequestLocked();
    case wire::AdminOpcode::kAbort:
      // NVMe 2.0 "Abort command": DW0 bit 0 set = command not aborted.
      // Commands here either complete at once or sit at the back end,
      // which cannot cancel them (nvme-vfio.md §10, as openvmm does).
      return Reply{wire::kSuccess, 1};
    default:
      // Namespace management, firmware, keep alive (kato = 0 on PCIe),
      // doorbell buffer config (OACS = 0) and everything else.
      return Fail(wire::GenericStatus(wire::generic::kInvalidOpcode));
  }
}

Controller::Core::Reply Controller::Core::SendDataLocked(const wire::SubmissionEntry& sqe,
                                                         std::span<const std::byte> bytes) {
  const PrpResult prps = WalkPrps(dma_, sqe.prp1, sqe.prp2, static_cast<uint32_t>(bytes.size()));
  if (!prps.ok()) return Fail(prps.status);
  if (!WriteSegments(dma_, prps.segments, bytes))
    return Fail(wire::GenericStatus(wire::generic::kDataTransferError, false));
  return Reply{};
}

// NVMe 2.0 "Identify command"; nvme-vfio.md §4.1 steps 2, 14-17.
Controller::Core::Reply Controller::Core::IdentifyLocked(const wire::SubmissionEntry& sqe) {
  const uint8_t cns = static_cast<uint8_t>(sqe.cdw10 & 0xFF);
  const uint8_t csi = static_cast<uint8_t>(sqe.cdw11 >> 24);
  const bool nsid_valid = sqe.nsid >= 1 && sqe.nsid <= namespaces_.size();
  switch (cns) {
    case wire::kCnsController: {
      wire::IdentifyController id{};
      id.vid = config_.pci_vendor_id;
      id.ssvid = config_.pci_subsystem_vendor_id;
      id.sn = SpacePadded<20>(config_.serial);
      id.mn = SpacePadded<40>(config_.model);
      id.fr = SpacePadded<8>(config_.firmware_revision);
      id.mdts = config_.mdts;
      id.cntlid = config_.controller_id;
      id.ver = wire::MakeVersion(2, 0);
      id.cntrltype = wire::kControllerTypeIo;
      // nvme-vfio.md §4.2: CMIC, OACS, LPA, APSTA, HMPRE, SGLS, CTRATT
      // stay 0 so Linux takes no optional path.
      id.acl = kAbortCommandLimit - 1;
      id.aerl = kAsyncEventRequestLimit - 1;
      id.frmw = 0x03;  // one slot (bits 3:1 = 1), slot 1 read only (bit 0)
      id.elpe = 0;     // one error log entry
      id.npss = 0;     // one power state
      id.sqes = wire::kSqesLog2 << 4 | wire::kSqesLog2;
      id.cqes = wire::kCqesLog2 << 4 | wire::kCqesLog2;
      id.nn = static_cast<uint32_t>(namespaces_.size());
      id.oncs = wire::kOncsDatasetManagement;
      if (!namespaces_.empty() &&
          std::all_of(namespaces_.begin(), namespaces_.end(),
                      [](const Namespace& ns) { return ns.geometry.supports_write_zeroes; }))
        id.oncs |= wire::kOncsWriteZeroes;
      if (config_.volatile_write_cache)
        id.vwc = wire::kVwcPresent | wire::kVwcBroadcastFlushUnsupported;
      // NVMe 2.0 "Subsystem NVMe Qualified Name": NUL-terminated UTF-8.
      for (size_t i = 0; i < config_.subsystem_nqn.size(); ++i)
        id.subnqn[i] = static_cast<uint8_t>(config_.subsystem_nqn[i]);
      id.psd[0].mp = 2500;  // 25 W, a nominal figure
      return SendDataLocked(sqe, wire::ToBytes(id));
    }
    case wire::kCnsNamespace: {
      if (!nsid_valid) return Fail(wire::GenericStatus(wire::generic::kInvalidNamespaceOrFormat));
      const Namespace& ns = namespaces_[sqe.nsid - 1];
      wire::IdentifyNamespace id{};
      // nvme-vfio.md §4.3 and §10: NCAP = NSZE (NCAP 0 hides it), one LBA
      // format without metadata, a unique NGUID.
      id.nsze = id.ncap = id.nuse = ns.geometry.block_count;
      id.nlbaf = 0;
      id.flbas = 0;
      id.lbaf[0] = wire::LbaFormat::Make(ns.lbads);
      id.nsattr = ns.geometry.read_only ? 1 : 0;
      std::copy(ns.geometry.unique_id.begin(), ns.geometry.unique_id.end(), id.nguid.begin());
      return SendDataLocked(sqe, wire::ToBytes(id));
    }
    case wire::kCnsActiveNamespaceList: {
      // Active NSIDs greater than CDW1.NSID, ascending, 0 terminated.
      if (sqe.nsid >= 0xFFFF'FFFE)
        return Fail(wire::GenericStatus(wire::generic::kInvalidNamespaceOrFormat));
      std::array<std::byte, wire::kIdentifyBytes> list{};
      size_t at = 0;
      for (uint32_t nsid = sqe.nsid + 1; nsid <= namespaces_.size() && at < list.size(); ++nsid) {
        (void)base::StoreLe<uint32_t>(list, at, nsid);
        at += 4;
      }
      return SendDataLocked(sqe, list);
    }
    case wire::kCnsNamespaceIdDescriptors: {
      // NVMe 2.0 "Namespace Identification Descriptor list": Linux 6.1
      // sends CNS 03h for VS >= 1.3 and skips the namespace on an error.
      if (!nsid_valid) return Fail(wire::GenericStatus(wire::generic::kInvalidNamespaceOrFormat));
      const Namespace& ns = namespaces_[sqe.nsid - 1];
      std::array<std::byte, wire::kIdentifyBytes> list{};
      list[0] = std::byte{wire::kNidtNguid};
      list[1] = std::byte{16};
      for (size_t i = 0; i < 16; ++i) list[4 + i] = std::byte{ns.geometry.unique_id[i]};
      list[20] = std::byte{wire::kNidtCsi};
      list[21] = std::byte{1};
      list[24] = std::byte{0};  // CSI 0: NVM command set
      return SendDataLocked(sqe, list);
    }
    case wire::kCnsIoCommandSetController: {
      // NVM 1.0 "I/O Command Set Specific Identify Controller": all zero
      // means no VSL/WZSL/DMRL limits beyond MDTS.
      if (csi != 0) return Fail(wire::GenericStatus(wire::generic::kInvalidField));
      const std::array<std::byte, wire::kIdentifyBytes> zeros{};
      return SendDataLocked(sqe, zeros);
    }
    default:
      return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  }
}

// NVMe 2.0 "Create I/O Completion Queue command".
Controller::Core::Reply Controller::Core::CreateIoCqLocked(const wire::SubmissionEntry& sqe) {
  const uint16_t qid = wire::QueueId(sqe.cdw10);
  const uint16_t size0 = wire::QueueSize0(sqe.cdw10);
  if (qid == 0 || qid > granted_io_cqs_ || qid >= cqs_.size() || cqs_[qid])
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueIdentifier));
  if (size0 == 0 || size0 >= kMaxQueueEntries)
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueSize));
  // CAP.CQR = 1: queues must be physically contiguous.
  if (!wire::PhysicallyContiguous(sqe.cdw11))
    return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  if ((sqe.prp1 & (kMemoryPageBytes - 1)) != 0)
    return Fail(wire::GenericStatus(wire::generic::kPrpOffsetInvalid));
  const bool interrupts = wire::InterruptsEnabled(sqe.cdw11);
  const uint16_t vector = wire::InterruptVector(sqe.cdw11);
  if (interrupts && vector >= config_.msix_vectors)
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidInterruptVector));
  CompletionQueue cq;
  cq.base = sqe.prp1;
  cq.size = static_cast<uint16_t>(size0 + 1);
  cq.interrupts = interrupts;
  cq.vector = vector;
  cqs_[qid] = cq;
  return Reply{};
}

// NVMe 2.0 "Create I/O Submission Queue command".
Controller::Core::Reply Controller::Core::CreateIoSqLocked(const wire::SubmissionEntry& sqe) {
  const uint16_t qid = wire::QueueId(sqe.cdw10);
  const uint16_t size0 = wire::QueueSize0(sqe.cdw10);
  const uint16_t cqid = wire::CompletionQueueId(sqe.cdw11);
  if (qid == 0 || qid > granted_io_sqs_ || qid >= sqs_.size() || sqs_[qid])
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueIdentifier));
  if (cqid == 0 || cqid >= cqs_.size() || !cqs_[cqid])
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kCompletionQueueInvalid));
  if (size0 == 0 || size0 >= kMaxQueueEntries)
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueSize));
  if (!wire::PhysicallyContiguous(sqe.cdw11))
    return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  if ((sqe.prp1 & (kMemoryPageBytes - 1)) != 0)
    return Fail(wire::GenericStatus(wire::generic::kPrpOffsetInvalid));
  SubmissionQueue sq;
  sq.base = sqe.prp1;
  sq.size = static_cast<uint16_t>(size0 + 1);
  sq.cqid = cqid;
  sqs_[qid] = sq;
  ++cqs_[cqid]->sq_count;
  return Reply{};
}

// NVMe 2.0 "Delete I/O Completion Queue command": every SQ posting to it
// must be deleted first.
Controller::Core::Reply Controller::Core::DeleteIoCqLocked(const wire::SubmissionEntry& sqe) {
  const uint16_t qid = wire::QueueId(sqe.cdw10);
  if (qid == 0 || qid >= cqs_.size() || !cqs_[qid])
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueIdentifier));
  if (cqs_[qid]->sq_count != 0)
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueDeletion));
  cqs_[qid].reset();
  return Reply{};
}

// NVMe 2.0 "Delete I/O Submission Queue command": the deletion completes
// after every command fetched from the SQ has completed, so no DMA for it
// is left once the host sees this completion.
std::optional<Controller::Core::Reply> Controller::Core::DeleteIoSqLocked(
    const wire::SubmissionEntry& sqe) {
  const uint16_t qid = wire::QueueId(sqe.cdw10);
  if (qid == 0 || qid >= sqs_.size() || !sqs_[qid] || sqs_[qid]->delete_cid)
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidQueueIdentifier));
  SubmissionQueue& sq = *sqs_[qid];
  if (sq.in_flight == 0) {
    --cqs_[sq.cqid]->sq_count;
    sqs_[qid].reset();
    return Reply{};
  }
  // The admin CQ slot reserved at fetch stays reserved for the answer.
  sq.delete_cid = sqe.cid();
  return std::nullopt;
}

void Controller::Core::FinishDeleteSqLocked(uint16_t sqid, Actions& actions) {
  SubmissionQueue& sq = *sqs_[sqid];
  const uint16_t cid = *sq.delete_cid;
  --cqs_[sq.cqid]->sq_count;
  sqs_[sqid].reset();
  if (cqs_[0]) PostLocked(0, kAdminQueueId, cid, Reply{}, actions);
}

// NVMe 2.0 "Set Features command"; nvme-vfio.md §4.1 step 7, §6, §10.
Controller::Core::Reply Controller::Core::SetFeaturesLocked(const wire::SubmissionEntry& sqe) {
  const uint8_t fid = static_cast<uint8_t>(sqe.cdw10 & 0xFF);
  if ((sqe.cdw10 >> 31) != 0)  // SV: nothing here is saveable
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kFeatureIdNotSaveable));
  const uint32_t value = sqe.cdw11;
  switch (fid) {
    case wire::kFeatureNumberOfQueues: {
      const uint32_t sqs_requested = value & 0xFFFF;  // 0's based
      const uint32_t cqs_requested = value >> 16;
      if (sqs_requested == 0xFFFF || cqs_requested == 0xFFFF)
        return Fail(wire::GenericStatus(wire::generic::kInvalidField));
      // "...after creation of any I/O queue: Command Sequence Error."
      for (size_t qid = 1; qid < sqs_.size(); ++qid) {
        if (sqs_[qid] || cqs_[qid])
          return Fail(wire::GenericStatus(wire::generic::kCommandSequenceError));
      }
      granted_io_sqs_ = static_cast<uint16_t>(std::min<uint32_t>(sqs_requested + 1, config_.max_io_queue_pairs));
      granted_io_cqs_ = static_cast<uint16_t>(std::min<uint32_t>(cqs_requested + 1, config_.max_io_queue_pairs));
      return Reply{wire::kSuccess, NumberOfQueues(granted_io_sqs_, granted_io_cqs_)};
    }
    case wire::kFeatureVolatileWriteCache:
      if (!config_.volatile_write_cache) return Fail(wire::GenericStatus(wire::generic::kInvalidField));
      write_cache_enabled_ = (value & 1) != 0;
      return Reply{};
    case wire::kFeaturePowerManagement:
      if ((value & 0x1F) != 0)  // PS: only power state 0 exists (NPSS = 0)
        return Fail(wire::GenericStatus(wire::generic::kInvalidField));
      features_[fid] = value;
      return Reply{};
    case wire::kFeatureInterruptVectorConfig:
      // IV (bits 15:00) and CD (bit 16) for that one vector.
      if ((value & 0xFFFF) >= config_.msix_vectors)
        return Fail(wire::GenericStatus(wire::generic::kInvalidField));
      aggregation_[value & 0xFFFF].disabled = ((value >> 16) & 1) != 0;
      return Reply{};
    case wire::kFeatureInterruptCoalescing:
      // TIME (15:08, 100 us) and THR (07:00, 0's based) for every I/O
      // completion queue (CoalescesLocked); held completions are
      // interrupted at their count or time under the new setting.
      features_[fid] = value & 0xFFFF;
      return Reply{};
    case wire::kFeatureArbitration:
    case wire::kFeatureTemperatureThreshold:
    case wire::kFeatureAsyncEventConfig:
      // Stored and reported back; no events are implemented (nvme-vfio.md
      // §6: store the values).
      features_[fid] = value;
      return Reply{};
    default:
      return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  }
}

// NVMe 2.0 "Get Features command".
Controller::Core::Reply Controller::Core::GetFeaturesLocked(const wire::SubmissionEntry& sqe) {
  const uint8_t fid = static_cast<uint8_t>(sqe.cdw10 & 0xFF);
  const uint8_t select = static_cast<uint8_t>((sqe.cdw10 >> 8) & 7);
  bool supported = false;
  uint32_t value = 0;
  switch (fid) {
    case wire::kFeatureNumberOfQueues:
      supported = true;
      value = NumberOfQueues(granted_io_sqs_, granted_io_cqs_);
      break;
    case wire::kFeatureVolatileWriteCache:
      supported = config_.volatile_write_cache;
      value = write_cache_enabled_ ? 1 : 0;
      break;
    case wire::kFeatureInterruptVectorConfig:
      supported = (sqe.cdw11 & 0xFFFF) < config_.msix_vectors;
      value = sqe.cdw11 & 0xFFFF;
      if (supported && aggregation_[value].disabled) value |= 1u << 16;  // CD
      break;
    case wire::kFeatureArbitration:
    case wire::kFeaturePowerManagement:
    case wire::kFeatureTemperatureThreshold:
    case wire::kFeatureInterruptCoalescing:
    case wire::kFeatureAsyncEventConfig:
      supported = true;
      value = features_[fid];
      break;
    default:
      break;
  }
  if (!supported) return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  // SEL 011b "supported capabilities": changeable (bit 2), not saveable.
  if (select == 3) return Reply{wire::kSuccess, 1u << 2};
  // SEL 000b current, 001b default, 010b saved: we keep one value.
  if (select > 3) return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  return Reply{wire::kSuccess, value};
}

// NVMe 2.0 "Get Log Page command": minimal but well-formed pages.
Controller::Core::Reply Controller::Core::GetLogPageLocked(const wire::SubmissionEntry& sqe) {
  const uint8_t lid = static_cast<uint8_t>(sqe.cdw10 & 0xFF);
  const uint64_t dwords = (uint64_t{sqe.cdw11 & 0xFFFF} << 16 | (sqe.cdw10 >> 16)) + 1;  // NUMD
  const uint64_t offset = uint64_t{sqe.cdw13} << 32 | sqe.cdw12;                       // LPO
  const uint64_t length = dwords * 4;
  if (length > max_transfer_bytes() || (offset & 3) != 0)
    return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  std::vector<std::byte> page;
  switch (lid) {
    case wire::kLogErrorInformation:
      page.resize(wire::kLogErrorEntryBytes);  // ELPE = 0: one entry, empty
      break;
    case wire::kLogSmartHealth:
      page.resize(wire::kLogSmartHealthBytes);
      (void)base::StoreLe<uint16_t>(page, 1, 300);  // composite temperature, kelvin
      page[3] = std::byte{100};  // available spare, %
      page[4] = std::byte{10};   // available spare threshold, %
      break;
    case wire::kLogFirmwareSlot: {
      page.resize(wire::kLogFirmwareSlotBytes);
      page[0] = std::byte{1};  // AFI: slot 1 active
      const auto revision = SpacePadded<8>(config_.firmware_revision);
      for (size_t i = 0; i < revision.size(); ++i) page[8 + i] = std::byte{revision[i]};
      break;
    }
    case wire::kLogChangedNamespaces:
      page.resize(wire::kLogChangedNamespacesBytes);  // no changes
      break;
    default:
      return Fail(wire::CommandSpecificStatus(wire::command_specific::kInvalidLogPage));
  }
  if (offset > page.size()) return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  // Past the page's end the host gets zeroes.
  std::vector<std::byte> out(static_cast<size_t>(length));
  const size_t available = std::min<size_t>(out.size(), page.size() - static_cast<size_t>(offset));
  std::copy_n(page.begin() + static_cast<std::ptrdiff_t>(offset), available, out.begin());
  return SendDataLocked(sqe, out);
}

// NVMe 2.0 "Asynchronous Event Request command": held until an event,
// and no event is ever generated; a reset drops them (nvme-vfio.md §10).
std::optional<Controller::Core::Reply> Controller::Core::AsyncEventRequestLocked() {
  if (held_aers_ >= kAsyncEventRequestLimit)
    return Fail(wire::CommandSpecificStatus(wire::command_specific::kAsyncEventRequestLimitExceeded));
  ++held_aers_;
  // It will never post, so it gives back the admin CQ slot it reserved.
  --cqs_[0]->reserved;
  return std::nullopt;
}

}  // namespace nvme
