// FakeBlockDevice: an in-memory block::Device for NVMe tests and fuzzers.
// Requests complete inline (within Submit) or are held until the test
// calls CompleteNext; data moves through a DmaMemory as a real back end's
// would. It also checks what the controller promised to check before
// submitting (range, sizes), recording a violation instead of trusting it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "base/checked.h"
#include "block/device.h"
#include "nvme/dma.h"

namespace nvme::testing {

class FakeBlockDevice final : public block::Device {
 public:
  enum class Mode { kInline, kDeferred };

  FakeBlockDevice(DmaMemory& dma, block::Geometry geometry, Mode mode)
      : dma_(dma), geometry_(std::move(geometry)), mode_(mode),
        storage_(static_cast<size_t>(geometry_.block_count * geometry_.block_size)) {}

  const block::Geometry& geometry() const override { return geometry_; }

  void Submit(block::Request request, uint32_t queue_hint, block::Completion done) override {
    CheckContract(request);
    submitted.push_back(request);
    hints.push_back(queue_hint);
    if (mode_ == Mode::kInline) {
      const block::Status status = forced_status ? *forced_status : Execute(request);
      done(status);
      return;
    }
    pending_.emplace_back(std::move(request), std::move(done));
  }

  size_t pending() const { return pending_.size(); }
  // Completes the oldest held request, with `status` if given (no data is
  // moved then), else with the outcome of doing it. False if none is held.
  bool CompleteNext(std::optional<block::Status> status = std::nullopt) {
    if (pending_.empty()) return false;
    auto [request, done] = std::move(pending_.front());
    pending_.pop_front();
    done(status ? *status : Execute(request));
    return true;
  }

  std::vector<std::byte>& storage() { return storage_; }
  std::vector<block::Request> submitted;
  std::vector<uint32_t> hints;
  std::optional<block::Status> forced_status;  // inline mode: complete with this
  bool contract_violated = false;

 private:
  void CheckContract(const block::Request& request) {
    const bool in_range = request.block_count >= 1 &&
                          base::RangeFits<uint64_t>(request.lba, request.block_count, geometry_.block_count);
    uint64_t segment_bytes = 0;
    for (const block::Segment& segment : request.segments) segment_bytes += segment.bytes;
    const bool has_data = request.op == block::Op::kRead || request.op == block::Op::kWrite;
    const bool sizes_ok = has_data ? segment_bytes == uint64_t{request.block_count} * geometry_.block_size
                                   : request.segments.empty();
    const bool writable = !geometry_.read_only || request.op == block::Op::kRead ||
                          request.op == block::Op::kFlush;
    if (!in_range || !sizes_ok || !writable) contract_violated = true;
  }

  block::Status Execute(const block::Request& request) {
    if (!base::RangeFits<uint64_t>(request.lba, request.block_count, geometry_.block_count))
      return block::Status::kOutOfRange;
    const size_t start = static_cast<size_t>(request.lba * geometry_.block_size);
    const size_t length = size_t{request.block_count} * geometry_.block_size;
    switch (request.op) {
      case block::Op::kRead:
      case block::Op::kWrite: {
        size_t at = start;
        for (const block::Segment& segment : request.segments) {
          if (segment.bytes > start + length - at) return block::Status::kInvalid;
          auto window = std::span(storage_).subspan(at, segment.bytes);
          const bool ok = request.op == block::Op::kRead ? dma_.Write(segment.gpa, window).ok()
                                                         : dma_.Read(segment.gpa, window).ok();
          if (!ok) return block::Status::kDataTransfer;
          at += segment.bytes;
        }
        return block::Status::kOk;
      }
      case block::Op::kDeallocate:
      case block::Op::kWriteZeroes:
        std::fill_n(storage_.begin() + static_cast<std::ptrdiff_t>(start), length, std::byte{0});
        return block::Status::kOk;
      case block::Op::kFlush:
        return block::Status::kOk;
    }
    return block::Status::kInvalid;
  }

  DmaMemory& dma_;
  block::Geometry geometry_;
  Mode mode_;
  std::vector<std::byte> storage_;
  std::deque<std::pair<block::Request, block::Completion>> pending_;
};

}  // namespace nvme::testing
