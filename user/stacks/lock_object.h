/* SPDX-License-Identifier: MIT */
/* The threading.RLock a blocked thread waits for, and its owner, read from
 * another process: a process that froze before gilwatch came shows who
 * holds an RLock in the lock object itself (CPython 3.10-3.13:
 * _thread.RLock is {PyObject_HEAD; PyThread_type_lock; owner ident; count},
 * 3.14+ {PyObject_HEAD; PyMutex; owner ident; level}). A threading.Lock
 * has no owner to read.
 */
#ifndef GW_LOCK_OBJECT_H
#define GW_LOCK_OBJECT_H

#include <stdint.h>
#include <sys/types.h>

#include "py_stack.h"
#include "stack_collector.h"
#include "target.h"

struct rlock_view {
	uint64_t obj;	      /* the _thread.RLock object */
	uint64_t owner_ident; /* threading.get_ident() of its owner, 0: none */
	uint64_t count;	      /* its recursion count */
};

/* Whether t's RLocks have the layout above. */
bool lock_object__supported(const struct gw_target *t);
/* The RLock a thread sleeps on, sem (its semaphore; 3.14+: its PyMutex, as
 * parking_lot.h names it), among the objects its
 * innermost Python frames (from frame outwards) point to: a `with` keeps
 * the lock's bound __exit__ on the frame's stack, `acquire()` the lock.
 * -ENOENT if none is found.
 */
int lock_object__find_rlock(const struct gw_target *t, const struct mem_source *mem, uint64_t frame,
			    uint64_t sem, struct rlock_view *out);
/* The OS thread id of the RLock's owner among t's threads; 0 if it has
 * none or the owner is no Python thread.
 */
pid_t lock_object__owner_tid(const struct gw_target *t, const struct mem_source *mem,
			     const struct rlock_view *r);
/* Both: *owner, the owner of the RLock over sem that thread tid of c's
 * target sleeps on (0: none, or no Python thread). -ENOENT if the thread
 * waits for no RLock its frames show.
 */
int lock_object__waited_owner(struct stack_collector *c, pid_t tid, uint64_t sem, pid_t *owner);

#endif
