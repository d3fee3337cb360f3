// SPDX-License-Identifier: GPL-2.0
/*
 * VTL2 paravisor driver for our Linux 6.1 VTL2 kernel, with the user API of
 * upstream mshv_vtl (Linux 6.19, include/uapi/linux/mshv.h): /dev/mshv,
 * the VTL fd, /dev/mshv_vtl_low, /dev/mshv_hvcall and /dev/mshv_sint.
 *
 * The kernel has no CONFIG_HYPERV: this driver talks to the hypervisor only
 * through the Hyper-V hypercall page and the synthetic MSRs, so it works the
 * same on Hyper-V and on hcl-loader (KVM). See README.md in this folder for
 * the contract with the loader and with hcl.
 */
#define pr_fmt(fmt) "mshv_vtl: " fmt

#include <linux/anon_inodes.h>
#include <linux/build_bug.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmalloc.h>

#include <asm/apic.h>
#include <asm/asm.h>
#include <asm/cpufeature.h>
#include <asm/e820/api.h>
#include <asm/extable_fixup_types.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <asm/hpet.h>
#include <asm/hw_irq.h>
#include <asm/io_apic.h>
#include <asm/irqdomain.h>
#include <asm/msr.h>
#include <asm/processor.h>

#include "uapi/mshv.h"

/* ------------------------------------------------------------ Hyper-V ABI */

/* Synthetic MSRs (TLFS; hyperv-vmbus.md 1.2). */
#define MV_MSR_GUEST_OS_ID	0x40000000
#define MV_MSR_HYPERCALL	0x40000001
#define MV_MSR_APIC_TPR		0x40000072
#define MV_MSR_VP_ASSIST_PAGE	0x40000073
#define MV_MSR_SCONTROL		0x40000080
#define MV_MSR_SIEFP		0x40000082
#define MV_MSR_SIMP		0x40000083
#define MV_MSR_EOM		0x40000084
#define MV_MSR_SINT0		0x40000090
/*
 * The SINT VTL0's event-port signals arrive on (hyperv-vmbus.md 3.5: the
 * VTL2 VMBus SINT of OpenVMM and of upstream mshv_vtl, VTL2_VMBUS_SINT_INDEX):
 * hcl creates its event ports with this target SINT.
 */
#define MV_VMBUS_SINT		7
#define MV_MSR_VMBUS_SINT	(MV_MSR_SINT0 + MV_VMBUS_SINT)

#define MV_MSR_ENABLE		BIT_ULL(0)
#define MV_SINT_MASKED		BIT_ULL(16)
#define MV_SINT_POLLING		BIT_ULL(18)

/* Linux's guest OS ID: vendor 0x8100, then the kernel version. */
#define MV_GUEST_OS_ID		((0x8100ULL << 48) | ((u64)LINUX_VERSION_CODE << 16))

/* CPUID. */
#define MV_CPUID_VENDOR		0x40000000
#define MV_CPUID_FEATURES	0x40000003
#define MV_CPUID_HINTS		0x40000004
#define MV_CPUID_HINT_APIC_MSRS		BIT(3)	/* EAX: use the APIC MSRs (0x40000070-72) */
#define MV_CPUID_B_ACCESS_VSM		BIT(16)
#define MV_CPUID_B_ACCESS_VP_REGS	BIT(17)

/* Hypercall input value and result (hyperv-vmbus.md 2). */
#define MV_HVCALL_FAST		BIT_ULL(16)
#define MV_HVCALL_REP_SHIFT	32
#define MV_HV_STATUS(r)		((u16)((r) & 0xFFFF))
#define MV_HV_REPS_DONE(r)	((u32)(((r) >> 32) & 0xFFF))

#define MV_HVCALL_GET_VP_REGISTERS	0x0050
#define MV_HVCALL_SET_VP_REGISTERS	0x0051
#define MV_HVCALL_POST_MESSAGE		0x005C
#define MV_HVCALL_SIGNAL_EVENT		0x005D

#define MV_HV_STATUS_SUCCESS			0x00
#define MV_HV_STATUS_INSUFFICIENT_BUFFERS	0x13

#define MV_PARTITION_SELF	(~0ULL)
#define MV_VP_SELF		0xFFFFFFFEu
#define MV_INPUT_VTL_OWN	0x00
#define MV_INPUT_VTL0		0x10	/* bit 4: use target VTL; target 0 */

#define MV_REG_VSM_CODE_PAGE_OFFSETS	0x000D0002
#define MV_REG_REGISTER_PAGE		0x0009001C	/* overlay: bit 0 enable, GPN << 12 */
#define MV_REG_VSM_PARTITION_CONFIG	0x000D0007
#define MV_REG_VSM_CAPABILITIES		0x000D0006
/* VsmPartitionConfig: enable_vtl_protection, default protection RWX (4 bits). */
#define MV_VSM_PARTITION_CONFIG	(BIT_ULL(0) | (0xFULL << 1))
/*
 * VsmCapabilities bit 27 (intercept_page_available) lets us set
 * VsmPartitionConfig bit 12 (intercept_page): intercepts then arrive in the
 * VP assist page with entry reason 3, with no SINT0 message to copy, free
 * and EOM (hyperv-vmbus.md 3.3).
 */
#define MV_VSM_CAP_INTERCEPT_PAGE	BIT_ULL(27)
#define MV_VSM_CONFIG_INTERCEPT_PAGE	BIT_ULL(12)

/* VTL entry reasons (VP assist page, control area). */
#define MV_ENTRY_REASON_VTL_CALL	1
#define MV_ENTRY_REASON_INTERRUPT	2
#define MV_ENTRY_REASON_INTERCEPT	3

#define MV_MESSAGE_SIZE		256
#define MV_MESSAGE_PAYLOAD	240
#define MV_MESSAGE_FLAG_PENDING	BIT(0)
#define MV_EVENT_FLAGS_COUNT	2048
/* One SINT's area in the SIEF page: 256 bytes, 2048 flags (TLFS "SynIC Event Flags"). */
#define MV_EVENT_FLAGS_WORDS	(MV_EVENT_FLAGS_COUNT / BITS_PER_LONG)

/* Get/SetVpRegisters input header (16 bytes). */
struct mv_vp_regs_header {
	u64 partition_id;
	u32 vp_index;
	u8 input_vtl;
	u8 rsvd[3];
} __packed;

/* HvMessage (one SIMP slot). */
struct mv_hv_message {
	u32 type;
	u8 payload_size;
	u8 flags;
	u16 rsvd;
	u64 sender;
	u8 payload[MV_MESSAGE_PAYLOAD];
} __packed;

/* HvCallPostMessage input. */
struct mv_post_message_input {
	u32 connection_id;
	u32 rsvd;
	u32 message_type;
	u32 payload_size;
	u8 payload[MV_MESSAGE_PAYLOAD];
} __packed;

