/* SPDX-License-Identifier: MIT */
/* Return addresses hidden by uretprobes (ours or another tool's), and the
 * user registers of a thread asleep in the kernel, read with task
 * iterators (bpf/retfix.bpf.c) so that native stacks of threads that are
 * not stopped unwind through probed functions and frame-pointer code.
 */
#ifndef GW_RET_FIXUPS_H
#define GW_RET_FIXUPS_H

#include <stdbool.h>
#include <sys/types.h>
#include "gilwatch.h"

/* The fixups of thread tid: the number found (0 if none or if BPF is not
 * available: then unwinding stops at a probed function), at most max.
 */
int ret_fixups__read(pid_t tid, struct gw_ret_fixup *out, unsigned max);

/* Thread tid's user registers as saved at its kernel entry (exact while it
 * sleeps in a system call; the caller checks it did throughout). -ENOENT
 * if BPF cannot tell.
 */
int ret_fixups__task_regs(pid_t tid, struct gw_user_regs *out);

/* Loads the fixup reader if not yet done: false when the kernel turned it
 * off (said once, bpf_features.h).
 */
bool ret_fixups__available(void);

#endif
