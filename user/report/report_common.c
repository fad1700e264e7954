// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "detect.h"
#include "report_common.h"

uint64_t report__now_ns(const struct report *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Frames of the machinery that creates locks for the code that matters. */
static bool in_lock_machinery(const char *file)
{
	static const char *const suffixes[] = {"/threading.py", "/queue.py", "/_threading_local.py",
					       "/multiprocessing/synchronize.py"};
	size_t i, n = strlen(file);

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t m = strlen(suffixes[i]);

		if (n >= m && !strcmp(file + n - m, suffixes[i]))
			return true;
	}
	return false;
}

int report__lock_site(struct report *r, uint64_t addr, struct py_frame *out)
{
	struct gw_lock_site site;
	bool found = false;
	struct py_frame f;
	uint32_t i;

	if (r->lock_sites_fd < 0 || !r->stacks ||
	    bpf_map_lookup_elem(r->lock_sites_fd, &addr, &site) ||
	    site.pid != (uint32_t)r->target->pid)
		return -ENOENT;
	for (i = 0; i < site.n && i < GW_SITE_FRAMES; i++) {
		if (py_reader__frame(&r->stacks->py, site.code[i], site.instr[i], &f))
			break;
		*out = f;
		found = true;
		if (!in_lock_machinery(f.file))
			break;
	}
	return found ? 0 : -ENOENT;
}

const struct thread_stacks *report__stacks(struct report *r, const struct gw_target *t, pid_t tid)
{
	struct stack_collector *c;

	if (!r->stacks || !r->stack_buf)
		return NULL;
	if (t == r->target) {
		stack_collector__collect(r->stacks, tid, r->stack_buf);
		return r->stack_buf;
	}
	/* A child: rare (its stall report), so no collector is kept for it. */
	c = malloc(sizeof(*c));
	if (!c || stack_collector__init(c, t)) {
		free(c);
		return NULL;
	}
	stack_collector__collect(c, tid, r->stack_buf);
	stack_collector__destroy(c);
	free(c);
	return r->stack_buf;
}

const char gc_in_frames_remedy[] =
    "a garbage collection ran while sys._current_frames()/_current_exceptions() held "
    "HEAD_LOCK (CPython gh-106883); if a finalizer releases the GIL there, a thread that needs "
    "HEAD_LOCK with the GIL held freezes the process. Move to CPython 3.12+ (or 3.11.12+), or "
    "wrap the call in gc.disable()/gc.enable() as Apache Beam 2.64 does";

const char *report__held(const struct wait_cycle *c, size_t i, char *buf, size_t len)
{
	/* Member j waits for a lock member j + 1 holds: i holds what i - 1 waits for. */
	const struct waiter *prev = &c->members[(i + c->n - 1) % c->n];

	return detector__lock_name(prev->kind, prev->addr, buf, len);
}

void report__cycle_text(const struct wait_cycle *c, char *buf, size_t len)
{
	char held[32], name[32];
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < c->n && used < len; i++) {
		const struct waiter *w = &c->members[i];

		used += snprintf(
		    buf + used, len - used, "%sthread %u (holds %s) waits for %s held by thread %u",
		    i ? "; " : "", w->tid, report__held(c, i, held, sizeof(held)),
		    detector__lock_name(w->kind, w->addr, name, sizeof(name)), w->holder);
	}
}

const char *report__signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGABRT:
		return "SIGABRT";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	default:
		return "signal";
	}
}

const char fork_remedy[] =
    "the child keeps only the forking thread: locks the other threads held stay locked and "
    "events only they would set never come (a background event-loop thread, a logging or "
    "queue lock). Use the spawn or forkserver start method (multiprocessing.set_start_method, "
    "ProcessPoolExecutor(mp_context=...)), or reset such state in "
    "os.register_at_fork(after_in_child=...)";

const char *report__order_lock_name(uint64_t lock, uint64_t head_lock, char *buf, size_t len)
{
	if (lock == GW_LOCK_GIL)
		return "GIL";
	return detector__lock_name(lock == head_lock ? LOCK_HEAD : LOCK_SEM, lock, buf, len);
}

void report__order_text(const struct order_cycle *c, uint64_t head_lock, char *buf, size_t len)
{
	size_t i, used;
	char name[32];

	used = snprintf(buf, len, "Cycle in lock order graph: %s",
			report__order_lock_name(c->edges[0].from, head_lock, name, sizeof(name)));
	for (i = 0; i < c->n && used < len; i++)
		used += snprintf(
		    buf + used, len - used, " => %s",
		    report__order_lock_name(c->edges[i].to, head_lock, name, sizeof(name)));
}
