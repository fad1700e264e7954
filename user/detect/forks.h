/* SPDX-License-Identifier: MIT */
/* The fork-with-threads hazard: a process forks while it has other threads.
 * The child keeps only the forking thread; locks the others held and events
 * only they would set are lost. A child that execs right away (subprocess,
 * the spawn start method) loses nothing, so a fork is reported only when no
 * exec follows within a grace period.
 */
#ifndef GW_FORKS_H
#define GW_FORKS_H

#include <stdbool.h>
#include <stdint.h>
#include "thread_view.h"

#define GW_MAX_PENDING_FORKS 8
/* subprocess and spawn exec within microseconds to milliseconds. */
#define GW_FORK_EXEC_GRACE_NS 250000000ull

struct fork_record {
	uint32_t child;
	uint32_t forking_tid;
	uint32_t threads;			/* the parent's threads at the fork */
	uint64_t time_ns;			/* CLOCK_MONOTONIC of the fork */
	struct thread_view views[GW_MAX_VIEWS]; /* the parent's threads then */
	size_t n;
	/* Told after the fact (fork_inference.h): views are the parent's
	 * threads alive at the fork, as they are now.
	 */
	bool inferred;
};

struct fork_tracker {
	struct fork_record pending[GW_MAX_PENDING_FORKS];
	size_t npending;
};

/* A fork; returns the record to fill with the parent's threads, or NULL
 * when it cannot be a hazard (one thread) or too many are pending.
 */
struct fork_record *forks__add(struct fork_tracker *f, uint32_t child, uint32_t tid,
			       uint32_t threads, uint64_t time_ns);
void forks__exec(struct fork_tracker *f, uint32_t child);
/* Pops a fork whose child did not exec in time into out: returns 1, or 0. */
int forks__expired(struct fork_tracker *f, uint64_t now_ns, struct fork_record *out);

#endif
