// VfioDevice: one PCI function owned by hcl through VFIO in no-IOMMU mode
// (Linux 6.1; nvme-vfio.md §8): the sysfs steps that give it to vfio-pci,
// the group/container/device descriptors, region access, bus mastering
// and MSI-X vectors delivered to eventfds.
//
// Order of Open (each step's failure names the step):
//  1. /sys/module/vfio/parameters/enable_unsafe_noiommu_mode = 1, before
//     vfio-pci binds: without an IOMMU group and with the mode off,
//     vfio-pci's probe fails with -EINVAL (vfio_group_find_or_alloc).
//     The kernel taints itself (TAINT_USER) and says so on the console.
//  2. driver_override = vfio-pci, then the address to drivers_probe
//     (unbinding another driver first, if one holds the function).
//  3. The group: basename of the function's iommu_group link, opened as
//     /dev/vfio/noiommu-N; the container /dev/vfio/vfio with API version
//     0 and VFIO_NOIOMMU_IOMMU; the group must be viable; then
//     SET_CONTAINER, SET_IOMMU(VFIO_NOIOMMU_IOMMU), GET_DEVICE_FD.
// Needs CAP_SYS_RAWIO (hcl is PID 1, root).
//
// Device addresses are physical (MAP_DMA does not exist without an IOMMU):
// DMA memory comes from elsewhere (hcl/vfio/dma_memory.h).
//
// Not here: what the device does (the NVMe driver), interrupt threads
// (the caller epolls the eventfds), choosing IOVAs (the caller's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "os/mapping.h"
#include "os/unique_fd.h"

namespace hcl::vfio {

// How the device reaches memory. kNoIommu: VTL2 (no IOMMU; device address
// = physical address). kType1: a host with an IOMMU (the carrier VM with
// QEMU's intel-iommu), where hcl maps its own memory at IOVAs it picks
// (MapDma): the cross-check against QEMU's NVMe device.
enum class IommuMode { kNoIommu, kType1 };

struct RegionInfo {
  uint32_t index = 0;
  uint32_t flags = 0;  // VFIO_REGION_INFO_FLAG_*
  uint64_t size = 0;
  uint64_t offset = 0;  // of the region in the device fd
};

class VfioDevice {
 public:
  // Steps 1-3 above for the function at `address` (DDDD:BB:DD.F). `sysfs`
  // is normally "/sys" and `dev` "/dev".
  // With kType1, step 1 is skipped, the group is /dev/vfio/N and the
  // container's backend VFIO_TYPE1v2_IOMMU.
  static base::Result<VfioDevice> Open(const std::string& address,
                                       IommuMode mode = IommuMode::kNoIommu,
                                       const std::string& sysfs = "/sys",
                                       const std::string& dev = "/dev");

  IommuMode mode() const { return mode_; }
  // kType1 only: VFIO_IOMMU_MAP_DMA of `host` (page aligned, pinned by
  // the kernel from now on) at `iova`, readable and writable by the device.
  base::Result<void> MapDma(std::span<std::byte> host, uint64_t iova) const;

  const std::string& address() const { return address_; }
  const std::string& group_name() const { return group_name_; }

  // VFIO_DEVICE_GET_REGION_INFO (index 0-5: BARs, 7: configuration space).
  base::Result<RegionInfo> Region(uint32_t index) const;
  // The whole region mmapped shared, read-write (it must be mappable).
  base::Result<os::Mapping> MapRegion(uint32_t index) const;

  // Configuration space through the config region (pread/pwrite).
  base::Result<void> ReadConfig(uint64_t offset, std::span<std::byte> out) const;
  base::Result<void> WriteConfig(uint64_t offset, std::span<const std::byte> in) const;
  // Command register: memory space and bus master on (vfio-pci clears bus
  // mastering when it enables the device; nvme-vfio.md §8 step 9).
  base::Result<void> EnableMemoryAndBusMaster() const;

  // VFIO_DEVICE_GET_IRQ_INFO for MSI-X: the number of vectors.
  base::Result<uint32_t> MsixVectorCount() const;
  // One eventfd per vector 0..count-1, given to the device in a single
  // VFIO_DEVICE_SET_IRQS: Linux 6.1's MSI-X is NORESIZE, so the count
  // cannot grow once enabled (nvme-vfio.md §8 step 10). Calling it again
  // first disables MSI-X, then enables the new count.
  base::Result<std::vector<os::UniqueFd>> EnableMsix(uint32_t count);
  base::Result<void> DisableMsix();

 private:
  VfioDevice() = default;

  IommuMode mode_ = IommuMode::kNoIommu;
  std::string address_;
  std::string group_name_;
  os::UniqueFd container_;
  os::UniqueFd group_;
  os::UniqueFd device_;
  bool msix_enabled_ = false;
  uint64_t config_offset_ = 0;
  uint64_t config_size_ = 0;
};

// Where every driver of an assigned function starts: the function opened
// (VfioDevice::Open), BAR0 mapped, memory decoding and bus mastering on.
// BAR0 stays mapped for as long as the object lives.
struct MappedFunction {
  static base::Result<MappedFunction> Open(const std::string& address, IommuMode mode);
  VfioDevice device;
  os::Mapping bar0;
};

}  // namespace hcl::vfio
