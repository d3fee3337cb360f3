// DMA memory with known device addresses, as PagePool regions
// (hcl/vfio/page_pool.h), from one of two backings:
//
// MshvDmaMemory: the VTL2 kernel's DMA pool (/dev/mshv_vtl_dma,
// kernel-config/mshv_vtl/uapi/mshv_dma.h) mapped into hcl: physically
// contiguous chunks whose physical addresses, the device addresses under
// VFIO no-IOMMU, the kernel reports. Why not /proc/self/pagemap: without
// CAP_SYS_ADMIN it reads PFN 0, the kernel has no PROC_PAGE_MONITOR, and
// mlock does not stop migration (nvme-vfio.md §8 "DMA memory with known
// physical addresses"). The driver allocates the pool once per boot and
// never frees it.
//
// IommuDmaMemory: where an IOMMU translates (VFIO type1, e.g. the carrier
// VM with QEMU's intel-iommu): anonymous memory mapped for the device at an
// IOVA of the caller's choosing (VFIO_IOMMU_MAP_DMA pins it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "os/mapping.h"
#include "vfio/page_pool.h"
#include "vfio/vfio_device.h"

namespace hcl::vfio {

class DmaBacking {
 public:
  virtual ~DmaBacking() = default;
  // Valid while the object lives.
  virtual const std::vector<DmaRegion>& regions() const = 0;
};

class MshvDmaMemory final : public DmaBacking {
 public:
  // MSHV_DMA_ALLOC_POOL of `bytes` (a multiple of 4096), then every chunk
  // mapped shared, read-write, at its physical address.
  static base::Result<std::unique_ptr<MshvDmaMemory>> Open(
      uint64_t bytes, const std::string& path = "/dev/mshv_vtl_dma");
  const std::vector<DmaRegion>& regions() const override { return regions_; }

 private:
  MshvDmaMemory() = default;
  std::vector<os::Mapping> mappings_;
  std::vector<DmaRegion> regions_;
};

class IommuDmaMemory final : public DmaBacking {
 public:
  // `bytes` (a multiple of 4096) of anonymous memory, mapped for `device`
  // (type1 mode) at `iova`.
  static base::Result<std::unique_ptr<IommuDmaMemory>> Create(const VfioDevice& device,
                                                              uint64_t bytes, uint64_t iova);
  const std::vector<DmaRegion>& regions() const override { return regions_; }

 private:
  explicit IommuDmaMemory(os::Mapping mapping) : mapping_(std::move(mapping)) {}
  os::Mapping mapping_;
  std::vector<DmaRegion> regions_;
};

}  // namespace hcl::vfio
