/* SPDX-License-Identifier: MIT */
/* A PyMutex waiter (3.13+: HEAD_LOCK; 3.14+: threading.Lock and RLock too)
 * does not sleep on the mutex: CPython's parking lot puts a wait entry on
 * the waiter's stack and sleeps on the semaphore inside it. The futex a
 * sampled wait shows is that semaphore; the mutex it waits for is the
 * entry's `addr` (Python/parking_lot.c, the same in 3.13-3.15):
 *   struct wait_entry { void *park_arg; uintptr_t addr; _PySemaphore sema; ... };
 * with the semaphore (glibc's sem_t, its futex word first) 16 bytes in.
 */
#ifndef GW_PARKING_LOT_H
#define GW_PARKING_LOT_H

#include <stdint.h>

#include "target.h"

#define PARKING_LOT_CACHE 256

/* The mutex of the last wait looked up, by thread: a wait keeps its entry
 * while it lasts (the next one may reuse the stack slot for another mutex).
 */
struct parking_lot_cache {
	struct {
		uint32_t tid;
		uint64_t futex, since_ns, mutex;
	} slot[PARKING_LOT_CACHE];
};

/* The PyMutex whose waiter sleeps on futex in t, or futex itself if it is
 * no parking-lot semaphore of a parked PyMutex waiter (the mutex must be
 * locked with waiters parked: its two low bits set).
 */
uint64_t parking_lot__mutex(const struct gw_target *t, uint64_t futex);
/* The same, remembered for thread tid's wait that began at since_ns. */
uint64_t parking_lot__mutex_cached(struct parking_lot_cache *c, const struct gw_target *t,
				   uint32_t tid, uint64_t futex, uint64_t since_ns);

#endif
