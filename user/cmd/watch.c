// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bpf_loader.h"
#include "clock.h"
#include "detach_later.h"
#include "exit_codes.h"
#include "log.h"
#include "privileges.h"
#include "session.h"
#include "target_open.h"
#include "watch.h"

/* Ring polls wake at least this often: the GIL sampling period. */
#define POLL_MS 10

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

struct watch {
	const struct watch_opts *opts;
	struct bpf_loader bpf;
	struct session *session;
};

static void *lookup(void *ctx, pid_t pid)
{
	struct watch *w = ctx;

	return w->session && w->session->target.pid == pid ? w->session : NULL;
}

static void run_loop(struct watch *w)
{
	const struct watch_opts *o = w->opts;
	struct session *s = w->session;
	uint64_t start = monotonic_ns(), interval = (uint64_t)(o->interval_s * 1e9), now;
	uint64_t next_report = start + interval;

	while (!stop_requested && !s->exited) {
		if (bpf_loader__poll(&w->bpf, POLL_MS))
			break;
		now = monotonic_ns();
		if (o->detection.duration_s > 0 && now - start >= o->detection.duration_s * 1e9)
			break;
		session__tick(s, now);
		if (now >= next_report && !s->exited) {
			session__refresh(s);
			report__stats(&s->report, &s->snap, (now - start) / 1e9, false);
			next_report += interval;
			if (next_report < now)
				next_report = now + interval;
		}
	}
	bpf_loader__poll(&w->bpf, 0);
	session__refresh(s);
	report__stats(&s->report, &s->snap, (monotonic_ns() - start) / 1e9, true);
}

int watch__run(const struct watch_opts *opts)
{
	/* SA_RESTART: a write to a full stdout pipe interrupted by the signal
	 * would fail, and stdio drop what it held (a record cut in the middle).
	 * Polls and sleeps still return at once.
	 */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	struct session_opts so = {.deep = opts->detection.deep,
				  .json = opts->json,
				  .out = stdout,
				  .deadlock_after_s = opts->detection.deadlock_after_s,
				  .stall_after_s = opts->detection.stall_after_s,
				  .drain_stacks = bpf_loader__drain_stacks};
	struct watch w = {.opts = opts};
	struct bpf_loader_opts loader_opts = {.sz = sizeof(loader_opts),
					      .lookup = lookup,
					      .deliver = session__deliver,
					      .deliver_stack = session__deliver_stack,
					      .ctx = &w,
					      .deep = opts->detection.deep};
	struct gw_target *t;
	int code, err;

	t = malloc(sizeof(*t));
	if (!t) {
		gw_err("out of memory");
		return GW_EXIT_ERROR;
	}
	code = target__open_for_user(t, opts->pid);
	if (code)
		goto out;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (bpf_loader__open(&w.bpf, &loader_opts)) {
		code = GW_EXIT_BPF;
		goto out;
	}
	so.drain_ctx = &w.bpf;
	err = session__open(&w.session, w.bpf.skel, t, &so);
	if (err == -ESRCH) {
		gw_err("pid %d exited while gilwatch attached", t->pid);
		code = GW_EXIT_TARGET_EXITED;
	} else if (err) {
		gw_err("cannot attach to pid %d: %s%s", t->pid, strerror(-err),
		       attach__error_hint(err));
		code = GW_EXIT_BPF;
	} else {
		report__attach(&w.session->report, &w.session->attachment);
		err = privileges__drop_after_attach();
		if (err)
			gw_info("keeping all capabilities: %s", strerror(-err));
		run_loop(&w);
		err = detach_later__arm();
		if (err)
			gw_debug("detaching before exit: %s", strerror(-err));
		session__close(w.session, true);
	}
	bpf_loader__close(&w.bpf);
out:
	free(t);
	return code;
}
