/* SPDX-License-Identifier: GPL-2.0 */
/* PyThread_type_lock waits, acquisitions and releases. Included once, by gilwatch.bpf.c. */
#ifndef GW_LOCKS_BPF_H
#define GW_LOCKS_BPF_H

/* ---- --deep: PyThread_type_lock is a POSIX semaphore (3.10-3.13) ----
 * sem_wait/sem_clockwait/sem_timedwait run when an acquisition may block:
 * contended threading.Lock acquisitions and every HEAD_LOCK acquisition;
 * sem_trywait (uncontended acquisitions) and sem_post. The default mode
 * samples lock waits (wait_sampler.bpf.h) and knows HEAD_LOCK's holder
 * from the frame collections (frames.bpf.h): these probes fire at every
 * blocking acquisition, a threaded service's queue waits included
 * (thousands a second, ~7 us each).
 */

SEC("uprobe")
int BPF_KPROBE(gw_sem_wait_enter, void *sem)
{
	struct gw_thread_state *ts = thread_state_get(bpf_get_current_pid_tgid());

	/* A parked PyMutex waiter's semaphore: the park names the mutex. */
	if (!ts || ts->lock_wait_parked)
		return 0;
	forget_gil_wait(ts);
	ts->lock_wait_addr = (__u64)sem;
	ts->lock_wait_start = bpf_ktime_get_ns();
	if (deep_mode(ts->pid))
		note_order(ts, bpf_get_current_pid_tgid(), (__u64)sem, true);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gw_sem_wait_exit, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);

	if (!ts || !ts->lock_wait_addr || ts->lock_wait_parked)
		return 0;
	if (ret == 0) {
		lock_acquired(id, ts->lock_wait_addr, bpf_ktime_get_ns(), GW_LOCK_SEMAPHORE);
		if (deep_mode(ts->pid))
			held_add(ts, ts->lock_wait_addr);
	}
	ts->lock_wait_addr = 0;
	ts->lock_wait_start = 0;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_sem_try_enter, void *sem)
{
	struct gw_thread_state *ts = thread_state_get(bpf_get_current_pid_tgid());

	if (ts)
		ts->lock_try_addr = (__u64)sem;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gw_sem_try_exit, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);

	if (!ts || !ts->lock_try_addr)
		return 0;
	if (ret == 0) {
		lock_taken(ts, id, ts->lock_try_addr, GW_LOCK_SEMAPHORE);
	}
	ts->lock_try_addr = 0;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_sem_post_enter, void *sem)
{
	lock_released((__u64)sem);
	return 0;
}

/* ---- --deep: where each lock was created ---- */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_LOCKS);
	__type(key, __u64);
	__type(value, struct gw_lock_site);
} lock_sites SEC(".maps");

/* A new lock, perhaps where a freed one was: nothing of that one holds.
 * Note the Python frames that asked for it (threading.Lock(), a Condition,
 * a queue), innermost first.
 */
static __always_inline void lock_created(__u64 key)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gw_lock_site site = {.pid = id >> 32};
	struct gw_lock_key born = {.pid = site.pid, .addr = key};
	__u64 now = bpf_ktime_get_ns();
	struct gw_proc_cfg *cfg;
	struct py_walk *w;

	cfg = bpf_map_lookup_elem(&proc_cfg, &site.pid);
	if (!cfg || !cfg->deep)
		return;
	bpf_map_update_elem(&lock_born, &born, &now, BPF_ANY);
	bpf_map_delete_elem(&lock_owner, &key);
	bpf_map_delete_elem(&signal_locks, &key);
	bpf_map_delete_elem(&lock_sites, &key);
	w = py_walk_start(cfg, GW_SITE_FRAMES, false);
	if (!w)
		return;
	py_walk_frames(w);
	if (!w->n)
		return;
	site.n = w->n;
	bpf_probe_read_kernel(site.code, sizeof(site.code), w->code);
	bpf_probe_read_kernel(site.instr, sizeof(site.instr), w->instr);
	bpf_map_update_elem(&lock_sites, &key, &site, BPF_ANY);
}

/* PyThread_allocate_lock() initializes its semaphore: sem_init rather
 * than a uretprobe on the allocator: no uretprobe on a hot path (they can
 * stall probe removal, see gil.bpf.h), and LTO builds inline the allocator
 * but still call libc.
 */
SEC("uprobe")
int BPF_KPROBE(gw_sem_init, void *lock)
{
	if (lock)
		lock_created((__u64)lock);
	return 0;
}

#endif
