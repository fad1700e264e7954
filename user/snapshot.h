/* SPDX-License-Identifier: MIT */
/* User-space view of one watched process: the kernel-side aggregates read
 * back from the BPF maps, plus the sampled GIL holder.
 */
#ifndef GW_SNAPSHOT_H
#define GW_SNAPSHOT_H

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
	uint64_t holder_samples; /* GIL samples that found this thread holding it */
};

struct proc_snapshot {
	pid_t pid;
	struct gw_proc_stats stats;
	struct thread_row rows[GW_MAX_THREAD_ROWS];
	size_t nrows;
	uint64_t dropped_thread_updates; /* live threads beyond the table */
	uint64_t gil_samples, gil_held_samples;
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
/* Reads the process's aggregates and thread stats from the maps; entries of
 * ended threads are removed from the kernel once copied.
 */
int snapshot__refresh(struct proc_snapshot *s, struct gilwatch_bpf *skel);
/* One sample of who holds the GIL. */
void snapshot__sample_gil(struct proc_snapshot *s, const struct gw_target *t);
/* GIL share of a thread: fraction of samples in which it held the GIL. */
double snapshot__gil_share(const struct proc_snapshot *s, const struct thread_row *r);

#endif
