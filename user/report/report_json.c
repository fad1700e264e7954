// SPDX-License-Identifier: MIT
#include <string.h>

#include "bpf_features.h"
#include "bpf_load_diag.h"
#include "cgroup_labels.h"
#include "detect.h"
#include "json_writer.h"
#include "proc.h"
#include "report_json.h"
#include "report_stack.h"

static const char *const frames_api_names[GW_FRAMES_APIS] = {"current_frames",
							     "current_exceptions"};

static void begin_pid(struct report *r, struct json_writer *w, const char *event, uint64_t time_ns,
		      pid_t pid)
{
	jw_init(w, r->out);
	jw_object_begin(w, NULL);
	jw_str(w, "event", event);
	jw_u64(w, "pid", pid);
	jw_u64(w, "time_ns", time_ns);
}

static void begin(struct report *r, struct json_writer *w, const char *event, uint64_t time_ns)
{
	begin_pid(r, w, event, time_ns, r->target->pid);
}

void report_json__attach(struct report *r, const struct gw_attachment *a)
{
	const struct gw_target *t = r->target;
	struct json_writer w;
	enum gw_feature f;
	int probe;

	begin(r, &w, "attach", report__now_ns(r));
	jw_str(&w, "comm", t->comm);
	jw_str(&w, "python_version", t->build.version);
	jw_str(&w, "python_path", t->python_path);
	jw_str(&w, "build_id", t->build.build_id);
	if (r->labels && r->labels->container_id[0])
		jw_str(&w, "container_id", r->labels->container_id);
	if (r->labels && r->labels->pod_uid[0])
		jw_str(&w, "pod_uid", r->labels->pod_uid);
	jw_str(&w, "mode", r->deep ? "deep" : "default");
	jw_object_begin(&w, "probes");
	for (probe = 0; probe < PY_PROBE_COUNT; probe++) {
		if (python_probes[probe].deep && !r->deep)
			continue;
		jw_object_begin(&w, python_probes[probe].name);
		if (a->found.method[probe])
			jw_str(&w, "method", a->found.method[probe]);
		else
			jw_str(&w, "unavailable", a->found.reason[probe]);
		jw_object_end(&w);
	}
	jw_object_end(&w);
	/* The running kernel's optional features: the same for every process. */
	jw_object_begin(&w, "kernel");
	jw_str(&w, "release", bpf_load_diag__kernel());
	for (f = 0; f < GW_FEATURE_COUNT; f++) {
		if (!bpf_features__reported(f, r->deep))
			continue;
		jw_object_begin(&w, gw_features[f].name);
		if (bpf_features__unavailable(f))
			jw_str(&w, "unavailable", bpf_features__unavailable(f));
		else
			jw_str(&w, "method", gw_features[f].method);
		jw_object_end(&w);
	}
	jw_object_end(&w);
	jw_line_end(&w);
}

void report_json__event(struct report *r, const struct gw_event *e)
{
	static const char *const names[] = {
	    [GW_EV_GC] = "gc",
	    [GW_EV_FRAMES] = "frames",
	    [GW_EV_THREAD_START] = "thread_start",
	    [GW_EV_THREAD_END] = "thread_end",
	    [GW_EV_PROC_EXIT] = "exit",
	};
	struct json_writer w;

	if (e->type >= sizeof(names) / sizeof(names[0]) || !names[e->type])
		return;
	begin(r, &w, names[e->type], e->time_ns + r->realtime_offset_ns);
	jw_u64(&w, "tid", e->tid);
	switch (e->type) {
	case GW_EV_GC:
		jw_u64(&w, "generation", e->arg);
		jw_u64(&w, "duration_ns", e->duration_ns);
		break;
	case GW_EV_FRAMES:
		jw_str(&w, "api", frames_api_names[e->arg & 1]);
		jw_u64(&w, "duration_ns", e->duration_ns);
		break;
	case GW_EV_THREAD_END:
		jw_str(&w, "name", e->comm);
		break;
	}
	jw_line_end(&w);
}

