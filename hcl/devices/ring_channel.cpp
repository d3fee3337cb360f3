#include "devices/ring_channel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace hcl {
namespace {

// Packets one wake handles before looking at the out-ring and the stop
// flag again: a guest that keeps the ring full cannot starve either.
constexpr int kPacketsPerRound = 64;

}  // namespace

base::Result<std::unique_ptr<RingChannel>> RingChannel::Open(Vtl0Memory& memory,
                                                             const vmbus::OpenRequest& request,
                                                             GuestInterrupt interrupt) {
  if (request.ring_gpadl == nullptr) return base::Error("no ring GPADL");
  const auto pfns = TRY(vmbus::WholePages(*request.ring_gpadl));
  const auto layout = TRY(vmbus::RingLayout::Create(pfns, request.downstream_ring_page_offset));
  auto access = std::make_unique<Vtl0PageAccess>(memory);
  auto in = TRY(vmbus::InRing::Create(*access, layout.in_pfns));
  auto out = TRY(vmbus::OutRing::Create(*access, layout.out_pfns));
  os::UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return base::Error::FromErrno("eventfd", errno);
  return std::unique_ptr<RingChannel>(new RingChannel(std::move(access), std::move(in),
                                                      std::move(out), request.relid,
                                                      std::move(interrupt), std::move(wake)));
}

RingChannel::~RingChannel() { Stop(); }

void RingChannel::Start(PacketHandler handler, RepliesOwed owed, std::function<void()> drained) {
  handler_ = std::move(handler);
  owed_ = std::move(owed);
  drained_ = std::move(drained);
  thread_ = std::thread([this] { Run(); });
  Notify();  // packets the guest wrote before the open completed
}

void RingChannel::Notify() {
  const uint64_t one = 1;
  // Only fails when the counter is about to overflow: already signalled.
  (void)!::write(wake_.get(), &one, sizeof one);
}

bool RingChannel::Wait(int timeout_ms) {
  for (;;) {
    uint64_t count = 0;
    if (::read(wake_.get(), &count, sizeof count) == sizeof count) return true;
    if (errno != EAGAIN && errno != EINTR) return true;
    pollfd readable{wake_.get(), POLLIN, 0};
    if (::poll(&readable, 1, timeout_ms) == 0) return false;
  }
}

void RingChannel::Stop() {
  stop_.store(true, std::memory_order_release);
  Notify();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  const std::lock_guard lock(out_mutex_);
  pending_.clear();
  out_broken_ = true;
}

void RingChannel::Send(vmbus::PacketType type, uint64_t transaction_id,
                       std::span<const std::byte> payload) {
  Send(type, 0, transaction_id, {}, payload);
}

void RingChannel::Send(vmbus::PacketType type, uint16_t flags, uint64_t transaction_id,
                       std::span<const std::byte> header_extension,
                       std::span<const std::byte> payload) {
  {
    const std::lock_guard lock(out_mutex_);
    if (out_broken_) return;
    pending_.push_back({type, transaction_id, {payload.begin(), payload.end()}, flags,
                        {header_extension.begin(), header_extension.end()}});
    FlushLocked();
  }
  // A reply is what a polling reader waits for: requests the guest wrote
  // meanwhile came without a signal.
  if (polling_.load(std::memory_order_seq_cst)) Notify();
}

void RingChannel::FlushLocked() {
  bool signal = false;
  while (!pending_.empty() && !out_broken_) {
    const Pending& next = pending_.front();
    const std::span<const std::byte> parts[] = {next.payload};
    vmbus::OutgoingPacket packet;
    packet.type = next.type;
    packet.flags = next.flags;
    packet.transaction_id = next.transaction_id;
    packet.header_extension = next.header_extension;
    packet.payload = parts;
    auto written = out_.Write(packet);
    if (!written) {
      std::fprintf(stderr, "hcl: vmbus: channel %u: host->guest ring: %s (channel stopped)\n",
                   relid_, written.error().message().c_str());
      out_broken_ = true;
      pending_.clear();
      break;
    }
    if (written->status == vmbus::WriteStatus::kFull) {
      // hyperv-vmbus.md §5.3: ask to be signalled when this packet fits,
      // then look again: the guest may have read everything meanwhile.
      const auto bytes =
          vmbus::OutRing::PacketRingBytes(next.header_extension.size(), next.payload.size());
      if (bytes && out_.SetPendingSendSize(*bytes)) {
        auto room = out_.HasRoomFor(*bytes);
        if (room && *room) continue;
      }
      break;
    }
    if (written->signal == vmbus::GuestSignal::kNeeded) signal = true;
    pending_.pop_front();
  }
  if (pending_.empty() && !out_broken_) (void)out_.SetPendingSendSize(0);
  if (signal) interrupt_();
}

bool RingChannel::DrainLocked(bool stop_polling) {
  if (!masked_) {
    // No signals for packets written while we read (hyperv-vmbus.md §5.3).
    if (!in_.Mask()) return false;
    masked_ = true;
  }
  for (int handled = 0; handled < kPacketsPerRound; ++handled) {
    if (stop_.load(std::memory_order_acquire)) return true;
    {
      // Back-pressure: while replies wait for room in the guest's ring,
      // take no new requests (each may add a reply), so a guest that never
      // reads its completions cannot make hcl queue without bound. The
      // guest's signal when it frees room (pending_send_sz) resumes us.
      const std::lock_guard lock(out_mutex_);
      if (!pending_.empty()) return true;
    }
    auto packet = in_.Read();
    if (!packet) {
      std::fprintf(stderr, "hcl: vmbus: channel %u: guest->host ring: %s (channel stopped)\n",
                   relid_, packet.error().message().c_str());
      return false;
    }
    if (!packet->has_value()) {
      if (owed_ && !stop_polling) {
        // Published before owed_ is read; Send reads it after the device
        // counts the reply as given (RepliesOwed): if owed_ misses the
        // last reply, that reply's Send sees polling_ and wakes us.
        polling_.store(true, std::memory_order_seq_cst);
        if (owed_()) return true;  // stay masked; the next reply wakes us
      }
      polling_.store(false, std::memory_order_seq_cst);
      // Empty and nothing owed: re-open interrupts, then look once more (a
      // packet written before the guest saw the unmask would otherwise
      // wait forever).
      auto more = in_.Unmask();
      if (!more) return false;
      masked_ = false;
      if (!*more) return true;
      if (!in_.Mask()) return false;
      masked_ = true;
      continue;
    }
    handler_(**packet);
    auto consumed = in_.Consume();
    if (!consumed) return false;
    if (*consumed == vmbus::GuestSignal::kNeeded) interrupt_();
  }
  // Budget used up: come back at once.
  Notify();
  return true;
}

void RingChannel::Run() {
  bool broken = false;
  for (;;) {
    if (stop_.load(std::memory_order_acquire)) return;
    const bool polling = polling_.load(std::memory_order_seq_cst);
    const bool woken = Wait(polling ? static_cast<int>(poll_limit_.count()) : -1);
    if (stop_.load(std::memory_order_acquire)) return;
    {
      // The guest may have freed room in the host->guest ring.
      const std::lock_guard lock(out_mutex_);
      FlushLocked();
    }
    // No reply within the limit: unmask and look again, owed or not.
    if (!broken && !DrainLocked(/*stop_polling=*/!woken)) broken = true;
    if (drained_) drained_();
  }
}

}  // namespace hcl
