/* SPDX-License-Identifier: GPL-2.0 */
/* Lock owners and the --deep lock-order graph. Included once, by gilwatch.bpf.c. */
#ifndef GW_LOCK_ORDER_BPF_H
#define GW_LOCK_ORDER_BPF_H

static __always_inline void lock_acquired(__u64 id, __u64 addr, __u64 now, enum gw_lock_kind kind)
{
	struct gw_lock_owner owner = {
	    .pid = id >> 32, .tid = (__u32)id, .since = now, .kind = kind};

	bpf_map_update_elem(&lock_owner, &addr, &owner, BPF_ANY);
}

/* ---- --deep: the lock-order graph (lockdep style) ----
 * An edge H -> L when a thread holding H acquires L or blocks waiting for
 * it. The GIL is a node: waiting for the GIL while holding L is L -> GIL,
 * blocking on L with the GIL held (C code taking HEAD_LOCK) is GIL -> L.
 * Python's non-blocking first try under the GIL is no GIL edge: it cannot
 * wait. A lock released by another thread lingers in the acquirer's set
 * until its owner entry says otherwise.
 */
static __always_inline bool still_held(__u64 lock, __u32 tid)
{
	struct gw_lock_owner *o = bpf_map_lookup_elem(&lock_owner, &lock);
	__u8 bits = 0;

	if (!o || o->tid != tid)
		return false;
	/* Not every PyMutex release passes a probe (profile-guided builds
	 * inline a hot lock method into its caller): the locked bit tells.
	 */
	if (o->kind == GW_LOCK_PYMUTEX &&
	    (bpf_probe_read_user(&bits, sizeof(bits), (void *)lock) || !(bits & 1)))
		return false;
	return true;
}

static __always_inline __u64 lock_born_ns(__u32 pid, __u64 lock)
{
	struct gw_lock_key key = {.pid = pid, .addr = lock};
	__u64 *born = bpf_map_lookup_elem(&lock_born, &key);

	return born ? *born : 0;
}

/* True for a new edge: one not seen, or seen between locks that have since
 * been freed and their memory reused (lock_born).
 */
static __always_inline bool add_edge(__u32 pid, __u32 tid, __u64 from, __u64 to, __u64 now)
{
	struct gw_edge_key key = {.pid = pid, .from = from, .to = to};
	struct gw_edge edge = {.tid = tid, .time_ns = now}, *old;

	if (from == to)
		return false;
	if (!bpf_map_update_elem(&lock_edges, &key, &edge, BPF_NOEXIST))
		return true;
	old = bpf_map_lookup_elem(&lock_edges, &key);
	if (!old ||
	    (old->time_ns >= lock_born_ns(pid, from) && old->time_ns >= lock_born_ns(pid, to)))
		return false;
	*old = edge;
	return true;
}

static __always_inline void note_order(struct gw_thread_state *ts, __u64 id, __u64 to,
				       bool gil_counts)
{
	__u32 pid = id >> 32, tid = (__u32)id, i;
	__u64 now = bpf_ktime_get_ns();
	bool added = false;

	for (i = 0; i < GW_MAX_HELD; i++) {
		if (i < ts->nheld && still_held(ts->held[i], tid))
			added |= add_edge(pid, tid, ts->held[i], to, now);
	}
	if (gil_counts && ts->gil_hold_start)
		added |= add_edge(pid, tid, GW_LOCK_GIL, to, now);
	/* Where the new edges happened: their (tid, time_ns) finds this. */
	if (added)
		emit_stacks((struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()),
			    GW_EV_LOCK_EDGE, 0, now);
}

static __always_inline void held_add(struct gw_thread_state *ts, __u64 lock)
{
	__u32 i, n = ts->nheld;

	for (i = 0; i < GW_MAX_HELD; i++) {
		if (i < n && ts->held[i] == lock)
			return;
	}
	if (n < GW_MAX_HELD) {
		ts->held[n & (GW_MAX_HELD - 1)] = lock;
		ts->nheld = n + 1;
	}
}

static __always_inline void held_remove(struct gw_thread_state *ts, __u64 lock)
{
	__u32 i, last;

	for (i = 0; i < GW_MAX_HELD; i++) {
		if (i >= ts->nheld || ts->held[i] != lock)
			continue;
		last = (ts->nheld - 1) & (GW_MAX_HELD - 1);
		ts->held[i] = ts->held[last];
		ts->nheld--;
		return;
	}
}

/* Any thread may release a threading.Lock: forget the owner; one released
 * by another thread than its acquirer is a signal.
 */
static __always_inline void lock_released(__u64 addr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), one = 1;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);
	struct gw_lock_owner *owner;

	owner = bpf_map_lookup_elem(&lock_owner, &addr);
	if (owner && owner->tid != tid)
		bpf_map_update_elem(&signal_locks, &addr, &one, BPF_ANY);
	bpf_map_delete_elem(&lock_owner, &addr);
	if (ts)
		held_remove(ts, addr);
}

/* Thread id took lock, not waiting for it (uncontended, or its wait has
 * ended): edges from the locks it holds, then it holds this one too.
 */
static __always_inline void lock_taken(struct gw_thread_state *ts, __u64 id, __u64 lock,
				       enum gw_lock_kind kind)
{
	note_order(ts, id, lock, false);
	lock_acquired(id, lock, bpf_ktime_get_ns(), kind);
	held_add(ts, lock);
}

/* Set before load: --deep's programs are loaded. Without them the
 * lock-order code of the programs both modes share is dead, and the
 * verifier does not even walk it.
 */
const volatile bool deep_loaded;

static __always_inline bool deep_mode(__u32 pid)
{
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);

	return deep_loaded && cfg && cfg->deep;
}

#endif
