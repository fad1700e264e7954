// SPDX-License-Identifier: GPL-2.0
/* gilwatch BPF side: GC collections, frame-collection calls, contended GIL
 * waits and thread lifecycle of the watched CPython processes.
 *
 * Default probes fire only on rare or slow paths: a GIL wait is seen at
 * pthread_cond_timedwait() on the GIL's own condvar, which take_gil() calls
 * only when the GIL is held by someone else. Per-handoff tracing (a uretprobe
 * on take_gil, a uprobe on drop_gil) is --deep only: it fires on every GIL
 * acquisition and costs ~1 us each (BRIEF 4).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "gilwatch.h"

char LICENSE[] SEC("license") = "GPL";

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

/* Return addresses of GIL condvar waits already handed to user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct gw_site_key);
	__type(value, __u32);
} return_sites SEC(".maps");

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

static __always_inline void *lookup_or_init(void *map, __u32 *key, void *zero)
{
	void *val = bpf_map_lookup_elem(map, key);

	if (val)
		return val;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline struct gw_thread_state *thread_state_get(__u64 pid_tgid)
{
	struct gw_thread_state zero = {.pid = pid_tgid >> 32};
	__u32 tid = (__u32)pid_tgid;

	return lookup_or_init(&thread_state, &tid, &zero);
}

static __always_inline struct gw_thread_stats *thread_stats_get(__u32 pid, __u32 tid)
{
	struct gw_thread_stats zero = {.pid = pid};

	return lookup_or_init(&thread_stats, &tid, &zero);
}

/* User space creates the entry when it starts watching the process: the
 * value is too large for the BPF stack.
 */
static __always_inline struct gw_proc_stats *proc_stats_get(__u32 pid)
{
	return bpf_map_lookup_elem(&proc_stats, &pid);
}

static __always_inline void emit_addr(__u32 type, __u32 pid, __u32 tid, __u32 arg, __u64 now,
				      __u64 duration, __u64 addr)
{
	struct gw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&dropped_events, 1);
		return;
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
}

static __always_inline void emit(__u32 type, __u32 pid, __u32 tid, __u32 arg, __u64 now,
				 __u64 duration)
{
	emit_addr(type, pid, tid, arg, now, duration, 0);
}

/* A thread that collects, collects frames or takes a lock is not waiting
 * for the GIL: a wait whose end was missed (its return site was not probed
 * yet) must not linger into the wait-for graph.
 */
static __always_inline void forget_gil_wait(struct gw_thread_state *ts)
{
	ts->gil_wait_start = 0;
	ts->in_gil_cond_wait = 0;
}

/* ---- GC: gc_collect_main() entry/return, or USDT gc__start/gc__done ---- */

/* 3.13's gcstate->generation_stats[g].collections, 24 bytes apart. */
static __always_inline int read_gc_collections(__u64 stats, __u64 out[GW_GC_GENERATIONS])
{
	__u64 raw[3 * GW_GC_GENERATIONS];
	int i;

	if (bpf_probe_read_user(raw, sizeof(raw), (void *)stats))
		return -1;
	for (i = 0; i < GW_GC_GENERATIONS; i++)
		out[i] = raw[3 * i];
	return 0;
}

static __always_inline int gc_begin(int generation)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	struct gw_thread_state *ts = thread_state_get(id);
	__u32 pid = id >> 32;
	struct gw_proc_stats *ps;
	struct gw_proc_cfg *cfg;

	/* 3.13 enters gc_collect_main() again from a finalizer and returns at
	 * once: only the outermost call is a collection.
	 */
	if (!ts || ts->gc_depth++)
		return 0;
	forget_gil_wait(ts);
	ts->gc_start = now;
	ts->gc_generation = generation;
	if (generation < 0) {
		cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
		if (!cfg || !cfg->gc_stats ||
		    read_gc_collections(cfg->gc_stats, ts->gc_collections))
			ts->gc_generation = GW_GC_GENERATIONS - 1;
	}
	/* gh-106883: a collection while HEAD_LOCK is held for frame collection
	 * runs finalizers that can drop the GIL: the 3.11 freeze's first half.
	 */
	ps = proc_stats_get(pid);
	if (ts->frames_start || (ps && ps->frames_active)) {
		if (ps)
			__sync_fetch_and_add(&ps->hazards_gc_in_frames, 1);
		emit(GW_EV_HAZARD_GC_IN_FRAMES, pid, (__u32)id, generation < 0 ? 0 : generation,
		     now, 0);
	}
	return 0;
}

/* The generation an automatic collection picked: the one whose counter
 * moved; GW_GC_GENERATIONS if none did (nothing needed collecting).
 */
