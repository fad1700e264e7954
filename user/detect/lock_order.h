/* SPDX-License-Identifier: MIT */
/* Cycles in the lock-order graph (--deep): lock A is held while B is taken
 * or waited for in one place, B held while A in another. Reported before
 * they deadlock, as lockdep and TSan do ("Cycle in lock order graph").
 */
#ifndef GW_LOCK_ORDER_H
#define GW_LOCK_ORDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GW_MAX_ORDER_EDGES 1024
#define GW_MAX_ORDER_CYCLE 8
#define GW_MAX_ORDER_REPORTED 64

struct order_edge {
	uint64_t from, to; /* semaphore addresses, or GW_LOCK_GIL */
	uint32_t tid;	   /* the first thread that took them in this order */
	uint64_t time_ns;
};

/* Where an edge was made: the top of the acquiring thread's stacks,
 * captured in BPF when the edge first appeared.
 */
#define EDGE_WHERE_PY 4
#define EDGE_WHERE_NATIVE 6
struct edge_where {
	uint32_t tid;
	uint64_t time_ns; /* the edge's */
	unsigned py_n, native_n;
	struct {
		char function[128];
		char file[256];
		int line;
	} py[EDGE_WHERE_PY];
	char native[EDGE_WHERE_NATIVE][96];
};

struct order_cycle {
	size_t n;
	struct order_edge edges[GW_MAX_ORDER_CYCLE];	    /* edges[i].to == edges[i+1].from */
	const struct edge_where *where[GW_MAX_ORDER_CYCLE]; /* NULL: not captured */
	uint64_t key;
};

/* Cycles among the edges, each once (starting at its lowest lock). */
size_t lock_order__cycles(const struct order_edge *e, size_t n, struct order_cycle *out,
			  size_t max);

struct gilwatch_bpf;

struct lock_order {
	pid_t pid;
	uint64_t reported[GW_MAX_ORDER_REPORTED];
	size_t nreported;
	uint64_t inversions;
};

/* Reads the process's edges; returns 1 and fills out for a new cycle. */
int lock_order__scan(struct lock_order *lo, struct gilwatch_bpf *skel, struct order_cycle *out);

#endif