/* The start of the VP assist page: the VTL control area and the intercept message. */
struct mv_vp_assist {
	u32 apic_assist;
	u32 rsvd0;
	u32 vtl_entry_reason;		/* @8 */
	u8 vina_status;			/* @12 */
	u8 rsvd1[3];
	u64 vtl_return_rax;		/* @16 */
	u64 vtl_return_rcx;		/* @24 */
	u8 rsvd2[112 - 32];
	u8 intercept_message[MV_MESSAGE_SIZE];	/* @112 */
} __packed;

static_assert(sizeof(struct mv_vp_regs_header) == 16);
static_assert(sizeof(struct mv_hv_message) == MV_MESSAGE_SIZE);
static_assert(offsetof(struct mv_hv_message, payload) == 16);
static_assert(sizeof(struct mv_post_message_input) == 256);
static_assert(offsetof(struct mv_vp_assist, vtl_entry_reason) == 8);
static_assert(offsetof(struct mv_vp_assist, vina_status) == 12);
static_assert(offsetof(struct mv_vp_assist, vtl_return_rax) == 16);
static_assert(offsetof(struct mv_vp_assist, vtl_return_rcx) == 24);
static_assert(offsetof(struct mv_vp_assist, intercept_message) == 112);
static_assert(sizeof(struct mv_vp_assist) <= PAGE_SIZE);
static_assert(MSHV_MAX_RUN_MSG_SIZE == MV_MESSAGE_SIZE);
/* Hypercall input/output fit their page for the largest register request. */
static_assert(sizeof(struct mv_vp_regs_header) +
	      MSHV_VTL_MAX_REGISTERS * sizeof(struct hv_register_assoc) <= PAGE_SIZE);
/* mshv_vtl_switch.S uses these indexes (offset = 8 * index). */
static_assert(MSHV_VTL_GP_RAX == 0 && MSHV_VTL_GP_RCX == 1 && MSHV_VTL_GP_RDX == 2 &&
	      MSHV_VTL_GP_RBX == 3 && MSHV_VTL_GP_CR2 == 4 && MSHV_VTL_GP_RBP == 5 &&
	      MSHV_VTL_GP_RSI == 6 && MSHV_VTL_GP_RDI == 7 && MSHV_VTL_GP_R8 == 8 &&
	      MSHV_VTL_GP_R15 == 15);
static_assert(offsetof(struct mshv_vtl_cpu_context, gp_regs) == 0);
static_assert(sizeof(struct mshv_vtl_run) <= PAGE_SIZE);

/* ------------------------------------------------------------ state */

/*
 * VTL0's registers for one switch: the driver's own copy of the run page's
 * cpu_context. The run page is mapped into user space, so any thread of its
 * owner can rewrite it at any moment (security review finding 7). The
 * driver copies it here once, sanitises the copy, runs VTL0 from the copy
 * only, and copies the result back.
 */
struct mv_cpu_context {
	u64 gp_regs[MSHV_VTL_GP_COUNT];
	struct fxregs_state fx;		/* 16-byte aligned: FXRSTOR #GPs otherwise */
};
static_assert(sizeof(struct mv_cpu_context) == sizeof(struct mshv_vtl_cpu_context));
static_assert(offsetof(struct mv_cpu_context, gp_regs) ==
	      offsetof(struct mshv_vtl_cpu_context, gp_regs));
static_assert(offsetof(struct mv_cpu_context, fx) ==
	      offsetof(struct mshv_vtl_cpu_context, fx_state));
static_assert(sizeof(struct fxregs_state) == sizeof_field(struct mshv_vtl_cpu_context, fx_state));

/*
 * Per CPU: hypercall input/output pages, the SynIC/VP assist pages, VTL0's
 * registers, and the interrupt SINT7 raises on this CPU (sint_irq, with its
 * vector; 0 if none could be had, and SINT7 then stays masked here).
 */
struct mv_cpu {
	void *input;
	void *output;
	struct mv_vp_assist *vp_assist;
	void *simp;
	void *siefp;
	struct mv_cpu_context *ctx;	/* a page: used with interrupts off only */
	void *reg_page;			/* the register page (uapi/mshv.h) */
	bool reg_page_on;		/* the hypervisor took reg_page */
	unsigned int sint_irq;
	u8 sint_vector;
};
static DEFINE_PER_CPU(struct mv_cpu, mv_cpus);

static void *mv_hypercall_pg __ro_after_init;
/* Some CPU's register page was taken (MSHV_CAP_REGISTER_PAGE). */
static bool mv_has_reg_page;
/* Used by mshv_vtl_switch.S: call *mshv_vtl_hcl_return_entry(%rip). */
void *mshv_vtl_hcl_return_entry __ro_after_init;
static void *mv_vtl_call_entry __ro_after_init;

void mshv_vtl_hcl_switch(struct mv_cpu_context *ctx);

/* From arch/x86/kernel/fpu/init.c (exported; its header is internal). */
extern unsigned int mxcsr_feature_mask;

/*
 * VTL0 RAM ranges one VTL takes. hcl's Options::kMaxVtl0RamRanges
 * (hcl/cmdline.h) and the boot shim's kMaxVtl0RamRanges
 * (bootloader/command_line.h) are the same number, so a hcl.vtl0_ram list
 * the shim passes and hcl parses fits here (bootloader/test-vtl0-range-caps).
 */
#define MV_MAX_VTL0_RANGES 16

struct mv_range {
	u64 start_pfn;
	u64 end_pfn;	/* exclusive */
};

/* The one VTL (MSHV_CREATE_VTL), guarded by mv_vtl_lock. */
struct mv_vtl {
	struct page **run_pages;	/* nr_cpu_ids entries, one per possible CPU */
	struct mv_range ranges[MV_MAX_VTL0_RANGES];
	unsigned int nr_ranges;
};
static DEFINE_MUTEX(mv_vtl_lock);
static struct mv_vtl *mv_the_vtl;

/*
 * MSHV_SINT_SET_EVENTFD: the eventfd signalled when SINT7's event flag n is
 * found set. Written under mv_flag_lock, read under RCU by the interrupt
 * handler; an old context is put after a grace period.
 */
static struct eventfd_ctx __rcu *mv_flag_eventfds[MV_EVENT_FLAGS_COUNT];
static DEFINE_MUTEX(mv_flag_lock);

/* ------------------------------------------------------------ hypercalls */

/*
 * Calls the hypercall page like Linux's hv_do_hypercall: RCX = control,
 * RDX = input (GPA, or data for fast calls), R8 = output (GPA, or data);
 * the result is in RAX; R9-R11 and the flags are clobbered.
 */
static u64 mv_hypercall(u64 control, u64 input, u64 output)
{
	register u64 r8 asm("r8") = output;
	u64 result;

	asm volatile("call *%[page]"
		     : "=a" (result), ASM_CALL_CONSTRAINT,
		       "+c" (control), "+d" (input), "+r" (r8)
		     : [page] "m" (mv_hypercall_pg)
		     : "cc", "memory", "r9", "r10", "r11");
	return result;
}

