// SPDX-License-Identifier: GPL-2.0
/* gilwatch BPF side: GC collections, frame-collection calls, contended GIL
 * waits, lock waits and owners, thread and process lifecycle of the watched
 * CPython processes. One object (one skeleton); one concern per header.
 *
 * Default probes fire only on rare or slow paths (a collection, a frame
 * collection, HEAD_LOCK); GIL and lock waits are sampled by a task iterator
 * user space runs, with no probe in the target. Per-handoff tracing
 * (a uretprobe on take_gil, a uprobe on drop_gil) is --deep only: it fires
 * on every GIL acquisition and costs ~1 us each (docs/probes.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "gilwatch.h"

char LICENSE[] SEC("license") = "GPL";

#include "common.bpf.h"
#include "stacks.bpf.h"
#include "lock_order.bpf.h"
#include "gc.bpf.h"
#include "frames.bpf.h"
#include "gil.bpf.h"
#include "locks.bpf.h"
#include "pymutex_locks.bpf.h"
#include "wait_sampler.bpf.h"
#include "lifecycle.bpf.h"
