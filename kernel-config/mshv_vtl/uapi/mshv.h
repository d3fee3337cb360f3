/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User API of the VTL2 paravisor driver (kernel-config/mshv_vtl), built into
 * our Linux 6.1 VTL2 kernel.
 *
 * The ioctl numbers and the argument layouts are those of the VTL section of
 * upstream Linux 6.19 include/uapi/linux/mshv.h, so user space written for
 * upstream mshv_vtl works unchanged. The run page (struct mshv_vtl_run) and
 * struct hv_register_assoc are not in the upstream uapi header (they live in
 * drivers/hv/mshv_vtl.h and the hvhdk headers); their layouts here are the
 * same bytes, spelled with uapi types, and checked by the asserts at the end.
 *
 * Usable from the kernel, from C and from C++: it needs only <linux/types.h>
 * and <linux/ioctl.h>.
 */
#ifndef _UAPI_LINUX_MSHV_H
#define _UAPI_LINUX_MSHV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MSHV_IOCTL 0xB8

/* Capabilities for MSHV_CHECK_EXTENSION (this driver answers 0 for all). */
#define MSHV_CAP_CORE_API_STABLE	0x0
#define MSHV_CAP_REGISTER_PAGE		0x1
#define MSHV_CAP_VTL_RETURN_ACTION	0x2
#define MSHV_CAP_DR6_SHARED		0x3

/* Size of an exit message and of the return-action area in the run page. */
#define MSHV_MAX_RUN_MSG_SIZE		256

/* MSHV_GET_VP_REGISTERS / MSHV_SET_VP_REGISTERS: at most this many per call. */
#define MSHV_VTL_MAX_REGISTERS		64

/* A synthetic register value (16 bytes). */
union hv_register_value {
	struct {
		__u64 low_part;
		__u64 high_part;
	} reg128;
	__u64 reg64;
	__u32 reg32;
	__u16 reg16;
	__u8 reg8;
	__u8 bytes[16];
};

/* One register for Get/SetVpRegisters (32 bytes); name: TLFS register name. */
struct hv_register_assoc {
	__u32 name;
	__u32 reserved1;
	__u64 reserved2;
	union hv_register_value value;
};

struct mshv_vp_registers {
	__u32 count;	/* 1..MSHV_VTL_MAX_REGISTERS */
	__u32 reserved;
	__u64 regs_ptr;	/* user pointer to struct hv_register_assoc[count] */
};

/* MSHV_SINT_SET_EVENTFD: eventfd `fd` (-1: none) for SINT7's event flag `flag` (< 2048). */
struct mshv_vtl_set_eventfd {
	__s32 fd;
	__u32 flag;
};

struct mshv_vtl_signal_event {
	__u32 connection_id;
	__u32 flag;
};

struct mshv_vtl_sint_post_msg {
	__u64 message_type;
	__u32 connection_id;
	__u32 payload_size;	/* at most 240 bytes */
	__u64 payload_ptr;	/* user pointer to the payload bytes */
};

/* VTL0 RAM [start_pfn, last_pfn): last_pfn is excluded. */
struct mshv_vtl_ram_disposition {
	__u64 start_pfn;
	__u64 last_pfn;
};

struct mshv_vtl_set_poll_file {
	__u32 cpu;
	__u32 fd;
};

struct mshv_vtl_hvcall_setup {
	__u64 bitmap_array_size;	/* in bytes; bit n allows call code n */
	__u64 allow_bitmap_ptr;		/* user pointer to the bitmap */
};

struct mshv_vtl_hvcall {
	__u64 control;		/* hypercall input value (code, fast, rep count...) */
	__u64 input_size;	/* bytes at input_ptr, at most 4096 */
	__u64 input_ptr;
	__u64 status;		/* out: the hypercall result value (RAX) */
	__u64 output_size;	/* bytes at output_ptr, at most 4096 */
	__u64 output_ptr;
};

struct mshv_sint_mask {
	__u8 mask;
	__u8 reserved[7];
};

/* /dev/mshv */
#define MSHV_CHECK_EXTENSION		_IOW(MSHV_IOCTL, 0x00, __u32)
#define MSHV_CREATE_VTL			_IOR(MSHV_IOCTL, 0x1D, char)

/* VTL fd (returned by MSHV_CREATE_VTL) */
#define MSHV_ADD_VTL0_MEMORY		_IOW(MSHV_IOCTL, 0x21, struct mshv_vtl_ram_disposition)
#define MSHV_SET_POLL_FILE		_IOW(MSHV_IOCTL, 0x25, struct mshv_vtl_set_poll_file)
#define MSHV_RETURN_TO_LOWER_VTL	_IO(MSHV_IOCTL, 0x27)
#define MSHV_GET_VP_REGISTERS		_IOWR(MSHV_IOCTL, 0x05, struct mshv_vp_registers)
#define MSHV_SET_VP_REGISTERS		_IOW(MSHV_IOCTL, 0x06, struct mshv_vp_registers)

/* /dev/mshv_sint */
#define MSHV_SINT_SIGNAL_EVENT		_IOW(MSHV_IOCTL, 0x22, struct mshv_vtl_signal_event)
#define MSHV_SINT_POST_MESSAGE		_IOW(MSHV_IOCTL, 0x23, struct mshv_vtl_sint_post_msg)
#define MSHV_SINT_SET_EVENTFD		_IOW(MSHV_IOCTL, 0x24, struct mshv_vtl_set_eventfd)
#define MSHV_SINT_PAUSE_MESSAGE_STREAM	_IOW(MSHV_IOCTL, 0x25, struct mshv_sint_mask)

