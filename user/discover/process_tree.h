/* SPDX-License-Identifier: MIT */
/* The descendants of a process that exist now, parents before children
 * (/proc/PID/task/TID/children): a worker pool's workers, a forkserver's.
 */
#ifndef GW_PROCESS_TREE_H
#define GW_PROCESS_TREE_H

#include <stddef.h>
#include <sys/types.h>

#define GW_MAX_DESCENDANTS 64

struct process_tree {
	pid_t pid[GW_MAX_DESCENDANTS];
	pid_t parent[GW_MAX_DESCENDANTS];
	size_t n;
};

/* Breadth first, at most GW_MAX_DESCENDANTS; root itself not included. */
void process_tree__read(pid_t root, struct process_tree *out);

#endif
