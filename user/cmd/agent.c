// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent.h"
#include "bpf_loader.h"
#include "clock.h"
#include "discover.h"
#include "event_log.h"
#include "exit_codes.h"
#include "gilwatch.skel.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "link_reaper.h"
#include "session.h"
#include "shared_probes.h"
#include "target_open.h"

/* The loop sleeps at most this long when nothing is due (signals wake it). */
#define POLL_MS_MAX 250
/* New processes come from the exec tracepoint (and forks of watched ones);
 * a /proc scan this often is the backstop (ring drops, embedded Pythons).
 */
#define DISCOVER_NS (5000 * 1000000ull)
/* A new process is looked at after these delays from its exec: the
 * dynamic loader maps libpython and the interpreter creates its GIL first.
 */
static const uint64_t pending_delays_ms[] = {20, 100, 300, 1000, 3000};
#define MAX_PENDING 1024
/* /metrics is rendered this often, not per scrape: scrapes cost nothing. */
#define RENDER_NS (1000 * 1000000ull)
/* Processes found not to be CPython (or not watchable), not looked at again. */
#define MAX_REJECTED 8192

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

struct rejected {
	pid_t pid;
	double born_s; /* a reused pid is another process */
};

struct pending {
	pid_t pid;
	unsigned tries;
	uint64_t due_ns;
};

enum look { LOOK_DONE, LOOK_AGAIN };

struct agent {
	const struct agent_opts *opts;
	struct bpf_loader bpf;
	struct session *sessions[GW_MAX_PROCS];
	size_t nsessions;
	struct rejected rejected[MAX_REJECTED];
	size_t nrejected, next_rejected;
	struct pending pending[MAX_PENDING];
	size_t npending;
	struct shared_probes shared;
	struct link_reaper reaper;
	struct event_log events;
	struct http_server http;
	struct metrics_text text;
	struct agent_self self;
	struct session_opts so;
};

static void *lookup(void *ctx, pid_t pid)
{
	struct agent *a = ctx;
	size_t i;

	for (i = 0; i < a->nsessions; i++) {
		if (a->sessions[i]->target.pid == pid)
			return a->sessions[i];
	}
	return NULL;
}

/* Processes start at whole clock ticks: their start time is their identity. */
static double born_s(pid_t pid)
{
	double age = proc__age_s(pid);

	return age < 0 ? -1 : monotonic_ns() / 1e9 - age;
}

static bool is_rejected(const struct agent *a, pid_t pid)
{
	size_t i;

	for (i = 0; i < a->nrejected; i++) {
		if (a->rejected[i].pid == pid && born_s(pid) - a->rejected[i].born_s < 0.5 &&
		    a->rejected[i].born_s - born_s(pid) < 0.5)
			return true;
	}
	return false;
}

static void reject(struct agent *a, pid_t pid)
{
	struct rejected *r = &a->rejected[a->next_rejected];

	r->pid = pid;
	r->born_s = born_s(pid);
	a->next_rejected = (a->next_rejected + 1) % MAX_REJECTED;
	if (a->nrejected < MAX_REJECTED)
		a->nrejected++;
}

/* LOOK_AGAIN: a CPython process still starting, or one not mapped yet. */
static enum look watch_process(struct agent *a, pid_t pid)
{
	struct gw_target *t = malloc(sizeof(*t));
	enum look look = LOOK_DONE;
	struct session *s;
	int err;

	if (!t)
		return LOOK_AGAIN;
	err = target__open(t, pid);
	if (target__still_starting(t, err)) {
		look = LOOK_AGAIN;
		goto out;
	}
	if (err) {
		if (err == -EPROTONOSUPPORT)
			gw_info("pid %d (%s): python %s is not supported; not watched", pid,
				t->comm, t->build.version);
		reject(a, pid);
		goto out;
	}
	if (a->nsessions == a->opts->max_processes) {
		gw_info("pid %d (%s): already watching %u processes; not watched", pid, t->comm,
			a->opts->max_processes);
		a->self.attach_failures++;
		reject(a, pid);
		goto out;
	}
	err = session__open(&s, a->bpf.skel, t, &a->so);
	if (err) {
		if (err != -ESRCH)
			gw_info("pid %d (%s): cannot attach: %s%s", pid, t->comm, strerror(-err),
				attach__error_hint(err));
		a->self.attach_failures++;
		reject(a, pid);
		goto out;
	}
	report__attach(&s->report, &s->attachment);
	a->sessions[a->nsessions++] = s;
out:
	free(t);
	return look;
}

static enum look look_at(struct agent *a, pid_t pid, bool may_change)
{
	if (lookup(a, pid) || is_rejected(a, pid))
		return LOOK_DONE;
	if (!process_filter__accepts(&a->opts->filter, pid)) {
		if (!proc__exited(pid))
			reject(a, pid);
		return LOOK_DONE;
	}
	if (discover__maybe_python(pid))
		return watch_process(a, pid);
	if (may_change)
		return LOOK_AGAIN;
	if (!proc__exited(pid))
		reject(a, pid);
	return LOOK_DONE;
}