/* /dev/mshv_hvcall */
#define MSHV_HVCALL_SETUP		_IOW(MSHV_IOCTL, 0x1E, struct mshv_vtl_hvcall_setup)
#define MSHV_HVCALL			_IOWR(MSHV_IOCTL, 0x1F, struct mshv_vtl_hvcall)

/*
 * Pages of the VTL fd, one 4 KiB page per CPU each, mapped by mmap() with
 * page offset (kind << MSHV_REAL_OFF_SHIFT) | cpu:
 * - MSHV_RUN_PAGE_OFFSET: the run page (struct mshv_vtl_run);
 * - MSHV_REG_PAGE_OFFSET: the register page (Hyper-V's hv_vp_register_page:
 *   VTL0's registers at each entry to VTL2, dirty classes taken back at the
 *   VTL return), when MSHV_CHECK_EXTENSION(MSHV_CAP_REGISTER_PAGE) says 1
 *   and the hypervisor took this CPU's (ENODEV otherwise).
 */
#define MSHV_REAL_OFF_SHIFT	16
#define MSHV_RUN_PAGE_OFFSET	0
#define MSHV_REG_PAGE_OFFSET	1

/* Indexes into mshv_vtl_cpu_context.gp_regs (cr2 sits in rsp's slot). */
enum {
	MSHV_VTL_GP_RAX = 0,
	MSHV_VTL_GP_RCX = 1,
	MSHV_VTL_GP_RDX = 2,
	MSHV_VTL_GP_RBX = 3,
	MSHV_VTL_GP_CR2 = 4,
	MSHV_VTL_GP_RBP = 5,
	MSHV_VTL_GP_RSI = 6,
	MSHV_VTL_GP_RDI = 7,
	MSHV_VTL_GP_R8 = 8,
	MSHV_VTL_GP_R9 = 9,
	MSHV_VTL_GP_R10 = 10,
	MSHV_VTL_GP_R11 = 11,
	MSHV_VTL_GP_R12 = 12,
	MSHV_VTL_GP_R13 = 13,
	MSHV_VTL_GP_R14 = 14,
	MSHV_VTL_GP_R15 = 15,
	MSHV_VTL_GP_COUNT = 16,
};

/* VTL0's registers that are shared with VTL2 (x86-64). */
struct mshv_vtl_cpu_context {
	__u64 gp_regs[MSHV_VTL_GP_COUNT];
	__u8 fx_state[512];	/* FXSAVE64 image; 16-byte aligned in the run page */
};

struct mshv_vtl_run {
	__u32 cancel;			/* set by user space: the next/ongoing run returns -EINTR */
	__u32 vtl_ret_action_size;
	__u32 pad[2];
	__u8 exit_message[MSHV_MAX_RUN_MSG_SIZE];	/* HvMessage of the last exit */
	union {
		struct mshv_vtl_cpu_context cpu_context;
		__u8 reserved[1024];
	};
	__u8 vtl_ret_actions[MSHV_MAX_RUN_MSG_SIZE];
};

/* Layout checks: these offsets are the ABI. */
#define MSHV_UAPI_OFFSETOF(type, member) __builtin_offsetof(type, member)
#ifdef __cplusplus
#define MSHV_UAPI_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define MSHV_UAPI_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

MSHV_UAPI_ASSERT(sizeof(union hv_register_value) == 16, "hv_register_value is 16 bytes");
MSHV_UAPI_ASSERT(sizeof(struct hv_register_assoc) == 32, "hv_register_assoc is 32 bytes");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct hv_register_assoc, value) == 16, "hv_register_assoc.value @16");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vp_registers) == 16, "mshv_vp_registers is 16 bytes");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_signal_event) == 8, "mshv_vtl_signal_event is 8 bytes");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_set_eventfd) == 8, "mshv_vtl_set_eventfd is 8 bytes");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_set_eventfd, flag) == 4, "set_eventfd.flag @4");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_sint_post_msg) == 24, "mshv_vtl_sint_post_msg is 24 bytes");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_sint_post_msg, payload_ptr) == 16, "payload_ptr @16");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_ram_disposition) == 16, "mshv_vtl_ram_disposition is 16 bytes");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_hvcall_setup) == 16, "mshv_vtl_hvcall_setup is 16 bytes");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_hvcall) == 48, "mshv_vtl_hvcall is 48 bytes");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, cancel) == 0, "run.cancel @0");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, vtl_ret_action_size) == 4, "run.vtl_ret_action_size @4");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, exit_message) == 16, "run.exit_message @16");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, cpu_context) == 272, "run.cpu_context @272");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, cpu_context.fx_state) == 400, "run.cpu_context.fx_state @400");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, cpu_context.fx_state) % 16 == 0, "FXSAVE area 16-byte aligned");
MSHV_UAPI_ASSERT(MSHV_UAPI_OFFSETOF(struct mshv_vtl_run, vtl_ret_actions) == 1296, "run.vtl_ret_actions @1296");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_run) == 1552, "run page content is 1552 bytes");
MSHV_UAPI_ASSERT(sizeof(struct mshv_vtl_run) <= 4096, "run page fits a page");

#undef MSHV_UAPI_ASSERT
#undef MSHV_UAPI_OFFSETOF

#endif /* _UAPI_LINUX_MSHV_H */
