// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gilwatch.skel.h"
#include "proc.h"
#include "snapshot.h"

void snapshot__init(struct proc_snapshot *s, pid_t pid)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
}

static struct thread_row *start_row(struct proc_snapshot *s, struct thread_row *row, uint32_t tid)
{
	memset(row, 0, sizeof(*row));
	row->tid = tid;
	/* Named now: a short-lived thread is gone by the next refresh. */
	proc__comm(s->pid, tid, row->name, sizeof(row->name));
	return row;
}

struct thread_row *snapshot__thread(struct proc_snapshot *s, uint32_t tid)
{
	size_t i;

	for (i = 0; i < s->nrows; i++) {
		if (s->rows[i].tid == tid)
			return &s->rows[i];
	}
	if (s->nrows < GW_MAX_THREAD_ROWS) {
		i = s->nrows++;
	} else {
		for (i = 0; i < s->nrows && !s->rows[i].final; i++)
			;
		if (i == s->nrows) {
			s->dropped_thread_updates++;
			return NULL;
		}
	}
	return start_row(s, &s->rows[i], tid);
}

struct thread_row *snapshot__thread_started(struct proc_snapshot *s, uint32_t tid)
{
	struct thread_row *row = snapshot__thread(s, tid);

	/* The row of an ended thread whose tid the kernel gave out again. */
	return row && row->final ? start_row(s, row, tid) : row;
}

void snapshot__thread_ended(struct proc_snapshot *s, struct gilwatch_bpf *skel, uint32_t tid,
			    const char *name)
{
	struct thread_row *row = snapshot__thread(s, tid);
	struct gw_thread_stats ts;

	if (!row)
		return;
	memcpy(row->name, name, sizeof(row->name));
	/* Its last figures, copied now: with threads coming and going by the
	 * thousand, its row may go to a new thread before the next refresh,
	 * and the kernel's entry would then stay behind.
	 */
	if (!row->final &&
	    !bpf_map__lookup_elem(skel->maps.thread_stats, &tid, sizeof(tid), &ts, sizeof(ts), 0) &&
	    ts.pid == (uint32_t)s->pid) {
		row->stats = ts;
		bpf_map__delete_elem(skel->maps.thread_stats, &tid, sizeof(tid), 0);
	}
	row->stats.ended = 1;
	row->final = true;
}

static int add_live_thread(pid_t tid, void *ctx)
{
	snapshot__thread(ctx, tid);
	return 0;
}

int snapshot__refresh(struct proc_snapshot *s, struct gilwatch_bpf *skel)
{
	__u32 pid = s->pid;
	struct gw_thread_stats ts;
	size_t i;
	int err;

	err = bpf_map__lookup_elem(skel->maps.proc_stats, &pid, sizeof(pid), &s->stats,
				   sizeof(s->stats), 0);
	if (err)
		return err;
	s->events_dropped = skel->bss->dropped_events;
	/* Threads that never waited show up too: list the live ones. */
	proc__for_each_task(s->pid, add_live_thread, s);
	/* Looked up row by row: walking the 65536-bucket map costs the same
	 * for one thread as for all, once per watched process.
	 */
	for (i = 0; i < s->nrows; i++) {
		struct thread_row *row = &s->rows[i];

		if (row->final ||
		    bpf_map__lookup_elem(skel->maps.thread_stats, &row->tid, sizeof(row->tid), &ts,
					 sizeof(ts), 0) ||
		    ts.pid != pid)
			continue;
		row->stats = ts;
		/* Copied for good: the kernel's entry of an ended thread can go. */
		if (ts.ended) {
			row->final = true;
			bpf_map__delete_elem(skel->maps.thread_stats, &row->tid, sizeof(row->tid),
					     0);
		}
	}
	return 0;
}

pid_t snapshot__sample_gil(struct proc_snapshot *s, const struct gw_target *t, uint64_t weight_ns)
{
	struct thread_row *row;
	pid_t holder;

	if (target__gil_holder(t, &holder))
		return 0;
	s->gil_sampled_ns += weight_ns;
	if (!holder)
		return 0;
	s->gil_held_ns += weight_ns;
	row = snapshot__thread(s, holder);
	if (row)
		row->holder_ns += weight_ns;
	return holder;
}

double snapshot__gil_share(const struct proc_snapshot *s, const struct thread_row *r)
{
	return s->gil_sampled_ns ? (double)r->holder_ns / s->gil_sampled_ns : 0.0;
}
