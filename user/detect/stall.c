// SPDX-License-Identifier: MIT
#include <string.h>

#include "stall.h"

void stall__init(struct stall_detector *s, uint64_t threshold_ns)
{
	memset(s, 0, sizeof(*s));
	s->threshold_ns = threshold_ns;
}

const char *stall__rule_name(enum stall_rule rule)
{
	return rule == STALL_GIL_HELD ? "gil-held" : rule == STALL_ALL_BLOCKED ? "all-blocked" : "";
}

/* When the thread last used CPU (first sight counts as progress). */
static uint64_t last_progress(struct stall_detector *s, const struct thread_view *v,
			      uint64_t now_ns)
{
	size_t i;

	for (i = 0; i < s->nprogress; i++) {
		if (s->progress[i].tid != v->tid)
			continue;
		if (s->progress[i].ticks != v->cpu_ticks) {
			s->progress[i].ticks = v->cpu_ticks;
			s->progress[i].changed_ns = now_ns;
		}
		return s->progress[i].changed_ns;
	}
	if (s->nprogress < GW_MAX_VIEWS)
		s->progress[s->nprogress++] = (struct stall_progress){
		    .tid = v->tid, .ticks = v->cpu_ticks, .changed_ns = now_ns};
	return now_ns;
}

/* Blocked for good unless someone else acts: a lock, the GIL, an untimed
 * futex wait. I/O, sleeps, polls and timed waits may end on their own, and
 * so may a process-shared futex (a multiprocessing queue or lock: another
 * process, an idle pool worker's parent, may wake it).
 */
static bool blocked_on_sync(const struct thread_view *v)
{
	return v->activity == TV_GIL_WAIT ||
	       ((v->activity == TV_LOCK_WAIT || v->activity == TV_FUTEX) && !v->timed &&
		!v->shared);
}

/* Forget threads that are gone: the table holds the living. */
static void prune_progress(struct stall_detector *s, const struct thread_view *views, size_t n)
{
	size_t i, j, kept = 0;

	for (i = 0; i < s->nprogress; i++) {
		for (j = 0; j < n && views[j].tid != s->progress[i].tid; j++)
			;
		if (j < n)
			s->progress[kept++] = s->progress[i];
	}
	s->nprogress = kept;
}

static enum stall_rule evaluate(struct stall_detector *s, const struct thread_view *views, size_t n,
				pid_t holder, uint64_t switches, uint64_t now_ns, uint64_t *since)
{
	uint64_t newest = 0;
	/* A cut list may hide a running thread. */
	bool gil_waiter = false, all_blocked = n > 0 && n < GW_MAX_VIEWS;
	size_t i;

	prune_progress(s, views, n);
	if (holder != s->holder || switches != s->switches) {
		s->holder = holder;
		s->switches = switches;
		s->holder_since_ns = now_ns;
	}
	for (i = 0; i < n; i++) {
		uint64_t p = last_progress(s, &views[i], now_ns);

		if (views[i].activity == TV_GIL_WAIT && views[i].since_ns <= now_ns &&
		    now_ns - views[i].since_ns >= s->threshold_ns)
			gil_waiter = true;
		/* GIL waiters wake every 5 ms: their CPU time does not count. */
		if (views[i].activity != TV_GIL_WAIT && p > newest)
			newest = p;
		if (!blocked_on_sync(&views[i]))
			all_blocked = false;
	}
	if (holder && gil_waiter && now_ns - s->holder_since_ns >= s->threshold_ns) {
		*since = s->holder_since_ns;
		return STALL_GIL_HELD;
	}
	if (all_blocked && newest && now_ns - newest >= s->threshold_ns) {
		*since = newest;
		return STALL_ALL_BLOCKED;
	}
	return STALL_NONE;
}

int stall__check(struct stall_detector *s, const struct thread_view *views, size_t n,
		 pid_t gil_holder, uint64_t gil_switches, uint64_t now_ns, struct stall *out)
{
	uint64_t since = now_ns;
	enum stall_rule rule = evaluate(s, views, n, gil_holder, gil_switches, now_ns, &since);

	if (rule == STALL_NONE || rule == s->reported) {
		s->reported = rule;
		return 0;
	}
	s->reported = rule;
	out->rule = rule;
	out->stalled_ns = now_ns - since;
	out->holder = gil_holder;
	out->n = n;
	memcpy(out->views, views, n * sizeof(views[0]));
	return 1;
}
