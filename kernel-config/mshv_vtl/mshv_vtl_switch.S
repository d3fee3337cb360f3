/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VTL switch of the VTL2 paravisor driver (mshv_vtl_main.c).
 *
 *   void mshv_vtl_hcl_switch(struct mv_cpu_context *ctx);
 *
 * ctx is the driver's per-CPU copy of the run page's cpu_context (never the
 * user-mapped run page itself), laid out like struct mshv_vtl_cpu_context.
 * Loads VTL0's shared registers (all general registers except RAX, RCX and
 * RSP, plus CR2) from ctx and calls the VTL-return entry of the hypercall
 * page with RCX = 0 (VTL return control: not fast, so the hypervisor takes
 * VTL0's RAX and RCX from the VP assist page). When VTL0 needs VTL2 again,
 * the hypervisor resumes VTL2 after the call with every general register
 * except RSP, and CR2, holding VTL0's values; they are saved back into ctx
 * before anything else touches them.
 *
 * Called with interrupts disabled, inside kernel_fpu_begin()/end() (the
 * caller handles the FXSAVE area). Offsets: gp_regs[i] is at 8 * i, in
 * the order of the MSHV_VTL_GP_* indexes of uapi/mshv.h (the C file checks
 * that the indexes are the ones used here).
 */
#include <linux/linkage.h>

#define CTX_RAX		(0 * 8)
#define CTX_RCX		(1 * 8)
#define CTX_RDX		(2 * 8)
#define CTX_RBX		(3 * 8)
#define CTX_CR2		(4 * 8)
#define CTX_RBP		(5 * 8)
#define CTX_RSI		(6 * 8)
#define CTX_RDI		(7 * 8)
#define CTX_R8		(8 * 8)
#define CTX_R9		(9 * 8)
#define CTX_R10		(10 * 8)
#define CTX_R11		(11 * 8)
#define CTX_R12		(12 * 8)
#define CTX_R13		(13 * 8)
#define CTX_R14		(14 * 8)
#define CTX_R15		(15 * 8)

	.text
SYM_FUNC_START(mshv_vtl_hcl_switch)
	/* Callee-saved registers, then the context pointer at 0(%rsp). */
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	push	%rdi

	/* VTL0's state; RAX is scratch (the hypervisor takes RAX/RCX from the VP assist page). */
	mov	CTX_CR2(%rdi), %rax
	mov	%rax, %cr2
	mov	CTX_RDX(%rdi), %rdx
	mov	CTX_RBX(%rdi), %rbx
	mov	CTX_RBP(%rdi), %rbp
	mov	CTX_RSI(%rdi), %rsi
	mov	CTX_R8(%rdi), %r8
	mov	CTX_R9(%rdi), %r9
	mov	CTX_R10(%rdi), %r10
	mov	CTX_R11(%rdi), %r11
	mov	CTX_R12(%rdi), %r12
	mov	CTX_R13(%rdi), %r13
	mov	CTX_R14(%rdi), %r14
	mov	CTX_R15(%rdi), %r15
	mov	CTX_RDI(%rdi), %rdi		/* last: it held the pointer */

	xor	%ecx, %ecx			/* VTL return control: 0 */
	call	*mshv_vtl_hcl_return_entry(%rip)

	/* Back in VTL2: every GPR but RSP (and CR2) is VTL0's. Save them first. */
	push	%rax				/* VTL0's RAX */
	mov	8(%rsp), %rax			/* the context pointer */
	mov	%rcx, CTX_RCX(%rax)
	mov	%rdx, CTX_RDX(%rax)
	mov	%rbx, CTX_RBX(%rax)
	mov	%rbp, CTX_RBP(%rax)
	mov	%rsi, CTX_RSI(%rax)
	mov	%rdi, CTX_RDI(%rax)
	mov	%r8, CTX_R8(%rax)
	mov	%r9, CTX_R9(%rax)
	mov	%r10, CTX_R10(%rax)
	mov	%r11, CTX_R11(%rax)
	mov	%r12, CTX_R12(%rax)
	mov	%r13, CTX_R13(%rax)
	mov	%r14, CTX_R14(%rax)
	mov	%r15, CTX_R15(%rax)
	mov	%cr2, %rcx
	mov	%rcx, CTX_CR2(%rax)
	pop	%rcx
	mov	%rcx, CTX_RAX(%rax)

	pop	%rdi				/* the context pointer, no longer needed */
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	RET
SYM_FUNC_END(mshv_vtl_hcl_switch)
