// Test doubles shared by the scsi and storvsp tests and fuzzers: guest RAM
// in a vector (FakeGuestRam) and a block::Device that keeps its blocks in a
// sparse map (FakeBlockDevice), moving data through that RAM as a DMA back
// end would. Completions run inline, or are held until RunPending() to
// model a back end completing later (on another thread, in hcl).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "base/checked.h"
#include "block/device.h"
#include "mem/guest_memory.h"
#include "scsi/disk.h"

namespace scsi::testing {

inline mem::GuestMemory MakeGuestMemoryOrTrap(mem::Gpa base, std::span<std::byte> bytes) {
  auto memory = mem::GuestMemory::Create(base, bytes);
  if (!memory.ok()) __builtin_trap();
  return std::move(memory).value();
}

class FakeGuestRam {
 public:
  static constexpr mem::Gpa kBase{0x10'0000};

  explicit FakeGuestRam(size_t size_bytes)
      : bytes_(size_bytes), memory_(MakeGuestMemoryOrTrap(kBase, bytes_)), buffer_(memory_) {}
  FakeGuestRam(const FakeGuestRam&) = delete;
  FakeGuestRam& operator=(const FakeGuestRam&) = delete;

  mem::GuestMemory& memory() { return memory_; }
  scsi::GuestBuffer& buffer() { return buffer_; }
  // Bytes at guest address `gpa` (which must be inside the RAM).
  std::span<std::byte> At(mem::Gpa gpa, size_t length) {
    return std::span(bytes_).subspan(mem::ToU64(gpa) - mem::ToU64(kBase), length);
  }
  static mem::Gpa Address(uint64_t offset) { return mem::Gpa{mem::ToU64(kBase) + offset}; }

 private:
  std::vector<std::byte> bytes_;
  mem::GuestMemory memory_;
  scsi::GuestMemoryBuffer buffer_;
};

class FakeBlockDevice final : public block::Device {
 public:
  FakeBlockDevice(block::Geometry geometry, mem::GuestMemory& memory)
      : geometry_(std::move(geometry)), memory_(memory) {}

  const block::Geometry& geometry() const override { return geometry_; }
  block::Geometry& mutable_geometry() { return geometry_; }

  void Plug() override { ++plug_depth; }
  void Unplug() override {
    if (--plug_depth == 0) batches.push_back(requests.size());
  }

  void Submit(block::Request request, uint32_t queue_hint, block::Completion done) override {
    if (plug_depth > 0) ++submitted_plugged;
    requests.push_back(request);
    queue_hints.push_back(queue_hint);
    auto run = [this, request = std::move(request), done = std::move(done)]() {
      done(fail_with ? *fail_with : Perform(request));
    };
    if (defer_completions) {
      pending_.push_back(std::move(run));
    } else {
      run();
    }
  }

  // Completes every held request, oldest first.
  void RunPending() {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& run : pending) run();
  }
  size_t pending_count() const { return pending_.size(); }

  // One block's bytes (zeroes if never written).
  std::vector<std::byte> Block(uint64_t lba) const {
    auto it = blocks_.find(lba);
    return it != blocks_.end() ? it->second : std::vector<std::byte>(geometry_.block_size);
  }
  void SetBlock(uint64_t lba, std::vector<std::byte> bytes) { blocks_[lba] = std::move(bytes); }
  bool IsStored(uint64_t lba) const { return blocks_.count(lba) != 0; }

  std::vector<block::Request> requests;
  std::vector<uint32_t> queue_hints;
  int plug_depth = 0;             // Plug calls not matched by Unplug
  size_t submitted_plugged = 0;   // Submits made while plugged
  std::vector<size_t> batches;    // requests.size() at each last Unplug
  bool defer_completions = false;
  std::optional<block::Status> fail_with;

 private:
  block::Status Perform(const block::Request& request) {
    if (!base::RangeFits<uint64_t>(request.lba, request.block_count, geometry_.block_count))
      return block::Status::kOutOfRange;
    switch (request.op) {
      case block::Op::kRead:
      case block::Op::kWrite:
        return Transfer(request);
      case block::Op::kFlush:
        ++flushes;
        return block::Status::kOk;
      case block::Op::kDeallocate:
        for (uint64_t i = 0; i < request.block_count; ++i) blocks_.erase(request.lba + i);
        return block::Status::kOk;
      case block::Op::kWriteZeroes:
        for (uint64_t i = 0; i < request.block_count; ++i)
          blocks_[request.lba + i] = std::vector<std::byte>(geometry_.block_size);
        return block::Status::kOk;
    }
    return block::Status::kInvalid;
  }

  // Moves block_count blocks between the segments (in order) and storage.
  block::Status Transfer(const block::Request& request) {
    std::vector<std::byte> data(size_t{request.block_count} * geometry_.block_size);
    size_t total = 0;
    for (const block::Segment& segment : request.segments) total += segment.bytes;
    if (total != data.size()) return block::Status::kInvalid;
    if (request.op == block::Op::kRead) {
      for (uint32_t i = 0; i < request.block_count; ++i) {
        const auto block = Block(request.lba + i);
        std::copy(block.begin(), block.end(), data.begin() + ptrdiff_t{i} * geometry_.block_size);
      }
    }
    size_t offset = 0;
    for (const block::Segment& segment : request.segments) {
      auto piece = std::span(data).subspan(offset, segment.bytes);
      const auto result = request.op == block::Op::kRead ? memory_.Write(segment.gpa, piece)
                                                         : memory_.Read(segment.gpa, piece);
      if (!result.ok()) return block::Status::kDataTransfer;
      offset += segment.bytes;
    }
    if (request.op == block::Op::kWrite) {
      for (uint32_t i = 0; i < request.block_count; ++i) {
        auto first = data.begin() + ptrdiff_t{i} * geometry_.block_size;
        blocks_[request.lba + i] = std::vector<std::byte>(first, first + geometry_.block_size);
      }
    }
    return block::Status::kOk;
  }

 public:
  int flushes = 0;

 private:
  block::Geometry geometry_;
  mem::GuestMemory& memory_;
  std::map<uint64_t, std::vector<std::byte>> blocks_;
  std::vector<std::function<void()>> pending_;
};

}  // namespace scsi::testing
