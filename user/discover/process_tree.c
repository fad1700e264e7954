// SPDX-License-Identifier: MIT
#include "process_tree.h"
#include "proc.h"

void process_tree__read(pid_t root, struct process_tree *out)
{
	pid_t kids[GW_MAX_DESCENDANTS];
	size_t next = 0;
	pid_t parent = root;
	int n, i;

	out->n = 0;
	for (;;) {
		n = proc__children(parent, kids, GW_MAX_DESCENDANTS - out->n);
		for (i = 0; i < n; i++) {
			out->pid[out->n] = kids[i];
			out->parent[out->n++] = parent;
		}
		if (next == out->n)
			return;
		parent = out->pid[next++];
	}
}
