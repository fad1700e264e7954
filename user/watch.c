// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "clock.h"
#include "detect.h"
#include "event_stacks.h"
#include "exit_codes.h"
#include "gilwatch.skel.h"
#include "log.h"
#include "proc.h"
#include "report.h"
#include "snapshot.h"
#include "target_open.h"
#include "watch.h"

/* GIL holder samples per second (default mode's GIL share). */
#define GIL_SAMPLE_MS 10
/* Wait-for graph scans per second. */
#define DETECT_MS 100
/* Stall checks read /proc for every thread: twice a second. */
#define STALL_MS 500
/* A hazard is counted each time, reported at most this often. */
#define HAZARD_REPORT_NS (60ull * 1000000000ull)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

struct watch {
	const struct watch_opts *opts;
	struct gw_target target;
	struct gilwatch_bpf *skel;
	struct bpf_link *tp_links[4];
	struct gw_attachment attachment;
	struct ring_buffer *rb;
	struct proc_snapshot *snap;
	struct report report;
	struct detector detector;
	struct stall_detector stall;
	struct stall stall_found;
	struct fork_tracker forks;
	struct fork_record fork_found;
	struct children children;
	struct lock_order lock_order;
	struct order_cycle order_found;
	struct thread_view child_views[GW_MAX_VIEWS];
	struct thread_view views[GW_MAX_VIEWS];
	struct stack_collector stacks;
	struct event_stacks event_stacks;
	struct thread_stacks stack_buf;
	int stacks_ready;
	uint64_t hazards_seen, hazard_reported_ns; /* gc-in-frame-collection */
	int target_exited;
};

static double mono_s(void)
{
	return monotonic_ns() / 1e9;
}

static int64_t realtime_offset_ns(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (rt.tv_sec - mono.tv_sec) * 1000000000ll + (rt.tv_nsec - mono.tv_nsec);
}

static int handle_event(void *ctx, void *data, size_t len)
{
	struct watch *w = ctx;
	const struct gw_event *e = data;
	struct thread_row *row;

	if (len < sizeof(*e) || e->pid != (__u32)w->target.pid)
		return 0;
	if (e->type == GW_EV_THREAD_START || e->type == GW_EV_THREAD_END) {
		row = snapshot__thread(w->snap, e->tid);
		if (row && e->type == GW_EV_THREAD_END) {
			memcpy(row->name, e->comm, sizeof(row->name));
			row->stats.ended = 1;
		}
	}
	if (e->type == GW_EV_PROC_EXIT) {
		/* Threads exiting together may each look like the last one. */
		if (w->target_exited)
			return 0;
		w->target_exited = 1;
	}
	if (e->type == GW_EV_FORK) {
		struct fork_record *f = forks__add(&w->forks, e->addr, e->tid, e->arg, e->time_ns);

		children__fork(&w->children, &w->target, e->addr, e->tid, e->arg,
			       w->stall.threshold_ns);
		/* The parent's threads now, a moment after the fork. */
		if (f)
			f->n = thread_view__read(w->skel, &w->target, f->views, GW_MAX_VIEWS);
		return 0;
	}
	if (e->type == GW_EV_EXEC) {
		forks__exec(&w->forks, e->addr);
		children__forget(&w->children, e->addr);
		return 0;
	}
	if (e->type == GW_EV_RETURN_SITE) {
		int err = attach__return_site(w->skel, &w->target, &w->attachment, e->addr);

		/* Not retried: a failure here (no such mapping) would repeat on
		 * every 5 ms wait slice. Waits through the site go unmeasured.
		 */
		if (err && err != -ESRCH) /* ESRCH: the process is exiting */
			gw_info("cannot probe a GIL wait return site (0x%llx): %s; GIL waits "
				"through it are not measured",
				(unsigned long long)e->addr, strerror(-err));
		return 0;
	}
	if (e->type == GW_EV_CRASH) {
		event_stacks__crash_without_stacks(&w->event_stacks, e);
		return 0;
	}
	if (e->type == GW_EV_HAZARD_GC_IN_FRAMES) {
		w->hazards_seen++;
		if (w->hazard_reported_ns && e->time_ns - w->hazard_reported_ns < HAZARD_REPORT_NS)
			return 0;
		w->hazard_reported_ns = e->time_ns;
		report__hazard_gc_in_frames(&w->report, e, w->hazards_seen,
					    event_stacks__for(&w->event_stacks, e));
		return 0;
	}
	report__event(&w->report, e);
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return gw_verbose ? vfprintf(stderr, fmt, args) : 0;
}

