/* SPDX-License-Identifier: GPL-2.0 */
/* GIL waits (sampled by default, timed under --deep) and every GIL handoff
 * (--deep). Included once, by gilwatch.bpf.c.
 */
#ifndef GW_GIL_BPF_H
#define GW_GIL_BPF_H

/* ---- Default mode: GIL waiters sampled, no probe in the target ----
 * In a threaded service a uprobe hit cost ~15 us of its CPU here, not the
 * ~1 us of a single thread (bench/probe_rates.py): timing each wait took two
 * per 5 ms slice, and the service ran 1.4-1.8x slower. Instead user space runs
 * this task iterator over one watched process, 100 times a second while it
 * uses CPU: a thread asleep in futex() on the GIL's condvar, or woken from
 * it and queued for a CPU, waits for the GIL now, and each such sample
 * stands for the time since the last one; the wait ends at the first
 * sample that finds it elsewhere (or holding the GIL), its length the sum
 * of the samples that saw it.
 * Total wait time is estimated without bias; a wait shorter than the
 * period is seen in proportion to its length.
 */

/* Set by user space before each run: the time one sample stands for, and
 * the thread that held the GIL at that moment.
 */
__u64 gil_sample_weight_ns = 0;
__u32 gil_sample_holder = 0;

/* pthread_cond_t: the futex words a waiter sleeps on lie inside it. */
#define GW_COND_BYTES 48
#define GW_NR_FUTEX 202	   /* x86-64 */
#define GW_TASK_SLEEPING 3 /* TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE */
#define GW_FUTEX_WAIT 0
#define GW_FUTEX_WAIT_BITSET 9 /* what glibc's condvars wait with */
#define GW_FUTEX_CMD_MASK 0x7f
/* A waiter running on a CPU (or interrupted there) that is not the GIL
 * holder is checking the GIL between two sleeps; after this many such
 * samples in a row it is taken to do something else (it took and left the
 * GIL without a system call).
 */
#define GW_GIL_WOKEN_SAMPLES 10

/* Before 5.14 the state field was `long state`. */
struct task_struct___pre514 {
	long state;
};

enum gil_sleep {
	GIL_NOT_WAITING, /* in another system call since: elsewhere for sure */
	GIL_WAITING,	 /* asleep on the GIL's condvar, or woken and queued for a CPU */
	GIL_MAYBE,	 /* running, or interrupted in user space: may be in take_gil() */
};

/* Where a thread is in a GIL wait, from the system call it last made (the
 * saved registers) and its scheduling state: a thread that runs still
 * shows the last call it made; one interrupted in user space shows the
 * interrupt's registers instead.
 */
static __always_inline enum gil_sleep gil_sleep_of(struct task_struct *task,
						   const struct gw_proc_cfg *cfg)
{
	struct task_struct___pre514 *old = (void *)task;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	unsigned long state, op;
	long nr;

	if (!regs)
		return GIL_NOT_WAITING;
	nr = BPF_CORE_READ(regs, orig_ax);
	if (nr < 0)
		return GIL_MAYBE;
	op = BPF_CORE_READ(regs, si) & GW_FUTEX_CMD_MASK;
	if (nr != GW_NR_FUTEX || (op != GW_FUTEX_WAIT && op != GW_FUTEX_WAIT_BITSET) ||
	    BPF_CORE_READ(regs, di) - cfg->gil_cond >= GW_COND_BYTES)
		return GIL_NOT_WAITING;
	if (bpf_core_field_exists(task->__state))
		state = BPF_CORE_READ(task, __state);
	else
		state = BPF_CORE_READ(old, state);
	/* On a busy machine much of a wait is spent woken, waiting for a CPU. */
	if ((state & GW_TASK_SLEEPING) || (!state && !BPF_CORE_READ(task, on_cpu)))
		return GIL_WAITING;
	return GIL_MAYBE;
}

static __always_inline void gil_wait_ended(__u32 pid, __u32 tid, __u64 dur)
{
	struct gw_thread_stats *tst = thread_stats_get(pid, tid);
	struct gw_proc_stats *ps = proc_stats_get(pid);

	if (tst && dur > tst->gil_wait_max_ns)
		tst->gil_wait_max_ns = dur;
	if (ps)
		__sync_fetch_and_add(&ps->gil_wait_hist[hist_slot(dur)], 1);
}

SEC("iter/task")
int gw_sample_gil_waits(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	__u64 weight = gil_sample_weight_ns;
	struct gw_thread_stats *tst;
	enum gil_sleep sleep;
	struct gw_thread_state *ts;
	struct gw_proc_cfg *cfg;
	__u32 pid, tid;

	if (!task)
		return 0;
	pid = BPF_CORE_READ(task, tgid);
	tid = BPF_CORE_READ(task, pid);
	cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	if (!cfg || cfg->deep || !cfg->gil_cond)
		return 0;
	sleep = gil_sleep_of(task, cfg);
	if (sleep != GIL_WAITING) {
		ts = bpf_map_lookup_elem(&thread_state, &tid);
		if (!ts || ts->pid != pid || !ts->gil_wait_start)
			return 0;
		if (sleep == GIL_NOT_WAITING || tid == gil_sample_holder ||
		    ++ts->gil_wait_misses >= GW_GIL_WOKEN_SAMPLES) {
			gil_wait_ended(pid, tid, ts->gil_wait_sampled);
			ts->gil_wait_start = ts->gil_wait_sampled = 0;
			ts->gil_wait_misses = 0;
			return 0;
		}
		/* Still in the wait, as far as can be told: counted. */
	} else {
		ts = thread_state_get((__u64)pid << 32 | tid);
		if (ts)
			ts->gil_wait_misses = 0;
	}
	tst = thread_stats_get(pid, tid);
	if (!ts || !tst)
		return 0;
	/* It began within the period this sample stands for: at its start,
	 * at the latest, as far as a wait's age goes (stall, deadlock).
	 */
	if (!ts->gil_wait_start) {
		ts->gil_wait_start = bpf_ktime_get_ns() - weight;
		tst->gil_waits++;
	}
	ts->gil_wait_sampled += weight;
	tst->gil_wait_ns += weight;
	return 0;
}

/* ---- --deep: each GIL wait timed, at the futex sleeps of its condvar ----
 * Probed inside glibc's pthread_cond_timedwait(), at the call of its futex
 * wait and where that call returns (user/libc_condvar.h): the condvar's
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
		if (cfg->deep)
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