static int mv_status_to_errno(u64 result)
{
	switch (MV_HV_STATUS(result)) {
	case MV_HV_STATUS_SUCCESS:
		return 0;
	case MV_HV_STATUS_INSUFFICIENT_BUFFERS:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/*
 * HvCallGetVpRegisters / HvCallSetVpRegisters for `count` registers of the
 * VTL named by input_vtl, on this VP. For a get, the values land in
 * regs[i].value. Uses this CPU's hypercall pages with preemption disabled.
 */
static int mv_vp_registers(bool set, u8 input_vtl, struct hv_register_assoc *regs, u32 count)
{
	struct mv_vp_regs_header *hdr;
	struct mv_cpu *c;
	u64 control, result;
	u32 i;
	int ret = 0;

	if (count == 0 || count > MSHV_VTL_MAX_REGISTERS)
		return -EINVAL;

	c = get_cpu_ptr(&mv_cpus);
	if (!c->input || !c->output) {
		put_cpu_ptr(&mv_cpus);
		return -ENODEV;
	}
	hdr = c->input;
	memset(hdr, 0, PAGE_SIZE);
	hdr->partition_id = MV_PARTITION_SELF;
	hdr->vp_index = MV_VP_SELF;
	hdr->input_vtl = input_vtl;
	if (set) {
		struct hv_register_assoc *e = (struct hv_register_assoc *)(hdr + 1);

		for (i = 0; i < count; i++) {
			e[i].name = regs[i].name;
			e[i].value = regs[i].value;
		}
		control = MV_HVCALL_SET_VP_REGISTERS;
	} else {
		u32 *names = (u32 *)(hdr + 1);

		for (i = 0; i < count; i++)
			names[i] = regs[i].name;
		memset(c->output, 0, count * sizeof(union hv_register_value));
		control = MV_HVCALL_GET_VP_REGISTERS;
	}
	control |= (u64)count << MV_HVCALL_REP_SHIFT;

	result = mv_hypercall(control, virt_to_phys(c->input), set ? 0 : virt_to_phys(c->output));

	if (MV_HV_STATUS(result) != MV_HV_STATUS_SUCCESS || MV_HV_REPS_DONE(result) != count) {
		ret = -EIO;
	} else if (!set) {
		const union hv_register_value *v = c->output;

		for (i = 0; i < count; i++)
			regs[i].value = v[i];
	}
	put_cpu_ptr(&mv_cpus);

	if (ret)
		pr_err_ratelimited("%s %u register(s) (first 0x%x, input VTL 0x%x): status 0x%x, %u done\n",
				   set ? "SetVpRegisters" : "GetVpRegisters", count, regs[0].name,
				   input_vtl, MV_HV_STATUS(result), MV_HV_REPS_DONE(result));
	return ret;
}

/* ------------------------------------------------------------ per CPU */

static void *mv_page_once(void **slot)
{
	if (!*slot)
		*slot = (void *)get_zeroed_page(GFP_KERNEL);
	return *slot;
}

/*
 * The register page: VTL2's own register HvX64RegisterRegPage (input VTL:
 * the caller's). A hypervisor without it refuses, and hcl completes
 * intercepts with SetVpRegisters instead. Registered once; it stays.
 */
static void mv_register_reg_page(struct mv_cpu *c)
{
	struct hv_register_assoc reg = { .name = MV_REG_REGISTER_PAGE };

	if (c->reg_page_on || !mv_page_once(&c->reg_page))
		return;
	reg.value.reg64 = virt_to_phys(c->reg_page) | MV_MSR_ENABLE;
	if (mv_vp_registers(true, MV_INPUT_VTL_OWN, &reg, 1)) {
		pr_info_once("no register page: intercepts are completed by SetVpRegisters\n");
		return;
	}
	c->reg_page_on = true;
	WRITE_ONCE(mv_has_reg_page, true);
}

/* cpuhp online callback: runs on `cpu`. Pages stay allocated when the CPU goes offline. */
static int mv_cpu_online(unsigned int cpu)
{
	struct mv_cpu *c = per_cpu_ptr(&mv_cpus, cpu);

	if (!mv_page_once(&c->input) || !mv_page_once(&c->output) ||
	    !mv_page_once((void **)&c->vp_assist) || !mv_page_once(&c->simp) ||
	    !mv_page_once(&c->siefp) || !mv_page_once((void **)&c->ctx))
		return -ENOMEM;

	wrmsrl(MV_MSR_VP_ASSIST_PAGE, virt_to_phys(c->vp_assist) | MV_MSR_ENABLE);
	wrmsrl(MV_MSR_SIMP, virt_to_phys(c->simp) | MV_MSR_ENABLE);
	wrmsrl(MV_MSR_SIEFP, virt_to_phys(c->siefp) | MV_MSR_ENABLE);
	/* SINT0: vector 0, unmasked, polling (no interrupt; the VTL return reports it). */
	wrmsrl(MV_MSR_SINT0, MV_SINT_POLLING);
	/*
	 * SINT7: this CPU's interrupt vector, unmasked, no auto-EOI (the
	 * LAPIC EOI comes from the irq flow). Without a vector it stays masked.
	 */
	wrmsrl(MV_MSR_VMBUS_SINT, c->sint_vector ? c->sint_vector : MV_SINT_MASKED);
	wrmsrl(MV_MSR_SCONTROL, MV_MSR_ENABLE);
	mv_register_reg_page(c);
	return 0;
}

static int mv_cpu_offline(unsigned int cpu)
{
	wrmsrl(MV_MSR_VMBUS_SINT, MV_SINT_MASKED);
	wrmsrl(MV_MSR_SINT0, MV_SINT_MASKED);
	wrmsrl(MV_MSR_SCONTROL, 0);
	wrmsrl(MV_MSR_SIEFP, 0);
	wrmsrl(MV_MSR_SIMP, 0);
	wrmsrl(MV_MSR_VP_ASSIST_PAGE, 0);
	return 0;
}

/* ------------------------------------------------------------ VTL fd */

/*
 * FXRSTOR with the kernel's FPU-restore fixup: fxrstor() of
 * arch/x86/kernel/fpu/legacy.h, a header private to the FPU code. Should the
 * image still fault, ex_handler_fprestore() warns once and loads the init
 * FPU state instead of oopsing with interrupts off.
 */
static inline void mv_fxrstor(struct fxregs_state *fx)
{
	asm volatile("1: fxrstorq %[fx]\n\t"
		     "2:\n"
		     _ASM_EXTABLE_TYPE(1b, 2b, EX_TYPE_FPU_RESTORE)
		     : "=m" (*fx) : [fx] "m" (*fx));
}

/* fxsave() of the same header: a store to our own memory cannot fault. */
static inline void mv_fxsave(struct fxregs_state *fx)
{
	asm volatile("fxsaveq %[fx]" : [fx] "=m" (*fx));
}

static long mv_return_to_lower_vtl(struct mv_vtl *vtl)
{
	for (;;) {
		struct mshv_vtl_run *run;
		struct mv_vp_assist *assist;
		struct mv_cpu_context *ctx;
		struct mv_hv_message *msg;
		struct mv_cpu *c;
		u32 reason;

		cond_resched();
		if (signal_pending(current))
			return -EINTR;

		preempt_disable();
		run = page_address(vtl->run_pages[smp_processor_id()]);
		if (READ_ONCE(run->cancel)) {
			WRITE_ONCE(run->cancel, 0);
			preempt_enable();
			return -EINTR;
		}
		c = this_cpu_ptr(&mv_cpus);
		assist = c->vp_assist;
		ctx = c->ctx;
		if (!assist || !ctx) {
			preempt_enable();
			return -ENODEV;
		}
		local_irq_disable();

		/*
		 * Copy, sanitise, use: from here on only the copy is read. A
		 * reserved MXCSR bit would make FXRSTOR #GP.
		 */
		memcpy(ctx, &run->cpu_context, sizeof(*ctx));
		ctx->fx.mxcsr &= mxcsr_feature_mask;
		assist->vtl_return_rax = ctx->gp_regs[MSHV_VTL_GP_RAX];
		assist->vtl_return_rcx = ctx->gp_regs[MSHV_VTL_GP_RCX];

		kernel_fpu_begin_mask(0);
		mv_fxrstor(&ctx->fx);
		mshv_vtl_hcl_switch(ctx);
		mv_fxsave(&ctx->fx);
		kernel_fpu_end();
		memcpy(&run->cpu_context, ctx, sizeof(*ctx));

		reason = READ_ONCE(assist->vtl_entry_reason);
		switch (reason) {
		case MV_ENTRY_REASON_INTERRUPT:
			msg = c->simp;	/* slot 0 = SINT0 */
			if (READ_ONCE(msg->type) != 0) {
				memcpy(run->exit_message, msg, MV_MESSAGE_SIZE);
				WRITE_ONCE(msg->type, 0);
				mb();
				if (READ_ONCE(msg->flags) & MV_MESSAGE_FLAG_PENDING)
					wrmsrl(MV_MSR_EOM, 0);
				local_irq_enable();
				preempt_enable();
				return 0;
			}
			/* An interrupt for VTL2 itself: take it now, then go back. */
			local_irq_enable();
			preempt_enable();
			continue;
		case MV_ENTRY_REASON_INTERCEPT:
			memcpy(run->exit_message, assist->intercept_message, MV_MESSAGE_SIZE);
			local_irq_enable();
			preempt_enable();
			return 0;
		case MV_ENTRY_REASON_VTL_CALL:
			/* Nothing to deliver for a VTL call yet. */
			local_irq_enable();
			preempt_enable();
			continue;
		default:
			local_irq_enable();
			preempt_enable();
			pr_err_ratelimited("unexpected VTL entry reason %u\n", reason);
			return -EIO;
		}
	}
}

static long mv_ioctl_vp_registers(void __user *uarg, bool set)
{
	struct mshv_vp_registers args;
	struct hv_register_assoc *regs;
	void __user *uregs;
	size_t size;
	long ret;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	if (args.count == 0 || args.count > MSHV_VTL_MAX_REGISTERS)
		return -EINVAL;
	size = args.count * sizeof(*regs);
	uregs = u64_to_user_ptr(args.regs_ptr);
	regs = memdup_user(uregs, size);
	if (IS_ERR(regs))
		return PTR_ERR(regs);

	ret = mv_vp_registers(set, MV_INPUT_VTL0, regs, args.count);
	if (!ret && !set && copy_to_user(uregs, regs, size))
		ret = -EFAULT;
	kfree(regs);
	return ret;
}

/*
 * MMIO of the PC platform that is never VTL0 RAM, whatever the host says:
 * the legacy VGA/ROM hole (VTL0's e820 has no RAM there either), and the
 * chipset window below 4 GiB from the I/O APICs (0xFEC00000) through HPET,
 * the local APICs and MSI window (0xFEE00000) to the firmware ROM.
 */
static const struct mv_range mv_fixed_mmio[] = {
	{ PHYS_PFN(0xA0000), PHYS_PFN(0x100000) },
	{ PHYS_PFN(0xFEC00000), PHYS_PFN(0x100000000ULL) },
};

static bool mv_ranges_overlap(u64 a_start, u64 a_end, u64 b_start, u64 b_end)
{
	return a_start < b_end && b_start < a_end;
}

static int mv_ram_hit(unsigned long pfn, unsigned long nr_pages, void *arg)
{
	return 1;
}

static int mv_refuse(u64 start_pfn, u64 end_pfn, const char *why)
{
	pr_warn_ratelimited("VTL0 memory [%#llx-%#llx) refused: %s\n",
			    PFN_PHYS(start_pfn), PFN_PHYS(end_pfn), why);
	return -EINVAL;
}

/*
 * Whether [start_pfn, end_pfn) may be VTL0 RAM, i.e. nothing of ours and no
 * MMIO (security review finding 8). The range is the host's word
 * (hcl.vtl0_ram), hostile on SNP/TDX. Refused:
 * - anything in this kernel's e820 maps, the firmware one (the boot shim's:
 *   our RAM with our ACPI tables and reserved parameter pages cut out of
 *   it, i.e. all of VTL2's ranges) or the current one;
 * - System RAM (the resource tree: RAM added after boot);
 * - the PC's fixed MMIO, our local APIC's page wherever it was moved, and
 *   each I/O APIC and the HPET where our ACPI tables put them.
 * The resource tree as a whole cannot be the test: with PCI found,
 * e820__reserve_resources_late() pads our RAM to a 64 MiB boundary with
 * nameless-to-walkers "RAM buffer" entries, which past our RAM cover VTL0's.
 */
static int mv_vtl0_range_check(u64 start_pfn, u64 end_pfn)
{
	u64 start = PFN_PHYS(start_pfn), end = PFN_PHYS(end_pfn);
	u64 apic_base, pfn;
	int i;

	if (e820__mapped_raw_any(start, end, 0) || e820__mapped_any(start, end, 0))
		return mv_refuse(start_pfn, end_pfn, "in VTL2's e820 map");
	if (walk_system_ram_range(start_pfn, end_pfn - start_pfn, NULL, mv_ram_hit) == 1)
		return mv_refuse(start_pfn, end_pfn, "VTL2 System RAM");
	for (i = 0; i < ARRAY_SIZE(mv_fixed_mmio); i++)
		if (mv_ranges_overlap(start_pfn, end_pfn, mv_fixed_mmio[i].start_pfn,
				      mv_fixed_mmio[i].end_pfn))
			return mv_refuse(start_pfn, end_pfn, "platform MMIO");
	if (!rdmsrl_safe(MSR_IA32_APICBASE, &apic_base)) {
		pfn = PHYS_PFN(apic_base & MSR_IA32_APICBASE_BASE);
		if (mv_ranges_overlap(start_pfn, end_pfn, pfn, pfn + 1))
			return mv_refuse(start_pfn, end_pfn, "the local APIC");
	}
#ifdef CONFIG_X86_IO_APIC
	for (i = 0; i < nr_ioapics; i++) {
		pfn = PHYS_PFN(mpc_ioapic_addr(i));
		if (mv_ranges_overlap(start_pfn, end_pfn, pfn, pfn + 1))
			return mv_refuse(start_pfn, end_pfn, "an I/O APIC");
	}
#endif
#ifdef CONFIG_HPET_TIMER
	if (hpet_address) {
		pfn = PHYS_PFN(hpet_address);
		if (mv_ranges_overlap(start_pfn, end_pfn, pfn, pfn + 1))
			return mv_refuse(start_pfn, end_pfn, "the HPET");
	}
#endif
	return 0;
}

static long mv_ioctl_add_vtl0_memory(struct mv_vtl *vtl, void __user *uarg)
{
	struct mshv_vtl_ram_disposition d;
	u64 limit_pfn = 1ULL << (boot_cpu_data.x86_phys_bits - PAGE_SHIFT);
	unsigned int i;
	long ret;

	if (copy_from_user(&d, uarg, sizeof(d)))
		return -EFAULT;
	if (d.start_pfn >= d.last_pfn || d.last_pfn > limit_pfn)
		return -EINVAL;
	ret = mv_vtl0_range_check(d.start_pfn, d.last_pfn);
	if (ret)
		return ret;

	mutex_lock(&mv_vtl_lock);
	for (i = 0; i < vtl->nr_ranges; i++) {
		if (mv_ranges_overlap(d.start_pfn, d.last_pfn, vtl->ranges[i].start_pfn,
				      vtl->ranges[i].end_pfn)) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (vtl->nr_ranges >= MV_MAX_VTL0_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	vtl->ranges[vtl->nr_ranges].start_pfn = d.start_pfn;
	vtl->ranges[vtl->nr_ranges].end_pfn = d.last_pfn;
	vtl->nr_ranges++;
out:
	mutex_unlock(&mv_vtl_lock);
	return ret;
}

static long mv_vtl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mv_vtl *vtl = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case MSHV_RETURN_TO_LOWER_VTL:
		return mv_return_to_lower_vtl(vtl);
	case MSHV_GET_VP_REGISTERS:
		return mv_ioctl_vp_registers(uarg, false);
	case MSHV_SET_VP_REGISTERS:
		return mv_ioctl_vp_registers(uarg, true);
	case MSHV_ADD_VTL0_MEMORY:
		return mv_ioctl_add_vtl0_memory(vtl, uarg);
	case MSHV_SET_POLL_FILE:
		return -EOPNOTSUPP;
	default:
		return -ENOTTY;
	}
}

/* Page offset: bits 0-15 = CPU, the bits above the kind (uapi/mshv.h). */
static int mv_vtl_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mv_vtl *vtl = file->private_data;
	unsigned long cpu = vma->vm_pgoff & 0xFFFF;
	unsigned long kind = vma->vm_pgoff >> MSHV_REAL_OFF_SHIFT;
	struct mv_cpu *c;

	if (vma_pages(vma) != 1 || !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (cpu >= nr_cpu_ids || !cpu_possible(cpu))
		return -EINVAL;
	switch (kind) {
	case MSHV_RUN_PAGE_OFFSET:
		if (!vtl->run_pages[cpu])
			return -EINVAL;
		return vm_insert_page(vma, vma->vm_start, vtl->run_pages[cpu]);
	case MSHV_REG_PAGE_OFFSET:
		c = per_cpu_ptr(&mv_cpus, cpu);
		if (!READ_ONCE(c->reg_page_on))
			return -ENODEV;
		return vm_insert_page(vma, vma->vm_start, virt_to_page(c->reg_page));
	default:
		return -EINVAL;
	}
}

static void mv_vtl_free(struct mv_vtl *vtl)
{
	unsigned int cpu;

	if (vtl->run_pages) {
		for (cpu = 0; cpu < nr_cpu_ids; cpu++)
			if (vtl->run_pages[cpu])
				__free_page(vtl->run_pages[cpu]);
		kfree(vtl->run_pages);
	}
	kfree(vtl);
}

static int mv_vtl_release(struct inode *inode, struct file *file)
{
	struct mv_vtl *vtl = file->private_data;

	mutex_lock(&mv_vtl_lock);
	if (mv_the_vtl == vtl)
		mv_the_vtl = NULL;
	mutex_unlock(&mv_vtl_lock);
	mv_vtl_free(vtl);
	return 0;
}

static const struct file_operations mv_vtl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mv_vtl_ioctl,
	.mmap = mv_vtl_mmap,
	.release = mv_vtl_release,
	.llseek = noop_llseek,
};

/* ------------------------------------------------------------ /dev/mshv */

static long mv_create_vtl(void)
{
	struct mv_vtl *vtl;
	unsigned int cpu;
	int fd;

	vtl = kzalloc(sizeof(*vtl), GFP_KERNEL);
	if (!vtl)
		return -ENOMEM;
	vtl->run_pages = kcalloc(nr_cpu_ids, sizeof(*vtl->run_pages), GFP_KERNEL);
	if (!vtl->run_pages)
		goto nomem;
	for_each_possible_cpu(cpu) {
		vtl->run_pages[cpu] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!vtl->run_pages[cpu])
			goto nomem;
	}

	mutex_lock(&mv_vtl_lock);
	if (mv_the_vtl) {
		mutex_unlock(&mv_vtl_lock);
		mv_vtl_free(vtl);
		return -EBUSY;
	}
	fd = anon_inode_getfd("mshv_vtl", &mv_vtl_fops, vtl, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		mv_the_vtl = vtl;
	mutex_unlock(&mv_vtl_lock);
	if (fd < 0)
		mv_vtl_free(vtl);
	return fd;

nomem:
	mv_vtl_free(vtl);
	return -ENOMEM;
}

static long mv_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	u32 cap;

	switch (cmd) {
	case MSHV_CHECK_EXTENSION:
		if (copy_from_user(&cap, (void __user *)arg, sizeof(cap)))
			return -EFAULT;
		/* The register page; no VTL return actions, no shared DR6. */
		return cap == MSHV_CAP_REGISTER_PAGE ? READ_ONCE(mv_has_reg_page) : 0;
	case MSHV_CREATE_VTL:
		return mv_create_vtl();
	default:
		return -ENOTTY;
	}
}

