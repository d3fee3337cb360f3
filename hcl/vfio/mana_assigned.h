// AssignedMana: a MANA VF VTL2 owns (the loader's --nic device, or Azure's
// accelerated NIC assigned to the partition), driven from hcl by the
// user-mode driver (vmm-core/mana/driver/driver.h) over VFIO no-IOMMU, as
// AssignedNvme drives NVMe: BAR0 mapped (ManaBar: 32- and 64-bit MMIO, a
// doorbell is one 8-byte store), queues and frame buffers from the VTL2
// DMA pool, MSI-X vector 0 (the HWC's, polled instead) and 1 (the data EQ)
// as eventfds. One thread epolls vector 1 and a 100 ms timer (a lost
// interrupt costs at most that) and runs Driver::Poll, handing received
// frames to the receiver.
//
// It is netvsp's FramePort (hcl/devices/frame_port.h): VTL0's frames go
// out through Transmit, the vport's MAC is what VTL0 sees.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "devices/frame_port.h"
#include "mana/driver/driver.h"
#include "os/mapping.h"
#include "os/unique_fd.h"
#include "vfio/bar_registers.h"
#include "vfio/device_thread.h"
#include "vfio/nvme_assigned.h"
#include "vfio/pci_sysfs.h"
#include "vfio/vfio_device.h"

namespace hcl::vfio {

inline constexpr uint16_t kManaVendorId = 0x1414;
inline constexpr uint16_t kManaVfDeviceId = 0x00BA;
// What one NIC takes from the VTL2 DMA pool (OpenVtl2Dma's other_bytes):
// the HWC's six pages and, per queue pair, its EQ, both work queues and
// CQs, 128 TX and 128 RX buffers of 2 KiB and 8 TX buffers of 64 KiB for
// TCP segmentation offload. One pair per VP, at most kManaMaxQueuePairs.
inline constexpr uint32_t kManaMaxQueuePairs = 4;
inline constexpr uint64_t ManaPoolBytes(uint32_t queue_pairs) {
  return (64 + uint64_t{queue_pairs} * (64 + 512 + 512)) * 1024;
}
inline constexpr mana::driver::Options ManaDriverOptions(uint32_t queue_pairs) {
  return {.rx_buffers = 128, .tx_buffers = 128, .large_tx_buffers = 8,
          .queue_pairs = queue_pairs};
}

bool IsManaVf(const PciFunction& function);

class AssignedMana final : public FramePort {
 public:
  // `queue_pairs`: wanted (one per VP); fewer when the VF offers fewer
  // vectors or queues.
  // `guest_pages_device_visible`: the VF may read VTL0's pages in place
  // (no isolation: zero copy TX); under isolation they are private to the
  // guest and every frame is copied.
  static base::Result<std::unique_ptr<AssignedMana>> Open(const PciFunction& function,
                                                          const SharedDma& vtl2_dma,
                                                          uint32_t queue_pairs,
                                                          bool guest_pages_device_visible);
  ~AssignedMana() override;
  AssignedMana(const AssignedMana&) = delete;
  AssignedMana& operator=(const AssignedMana&) = delete;

  void SetReceiver(Receiver receiver) override;
  // Down once the driver fails (it never comes back: hcl does not reset
  // the VF).
  void SetLinkListener(LinkListener listener) override;
  bool Transmit(std::span<const std::byte> frame, const TxOffload& offload) override;
  // The frame read from VTL0 straight into a TX buffer of the driver.
  bool TransmitFrom(size_t bytes, const FrameReader& read, const TxOffload& offload) override;
  // Its headers copied, the rest read by the VF from VTL0's pages.
  bool reads_in_place() const override { return guest_pages_device_visible_; }
  bool TransmitInPlace(size_t bytes, const FrameReader& read, std::span<const block::Segment> rest,
                       const TxOffload& offload, SendDone done) override;
  // The VF finishes checksums and segments TCP (mana-netvsc.md §3).
  bool offloads() const override { return true; }
  std::array<uint8_t, 6> mac() const override { return driver_->mac(); }
  mana::driver::Stats stats() const { return driver_->stats(); }
  uint32_t queue_pairs() const { return driver_->queue_pairs(); }
  bool failed() const { return driver_->failed(); }
  const std::string& address() const { return function_.device.address(); }

 private:
  AssignedMana(MappedFunction function, SharedDma dma, bool guest_pages_device_visible);
  base::Result<void> StartThread();

  MappedFunction function_;
  SharedDma dma_;  // its backing keeps the pool's memory mapped
  ManaBar bar_;
  bool guest_pages_device_visible_;
  std::unique_ptr<mana::driver::Driver> driver_;
  std::mutex receiver_mutex_;
  Receiver receiver_;  // guarded by receiver_mutex_
  LinkListener link_listener_;  // guarded by receiver_mutex_
  std::vector<os::UniqueFd> vectors_;  // 0: the HWC's (unwatched), i + 1: pair i's
  // Last: destroyed first, so the thread stops before what it uses goes.
  std::unique_ptr<DeviceThread> thread_;
};

}  // namespace hcl::vfio
