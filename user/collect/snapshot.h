/* SPDX-License-Identifier: MIT */
/* User-space view of one watched process: the kernel-side aggregates read
 * back from the BPF maps, plus the sampled GIL holder.
 */
#ifndef GW_SNAPSHOT_H
#define GW_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "gilwatch.h"
#include "target.h"

#define GW_MAX_THREAD_ROWS 4096

struct gilwatch_bpf;

struct thread_row {
	uint32_t tid;
	char name[GW_COMM_LEN];
	struct gw_thread_stats stats;
	uint64_t holder_ns; /* sampled time this thread held the GIL */
	bool final;	    /* ended, and its last stats copied */
};

struct proc_snapshot {
	pid_t pid;
	struct gw_proc_stats stats;
	struct thread_row rows[GW_MAX_THREAD_ROWS];
	size_t nrows;
	uint64_t dropped_thread_updates; /* live threads beyond the table */
	/* GIL samples, each weighted by the time since the one before. */
	uint64_t gil_sampled_ns, gil_held_ns;
	uint64_t events_dropped;
	uint64_t deadlocks; /* confirmed deadlocks reported */
	uint64_t stalls;
	uint64_t lock_order_cycles; /* --deep */
	uint64_t fork_hazards;
};

void snapshot__init(struct proc_snapshot *s, pid_t pid);
/* Finds or adds the row of a thread, reusing the row of an ended thread
 * when the table is full; NULL (and counted) when all rows are live.
 */
struct thread_row *snapshot__thread(struct proc_snapshot *s, uint32_t tid);
/* The same for a thread just started: a row left by an ended thread with
 * the same tid starts afresh.
 */
struct thread_row *snapshot__thread_started(struct proc_snapshot *s, uint32_t tid);
/* A thread ended (its GW_EV_THREAD_END): its row takes the kernel entry's
 * last figures and the entry goes.
 */
void snapshot__thread_ended(struct proc_snapshot *s, struct gilwatch_bpf *skel, uint32_t tid,
			    const char *name);
/* Reads the process's aggregates and its threads' stats from the maps;
 * entries of ended threads are removed from the kernel once copied.
 */
int snapshot__refresh(struct proc_snapshot *s, struct gilwatch_bpf *skel);
/* One sample of who holds the GIL, standing for weight_ns: the holder's
 * tid, 0 if none or unknown.
 */
pid_t snapshot__sample_gil(struct proc_snapshot *s, const struct gw_target *t, uint64_t weight_ns);
/* GIL share of a thread: the fraction of sampled time it held the GIL. */
double snapshot__gil_share(const struct proc_snapshot *s, const struct thread_row *r);

#endif