static __always_inline __u32 gc_auto_generation(struct gw_thread_state *ts, __u32 pid)
{
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	__u32 i, gen = GW_GC_GENERATIONS;
	__u64 now[GW_GC_GENERATIONS];

	if (!cfg || read_gc_collections(cfg->gc_stats, now))
		return GW_GC_GENERATIONS;
	for (i = 0; i < GW_GC_GENERATIONS; i++) {
		if (now[i] != ts->gc_collections[i])
			gen = i;
	}
	return gen;
}

static __always_inline int gc_end(void)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns(), dur;
	__u32 pid = id >> 32, tid = (__u32)id;
	struct gw_proc_stats *ps;
	struct gw_thread_state *ts;
	__u64 idx;
	__u32 gen;

	ts = bpf_map_lookup_elem(&thread_state, &tid);
	if (!ts || !ts->gc_depth || --ts->gc_depth || !ts->gc_start)
		return 0;
	dur = now - ts->gc_start;
	gen = ts->gc_generation;
	ts->gc_start = 0;
	if (gen == (__u32)-1) {
		gen = gc_auto_generation(ts, pid);
		if (gen == GW_GC_GENERATIONS)
			return 0;
	}
	if (gen >= GW_GC_GENERATIONS)
		gen = GW_GC_GENERATIONS - 1;
	/* LLVM merges the checks above away from the index register: bound it
	 * where the verifier can see it.
	 */
	idx = gen;
	asm volatile("%0 &= 3" : "+r"(idx));
	ps = proc_stats_get(pid);
	if (ps) {
		/* Collections are serialized by the GIL: plain updates suffice. */
		ps->gc_count[idx]++;
		ps->gc_total_ns[idx] += dur;
		if (dur > ps->gc_max_ns[idx])
			ps->gc_max_ns[idx] = dur;
		ps->gc_hist[hist_slot(dur)]++;
	}
	emit(GW_EV_GC, pid, tid, gen, now, dur);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_gc_enter, void *tstate, int generation)
{
	return gc_begin(generation);
}

SEC("uretprobe")
int BPF_KRETPROBE(gw_gc_exit)
{
	return gc_end();
}

SEC("usdt")
int BPF_USDT(gw_gc_start_usdt, int generation)
{
	return gc_begin(generation);
}

SEC("usdt")
int BPF_USDT(gw_gc_done_usdt)
{
	return gc_end();
}

/* ---- sys._current_frames() / sys._current_exceptions() ---- */

static __always_inline int frames_begin(__u32 api)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gw_thread_state *ts = thread_state_get(id);
	struct gw_proc_stats *ps = proc_stats_get(id >> 32);

	if (!ts)
		return 0;
	forget_gil_wait(ts);
	ts->frames_start = bpf_ktime_get_ns();
	ts->frames_api = api;
	if (ps)
		__sync_fetch_and_add(&ps->frames_active, 1);
	return 0;
}

