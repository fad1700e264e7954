/* SPDX-License-Identifier: GPL-2.0 */
/* Stacks captured at the moment of an event: registers and the top of the
 * user stack (unwound with CFI in user space, like perf's dwarf mode), and
 * the Python frame chain with copies of what names each frame. Included
 * once, by gilwatch.bpf.c.
 */
#ifndef GW_STACKS_BPF_H
#define GW_STACKS_BPF_H

/* Big records on their own ring: they must not crowd out the small events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} stack_events SEC(".maps");

/* The record is built here, then copied to the ring: the walk runs in
 * bpf_loop() callbacks (verified once, not per iteration), which cannot hold
 * a ring buffer reservation. One slot per CPU (max_entries set at load).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gw_stack_event);
} stack_scratch SEC(".maps");

/* A thread list longer than this is not searched for the current thread. */
#define GW_MAX_TSTATES 256

/* A walk of the calling thread's Python frames. It lives in a per-CPU map,
 * not on the BPF stack: with its copy of the offsets and the frames found
 * it would cost every program that captures stacks most of the 512-byte
 * budget. The bpf_loop() callbacks look it up themselves (6.1's bpf_loop()
 * takes only a stack pointer as their context). A program preempted
 * mid-walk by another on the same CPU garbles one capture, nothing more.
 */
struct py_walk {
	struct gw_py_offsets o;
	__u64 fsbase;
	__u64 cursor; /* the thread state, then the frame, being looked at */
	__u64 tstate; /* the current thread's, once found */
	__u64 code[GW_PY_FRAMES];
	__u64 instr[GW_PY_FRAMES];
	__u32 tid;
	__u32 cpu;
	__u32 n;
	__u32 max; /* frames wanted, at most GW_PY_FRAMES */
	__u32 truncated;
	__u32 capture; /* also copy what names each frame into this CPU's stack_scratch */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_walk);
} walk_scratch SEC(".maps");

static __always_inline struct py_walk *py_walk_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&walk_scratch, &zero);
}

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

/* This CPU's walk, set up for the calling thread of process cfg; NULL when
 * the process's Python layout is unknown.
 */
static __always_inline struct py_walk *py_walk_start(const struct gw_proc_cfg *cfg, __u32 max,
						     bool capture)
{
	struct py_walk *w = py_walk_get();

	if (!w || !cfg->py.interp_head)
		return NULL;
	w->o = cfg->py;
	w->fsbase = BPF_CORE_READ(bpf_get_current_task_btf(), thread.fsbase);
	w->cursor = w->tstate = 0;
	w->tid = (__u32)bpf_get_current_pid_tgid();
	w->cpu = bpf_get_smp_processor_id();
	w->n = w->truncated = 0;
	w->max = max < GW_PY_FRAMES ? max : GW_PY_FRAMES;
	w->capture = capture;
	return w;
}

static __always_inline bool tstate_is_current(const struct py_walk *w, __u64 tstate)
{
	__u32 native = 0;

	if (!w->o.tstate_native_tid) /* 3.10: pthread_self() is the TLS base */
		return read_u64(tstate + w->o.tstate_pthread) == w->fsbase;
	bpf_probe_read_user(&native, sizeof(native), (void *)(tstate + w->o.tstate_native_tid));
	return native == w->tid;
}

static long find_tstate_step(__u32 i, void *unused)
{
	struct py_walk *w = py_walk_get();

	if (!w || !w->cursor)
		return 1;
	if (tstate_is_current(w, w->cursor)) {
		w->tstate = w->cursor;
		return 1;
	}
	w->cursor = read_u64(w->cursor + w->o.tstate_next);
	return 0;
}

/* Copies len bytes at addr into dst and records the region (len 0 if the
 * read failed).
 */
static __always_inline void capture(struct gw_region *r, void *dst, __u32 len, __u64 addr)
{
	r->addr = addr;
	r->len = addr && !bpf_probe_read_user(dst, len, (void *)addr) ? len : 0;
}

/* A pointer member of the code object copy. */
static __always_inline __u64 code_member(const __u8 *code, __u32 off)
{
	__u64 v = 0;

	if (off <= GW_CODE_BYTES - 8)
		bpf_probe_read_kernel(&v, sizeof(v), code + off);
	return v;
}