static int setup_bpf(struct watch *w)
{
	int err;

	w->skel = gilwatch_bpf__open();
	/* One stack capture slot per CPU. */
	if (w->skel &&
	    (bpf_map__set_max_entries(w->skel->maps.stack_scratch, libbpf_num_possible_cpus()) ||
	     gilwatch_bpf__load(w->skel))) {
		gilwatch_bpf__destroy(w->skel);
		w->skel = NULL;
	}
	if (!w->skel) {
		gw_err("cannot load BPF programs: %s (needs root or CAP_BPF and CAP_PERFMON, "
		       "and a kernel with BTF)",
		       strerror(errno));
		return GW_EXIT_BPF;
	}
	w->tp_links[0] = bpf_program__attach(w->skel->progs.gw_fork);
	w->tp_links[1] = bpf_program__attach(w->skel->progs.gw_exit);
	w->tp_links[2] = bpf_program__attach(w->skel->progs.gw_exec);
	w->tp_links[3] = bpf_program__attach(w->skel->progs.gw_signal_deliver);
	if (!w->tp_links[0] || !w->tp_links[1] || !w->tp_links[2] || !w->tp_links[3]) {
		gw_err("cannot attach sched tracepoints: %s", strerror(errno));
		return GW_EXIT_BPF;
	}
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.events), handle_event, w, NULL);
	if (!w->rb) {
		gw_err("cannot create ring buffer: %s", strerror(errno));
		return GW_EXIT_BPF;
	}
	struct attach_opts aopts = {.sz = sizeof(aopts), .deep = w->opts->deep};

	err = attach__target(w->skel, &w->target, &aopts, &w->attachment);
	if (err == -ESRCH) {
		gw_err("pid %d exited while gilwatch attached", w->target.pid);
		return GW_EXIT_TARGET_EXITED;
	}
	if (err) {
		gw_err("cannot attach to pid %d: %s", w->target.pid, strerror(-err));
		return GW_EXIT_BPF;
	}
	return GW_EXIT_OK;
}

static void refresh(struct watch *w)
{
	/* The entry is gone only if the process was dropped; keep the last view. */
	snapshot__refresh(w->snap, w->skel);
}

/* Children are seen through /proc and their inherited interpreter state;
 * a stalled one is reported with the parent's threads (w->views, n of them).
 */
static void check_children(struct watch *w, uint64_t now, uint64_t head_lock, size_t nparent)
{
	struct thread_view *views = w->child_views;
	uint64_t switches = 0;
	pid_t holder = 0;
	size_t i, n;

	for (i = 0; i < GW_MAX_CHILDREN; i++) {
		struct child *c = &w->children.list[i];

		if (!c->active)
			continue;
		if (proc__exited(c->target.pid)) {
			c->active = false;
			continue;
		}
		n = thread_view__read(w->skel, &c->target, views, GW_MAX_VIEWS);
		target__gil_holder(&c->target, &holder);
		target__gil_switches(&c->target, &switches);
		if (stall__check(&c->stall, views, n, holder, switches, now, &w->stall_found)) {
			w->snap->stalls++;
			report__stall(&w->report, &w->stall_found, head_lock, c, w->views, nparent);
		}
	}
}

static void check_stall_and_forks(struct watch *w)
{
	uint64_t now = monotonic_ns(), switches = 0, head_lock = target__head_lock(&w->target);
	pid_t holder = 0;
	size_t n;

	/* A child already gone (a failed exec) lost nothing that matters. */
	while (forks__expired(&w->forks, now, &w->fork_found)) {
		if (proc__exited(w->fork_found.child))
			continue;
		w->snap->fork_hazards++;
		report__fork_hazard(&w->report, &w->fork_found, head_lock);
	}
	n = thread_view__read(w->skel, &w->target, w->views, GW_MAX_VIEWS);
	target__gil_holder(&w->target, &holder);
	target__gil_switches(&w->target, &switches);
	/* A deadlocked process is stalled too: the cycle already says why. */
	if (stall__check(&w->stall, w->views, n, holder, switches, now, &w->stall_found) &&
	    !w->detector.deadlocks) {
		w->snap->stalls++;
		report__stall(&w->report, &w->stall_found, head_lock, NULL, NULL, 0);
	}
	check_children(w, now, head_lock, n);
	if (w->stacks_ready)
		stack_collector__follow_mappings(&w->stacks);
	if (w->opts->deep && lock_order__scan(&w->lock_order, w->skel, &w->order_found)) {
		size_t i;

		for (i = 0; i < w->order_found.n; i++)
			w->order_found.where[i] =
			    event_stacks__edge_where(&w->event_stacks, w->order_found.edges[i].tid,
						     w->order_found.edges[i].time_ns);
		w->snap->lock_order_cycles = w->lock_order.inversions;
		report__lock_order(&w->report, &w->order_found, head_lock);
	}
}

