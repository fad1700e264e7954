/* SPDX-License-Identifier: GPL-2.0 */
/* Threads and processes: start, exec, exit, fork. Included once, by gilwatch.bpf.c. */
#ifndef GW_LIFECYCLE_BPF_H
#define GW_LIFECYCLE_BPF_H

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

/* Set by the agent: every exec on the machine is a process to look at. */
const volatile bool discover_execs;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(gw_exec, struct task_struct *task)
{
	__u32 child = bpf_get_current_pid_tgid() >> 32, *parent;

	if (discover_execs)
		emit(GW_EV_PROC_EXEC, child, (__u32)bpf_get_current_pid_tgid(), 0,
		     bpf_ktime_get_ns(), 0);
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
	/* A sampled GIL wait ends with its thread (gil.bpf.h). */
	if (ts && ts->gil_wait_sampled)
		gil_wait_ended(pid, tid, ts->gil_wait_sampled);
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

#endif
