/* SPDX-License-Identifier: MIT */
/* The wait-for graph of a process read from outside, once (`dump`, a
 * process that froze before gilwatch came): GIL waits and holder from the
 * interpreter, lock waits from the futex each thread sleeps on, HEAD_LOCK's
 * holder from native stacks. A cycle found so is a deadlock only if a
 * second look at least the threshold later finds the same (signature).
 */
#ifndef GW_SNAPSHOT_GRAPH_H
#define GW_SNAPSHOT_GRAPH_H

#include "stack_collector.h"
#include "thread_state_infer.h"
#include "thread_view.h"
#include "wait_graph.h"

struct snapshot_thread {
	struct thread_view view;
	struct inferred_state state;
	struct thread_stacks stacks;
	pid_t lock_owner; /* a lock waiter's: the RLock's owner, 0: unknown */
};

/* Every thread of t now (at most max): state, stacks and what they hold.
 * native false: native stacks only of the waiters, and only if a thread
 * waits for HEAD_LOCK (they tell its holder). Returns how many, 0 if the
 * process is gone.
 */
size_t snapshot_graph__look(const struct gw_target *t, struct stack_collector *c,
			    struct snapshot_thread *th, size_t max, bool native);
/* The waiters among th[0..n), each wait dated now_ns. Returns how many
 * were written to out (at most max).
 */
size_t snapshot_graph__waiters(const struct snapshot_thread *th, size_t n, uint64_t now_ns,
			       struct waiter *out, size_t max);
/* Folds v into the signature h; with_cpu: the thread's CPU time ticks too
 * (not for a GIL waiter, which polls).
 */
uint64_t snapshot_graph__fold(uint64_t h, uint64_t v, bool with_cpu, uint64_t ticks);
/* What must not change between two looks at a frozen cycle: its members'
 * stacks, the CPU time of those not waiting for the GIL (a GIL waiter
 * polls), and the GIL's handoffs.
 */
uint64_t snapshot_graph__signature(const struct gw_target *t, const struct snapshot_thread *th,
				   size_t n, const struct wait_cycle *c);

#endif