static int consider(pid_t pid, void *ctx)
{
	look_at(ctx, pid, false);
	return 0;
}

/* A watched process that ran exec() is another program now: what its
 * session knows (addresses, probes) is of the old image.
 */
static void let_go_after_exec(struct agent *a, pid_t pid)
{
	size_t i;

	for (i = 0; i < a->nsessions; i++) {
		struct session *s = a->sessions[i];

		if (s->target.pid != pid)
			continue;
		gw_info("pid %d (%s) ran exec(); its series are dropped and it is looked at again",
			pid, s->target.comm);
		/* Its own probes would fire in the new image: gone at once. */
		session__close(s, true);
		a->sessions[i] = a->sessions[--a->nsessions];
		return;
	}
}

/* bpf_loader's on_new_process: an exec anywhere, or a watched process's
 * fork; looked at when it has had time to start.
 */
static void on_new_process(void *ctx, pid_t pid)
{
	struct agent *a = ctx;
	size_t i;

	let_go_after_exec(a, pid);

	/* An exec keeps the pid and the start time: a shell rejected before
	 * may be a Python now.
	 */
	for (i = 0; i < a->nrejected; i++) {
		if (a->rejected[i].pid == pid)
			a->rejected[i].pid = 0;
	}
	for (i = 0; i < a->npending; i++) {
		if (a->pending[i].pid == pid) {
			a->pending[i].tries = 0; /* an exec after a fork: start over */
			a->pending[i].due_ns = monotonic_ns() + pending_delays_ms[0] * 1000000ull;
			return;
		}
	}
	if (a->npending == MAX_PENDING)
		return; /* the next scan finds it */
	a->pending[a->npending++] = (struct pending){
	    .pid = pid, .due_ns = monotonic_ns() + pending_delays_ms[0] * 1000000ull};
}

static void look_at_pending(struct agent *a, uint64_t now)
{
	size_t i = 0, n = sizeof(pending_delays_ms) / sizeof(pending_delays_ms[0]);

	while (i < a->npending) {
		struct pending *p = &a->pending[i];

		if (p->due_ns > now) {
			i++;
			continue;
		}
		if (++p->tries < n && look_at(a, p->pid, true) == LOOK_AGAIN &&
		    !proc__exited(p->pid)) {
			p->due_ns =
			    now + (pending_delays_ms[p->tries] - pending_delays_ms[p->tries - 1]) *
				      1000000ull;
			i++;
			continue;
		}
		*p = a->pending[--a->npending];
	}
}

static void drop_exited(struct agent *a)
{
	size_t i = 0;

	while (i < a->nsessions) {
		struct session *s = a->sessions[i];

		if (!s->exited) {
			i++;
			continue;
		}
		gw_info("pid %d (%s) exited; its series are dropped", s->target.pid,
			s->target.comm);
		session__close(s, false);
		a->sessions[i] = a->sessions[--a->nsessions];
	}
}

static void publish_metrics(struct agent *a)
{
	uint64_t start = monotonic_ns();
	size_t i;
	char *copy;

	for (i = 0; i < a->nsessions; i++)
		session__refresh(a->sessions[i]);
	a->self.events_dropped = a->bpf.skel->bss->dropped_events;
	a->self.binaries_probed = shared_probes__count(&a->shared);
	metrics__render(&a->text, a->sessions, a->nsessions, &a->self);
	a->self.last_render_s = (monotonic_ns() - start) / 1e9;
	if (a->text.failed)
		return;
	copy = malloc(a->text.len + 1);
	if (!copy)
		return;
	memcpy(copy, a->text.buf, a->text.len + 1);
	http_server__publish_metrics(&a->http, copy, a->text.len);
}

