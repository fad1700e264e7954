/* SPDX-License-Identifier: MIT */
/* Return addresses hidden by uretprobes (ours or another tool's), read from
 * the kernel with a task iterator (bpf/retfix.bpf.c) so that native stacks
 * unwind through probed functions.
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

/* Loads the fixup reader if not yet done: false when the kernel turned it
 * off (said once, bpf_features.h).
 */
bool ret_fixups__available(void);

#endif
