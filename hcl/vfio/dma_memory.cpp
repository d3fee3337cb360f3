#include "vfio/dma_memory.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>

#include "base/checked.h"
#include "base/page.h"
#include "mshv_dma.h"
#include "os/ioctl.h"
#include "os/unique_fd.h"

namespace hcl::vfio {

base::Result<std::unique_ptr<MshvDmaMemory>> MshvDmaMemory::Open(uint64_t bytes,
                                                                const std::string& path) {
  if (bytes == 0 || !base::IsAligned(bytes, base::kPageSize))
    return base::Error("DMA pool size is not a nonzero number of pages");
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return base::Error::FromErrno("open " + path, errno);
  const os::UniqueFd file(fd);
  mshv_dma_pool pool{};
  pool.size = bytes;
  TRY(os::Ioctl(file, MSHV_DMA_ALLOC_POOL, &pool, "MSHV_DMA_ALLOC_POOL"));
  // The kernel's answer, checked before use.
  if (pool.count == 0 || pool.count > MSHV_DMA_MAX_CHUNKS || pool.size != bytes)
    return base::Error::Format("MSHV_DMA_ALLOC_POOL answered %u chunks of %llu bytes", pool.count,
                               static_cast<unsigned long long>(pool.size));
  std::unique_ptr<MshvDmaMemory> memory(new MshvDmaMemory());
  uint64_t total = 0;
  for (uint32_t i = 0; i < pool.count; ++i) {
    const mshv_dma_chunk chunk = pool.chunks[i];
    if (chunk.size == 0 || !base::IsAligned<uint64_t>(chunk.size, base::kPageSize) ||
        !base::IsAligned<uint64_t>(chunk.pa, base::kPageSize) || chunk.pa > static_cast<uint64_t>(INT64_MAX))
      return base::Error::Format("DMA pool chunk %u is malformed", i);
    total += chunk.size;
    auto mapping = TRY(os::Mapping::Create(static_cast<size_t>(chunk.size), PROT_READ | PROT_WRITE,
                                           MAP_SHARED, file.get(), "a DMA pool chunk",
                                           static_cast<int64_t>(chunk.pa)));
    memory->regions_.push_back(DmaRegion{mapping.bytes(), chunk.pa});
    memory->mappings_.push_back(std::move(mapping));
  }
  if (total != bytes) return base::Error("DMA pool chunks do not add up to the pool's size");
  return memory;
}

base::Result<std::unique_ptr<IommuDmaMemory>> IommuDmaMemory::Create(const VfioDevice& device,
                                                                     uint64_t bytes, uint64_t iova) {
  if (bytes == 0 || !base::IsAligned(bytes, base::kPageSize))
    return base::Error("DMA memory size is not a nonzero number of pages");
  auto mapping = TRY(os::Mapping::Create(static_cast<size_t>(bytes), PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
                                         "DMA memory"));
  TRY(device.MapDma(mapping.bytes(), iova));
  std::unique_ptr<IommuDmaMemory> memory(new IommuDmaMemory(std::move(mapping)));
  memory->regions_.push_back(DmaRegion{memory->mapping_.bytes(), iova});
  return memory;
}

}  // namespace hcl::vfio