static const struct file_operations mv_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mv_dev_ioctl,
	.llseek = noop_llseek,
};

/* ------------------------------------------------------------ /dev/mshv_vtl_low */

static bool mv_vtl0_range_allowed(u64 start_pfn, u64 end_pfn)
{
	bool ok = false;
	unsigned int i;

	mutex_lock(&mv_vtl_lock);
	if (mv_the_vtl) {
		for (i = 0; i < mv_the_vtl->nr_ranges && !ok; i++)
			ok = start_pfn >= mv_the_vtl->ranges[i].start_pfn &&
			     end_pfn <= mv_the_vtl->ranges[i].end_pfn;
	}
	mutex_unlock(&mv_vtl_lock);
	return ok;
}

/* The file offset is the guest physical address of VTL0 memory. */
static int mv_low_mmap(struct file *file, struct vm_area_struct *vma)
{
	u64 start = vma->vm_pgoff, end;

	if (check_add_overflow(start, (u64)vma_pages(vma), &end))
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (!mv_vtl0_range_allowed(start, end))
		return -EINVAL;
	/*
	 * VTL0 RAM is ordinary memory: map it write-back. These PFNs are not in
	 * this kernel's memory map, so clear every cache-mode bit explicitly
	 * instead of taking a device-style default.
	 */
	vma->vm_page_prot = __pgprot(pgprot_val(vma->vm_page_prot) & ~_PAGE_CACHE_MASK);
	return remap_pfn_range(vma, vma->vm_start, start, vma->vm_end - vma->vm_start,
			       vma->vm_page_prot);
}

