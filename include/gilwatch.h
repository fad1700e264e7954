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
#define GW_MAX_LOCKS 65536

enum gw_event_type {
	GW_EV_GC = 1,
	GW_EV_FRAMES = 2,
	GW_EV_THREAD_START = 3,
	GW_EV_THREAD_END = 4,
	GW_EV_PROC_EXIT = 5,
	GW_EV_HAZARD_GC_IN_FRAMES = 6, /* arg: GC generation */
	GW_EV_FORK = 8, /* a new process: arg: the parent's threads, addr: child pid */
	GW_EV_EXEC = 9, /* a child seen by GW_EV_FORK ran exec(): addr: its pid */
	/* A fatal signal (arg) is delivered with its default action; sent only
	 * when no gw_stack_event could carry it.
	 */
	GW_EV_CRASH = 10,
	/* gw_stack_event only: where new lock-order edges (same tid and
	 * time_ns) were made (--deep).
	 */
	GW_EV_LOCK_EDGE = 11,
	/* Any process ran exec() (the agent's discovery): pid is its pid. */
	GW_EV_PROC_EXEC = 12,
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
	__u64 addr;
	char comm[GW_COMM_LEN];
};

/* Where BPF finds the current thread's Python frames (python_build.h's
 * python_stack_layout, flattened). Zero interp_head: no Python stacks.
 */
struct gw_py_offsets {
	__u64 interp_head; /* runtime address of _PyRuntime.interpreters.head */
	__u64 gil_holder;  /* runtime address of the GIL's last_holder */
	__u32 threads_head;
	__u32 tstate_next;
	__u32 tstate_native_tid; /* 0: compare tstate_pthread with fsbase (3.10) */
	__u32 tstate_pthread;
	__u32 tstate_frame;
	__u32 cframe_current_frame;
	__u32 frame_via_cframe;
	__u32 frame_previous;
	__u32 frame_code;
	__u32 frame_instr;
	__u32 frame_instr_size; /* 4: f_lasti (3.10); 8: a pointer */
	__u32 frame_owner;	/* 0: no owner field (3.10) */
	__u32 code_name;	/* co_qualname on 3.11+ */
	__u32 code_filename;
	__u32 code_linetable;
	__u32 frame_owner_shim;	 /* owners from this on are no Python code; 0: none */
	__u32 frame_code_tagged; /* 3.14+: f_executable is a _PyStackRef (& ~3) */
	__u32 pad;
};

/* Per watched process, written by user space before attaching. */
struct gw_proc_cfg {
	__u64 gil_cond;	  /* runtime address of the main GIL's condvar */
	__u64 gil_locked; /* runtime address of gil->locked (int) */
	/* 3.13: runtime address of gcstate->generation_stats, whose per
	 * generation `collections` counters tell which generation an
	 * automatic collection (generation -1) picked; 0 when not needed.
	 */
	__u64 gc_stats;
	__u64 deep; /* --deep: record the lock-order graph */
	/* Bit GW_API_*: that frame-collection function's HEAD_LOCK call site
	 * is probed (PY_PROBE_*_HEAD_LOCK).
	 */
	__u64 head_lock_sites;
	/* Py_True and Py_None: what a PyMutex lock's acquire method returns
	 * when it took the lock (pymutex_locks.bpf.h).
	 */
	__u64 py_true;
	__u64 py_none;
	struct gw_py_offsets py;
};

/* The GIL as a node of the lock-order graph (no semaphore lives at 1). */
#define GW_LOCK_GIL 1ull
#define GW_MAX_HELD 4
#define GW_MAX_EDGES 16384

/* An edge of the lock-order graph: `to` was waited for or acquired while
 * `from` was held (--deep). The value is the first thread that did it.
 */
struct gw_edge_key {
	__u32 pid;
	__u32 pad;
	__u64 from;
	__u64 to;
};

/* --deep: a lock's identity is its address from its sem_init on; edges
 * older than that were made by a freed lock whose memory it reuses.
 */
struct gw_lock_key {
	__u32 pid;
	__u32 pad;
	__u64 addr;
};

struct gw_edge {
	__u32 tid;
	__u32 pad;
	__u64 time_ns;
};

/* Per thread, between an entry probe and its exit; user space reads it to
 * build the wait-for graph. Zero start times mean "not in that state".
 */
struct gw_thread_state {
	__u32 pid;
	__u32 in_gil_cond_wait;
	__u64 gil_wait_start;	/* waiting for a GIL held by another thread */
	__u64 gil_wait_sampled; /* default mode: sampled length of that wait so far */
	__u64 gil_hold_start;	/* --deep */
	__u64 gc_start;
	__u64 frames_start;   /* inside _PyThread_CurrentFrames/Exceptions */
	__u64 lock_wait_addr; /* semaphore of the lock being acquired */
	__u64 lock_wait_start;
	__u64 lock_try_addr; /* --deep: sem_trywait in progress */
	__u64 pylock_addr;   /* --deep: a PyMutex lock's acquire method in progress */
	__u32 gc_generation; /* -1 (3.13 automatic): see gc_collections */
	__u32 frames_api;
	__u32 gc_depth;	       /* nested gc_collect_main() calls (3.13 checks inside) */
	__u32 gil_wait_misses; /* default mode: samples since it last slept on the GIL */
	__u64 gc_collections[GW_GC_GENERATIONS]; /* at the outer entry */
	__u64 held[GW_MAX_HELD];		 /* --deep: semaphores this thread holds */
	__u32 nheld;
	/* Inside a frame collection, holding HEAD_LOCK: past its HEAD_LOCK
	 * call, or from its entry where that call's site is not probed.
	 */
	__u32 frames_head_lock;
	/* lock_wait_addr is a PyMutex a parked thread waits for (--deep), not
	 * the semaphore it sleeps on.
	 */
	__u32 lock_wait_parked;
};

