// SPDX-License-Identifier: GPL-2.0
/* The return addresses the kernel's uretprobes hid: a probed function's
 * return address on the user stack is replaced by the [uprobes] trampoline
 * until it returns, and CFI unwinding stops there. This task iterator lists,
 * per thread, where each hidden address lives on the stack and what it was,
 * so that an unwinder can read the original instead. A separate object: the
 * uretprobes may be another gilwatch's, and `dump` loads nothing else.
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
