/* SPDX-License-Identifier: MIT */
/* Output of `watch`: a refreshed table on a terminal, or JSON Lines
 * (docs/events.md). Each call goes to the text or the JSON back end.
 */
#ifndef GW_REPORT_H
#define GW_REPORT_H

#include "report_common.h"

void report__attach(struct report *r, const struct gw_attachment *a);
void report__event(struct report *r, const struct gw_event *e);
/* final: the closing summary instead of an interval refresh. */
void report__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s, bool final);
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

/* A stall episode; head_lock names HEAD_LOCK in the thread states. For a
 * forked child, child is set and parent/nparent are the parent's threads.
 */
void report__stall(struct report *r, const struct stall *st, uint64_t head_lock,
		   const struct child *child, const struct thread_view *parent, size_t nparent);
/* A fork without exec from a multi-threaded process. */
void report__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock);
/* A cycle in the lock-order graph (--deep). */
void report__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock);

#endif
