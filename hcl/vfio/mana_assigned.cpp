#include "vfio/mana_assigned.h"

#include <linux/vfio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace hcl::vfio {
namespace {

template <typename T>
std::atomic_ref<T> Register(std::span<std::byte> bar, uint64_t offset) {
  // Offsets come from the driver, which checks them against bar_bytes();
  // a misaligned or out-of-range one is its bug: stop here, not in the
  // device's memory.
  if (offset % sizeof(T) != 0 || offset + sizeof(T) > bar.size()) std::abort();
  return std::atomic_ref<T>(*reinterpret_cast<T*>(bar.data() + offset));
}

void Drain(const os::UniqueFd& fd) {
  uint64_t count = 0;
  while (::read(fd.get(), &count, sizeof count) == static_cast<ssize_t>(sizeof count)) {
  }
}

}  // namespace

bool IsManaVf(const PciFunction& function) {
  return function.vendor == kManaVendorId && function.device == kManaVfDeviceId;
}

uint32_t ManaBar::Read32(uint64_t offset) {
  return Register<uint32_t>(bar_, offset).load(std::memory_order_acquire);
}
uint64_t ManaBar::Read64(uint64_t offset) {
  return Register<uint64_t>(bar_, offset).load(std::memory_order_acquire);
}
void ManaBar::Write32(uint64_t offset, uint32_t value) {
  Register<uint32_t>(bar_, offset).store(value, std::memory_order_release);
}
void ManaBar::Write64(uint64_t offset, uint64_t value) {
  Register<uint64_t>(bar_, offset).store(value, std::memory_order_release);
}

AssignedMana::AssignedMana(std::string address, VfioDevice device, os::Mapping bar0,
                           SharedDma dma)
    : address_(std::move(address)),
      device_(std::move(device)),
      bar0_(std::move(bar0)),
      dma_(std::move(dma.backing)),
      pool_(std::move(dma.pool)),
      bar_(bar0_.bytes()) {}

AssignedMana::~AssignedMana() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) == static_cast<ssize_t>(sizeof one))
      thread_.join();
    else
      thread_.detach();
  }
}

base::Result<std::unique_ptr<AssignedMana>> AssignedMana::Open(const PciFunction& function,
                                                               const SharedDma& vtl2_dma) {
  if (!vtl2_dma.pool) return base::Error("no DMA pool for the NIC");
  VfioDevice device = TRY(VfioDevice::Open(function.address, IommuMode::kNoIommu));
  os::Mapping bar0 = TRY(device.MapRegion(VFIO_PCI_BAR0_REGION_INDEX));
  TRY(device.EnableMemoryAndBusMaster());
  // Vector 0 for the HWC's EQ (requests poll; it is never armed again),
  // vector 1 for the data EQ (mana-netvsc.md §1 MSI-X).
  const uint32_t available = TRY(device.MsixVectorCount());
  if (available < 2) return base::Error(function.address + " has fewer than 2 MSI-X vectors");
  std::vector<os::UniqueFd> vectors = TRY(device.EnableMsix(2));
  std::unique_ptr<AssignedMana> nic(
      new AssignedMana(function.address, std::move(device), std::move(bar0), vtl2_dma));
  nic->driver_ = TRY(mana::driver::Driver::Create(
      nic->bar_, *nic->pool_,
      [] { return std::chrono::steady_clock::now().time_since_epoch(); }, kManaDriverOptions));
  os::UniqueFd data = std::move(vectors[mana::driver::Driver::kDataVector]);
  nic->vectors_ = std::move(vectors);  // vector 0 stays open, unwatched
  TRY(nic->StartThread(std::move(data)));
  return nic;
}

bool AssignedMana::Transmit(std::span<const std::byte> frame, const TxOffload& offload) {
  return driver_->Transmit(frame, mana::driver::TxRequest{.l4_offset = offload.l4_offset,
                                                          .ipv4 = offload.ipv4,
                                                          .ipv6 = offload.ipv6,
                                                          .tcp_checksum = offload.tcp_checksum,
                                                          .udp_checksum = offload.udp_checksum,
                                                          .mss = offload.lso_mss});
}

void AssignedMana::SetReceiver(Receiver receiver) {
  const std::lock_guard lock(receiver_mutex_);
  receiver_ = std::move(receiver);
}

base::Result<void> AssignedMana::StartThread(os::UniqueFd data_vector) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return base::Error::FromErrno("epoll_create1", errno);
  epoll_ = os::UniqueFd(epoll);
  const int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (timer < 0) return base::Error::FromErrno("timerfd_create", errno);
  timer_ = os::UniqueFd(timer);
  const int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) return base::Error::FromErrno("eventfd", errno);
  stop_ = os::UniqueFd(stop);
  itimerspec every{};
  every.it_interval.tv_nsec = 100'000'000;
  every.it_value.tv_nsec = 100'000'000;
  if (::timerfd_settime(timer_.get(), 0, &every, nullptr) != 0)
    return base::Error::FromErrno("timerfd_settime", errno);
  const auto watch = [this](int fd, uint64_t key) -> base::Result<void> {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = key;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
      return base::Error::FromErrno("epoll_ctl", errno);
    return base::Ok();
  };
  TRY(watch(data_vector.get(), 0));
  TRY(watch(timer_.get(), 1));
  TRY(watch(stop_.get(), 2));
  thread_ = std::thread([this, fd = std::move(data_vector)]() mutable { Run(std::move(fd)); });
  return base::Ok();
}

void AssignedMana::Run(os::UniqueFd data_vector) {
  const auto receive = [this](std::span<const std::byte> frame, const mana::driver::RxInfo& info) {
    const std::lock_guard lock(receiver_mutex_);
    if (!receiver_) return;
    receiver_(frame, ReceivedFrameInfo{.ip_checksum_ok = info.ip_checksum_ok,
                                       .tcp_checksum_ok = info.tcp_checksum_ok,
                                       .udp_checksum_ok = info.udp_checksum_ok,
                                       .rss_hash = info.hash});
  };
  bool reported = false;
  std::array<epoll_event, 4> events{};
  for (;;) {
    const int ready = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::printf("hcl: mana %s: epoll_wait failed (%d); driver thread ends\n", address_.c_str(),
                  errno);
      return;
    }
    for (int i = 0; i < ready; ++i) {
      const uint64_t key = events[static_cast<size_t>(i)].data.u64;
      if (key == 2) return;
      Drain(key == 0 ? data_vector : timer_);
    }
    driver_->Poll(receive);
    if (driver_->failed() && !reported) {
      reported = true;
      std::printf("hcl: mana %s: failed: %s (frames are dropped from now on)\n", address_.c_str(),
                  driver_->failure().c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace hcl::vfio