static const struct file_operations mv_low_fops = {
	.owner = THIS_MODULE,
	.mmap = mv_low_mmap,
	.llseek = noop_llseek,
};

/* ------------------------------------------------------------ /dev/mshv_hvcall */

#define MV_HVCALL_BITMAP_MAX_BYTES 512

struct mv_hvcall_file {
	struct mutex lock;	/* serialises MSHV_HVCALL_SETUP */
	bool ready;		/* set (release) once the bitmap is in place */
	unsigned long allow[MV_HVCALL_BITMAP_MAX_BYTES / sizeof(unsigned long)];
};

static int mv_hvcall_open(struct inode *inode, struct file *file)
{
	struct mv_hvcall_file *h = kzalloc(sizeof(*h), GFP_KERNEL);

	if (!h)
		return -ENOMEM;
	mutex_init(&h->lock);
	file->private_data = h;
	return 0;
}

static int mv_hvcall_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static long mv_hvcall_setup(struct mv_hvcall_file *h, void __user *uarg)
{
	struct mshv_vtl_hvcall_setup s;
	long ret = 0;

	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	if (s.bitmap_array_size > MV_HVCALL_BITMAP_MAX_BYTES)
		return -EINVAL;

	mutex_lock(&h->lock);
	if (h->ready)
		ret = -EBUSY;
	else if (copy_from_user(h->allow, u64_to_user_ptr(s.allow_bitmap_ptr), s.bitmap_array_size))
		ret = -EFAULT;
	if (ret == -EFAULT)
		memset(h->allow, 0, sizeof(h->allow));
	else if (!ret)
		smp_store_release(&h->ready, true);
	mutex_unlock(&h->lock);
	return ret;
}