static void write_threads(struct report *r, struct json_writer *w, const struct proc_snapshot *s)
{
	size_t i;

	jw_array_begin(w, "threads");
	for (i = 0; i < s->nrows; i++) {
		const struct thread_row *t = &s->rows[i];

		jw_object_begin(w, NULL);
		jw_u64(w, "tid", t->tid);
		jw_str(w, "name", t->name);
		jw_str(w, "state", t->stats.ended ? "ended" : "live");
		jw_u64(w, "gil_wait_ns", t->stats.gil_wait_ns);
		jw_u64(w, "gil_waits", t->stats.gil_waits);
		jw_u64(w, "gil_wait_max_ns", t->stats.gil_wait_max_ns);
		jw_double(w, "gil_share", snapshot__gil_share(s, t));
		if (r->deep) {
			jw_u64(w, "gil_hold_ns", t->stats.gil_hold_ns);
			jw_u64(w, "gil_acquires", t->stats.gil_acquires);
		}
		jw_u64(w, "frames_calls", t->stats.frames_calls);
		jw_object_end(w);
	}
	jw_array_end(w);
}

static void write_hist(struct json_writer *w, const char *key, const __u64 *hist)
{
	int i;

	/* Sparse: {"le_ns": upper bound, "count": n} for non-empty slots. */
	jw_array_begin(w, key);
	for (i = 0; i < GW_HIST_SLOTS; i++) {
		if (!hist[i])
			continue;
		jw_object_begin(w, NULL);
		jw_u64(w, "le_ns", 2ull << i);
		jw_u64(w, "count", hist[i]);
		jw_object_end(w);
	}
	jw_array_end(w);
}

void report_json__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final)
{
	const struct gw_proc_stats *ps = &s->stats;
	struct json_writer w;
	int i;

	begin(r, &w, final ? "summary" : "interval", report__now_ns(r));
	jw_double(&w, "elapsed_s", elapsed_s);
	write_threads(r, &w, s);
	jw_array_begin(&w, "gc");
	for (i = 0; i < GW_GC_GENERATIONS; i++) {
		jw_object_begin(&w, NULL);
		jw_u64(&w, "generation", i);
		jw_u64(&w, "count", ps->gc_count[i]);
		jw_u64(&w, "total_ns", ps->gc_total_ns[i]);
		jw_u64(&w, "max_ns", ps->gc_max_ns[i]);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	write_hist(&w, "gc_pause_hist", ps->gc_hist);
	write_hist(&w, "gil_wait_hist", ps->gil_wait_hist);
	jw_object_begin(&w, "frames");
	for (i = 0; i < GW_FRAMES_APIS; i++) {
		jw_object_begin(&w, frames_api_names[i]);
		jw_u64(&w, "calls", ps->frames_calls[i]);
		jw_u64(&w, "total_ns", ps->frames_total_ns[i]);
		jw_u64(&w, "max_ns", ps->frames_max_ns[i]);
		jw_object_end(&w);
	}
	jw_object_end(&w);
	jw_u64(&w, "threads_started", ps->threads_started);
	jw_object_begin(&w, "hazards");
	jw_u64(&w, "gc-in-frame-collection", ps->hazards_gc_in_frames);
	jw_u64(&w, "fork-with-threads", s->fork_hazards);
	jw_object_end(&w);
	jw_u64(&w, "deadlocks", s->deadlocks);
	jw_u64(&w, "stalls", s->stalls);
	if (r->deep)
		jw_u64(&w, "lock_order", s->lock_order_cycles);
	jw_u64(&w, "threads_ended", ps->threads_ended);
	jw_double(&w, "gil_sampled_s", s->gil_sampled_ns / 1e9);
	jw_double(&w, "gil_held_s", s->gil_held_ns / 1e9);
	if (r->deep)
		jw_u64(&w, "gil_handoffs", ps->gil_handoffs);
	jw_u64(&w, "events_dropped", s->events_dropped);
	jw_u64(&w, "dropped_thread_updates", s->dropped_thread_updates);
	jw_line_end(&w);
}

/* key: {"function","file","line"} of where the lock at addr was created. */
static void write_site(struct report *r, struct json_writer *w, const char *key, uint64_t addr)
{
	struct py_frame f;

	if (report__lock_site(r, addr, &f))
		return;
	jw_object_begin(w, key);
	jw_str(w, "function", f.function);
	jw_str(w, "file", f.file);
	if (f.line >= 0)
		jw_u64(w, "line", f.line);
	jw_object_end(w);
}

static void write_stacks(struct report *r, struct json_writer *w, const struct gw_target *t,
			 pid_t tid)
{
	const struct thread_stacks *s = report__stacks(r, t, tid);

	if (s)
		report_stack__json(w, s);
}

void report_json__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns)
{
	char held[32], name[32], text[1024], comm[GW_COMM_LEN];
	struct json_writer w;
	size_t i;

	begin(r, &w, "deadlock", report__now_ns(r));
	jw_u64(&w, "frozen_ns", now_ns - c->closed_ns);
	jw_str(&w, "basis", wait_graph__basis(c));
	report__cycle_text(c, text, sizeof(text));
	jw_str(&w, "description", text);
	jw_array_begin(&w, "threads");
	for (i = 0; i < c->n; i++) {
		const struct waiter *m = &c->members[i];

		if (proc__comm(r->target->pid, m->tid, comm, sizeof(comm)))
			comm[0] = '\0';
		jw_object_begin(&w, NULL);
		jw_u64(&w, "tid", m->tid);
		jw_str(&w, "name", comm);
		jw_array_begin(&w, "holds");
		jw_str(&w, NULL, report__held(c, i, held, sizeof(held)));
		jw_array_end(&w);
		jw_str(&w, "waits_for", detector__lock_name(m->kind, m->addr, name, sizeof(name)));
		if (m->kind == LOCK_SEM)
			write_site(r, &w, "waits_for_created_at", m->addr);
		jw_u64(&w, "held_by", m->holder);
		jw_object_begin(&w, "known_from");
		jw_str(&w, "wait", wait_graph__wait_source_name(m->wait_from));
		jw_str(&w, "holder", wait_graph__holder_source_name(m->holder_from));
		jw_object_end(&w);
		jw_u64(&w, "waiting_ns", now_ns - m->since_ns);
		write_stacks(r, &w, r->target, m->tid);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_array_begin(&w, "cycle");
	for (i = 0; i < c->n; i++)
		jw_str(&w, NULL,
		       detector__lock_name(c->members[i].kind, c->members[i].addr, name,
					   sizeof(name)));
	jw_array_end(&w);
	jw_line_end(&w);
}

void report_json__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				      const struct thread_stacks *s)
{
	struct json_writer w;

	begin(r, &w, "hazard", e->time_ns + r->realtime_offset_ns);
	jw_str(&w, "rule", "gc-in-frame-collection");
	jw_u64(&w, "tid", e->tid);
	jw_u64(&w, "generation", e->arg);
	jw_u64(&w, "count", count);
	jw_str(&w, "python_version", r->target->build.version);
	/* "event": captured in BPF as the collection started; "report": read
	 * when the report was written, a moment later.
	 */
	jw_str(&w, "stacks_from", s ? "event" : "report");
	if (s)
		report_stack__json(&w, s);
	else
		write_stacks(r, &w, r->target, e->tid);
	jw_str(&w, "remedy", gc_in_frames_remedy);
	jw_line_end(&w);
}

