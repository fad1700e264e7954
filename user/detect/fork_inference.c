// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fork_inference.h"
#include "proc.h"

#define MAX_TSTATES 256

/* CLOCK_MONOTONIC of a start time in ticks after boot. */
static uint64_t ticks_to_monotonic_ns(uint64_t ticks)
{
	struct timespec boot, mono;
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t at, offset;

	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	offset =
	    (uint64_t)(boot.tv_sec - mono.tv_sec) * 1000000000ull + boot.tv_nsec - mono.tv_nsec;
	at = ticks * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
	return at > offset ? at - offset : 0;
}

/* The parent's thread whose thread state the child's GIL last held: the
 * one that called fork(). 0 if unknown.
 */
static uint32_t forking_thread(const struct gw_target *parent, pid_t child)
{
	struct target_thread threads[MAX_TSTATES];
	uint64_t last = 0;
	int n, i;

	if (!parent->gil ||
	    proc__read_mem(child, parent->gil + parent->build.layout.gil_last_holder, &last,
			   sizeof(last)) ||
	    !last)
		return 0;
	n = target__threads(parent, threads, MAX_TSTATES);
	for (i = 0; i < n; i++) {
		if (threads[i].tstate == last)
			return (uint32_t)threads[i].tid;
	}
	return 0;
}

int fork_inference__infer(const struct gw_target *parent, pid_t child, struct fork_record *out)
{
	uint64_t child_start, start;
	size_t n, i;

	if (proc__start_ticks(child, 0, &child_start))
		return -ESRCH;
	if (!target__forked_copy(parent, child))
		return -ECHILD;
	memset(out, 0, sizeof(*out));
	out->child = (uint32_t)child;
	out->inferred = true;
	out->time_ns = ticks_to_monotonic_ns(child_start);
	out->forking_tid = forking_thread(parent, child);
	n = thread_view__read(NULL, parent, out->views, GW_MAX_VIEWS);
	/* Threads started since the fork were not there to be lost. Start
	 * times count clock ticks: one started in the fork's tick may have
	 * come after it (a pool's manager thread does), so it is not counted.
	 */
	for (i = 0; i < n; i++) {
		if (!proc__start_ticks(parent->pid, (pid_t)out->views[i].tid, &start) &&
		    (start < child_start || out->views[i].tid == out->forking_tid))
			out->views[out->n++] = out->views[i];
	}
	out->threads = (uint32_t)out->n;
	return 0;
}
