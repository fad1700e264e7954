/* SPDX-License-Identifier: MIT */
/* Output of `watch`: a refreshed table on a terminal, or JSON Lines
 * (docs/events.md).
 */
#ifndef GW_REPORT_H
#define GW_REPORT_H

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

void report__attach(struct report *r, const struct gw_attachment *a);
void report__event(struct report *r, const struct gw_event *e);
/* final: the closing summary instead of an interval refresh. */
void report__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s, bool final);
uint64_t report__now_ns(const struct report *r);
/* A confirmed deadlock; now_ns is CLOCK_MONOTONIC. */
void report__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns);
/* The gc-in-frame-collection hazard; count: occurrences so far; s: the
 * stacks captured with it (NULL: read now).
 */
void report__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				 const struct thread_stacks *s);
/* A fatal signal delivered to thread tid (time_ns: CLOCK_MONOTONIC); s: its
 * stacks at delivery, NULL if none could be captured.
 */
void report__crash(struct report *r, pid_t tid, int sig, const char *comm, uint64_t time_ns,
		   const struct thread_stacks *s);
/* "SIGSEGV", ... */
const char *report__signal_name(int sig);

/* A stall episode; head_lock names HEAD_LOCK in the thread states. For a
 * forked child, child is set and parent/nparent are the parent's threads.
 */
void report__stall(struct report *r, const struct stall *st, uint64_t head_lock,
		   const struct child *child, const struct thread_view *parent, size_t nparent);
/* A fork without exec from a multi-threaded process. */
void report__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock);
extern const char fork_remedy[];
/* A cycle in the lock-order graph (--deep). */
void report__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock);
/* "GIL", "HEAD_LOCK" or "lock 0x..." for a lock-order node. */
const char *report__order_lock_name(uint64_t lock, uint64_t head_lock, char *buf, size_t len);
/* "Cycle in lock order graph: HEAD_LOCK => GIL => HEAD_LOCK" */
void report__order_text(const struct order_cycle *c, uint64_t head_lock, char *buf, size_t len);
void report_text__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock);
void report_json__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock);

/* "thread 12 (holds HEAD_LOCK) waits for GIL held by thread 13; ..." */
void report__cycle_text(const struct wait_cycle *c, char *buf, size_t len);
/* The lock cycle member i holds (the one member i - 1 waits for). */
const char *report__held(const struct wait_cycle *c, size_t i, char *buf, size_t len);
extern const char gc_in_frames_remedy[];

/* Text and JSON back ends. */
void report_text__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final);
void report_text__event(struct report *r, const struct gw_event *e);
void report_json__attach(struct report *r, const struct gw_attachment *a);
void report_json__event(struct report *r, const struct gw_event *e);
void report_json__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final);
void report_text__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns);
void report_json__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns);
void report_text__stall(struct report *r, const struct stall *st, uint64_t head_lock,
			const struct child *child, const struct thread_view *parent,
			size_t nparent);
void report_json__stall(struct report *r, const struct stall *st, uint64_t head_lock,
			const struct child *child, const struct thread_view *parent,
			size_t nparent);
void report_text__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock);
void report_json__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock);
void report_text__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				      const struct thread_stacks *s);
void report_json__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				      const struct thread_stacks *s);
void report_text__crash(struct report *r, pid_t tid, int sig, const char *comm,
			const struct thread_stacks *s);
void report_json__crash(struct report *r, pid_t tid, int sig, const char *comm, uint64_t time_ns,
			const struct thread_stacks *s);

#endif