static __always_inline void frames_leave(struct gw_thread_state *ts, struct gw_proc_stats *ps)
{
	ts->frames_start = 0;
	if (ps && ps->frames_active)
		__sync_fetch_and_add(&ps->frames_active, -1);
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

static __always_inline void lock_acquired(__u64 id, __u64 addr, __u64 now)
{
	struct gw_lock_owner owner = {.pid = id >> 32, .tid = (__u32)id, .since = now};

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

	return o && o->tid == tid;
}

static __always_inline void add_edge(__u32 pid, __u32 tid, __u64 from, __u64 to, __u64 now)
{
	struct gw_edge_key key = {.pid = pid, .from = from, .to = to};
	struct gw_edge edge = {.tid = tid, .time_ns = now};

	if (from != to)
		bpf_map_update_elem(&lock_edges, &key, &edge, BPF_NOEXIST);
}

static __always_inline void note_order(struct gw_thread_state *ts, __u64 id, __u64 to,
				       bool gil_counts)
{
	__u32 pid = id >> 32, tid = (__u32)id, i;
	__u64 now = bpf_ktime_get_ns();

	for (i = 0; i < GW_MAX_HELD; i++) {
		if (i < ts->nheld && still_held(ts->held[i], tid))
			add_edge(pid, tid, ts->held[i], to, now);
	}
	if (gil_counts && ts->gil_hold_start)
		add_edge(pid, tid, GW_LOCK_GIL, to, now);
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

static __always_inline bool deep_mode(__u32 pid)
{
	struct gw_proc_cfg *cfg = bpf_map_lookup_elem(&proc_cfg, &pid);

	return cfg && cfg->deep;
}

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
		if (!bpf_map_update_elem(&return_sites, &site, &seen, BPF_NOEXIST))
			emit_addr(GW_EV_RETURN_SITE, pid, (__u32)id, 0, bpf_ktime_get_ns(), 0,
				  site.addr);
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

/* ---- Locks: PyThread_type_lock is a POSIX semaphore (3.10-3.13) ----
 * sem_wait/sem_clockwait/sem_timedwait run when an acquisition may block:
 * contended threading.Lock acquisitions and every HEAD_LOCK acquisition.
 * --deep adds sem_trywait (uncontended acquisitions) and sem_post.
 */

SEC("uprobe")
int BPF_KPROBE(gw_sem_wait_enter, void *sem)
{
	struct gw_thread_state *ts = thread_state_get(bpf_get_current_pid_tgid());

	if (!ts)
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

	if (!ts || !ts->lock_wait_addr)
		return 0;
	if (ret == 0) {
		lock_acquired(id, ts->lock_wait_addr, bpf_ktime_get_ns());
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
		note_order(ts, id, ts->lock_try_addr, false);
		lock_acquired(id, ts->lock_try_addr, bpf_ktime_get_ns());
		held_add(ts, ts->lock_try_addr);
	}
	ts->lock_try_addr = 0;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gw_sem_post_enter, void *sem)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), one = 1;
	struct gw_thread_state *ts = bpf_map_lookup_elem(&thread_state, &tid);
	struct gw_lock_owner *owner;
	__u64 addr = (__u64)sem;

	/* Any thread may release a threading.Lock: forget the owner. */
	owner = bpf_map_lookup_elem(&lock_owner, &addr);
	if (owner && owner->tid != tid)
		bpf_map_update_elem(&signal_locks, &addr, &one, BPF_ANY);
	bpf_map_delete_elem(&lock_owner, &addr);
	if (ts)
		held_remove(ts, addr);
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

/* ---- Thread lifecycle of watched processes ---- */

/* Children of watched processes, until they exec: child pid -> parent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GW_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u32);
} forked SEC(".maps");

SEC("tp_btf/sched_process_fork")
int BPF_PROG(gw_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(parent, tgid), child_pid = BPF_CORE_READ(child, tgid);
	struct gw_proc_stats *ps;

	if (!bpf_map_lookup_elem(&proc_cfg, &pid))
		return 0;
	if (child_pid != pid) {
		/* The child keeps only the forking thread: say how many there were. */
		bpf_map_update_elem(&forked, &child_pid, &pid, BPF_ANY);
		emit_addr(GW_EV_FORK, pid, (__u32)bpf_get_current_pid_tgid(),
			  BPF_CORE_READ(parent, signal, nr_threads), bpf_ktime_get_ns(), 0,
			  child_pid);
		return 0;
	}
	ps = proc_stats_get(pid);
	if (ps)
		__sync_fetch_and_add(&ps->threads_started, 1);
	emit(GW_EV_THREAD_START, pid, BPF_CORE_READ(child, pid), 0, bpf_ktime_get_ns(), 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(gw_exec, struct task_struct *task)
{
	__u32 child = bpf_get_current_pid_tgid() >> 32, *parent;

	parent = bpf_map_lookup_elem(&forked, &child);
	if (!parent)
		return 0;
	/* fork() + exec(): subprocess, spawn. Nothing was lost. */
	emit_addr(GW_EV_EXEC, *parent, (__u32)bpf_get_current_pid_tgid(), 0, bpf_ktime_get_ns(), 0,
		  child);
	bpf_map_delete_elem(&forked, &child);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(gw_exit, struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct gw_thread_stats *tst;
	struct gw_proc_stats *ps;

	struct gw_thread_state *ts;

	if (!bpf_map_lookup_elem(&proc_cfg, &pid))
		return 0;
	ts = bpf_map_lookup_elem(&thread_state, &tid);
	if (ts && ts->frames_start)
		frames_leave(ts, proc_stats_get(pid));
	bpf_map_delete_elem(&thread_state, &tid);
	tst = bpf_map_lookup_elem(&thread_stats, &tid);
	if (tst)
		tst->ended = 1;
	/* signal->live drops to zero for the last thread of the group. */
	if (BPF_CORE_READ(task, signal, live.counter) == 0) {
		emit(GW_EV_PROC_EXIT, pid, tid, 0, bpf_ktime_get_ns(), 0);
		return 0;
	}
	ps = proc_stats_get(pid);
	if (ps)
		__sync_fetch_and_add(&ps->threads_ended, 1);
	emit(GW_EV_THREAD_END, pid, tid, 0, bpf_ktime_get_ns(), 0);
	return 0;
}
