#include "mana/device.h"

#include <cstring>

#include "base/le_bytes.h"
#include "mana/device_state.h"

namespace mana {
namespace {

// BAR0 layout: registers and the SMC in the first page, one doorbell page
// (id 0, shared by the HWC and the vport's queues) in the second.
constexpr uint64_t kSmcBase = 0x100;
constexpr uint64_t kDoorbellBase = 0x1000;
constexpr uint64_t kDoorbellPageBytes = 0x1000;
constexpr uint32_t kVersion = 0x01000000;  // major 1
constexpr uint32_t kHwcQueueDepth = 1;      // §2: one request in flight

}  // namespace

base::Result<std::unique_ptr<Device>> Device::Create(const Config& config, mem::DmaMemory& dma,
                                                     InterruptSink& interrupts,
                                                     PacketSink& packets) {
  if (config.queue_pairs < 1 || config.queue_pairs > 16)
    return base::Error::Format("mana: %u queue pairs (1..16)", config.queue_pairs);
  if (config.msix_vectors < 2) return base::Error("mana: fewer than 2 MSI-X vectors");
  if (config.mtu < 576 || config.mtu > 9000) return base::Error("mana: MTU outside 576..9000");
  return std::unique_ptr<Device>(
      new Device(std::make_unique<State>(config, dma, interrupts, packets)));
}

Device::Device(std::unique_ptr<State> state) : state_(std::move(state)) {}
Device::~Device() = default;

devices::IoResult Device::Read(uint64_t offset, std::span<std::byte> data) {
  const std::lock_guard lock(state_->mutex);
  return state_->ReadLocked(offset, data);
}

devices::IoResult Device::Write(uint64_t offset, std::span<const std::byte> data) {
  std::vector<uint16_t> signals;
  devices::IoResult result;
  {
    const std::lock_guard lock(state_->mutex);
    result = state_->WriteLocked(offset, data);
    signals = state_->TakeSignals();
  }
  state_->Raise(signals);
  return result;
}

bool Device::Receive(std::span<const std::byte> frame) {
  std::vector<uint16_t> signals;
  bool delivered;
  {
    const std::lock_guard lock(state_->mutex);
    delivered = state_->ReceiveLocked(frame);
    signals = state_->TakeSignals();
  }
  state_->Raise(signals);
  return delivered;
}

void Device::Reset() {
  const std::lock_guard lock(state_->mutex);
  state_->ResetLocked();
}

Counters Device::counters() const {
  const std::lock_guard lock(state_->mutex);
  return state_->counters;
}

void Device::State::ResetLocked() {
  smc_ = {};
  hwc_up_ = false;
  const uint32_t pairs = config_.queue_pairs;
  eqs_.assign(pairs + 1, std::nullopt);
  cqs_.assign(2 * pairs + 1, std::nullopt);
  sqs_.assign(pairs + 1, std::nullopt);
  rqs_.assign(pairs + 1, std::nullopt);
  regions_.clear();
  rx_enabled_ = false;
  rss_enabled_ = false;
  default_rq_.reset();
  rss_key_ = {};
  indirection_ = {};
  signals_.clear();
}

devices::IoResult Device::State::ReadLocked(uint64_t offset, std::span<std::byte> data) {
  if (data.size() != 4 && data.size() != 8) return devices::IoResult::kBadSize;
  if (offset % data.size() != 0 || offset + data.size() > kBar0Bytes)
    return devices::IoResult::kBadRegister;
  uint64_t value = 0;
  switch (offset) {
    case reg::kVersion: value = kVersion; break;
    case reg::kDoorbellPageOffset: value = kDoorbellBase; break;
    case reg::kDoorbellPageSize: value = kDoorbellPageBytes; break;
    case reg::kSmcOffset: value = kSmcBase; break;
    case reg::kSmcSize: value = smc::kBytes; break;
    default:
      if (offset >= kSmcBase && offset < kSmcBase + smc::kBytes) {
        const size_t index = (offset - kSmcBase) / 4;
        value = smc_[index];
        if (data.size() == 8 && index + 1 < smc_.size())
          value |= uint64_t{smc_[index + 1]} << 32;
      }
      break;  // everything else reads 0
  }
  (void)(data.size() == 8 ? base::StoreLe<uint64_t>(data, 0, value)
                          : base::StoreLe<uint32_t>(data, 0, static_cast<uint32_t>(value)));
  return devices::IoResult::kOk;
}

devices::IoResult Device::State::WriteLocked(uint64_t offset, std::span<const std::byte> data) {
  if (data.size() != 4 && data.size() != 8) return devices::IoResult::kBadSize;
  if (offset % data.size() != 0 || offset + data.size() > kBar0Bytes)
    return devices::IoResult::kBadRegister;
  uint64_t value = 0;
  if (data.size() == 8) {
    (void)base::LoadLe<uint64_t>(data, 0, value);
  } else {
    uint32_t low = 0;
    (void)base::LoadLe<uint32_t>(data, 0, low);
    value = low;
  }
  if (offset >= kDoorbellBase) {
    // §1: doorbells are 8-byte writes (writeq).
    if (data.size() != 8) return devices::IoResult::kBadSize;
    Doorbell(offset - kDoorbellBase, value);
    return devices::IoResult::kOk;
  }
  if (offset >= kSmcBase && offset < kSmcBase + smc::kBytes) {
    const size_t index = (offset - kSmcBase) / 4;
    smc_[index] = static_cast<uint32_t>(value);
    if (data.size() == 8 && index + 1 < smc_.size())
      smc_[index + 1] = static_cast<uint32_t>(value >> 32);
    // §1: the last dword (the header) triggers.
    if (index + data.size() / 4 == smc_.size()) SmcTriggered(smc_.back());
    return devices::IoResult::kOk;
  }
  return devices::IoResult::kOk;  // the registers are read-only
}

void Device::State::SmcTriggered(uint32_t header) {
  const uint32_t type = smc::TypeOf(header);
  const uint32_t version = smc::VersionOf(header);
  uint8_t status = 0;
  if (type == smc::kEstablishHwc && version == 0) {
    if (hwc_up_) {
      log_.Print("mana: ", "ESTABLISH_HWC while the channel is up: refused");
      status = 1;
    } else {
      EstablishHwc();
      status = hwc_up_ ? 0 : 1;
    }
  } else if (type == smc::kDestroyHwc && version == 0) {
    // The driver is going away: everything it set up goes too.
    ResetLocked();
  } else {
    status = 1;
  }
  smc_.back() = smc::Response(type, version, status);
}

void Device::State::EstablishHwc() {
  // §1 SMC: four 48-bit page frame numbers (EQ, CQ, RQ, SQ), their high
  // four bits packed into bytes 24-25, the HWC EQ's MSI-X index at 26.
  std::array<std::byte, smc::kBytes> bytes{};
  for (size_t i = 0; i < smc_.size(); ++i) (void)base::StoreLe<uint32_t>(bytes, i * 4, smc_[i]);
  uint16_t high = 0, msix = 0;
  (void)base::LoadLe<uint16_t>(bytes, 24, high);
  (void)base::LoadLe<uint16_t>(bytes, 26, msix);
  std::array<uint64_t, 4> address{};
  for (size_t q = 0; q < 4; ++q) {
    uint64_t pfn = 0;
    for (size_t b = 0; b < 6; ++b) pfn |= std::to_integer<uint64_t>(bytes[q * 6 + b]) << (8 * b);
    pfn |= uint64_t{(high >> (4 * q)) & 0xFu} << 48;
    address[q] = pfn * kPageBytes;
  }
  if (msix >= config_.msix_vectors) {
    log_.Print("mana: ", "HWC EQ MSI-X %u of %u", msix, config_.msix_vectors);
    return;
  }
  const auto page = [&](uint64_t gpa) { return QueueMemory::Create({gpa}, kPageBytes); };
  auto eq = page(address[0]), cq = page(address[1]), rq = page(address[2]), sq = page(address[3]);
  if (!eq || !cq || !rq || !sq) return;
  eqs_[kHwcQueueId] = Eq{CompletionRing(std::move(*eq), kEqeBytes), msix};
  cqs_[kHwcQueueId] = Cq{CompletionRing(std::move(*cq), kCqeBytes), kHwcQueueId};
  rqs_[kHwcQueueId] = Rq{WorkQueue(std::move(*rq), kMaxRqWqeBytes), kHwcQueueId, false, {}};
  sqs_[kHwcQueueId] = Sq{WorkQueue(std::move(*sq), kMaxSqWqeBytes), kHwcQueueId, false};
  hwc_up_ = true;
  // §2 "Establish": the EQ's id and doorbell page, the init data, done.
  const uint32_t doorbell_page = 0;
  PostEqe(kHwcQueueId, eqe::kHwcInitEqIdDb, std::array{kHwcQueueId | (doorbell_page << 16)});
  const auto data = [&](uint8_t type, uint32_t value) {
    PostEqe(kHwcQueueId, eqe::kHwcInitData, std::array{(value & 0xFFFFFF) | (uint32_t{type} << 24)});
  };
  data(hwc_init::kCqId, kHwcQueueId);
  data(hwc_init::kRqId, kHwcQueueId);
  data(hwc_init::kSqId, kHwcQueueId);
  data(hwc_init::kQueueDepth, kHwcQueueDepth);
  data(hwc_init::kMaxRequest, msg::kMaxBytes);
  data(hwc_init::kMaxResponse, msg::kMaxBytes);
  data(hwc_init::kMaxNumCqs, static_cast<uint32_t>(cqs_.size()));
  data(hwc_init::kPdid, 0);
  data(hwc_init::kGpaMkey, 0);
  PostEqe(kHwcQueueId, eqe::kHwcInitDone, std::array{0u});
}

void Device::State::Doorbell(uint64_t offset, uint64_t value) {
  switch (offset) {
    case doorbell::kSq: {
      const uint32_t id = static_cast<uint32_t>(value) & doorbell::kWqIdMask;
      if (id >= sqs_.size() || !sqs_[id]) break;
      if (!sqs_[id]->queue.SetTail(doorbell::WorkTail(value))) {
        log_.Print("mana: ", "SQ %u tail %#x refused", id, doorbell::WorkTail(value));
        break;
      }
      if (id == kHwcQueueId)
        ServeHwc();
      else
        ServeSq(id);
      return;
    }
    case doorbell::kRq: {
      const uint32_t id = static_cast<uint32_t>(value) & doorbell::kWqIdMask;
      if (id >= rqs_.size() || !rqs_[id]) break;
      if (!rqs_[id]->queue.SetTail(doorbell::WorkTail(value))) {
        log_.Print("mana: ", "RQ %u tail %#x refused", id, doorbell::WorkTail(value));
        break;
      }
      // A response the HWC held for want of a buffer, or frames held for
      // want of RX WQEs, can go now.
      if (id == kHwcQueueId)
        ServeHwc();
      else
        ServeRq(id);
      return;
    }
    case doorbell::kCq: {
      const uint32_t id = static_cast<uint32_t>(value) & doorbell::kWqIdMask;
      if (id >= cqs_.size() || !cqs_[id]) break;
      const bool arm = (value & doorbell::kArmBit) != 0;
      const auto verdict = cqs_[id]->ring.Doorbell(doorbell::CompletionTail(value), arm);
      if (verdict == CompletionRing::DoorbellVerdict::kFire)
        PostEqe(cqs_[id]->parent_eq, eqe::kCompletion, std::array{id});
      // Room freed on this CQ: queues that complete to it may go on.
      if (id == kHwcQueueId) {
        ServeHwc();
        return;
      }
      for (uint32_t q = 1; q < sqs_.size(); ++q)
        if (sqs_[q] && sqs_[q]->cq == id) ServeSq(q);
      for (uint32_t q = 1; q < rqs_.size(); ++q)
        if (rqs_[q] && rqs_[q]->cq == id) ServeRq(q);
      return;
    }
    case doorbell::kEq: {
      const uint32_t id = static_cast<uint32_t>(value) & doorbell::kEqIdMask;
      if (id >= eqs_.size() || !eqs_[id]) break;
      const bool arm = (value & doorbell::kArmBit) != 0;
      // §2 "EQ handler - re-fire required": an arm behind the device's
      // tail raises the vector again.
      if (eqs_[id]->ring.Doorbell(doorbell::CompletionTail(value), arm) ==
          CompletionRing::DoorbellVerdict::kFire)
        signals_.push_back(eqs_[id]->msix);
      return;
    }
    default:
      break;
  }
  // RQ client data (0x408) and unknown offsets or ids: ignored.
}

bool Device::State::CqHasRoom(uint32_t cq) const {
  return cq < cqs_.size() && cqs_[cq] && cqs_[cq]->ring.HasRoom();
}

bool Device::State::PostCqe(uint32_t cq, std::span<const std::byte, kCqeDataBytes> data,
                            uint32_t wq_num, bool is_sq) {
  if (!CqHasRoom(cq)) return false;
  Cq& target = *cqs_[cq];
  auto armed = target.ring.Post(dma_, data, (wq_num & 0xFFFFFF) | (is_sq ? 1u << 24 : 0));
  if (!armed) {
    log_.Print("mana: ", "CQ %u: %s", cq, armed.error().message().c_str());
    return false;
  }
  if (*armed) PostEqe(target.parent_eq, eqe::kCompletion, std::array{cq});
  return true;
}

void Device::State::PostEqe(uint32_t eq, uint8_t type, std::span<const uint32_t> details) {
  if (eq >= eqs_.size() || !eqs_[eq]) return;
  std::array<std::byte, kEqeBytes - 4> body{};
  for (size_t i = 0; i < details.size() && i < 3; ++i)
    (void)base::StoreLe<uint32_t>(body, i * 4, details[i]);
  auto armed = eqs_[eq]->ring.Post(dma_, body, type);
  if (!armed) {
    log_.Print("mana: ", "EQ %u: %s", eq, armed.error().message().c_str());
    return;
  }
  if (*armed) signals_.push_back(eqs_[eq]->msix);
}

}  // namespace mana
