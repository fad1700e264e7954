// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "gilwatch.skel.h"
#include "log.h"
#include "proc.h"
#include "session.h"
#include "lock_object.h"
#include "snapshot_graph.h"
#include "fork_inference.h"
#include "ret_fixups.h"
#include "bpf_features.h"

/* GIL holder samples (default mode's GIL share) of a process that uses
 * CPU: 100 a second. One that does not is sampled at each check: its GIL
 * holder, if any, sleeps, and 50 idle processes sampled at 100 Hz cost an
 * agent 15% of a core in process_vm_readv.
 */
#define GIL_SAMPLE_NS (10 * 1000000ull)
/* Wait-for graph scans: at most 10 a second, fewer when no wait can pass
 * the threshold sooner (detect.h).
 */
#define DETECT_NS (100 * 1000000ull)
/* Stall checks read /proc for every thread: twice a second, every 2 s for
 * a quiet one (below) that used no CPU since the last look (its CPU time
 * and GIL are read twice a second).
 */
#define CHECK_NS (500 * 1000000ull)
#define IDLE_CHECK_NS (2000 * 1000000ull)
/* A hazard is counted each time, reported at most this often. */
#define HAZARD_REPORT_NS (60ull * 1000000000ull)

/* detect_snapshot.head_lock_holder: the waiters' native stacks now (a
 * thread asleep in a system call is not stopped for it). Two threads past
 * a HEAD_LOCK call cannot both hold it: a stack read wrong, so no holder.
 * The signature covers the holder and HEAD_LOCK's waiters: other GIL
 * waiters come and go as they poll.
 */
static uint32_t head_lock_from_stacks(void *ctx, const struct waiter *w, size_t n, uint64_t *sig)
{
	struct session *s = ctx;
	uint64_t each[GW_MAX_WAITERS], ticks[GW_MAX_WAITERS], h = 0, switches = 0;
	uint32_t holder = 0;
	unsigned holders = 0;
	char state;
	size_t i;

	if (!s->stacks_ready)
		return 0;
	for (i = 0; i < n && i < GW_MAX_WAITERS; i++) {
		/* A stopped process (SIGSTOP, a debugger) is not deadlocked. */
		if (proc__cpu(s->target.pid, (pid_t)w[i].tid, &state, &ticks[i]) || state == 'T' ||
		    state == 't')
			return 0;
		stack_collector__collect(&s->stacks, (pid_t)w[i].tid, &s->stack_buf);
		if (thread_stacks__head_lock_holder(&s->stack_buf, &s->target)) {
			holder = w[i].tid;
			holders++;
		}
		each[i] = thread_stacks__signature(&s->stack_buf, 0, w[i].kind == LOCK_GIL);
	}
	for (i = 0; i < n && i < GW_MAX_WAITERS; i++) {
		if (w[i].tid == holder || w[i].kind == LOCK_HEAD)
			h = snapshot_graph__fold(h, each[i], w[i].kind != LOCK_GIL, ticks[i]);
	}
	target__gil_switches(&s->target, &switches);
	*sig = snapshot_graph__fold(h, switches, false, 0);
	return holders == 1 ? holder : 0;
}

/* detect_snapshot.lock_owner: the owner written in the RLock object the
 * thread's frames show it waits for; *sig its CPU time.
 */
static int lock_owner_from_object(void *ctx, uint32_t tid, uint64_t addr, uint32_t *owner,
				  uint64_t *sig)
{
	struct session *s = ctx;
	pid_t o = 0;
	char state;
	int err;

	if (!s->stacks_ready)
		return -ENOENT;
	/* A stopped process (SIGSTOP, a debugger) is not deadlocked. */
	if (proc__cpu(s->target.pid, (pid_t)tid, &state, sig) || state == 'T' || state == 't')
		return -EAGAIN;
	err = lock_object__waited_owner(&s->stacks, (pid_t)tid, addr, &o);
	*owner = (uint32_t)o;
	return err;
}

