#include "hyperv/synic.h"

#include <cstring>

namespace loader::hyperv {
namespace {

constexpr uint32_t kMsrScontrol = 0x40000080;
constexpr uint32_t kMsrSiefp = 0x40000082;
constexpr uint32_t kMsrSimp = 0x40000083;
constexpr uint32_t kMsrSint0 = 0x40000090;
constexpr uint64_t kPageEnable = 1;
constexpr uint64_t kGpnMask = ~uint64_t{0xFFF};
// SINTx: vector 0-7, masked 16, auto-EOI 17, polling 18; the rest reserved.
constexpr uint64_t kSintWritable = 0xFF | (uint64_t{1} << 16) | (uint64_t{1} << 17) |
                                   (uint64_t{1} << 18);
constexpr uint64_t kSintReset = uint64_t{1} << 16;

}  // namespace

Synic::Synic(vsm::OverlayPage& simp, vsm::OverlayPage& siefp)
    : simp_page_(simp), siefp_page_(siefp) {
  sints_.fill(kSintReset);
}

namespace {

std::optional<mem::Gpa> OverlayPlace(uint64_t value) {
  if ((value & kPageEnable) == 0) return std::nullopt;
  return mem::Gpa{value & kGpnMask};
}

}  // namespace

uint64_t Synic::ReadRegister(uint32_t msr) const {
  std::lock_guard lock(mutex_);
  switch (msr) {
    case kMsrScontrol:
      return scontrol_;
    case kMsrSiefp:
      return siefp_;
    case kMsrSimp:
      return simp_;
    default:
      if (msr >= kMsrSint0 && msr < kMsrSint0 + hv::kSintCount) return sints_[msr - kMsrSint0];
      return 0;
  }
}

base::Result<void> Synic::WriteRegister(uint32_t msr, uint64_t value) {
  std::lock_guard lock(mutex_);
  switch (msr) {
    case kMsrScontrol:
      scontrol_ = value & 1;
      return base::Ok();
    case kMsrSiefp:
      value &= kGpnMask | kPageEnable;
      TRY(siefp_page_.Place(OverlayPlace(value)));
      siefp_ = value;
      return base::Ok();
    case kMsrSimp:
      value &= kGpnMask | kPageEnable;
      TRY(simp_page_.Place(OverlayPlace(value)));
      simp_ = value;
      return base::Ok();
    default:
      if (msr >= kMsrSint0 && msr < kMsrSint0 + hv::kSintCount)
        sints_[msr - kMsrSint0] = value & kSintWritable;
      return base::Ok();
  }
}

uint64_t Synic::sint(uint32_t n) const {
  std::lock_guard lock(mutex_);
  return n < hv::kSintCount ? sints_[n] : kSintReset;
}

std::optional<uint8_t> Synic::VectorDueLocked(uint32_t sint) const {
  const uint64_t value = sints_[sint];
  if (hv::SintMasked(value) || hv::SintPolling(value)) return std::nullopt;
  return hv::SintVector(value);
}

bool Synic::DeliverQueuedLocked(uint32_t sint) {
  std::deque<Message>& queue = queues_[sint];
  if (queue.empty() || !enabled() || (simp_ & kPageEnable) == 0) return false;
  // The slot's offset in the SIMP overlay page.
  mem::GuestMemory& page = simp_page_.contents();
  const mem::Gpa slot{uint64_t{sint} * hv::kMessageBytes};
  const mem::Gpa flags_word{mem::ToU64(slot) + 4};
  const uint32_t pending = uint32_t{hv::kMessagePending} << 8;
  auto type = page.LoadAcquire32(slot);
  if (!type) return false;
  if (*type != hv::message::kNone) {
    // TLFS: mark the occupant so the guest writes EOM once it frees the
    // slot. The guest frees it without our lock (Linux: a cmpxchg of the
    // type, then a read of message_pending), possibly between our load and
    // this OR, and would then miss the flag: look at the type again after
    // setting it and deliver now if the slot has become free.
    (void)page.AtomicOr32(flags_word, pending);
    type = page.LoadAcquire32(slot);
    if (!type || *type != hv::message::kNone) return false;
  }
  Message message = queue.front();
  // TLFS "Message Buffers": message_pending tells the guest that more
  // messages wait behind this one, so it writes EOM after freeing the
  // slot; without it the rest of the queue would never move.
  if (queue.size() > 1) {
    uint32_t word = 0;
    std::memcpy(&word, message.data() + 4, sizeof word);
    word |= pending;
    std::memcpy(message.data() + 4, &word, sizeof word);
  }
  // Everything but the type, then the type with release order.
  if (!page.Write(flags_word, std::span(message).subspan(4))) return false;
  uint32_t message_type = 0;
  std::memcpy(&message_type, message.data(), sizeof message_type);
  if (!page.StoreRelease32(slot, message_type)) return false;
  queue.pop_front();
  return true;
}

Synic::Outcome Synic::Post(uint32_t sint, std::span<const std::byte, hv::kMessageBytes> message) {
  if (sint >= hv::kSintCount) return {hv::Status::kInvalidParameter, std::nullopt};
  std::lock_guard lock(mutex_);
  if (!enabled() || (simp_ & kPageEnable) == 0)
    return {hv::Status::kInvalidSynicState, std::nullopt};
  std::deque<Message>& queue = queues_[sint];
  if (queue.size() >= kQueueDepth) return {hv::Status::kInsufficientBuffers, std::nullopt};
  Message copy;
  std::memcpy(copy.data(), message.data(), copy.size());
  queue.push_back(copy);
  const bool delivered = DeliverQueuedLocked(sint);
  return {hv::Status::kSuccess, delivered ? VectorDueLocked(sint) : std::nullopt};
}

Synic::Outcome Synic::Signal(uint32_t sint, uint32_t flag) {
  constexpr uint32_t kFlagsPerSint = hv::kMessageBytes * 8;
  if (sint >= hv::kSintCount || flag >= kFlagsPerSint)
    return {hv::Status::kInvalidParameter, std::nullopt};
  std::lock_guard lock(mutex_);
  if (!enabled() || (siefp_ & kPageEnable) == 0)
    return {hv::Status::kInvalidSynicState, std::nullopt};
  // The flag's word in the SIEFP overlay page.
  const mem::Gpa word{uint64_t{sint} * hv::kMessageBytes + (flag / 32) * 4};
  auto previous = siefp_page_.contents().AtomicOr32(word, uint32_t{1} << (flag % 32));
  if (!previous) return {hv::Status::kInvalidSynicState, std::nullopt};
  const bool newly_set = (*previous & (uint32_t{1} << (flag % 32))) == 0;
  return {hv::Status::kSuccess, newly_set ? VectorDueLocked(sint) : std::nullopt};
}

std::vector<uint8_t> Synic::EndOfMessage() {
  std::lock_guard lock(mutex_);
  std::vector<uint8_t> due;
  for (uint32_t sint = 0; sint < hv::kSintCount; ++sint)
    if (DeliverQueuedLocked(sint))
      if (auto vector = VectorDueLocked(sint)) due.push_back(*vector);
  return due;
}

}  // namespace loader::hyperv
