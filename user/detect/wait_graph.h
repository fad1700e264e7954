/* SPDX-License-Identifier: MIT */
/* The wait-for graph of one process's threads and its cycles. Pure logic:
 * user/detect/detect.c fills it from the BPF maps and the target's memory.
 */
#ifndef GW_WAIT_GRAPH_H
#define GW_WAIT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#define GW_MAX_CYCLE 16

enum lock_kind {
	LOCK_GIL,
	LOCK_HEAD, /* HEAD_LOCK: _PyRuntime.interpreters.mutex */
	LOCK_SEM,  /* any other PyThread_type_lock (threading.Lock, ...) */
};

struct waiter {
	uint32_t tid;
	uint32_t holder; /* thread holding the lock waited for, 0: unknown */
	enum lock_kind kind;
	uint64_t addr;	   /* the lock's semaphore (not for the GIL) */
	uint64_t since_ns; /* CLOCK_MONOTONIC start of the wait */
};

/* members[i] waits for a lock held by members[(i + 1) % n]; a one-thread
 * cycle is a thread waiting for a lock it holds.
 */
struct wait_cycle {
	size_t n;
	struct waiter members[GW_MAX_CYCLE];
	uint64_t closed_ns; /* when the last member started waiting */
	uint64_t key;	    /* identifies the cycle across scans */
};

/* Finds the cycles among n waiters, each reported once, starting at its
 * lowest tid. Returns how many were written to out (at most max).
 */
size_t wait_graph__cycles(const struct waiter *w, size_t n, struct wait_cycle *out, size_t max);

#endif