static long mv_hvcall(struct mv_hvcall_file *h, struct mshv_vtl_hvcall __user *uarg)
{
	struct mshv_vtl_hvcall hc;
	unsigned int code;
	struct mv_cpu *c;
	u64 result;
	void *buf;

	if (copy_from_user(&hc, uarg, sizeof(hc)))
		return -EFAULT;
	code = hc.control & 0xFFFF;
	if (!smp_load_acquire(&h->ready) || code >= MV_HVCALL_BITMAP_MAX_BYTES * 8 ||
	    !test_bit(code, h->allow))
		return -EPERM;
	if (hc.input_size > PAGE_SIZE || hc.output_size > PAGE_SIZE)
		return -EINVAL;

	if (hc.control & MV_HVCALL_FAST) {
		u64 in[2] = { 0, 0 };

		/* Fast: up to 16 input bytes in RDX and R8; no output area. */
		if (hc.input_size > sizeof(in) || hc.output_size != 0)
			return -EINVAL;
		if (copy_from_user(in, u64_to_user_ptr(hc.input_ptr), hc.input_size))
			return -EFAULT;
		result = mv_hypercall(hc.control, in[0], in[1]);
	} else {
		buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
		if (!buf)
			return -ENOMEM;
		if (copy_from_user(buf, u64_to_user_ptr(hc.input_ptr), hc.input_size)) {
			kfree(buf);
			return -EFAULT;
		}
		c = get_cpu_ptr(&mv_cpus);
		if (!c->input || !c->output) {
			put_cpu_ptr(&mv_cpus);
			kfree(buf);
			return -ENODEV;
		}
		memcpy(c->input, buf, PAGE_SIZE);	/* the caller's input, zero beyond it */
		memset(c->output, 0, PAGE_SIZE);
		result = mv_hypercall(hc.control, virt_to_phys(c->input), virt_to_phys(c->output));
		memcpy(buf, c->output, hc.output_size);
		put_cpu_ptr(&mv_cpus);

		if (copy_to_user(u64_to_user_ptr(hc.output_ptr), buf, hc.output_size)) {
			kfree(buf);
			return -EFAULT;
		}
		kfree(buf);
	}

	if (put_user(result, &uarg->status))
		return -EFAULT;
	return 0;
}