static void run_loop(struct watch *w)
{
	const struct watch_opts *o = w->opts;
	double start = mono_s(), next_report = start + o->interval_s, next_scan = start;
	double next_sample = start, next_stall = start, now;
	struct wait_cycle cycle;

	while (!stop_requested && !w->target_exited) {
		int err = ring_buffer__poll(w->rb, GIL_SAMPLE_MS);

		event_stacks__poll(&w->event_stacks);
		if (err < 0 && err != -EINTR)
			break;
		now = mono_s();
		/* On its own clock: polls return early on every event. */
		if (now >= next_sample) {
			snapshot__sample_gil(w->snap, &w->target);
			next_sample += GIL_SAMPLE_MS / 1000.0;
			if (next_sample < now)
				next_sample = now + GIL_SAMPLE_MS / 1000.0;
		}
		if (o->duration_s > 0 && now - start >= o->duration_s)
			break;
		if (proc__exited(w->target.pid))
			w->target_exited = 1;
		if (now >= next_scan && !w->target_exited) {
			next_scan = now + DETECT_MS / 1000.0;
			if (detector__scan(&w->detector, w->skel, &cycle)) {
				w->snap->deadlocks = w->detector.deadlocks;
				report__deadlock(&w->report, &cycle, w->detector.scanned_ns);
			}
		}
		if (now >= next_stall && !w->target_exited) {
			next_stall = now + STALL_MS / 1000.0;
			check_stall_and_forks(w);
		}
		if (now >= next_report && !w->target_exited) {
			refresh(w);
			report__stats(&w->report, w->snap, now - start, false);
			next_report += o->interval_s;
			if (next_report < now)
				next_report = now + o->interval_s;
		}
	}
	ring_buffer__consume(w->rb);
	event_stacks__poll(&w->event_stacks);
	refresh(w);
	report__stats(&w->report, w->snap, mono_s() - start, true);
}

static void teardown(struct watch *w)
{
	size_t i;

	if (w->skel)
		attach__detach(w->skel, &w->target, &w->attachment);
	ring_buffer__free(w->rb);
	event_stacks__destroy(&w->event_stacks);
	if (w->stacks_ready)
		stack_collector__destroy(&w->stacks);
	for (i = 0; i < sizeof(w->tp_links) / sizeof(w->tp_links[0]); i++)
		bpf_link__destroy(w->tp_links[i]);
	gilwatch_bpf__destroy(w->skel);
}

int watch__run(const struct watch_opts *opts)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct watch *w;
	int code;

	libbpf_set_print(libbpf_print);
	w = calloc(1, sizeof(*w));
	if (w)
		w->snap = calloc(1, sizeof(*w->snap));
	if (!w || !w->snap) {
		gw_err("out of memory");
		code = GW_EXIT_ERROR;
		goto out;
	}
	w->opts = opts;
	code = target__open_for_user(&w->target, opts->pid);
	if (code)
		goto out;
	snapshot__init(w->snap, opts->pid);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	code = setup_bpf(w);
	if (code == GW_EXIT_OK) {
		w->report = (struct report){
		    .out = stdout,
		    .json = opts->json,
		    .deep = opts->deep,
		    .realtime_offset_ns = realtime_offset_ns(),
		    .target = &w->target,
		    .lock_sites_fd = opts->deep ? bpf_map__fd(w->skel->maps.lock_sites) : -1};
		/* Modules are loaded now, not while a frozen process waits. */
		w->stacks_ready = !stack_collector__init(&w->stacks, &w->target);
		if (w->stacks_ready) {
			w->report.stacks = &w->stacks;
			w->report.stack_buf = &w->stack_buf;
		}
		if (event_stacks__init(&w->event_stacks, w->skel, &w->report,
				       w->stacks_ready ? &w->stacks : NULL))
			gw_info("no stacks at events: %s", strerror(errno));
		detector__init(&w->detector, &w->target, (uint64_t)(opts->deadlock_after_s * 1e9),
			       opts->deep);
		stall__init(&w->stall, (uint64_t)(opts->stall_after_s * 1e9));
		w->lock_order.pid = opts->pid;
		report__attach(&w->report, &w->attachment);
		run_loop(w);
	}
	teardown(w);
out:
	if (w)
		free(w->snap);
	free(w);
	return code;
}
