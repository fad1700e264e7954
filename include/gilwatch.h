/* SPDX-License-Identifier: MIT */
/* ABI shared by bpf/gilwatch.bpf.c and user space: map values and ring
 * buffer records. Only fixed-width __u32/__u64 fields, so both sides agree
 * on the layout without padding surprises.
 */
#ifndef GILWATCH_H
#define GILWATCH_H

#ifndef __VMLINUX_H__ /* BPF side gets the types from vmlinux.h */
#include <linux/types.h>
#endif

#define GW_COMM_LEN 16
/* log2(nanoseconds) buckets: slot i counts durations in [2^i, 2^(i+1)) ns;
 * 40 slots reach ~18 minutes.
 */
#define GW_HIST_SLOTS 40
#define GW_GC_GENERATIONS 3
#define GW_FRAMES_APIS 2
#define GW_MAX_PROCS 1024
#define GW_MAX_THREADS 65536

enum gw_event_type {
	GW_EV_GC = 1,
	GW_EV_FRAMES = 2,
	GW_EV_THREAD_START = 3,
	GW_EV_THREAD_END = 4,
	GW_EV_PROC_EXIT = 5,
};

enum gw_frames_api {
	GW_API_CURRENT_FRAMES = 0,
	GW_API_CURRENT_EXCEPTIONS = 1,
};

/* One ring buffer record. `arg` is the GC generation for GW_EV_GC and the
 * gw_frames_api for GW_EV_FRAMES.
 */
struct gw_event {
	__u32 type;
	__u32 pid;
	__u32 tid;
	__u32 arg;
	__u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at the end */
	__u64 duration_ns;
	char comm[GW_COMM_LEN];
};

/* Per watched process, written by user space before attaching. */
struct gw_proc_cfg {
	__u64 gil_cond;	  /* runtime address of the main GIL's condvar */
	__u64 gil_locked; /* runtime address of gil->locked (int) */
};

/* Aggregated per process in the kernel, read by user space. */
struct gw_proc_stats {
	__u64 gc_count[GW_GC_GENERATIONS];
	__u64 gc_total_ns[GW_GC_GENERATIONS];
	__u64 gc_max_ns[GW_GC_GENERATIONS];
	__u64 gc_hist[GW_HIST_SLOTS];
	__u64 gil_wait_hist[GW_HIST_SLOTS];
	__u64 frames_calls[GW_FRAMES_APIS];
	__u64 frames_total_ns[GW_FRAMES_APIS];
	__u64 frames_max_ns[GW_FRAMES_APIS];
	__u64 threads_started;
	__u64 threads_ended;
	__u64 gil_handoffs; /* --deep only */
	__u64 gil_last_tid; /* --deep only: last thread that took the GIL */
};

/* Aggregated per thread in the kernel. */
struct gw_thread_stats {
	__u32 pid;
	__u32 ended;
	__u64 gil_wait_ns;
	__u64 gil_waits;
	__u64 gil_wait_max_ns;
	__u64 gil_hold_ns;  /* --deep only */
	__u64 gil_acquires; /* --deep only */
	__u64 frames_calls;
};

#endif /* GILWATCH_H */
