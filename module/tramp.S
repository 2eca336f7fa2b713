/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ftrace direct-call trampolines: the fentry call at the first instruction of a hooked
 * KVM function is patched into a direct call to one of these (see hook.c).
 *
 * A trampoline saves the argument registers, calls its C pre-handler with them, and
 * restores them. Then:
 *   - the handler returned 0: return to the fentry call's own return address, i.e. into
 *     the body of KVM's function, which runs with its arguments intact and no frame of
 *     ours left on the stack (it may sleep; our text may even go away meanwhile);
 *   - the handler returned a verdict v != 0: drop that return address and return to
 *     KVM's caller with v in %eax, as if the function had returned v (the frame skip of
 *     BPF's fmod_ret trampolines). The function's prologue has not run yet, so nothing
 *     else needs undoing.
 * Every branch here is direct: the fentry site calls us, we call the handler, and we
 * leave with RET. IBT checks none of them, so nothing here relies on an ENDBR: neither
 * at our entry nor in KVM's function (the fault-in function has none at all; GCC omits
 * it for local functions whose address is not taken).
 *
 * The pre-handler may sleep. It runs in the vCPU thread (or the ioctl thread) that
 * called KVM's function, with preemption and interrupts as KVM had them.
 */
#include <linux/linkage.h>
#include <linux/objtool.h>
#include <asm/nospec-branch.h>
#include <asm/unwind_hints.h>

.macro KVMUF_TRAMPOLINE name:req, handler:req
SYM_FUNC_START(\name)
	/* Only ever called directly (the patched fentry site), as ftrace's own stub. */
	ANNOTATE_NOENDBR
	pushq	%rbp
	movq	%rsp, %rbp
#ifdef KVMUF_HAVE_CALL_DEPTH_ACCOUNT
	CALL_DEPTH_ACCOUNT
#endif
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	%r8
	pushq	%r9
	call	\handler
	popq	%r9
	popq	%r8
	popq	%rcx
	popq	%rdx
	popq	%rsi
	popq	%rdi
	leave
	testl	%eax, %eax
	jnz	.Lskip_\@
	RET
.Lskip_\@:
	/* Drop the return into KVM's function: we now stand where its caller called it. */
	addq	$8, %rsp
	UNWIND_HINT_FUNC
	RET
SYM_FUNC_END(\name)
.endm

	.text
/* KVM's stage-2 fault-in (kvm_faultin_pfn / kvm_mmu_faultin_pfn): fault.c */
KVMUF_TRAMPOLINE kvmuf_faultin_tramp, kvmuf_faultin_pre
/* 7.2's in-place huge-page recovery (kvm_mmu_recover_huge_pages): fault.c */
KVMUF_TRAMPOLINE kvmuf_recover_tramp, kvmuf_recover_pre
