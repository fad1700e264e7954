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

/* How the holder at the end of a wait-for edge was known. */
enum holder_source {
	HOLDER_UNKNOWN,
	HOLDER_GIL_STATE,    /* the interpreter's GIL state (last holder, locked) */
	HOLDER_FRAMES_PROBE, /* a probe past a frame collection's HEAD_LOCK call */
	HOLDER_LOCK_OWNER,   /* --deep: the lock's last acquirer, its value 0 */
	HOLDER_NATIVE_STACK, /* a snapshot: its native stack is past a HEAD_LOCK call */
	HOLDER_LOCK_OBJECT,  /* a snapshot: the owner written in the RLock object */
};

/* How the wait itself was known. */
enum wait_source {
	WAIT_SAMPLED,  /* asleep in futex() on the lock, seen by the task iterator */
	WAIT_TRACED,   /* --deep: a probe at the wait's start */
	WAIT_SNAPSHOT, /* read once from /proc (dump) */
};

struct waiter {
	uint32_t tid;
	uint32_t holder; /* thread holding the lock waited for, 0: unknown */
	enum holder_source holder_from;
	enum wait_source wait_from;
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
/* "snapshot" if an edge of c rests on what a look at the process showed
 * (a native stack, an RLock object; confirmed by a second look), "traced"
 * if every edge was watched as it happened.
 */
const char *wait_graph__basis(const struct wait_cycle *c);
/* "gil-state", "frames-probe", "lock-owner", "native-stack", "lock-object",
 * "unknown".
 */
const char *wait_graph__holder_source_name(enum holder_source s);
/* "sampled", "traced", "snapshot". */
const char *wait_graph__wait_source_name(enum wait_source s);

#endif