static void print_summary(struct agent *a, double elapsed_s)
{
	size_t i;
	int g;

	printf("== %.0fs: watching %zu CPython process%s, metrics on http://%s/metrics\n",
	       elapsed_s, a->nsessions, a->nsessions == 1 ? "" : "es", a->opts->listen);
	for (i = 0; i < a->nsessions; i++) {
		const struct session *s = a->sessions[i];
		const struct proc_snapshot *snap = &s->snap;
		uint64_t gc = 0, wait_ns = 0;
		size_t r;

		for (g = 0; g < GW_GC_GENERATIONS; g++)
			gc += snap->stats.gc_count[g];
		for (r = 0; r < snap->nrows; r++)
			wait_ns += snap->rows[r].stats.gil_wait_ns;
		printf(
		    "   pid %-7d %-15s %-7s threads %-3zu GIL wait %8.3fs  GC %-6llu hazards %llu"
		    "  deadlocks %llu  stalls %llu%s\n",
		    s->target.pid, s->target.comm, s->target.build.version, s->nviews,
		    wait_ns / 1e9, (unsigned long long)gc,
		    (unsigned long long)(snap->stats.hazards_gc_in_frames + snap->fork_hazards),
		    (unsigned long long)snap->deadlocks, (unsigned long long)snap->stalls,
		    s->stall.reported != STALL_NONE ? "  STALLED" : "");
	}
	fflush(stdout);
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* How long the loop may sleep for events: until the first periodic work
 * due, at most POLL_MS_MAX. With idle processes only (sampled on a common
 * grid) that is a few wakeups a second instead of one per POLL_MS.
 */
static int poll_timeout_ms(const struct agent *a, uint64_t now, uint64_t next)
{
	size_t i;

	for (i = 0; i < a->npending; i++)
		next = earliest(next, a->pending[i].due_ns);
	for (i = 0; i < a->nsessions; i++)
		next = earliest(next, session__next_tick_ns(a->sessions[i]));
	if (next <= now)
		return 0;
	return next - now >= POLL_MS_MAX * 1000000ull ? POLL_MS_MAX
						      : (int)((next - now + 999999) / 1000000);
}

static void run_loop(struct agent *a)
{
	const struct agent_opts *o = a->opts;
	uint64_t start = monotonic_ns(), now, next_discover = start, next_render = start;
	uint64_t interval = (uint64_t)(o->interval_s * 1e9), next_summary = start + interval;
	uint64_t end =
	    o->detection.duration_s > 0 ? start + o->detection.duration_s * 1e9 : UINT64_MAX;
	uint64_t next;
	size_t i;

	while (!stop_requested) {
		now = monotonic_ns();
		next = earliest(earliest(next_discover, next_render), end);
		if (!o->quiet)
			next = earliest(next, next_summary);
		if (bpf_loader__poll(&a->bpf, poll_timeout_ms(a, now, next)))
			break;
		now = monotonic_ns();
		if (now >= end)
			break;
		look_at_pending(a, now);
		if (now >= next_discover) {
			discover__each_process(consider, a);
			next_discover = now + DISCOVER_NS;
		}
		for (i = 0; i < a->nsessions; i++)
			session__tick(a->sessions[i], now);
		drop_exited(a);
		if (now >= next_render) {
			publish_metrics(a);
			next_render = now + RENDER_NS;
		}
		if (!o->quiet && now >= next_summary) {
			print_summary(a, (now - start) / 1e9);
			next_summary = now + interval;
		}
	}
}

/* Each probe is an open perf event: a few per watched process. Container
 * runtimes often start us with a soft limit of 1024.
 */
static void raise_open_files_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int agent__run(const struct agent_opts *opts)
{
	/* SA_RESTART: see watch.c; polls and sleeps still return at once. */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	struct agent *a = calloc(1, sizeof(*a));
	int code = GW_EXIT_OK, err;
	size_t i;

	if (!a) {
		gw_err("out of memory");
		return GW_EXIT_ERROR;
	}
	a->opts = opts;
	if (event_log__init(&a->events, opts->quiet ? NULL : stdout)) {
		gw_err("out of memory");
		free(a);
		return GW_EXIT_ERROR;
	}
	/* Before the HTTP server: the threads it reports are all there. */
	if (!link_reaper__start(&a->reaper))
		a->shared.reaper = &a->reaper;
	err = http_server__start(&a->http, opts->listen, &a->events);
	if (err) {
		gw_err("cannot listen on %s: %s", opts->listen,
		       err == -EINVAL ? "expected HOST:PORT, e.g. 127.0.0.1:9947" : strerror(-err));
		code = err == -EINVAL ? GW_EXIT_USAGE : GW_EXIT_ERROR;
		goto out_log;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	raise_open_files_limit();
	if (bpf_loader__open(&a->bpf,
			     &(struct bpf_loader_opts){.sz = sizeof(struct bpf_loader_opts),
						       .lookup = lookup,
						       .deliver = session__deliver,
						       .deliver_stack = session__deliver_stack,
						       .on_new_process = on_new_process,
						       .ctx = a,
						       .deep = opts->detection.deep})) {
		code = GW_EXIT_BPF;
		goto out_http;
	}
	a->shared.deep = opts->detection.deep;
	a->so = (struct session_opts){.deep = opts->detection.deep,
				      .shared = &a->shared,
				      .json = true,
				      .out = a->events.stream,
				      .deadlock_after_s = opts->detection.deadlock_after_s,
				      .stall_after_s = opts->detection.stall_after_s,
				      .drain_stacks = bpf_loader__drain_stacks,
				      .drain_ctx = &a->bpf};
	gw_info("agent: metrics on http://%s/metrics, reports on /events", opts->listen);
	run_loop(a);
	for (i = 0; i < a->nsessions; i++)
		session__close(a->sessions[i], false);
	if (link_reaper__pending(&a->reaper))
		gw_info("agent: detaching %zu probes (~0.1 s each)",
			link_reaper__pending(&a->reaper));
	link_reaper__stop(&a->reaper);
	bpf_loader__close(&a->bpf);
out_http:
	http_server__stop(&a->http);
out_log:
	link_reaper__stop(&a->reaper);
	event_log__destroy(&a->events);
	metrics_text__free(&a->text);
	free(a);
	return code;
}
