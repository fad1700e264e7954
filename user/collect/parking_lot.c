// SPDX-License-Identifier: MIT
#include "parking_lot.h"
#include "proc.h"

#define ENTRY_SEMA 16 /* offsetof(struct wait_entry, sema) */
#define ENTRY_ADDR 8  /* offsetof(struct wait_entry, addr) */
#define MUTEX_LOCKED 1
#define MUTEX_HAS_PARKED 2

uint64_t parking_lot__mutex(const struct gw_target *t, uint64_t futex)
{
	uint64_t mutex = 0;
	uint8_t bits = 0;

	if (t->build.major != 3 || t->build.minor < 13 || futex < ENTRY_SEMA ||
	    proc__read_mem(t->pid, futex - ENTRY_SEMA + ENTRY_ADDR, &mutex, sizeof(mutex)) ||
	    !mutex || proc__read_mem(t->pid, mutex, &bits, sizeof(bits)) ||
	    (bits & (MUTEX_LOCKED | MUTEX_HAS_PARKED)) != (MUTEX_LOCKED | MUTEX_HAS_PARKED))
		return futex;
	return mutex;
}

uint64_t parking_lot__mutex_cached(struct parking_lot_cache *c, const struct gw_target *t,
				   uint32_t tid, uint64_t futex, uint64_t since_ns)
{
	typeof(&c->slot[0]) s = &c->slot[tid % PARKING_LOT_CACHE];

	if (s->tid != tid || s->futex != futex || s->since_ns != since_ns) {
		s->tid = tid;
		s->futex = futex;
		s->since_ns = since_ns;
		s->mutex = parking_lot__mutex(t, futex);
	}
	return s->mutex;
}
