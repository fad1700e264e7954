/* SPDX-License-Identifier: GPL-2.0 */
/* GIL waits (default) and every GIL handoff (--deep). Included once, by gilwatch.bpf.c. */
#ifndef GW_GIL_BPF_H
#define GW_GIL_BPF_H

/* ---- Contended GIL waits: pthread_cond_timedwait(&gil->cond, ...) ----
 * Not a uretprobe: a GIL waiter inside a frozen process returns every 5 ms,
 * and a uretprobe hit that often keeps the kernel's uretprobe SRCU reader
 * of an outer, never-returning probed call (_current_frames, a collection)
 * alive, so detaching blocks until the target dies. Instead the entry hands
 * its return address (an instruction boundary in take_gil) to user space
 * once, which puts a plain uprobe there: gw_cond_return.
 */

SEC("uprobe")
int BPF_KPROBE(gw_cond_enter, void *cond)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	struct gw_site_key site = {.pid = pid};
	struct gw_thread_state *ts;
	__u32 *probed, seen = GW_SITE_SEEN;

	if (!cfg || (__u64)cond != cfg->gil_cond)
		return 0;
	if (bpf_probe_read_user(&site.addr, sizeof(site.addr), (void *)PT_REGS_SP(ctx)))
		return 0;
	probed = bpf_map_lookup_elem(&return_sites, &site);
	if (!probed) {
		/* Lost with a full ring buffer: forget it, the next wait retries. */
		if (!bpf_map_update_elem(&return_sites, &site, &seen, BPF_NOEXIST) &&
		    !emit_addr(GW_EV_RETURN_SITE, pid, (__u32)id, 0, bpf_ktime_get_ns(), 0,
			       site.addr))
			bpf_map_delete_elem(&return_sites, &site);
		return 0;
	}
	/* Until user space probes the return site, this wait's end would go
	 * unseen: do not start it (the next 5 ms slice will).
	 */
	if (*probed != GW_SITE_PROBED)
		return 0;
	ts = thread_state_get(id);
	if (!ts)
		return 0;
	/* take_gil() waits in 5 ms slices: the first slice starts the wait. */
	if (!ts->gil_wait_start) {
		ts->gil_wait_start = bpf_ktime_get_ns();
		if (cfg->deep)
			note_order(ts, id, GW_LOCK_GIL, false);
	}
	ts->in_gil_cond_wait = 1;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_cond_return)
{
	__u64 id = bpf_get_current_pid_tgid(), now, dur;
	__u32 pid = id >> 32, tid = (__u32)id;
	struct gw_thread_stats *tst;
	struct gw_proc_stats *ps;
	struct gw_thread_state *ts;
	struct gw_proc_cfg *cfg;
	int locked = 1;

	ts = bpf_map_lookup_elem(&thread_state, &tid);
	if (!ts || !ts->in_gil_cond_wait)
		return 0;
	ts->in_gil_cond_wait = 0;
	cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	if (!cfg)
		return 0;
	/* We hold gil->mutex here and `locked` only changes under it: if it
	 * is clear, take_gil() leaves its loop and this thread owns the GIL.
	 */
	if (bpf_probe_read_user(&locked, sizeof(locked), (void *)cfg->gil_locked) || locked)
		return 0;
	now = bpf_ktime_get_ns();
	dur = now - ts->gil_wait_start;
	ts->gil_wait_start = 0;
	tst = thread_stats_get(pid, tid);
	if (tst) {
		tst->gil_wait_ns += dur;
		tst->gil_waits++;
		if (dur > tst->gil_wait_max_ns)
			tst->gil_wait_max_ns = dur;
	}
	ps = proc_stats_get(pid);
	if (ps)
		__sync_fetch_and_add(&ps->gil_wait_hist[hist_slot(dur)], 1);
	return 0;
}

/* ---- --deep: every GIL acquisition and release ---- */

SEC("uretprobe")
int BPF_KRETPROBE(gw_take_gil_exit)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct gw_thread_state *ts = thread_state_get(id);
	struct gw_thread_stats *tst;
	struct gw_proc_stats *ps;

	if (!ts)
		return 0;
	ts->gil_hold_start = bpf_ktime_get_ns();
	tst = thread_stats_get(pid, tid);
	if (tst)
		tst->gil_acquires++;
	/* Only the GIL holder runs here, so the pair below cannot race. */
	ps = proc_stats_get(pid);
	if (ps && ps->gil_last_tid != tid) {
		ps->gil_last_tid = tid;
		ps->gil_handoffs++;
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_drop_gil_enter)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);
	struct gw_thread_stats *tst;

	if (!ts || !ts->gil_hold_start)
		return 0;
	tst = thread_stats_get(pid, tid);
	if (tst)
		tst->gil_hold_ns += bpf_ktime_get_ns() - ts->gil_hold_start;
	ts->gil_hold_start = 0;
	return 0;
}

#endif
