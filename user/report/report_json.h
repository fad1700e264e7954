/* SPDX-License-Identifier: MIT */
/* The JSON Lines back end (docs/events.md). */
#ifndef GW_REPORT_JSON_H
#define GW_REPORT_JSON_H

#include "report_common.h"

void report_json__attach(struct report *r, const struct gw_attachment *a);
void report_json__event(struct report *r, const struct gw_event *e);
void report_json__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final);
void report_json__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns);
void report_json__stall(struct report *r, const struct stall *st, uint64_t head_lock,
			const struct child *child, const struct thread_view *parent,
			size_t nparent);
void report_json__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock);
void report_json__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				      const struct thread_stacks *s);
void report_json__crash(struct report *r, pid_t tid, int sig, const char *comm, uint64_t time_ns,
			const struct thread_stacks *s);
void report_json__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock);

#endif