int session__open(struct session **out, struct gilwatch_bpf *skel, const struct gw_target *t,
		  const struct session_opts *opts)
{
	struct attach_opts aopts = {
	    .sz = sizeof(aopts), .deep = opts->deep, .shared = opts->shared};
	struct session *s = calloc(1, sizeof(*s));
	struct detect_reader reader;
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->target = *t;
	s->skel = skel;
	s->opts = *opts;
	snapshot__init(&s->snap, t->pid);
	s->rand = 0x9e3779b97f4a7c15ull ^ (uint64_t)t->pid;
	/* A container's cgroup is set before it runs: once is enough. */
	cgroup_labels__read(t->pid, &s->labels);
	/* Loaded with the first session: whether the kernel has it is in the
	 * attach record, said at the start, not in the middle of a dump.
	 */
	ret_fixups__available();
	err = attach__target(skel, &s->target, &aopts, &s->attachment);
	if (err) {
		free(s);
		return err;
	}
	if (!opts->deep && s->target.gil && !bpf_features__unavailable(GW_FEATURE_WAIT_SAMPLING)) {
		err = wait_sampler__open(&s->waits, skel, t->pid);
		if (err)
			gw_info("pid %d: waits not sampled: %s (task iterators need Linux 6.1+)",
				t->pid, strerror(-err));
	}
	s->report =
	    (struct report){.out = opts->out,
			    .json = opts->json,
			    .deep = opts->deep,
			    .realtime_offset_ns = realtime_offset_ns(),
			    .target = &s->target,
			    .labels = &s->labels,
			    .children = &s->children,
			    .lock_sites_fd = opts->deep ? bpf_map__fd(skel->maps.lock_sites) : -1};
	s->stacks_ready = !stack_collector__init(&s->stacks, &s->target);
	if (s->stacks_ready) {
		s->report.stacks = &s->stacks;
		s->report.stack_buf = &s->stack_buf;
	}
	if (event_stacks__init(&s->event_stacks, &s->report, s->stacks_ready ? &s->stacks : NULL,
			       opts->drain_stacks, opts->drain_ctx))
		gw_info("pid %d: no stacks at events: out of memory", t->pid);
	reader = detect_bpf__reader(&s->detect_source, skel, &s->target);
	detector__init(&s->detector, (uint32_t)t->pid, &reader,
		       (uint64_t)(opts->deadlock_after_s * 1e9), opts->deep);
	detector__set_snapshot(&s->detector,
			       &(struct detect_snapshot){.head_lock_holder = head_lock_from_stacks,
							 .lock_owner = lock_owner_from_object,
							 .ctx = s});
	stall__init(&s->stall, (uint64_t)(opts->stall_after_s * 1e9));
	s->lock_order.pid = t->pid;
	*out = s;
	return 0;
}

void session__close(struct session *s, bool detach_now)
{
	if (!s)
		return;
	gw_debug("pid %d: %llu wait samples, %llu failed", s->target.pid,
		 (unsigned long long)s->waits.runs, (unsigned long long)s->waits.failures);
	wait_sampler__close(&s->waits);
	attach__detach(s->skel, &s->target, &s->attachment, detach_now);
	event_stacks__destroy(&s->event_stacks);
	if (s->stacks_ready)
		stack_collector__destroy(&s->stacks);
	free(s);
}

static void on_fork(struct session *s, const struct gw_event *e)
{
	struct fork_record *f = forks__add(&s->forks, e->addr, e->tid, e->arg, e->time_ns);

	children__fork(&s->children, &s->target, e->addr, e->tid, e->arg, s->stall.threshold_ns);
	/* The parent's threads now, a moment after the fork. */
	if (f)
		f->n = thread_view__read(s->skel, &s->target, f->views, GW_MAX_VIEWS);
}

/* Children forked (without exec) before gilwatch came: followed from now
 * on like those it sees forked, and the hazard told after the fact. Done
 * at the first tick: after the attach record.
 */
static void adopt_children(struct session *s)
{
	pid_t kids[GW_MAX_CHILDREN];
	int n, i;

	s->children_adopted = true;
	n = proc__children(s->target.pid, kids, GW_MAX_CHILDREN);
	for (i = 0; i < n; i++) {
		if (fork_inference__infer(&s->target, kids[i], &s->fork_found))
			continue;
		children__fork(&s->children, &s->target, (uint32_t)kids[i],
			       s->fork_found.forking_tid, s->fork_found.threads,
			       s->stall.threshold_ns);
		if (s->fork_found.threads < 2)
			continue;
		s->snap.fork_hazards++;
		report__fork_hazard(&s->report, &s->fork_found, target__head_lock(&s->target));
	}
}

static void on_hazard_gc_in_frames(struct session *s, const struct gw_event *e)
{
	s->hazards_seen++;
	if (s->hazard_reported_ns && e->time_ns - s->hazard_reported_ns < HAZARD_REPORT_NS)
		return;
	s->hazard_reported_ns = e->time_ns;
	report__hazard_gc_in_frames(&s->report, e, s->hazards_seen,
				    event_stacks__for(&s->event_stacks, e));
}