/* t: whose threads these are, for their stacks (NULL: none). */
void report_json__crash(struct report *r, pid_t tid, int sig, const char *comm, uint64_t time_ns,
			const struct thread_stacks *s)
{
	char name[GW_COMM_LEN + 1] = {0};
	struct json_writer w;

	memcpy(name, comm, GW_COMM_LEN);
	begin(r, &w, "crash", time_ns + r->realtime_offset_ns);
	jw_u64(&w, "tid", tid);
	jw_str(&w, "name", name);
	jw_str(&w, "signal", report__signal_name(sig));
	jw_u64(&w, "signo", sig);
	if (s)
		report_stack__json(&w, s);
	jw_line_end(&w);
}

static void write_views(struct report *r, struct json_writer *w, const char *key,
			const struct gw_target *t, const struct thread_view *v, size_t n,
			uint64_t head_lock, uint64_t now_ns)
{
	char state[96];
	size_t i;

	jw_array_begin(w, key);
	for (i = 0; i < n; i++) {
		jw_object_begin(w, NULL);
		jw_u64(w, "tid", v[i].tid);
		jw_str(w, "name", v[i].name);
		jw_str(w, "state", thread_view__describe(&v[i], head_lock, state, sizeof(state)));
		if (v[i].since_ns && now_ns > v[i].since_ns)
			jw_u64(w, "waiting_ns", now_ns - v[i].since_ns);
		if (t)
			write_stacks(r, w, t, v[i].tid);
		jw_object_end(w);
	}
	jw_array_end(w);
}

