// hcl-nvme-probe: hcl's NVMe path (hcl/vfio and vmm-core/nvme/driver) as an
// ordinary host program, for the cross-check against a device nobody here
// wrote: QEMU's own NVMe controller, in the carrier VM with QEMU's
// intel-iommu (tests/integration/test-nvme-vfio-qemu). The code is the
// code hcl runs in VTL2; only the DMA memory differs (VFIO type1: anonymous
// memory mapped at an IOVA, instead of /dev/mshv_vtl_dma under no-IOMMU).
//
//   hcl-nvme-probe [--noiommu]
//
// Lists the PCI functions, brings up every NVMe controller, prints each
// namespace's size and the first 16 bytes of its block 0. Exit 0 if at
// least one controller came up, 1 otherwise, 2 on bad usage.
#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "vfio/nvme_assigned.h"

int main(int argc, char** argv) {
  hcl::vfio::IommuMode mode = hcl::vfio::IommuMode::kType1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--noiommu") {
      mode = hcl::vfio::IommuMode::kNoIommu;
    } else {
      std::fprintf(stderr, "usage: hcl-nvme-probe [--noiommu]\n");
      return 2;
    }
  }
  const auto controllers = hcl::vfio::StartAssignedNvme(
      std::max(1u, std::thread::hardware_concurrency()),
      [](const std::string& line) {
        std::printf("hcl-nvme-probe: %s\n", line.c_str());
        std::fflush(stdout);
      },
      mode);
  return controllers.empty() ? 1 : 0;
}
