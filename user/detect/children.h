/* SPDX-License-Identifier: MIT */
/* Forked children of the watched process that did not exec (a fork-start
 * multiprocessing or ProcessPoolExecutor worker): gilwatch follows them
 * through /proc and the interpreter state they inherited, to report a child
 * that stalls, with how it was forked and what its parent waits on.
 */
#ifndef GW_CHILDREN_H
#define GW_CHILDREN_H

#include <stdbool.h>
#include "stall.h"
#include "target.h"

#define GW_MAX_CHILDREN 16

struct child {
	struct gw_target target; /* the parent's, with the child's pid: fork
				  * copied the interpreter at the same addresses */
	uint32_t forking_tid;
	uint32_t parent_threads; /* threads the parent had at the fork */
	struct stall_detector stall;
	bool active;
};

struct children {
	struct child list[GW_MAX_CHILDREN];
};

void children__fork(struct children *c, const struct gw_target *parent, uint32_t child,
		    uint32_t tid, uint32_t parent_threads, uint64_t stall_threshold_ns);
/* The child ran exec() or exited: another program now, or gone. */
void children__forget(struct children *c, uint32_t child);

#endif
