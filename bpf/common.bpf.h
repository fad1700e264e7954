/* SPDX-License-Identifier: GPL-2.0 */
/* Maps and helpers shared by the probes. Included once, by gilwatch.bpf.c. */
#ifndef GW_COMMON_BPF_H
#define GW_COMMON_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GW_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct gw_proc_cfg);
} proc_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GW_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct gw_proc_stats);
} proc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct gw_thread_stats);
} thread_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct gw_thread_state);
} thread_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_LOCKS);
	__type(key, __u64);
	__type(value, struct gw_lock_owner);
} lock_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GW_MAX_EDGES);
	__type(key, struct gw_edge_key);
	__type(value, struct gw_edge);
} lock_edges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_LOCKS);
	__type(key, struct gw_lock_key);
	__type(value, __u64); /* bpf_ktime_get_ns() of its sem_init */
} lock_born SEC(".maps");

/* --deep: semaphores released by a thread other than their acquirer: used
 * as signals (threading.Condition's waiter locks, Event), not as mutexes, so
 * they are left out of the lock-order graph.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_LOCKS);
	__type(key, __u64);
	__type(value, __u32);
} signal_locks SEC(".maps");

__u64 dropped_events = 0;

static __always_inline __u32 hist_slot(__u64 v)
{
	__u32 slot = 0;

	if (v >> 32) {
		v >>= 32;
		slot += 32;
	}
	if (v >> 16) {
		v >>= 16;
		slot += 16;
	}
	if (v >> 8) {
		v >>= 8;
		slot += 8;
	}
	if (v >> 4) {
		v >>= 4;
		slot += 4;
	}
	if (v >> 2) {
		v >>= 2;
		slot += 2;
	}
	if (v >> 1)
		slot += 1;
	return slot < GW_HIST_SLOTS ? slot : GW_HIST_SLOTS - 1;
}

/* Map entries start from these: a zeroed initializer on the BPF stack
 * costs its full size in every caller (152 bytes for a thread state).
 */
static const struct gw_thread_state zero_thread_state;
static const struct gw_thread_stats zero_thread_stats;

/* NULL for a process not watched: probes on a binary shared by all its
 * processes (the agent's) fire in processes not watched yet, too. The
 * watched check is paid only when a thread's entry is created.
 */
static __always_inline struct gw_thread_state *thread_state_get(__u64 pid_tgid)
{
	__u32 pid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);

	if (ts && ts->pid == pid)
		return ts;
	if (!bpf_map_lookup_elem(&proc_cfg, &pid))
		return NULL;
	/* A new thread, or a reused tid of another process: start afresh. */
	bpf_map_update_elem(&thread_state, &tid, &zero_thread_state, BPF_ANY);
	ts = bpf_map_lookup_elem(&thread_state, &tid);
	if (ts)
		ts->pid = pid;
	return ts;
}

static __always_inline struct gw_thread_stats *thread_stats_get(__u32 pid, __u32 tid)
{
	struct gw_thread_stats *tst = bpf_map_lookup_elem(&thread_stats, &tid);

	/* A tid given out again: the entry of an ended thread, or of another
	 * process, is not this thread's.
	 */
	if (tst && tst->pid == pid && !tst->ended)
		return tst;
	bpf_map_update_elem(&thread_stats, &tid, &zero_thread_stats, BPF_ANY);
	tst = bpf_map_lookup_elem(&thread_stats, &tid);
	if (tst)
		tst->pid = pid;
	return tst;
}

/* User space creates the entry when it starts watching the process: the
 * value is too large for the BPF stack.
 */
static __always_inline struct gw_proc_stats *proc_stats_get(__u32 pid)
{
	return bpf_map_lookup_elem(&proc_stats, &pid);
}

/* Returns false when the ring buffer was full (the drop is counted). */
static __always_inline bool emit_addr(__u32 type, __u32 pid, __u32 tid, __u32 arg, __u64 now,
				      __u64 duration, __u64 addr)
{
	struct gw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&dropped_events, 1);
		return false;
	}
	e->type = type;
	e->pid = pid;
	e->tid = tid;
	e->arg = arg;
	e->time_ns = now;
	e->duration_ns = duration;
	e->addr = addr;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return true;
}

static __always_inline void emit(__u32 type, __u32 pid, __u32 tid, __u32 arg, __u64 now,
				 __u64 duration)
{
	emit_addr(type, pid, tid, arg, now, duration, 0);
}

/* A thread that collects, collects frames or takes a lock is not waiting
 * for the GIL: a wait whose end was missed (another thread took the GIL
 * first, and this one then got it without sleeping) must not linger into
 * the wait-for graph.
 */
static __always_inline void forget_gil_wait(struct gw_thread_state *ts)
{
	ts->gil_wait_start = 0;
	ts->in_gil_cond_wait = 0;
}

#endif
