// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "log.h"
#include "report.h"
#include "report_json.h"
#include "report_text.h"

void report__attach(struct report *r, const struct gw_attachment *a)
{
	const struct gw_target *t = r->target;
	char probes[1024];

	/* Said once, on stderr in both modes: what this build lets us see. */
	attach__describe(a, r->deep, probes, sizeof(probes));
	gw_info("pid %d (%s): python %s (%s): %s", t->pid, t->comm, t->build.version,
		t->python_path, probes);
	if (r->json)
		report_json__attach(r, a);
}

void report__event(struct report *r, const struct gw_event *e)
{
	if (r->json)
		report_json__event(r, e);
	else
		report_text__event(r, e);
}

void report__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s, bool final)
{
	if (r->json)
		report_json__stats(r, s, elapsed_s, final);
	else
		report_text__stats(r, s, elapsed_s, final);
}

void report__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns)
{
	if (r->json)
		report_json__deadlock(r, c, now_ns);
	else
		report_text__deadlock(r, c, now_ns);
}

void report__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				 const struct thread_stacks *s)
{
	if (r->json)
		report_json__hazard_gc_in_frames(r, e, count, s);
	else
		report_text__hazard_gc_in_frames(r, e, count, s);
}

void report__crash(struct report *r, pid_t tid, int sig, const char *comm, uint64_t time_ns,
		   const struct thread_stacks *s)
{
	if (r->json)
		report_json__crash(r, tid, sig, comm, time_ns, s);
	else
		report_text__crash(r, tid, sig, comm, s);
}

void report__stall(struct report *r, const struct stall *st, uint64_t head_lock,
		   const struct child *child, const struct thread_view *parent, size_t nparent)
{
	if (r->json)
		report_json__stall(r, st, head_lock, child, parent, nparent);
	else
		report_text__stall(r, st, head_lock, child, parent, nparent);
}

void report__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock)
{
	if (r->json)
		report_json__fork_hazard(r, f, head_lock);
	else
		report_text__fork_hazard(r, f, head_lock);
}

void report__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock)
{
	if (r->json)
		report_json__lock_order(r, c, head_lock);
	else
		report_text__lock_order(r, c, head_lock);
}
