/*
 * First instructions of the VTL2 boot shim. The IGVM VP context enters here
 * in 64-bit mode with paging on; we only need a stack before C++ runs.
 * The shim is linked to run where it is loaded (no relocation yet).
 */
    .section .text.entry, "ax"
    .globl shim_entry
    .type shim_entry, @function
shim_entry:
    lea     shim_stack_top(%rip), %rsp
    xor     %ebp, %ebp
    /* RSI carries the boot-parameter page in later revisions; keep ABI room. */
    mov     %rsi, %rdi
    call    ShimMain
1:  cli
    hlt
    jmp     1b
    .size shim_entry, . - shim_entry

    .section .bss.stack, "aw", @nobits
    .balign 16
shim_stack:
    .skip 16384
shim_stack_top:

    .section .note.GNU-stack, "", @progbits
