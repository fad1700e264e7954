/* SPDX-License-Identifier: MIT */
/* What the report back ends share: the report's state and the wording of
 * verdicts both print. Below report.c (the dispatcher) and the text and
 * JSON back ends, which call down to it only.
 */
#ifndef GW_REPORT_COMMON_H
#define GW_REPORT_COMMON_H

#include <stdbool.h>
#include <stdio.h>
#include "attach.h"
#include "gilwatch.h"
#include "snapshot.h"
#include "children.h"
#include "forks.h"
#include "lock_order.h"
#include "stall.h"
#include "stack_collector.h"
#include "wait_graph.h"

struct container_labels;

struct report {
	FILE *out;
	bool json;
	bool deep;
	int64_t realtime_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	const struct gw_target *target;
	const struct container_labels *labels; /* NULL: not read */
	unsigned int frames_lines;	       /* text: frame-collection lines this refresh */
	/* Stacks for deadlock, stall and hazard reports; NULL: none. */
	struct stack_collector *stacks;
	struct thread_stacks *stack_buf;
	int lock_sites_fd; /* --deep: the lock_sites map, -1 if none */
	/* The forked children followed (a worker pool), NULL: none. */
	const struct children *children;
};

/* Where the lock (semaphore) at addr was created: the innermost Python frame
 * outside the standard library's threading and queue modules (threading.py's
 * own when there is no other). -ENOENT if unknown (default mode, 3.13's
 * PyMutex locks, a lock created before gilwatch attached).
 */
int report__lock_site(struct report *r, uint64_t addr, struct py_frame *out);

/* Python and native stacks of thread tid of t now (t: the watched process
 * or a child of it), in a buffer the next call reuses; NULL if unavailable.
 */
const struct thread_stacks *report__stacks(struct report *r, const struct gw_target *t, pid_t tid);

uint64_t report__now_ns(const struct report *r);

/* "SIGSEGV", ... */
const char *report__signal_name(int sig);

extern const char fork_remedy[];

/* "GIL", "HEAD_LOCK" or "lock 0x..." for a lock-order node. */
const char *report__order_lock_name(uint64_t lock, uint64_t head_lock, char *buf, size_t len);
/* "Cycle in lock order graph: HEAD_LOCK => GIL => HEAD_LOCK" */
void report__order_text(const struct order_cycle *c, uint64_t head_lock, char *buf, size_t len);

/* "thread 12 (holds HEAD_LOCK) waits for GIL held by thread 13; ..." */
void report__cycle_text(const struct wait_cycle *c, char *buf, size_t len);
/* The lock cycle member i holds (the one member i - 1 waits for). */
const char *report__held(const struct wait_cycle *c, size_t i, char *buf, size_t len);
extern const char gc_in_frames_remedy[];

#endif