static __always_inline void capture_frame(struct gw_stack_event *e, const struct gw_py_offsets *o,
					  __u32 n, __u64 code)
{
	struct gw_region *r = e->regions[n];
	__u8 *d = e->data[n];

	capture(&r[GW_REGION_CODE], d, GW_CODE_BYTES, code);
	if (!r[GW_REGION_CODE].len)
		return;
	capture(&r[GW_REGION_NAME], d + GW_CODE_BYTES, GW_NAME_BYTES, code_member(d, o->code_name));
	capture(&r[GW_REGION_FILE], d + GW_CODE_BYTES + GW_NAME_BYTES, GW_FILE_BYTES,
		code_member(d, o->code_filename));
	capture(&r[GW_REGION_LINETABLE], d + GW_CODE_BYTES + GW_NAME_BYTES + GW_FILE_BYTES,
		GW_LINETABLE_BYTES, code_member(d, o->code_linetable));
}

static long walk_frame_step(__u32 i, void *unused)
{
	struct py_walk *w = py_walk_get();
	struct gw_stack_event *e;
	__u64 frame, code, instr = 0;
	__u8 owner = 0;
	__u32 n;

	if (!w || !w->cursor)
		return 1;
	if (w->n >= w->max) {
		w->truncated = 1;
		return 1;
	}
	frame = w->cursor;
	if (w->o.frame_owner)
		bpf_probe_read_user(&owner, 1, (void *)(frame + w->o.frame_owner));
	code = read_u64(frame + w->o.frame_code);
	if (w->o.frame_code_tagged)
		code &= ~3ull;
	bpf_probe_read_user(&instr, w->o.frame_instr_size == 4 ? 4 : 8,
			    (void *)(frame + w->o.frame_instr));
	/* A shim of the C stack (3.12+), an interpreter entry frame (3.14+)
	 * is no Python code.
	 */
	if (!(w->o.frame_owner_shim && owner >= w->o.frame_owner_shim) && code) {
		n = w->n & (GW_PY_FRAMES - 1);
		w->code[n] = code;
		w->instr[n] = instr;
		e = w->capture ? bpf_map_lookup_elem(&stack_scratch, &w->cpu) : NULL;
		if (e)
			capture_frame(e, &w->o, n, code);
		w->n++;
	}
	w->cursor = read_u64(frame + w->o.frame_previous);
	return 0;
}

/* The calling thread's Python frames, innermost first, into w->code and
 * w->instr. Its PyThreadState is the GIL's holder when that is us (a
 * collection runs with the GIL), else found in the interpreter's list.
 */
static __always_inline void py_walk_frames(struct py_walk *w)
{
	__u64 t = w->o.gil_holder ? read_u64(w->o.gil_holder) : 0, frame;

	if (t && tstate_is_current(w, t)) {
		w->tstate = t;
	} else {
		w->cursor = read_u64(read_u64(w->o.interp_head) + w->o.threads_head);
		bpf_loop(GW_MAX_TSTATES, find_tstate_step, NULL, 0);
	}
	if (!w->tstate)
		return;
	frame = read_u64(w->tstate + w->o.tstate_frame);
	if (w->o.frame_via_cframe && frame)
		frame = read_u64(frame + w->o.cframe_current_frame);
	w->cursor = frame;
	/* Shim frames take steps too: bound the walk, not only the output. */
	bpf_loop(2 * GW_PY_FRAMES, walk_frame_step, NULL, 0);
}

/* The registers one at a time: a struct pt_regs copy would put 168 bytes
 * on the BPF stack to use 8 of them.
 */
