/* SPDX-License-Identifier: GPL-2.0 */
/* GIL waits timed and every GIL handoff (--deep; the default mode samples
 * waits: wait_sampler.bpf.h). Included once, by gilwatch.bpf.c.
 */
#ifndef GW_GIL_BPF_H
#define GW_GIL_BPF_H

/* pthread_cond_t: the futex words a waiter sleeps on lie inside it. */
#define GW_COND_BYTES 48

/* A GIL wait's end, sampled or timed: its length in the histogram. */
static __always_inline void gil_wait_ended(__u32 pid, __u32 tid, __u64 dur)
{
	struct gw_thread_stats *tst = thread_stats_get(pid, tid);
	struct gw_proc_stats *ps = proc_stats_get(pid);

	if (tst && dur > tst->gil_wait_max_ns)
		tst->gil_wait_max_ns = dur;
	if (ps)
		__sync_fetch_and_add(&ps->gil_wait_hist[hist_slot(dur)], 1);
}

/* ---- --deep: each GIL wait timed, at the futex sleeps of its condvar ----
 * Probed inside glibc's pthread_cond_timedwait(), at the call of its futex
 * wait and where that call returns (user/resolve/libc_condvar.h): the condvar's
 * mutex is released there. Probes at the function's entry and return ran
 * with gil->mutex held, and two traps per 5 ms slice lengthened every
 * hand-off: a threaded service ran 1.7x slower (bench/). Not a uretprobe
 * either: a waiter in a frozen process wakes every 5 ms, and uretprobe
 * hits that often keep the kernel's uretprobe SRCU reader of an outer,
 * never-returning probed call alive, so detaching blocks until it dies.
 */

SEC("uprobe")
int BPF_KPROBE(gw_gil_sleep, void *futex)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	struct gw_thread_state *ts;

	if (!cfg || !cfg->gil_cond || (__u64)futex - cfg->gil_cond >= GW_COND_BYTES)
		return 0;
	ts = thread_state_get(id);
	if (!ts)
		return 0;
	/* take_gil() waits in 5 ms slices: the first sleep starts the wait. */
	if (!ts->gil_wait_start) {
		ts->gil_wait_start = bpf_ktime_get_ns();
		if (deep_loaded && cfg->deep)
			note_order(ts, id, GW_LOCK_GIL, false);
	}
	ts->in_gil_cond_wait = 1;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_gil_woken)
{
	__u64 id = bpf_get_current_pid_tgid(), now, dur;
	__u32 pid = id >> 32, tid = (__u32)id;
	struct gw_thread_stats *tst;
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
	/* Woken or timed out with the GIL still held: the wait goes on. With
	 * it free, this thread takes it as soon as it has the mutex back; if
	 * another one is faster, this thread's next sleep starts a new wait.
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
	}
	gil_wait_ended(pid, tid, dur);
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
