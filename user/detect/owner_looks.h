/* SPDX-License-Identifier: MIT */
/* Owners of the locks threads wait for, read from the process instead of
 * traced (an RLock keeps its owner in the object): an owner counts once two
 * looks at least the threshold apart agree, with the waiter using no CPU
 * in between, so that a lock handed on between the looks is not taken for
 * a deadlock's. A lock with no owner to read is not looked at again while
 * the same wait lasts.
 */
#ifndef GW_OWNER_LOOKS_H
#define GW_OWNER_LOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "wait_graph.h"

#define GW_OWNER_LOOKS 256

/* The owner of the lock at addr that thread tid waits for (0: none now)
 * and *sig, what must not change while nothing moves. -ENOENT: the lock
 * has no owner to read; another error: not now (a stopped thread).
 */
typedef int (*lock_owner_reader)(void *ctx, uint32_t tid, uint64_t addr, uint32_t *owner,
				 uint64_t *sig);

struct owner_look {
	uint64_t addr, since_ns; /* the wait looked at */
	uint64_t at_ns, sig;	 /* the last look */
	uint32_t tid, owner;
	bool confirmed, ownerless;
};

/* Direct-mapped by tid: a collision only costs a new look. */
struct owner_looks {
	struct owner_look slot[GW_OWNER_LOOKS];
};

/* The confirmed owner of the lock waiter w waits for, 0 if none yet; reads
 * through read at most once per threshold_ns for one wait.
 */
uint32_t owner_looks__owner(struct owner_looks *o, lock_owner_reader read, void *ctx,
			    const struct waiter *w, uint64_t now_ns, uint64_t threshold_ns);

#endif
