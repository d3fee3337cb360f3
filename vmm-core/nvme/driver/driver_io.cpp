// Block requests to NVM commands (NVM 1.0 Read, Write, Flush, Write
// Zeroes, Dataset Management; nvme-vfio.md §5), their submission to the
// I/O queue pairs and their completions.
#include <algorithm>
#include <iterator>

#include "base/checked.h"
#include "nvme/driver/driver_internal.h"

namespace nvme::driver {

using namespace internal;

void Driver::SubmitIo(uint32_t ns_index, block::Request request, uint32_t queue_hint, block::Completion done) {
  Finished finished;
  {
    std::lock_guard lock(mutex_);
    const Namespace& ns = *namespaces_[ns_index];
    const block::Geometry& geometry = ns.geometry;
    const auto refuse = [&](block::Status status) { finished.emplace_back(std::move(done), status); };
    const bool writes = request.op != block::Op::kRead && request.op != block::Op::kFlush;
    const bool has_data = request.op == block::Op::kRead || request.op == block::Op::kWrite;
    if (phase_ == Phase::kFailed || io_queues_.empty()) {
      refuse(block::Status::kDeviceFailed);
    } else if (request.block_count == 0 || (has_data == request.segments.empty())) {
      refuse(block::Status::kInvalid);
    } else if (!base::RangeFits<uint64_t>(request.lba, request.block_count, geometry.block_count)) {
      refuse(block::Status::kOutOfRange);
    } else if (writes && geometry.read_only) {
      refuse(block::Status::kWriteProtected);
    } else if ((request.op == block::Op::kDeallocate && !geometry.supports_deallocate) ||
               (request.op == block::Op::kWriteZeroes && !geometry.supports_write_zeroes)) {
      refuse(block::Status::kInvalid);
    } else if (request.op == block::Op::kFlush && !info_.volatile_write_cache) {
      refuse(block::Status::kOk);  // no volatile cache: nothing to flush
    } else {
      auto owner = std::make_shared<Request>();
      auto commands = BuildCommandsLocked(ns, request, owner);
      if (!commands) {
        refuse(block::Status::kInvalid);
      } else {
        owner->done = std::move(done);
        owner->parts_left = commands->size();
        // queue_hint picks the queue; while ready, a queue the last reset
        // could not recreate is replaced by the first one (FinishInitLocked
        // moved its waiters there too).
        size_t index = queue_hint % io_queues_.size();
        if (phase_ == Phase::kReady && index >= live_io_queues_) index = 0;
        IoQueue& queue = *io_queues_[index];
        for (IoCommand& command : *commands) queue.waiting.push_back(std::move(command));
        if (phase_ == Phase::kReady) SubmitWaitingLocked(queue);
      }
    }
    finished.insert(finished.end(), std::make_move_iterator(finished_.begin()),
                    std::make_move_iterator(finished_.end()));
    finished_.clear();
  }
  RunFinished(finished);
}

base::Result<std::vector<Driver::IoCommand>> Driver::BuildCommandsLocked(
    const Namespace& ns, const block::Request& request, const std::shared_ptr<Request>& owner) const {
  std::vector<IoCommand> commands;
  const auto rw_command = [&](uint8_t opcode, uint64_t lba, uint32_t blocks) {
    // NVM 1.0 "Read command"/"Write command": SLBA CDW11:CDW10, NLB
    // CDW12 15:0 (0's based), FUA CDW12 bit 30.
    IoCommand command;
    command.request = owner;
    command.sqe = Command(opcode, ns.nsid);
    command.sqe.cdw10 = static_cast<uint32_t>(lba);
    command.sqe.cdw11 = static_cast<uint32_t>(lba >> 32);
    command.sqe.cdw12 = blocks - 1;
    return command;
  };
  switch (request.op) {
    case block::Op::kRead:
    case block::Op::kWrite: {
      const bool is_read = request.op == block::Op::kRead;
      // info_.max_transfer_bytes: a multiple of 4096 in 4096..kMaxCommandBytes.
      auto pieces = TRY(BuildDataCommands(request.segments, request.block_count, ns.geometry.block_size,
                                          std::max(info_.max_transfer_bytes, ns.geometry.block_size)));
      for (DataCommand& piece : pieces) {
        IoCommand command = rw_command(Op(is_read ? wire::NvmOpcode::kRead : wire::NvmOpcode::kWrite),
                                       request.lba + piece.block_offset, piece.block_count);
        if (!is_read && request.force_unit_access) command.sqe.cdw12 |= 1u << 30;
        command.prps = std::move(piece.prps);
        commands.push_back(std::move(command));
      }
      break;
    }
    case block::Op::kFlush: {
      // NVM 1.0 "Flush command": the namespace's volatile cache.
      IoCommand command;
      command.request = owner;
      command.sqe = Command(Op(wire::NvmOpcode::kFlush), ns.nsid);
      commands.push_back(std::move(command));
      break;
    }
    case block::Op::kWriteZeroes:
      for (uint64_t done = 0; done < request.block_count; done += kMaxWriteZeroesBlocks) {
        const uint32_t blocks = static_cast<uint32_t>(std::min<uint64_t>(kMaxWriteZeroesBlocks, request.block_count - done));
        commands.push_back(rw_command(Op(wire::NvmOpcode::kWriteZeroes), request.lba + done, blocks));
      }
      break;
    case block::Op::kDeallocate: {
      // NVM 1.0 "Dataset Management command": one range (NR = 0), AD set;
      // the range's NLB is a 32-bit count, so one range holds any request.
      IoCommand command;
      command.request = owner;
      command.sqe = Command(Op(wire::NvmOpcode::kDatasetManagement), ns.nsid);
      command.sqe.cdw10 = 0;
      command.sqe.cdw11 = 1u << 2;
      command.dsm = wire::DsmRange{0, request.block_count, request.lba};
      commands.push_back(std::move(command));
      break;
    }
  }
  return commands;
}

void Driver::SubmitWaitingLocked(IoQueue& queue) {
  while (!queue.waiting.empty() && queue.pair->HasFreeSlot()) {
    IoCommand command = std::move(queue.waiting.front());
    queue.waiting.pop_front();
    if (command.request->finished) continue;
    const Time deadline = now_ + options_.io_timeout;
    base::Result<uint16_t> slot = command.dsm
        ? queue.pair->SubmitWithPayload(command.sqe, wire::ToBytes(*command.dsm), deadline)
        : queue.pair->Submit(command.sqe, command.prps ? &*command.prps : nullptr, deadline);
    if (!slot) {
      // Only a DMA pool out of pages gets here.
      FinishPartLocked(command.request, block::Status::kMediaError);
      continue;
    }
    queue.in_flight[*slot] = std::move(command);
  }
  if (plugs_ == 0) queue.pair->RingDoorbell();
}

void Driver::Plug() {
  std::lock_guard lock(mutex_);
  ++plugs_;
}

void Driver::Unplug() {
  {
    std::lock_guard lock(mutex_);
    if (plugs_ == 0 || --plugs_ != 0) return;
    // Entries placed while plugged; RingDoorbell skips a queue with none.
    if (phase_ != Phase::kReady) return;
    for (uint16_t i = 0; i < live_io_queues_; ++i) io_queues_[i]->pair->RingDoorbell();
  }
  // A device may have completed the batch by the time its doorbell write
  // returns (hcl-loader's controller does cached reads within that write's
  // exit): reaping here, on the submitter's thread, answers the guest
  // without waiting for the interrupt thread to be woken. The interrupt
  // then finds nothing new; phase tags keep a completion from being taken
  // twice.
  Poll();
}

void Driver::ProcessLocked(std::optional<uint16_t> vector) {
  if (phase_ != Phase::kAdmin && phase_ != Phase::kReady) return;
  std::vector<QueuePair::Completed> done;
  if (!vector || *vector == 0) {
    admin_->ProcessCompletions(done);
    for (const auto& completion : done) {
      // Only one admin command is ever outstanding.
      if (admin_step_ && completion.slot == admin_slot_) OnAdminDoneLocked(completion.status, completion.dw0);
      if (phase_ != Phase::kAdmin && phase_ != Phase::kReady) return;
    }
  }
  for (uint16_t i = 0; i < live_io_queues_; ++i) {
    IoQueue& queue = *io_queues_[i];
    if (!vector || queue.vector == *vector) ProcessIoQueueLocked(queue);
  }
}

void Driver::ProcessIoQueueLocked(IoQueue& queue) {
  std::vector<QueuePair::Completed> done;
  queue.pair->ProcessCompletions(done);
  for (const auto& completion : done) {
    std::optional<IoCommand> command = std::move(queue.in_flight[completion.slot]);
    queue.in_flight[completion.slot].reset();
    if (command) FinishPartLocked(command->request, MapStatus(completion.status));
  }
  SubmitWaitingLocked(queue);
}

void Driver::FinishPartLocked(const std::shared_ptr<Request>& request, block::Status status) {
  if (request->finished) return;
  if (status != block::Status::kOk && request->status == block::Status::kOk) request->status = status;
  if (--request->parts_left == 0) FinishRequestLocked(request, request->status);
}

void Driver::FinishRequestLocked(const std::shared_ptr<Request>& request, block::Status status) {
  if (request->finished) return;
  request->finished = true;
  finished_.emplace_back(std::move(request->done), status);
}

// NVMe 2.0 "Status Field Definition" -> what the front end must tell the
// guest (nvme-vfio.md §5, after Linux's nvme_error_status).
block::Status Driver::MapStatus(wire::Status status) {
  if (status.ok()) return block::Status::kOk;
  switch (status.sct) {
    case wire::StatusCodeType::kGeneric:
      switch (status.sc) {
        case wire::generic::kLbaOutOfRange:
        case wire::generic::kCapacityExceeded:
          return block::Status::kOutOfRange;
        case wire::generic::kNamespaceWriteProtected: return block::Status::kWriteProtected;
        case wire::generic::kDataTransferError: return block::Status::kDataTransfer;
        case wire::generic::kAbortRequested:
        case wire::generic::kAbortedSqDeletion:
        case wire::generic::kCommandInterrupted:
          return block::Status::kAborted;
        case wire::generic::kInvalidOpcode:
        case wire::generic::kInvalidField:
        case wire::generic::kInvalidNamespaceOrFormat:
        case wire::generic::kPrpOffsetInvalid:
          return block::Status::kInvalid;
        default: return block::Status::kMediaError;
      }
    case wire::StatusCodeType::kCommandSpecific:
      // NVM 1.0 "Command Specific Status Values": 82h Attempted Write to
      // Read Only Range.
      if (status.sc == 0x82) return block::Status::kWriteProtected;
      return block::Status::kMediaError;
    case wire::StatusCodeType::kMediaAndDataIntegrity:
      return block::Status::kMediaError;
    default:
      return block::Status::kMediaError;
  }
}

}  // namespace nvme::driver
