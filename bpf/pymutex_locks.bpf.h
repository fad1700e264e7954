/* SPDX-License-Identifier: GPL-2.0 */
/* --deep: threading locks that are PyMutexes (Lock from 3.13.1, RLock from
 * 3.14). Included once, by gilwatch.bpf.c.
 *
 * An uncontended PyMutex acquisition is a compare-and-swap inlined into
 * its caller, with no call to probe; every Python call of a lock method
 * goes through the type's method table, though (lock_type.h): acquire's
 * return tells who took which lock, release's entry that it is free. A
 * blocking acquisition parks: that is the wait, named by the mutex. The
 * lock types keep the mutex right after the object header.
 */
#ifndef GW_PYMUTEX_LOCKS_BPF_H
#define GW_PYMUTEX_LOCKS_BPF_H

#define GW_LOCK_OBJECT_MUTEX 16 /* lockobject.lock, rlockobject.lock */
#define GW_RLOCK_LEVEL 16	/* _PyRecursiveMutex {PyMutex; thread; level}.level */
#define GW_MUTEX_LOCKED 1
#define GW_MUTEX_HAS_PARKED 2

static __always_inline __u64 lock_object_mutex(const void *self)
{
	return (__u64)self + GW_LOCK_OBJECT_MUTEX;
}

/* _PySemaphore_Wait(sema, timeout, detach), called by the parking lot
 * for a thread it parks (LTO builds clone _PyParkingLot_Park, but keep
 * calling the exported _PySemaphore_Wait). sema lies in the waiter's
 * wait entry, {void *park_arg; uintptr_t addr; _PySemaphore sema; ...}
 * (Python/parking_lot.c, 3.13-3.15), whose addr a PyMutex waiter parks on
 * after setting its byte's locked and parked bits. Without detach it waits
 * holding the GIL (HEAD_LOCK): GIL -> mutex.
 */
#define GW_WAIT_ENTRY_ADDR 8
#define GW_WAIT_ENTRY_SEMA 16

SEC("uprobe")
int BPF_KPROBE(gw_park_enter, void *sema, __s64 timeout, int detach)
{
	__u64 id = bpf_get_current_pid_tgid(), addr = 0;
	struct gw_lock_owner *owner;
	struct gw_thread_state *ts;
	__u32 one = 1;
	__u8 bits = 0;

	if (bpf_probe_read_user(&addr, sizeof(addr),
				(void *)sema - GW_WAIT_ENTRY_SEMA + GW_WAIT_ENTRY_ADDR) ||
	    bpf_probe_read_user(&bits, sizeof(bits), (void *)addr) ||
	    (bits & (GW_MUTEX_LOCKED | GW_MUTEX_HAS_PARKED)) !=
		(GW_MUTEX_LOCKED | GW_MUTEX_HAS_PARKED))
		return 0; /* an event, a once-flag: no mutex */
	ts = thread_state_get(id);
	if (!ts)
		return 0;
	/* Waiting for a lock it holds itself, a thread waits for a signal (a
	 * Condition's waiter): whoever releases it, maybe where no probe sees.
	 */
	owner = bpf_map_lookup_elem(&lock_owner, &addr);
	if (owner && owner->tid == (__u32)id)
		bpf_map_update_elem(&signal_locks, &addr, &one, BPF_ANY);
	forget_gil_wait(ts);
	ts->lock_wait_addr = addr;
	ts->lock_wait_start = bpf_ktime_get_ns();
	ts->lock_wait_parked = 1;
	if (deep_mode(ts->pid))
		note_order(ts, id, addr, !detach);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gw_park_exit)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);

	if (!ts || !ts->lock_wait_parked)
		return 0;
	ts->lock_wait_addr = ts->lock_wait_start = 0;
	ts->lock_wait_parked = 0;
	return 0;
}

/* acquire, __enter__, RLock._acquire_restore (self first) */
SEC("uprobe")
int BPF_KPROBE(gw_lock_acquire_enter, void *self)
{
	struct gw_thread_state *ts = thread_state_get(bpf_get_current_pid_tgid());

	if (ts)
		ts->pylock_addr = lock_object_mutex(self);
	return 0;
}

/* Taken: True (acquire), None (_acquire_restore); False or NULL: not. */
SEC("uretprobe")
int BPF_KRETPROBE(gw_lock_acquire_exit, __u64 ret)
{
	__u64 id = bpf_get_current_pid_tgid(), lock;
	__u32 tid = (__u32)id, pid = id >> 32;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);

	if (!ts || !ts->pylock_addr || !cfg)
		return 0;
	lock = ts->pylock_addr;
	ts->pylock_addr = 0;
	/* An RLock taken again by its owner is no new acquisition. */
	if (!ret || (ret != cfg->py_true && ret != cfg->py_none) || still_held(lock, tid))
		return 0;
	lock_taken(ts, id, lock, GW_LOCK_PYMUTEX);
	return 0;
}

/* Lock.release, __exit__, RLock._release_save: the lock is free. */
SEC("uprobe")
int BPF_KPROBE(gw_lock_release, void *self)
{
	lock_released(lock_object_mutex(self));
	return 0;
}

/* RLock.release, __exit__: free at the owner's last release (level 0). */
SEC("uprobe")
int BPF_KPROBE(gw_rlock_release, void *self)
{
	__u64 lock = lock_object_mutex(self), level = 1;
	struct gw_lock_owner *owner = bpf_map_lookup_elem(&lock_owner, &lock);

	if (bpf_probe_read_user(&level, sizeof(level), (void *)(lock + GW_RLOCK_LEVEL)) || level)
		return 0;
	/* Another thread's release fails (RuntimeError). */
	if (owner && owner->tid != (__u32)bpf_get_current_pid_tgid())
		return 0;
	lock_released(lock);
	return 0;
}

/* threading.Lock(), _thread.allocate_lock(), threading.RLock(): the new
 * lock object.
 */
SEC("uretprobe")
int BPF_KRETPROBE(gw_lock_created, void *obj)
{
	if (obj)
		lock_created(lock_object_mutex(obj));
	return 0;
}

/* tp_dealloc: a lock freed while locked (a Condition's waiter, taken
 * again when notified, then dropped) is held by nobody.
 */
SEC("uprobe")
int BPF_KPROBE(gw_lock_freed, void *self)
{
	__u64 lock = lock_object_mutex(self);

	bpf_map_delete_elem(&lock_owner, &lock);
	return 0;
}

#endif