void session__event(struct session *s, const struct gw_event *e)
{
	switch (e->type) {
	case GW_EV_THREAD_START:
		snapshot__thread_started(&s->snap, e->tid);
		/* A thread starting is work starting: sample it from now on,
		 * not from the next look at the process's CPU time.
		 */
		if (!s->busy) {
			s->busy = true;
			s->next_sample_ns = 0;
		}
		break;
	case GW_EV_THREAD_END:
		snapshot__thread_ended(&s->snap, s->skel, e->tid, e->comm);
		break;
	case GW_EV_PROC_EXIT:
		/* Threads exiting together may each look like the last one. */
		if (s->exited)
			return;
		s->exited = true;
		break;
	case GW_EV_FORK:
		on_fork(s, e);
		return;
	case GW_EV_EXEC:
		forks__exec(&s->forks, e->addr);
		children__forget(&s->children, e->addr);
		return;
	case GW_EV_CRASH:
		event_stacks__crash_without_stacks(&s->event_stacks, e);
		return;
	case GW_EV_HAZARD_GC_IN_FRAMES:
		on_hazard_gc_in_frames(s, e);
		return;
	}
	report__event(&s->report, e);
}

void session__stack_event(struct session *s, const struct gw_stack_event *ev)
{
	event_stacks__handle(&s->event_stacks, ev);
}

void session__deliver(void *s, const struct gw_event *e)
{
	session__event(s, e);
}

void session__deliver_stack(void *s, const struct gw_stack_event *ev)
{
	session__stack_event(s, ev);
}

void session__refresh(struct session *s)
{
	/* The entry is gone only if the process was dropped; keep the last view. */
	snapshot__refresh(&s->snap, s->skel);
}

/* Children are seen through /proc and their inherited interpreter state; a
 * stalled one is reported with the parent's threads (s->views).
 */
static void check_children(struct session *s, uint64_t now, uint64_t head_lock)
{
	struct thread_view *views = s->child_views;
	uint64_t switches = 0;
	pid_t holder = 0;
	size_t i, n;

	for (i = 0; i < GW_MAX_CHILDREN; i++) {
		struct child *c = &s->children.list[i];

		if (!c->active)
			continue;
		if (proc__exited(c->target.pid)) {
			c->active = false;
			continue;
		}
		n = thread_view__read(s->skel, &c->target, views, GW_MAX_VIEWS);
		target__gil_holder(&c->target, &holder);
		target__gil_switches(&c->target, &switches);
		if (stall__check(&c->stall, views, n, holder, switches, now, &s->stall_found)) {
			s->snap.stalls++;
			report__stall(&s->report, &s->stall_found, head_lock, c, s->views,
				      s->nviews);
		}
	}
}

static void check_lock_order(struct session *s, uint64_t head_lock)
{
	struct order_cycle *c = &s->order_found;
	size_t i;

	if (!s->opts.deep || !lock_order__scan(&s->lock_order, s->skel, c))
		return;
	for (i = 0; i < c->n; i++)
		c->where[i] = event_stacks__edge_where(&s->event_stacks, c->edges[i].tid,
						       c->edges[i].time_ns);
	s->snap.lock_order_cycles = s->lock_order.inversions;
	report__lock_order(&s->report, c, head_lock);
}

/* Nothing here could become a stall without using CPU first: no GIL
 * holder, no thread waiting for the GIL or a lock, no child or fork being
 * followed. Such a process has its threads read every IDLE_CHECK_NS only.
 */
static bool quiet(const struct session *s, pid_t holder)
{
	size_t i;

	if (holder || s->forks.npending)
		return false;
	for (i = 0; i < GW_MAX_CHILDREN; i++) {
		if (s->children.list[i].active)
			return false;
	}
	for (i = 0; i < s->nviews; i++) {
		const struct thread_view *v = &s->views[i];

		if (v->activity == TV_GIL_WAIT || v->activity == TV_LOCK_WAIT ||
		    v->activity == TV_HOLDS_GIL || (v->activity == TV_FUTEX && !v->timed))
			return false;
	}
	return true;
}

