// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "session.h"
#include "target_open.h"

#define POLL_MS 10
/* New processes are looked for this often (/proc scan). */
#define DISCOVER_NS (2000 * 1000000ull)
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

struct agent {
	const struct agent_opts *opts;
	struct bpf_loader bpf;
	struct session *sessions[GW_MAX_PROCS];
	size_t nsessions;
	struct rejected rejected[MAX_REJECTED];
	size_t nrejected, next_rejected;
	struct event_log events;
	struct http_server http;
	struct metrics_text text;
	struct agent_self self;
	struct session_opts so;
};

static struct session *lookup(void *ctx, pid_t pid)
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

static void watch_process(struct agent *a, pid_t pid)
{
	struct gw_target *t = malloc(sizeof(*t));
	struct session *s;
	int err;

	if (!t)
		return;
	err = target__open(t, pid);
	if (target__still_starting(t, err))
		goto out; /* look again at the next scan */
	if (err) {
		if (err == -EPROTONOSUPPORT)
			gw_info("pid %d (%s): python %s is not supported; not watched", pid,
				t->comm, t->build.version);
		reject(a, pid);
		goto out;
	}
	if (a->nsessions == GW_MAX_PROCS) {
		gw_info("pid %d (%s): already watching %d processes; not watched", pid, t->comm,
			GW_MAX_PROCS);
		reject(a, pid);
		goto out;
	}
	err = session__open(&s, a->bpf.skel, t, &a->so);
	if (err) {
		if (err != -ESRCH)
			gw_info("pid %d (%s): cannot attach: %s", pid, t->comm, strerror(-err));
		a->self.attach_failures++;
		reject(a, pid);
		goto out;
	}
	report__attach(&s->report, &s->attachment);
	a->sessions[a->nsessions++] = s;
out:
	free(t);
}

static int consider(pid_t pid, void *ctx)
{
	struct agent *a = ctx;

	if (lookup(a, pid) || is_rejected(a, pid))
		return 0;
	if (discover__maybe_python(pid))
		watch_process(a, pid);
	else if (!proc__exited(pid))
		reject(a, pid);
	return 0;
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
		session__close(s);
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

static void run_loop(struct agent *a)
{
	const struct agent_opts *o = a->opts;
	uint64_t start = monotonic_ns(), now, next_discover = start, next_render = start;
	uint64_t interval = (uint64_t)(o->interval_s * 1e9), next_summary = start + interval;
	size_t i;

	while (!stop_requested) {
		if (bpf_loader__poll(&a->bpf, POLL_MS))
			break;
		now = monotonic_ns();
		if (o->detection.duration_s > 0 && now - start >= o->detection.duration_s * 1e9)
			break;
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

int agent__run(const struct agent_opts *opts)
{
	struct sigaction sa = {.sa_handler = on_signal};
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
	err = http_server__start(&a->http, opts->listen, &a->events);
	if (err) {
		gw_err("cannot listen on %s: %s", opts->listen,
		       err == -EINVAL ? "expected HOST:PORT, e.g. 127.0.0.1:9947" : strerror(-err));
		code = err == -EINVAL ? GW_EXIT_USAGE : GW_EXIT_ERROR;
		goto out_log;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (bpf_loader__open(&a->bpf, lookup, a)) {
		code = GW_EXIT_BPF;
		goto out_http;
	}
	a->so = (struct session_opts){.deep = opts->detection.deep,
				      .json = true,
				      .out = a->events.stream,
				      .deadlock_after_s = opts->detection.deadlock_after_s,
				      .stall_after_s = opts->detection.stall_after_s,
				      .drain_stacks = bpf_loader__drain_stacks,
				      .drain_ctx = &a->bpf};
	gw_info("agent: metrics on http://%s/metrics, reports on /events", opts->listen);
	run_loop(a);
	for (i = 0; i < a->nsessions; i++)
		session__close(a->sessions[i]);
	bpf_loader__close(&a->bpf);
out_http:
	http_server__stop(&a->http);
out_log:
	event_log__destroy(&a->events);
	metrics_text__free(&a->text);
	free(a);
	return code;
}
