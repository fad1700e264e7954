/* SPDX-License-Identifier: GPL-2.0 */
/* GC collections and the gc-in-frame-collection hazard. Included once, by gilwatch.bpf.c. */
#ifndef GW_GC_BPF_H
#define GW_GC_BPF_H

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

/* At most one hazard stack capture per process per this long. */
#define GW_HAZARD_STACK_NS 1000000000ull

static __always_inline int gc_begin(struct pt_regs *regs, int generation)
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
	/* 3.13 (gc_stats known): the counters tell what was collected, if
	 * anything. Automatic collections pick their generation inside, and a
	 * call while another thread collects returns at once.
	 */
	cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	if (cfg && cfg->gc_stats && !read_gc_collections(cfg->gc_stats, ts->gc_collections))
		ts->gc_generation = (__u32)-1;
	else if (generation < 0)
		ts->gc_generation = GW_GC_GENERATIONS - 1;
	/* gh-106883: a collection while HEAD_LOCK is held for frame collection
	 * runs finalizers that can drop the GIL: the 3.11 freeze's first half.
	 */
	ps = proc_stats_get(pid);
	if (ts->frames_head_lock || (ps && ps->frames_active)) {
		bool stacks = false;

		if (ps) {
			__sync_fetch_and_add(&ps->hazards_gc_in_frames, 1);
			if (now - ps->stack_captured_ns >= GW_HAZARD_STACK_NS) {
				ps->stack_captured_ns = now;
				stacks = emit_stacks(regs, GW_EV_HAZARD_GC_IN_FRAMES, 0, now);
			}
		}
		/* addr 1: a gw_stack_event with this time_ns carries the stacks. */
		emit_addr(GW_EV_HAZARD_GC_IN_FRAMES, pid, (__u32)id,
			  generation < 0 ? 0 : generation, now, 0, stacks);
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
	return gc_begin(ctx, generation);
}

SEC("uretprobe")
int BPF_KRETPROBE(gw_gc_exit)
{
	return gc_end();
}

SEC("usdt")
int BPF_USDT(gw_gc_start_usdt, int generation)
{
	return gc_begin(ctx, generation);
}

SEC("usdt")
int BPF_USDT(gw_gc_done_usdt)
{
	return gc_end();
}

#endif
