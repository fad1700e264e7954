/* SPDX-License-Identifier: GPL-2.0 */
/* Default mode's waits, sampled: no probe in the target. Included once, by
 * gilwatch.bpf.c, after gil.bpf.h.
 *
 * In a threaded service a uprobe hit cost ~15 us of its CPU here, not the
 * ~1 us of a single thread (bench/probe_rates.py): timing each GIL wait took
 * two per 5 ms slice, and the service ran 1.4-1.8x slower. Instead user
 * space runs this task iterator over one watched process, 100 times a
 * second while it uses CPU (user/collect/wait_sampler.c), and reads what each
 * thread sleeps on from the system call it is in:
 *  - asleep in futex() on the GIL's condvar, or woken from it and queued
 *    for a CPU (on a busy machine, most of a wait): it waits for the GIL
 *    now, and the sample stands for the time since the last one; the wait
 *    ends at the first sample that finds it elsewhere (or holding the
 *    GIL), its length the sum of the samples that saw it. Total wait time
 *    is estimated without bias; a wait shorter than the period is seen in
 *    proportion to its length.
 *  - asleep in an untimed futex() wait elsewhere: it waits for a lock
 *    (threading.Lock(), a queue, HEAD_LOCK: a semaphore) or another futex;
 *    its holder is unknown without --deep, but for HEAD_LOCK's
 *    (frames.bpf.h).
 */
#ifndef GW_WAIT_SAMPLER_BPF_H
#define GW_WAIT_SAMPLER_BPF_H

/* Set by user space before each run: the time one sample stands for, and
 * the thread that held the GIL at that moment.
 */
__u64 sample_weight_ns = 0;
__u32 sample_gil_holder = 0;

#define GW_NR_FUTEX 202	   /* x86-64 */
#define GW_TASK_SLEEPING 3 /* TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE */
#define GW_FUTEX_WAIT 0
#define GW_FUTEX_WAIT_BITSET 9 /* what glibc's condvars and semaphores wait with */
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

struct futex_sleep {
	__u64 addr; /* 0: the last system call was no futex wait */
	bool timed;
	/* Interrupted in user space since its last system call: the saved
	 * registers are the interrupt's, they tell nothing.
	 */
	bool interrupted;
	/* Asleep in it, or woken and queued for a CPU: not running its own code. */
	bool waiting;
};

/* The futex wait a thread last made (its saved registers) and whether it
 * sleeps in it now: a thread that runs still shows the last call it made.
 */
static __always_inline void futex_sleep_of(struct task_struct *task, struct futex_sleep *f)
{
	struct task_struct___pre514 *old = (void *)task;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	unsigned long state, op;
	long nr;

	f->addr = 0;
	f->interrupted = false;
	if (!regs)
		return;
	nr = BPF_CORE_READ(regs, orig_ax);
	f->interrupted = nr < 0;
	if (nr != GW_NR_FUTEX)
		return;
	op = BPF_CORE_READ(regs, si) & GW_FUTEX_CMD_MASK;
	if (op != GW_FUTEX_WAIT && op != GW_FUTEX_WAIT_BITSET)
		return;
	f->addr = BPF_CORE_READ(regs, di);
	f->timed = BPF_CORE_READ(regs, r10) != 0;
	if (bpf_core_field_exists(task->__state))
		state = BPF_CORE_READ(task, __state);
	else
		state = BPF_CORE_READ(old, state);
	f->waiting = (state & GW_TASK_SLEEPING) || (!state && !BPF_CORE_READ(task, on_cpu));
}

static __always_inline void sample_gil_wait(__u32 pid, __u32 tid, const struct futex_sleep *f,
					    bool on_gil, __u64 weight)
{
	struct gw_thread_stats *tst;
	struct gw_thread_state *ts;

	if (!on_gil || !f->waiting) {
		ts = bpf_map_lookup_elem(&thread_state, &tid);
		if (!ts || ts->pid != pid || !ts->gil_wait_start)
			return;
		/* Seen elsewhere for sure: holding the GIL, or in another
		 * system call; running or interrupted, it may still be in
		 * take_gil()'s loop, for a while.
		 */
		if ((!on_gil && !f->interrupted) || tid == sample_gil_holder ||
		    ++ts->gil_wait_misses >= GW_GIL_WOKEN_SAMPLES) {
			gil_wait_ended(pid, tid, ts->gil_wait_sampled);
			ts->gil_wait_start = ts->gil_wait_sampled = 0;
			ts->gil_wait_misses = 0;
			return;
		}
		/* Still in the wait: counted below, its misses kept. */
	} else {
		ts = thread_state_get((__u64)pid << 32 | tid);
		if (ts)
			ts->gil_wait_misses = 0;
	}
	tst = thread_stats_get(pid, tid);
	if (!ts || !tst)
		return;
	/* It began within the period this sample stands for: at its start,
	 * at the latest, as far as a wait's age goes (stall, deadlock).
	 */
	if (!ts->gil_wait_start) {
		ts->gil_wait_start = bpf_ktime_get_ns() - weight;
		tst->gil_waits++;
	}
	ts->gil_wait_sampled += weight;
	tst->gil_wait_ns += weight;
}

static __always_inline void sample_lock_wait(__u32 pid, __u32 tid, const struct futex_sleep *f,
					     bool on_gil, __u64 weight)
{
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);

	if (ts && ts->pid != pid)
		ts = NULL;
	if (f->addr && f->waiting && !f->timed && !on_gil) {
		if (!ts)
			ts = thread_state_get((__u64)pid << 32 | tid);
		/* The same wait goes on, or another starts. */
		if (ts && ts->lock_wait_addr != f->addr) {
			ts->lock_wait_addr = f->addr;
			ts->lock_wait_start = bpf_ktime_get_ns() - weight;
		}
	} else if (ts) {
		ts->lock_wait_addr = ts->lock_wait_start = 0;
	}
}

SEC("iter/task")
int gw_sample_waits(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	__u64 weight = sample_weight_ns;
	struct gw_proc_cfg *cfg;
	struct futex_sleep f;
	__u32 pid, tid;
	bool on_gil;

	if (!task)
		return 0;
	pid = BPF_CORE_READ(task, tgid);
	tid = BPF_CORE_READ(task, pid);
	cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	if (!cfg || cfg->deep)
		return 0;
	futex_sleep_of(task, &f);
	on_gil = f.addr && cfg->gil_cond && f.addr - cfg->gil_cond < GW_COND_BYTES;
	if (cfg->gil_cond)
		sample_gil_wait(pid, tid, &f, on_gil, weight);
	sample_lock_wait(pid, tid, &f, on_gil, weight);
	return 0;
}

#endif
