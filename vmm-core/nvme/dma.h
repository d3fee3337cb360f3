// nvme::DmaMemory: what an NVMe controller reaches by DMA, the shared
// device-DMA interface (mem/dma_memory.h: copies only, ordered writes,
// unbacked ranges fail). The controller core writes a completion entry as
// two Writes, the entry's first 12 bytes and then its last 4 (CID, status
// and phase tag), relying on that ordering.
#pragma once

#include "mem/dma_memory.h"

namespace nvme {

using DmaMemory = mem::DmaMemory;

}  // namespace nvme
