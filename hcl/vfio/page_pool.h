// PagePool: hands out page runs of DMA memory whose device addresses are
// known, implementing the NVMe driver's nvme::driver::DmaPool
// (vmm-core/nvme/driver/os_interfaces.h) over a few physically contiguous
// regions.
//
// Sans I/O: the regions come from whoever mapped them. In VTL2 that is
// MshvDmaRegions (hcl/vfio/dma_memory.h: /dev/mshv_vtl_dma, device address =
// physical address, for VFIO no-IOMMU); on a host with an IOMMU the same
// pool would sit over anonymous memory mapped with VFIO_IOMMU_MAP_DMA at
// IOVAs of the caller's choosing. Either way a region is {host bytes,
// device address of the first byte}, page aligned on both sides.
//
// Allocation is first fit over each region's sorted list of free runs; a
// run never crosses a region boundary (regions need not be adjacent in
// device address space). Free takes back exactly what Allocate returned;
// anything else (a double free, a foreign buffer) is refused and counted,
// never corrupts the lists. Thread safe (one mutex). Does not zero memory
// (the driver zeroes what it needs) and does not own the mappings: they
// must outlive the pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.h"
#include "nvme/driver/os_interfaces.h"

namespace hcl::vfio {

struct DmaRegion {
  std::span<std::byte> host;   // page aligned, a multiple of 4 KiB long
  uint64_t device_address = 0;  // of host[0]; page aligned
};

class PagePool final : public nvme::driver::DmaPool {
 public:
  // Fails if a region is empty, unaligned, or its device range wraps or
  // overlaps another region's.
  static base::Result<std::unique_ptr<PagePool>> Create(std::vector<DmaRegion> regions);

  base::Result<nvme::driver::DmaBuffer> Allocate(size_t bytes) override;
  void Free(const nvme::driver::DmaBuffer& buffer) override;

  // Pages free now, in all regions together; the pool's total.
  uint64_t free_pages() const;
  uint64_t total_pages() const { return total_pages_; }
  // Free calls refused (not a live allocation).
  uint64_t refused_frees() const;

 private:
  struct Run {
    uint64_t first_page = 0;  // region-relative
    uint64_t pages = 0;
  };
  struct Region {
    DmaRegion memory;
    uint64_t pages = 0;
    std::vector<Run> free;  // sorted, disjoint, never adjacent (coalesced)
    std::vector<Run> used;  // sorted by first_page
  };

  explicit PagePool(std::vector<Region> regions, uint64_t total_pages)
      : regions_(std::move(regions)), total_pages_(total_pages) {}
  static bool ReturnRunLocked(Region& region, Run run);

  mutable std::mutex mutex_;
  std::vector<Region> regions_;  // guarded by mutex_
  const uint64_t total_pages_;
  uint64_t refused_frees_ = 0;  // guarded by mutex_
};

}  // namespace hcl::vfio