static __always_inline void capture_native(struct gw_stack_event *e, struct pt_regs *regs)
{
	__u32 i;

	if (bpf_probe_read_kernel(&e->regs.sp, 8, &regs->sp))
		return;
	bpf_probe_read_kernel(&e->regs.ip, 8, &regs->ip);
	bpf_probe_read_kernel(&e->regs.bp, 8, &regs->bp);
	bpf_probe_read_kernel(&e->regs.bx, 8, &regs->bx);
	bpf_probe_read_kernel(&e->regs.r12, 8, &regs->r12);
	bpf_probe_read_kernel(&e->regs.r13, 8, &regs->r13);
	bpf_probe_read_kernel(&e->regs.r14, 8, &regs->r14);
	bpf_probe_read_kernel(&e->regs.r15, 8, &regs->r15);
	/* Chunks, so that a stack top closer than GW_STACK_BYTES still yields
	 * what lies below it.
	 */
	for (i = 0; i < GW_STACK_BYTES / GW_STACK_CHUNK; i++) {
		if (bpf_probe_read_user(e->stack + i * GW_STACK_CHUNK, GW_STACK_CHUNK,
					(void *)(e->regs.sp + i * GW_STACK_CHUNK)))
			break;
	}
	e->stack_len = i * GW_STACK_CHUNK;
}

/* Where our own and others' uretprobes hid return addresses (retfix.bpf.c). */
static __always_inline void capture_ret_fixups(struct gw_stack_event *e)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct return_instance *ri = BPF_CORE_READ(task, utask, return_instances);
	__u32 i;

	for (i = 0; i < GW_MAX_RET_FIXUPS && ri; i++) {
		e->fixups[i].tid = e->tid;
		e->fixups[i].stack = BPF_CORE_READ(ri, stack);
		e->fixups[i].orig = BPF_CORE_READ(ri, orig_ret_vaddr);
		ri = BPF_CORE_READ(ri, next);
	}
	e->nfixups = i;
}

/* Sends the calling thread's stacks for the event (type, time_ns); false if
 * the ring was full.
 */
static __noinline bool emit_stacks(struct pt_regs *regs, __u32 type, __u32 arg, __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, cpu = bpf_get_smp_processor_id();
	struct gw_stack_event *e;
	struct gw_proc_cfg *cfg;
	struct py_walk *w;

	cfg = bpf_map_lookup_elem(&proc_cfg, &pid);
	e = bpf_map_lookup_elem(&stack_scratch, &cpu);
	if (!cfg || !e)
		return false;
	e->type = type;
	e->pid = pid;
	e->tid = (__u32)id;
	e->arg = arg;
	e->time_ns = now;
	e->py_n = e->py_truncated = e->stack_len = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	capture_native(e, regs);
	capture_ret_fixups(e);
	w = py_walk_start(cfg, GW_PY_FRAMES, true);
	if (w) {
		py_walk_frames(w);
		e->py_n = w->n;
		e->py_truncated = w->truncated;
		bpf_probe_read_kernel(e->py_code, sizeof(e->py_code), w->code);
		bpf_probe_read_kernel(e->py_instr, sizeof(e->py_instr), w->instr);
	}
	if (bpf_ringbuf_output(&stack_events, e, sizeof(*e), 0)) {
		__sync_fetch_and_add(&dropped_events, 1);
		return false;
	}
	return true;
}

/* ---- Crashes: a fatal signal delivered with its default action ---- */

#define GW_SIGILL 4
#define GW_SIGABRT 6
#define GW_SIGBUS 7
#define GW_SIGFPE 8
#define GW_SIGSEGV 11

SEC("tp_btf/signal_deliver")
int BPF_PROG(gw_signal_deliver, int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	__u32 pid = id >> 32;
	struct gw_proc_stats *ps;
	struct pt_regs *regs;

	if (sig != GW_SIGSEGV && sig != GW_SIGBUS && sig != GW_SIGABRT && sig != GW_SIGFPE &&
	    sig != GW_SIGILL)
		return 0;
	/* A handler (faulthandler, a JIT's fault handling) may recover; its
	 * re-raise with the default action is the one that kills.
	 */
	if (BPF_CORE_READ(ka, sa.sa_handler))
		return 0;
	ps = proc_stats_get(pid);
	if (!ps)
		return 0;
	__sync_fetch_and_add(&ps->crashes, 1);
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!emit_stacks(regs, GW_EV_CRASH, sig, now))
		emit(GW_EV_CRASH, pid, (__u32)id, sig, now, 0);
	return 0;
}

#endif
