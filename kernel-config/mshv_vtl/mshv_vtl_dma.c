// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/mshv_vtl_dma: a pool of physically contiguous VTL2 pages whose
 * physical addresses user space knows (uapi/mshv_dma.h).
 *
 * Why: hcl drives devices from user mode through VFIO no-IOMMU, where a
 * device reaches memory by physical address and VFIO's MAP_DMA does not
 * exist (nvme-vfio.md §8). /proc/self/pagemap would give the addresses of
 * mlocked pages only with CAP_SYS_ADMIN and PROC_PAGE_MONITOR, and mlock
 * does not pin a page against migration. Pages this driver allocates are
 * never migrated (they are not on any LRU list) and never freed, so their
 * addresses hold for the life of the kernel, even if hcl dies with a
 * device still holding them.
 *
 * What it leaves to others: carving the pool into queues and buffers (hcl),
 * which device may use it (VFIO), and any IOMMU mapping (none here).
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "uapi/mshv_dma.h"

#define MV_DMA_LARGEST_ORDER	8	/* 1 MiB chunks at most */
#define MV_DMA_SMALLEST_ORDER	4	/* 64 KiB, an NVMe queue of 1024 SQEs */

static DEFINE_MUTEX(mv_dma_lock);
static struct mshv_dma_chunk mv_dma_chunks[MSHV_DMA_MAX_CHUNKS];	/* guarded by mv_dma_lock */
static u32 mv_dma_count;	/* guarded by mv_dma_lock */
static u64 mv_dma_size;		/* guarded by mv_dma_lock; 0: no pool yet */

static void mv_dma_free_chunks(u32 count)
{
	u32 i;

	for (i = 0; i < count; i++)
		__free_pages(pfn_to_page(PHYS_PFN(mv_dma_chunks[i].pa)),
			     ilog2(mv_dma_chunks[i].size >> PAGE_SHIFT));
}

/* Called with mv_dma_lock held and no pool yet. */
static int mv_dma_allocate_locked(u64 size)
{
	u64 remaining_pages = size >> PAGE_SHIFT;
	u32 count = 0, i, j;

	while (remaining_pages) {
		unsigned int order = min_t(unsigned int, ilog2(remaining_pages),
					   MV_DMA_LARGEST_ORDER);
		unsigned int floor = min_t(unsigned int, order, MV_DMA_SMALLEST_ORDER);
		struct page *page = NULL;

		if (count == MSHV_DMA_MAX_CHUNKS)
			goto fail;
		for (;;) {
			page = alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN, order);
			if (page || order == floor)
				break;
			order--;
		}
		if (!page)
			goto fail;
		/* A buddy block of 2^order pages is aligned to its size. */
		mv_dma_chunks[count].pa = page_to_phys(page);
		mv_dma_chunks[count].size = (u64)PAGE_SIZE << order;
		count++;
		remaining_pages -= 1ULL << order;
	}
	/* Sorted by address (insertion sort of at most 32 entries). */
	for (i = 1; i < count; i++) {
		struct mshv_dma_chunk c = mv_dma_chunks[i];

		for (j = i; j > 0 && mv_dma_chunks[j - 1].pa > c.pa; j--)
			mv_dma_chunks[j] = mv_dma_chunks[j - 1];
		mv_dma_chunks[j] = c;
	}
	mv_dma_count = count;
	mv_dma_size = size;
	pr_info("mshv_vtl_dma: pool of %llu KiB in %u chunks\n", size >> 10, count);
	return 0;
fail:
	mv_dma_free_chunks(count);
	pr_warn("mshv_vtl_dma: cannot allocate a pool of %llu KiB\n", size >> 10);
	return -ENOMEM;
}

static long mv_dma_alloc_pool(void __user *arg)
{
	struct mshv_dma_pool *pool;
	long ret = 0;
	u64 size;

	if (copy_from_user(&size, arg, sizeof(size)))
		return -EFAULT;
	if (size == 0 || size % PAGE_SIZE || size > MSHV_DMA_MAX_POOL_BYTES ||
	    (size >> PAGE_SHIFT) > totalram_pages() / 4)
		return -EINVAL;
	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool)
		return -ENOMEM;
	mutex_lock(&mv_dma_lock);
	if (mv_dma_size == 0)
		ret = mv_dma_allocate_locked(size);
	else if (mv_dma_size != size)
		ret = -EBUSY;
	if (ret == 0) {
		pool->size = mv_dma_size;
		pool->count = mv_dma_count;
		memcpy(pool->chunks, mv_dma_chunks, sizeof(mv_dma_chunks[0]) * mv_dma_count);
	}
	mutex_unlock(&mv_dma_lock);
	if (ret == 0 && copy_to_user(arg, pool, sizeof(*pool)))
		ret = -EFAULT;
	kfree(pool);
	return ret;
}

static long mv_dma_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case MSHV_DMA_ALLOC_POOL:
		return mv_dma_alloc_pool((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/* The file offset is the physical address; the range lies in one chunk. */
static int mv_dma_mmap(struct file *file, struct vm_area_struct *vma)
{
	u64 start, bytes = vma->vm_end - vma->vm_start;
	bool inside = false;
	u32 i;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff > (U64_MAX >> PAGE_SHIFT))
		return -EINVAL;
	start = (u64)vma->vm_pgoff << PAGE_SHIFT;
	mutex_lock(&mv_dma_lock);
	for (i = 0; i < mv_dma_count && !inside; i++) {
		const struct mshv_dma_chunk *c = &mv_dma_chunks[i];

		inside = start >= c->pa && start - c->pa <= c->size &&
			 bytes <= c->size - (start - c->pa);
	}
	mutex_unlock(&mv_dma_lock);
	if (!inside)
		return -EINVAL;
	/* Ordinary RAM: write-back, as the kernel maps it. */
	vma->vm_page_prot = __pgprot(pgprot_val(vma->vm_page_prot) & ~_PAGE_CACHE_MASK);
	return remap_pfn_range(vma, vma->vm_start, vma->vm_pgoff, bytes, vma->vm_page_prot);
}

static const struct file_operations mv_dma_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mv_dma_ioctl,
	.mmap = mv_dma_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice mv_dma_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mshv_vtl_dma",
	.fops = &mv_dma_fops,
	.mode = 0600,
};

static int __init mv_dma_init(void)
{
	int ret = misc_register(&mv_dma_misc);

	if (ret)
		pr_err("mshv_vtl_dma: cannot register /dev/mshv_vtl_dma: %d\n", ret);
	return ret;
}
device_initcall(mv_dma_init);
