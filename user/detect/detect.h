/* SPDX-License-Identifier: MIT */
/* Deadlock detection for one process: the wait-for graph built from the
 * threads' wait states (BPF maps) and the lock holders (GIL state and
 * semaphores read from the target), scanned periodically.
 */
#ifndef GW_DETECT_H
#define GW_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "target.h"
#include "wait_graph.h"

#define GW_MAX_WAITERS 512
#define GW_MAX_REPORTED 64

struct gilwatch_bpf;

struct detector {
	const struct gw_target *target;
	uint64_t threshold_ns; /* a cycle must last this long */
	bool deep;	       /* owners of every lock are tracked */
	uint64_t reported[GW_MAX_REPORTED];
	size_t nreported;
	uint64_t deadlocks;
	uint64_t scanned_ns;   /* CLOCK_MONOTONIC after the last scan's reads */
	uint64_t next_scan_ns; /* no cycle can be found before this */
	uint64_t head_lock;    /* HEAD_LOCK's semaphore when a lock waiter was last seen */
};

void detector__init(struct detector *d, const struct gw_target *t, uint64_t threshold_ns,
		    bool deep);
/* Scans the wait states of the process's threads tids now. Returns 1 and
 * fills *out for a cycle whose every wait is older than the threshold and
 * that was not reported before, else 0.
 */
int detector__scan(struct detector *d, struct gilwatch_bpf *skel, const uint32_t *tids,
		   size_t ntids, struct wait_cycle *out);
/* "GIL", "HEAD_LOCK" or "lock 0x7f...". */
const char *detector__lock_name(enum lock_kind kind, uint64_t addr, char *buf, size_t len);

#endif
