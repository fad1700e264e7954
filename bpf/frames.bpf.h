/* SPDX-License-Identifier: GPL-2.0 */
/* Frame collection: sys._current_frames()/_current_exceptions(). Included once, by gilwatch.bpf.c.
 */
#ifndef GW_FRAMES_BPF_H
#define GW_FRAMES_BPF_H

/* ---- sys._current_frames() / sys._current_exceptions() ---- */

static __always_inline void frames_head_locked(struct gw_thread_state *ts, struct gw_proc_stats *ps)
{
	ts->frames_head_lock = 1;
	if (ps)
		__sync_fetch_and_add(&ps->frames_active, 1);
}

static __always_inline void frames_leave(struct gw_thread_state *ts, struct gw_proc_stats *ps)
{
	ts->frames_start = 0;
	if (ts->frames_head_lock && ps && ps->frames_active)
		__sync_fetch_and_add(&ps->frames_active, -1);
	ts->frames_head_lock = 0;
}

static __always_inline int frames_begin(__u32 api)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct gw_thread_state *ts = thread_state_get(id);
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	struct gw_proc_stats *ps = proc_stats_get(pid);

	if (!ts || !cfg)
		return 0;
	if (ts->frames_start) /* its return was missed */
		frames_leave(ts, ps);
	forget_gil_wait(ts);
	ts->frames_start = bpf_ktime_get_ns();
	ts->frames_api = api;
	/* Without a probe at its HEAD_LOCK call, held from the entry on. */
	if (!(cfg->head_lock_sites & (1u << api)))
		frames_head_locked(ts, ps);
	return 0;
}

/* The return of a frame collection's HEAD_LOCK call: it holds HEAD_LOCK
 * until it returns. Before, PyDict_New() may collect without it.
 */
SEC("uprobe")
int BPF_KPROBE(gw_frames_head_lock)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);

	if (ts && ts->frames_start && !ts->frames_head_lock)
		frames_head_locked(ts, proc_stats_get(id >> 32));
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_frames_enter)
{
	return frames_begin(GW_API_CURRENT_FRAMES);
}

SEC("uprobe")
int BPF_KPROBE(gw_excs_enter)
{
	return frames_begin(GW_API_CURRENT_EXCEPTIONS);
}

SEC("uretprobe")
int BPF_KRETPROBE(gw_frames_exit)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns(), dur;
	__u32 pid = id >> 32, tid = (__u32)id, api;
	struct gw_thread_stats *tst;
	struct gw_proc_stats *ps;
	struct gw_thread_state *ts;

	ts = bpf_map_lookup_elem(&thread_state, &tid);
	if (!ts || !ts->frames_start)
		return 0;
	dur = now - ts->frames_start;
	api = ts->frames_api & 1;
	ps = proc_stats_get(pid);
	frames_leave(ts, ps);
	if (ps) {
		__sync_fetch_and_add(&ps->frames_calls[api], 1);
		__sync_fetch_and_add(&ps->frames_total_ns[api], dur);
		if (dur > ps->frames_max_ns[api])
			ps->frames_max_ns[api] = dur;
	}
	tst = thread_stats_get(pid, tid);
	if (tst)
		tst->frames_calls++;
	emit(GW_EV_FRAMES, pid, tid, api, now, dur);
	return 0;
}

#endif
