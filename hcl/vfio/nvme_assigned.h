// AssignedNvme: an NVMe controller VTL2 owns (the loader's --disk
// controller, or a real one assigned to the partition), driven from hcl by
// the user-mode driver core (vmm-core/nvme/driver/driver.h) over VFIO
// no-IOMMU: BAR0 mapped through VFIO (BarRegisters), queue memory from the
// VTL2 kernel's DMA pool (MshvDmaMemory + PagePool), MSI-X vector i an
// eventfd whose firing calls Driver::OnInterrupt(i). The same code runs on
// a host with an IOMMU (IommuMode::kType1, IommuDmaMemory): the cross-check
// against QEMU's NVMe device (tests/integration/test-nvme-vfio-qemu).
//
// One thread per controller runs the driver: it epolls the vectors'
// eventfds and a timerfd (Tick: timeouts, RDY waits, a poll in case an
// interrupt was lost). Nothing else runs the driver, so no interrupt
// thread races bring-up.
//
// StartAssignedNvme is what hcl's main calls: it lists VTL2's PCI
// functions (one "hcl: pci ..." line each, the lspci-like evidence that
// VTL2 enumerated its bus), brings up every NVMe function (class 010802h)
// and logs one "hcl: nvme: nsid N: B blocks of S bytes" line per
// namespace, then one "hcl: nvme: nsid N: block 0 starts HEX" line (the
// first 16 bytes read through the driver). A controller that fails is logged and left alone: the rest
// of hcl runs on.
//
// Not here: presenting the namespaces to VTL0 (storvsp/SCSI, the
// integrator's vmbus_server), hot removal, shutdown (CC.SHN).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "nvme/driver/driver.h"
#include "os/mapping.h"
#include "os/unique_fd.h"
#include "vfio/bar_registers.h"
#include "vfio/device_thread.h"
#include "vfio/dma_memory.h"
#include "vfio/page_pool.h"
#include "vfio/pci_sysfs.h"
#include "vfio/vfio_device.h"

namespace hcl::vfio {

// DMA memory several controllers share. The VTL2 kernel hands out one pool
// per boot (MSHV_DMA_ALLOC_POOL returns the same pages to a second caller),
// so hcl opens it once, sized for every controller, and all of them
// allocate from one PagePool (thread safe).
struct SharedDma {
  std::shared_ptr<DmaBacking> backing;
  std::shared_ptr<PagePool> pool;
};
// /dev/mshv_vtl_dma sized for `controllers` controllers of at most
// `io_queue_pairs` I/O queues each, plus `bounce_bytes` per controller for
// bounce buffers (an isolated partition's guest I/O; 0 otherwise).
base::Result<SharedDma> OpenVtl2Dma(uint32_t controllers, uint16_t io_queue_pairs,
                                    uint64_t bounce_bytes = 0, uint64_t other_bytes = 0);

// On an isolated partition: the pool shared with the host before any
// device touches it (paravisor/isolation.h); bounce_bytes as above.
struct IsolatedDma {
  uint64_t bounce_bytes = 0;
  std::function<base::Result<void>(std::span<const DmaRegion>)> share;
};

class AssignedNvme {
 public:
  // Binds `function` to vfio-pci, maps BAR0, enables MSI-X and bus
  // mastering, allocates the DMA pool, starts the driver thread and waits
  // (at most `bring_up_limit`) for the driver to be ready or failed.
  // Queue memory: kNoIommu takes it from `vtl2_dma` (OpenVtl2Dma); with
  // kType1 the controller gets its own anonymous memory mapped at
  // kType1Iova in its container, and `vtl2_dma` is not used.
  static base::Result<std::unique_ptr<AssignedNvme>> Open(const PciFunction& function,
                                                          uint16_t io_queue_pairs,
                                                          std::chrono::seconds bring_up_limit,
                                                          IommuMode mode, const SharedDma& vtl2_dma);
  static constexpr uint64_t kType1Iova = uint64_t{1} << 32;
  ~AssignedNvme();
  AssignedNvme(const AssignedNvme&) = delete;
  AssignedNvme& operator=(const AssignedNvme&) = delete;

  nvme::driver::Driver& driver() { return *driver_; }
  // The DMA pool its queues come from (shared by VTL2's controllers).
  PagePool& pool() { return *dma_.pool; }
  // Reads `ns`'s first block into a DMA pool page and returns its first
  // `bytes` bytes (at most a block): a check of the whole data path (PRPs,
  // device DMA, MSI-X through the eventfd, completion). Waits at most
  // `limit`; on a timeout the page is never reused (the device may still
  // write it).
  base::Result<std::vector<std::byte>> ReadFirstBytes(block::Device& ns, size_t bytes,
                                                      std::chrono::seconds limit);
  const std::string& address() const { return function_.device.address(); }

 private:
  AssignedNvme(MappedFunction function, SharedDma dma);
  base::Result<void> StartThread(std::vector<os::UniqueFd> vectors);

  MappedFunction function_;
  SharedDma dma_;  // its backing keeps the pool's memory mapped
  BarRegisters registers_;
  std::unique_ptr<nvme::driver::Driver> driver_;
  std::vector<os::UniqueFd> vectors_;  // MSI-X vector i's eventfd
  // Last: destroyed first, so the thread stops before what it uses goes.
  std::unique_ptr<DeviceThread> thread_;
};

// The lines go to `log` (without "hcl: " and a newline). Returns the
// controllers that came up; keep them alive for as long as their
// namespaces are used.
// `isolated`: share the pool with the host first, and make it larger.
// `other_pool_bytes`: what VTL2's other devices (the MANA NIC) need from
// the same pool (the kernel gives one per boot); the pool, opened when any
// of them needs it, is returned in `*pool` when given.
std::vector<std::unique_ptr<AssignedNvme>> StartAssignedNvme(
    uint32_t vp_count, const std::function<void(const std::string&)>& log,
    IommuMode mode = IommuMode::kNoIommu, const IsolatedDma* isolated = nullptr,
    uint64_t other_pool_bytes = 0, SharedDma* pool = nullptr);

}  // namespace hcl::vfio
