/* SPDX-License-Identifier: MIT */
/* What a thread is doing, told from outside without BPF (`dump`, a frozen
 * process): the futex it sleeps on compared with the GIL's condvar and
 * HEAD_LOCK's semaphore, the interpreter's GIL holder and GC flag, and the
 * C functions on its native stack.
 */
#ifndef GW_THREAD_STATE_INFER_H
#define GW_THREAD_STATE_INFER_H

#include <stdbool.h>
#include "json_writer.h"
#include "stack_collector.h"
#include "thread_view.h"

struct inferred_state {
	bool holds_gil;		  /* and waits for a lock: v->activity says which */
	bool holds_head_lock;	  /* HEAD_LOCK is taken and the stack is past a HEAD_LOCK call */
	const char *head_lock_in; /* that function */
	bool in_gc;
	uint64_t head_lock;
};

/* Refines v->activity (a futex wait becomes a GIL or lock wait); mem reads
 * the process (its lock words, the GC flag).
 */
void thread_state__infer(const struct gw_target *t, const struct mem_source *mem,
			 struct thread_view *v, const struct thread_stacks *s,
			 struct inferred_state *out);
const char *thread_state__describe(const struct thread_view *v, const struct inferred_state *st,
				   char *buf, size_t len);
/* "holds", "waits_for", "in_gc", "syscall" members. */
void thread_state__json(struct json_writer *w, const struct thread_view *v,
			const struct inferred_state *st);

#endif
