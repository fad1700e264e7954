// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "proc.h"
#include "report_text.h"
#include "report_stack.h"

#define TEXT_MAX_FRAMES_LINES 5

/* Human duration: "12.3ms", "1.20s", "850us". */
static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns >= 1000000000ull)
		snprintf(buf, len, "%.2fs", ns / 1e9);
	else if (ns >= 1000000ull)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else if (ns >= 1000ull)
		snprintf(buf, len, "%.0fus", ns / 1e3);
	else
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	return buf;
}

void report_text__event(struct report *r, const struct gw_event *e)
{
	char d[32];

	/* Only the rare, telling events get a line, a few per refresh; the
	 * rest is in the table.
	 */
	if (e->type == GW_EV_FRAMES && r->frames_lines++ < TEXT_MAX_FRAMES_LINES)
		fprintf(r->out, "  frames: tid %u %s %s\n", e->tid,
			e->arg ? "sys._current_exceptions()" : "sys._current_frames()",
			fmt_ns(d, sizeof(d), e->duration_ns));
	else if (e->type == GW_EV_PROC_EXIT)
		fprintf(r->out, "  pid %u exited\n", e->pid);
}

/* The table shows the busiest threads; the rest are counted. */
#define TEXT_MAX_THREADS 20

static uint64_t activity(const struct proc_snapshot *s, const struct thread_row *t)
{
	/* Live threads first, then by GIL wait, GIL share and frame calls. */
	return (t->stats.ended ? 0 : 1ull << 62) + t->stats.gil_wait_ns / 1000 +
	       t->holder_ns / 100 + t->stats.frames_calls;
}

static const struct proc_snapshot *sort_snapshot;

