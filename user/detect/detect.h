/* SPDX-License-Identifier: MIT */
/* Deadlock detection for one process: the wait-for graph built from the
 * threads' wait states (BPF maps) and the lock holders (GIL state and
 * semaphores read from the target), scanned periodically. Pure: it reads
 * only through its detect_reader.
 */
#ifndef GW_DETECT_H
#define GW_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "owner_looks.h"
#include "wait_graph.h"

#define GW_MAX_WAITERS 512
#define GW_MAX_REPORTED 64

struct gw_thread_state;
struct gw_lock_owner;

/* What a scan reads: the threads' wait states and lock owners the BPF
 * side keeps, and the target's lock words (detect_bpf.c reads the maps and
 * the process; the unit tests give their own).
 */
struct detect_reader {
	/* Thread tid's wait state: 0, or -ENOENT when it has none. */
	int (*thread_state)(void *ctx, uint32_t tid, struct gw_thread_state *out);
	/* --deep: the last acquirer of the lock at addr: 0 or -ENOENT. */
	int (*lock_owner)(void *ctx, uint64_t addr, struct gw_lock_owner *out);
	/* --deep: the lock at addr was released by another thread than its
	 * acquirer: a signal (Condition, Event, queue), not a mutex.
	 */
	bool (*signal_lock)(void *ctx, uint64_t addr);
	/* The lock at addr, of enum gw_lock_kind, is taken: a semaphore's
	 * value is 0, a PyMutex's locked bit set.
	 */
	bool (*lock_taken)(void *ctx, uint64_t addr, uint32_t kind);
	/* The GIL's holder, 0 if it is free or unknown. */
	pid_t (*gil_holder)(void *ctx);
	/* HEAD_LOCK's semaphore, 0 if it is none (3.13+) or unknown. */
	uint64_t (*head_lock)(void *ctx);
	/* CLOCK_MONOTONIC now. */
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

/* A look at the native stacks of waiting threads (a snapshot: what shows
 * who holds HEAD_LOCK in a process that froze before gilwatch came).
 */
struct detect_snapshot {
	/* The thread among the waiters w whose native stack holds HEAD_LOCK, 0
	 * if none; *sig: what must not change if nothing moves (their stacks,
	 * the CPU time of the lock waiters, the GIL's handoffs).
	 */
	uint32_t (*head_lock_holder)(void *ctx, const struct waiter *w, size_t n, uint64_t *sig);
	/* The owner of another lock a thread waits for (an RLock's). */
	lock_owner_reader lock_owner;
	void *ctx;
};

struct detector {
	struct detect_reader reader;
	struct detect_snapshot snapshot; /* callbacks NULL: none */
	struct owner_looks owners;	 /* of lock waits, from .lock_owner */
	/* The last look at the stacks: a holder counts once two looks at least
	 * the threshold apart agree.
	 */
	struct {
		uint64_t at_ns, sig;
		uint64_t since_ns; /* the first look the last ones agree with */
		uint32_t holder;
		bool confirmed;
	} look;
	uint64_t looks;
	uint32_t pid;
	uint64_t threshold_ns; /* a cycle must last this long */
	bool deep;	       /* owners of every lock are tracked */
	uint64_t reported[GW_MAX_REPORTED];
	size_t nreported;
	uint64_t deadlocks;
	uint64_t scanned_ns;	/* CLOCK_MONOTONIC after the last scan's reads */
	uint64_t first_scan_ns; /* the first one: scans are frequent for a threshold */
	uint64_t next_scan_ns;	/* no cycle can be found before this */
	uint64_t head_lock;	/* HEAD_LOCK's semaphore when a lock waiter was last seen */
};

/* The detector of process pid, reading through reader. */
void detector__init(struct detector *d, uint32_t pid, const struct detect_reader *reader,
		    uint64_t threshold_ns, bool deep);
/* Lets the detector name HEAD_LOCK's holder from native stacks when no
 * probe saw it taken.
 */
void detector__set_snapshot(struct detector *d, const struct detect_snapshot *s);
/* Scans the wait states of the process's threads tids now. Returns 1 and
 * fills *out for a cycle whose every wait is older than the threshold and
 * that was not reported before, else 0.
 */
int detector__scan(struct detector *d, const uint32_t *tids, size_t ntids, struct wait_cycle *out);
/* "GIL", "HEAD_LOCK" or "lock 0x7f...". */
const char *detector__lock_name(enum lock_kind kind, uint64_t addr, char *buf, size_t len);

#endif