enum gw_lock_kind {
	GW_LOCK_SEMAPHORE, /* taken while its value is 0 */
	GW_LOCK_PYMUTEX,   /* taken while bit 0 of its byte is set */
};

/* --deep: last thread that acquired a lock (map key: its address); user
 * space confirms it with the lock's word.
 */
struct gw_lock_owner {
	__u32 pid;
	__u32 tid;
	__u64 since;
	__u32 kind; /* enum gw_lock_kind */
	__u32 pad;
};

/* --deep: where a PyThread_type_lock was created (map key: its address):
 * the innermost Python frames of the creating thread.
 */
#define GW_SITE_FRAMES 4
struct gw_lock_site {
	__u32 pid;
	__u32 n;
	__u64 code[GW_SITE_FRAMES];
	__u64 instr[GW_SITE_FRAMES];
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
	__u64 gil_handoffs;  /* --deep only */
	__u64 gil_last_tid;  /* --deep only: last thread that took the GIL */
	__u64 frames_active; /* threads inside a frame collection, holding HEAD_LOCK */
	__u64 hazards_gc_in_frames;
	__u64 stack_captured_ns; /* rate limit of hazard stack captures */
	__u64 crashes;
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

/* User registers of a thread at an event (x86-64): what CFI unwinding needs
 * to start (the instruction and stack pointers and the callee-saved
 * registers a frame's CFA may be defined by).
 */
struct gw_user_regs {
	__u64 ip;
	__u64 sp;
	__u64 bp;
	__u64 bx;
	__u64 r12;
	__u64 r13;
	__u64 r14;
	__u64 r15;
};

/* A return address a uretprobe replaced with its trampoline: the stack
 * slot at `stack` holds `orig` again once the probed function returns.
 */
#define GW_MAX_RET_FIXUPS 16
struct gw_ret_fixup {
	__u32 tid;
	__u32 pad;
	__u64 stack;
	__u64 orig;
};

/* A thread's user registers as the kernel saved them when it entered the
 * kernel: exact for a thread asleep in a system call.
 */
struct gw_task_regs {
	__u32 tid;
	__u32 pad;
	struct gw_user_regs regs;
};

/* A stack captured in BPF at an event, for user space to decode after the
 * fact (the thread has moved on, or the process is gone): registers and the
 * top of the user stack for CFI unwinding, and per Python frame its code
 * object and instruction plus copies of the memory needed to name it (the
 * code object's head, its name and file strings, its line table's first
 * bytes). Decoding reads these copies first, the live process second.
 */
#define GW_PY_FRAMES 32
#define GW_STACK_CHUNK 512
#define GW_STACK_BYTES (16 * GW_STACK_CHUNK)
#define GW_REGIONS_PER_FRAME 4
enum gw_frame_region {
	GW_REGION_CODE = 0,	 /* the code object's first GW_CODE_BYTES */
	GW_REGION_NAME = 1,	 /* the name string object */
	GW_REGION_FILE = 2,	 /* the file name string object */
	GW_REGION_LINETABLE = 3, /* the line table bytes object */
};
#define GW_CODE_BYTES 160
#define GW_NAME_BYTES 112
#define GW_FILE_BYTES 176
#define GW_LINETABLE_BYTES 320
#define GW_FRAME_DATA (GW_CODE_BYTES + GW_NAME_BYTES + GW_FILE_BYTES + GW_LINETABLE_BYTES)

struct gw_region {
	__u64 addr;
	__u64 len; /* 0: not captured */
};

struct gw_stack_event {
	__u32 type; /* the event it belongs to: GW_EV_HAZARD_GC_IN_FRAMES, GW_EV_CRASH,
		     * GW_EV_LOCK_EDGE
		     */
	__u32 pid;
	__u32 tid;
	__u32 arg;     /* GW_EV_CRASH: the signal */
	__u64 time_ns; /* equals the time_ns of the gw_event it belongs to */
	__u32 py_n;
	__u32 py_truncated;
	__u32 stack_len;
	__u32 pad;
	char comm[GW_COMM_LEN];
	struct gw_user_regs regs;
	__u32 nfixups;
	__u32 pad2;
	struct gw_ret_fixup fixups[GW_MAX_RET_FIXUPS];
	__u64 py_code[GW_PY_FRAMES];
	__u64 py_instr[GW_PY_FRAMES];
	struct gw_region regions[GW_PY_FRAMES][GW_REGIONS_PER_FRAME];
	__u8 stack[GW_STACK_BYTES];
	__u8 data[GW_PY_FRAMES][GW_FRAME_DATA];
};

#endif /* GILWATCH_H */
