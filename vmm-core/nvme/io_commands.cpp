// The NVM command set's I/O commands Linux 6.1 sends (NVM 1.0; nvme-vfio.md
// §5): each is checked against its namespace, turned into block::Requests
// and handed to the namespace's block::Device outside the lock.
#include <algorithm>
#include <array>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "nvme/controller_core.h"

namespace nvme {

std::optional<Controller::Core::Reply> Controller::Core::IoLocked(uint16_t sqid,
                                                                  const wire::SubmissionEntry& sqe,
                                                                  Actions& actions) {
  // SGLS = 0 and FUSES = 0: PRPs only, no fused pairs.
  if (sqe.fuse() != 0 || sqe.psdt() != wire::kPsdtPrp)
    return Fail(wire::GenericStatus(wire::generic::kInvalidField));
  // NVM 1.0: an inactive or invalid NSID is Invalid Namespace or Format;
  // so is Flush to FFFFFFFFh, which VWC bits 2:1 = 10b declare unsupported.
  if (sqe.nsid == 0 || sqe.nsid > namespaces_.size())
    return Fail(wire::GenericStatus(wire::generic::kInvalidNamespaceOrFormat));
  const Namespace& ns = namespaces_[sqe.nsid - 1];
  switch (static_cast<wire::NvmOpcode>(sqe.opcode())) {
    case wire::NvmOpcode::kRead:
    case wire::NvmOpcode::kWrite:
      return ReadWriteLocked(sqid, sqe, ns, actions);
    case wire::NvmOpcode::kFlush: {
      // block::Request wants block_count >= 1; a flush covers the device.
      block::Request request;
      request.op = block::Op::kFlush;
      request.lba = 0;
      request.block_count = 1;
      std::vector<block::Request> requests;
      requests.push_back(std::move(request));
      return SubmitLocked(sqid, sqe.cid(), ns, std::move(requests), false, actions);
    }
    case wire::NvmOpcode::kWriteZeroes:
      return WriteZeroesLocked(sqid, sqe, ns, actions);
    case wire::NvmOpcode::kDatasetManagement:
      return DatasetManagementLocked(sqid, sqe, ns, actions);
    default:
      return Fail(wire::GenericStatus(wire::generic::kInvalidOpcode));
  }
}

namespace {

// NVM 1.0 "LBA Out of Range": SLBA + NLB beyond NSZE; computed without
// overflow.
bool InRange(uint64_t lba, uint64_t blocks, uint64_t capacity) {
  return base::RangeFits<uint64_t>(lba, blocks, capacity);
}

}  // namespace

std::optional<Controller::Core::Reply> Controller::Core::ReadWriteLocked(
    uint16_t sqid, const wire::SubmissionEntry& sqe, const Namespace& ns, Actions& actions) {
  const bool is_read = sqe.opcode() == static_cast<uint8_t>(wire::NvmOpcode::kRead);
  const uint64_t lba = wire::StartingLba(sqe);
  const uint32_t blocks = wire::BlockCount(sqe);
  if (!InRange(lba, blocks, ns.geometry.block_count))
    return Fail(wire::GenericStatus(wire::generic::kLbaOutOfRange));
  // NLB <= 65536 and block size <= 4096: at most 2^28 bytes.
  const uint32_t bytes = blocks << ns.lbads;
  if (bytes > max_transfer_bytes() ||
      (ns.geometry.max_transfer_blocks != 0 && blocks > ns.geometry.max_transfer_blocks))
    return Fail(wire::GenericStatus(wire::generic::kInvalidField));  // > MDTS (nvme-vfio.md §10)
  if (!is_read && ns.geometry.read_only)
    return Fail(wire::GenericStatus(wire::generic::kNamespaceWriteProtected));
  PrpResult prps = WalkPrps(dma_, sqe.prp1, sqe.prp2, bytes);
  if (!prps.ok()) return Fail(prps.status);
  block::Request request;
  request.op = is_read ? block::Op::kRead : block::Op::kWrite;
  request.lba = lba;
  request.block_count = blocks;
  // With the write cache off (Set Features VWC) every write is durable at
  // completion.
  request.force_unit_access = !is_read && (wire::ForceUnitAccess(sqe) || !write_cache_enabled_);
  request.segments = std::move(prps.segments);
  std::vector<block::Request> requests;
  requests.push_back(std::move(request));
  return SubmitLocked(sqid, sqe.cid(), ns, std::move(requests), is_read, actions);
}

// NVM 1.0 "Write Zeroes command" (ONCS bit 3 only if every namespace
// supports it).
std::optional<Controller::Core::Reply> Controller::Core::WriteZeroesLocked(
    uint16_t sqid, const wire::SubmissionEntry& sqe, const Namespace& ns, Actions& actions) {
  if (!ns.geometry.supports_write_zeroes)
    return Fail(wire::GenericStatus(wire::generic::kInvalidOpcode));
  const uint64_t lba = wire::StartingLba(sqe);
  const uint32_t blocks = wire::BlockCount(sqe);
  if (!InRange(lba, blocks, ns.geometry.block_count))
    return Fail(wire::GenericStatus(wire::generic::kLbaOutOfRange));
  if (ns.geometry.read_only) return Fail(wire::GenericStatus(wire::generic::kNamespaceWriteProtected));
  block::Request request;
  request.op = block::Op::kWriteZeroes;
  request.lba = lba;
  request.block_count = blocks;
  std::vector<block::Request> requests;
  requests.push_back(std::move(request));
  return SubmitLocked(sqid, sqe.cid(), ns, std::move(requests), false, actions);
}

// NVM 1.0 "Dataset Management command": with AD set, each range becomes a
// deallocate request; the attributes alone are hints and change nothing.
std::optional<Controller::Core::Reply> Controller::Core::DatasetManagementLocked(
    uint16_t sqid, const wire::SubmissionEntry& sqe, const Namespace& ns, Actions& actions) {
  if (!wire::DsmDeallocate(sqe.cdw11)) return Reply{};
  const uint32_t ranges = wire::DsmRangeCount(sqe.cdw10);  // 1..256
  const uint32_t bytes = ranges * static_cast<uint32_t>(sizeof(wire::DsmRange));
  const PrpResult prps = WalkPrps(dma_, sqe.prp1, sqe.prp2, bytes);
  if (!prps.ok()) return Fail(prps.status);
  // nvme-vfio.md §3: read only (NR + 1) * 16 bytes, once.
  std::array<std::byte, wire::kDsmMaxRanges * sizeof(wire::DsmRange)> buffer;
  const auto data = std::span(buffer).first(bytes);
  if (!ReadSegments(dma_, prps.segments, data))
    return Fail(wire::GenericStatus(wire::generic::kDataTransferError, false));
  if (ns.geometry.read_only) return Fail(wire::GenericStatus(wire::generic::kNamespaceWriteProtected));
  std::vector<block::Request> requests;
  for (uint32_t i = 0; i < ranges; ++i) {
    std::array<std::byte, sizeof(wire::DsmRange)> raw;
    const auto source = data.subspan(i * sizeof(wire::DsmRange), raw.size());
    std::copy(source.begin(), source.end(), raw.begin());
    const auto range = wire::FromBytes<wire::DsmRange>(raw);
    if (range.block_count == 0) continue;
    if (!InRange(range.starting_lba, range.block_count, ns.geometry.block_count))
      return Fail(wire::GenericStatus(wire::generic::kLbaOutOfRange));
    block::Request request;
    request.op = block::Op::kDeallocate;
    request.lba = range.starting_lba;
    request.block_count = range.block_count;
    requests.push_back(std::move(request));
  }
  // Deallocation is advisory: a device without it has nothing to do.
  if (requests.empty() || !ns.geometry.supports_deallocate) return Reply{};
  return SubmitLocked(sqid, sqe.cid(), ns, std::move(requests), false, actions);
}

std::optional<Controller::Core::Reply> Controller::Core::SubmitLocked(
    uint16_t sqid, uint16_t cid, const Namespace& ns, std::vector<block::Request> requests,
    bool is_read, Actions& actions) {
  const uint64_t token = next_token_++;
  InFlight command;
  command.epoch = reset_epoch_;
  command.sqid = sqid;
  command.cid = cid;
  command.parts_left = static_cast<uint32_t>(requests.size());
  command.is_read = is_read;
  in_flight_.emplace(token, command);
  ++sqs_[sqid]->in_flight;
  for (block::Request& request : requests)
    actions.submissions.push_back(Submission{ns.device, std::move(request), sqid, token});
  return std::nullopt;
}

// nvme-vfio.md §5: the status Linux maps to the right blk_status; DNR on
// the deterministic ones so Linux does not retry them five times.
wire::Status Controller::Core::MapBlockStatus(block::Status status, bool is_read) {
  switch (status) {
    case block::Status::kOk: return wire::kSuccess;
    case block::Status::kOutOfRange: return wire::GenericStatus(wire::generic::kLbaOutOfRange);
    case block::Status::kInvalid: return wire::GenericStatus(wire::generic::kInvalidField);
    case block::Status::kWriteProtected:
      return wire::GenericStatus(wire::generic::kNamespaceWriteProtected);
    case block::Status::kMediaError:
      return wire::MediaStatus(is_read ? wire::media::kUnrecoveredReadError : wire::media::kWriteFault);
    case block::Status::kDataTransfer:
      return wire::GenericStatus(wire::generic::kDataTransferError, false);
    case block::Status::kAborted: return wire::GenericStatus(wire::generic::kAbortRequested, false);
    case block::Status::kDeviceFailed: return wire::GenericStatus(wire::generic::kInternalError);
  }
  return wire::GenericStatus(wire::generic::kInternalError);
}

}  // namespace nvme