static int by_activity(const void *a, const void *b)
{
	uint64_t x = activity(sort_snapshot, *(const struct thread_row *const *)a);
	uint64_t y = activity(sort_snapshot, *(const struct thread_row *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

static void print_threads(struct report *r, const struct proc_snapshot *s)
{
	static const struct thread_row *order[GW_MAX_THREAD_ROWS];
	char wait[32], max[32], held[32];
	size_t i, shown;

	for (i = 0; i < s->nrows; i++)
		order[i] = &s->rows[i];
	sort_snapshot = s;
	qsort(order, s->nrows, sizeof(order[0]), by_activity);
	shown = s->nrows < TEXT_MAX_THREADS ? s->nrows : TEXT_MAX_THREADS;
	fprintf(r->out, "  %-8s %-16s %10s %8s %10s %9s%s %7s\n", "TID", "NAME", "GIL-WAIT",
		"WAITS", "MAX-WAIT", "GIL-SHARE", r->deep ? "   GIL-HELD" : "", "FRAMES");
	for (i = 0; i < shown; i++) {
		const struct thread_row *t = order[i];

		if (r->deep)
			fmt_ns(held, sizeof(held), t->stats.gil_hold_ns);
		fprintf(r->out, "  %-8u %-16s %10s %8llu %10s %8.1f%%%s%*s %7llu%s\n", t->tid,
			t->name, fmt_ns(wait, sizeof(wait), t->stats.gil_wait_ns),
			(unsigned long long)t->stats.gil_waits,
			fmt_ns(max, sizeof(max), t->stats.gil_wait_max_ns),
			100.0 * snapshot__gil_share(s, t), r->deep ? " " : "", r->deep ? 10 : 0,
			r->deep ? held : "", (unsigned long long)t->stats.frames_calls,
			t->stats.ended ? "  (ended)" : "");
	}
	if (shown < s->nrows)
		fprintf(r->out, "  ... %zu more threads (--json lists all)\n", s->nrows - shown);
}

void report_text__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final)
{
	if (r->frames_lines > TEXT_MAX_FRAMES_LINES)
		fprintf(r->out, "  frames: ... %u more calls\n",
			r->frames_lines - TEXT_MAX_FRAMES_LINES);
	r->frames_lines = 0;
	const struct gw_proc_stats *ps = &s->stats;
	const struct gw_target *t = r->target;
	char a[32], b[32];
	int i;

	fprintf(r->out, "\n%s pid %d (%s) python %s, %.1fs, GIL held %.0f%% of %.1fs sampled\n",
		final ? "== summary:" : "--", t->pid, t->comm, t->build.version, elapsed_s,
		s->gil_sampled_ns ? 100.0 * s->gil_held_ns / s->gil_sampled_ns : 0.0,
		s->gil_sampled_ns / 1e9);
	print_threads(r, s);
	fprintf(r->out, "  GC      ");
	for (i = 0; i < GW_GC_GENERATIONS; i++)
		fprintf(r->out, " gen%d: %llu (total %s, max %s)", i,
			(unsigned long long)ps->gc_count[i],
			fmt_ns(a, sizeof(a), ps->gc_total_ns[i]),
			fmt_ns(b, sizeof(b), ps->gc_max_ns[i]));
	fprintf(r->out,
		"\n  FRAMES   _current_frames: %llu (max %s), _current_exceptions: %llu "
		"(max %s)\n",
		(unsigned long long)ps->frames_calls[GW_API_CURRENT_FRAMES],
		fmt_ns(a, sizeof(a), ps->frames_max_ns[GW_API_CURRENT_FRAMES]),
		(unsigned long long)ps->frames_calls[GW_API_CURRENT_EXCEPTIONS],
		fmt_ns(b, sizeof(b), ps->frames_max_ns[GW_API_CURRENT_EXCEPTIONS]));
	fprintf(r->out, "  THREADS  started %llu, ended %llu",
		(unsigned long long)ps->threads_started, (unsigned long long)ps->threads_ended);
	if (r->deep)
		fprintf(r->out, ", GIL handoffs %llu", (unsigned long long)ps->gil_handoffs);
	fprintf(r->out, "; events dropped %llu\n", (unsigned long long)s->events_dropped);
	fprintf(r->out,
		"  VERDICTS deadlocks %llu, stalls %llu, hazards gc-in-frame-collection %llu, "
		"fork-with-threads %llu\n",
		(unsigned long long)s->deadlocks, (unsigned long long)s->stalls,
		(unsigned long long)ps->hazards_gc_in_frames, (unsigned long long)s->fork_hazards);
	fflush(r->out);
}

/* " (created at file:line in function)", "" if unknown. */
static const char *site_text(struct report *r, uint64_t addr, char *buf, size_t len)
{
	struct py_frame f;

	buf[0] = '\0';
	if (!report__lock_site(r, addr, &f))
		snprintf(buf, len, " (created at %s:%d in %s)", f.file, f.line, f.function);
	return buf;
}

static void print_stacks(struct report *r, const struct gw_target *t, pid_t tid)
{
	const struct thread_stacks *s = report__stacks(r, t, tid);

	if (s)
		report_stack__text(r->out, s, "      ");
}

/* How the holder at the end of an edge was known, in words. */
static const char *holder_phrase(enum holder_source s)
{
	switch (s) {
	case HOLDER_GIL_STATE:
		return "the GIL's state";
	case HOLDER_FRAMES_PROBE:
		return "traced past its HEAD_LOCK call";
	case HOLDER_LOCK_OWNER:
		return "its last acquirer, traced";
	case HOLDER_NATIVE_STACK:
		return "its native stack is past a HEAD_LOCK call";
	case HOLDER_LOCK_OBJECT:
		return "the RLock's owner, read from the object";
	case HOLDER_UNKNOWN:
		break;
	}
	return "unknown";
}

void report_text__deadlock(struct report *r, const struct wait_cycle *c, uint64_t now_ns)
{
	char held[32], name[32], d[32], comm[GW_COMM_LEN], site[PY_FILE_LEN + 160];
	size_t i;

	bool snapshot = !strcmp(wait_graph__basis(c), "snapshot");

	fprintf(r->out,
		"\n!! DEADLOCK in pid %d (%s): cycle in wait-for graph, frozen for %s%s%s\n",
		r->target->pid, r->target->comm, snapshot ? "at least " : "",
		fmt_ns(d, sizeof(d), now_ns - c->closed_ns),
		snapshot ? " (snapshot: two looks agree)" : "");
	for (i = 0; i < c->n; i++) {
		const struct waiter *m = &c->members[i];

		if (proc__comm(r->target->pid, m->tid, comm, sizeof(comm)))
			comm[0] = '\0';
		fprintf(r->out,
			"   thread %u (%s) holds %s, waits %s for %s%s held by thread %u (%s)\n",
			m->tid, comm, report__held(c, i, held, sizeof(held)),
			fmt_ns(d, sizeof(d), now_ns - m->since_ns),
			detector__lock_name(m->kind, m->addr, name, sizeof(name)),
			m->kind == LOCK_SEM ? site_text(r, m->addr, site, sizeof(site)) : "",
			m->holder, holder_phrase(m->holder_from));
		print_stacks(r, r->target, m->tid);
	}
	fflush(r->out);
}

void report_text__hazard_gc_in_frames(struct report *r, const struct gw_event *e, uint64_t count,
				      const struct thread_stacks *s)
{
	fprintf(r->out,
		"\n!! HAZARD gc-in-frame-collection in pid %d, thread %u (gen%u collection; %llu "
		"so far): %s\n",
		r->target->pid, e->tid, e->arg, (unsigned long long)count, gc_in_frames_remedy);
	if (s)
		report_stack__text(r->out, s, "      ");
	else
		print_stacks(r, r->target, e->tid);
	fflush(r->out);
}

/* t: whose threads these are, for their stacks (NULL: none). */
void report_text__crash(struct report *r, pid_t tid, int sig, const char *comm,
			const struct thread_stacks *s)
{
	fprintf(r->out, "\n!! CRASH in pid %d (%s): thread %d (%.*s) killed by %s\n",
		r->target->pid, r->target->comm, tid, GW_COMM_LEN, comm, report__signal_name(sig));
	if (s)
		report_stack__text(r->out, s, "      ");
	else
		fprintf(r->out, "      (no stacks: the capture did not fit the ring buffer)\n");
	fflush(r->out);
}

static void print_views(struct report *r, const struct gw_target *t, const struct thread_view *v,
			size_t n, uint64_t head_lock)
{
	char state[96];
	size_t i;

	for (i = 0; i < n; i++) {
		fprintf(r->out, "   thread %u (%s) %s\n", v[i].tid, v[i].name,
			thread_view__describe(&v[i], head_lock, state, sizeof(state)));
		if (t)
			print_stacks(r, t, v[i].tid);
	}
}

void report_text__stall(struct report *r, const struct stall *st, uint64_t head_lock,
			const struct child *child, const struct thread_view *parent, size_t nparent)
{
	char d[32];

	fprintf(r->out, "\n!! STALL (%s) in pid %d: no progress for %s\n",
		stall__rule_name(st->rule), child ? child->target.pid : r->target->pid,
		fmt_ns(d, sizeof(d), st->stalled_ns));
	if (st->rule == STALL_GIL_HELD)
		fprintf(r->out, "   thread %d holds the GIL without a handoff while others wait\n",
			st->holder);
	print_views(r, child ? &child->target : r->target, st->views, st->n, head_lock);
	if (child) {
		fprintf(r->out,
			"   forked by thread %u of pid %d, which had %u threads: the other %u did "
			"not come along\n   parent pid %d, waiting on its workers",
			child->forking_tid, r->target->pid, child->parent_threads,
			child->parent_threads ? child->parent_threads - 1 : 0, r->target->pid);
		for (size_t i = 0; r->children && i < GW_MAX_CHILDREN; i++) {
			if (r->children->list[i].active)
				fprintf(r->out, " %d", r->children->list[i].target.pid);
		}
		fprintf(r->out, ":\n");
		print_views(r, r->target, parent, nparent, head_lock);
	}
	fflush(r->out);
}

void report_text__fork_hazard(struct report *r, const struct fork_record *f, uint64_t head_lock)
{
	fprintf(r->out,
		"\n!! HAZARD fork-with-threads in pid %d: thread %u forked child %u while the "
		"process had %u threads%s: %s\n",
		r->target->pid, f->forking_tid, f->child, f->threads,
		f->inferred ? " (inferred: the child was forked before gilwatch came and did not "
			      "exec)"
			    : "",
		fork_remedy);
	print_views(r, f->inferred ? r->target : NULL, f->views, f->n, head_lock);
	fflush(r->out);
}

void report_text__lock_order(struct report *r, const struct order_cycle *c, uint64_t head_lock)
{
	char text[512], from[32], to[32];
	size_t i;

	report__order_text(c, head_lock, text, sizeof(text));
	fprintf(r->out, "\n!! LOCK ORDER in pid %d: %s\n", r->target->pid, text);
	for (i = 0; i < c->n; i++) {
		const struct edge_where *w = c->where[i];
		unsigned j;

		fprintf(r->out, "   %s acquired or waited for while holding %s by thread %u\n",
			report__order_lock_name(c->edges[i].to, head_lock, to, sizeof(to)),
			report__order_lock_name(c->edges[i].from, head_lock, from, sizeof(from)),
			c->edges[i].tid);
		for (j = 0; w && j < w->py_n; j++)
			fprintf(r->out, "      %s (%s:%d)\n", w->py[j].function, w->py[j].file,
				w->py[j].line);
		for (j = 0; w && j < w->native_n; j++)
			fprintf(r->out, "      #%u %s\n", j, w->native[j]);
	}
	fflush(r->out);
}