static long mv_hvcall_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mv_hvcall_file *h = file->private_data;

	switch (cmd) {
	case MSHV_HVCALL_SETUP:
		return mv_hvcall_setup(h, (void __user *)arg);
	case MSHV_HVCALL:
		return mv_hvcall(h, (struct mshv_vtl_hvcall __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations mv_hvcall_fops = {
	.owner = THIS_MODULE,
	.open = mv_hvcall_open,
	.release = mv_hvcall_release,
	.unlocked_ioctl = mv_hvcall_ioctl,
	.llseek = noop_llseek,
};

/* ------------------------------------------------------------ SINT7 events */

/*
 * SINT7's interrupt on this CPU: takes every set flag of this CPU's SINT7
 * area of the SIEF page (one atomic exchange per word, so a flag the
 * hypervisor sets meanwhile is seen now or raises the vector again) and
 * signals the eventfd registered for each flag. Flags without one are
 * dropped: hcl registers its eventfd before it connects the port.
 */
static irqreturn_t mv_sint_isr(int irq, void *data)
{
	struct mv_cpu *c = this_cpu_ptr(&mv_cpus);
	unsigned long *flags;
	unsigned int word;

	if (!c->siefp)
		return IRQ_NONE;
	flags = (unsigned long *)((u8 *)c->siefp + MV_VMBUS_SINT * MV_MESSAGE_SIZE);
	rcu_read_lock();
	for (word = 0; word < MV_EVENT_FLAGS_WORDS; word++) {
		unsigned long taken;
		unsigned int bit;

		if (!READ_ONCE(flags[word]))
			continue;
		taken = xchg(&flags[word], 0);
		for_each_set_bit(bit, &taken, BITS_PER_LONG) {
			struct eventfd_ctx *ctx =
				rcu_dereference(mv_flag_eventfds[word * BITS_PER_LONG + bit]);

			if (ctx)
				eventfd_signal(ctx, 1);
		}
	}
	rcu_read_unlock();
	return IRQ_HANDLED;
}

/*
 * One interrupt per CPU for SINT7, from the x86 vector domain with its
 * vector on that CPU: the kernel has no CONFIG_HYPERV and so no
 * HYPERVISOR_CALLBACK_VECTOR handler (upstream mshv_vtl uses that vector
 * through the VMBus driver's ISR). IRQF_NOBALANCING keeps user space from
 * moving it: the SINT7 MSR names the vector, which is this CPU's only.
 */
static void mv_sint_irq_free(unsigned int cpu)
{
	struct mv_cpu *c = per_cpu_ptr(&mv_cpus, cpu);

	if (!c->sint_irq)
		return;
	free_irq(c->sint_irq, c);
	irq_domain_free_irqs(c->sint_irq, 1);
	c->sint_irq = 0;
	c->sint_vector = 0;
}

static int __init mv_sint_irq_alloc(unsigned int cpu)
{
	struct mv_cpu *c = per_cpu_ptr(&mv_cpus, cpu);
	struct irq_alloc_info info;
	struct irq_data *irqd;
	struct irq_cfg *cfg;
	int irq, ret;

	init_irq_alloc_info(&info, cpumask_of(cpu));
	irq = irq_domain_alloc_irqs(x86_vector_domain, 1, cpu_to_node(cpu), &info);
	if (irq <= 0)
		return irq < 0 ? irq : -ENOSPC;
	irq_set_handler(irq, handle_edge_irq);
	ret = request_irq(irq, mv_sint_isr, IRQF_NOBALANCING, "mshv_sint", c);
	if (ret) {
		irq_domain_free_irqs(irq, 1);
		return ret;
	}
	c->sint_irq = irq;
	/*
	 * The vector was assigned on `cpu` at allocation; starting the irq
	 * keeps it there (that CPU is in every mask it is offered).
	 */
	irqd = irq_get_irq_data(irq);
	cfg = irqd ? irqd_cfg(irqd) : NULL;
	if (!cfg || !cfg->vector || cfg->vector > 0xFF ||
	    !cpumask_equal(irq_data_get_effective_affinity_mask(irqd), cpumask_of(cpu))) {
		mv_sint_irq_free(cpu);
		return -EIO;
	}
	c->sint_vector = (u8)cfg->vector;
	return 0;
}

/* ------------------------------------------------------------ /dev/mshv_sint */

static long mv_sint_signal_event(void __user *uarg)
{
	struct mshv_vtl_signal_event e;
	u64 result;
	int ret;

	if (copy_from_user(&e, uarg, sizeof(e)))
		return -EFAULT;
	if (e.flag >= MV_EVENT_FLAGS_COUNT)
		return -EINVAL;
	result = mv_hypercall(MV_HVCALL_SIGNAL_EVENT | MV_HVCALL_FAST,
			      e.connection_id | ((u64)e.flag << 32), 0);
	ret = mv_status_to_errno(result);
	if (ret)
		pr_err_ratelimited("SignalEvent(connection 0x%x, flag %u): status 0x%x\n",
				   e.connection_id, e.flag, MV_HV_STATUS(result));
	return ret;
}

static long mv_sint_post_message(void __user *uarg)
{
	struct mshv_vtl_sint_post_msg m;
	struct mv_post_message_input *in;
	u8 payload[MV_MESSAGE_PAYLOAD];
	struct mv_cpu *c;
	u64 result;
	int ret;

	if (copy_from_user(&m, uarg, sizeof(m)))
		return -EFAULT;
	if (m.payload_size > MV_MESSAGE_PAYLOAD || m.message_type > U32_MAX)
		return -EINVAL;
	if (copy_from_user(payload, u64_to_user_ptr(m.payload_ptr), m.payload_size))
		return -EFAULT;

	c = get_cpu_ptr(&mv_cpus);
	if (!c->input) {
		put_cpu_ptr(&mv_cpus);
		return -ENODEV;
	}
	in = c->input;
	memset(in, 0, sizeof(*in));
	in->connection_id = m.connection_id;
	in->message_type = (u32)m.message_type;
	in->payload_size = m.payload_size;
	memcpy(in->payload, payload, m.payload_size);
	result = mv_hypercall(MV_HVCALL_POST_MESSAGE, virt_to_phys(in), 0);
	put_cpu_ptr(&mv_cpus);

	ret = mv_status_to_errno(result);
	if (ret && ret != -EAGAIN)
		pr_err_ratelimited("PostMessage(connection 0x%x, type 0x%llx, %u bytes): status 0x%x\n",
				   m.connection_id, m.message_type, m.payload_size,
				   MV_HV_STATUS(result));
	return ret;
}

/*
 * MSHV_SINT_SET_EVENTFD: signal eventfd `fd` when SINT7's flag `flag` is
 * set (fd < 0: none). Replaces what was there; the old context is put once
 * no interrupt handler can still be using it.
 */
static long mv_sint_set_eventfd(void __user *uarg)
{
	struct mshv_vtl_set_eventfd e;
	struct eventfd_ctx *ctx = NULL, *old;

	if (copy_from_user(&e, uarg, sizeof(e)))
		return -EFAULT;
	if (e.flag >= MV_EVENT_FLAGS_COUNT)
		return -EINVAL;
	if (e.fd >= 0) {
		ctx = eventfd_ctx_fdget(e.fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	mutex_lock(&mv_flag_lock);
	old = rcu_dereference_protected(mv_flag_eventfds[e.flag], lockdep_is_held(&mv_flag_lock));
	rcu_assign_pointer(mv_flag_eventfds[e.flag], ctx);
	mutex_unlock(&mv_flag_lock);
	if (old) {
		synchronize_rcu();
		eventfd_ctx_put(old);
	}
	return 0;
}

static long mv_sint_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case MSHV_SINT_SIGNAL_EVENT:
		return mv_sint_signal_event((void __user *)arg);
	case MSHV_SINT_POST_MESSAGE:
		return mv_sint_post_message((void __user *)arg);
	case MSHV_SINT_SET_EVENTFD:
		return mv_sint_set_eventfd((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/* Receiving SINT messages (read/poll) is not implemented yet. */
static ssize_t mv_sint_read(struct file *file, char __user *buf, size_t len, loff_t *off)
{
	return -EOPNOTSUPP;
}

static const struct file_operations mv_sint_fops = {
	.owner = THIS_MODULE,
	.read = mv_sint_read,
	.unlocked_ioctl = mv_sint_ioctl,
	.llseek = noop_llseek,
};

/* ------------------------------------------------------------ init */

static struct miscdevice mv_misc[] = {
	{ .minor = MISC_DYNAMIC_MINOR, .name = "mshv", .fops = &mv_dev_fops },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "mshv_vtl_low", .fops = &mv_low_fops },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "mshv_hvcall", .fops = &mv_hvcall_fops },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "mshv_sint", .fops = &mv_sint_fops },
};

static bool __init mv_hyperv_present(void)
{
	u32 eax, ebx, ecx, edx;
	char sig[13];

	if (!boot_cpu_has(X86_FEATURE_HYPERVISOR))
		return false;
	cpuid(MV_CPUID_VENDOR, &eax, &ebx, &ecx, &edx);
	memcpy(sig + 0, &ebx, 4);
	memcpy(sig + 4, &ecx, 4);
	memcpy(sig + 8, &edx, 4);
	sig[12] = '\0';
	if (strcmp(sig, "Microsoft Hv") != 0 || eax < MV_CPUID_FEATURES)
		return false;
	cpuid(MV_CPUID_FEATURES, &eax, &ebx, &ecx, &edx);
	return (ebx & MV_CPUID_B_ACCESS_VSM) && (ebx & MV_CPUID_B_ACCESS_VP_REGS);
}

/*
 * TLFS "Lazy EOI": when it delivers an interrupt that needs no EOI (nothing
 * else in service or pending behind it) the hypervisor sets bit 0 of the
 * VP assist page's APIC assist word; clearing it is then the EOI, with no
 * exit. Any other EOI goes the APIC driver's way. The page stays mapped
 * while its CPU is offline, so reading the word is always safe.
 */
static void mv_apic_eoi_write(u32 reg, u32 val)
{
	struct mv_vp_assist *assist = this_cpu_read(mv_cpus.vp_assist);

	if (assist && (xchg(&assist->apic_assist, 0) & 1))
		return;
	apic->native_eoi_write(reg, val);
}

/*
 * Used where the hypervisor recommends its APIC MSRs (CPUID 0x40000004
 * EAX bit 3), as Linux's own Hyper-V support decides (hv_apic_init), and
 * where those MSRs answer (a hypervisor advertising them must serve them).
 * Installed before the VP assist pages are set: until the hypervisor binds
 * a page, no interrupt is marked and every EOI is the native one.
 */
static void __init mv_use_lazy_eoi(void)
{
	u32 eax, ebx, ecx, edx;
	u64 tpr;

	cpuid(MV_CPUID_HINTS, &eax, &ebx, &ecx, &edx);
	if (!(eax & MV_CPUID_HINT_APIC_MSRS))
		return;
	if (rdmsrl_safe(MV_MSR_APIC_TPR, &tpr)) {
		pr_warn("APIC MSRs recommended but TPR (0x%x) unreadable: no lazy EOI\n",
			MV_MSR_APIC_TPR);
		return;
	}
	apic_set_eoi_write(mv_apic_eoi_write);
	pr_info("lazy EOI through the VP assist page\n");
}

static int __init mv_init(void)
{
	struct hv_register_assoc reg;
	u64 msr, offsets, config;
	int state, ret, i;

	if (!mv_hyperv_present()) {
		pr_info("no Hyper-V with AccessVsm and AccessVpRegisters; /dev/mshv not registered\n");
		return 0;
	}

	rdmsrl(MV_MSR_GUEST_OS_ID, msr);
	if (msr == 0)
		wrmsrl(MV_MSR_GUEST_OS_ID, MV_GUEST_OS_ID);

	/* The hypercall page: the hypervisor writes its code into this page. */
	mv_hypercall_pg = __vmalloc_node_range(PAGE_SIZE, 1, VMALLOC_START, VMALLOC_END,
					       GFP_KERNEL, PAGE_KERNEL_ROX, VM_FLUSH_RESET_PERMS,
					       NUMA_NO_NODE, __builtin_return_address(0));
	if (!mv_hypercall_pg) {
		pr_err("cannot allocate the hypercall page\n");
		return -ENOMEM;
	}
	wrmsrl(MV_MSR_HYPERCALL, ((u64)vmalloc_to_pfn(mv_hypercall_pg) << PAGE_SHIFT) | MV_MSR_ENABLE);
	rdmsrl(MV_MSR_HYPERCALL, msr);
	if (!(msr & MV_MSR_ENABLE)) {
		pr_err("the hypervisor did not enable the hypercall page (MSR 0x%llx)\n", msr);
		ret = -ENODEV;
		goto fail_page;
	}

	/*
	 * SINT7's interrupts first: the online callback programs SINT7 with
	 * them. All CPUs are up at device_initcall; one brought up later
	 * keeps SINT7 masked.
	 */
	for_each_online_cpu(i) {
		ret = mv_sint_irq_alloc(i);
		if (ret)
			pr_warn("CPU %d: no interrupt for SINT%d (%d): its event flags stay unsignalled\n",
				i, MV_VMBUS_SINT, ret);
	}

	mv_use_lazy_eoi();
	state = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "mshv_vtl_hcl:online",
				  mv_cpu_online, mv_cpu_offline);
	if (state < 0) {
		pr_err("per-CPU setup failed: %d\n", state);
		ret = state;
		goto fail_irqs;
	}

	memset(&reg, 0, sizeof(reg));
	reg.name = MV_REG_VSM_CODE_PAGE_OFFSETS;
	ret = mv_vp_registers(false, MV_INPUT_VTL_OWN, &reg, 1);
	if (ret) {
		pr_err("cannot read VsmCodePageOffsets\n");
		goto fail_cpuhp;
	}
	offsets = reg.value.reg64;
	mv_vtl_call_entry = (u8 *)mv_hypercall_pg + (offsets & 0xFFF);
	mshv_vtl_hcl_return_entry = (u8 *)mv_hypercall_pg + ((offsets >> 12) & 0xFFF);

	memset(&reg, 0, sizeof(reg));
	reg.name = MV_REG_VSM_CAPABILITIES;
	config = MV_VSM_PARTITION_CONFIG;
	if (!mv_vp_registers(false, MV_INPUT_VTL_OWN, &reg, 1) &&
	    (reg.value.reg64 & MV_VSM_CAP_INTERCEPT_PAGE))
		config |= MV_VSM_CONFIG_INTERCEPT_PAGE;

	memset(&reg, 0, sizeof(reg));
	reg.name = MV_REG_VSM_PARTITION_CONFIG;
	reg.value.reg64 = config;
	ret = mv_vp_registers(true, MV_INPUT_VTL_OWN, &reg, 1);
	if (ret) {
		pr_err("cannot set VsmPartitionConfig\n");
		goto fail_cpuhp;
	}

	for (i = 0; i < ARRAY_SIZE(mv_misc); i++) {
		ret = misc_register(&mv_misc[i]);
		if (ret) {
			pr_err("cannot register /dev/%s: %d\n", mv_misc[i].name, ret);
			while (--i >= 0)
				misc_deregister(&mv_misc[i]);
			goto fail_cpuhp;
		}
	}

	pr_info("VTL2 ready: VTL call at +0x%llx, VTL return at +0x%llx of the hypercall page; /dev/mshv, mshv_vtl_low, mshv_hvcall, mshv_sint\n",
		offsets & 0xFFF, (offsets >> 12) & 0xFFF);
	return 0;

fail_cpuhp:
	cpuhp_remove_state(state);
fail_irqs:
	for_each_possible_cpu(i)
		mv_sint_irq_free(i);
fail_page:
	wrmsrl(MV_MSR_HYPERCALL, 0);
	vfree(mv_hypercall_pg);
	mv_hypercall_pg = NULL;
	return ret;
}
device_initcall(mv_init);
