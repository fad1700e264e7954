// SPDX-License-Identifier: GPL-2.0
/* What the kernel knows of a blocked thread's user context and /proc does
 * not say, for unwinding it without stopping it. Task iterators:
 * - gw_ret_fixups: the return addresses the kernel's uretprobes hid: a
 *   probed function's return address on the user stack is replaced by the
 *   [uprobes] trampoline until it returns, and CFI unwinding stops there;
 *   where each lives on the stack and what it was;
 * - gw_task_regs: the user registers saved at kernel entry (rbp and the
 *   other callee-saved ones: frame-pointer builds, 3.15's among them, need
 *   rbp from the first Python frame on).
 * A separate object: the uretprobes may be another gilwatch's, and `dump`
 * loads nothing else.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "gilwatch.h"

char LICENSE[] SEC("license") = "GPL";

SEC("iter/task")
int gw_ret_fixups(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct return_instance *ri;
	struct gw_ret_fixup f = {};
	int i;

	if (!task)
		return 0;
	f.tid = BPF_CORE_READ(task, pid);
	ri = BPF_CORE_READ(task, utask, return_instances);
	for (i = 0; i < GW_MAX_RET_FIXUPS && ri; i++) {
		f.stack = BPF_CORE_READ(ri, stack);
		f.orig = BPF_CORE_READ(ri, orig_ret_vaddr);
		bpf_seq_write(ctx->meta->seq, &f, sizeof(f));
		ri = BPF_CORE_READ(ri, next);
	}
	return 0;
}

SEC("iter/task")
int gw_task_regs(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct gw_task_regs r = {};
	struct pt_regs *regs;

	if (!task)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	r.tid = BPF_CORE_READ(task, pid);
	r.regs.ip = BPF_CORE_READ(regs, ip);
	r.regs.sp = BPF_CORE_READ(regs, sp);
	r.regs.bp = BPF_CORE_READ(regs, bp);
	r.regs.bx = BPF_CORE_READ(regs, bx);
	r.regs.r12 = BPF_CORE_READ(regs, r12);
	r.regs.r13 = BPF_CORE_READ(regs, r13);
	r.regs.r14 = BPF_CORE_READ(regs, r14);
	r.regs.r15 = BPF_CORE_READ(regs, r15);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
