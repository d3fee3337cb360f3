/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User API of /dev/mshv_vtl_dma (kernel-config/mshv_vtl/mshv_vtl_dma.c): a
 * pool of physically contiguous VTL2 pages whose physical addresses user
 * space knows, for the DMA of devices hcl drives from user mode (an NVMe
 * controller through VFIO no-IOMMU, where a device address is a physical
 * address: nvme-vfio.md §8).
 *
 * Our own interface, not upstream's (upstream OpenHCL reserves a "VTL2 GPA
 * pool" in the boot shim and maps it through /dev/mshv_vtl_low instead):
 * ioctl type MSHV_IOCTL with numbers from 0x80, which upstream mshv does not
 * use.
 *
 * Usable from the kernel, from C and from C++: it needs only <linux/types.h>
 * and <linux/ioctl.h>.
 */
#ifndef _UAPI_LINUX_MSHV_DMA_H
#define _UAPI_LINUX_MSHV_DMA_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MSHV_DMA_IOCTL 0xB8

/* A pool has at most this many chunks, and at most this many bytes. */
#define MSHV_DMA_MAX_CHUNKS	32
#define MSHV_DMA_MAX_POOL_BYTES	(64ULL << 20)

/*
 * One physically contiguous run of the pool: `size` bytes (a power-of-two
 * number of pages) from physical address `pa`, which is aligned to `size`.
 */
struct mshv_dma_chunk {
	__u64 pa;
	__u64 size;
};

/*
 * MSHV_DMA_ALLOC_POOL: the pool of this boot.
 * In: `size` (bytes, a non-zero multiple of 4096, at most
 * MSHV_DMA_MAX_POOL_BYTES and at most a quarter of the kernel's RAM); the
 * other fields are ignored. The first call allocates the pool (zeroed); it
 * is never freed, so a device that still holds its addresses can never
 * write into memory the kernel reuses. A later call with the same size
 * returns the same pool; another size is -EBUSY.
 * Out: `count` chunks in `chunks[0..count)`, sorted by address, together
 * `size` bytes. -ENOMEM if the pages cannot be found in at most
 * MSHV_DMA_MAX_CHUNKS runs.
 *
 * mmap(2) of the device: MAP_SHARED, file offset = the physical address,
 * the whole range inside one chunk; mapped write-back (the CPU and the
 * device are coherent on x86).
 */
struct mshv_dma_pool {
	__u64 size;
	__u32 count;
	__u32 reserved;
	struct mshv_dma_chunk chunks[MSHV_DMA_MAX_CHUNKS];
};

#define MSHV_DMA_ALLOC_POOL	_IOWR(MSHV_DMA_IOCTL, 0x80, struct mshv_dma_pool)

#ifdef __cplusplus
static_assert(sizeof(struct mshv_dma_chunk) == 16, "mshv_dma_chunk layout");
static_assert(sizeof(struct mshv_dma_pool) == 16 + 16 * MSHV_DMA_MAX_CHUNKS,
	      "mshv_dma_pool layout");
#else
_Static_assert(sizeof(struct mshv_dma_chunk) == 16, "mshv_dma_chunk layout");
_Static_assert(sizeof(struct mshv_dma_pool) == 16 + 16 * MSHV_DMA_MAX_CHUNKS,
	       "mshv_dma_pool layout");
#endif

#endif /* _UAPI_LINUX_MSHV_DMA_H */
