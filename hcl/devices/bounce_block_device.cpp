#include "devices/bounce_block_device.h"

#include <algorithm>

#include "base/checked.h"
#include "base/page.h"

namespace hcl {
namespace {

// `bytes` is at most max_request_bytes_ here, so the rounding cannot overflow.
uint64_t RoundUpToPage(uint64_t bytes) { return *base::AlignUp(bytes, base::kPageSize); }

}  // namespace

BounceBlockDevice::BounceBlockDevice(block::Device& inner, nvme::driver::DmaPool& pool,
                                     scsi::GuestBuffer& guest, uint32_t max_request_bytes,
                                     uint64_t budget_bytes)
    : inner_(inner), pool_(pool), guest_(guest), geometry_(inner.geometry()),
      max_request_bytes_(static_cast<uint32_t>(std::min<uint64_t>(
          max_request_bytes, budget_bytes & ~(base::kPageSize - 1)))),
      budget_bytes_(budget_bytes) {
  const uint32_t cap = std::max<uint32_t>(1, max_request_bytes_ / geometry_.block_size);
  if (geometry_.max_transfer_blocks == 0 || geometry_.max_transfer_blocks > cap)
    geometry_.max_transfer_blocks = cap;
}

size_t BounceBlockDevice::waiting() const {
  const std::lock_guard lock(mutex_);
  return waiting_.size();
}

void BounceBlockDevice::Submit(block::Request request, uint32_t queue_hint,
                               block::Completion done) {
  if (request.op != block::Op::kRead && request.op != block::Op::kWrite) {
    inner_.Submit(std::move(request), queue_hint, std::move(done));  // no data to move
    return;
  }
  const uint64_t bytes = uint64_t{request.block_count} * geometry_.block_size;
  if (request.block_count == 0 || bytes > max_request_bytes_) {
    done(block::Status::kInvalid);
    return;
  }
  Work work{std::move(request), queue_hint, std::move(done)};
  std::optional<Buffers> buffers;
  {
    std::unique_lock lock(mutex_);
    // Behind others already waiting: arrival order.
    if (waiting_.empty()) buffers = ReserveLocked(bytes);
    if (!buffers) {
      if (in_flight_ == 0 && waiting_.empty()) {
        lock.unlock();
        work.done(block::Status::kAborted);  // nothing in flight will free space
        return;
      }
      waiting_.push_back(std::move(work));
      return;
    }
    ++in_flight_;
  }
  Start(std::move(work), std::move(*buffers));
}

std::optional<BounceBlockDevice::Buffers> BounceBlockDevice::ReserveLocked(uint64_t bytes) {
  const uint64_t rounded = RoundUpToPage(bytes);
  if (held_bytes_ + rounded > budget_bytes_) return std::nullopt;
  held_bytes_ += rounded;
  if (auto whole = pool_.Allocate(rounded); whole.ok()) return Buffers{*whole};
  Buffers pages;
  for (uint64_t taken = 0; taken < rounded; taken += base::kPageSize) {
    auto page = pool_.Allocate(base::kPageSize);
    if (!page.ok()) {
      Release(pages);
      held_bytes_ -= rounded;
      return std::nullopt;
    }
    pages.push_back(*page);
  }
  return pages;
}

void BounceBlockDevice::Release(const Buffers& buffers) {
  for (const nvme::driver::DmaBuffer& buffer : buffers) pool_.Free(buffer);
}

void BounceBlockDevice::Finish(const Buffers& buffers, uint64_t bytes) {
  Release(buffers);
  const std::lock_guard lock(mutex_);
  --in_flight_;
  held_bytes_ -= RoundUpToPage(bytes);  // what ReserveLocked took
}

base::Result<void> BounceBlockDevice::Copy(const std::vector<block::Segment>& guest,
                                           const Buffers& buffers, uint64_t bytes,
                                           bool to_buffers) {
  size_t segment = 0, buffer = 0;
  uint64_t in_segment = 0, in_buffer = 0;
  while (bytes > 0) {
    if (segment == guest.size() || buffer == buffers.size())
      return base::Error("bounce: the request's segments are shorter than its blocks");
    const block::Segment& from = guest[segment];
    const std::span<std::byte> host = buffers[buffer].host;
    const uint64_t chunk = std::min({bytes, uint64_t{from.bytes} - in_segment,
                                     uint64_t{host.size()} - in_buffer});
    const mem::Gpa gpa{mem::ToU64(from.gpa) + in_segment};
    const std::span<std::byte> bounce = host.subspan(in_buffer, chunk);
    TRY(to_buffers ? guest_.Read(gpa, bounce) : guest_.Write(gpa, bounce));
    bytes -= chunk;
    in_segment += chunk;
    in_buffer += chunk;
    if (in_segment == from.bytes) {
      ++segment;
      in_segment = 0;
    }
    if (in_buffer == host.size()) {
      ++buffer;
      in_buffer = 0;
    }
  }
  return base::Ok();
}

void BounceBlockDevice::Start(Work work, Buffers buffers) {
  const uint64_t bytes = uint64_t{work.request.block_count} * geometry_.block_size;
  const bool read = work.request.op == block::Op::kRead;
  if (!read && !Copy(work.request.segments, buffers, bytes, true).ok()) {
    Finish(buffers, bytes);
    work.done(block::Status::kDataTransfer);
    Drain();
    return;
  }
  block::Request bounced = work.request;
  bounced.segments.clear();
  uint64_t left = bytes;
  for (const nvme::driver::DmaBuffer& buffer : buffers) {
    const auto piece = static_cast<uint32_t>(std::min<uint64_t>(left, buffer.host.size()));
    bounced.segments.push_back({mem::Gpa{buffer.device_address}, piece});
    left -= piece;
  }
  inner_.Submit(std::move(bounced), work.queue_hint,
                [this, read, bytes, segments = std::move(work.request.segments),
                 buffers = std::move(buffers), done = std::move(work.done)](block::Status status) {
                  if (status == block::Status::kOk && read &&
                      !Copy(segments, buffers, bytes, false).ok())
                    status = block::Status::kDataTransfer;
                  Finish(buffers, bytes);
                  done(status);
                  Drain();
                });
}

void BounceBlockDevice::Drain() {
  for (;;) {
    Work work;
    std::optional<Buffers> buffers;
    {
      const std::lock_guard lock(mutex_);
      if (waiting_.empty()) return;
      const Work& head = waiting_.front();
      buffers = ReserveLocked(uint64_t{head.request.block_count} * geometry_.block_size);
      // No space yet: wait for the requests in flight, unless there are none.
      if (!buffers && in_flight_ != 0) return;
      work = std::move(waiting_.front());
      waiting_.pop_front();
      if (buffers) ++in_flight_;
    }
    if (!buffers) {
      work.done(block::Status::kAborted);
      continue;
    }
    Start(std::move(work), std::move(*buffers));
  }
}

}  // namespace hcl