static void check_stall_and_forks(struct session *s, uint64_t now)
{
	uint64_t switches = 0, head_lock = target__head_lock(&s->target);
	pid_t holder = 0;

	/* A child already gone (a failed exec) lost nothing that matters. */
	while (forks__expired(&s->forks, now, &s->fork_found)) {
		if (proc__exited(s->fork_found.child))
			continue;
		s->snap.fork_hazards++;
		report__fork_hazard(&s->report, &s->fork_found, head_lock);
	}
	s->nviews = thread_view__read(s->skel, &s->target, s->views, GW_MAX_VIEWS);
	target__gil_holder(&s->target, &holder);
	target__gil_switches(&s->target, &switches);
	/* A deadlocked process is stalled too: the cycle already says why. */
	if (stall__check(&s->stall, s->views, s->nviews, holder, switches, now, &s->stall_found) &&
	    !s->detector.deadlocks) {
		s->snap.stalls++;
		report__stall(&s->report, &s->stall_found, head_lock, NULL, NULL, 0);
	}
	check_children(s, now, head_lock);
	s->quiet = quiet(s, holder);
	/* Without CPU time it loaded nothing: its maps need no new look. */
	if (s->stacks_ready && s->busy)
		stack_collector__follow_mappings(&s->stacks);
	check_lock_order(s, head_lock);
}

/* One read of /proc/PID/stat: false once the process is gone or a zombie. */
static bool look_at_process(struct session *s)
{
	uint64_t ticks;
	char state;

	/* The whole process's CPU time: its main thread often only waits. */
	if (proc__cpu(s->target.pid, 0, &state, &ticks) || state == 'Z' || state == 'X')
		return false;
	s->busy = ticks != s->cpu_ticks;
	s->cpu_ticks = ticks;
	return true;
}

/* The next multiple of period: sessions' periodic work falls on the same
 * instants, so that an agent's loop with idle processes wakes a few times a
 * second, not once for each process's own clock.
 */
static uint64_t on_grid(uint64_t now, uint64_t period)
{
	return (now / period + 1) * period;
}

/* The GIL holder now (0: none, or unknown); the sample stands for the
 * time since the last one, up to an idle check period.
 */
static pid_t sample_gil(struct session *s, uint64_t now)
{
	uint64_t weight = now - s->last_sample_ns;
	pid_t holder;

	/* The first sample stands for one period. */
	if (!s->last_sample_ns)
		weight = s->busy ? GIL_SAMPLE_NS : CHECK_NS;
	else if (weight > IDLE_CHECK_NS)
		weight = IDLE_CHECK_NS;
	holder = snapshot__sample_gil(&s->snap, &s->target, weight);
	wait_sampler__sample(&s->waits, weight, holder);
	s->last_sample_ns = now;
	/* Jittered, 5-15 ms: a steady 10 ms would alias with the 5 ms switch
	 * interval and find the same thread holding the GIL every time.
	 */
	s->rand ^= s->rand << 13;
	s->rand ^= s->rand >> 7;
	s->rand ^= s->rand << 17;
	s->next_sample_ns = now + GIL_SAMPLE_NS / 2 + s->rand % GIL_SAMPLE_NS;
	return holder;
}

/* Over the threads of the last check: one that started since cannot have
 * waited long enough to close a cycle.
 */
static void scan_for_deadlock(struct session *s, uint64_t now)
{
	uint32_t tids[GW_MAX_VIEWS];
	struct wait_cycle cycle;
	size_t i;

	for (i = 0; i < s->nviews; i++)
		tids[i] = s->views[i].tid;
	if (detector__scan(&s->detector, tids, s->nviews, &cycle)) {
		s->snap.deadlocks = s->detector.deadlocks;
		report__deadlock(&s->report, &cycle, s->detector.scanned_ns);
	}
	s->next_scan_ns =
	    s->detector.next_scan_ns > now + DETECT_NS ? s->detector.next_scan_ns : now + DETECT_NS;
}

void session__tick(struct session *s, uint64_t now)
{
	if (s->exited)
		return;
	if (!s->children_adopted)
		adopt_children(s);
	if (now >= s->next_check_ns) {
		pid_t holder = 0;

		s->next_check_ns = on_grid(now, CHECK_NS);
		if (!look_at_process(s)) {
			s->exited = true;
			return;
		}
		if (!s->busy)
			holder = sample_gil(s, now);
		if (s->busy || !s->quiet || holder || now >= s->next_full_check_ns) {
			s->next_full_check_ns = on_grid(now, IDLE_CHECK_NS);
			check_stall_and_forks(s, now);
		}
	}
	/* On their own clocks: ticks come early on every event. */
	if (s->busy && now >= s->next_sample_ns)
		sample_gil(s, now);
	if (now >= s->next_scan_ns)
		scan_for_deadlock(s, now);
}

uint64_t session__next_tick_ns(const struct session *s)
{
	uint64_t next = s->next_check_ns;

	if (s->exited)
		return UINT64_MAX;
	if (s->busy && s->next_sample_ns < next)
		next = s->next_sample_ns;
	return s->next_scan_ns < next ? s->next_scan_ns : next;
}
