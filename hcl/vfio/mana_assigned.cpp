#include "vfio/mana_assigned.h"

#include <linux/vfio.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>

namespace hcl::vfio {

bool IsManaVf(const PciFunction& function) {
  return function.vendor == kManaVendorId && function.device == kManaVfDeviceId;
}

AssignedMana::AssignedMana(MappedFunction function, SharedDma dma, bool guest_pages_device_visible)
    : function_(std::move(function)),
      dma_(std::move(dma)),
      bar_(function_.bar0.bytes()),
      guest_pages_device_visible_(guest_pages_device_visible) {}

// The thread stops (DeviceThread's destructor, first of the members to go)
// before the driver and the vectors it watches.
AssignedMana::~AssignedMana() = default;

base::Result<std::unique_ptr<AssignedMana>> AssignedMana::Open(const PciFunction& function,
                                                               const SharedDma& vtl2_dma,
                                                               uint32_t queue_pairs,
                                                               bool guest_pages_device_visible) {
  if (!vtl2_dma.pool) return base::Error("no DMA pool for the NIC");
  MappedFunction mapped = TRY(MappedFunction::Open(function.address, IommuMode::kNoIommu));
  VfioDevice& device = mapped.device;
  // Vector 0 for the HWC's EQ (requests poll; it is never armed again),
  // vector i + 1 for pair i's EQ (mana-netvsc.md §1 MSI-X). Linux 6.1
  // cannot add vectors later: all of them now.
  const uint32_t available = TRY(device.MsixVectorCount());
  if (available < 2) return base::Error(function.address + " has fewer than 2 MSI-X vectors");
  const uint32_t pairs = std::clamp<uint32_t>(queue_pairs, 1, std::min(available - 1, kManaMaxQueuePairs));
  std::vector<os::UniqueFd> vectors = TRY(device.EnableMsix(pairs + 1));
  std::unique_ptr<AssignedMana> nic(
      new AssignedMana(std::move(mapped), vtl2_dma, guest_pages_device_visible));
  nic->driver_ = TRY(mana::driver::Driver::Create(
      nic->bar_, *nic->dma_.pool,
      [] { return std::chrono::steady_clock::now().time_since_epoch(); },
      ManaDriverOptions(pairs)));
  nic->vectors_ = std::move(vectors);
  TRY(nic->StartThread());
  return nic;
}

namespace {

mana::driver::TxRequest ToRequest(const TxOffload& offload) {
  return {.l4_offset = offload.l4_offset,
          .ipv4 = offload.ipv4,
          .ipv6 = offload.ipv6,
          .tcp_checksum = offload.tcp_checksum,
          .udp_checksum = offload.udp_checksum,
          .mss = offload.lso_mss,
          .insert_vlan = offload.insert_vlan,
          .vlan_tci = offload.vlan_tci};
}

// The sending CPU's pair (the driver takes it modulo the pairs).
uint32_t SendingQueue() {
  const int cpu = ::sched_getcpu();
  return cpu < 0 ? 0u : static_cast<uint32_t>(cpu);
}

}  // namespace

bool AssignedMana::Transmit(std::span<const std::byte> frame, const TxOffload& offload) {
  return driver_->Transmit(frame, ToRequest(offload), SendingQueue());
}

bool AssignedMana::TransmitFrom(size_t bytes, const FrameReader& read, const TxOffload& offload) {
  return driver_->TransmitFrom(bytes, read, ToRequest(offload), SendingQueue());
}

bool AssignedMana::TransmitInPlace(size_t bytes, const FrameReader& read,
                                   std::span<const block::Segment> rest, const TxOffload& offload,
                                   SendDone done) {
  static_assert(kInPlaceHeadBytes == mana::driver::Driver::kInPlaceHeadBytes &&
                kMaxInPlacePieces == mana::driver::Driver::kMaxInPlaceSegments);
  if (!guest_pages_device_visible_) return false;
  return driver_->TransmitInPlace(bytes, read, rest, std::move(done), ToRequest(offload),
                                  SendingQueue());
}

void AssignedMana::SetReceiver(Receiver receiver) {
  const std::lock_guard lock(receiver_mutex_);
  receiver_ = std::move(receiver);
}

void AssignedMana::SetLinkListener(LinkListener listener) {
  const std::lock_guard lock(receiver_mutex_);
  link_listener_ = std::move(listener);
}

base::Result<void> AssignedMana::StartThread() {
  // A 100 ms poll of every pair: a lost interrupt costs at most that.
  thread_ = TRY(DeviceThread::Create(std::chrono::milliseconds(100)));
  // Keys: pair i's vector (i + 1) is i.
  const uint32_t pairs = driver_->queue_pairs();
  for (uint32_t pair = 0; pair < pairs; ++pair) TRY(thread_->Watch(vectors_[pair + 1].get(), pair));
  const auto receive = [this](std::span<const std::byte> frame, const mana::driver::RxInfo& info) {
    const std::lock_guard lock(receiver_mutex_);
    if (!receiver_) return;
    receiver_(frame, ReceivedFrameInfo{.ip_checksum_ok = info.ip_checksum_ok,
                                       .tcp_checksum_ok = info.tcp_checksum_ok,
                                       .udp_checksum_ok = info.udp_checksum_ok,
                                       .rss_hash = info.hash});
  };
  thread_->Start([this, receive, reported = false](uint64_t key) mutable {
    if (key == DeviceThread::kTimerKey)
      driver_->Poll(receive);
    else
      driver_->Poll(static_cast<uint32_t>(key), receive);
    if (driver_->failed() && !reported) {
      reported = true;
      std::printf("hcl: mana %s: failed: %s (frames are dropped from now on; link down)\n",
                  address().c_str(), driver_->failure().c_str());
      std::fflush(stdout);
      const std::lock_guard lock(receiver_mutex_);
      if (link_listener_) link_listener_(false);
    }
  });
  return base::Ok();
}

}  // namespace hcl::vfio