void report_json__stall(struct report *r, const struct stall *st, uint64_t head_lock,
			const struct child *child, const struct thread_view *parent, size_t nparent)
{
	uint64_t now = report__now_ns(r) - r->realtime_offset_ns;
	struct json_writer w;

	begin_pid(r, &w, "stall", report__now_ns(r), child ? child->target.pid : r->target->pid);
	jw_str(&w, "rule", stall__rule_name(st->rule));
	jw_u64(&w, "stalled_ns", st->stalled_ns);
	if (st->rule == STALL_GIL_HELD)
		jw_u64(&w, "gil_holder", st->holder);
	write_views(r, &w, "threads", child ? &child->target : r->target, st->views, st->n,
		    head_lock, now);
	if (child) {
		jw_object_begin(&w, "forked_from");
		jw_u64(&w, "pid", r->target->pid);
		jw_u64(&w, "tid", child->forking_tid);
		jw_u64(&w, "threads_at_fork", child->parent_threads);
		/* Only the forking thread lives on in the child. */
		jw_u64(&w, "lost_threads", child->parent_threads ? child->parent_threads - 1 : 0);
		jw_object_end(&w);
		jw_object_begin(&w, "parent");
		jw_u64(&w, "pid", r->target->pid);
		write_views(r, &w, "threads", r->target, parent, nparent, head_lock, now);
		/* What a pool's parent waits on: its forked workers. */
		jw_array_begin(&w, "workers");
		for (size_t i = 0; r->children && i < GW_MAX_CHILDREN; i++) {
			if (r->children->list[i].active)
				jw_u64(&w, NULL, r->children->list[i].target.pid);
		}
		jw_array_end(&w);
		jw_object_end(&w);
	}
	jw_line_end(&w);
}

void report_json__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock)
{
	struct json_writer w;

	begin(r, &w, "hazard", f->time_ns + r->realtime_offset_ns);
	jw_str(&w, "rule", "fork-with-threads");
	jw_u64(&w, "tid", f->forking_tid);
	jw_u64(&w, "child_pid", f->child);
	jw_u64(&w, "threads_at_fork", f->threads);
	if (f->inferred) {
		/* Told after the fact: the threads alive at the fork, now, with
		 * their stacks; all but the forking one were lost.
		 */
		jw_bool(&w, "inferred", true);
		write_views(r, &w, "threads", r->target, f->views, f->n, head_lock, f->time_ns);
	} else {
		/* Stacks would be read after the fork: the views say what mattered. */
		write_views(r, &w, "threads", NULL, f->views, f->n, head_lock, f->time_ns);
	}
	jw_str(&w, "remedy", fork_remedy);
	jw_line_end(&w);
}

/* "where": the top of the acquiring thread's stacks when the edge appeared. */
static void write_where(struct json_writer *w, const struct edge_where *where)
{
	unsigned i;

	jw_object_begin(w, "where");
	jw_array_begin(w, "python_stack");
	for (i = 0; i < where->py_n; i++) {
		jw_object_begin(w, NULL);
		jw_str(w, "function", where->py[i].function);
		jw_str(w, "file", where->py[i].file);
		if (where->py[i].line >= 0)
			jw_u64(w, "line", where->py[i].line);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_array_begin(w, "native_stack");
	for (i = 0; i < where->native_n; i++) {
		jw_object_begin(w, NULL);
		jw_str(w, "function", where->native[i]);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

void report_json__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock)
{
	char text[512], name[32];
	struct json_writer w;
	size_t i;

	begin(r, &w, "lock_order", report__now_ns(r));
	report__order_text(c, head_lock, text, sizeof(text));
	jw_str(&w, "description", text);
	jw_array_begin(&w, "edges");
	for (i = 0; i < c->n; i++) {
		const struct order_edge *e = &c->edges[i];

		jw_object_begin(&w, NULL);
		jw_str(&w, "from", report__order_lock_name(e->from, head_lock, name, sizeof(name)));
		jw_str(&w, "to", report__order_lock_name(e->to, head_lock, name, sizeof(name)));
		jw_u64(&w, "tid", e->tid);
		jw_u64(&w, "time_ns", e->time_ns + r->realtime_offset_ns);
		if (e->from != GW_LOCK_GIL && e->from != head_lock)
			write_site(r, &w, "from_created_at", e->from);
		if (e->to != GW_LOCK_GIL && e->to != head_lock)
			write_site(r, &w, "to_created_at", e->to);
		if (c->where[i])
			write_where(&w, c->where[i]);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_line_end(&w);
}
