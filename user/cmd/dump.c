// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dump.h"
#include "exit_codes.h"
#include "json_writer.h"
#include "log.h"
#include "proc.h"
#include "report.h"
#include "report_stack.h"
#include "snapshot_graph.h"
#include "target_open.h"

#define MAX_CYCLES 4

struct dump {
	const struct dump_opts *opts;
	struct gw_target t;
	struct stack_collector *c;
	struct snapshot_thread *th;
	size_t n;
	struct waiter w[GW_MAX_VIEWS];
	struct wait_cycle cycles[MAX_CYCLES];
	size_t ncycles;
	uint64_t first_ns; /* CLOCK_MONOTONIC of the first look */
};

static void print_text(const struct dump *d)
{
	char desc[192];
	size_t i;

	printf("Process %d (%s): CPython %s, %zu threads\n", d->t.pid, d->t.comm,
	       d->t.build.version, d->n);
	for (i = 0; i < d->n; i++) {
		const struct snapshot_thread *th = &d->th[i];

		thread_state__describe(&th->view, &th->state, desc, sizeof(desc));
		printf("\nThread %u (%s): %s\n", th->view.tid, th->view.name, desc);
		report_stack__text(stdout, &th->stacks, "  ");
	}
}

static void print_json(const struct dump *d)
{
	struct json_writer w;
	struct timespec now;
	char desc[192];
	size_t i;

	clock_gettime(CLOCK_REALTIME, &now);
	jw_init(&w, stdout);
	jw_object_begin(&w, NULL);
	jw_str(&w, "event", "dump");
	jw_u64(&w, "pid", d->t.pid);
	jw_u64(&w, "time_ns", now.tv_sec * 1000000000ull + now.tv_nsec);
	jw_str(&w, "comm", d->t.comm);
	jw_str(&w, "python_version", d->t.build.version);
	jw_array_begin(&w, "threads");
	for (i = 0; i < d->n; i++) {
		const struct snapshot_thread *th = &d->th[i];

		jw_object_begin(&w, NULL);
		jw_u64(&w, "tid", th->view.tid);
		jw_str(&w, "name", th->view.name);
		jw_str(&w, "state",
		       thread_state__describe(&th->view, &th->state, desc, sizeof(desc)));
		thread_state__json(&w, &th->view, &th->state);
		report_stack__json(&w, &th->stacks);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_line_end(&w);
}

static int look(struct dump *d)
{
	size_t i;

	d->n = snapshot_graph__look(&d->t, d->c, d->th, GW_MAX_VIEWS);
	if (!d->n)
		return -ESRCH;
	/* --no-native: unwound (without stopping) only to tell who holds what. */
	for (i = 0; d->opts->no_native && i < d->n; i++) {
		d->th[i].stacks.native.n = 0;
		d->th[i].stacks.native_err = 0;
	}
	return 0;
}

static size_t find_cycles(struct dump *d)
{
	size_t m = snapshot_graph__waiters(d->th, d->n, d->first_ns, d->w, GW_MAX_VIEWS);

	return wait_graph__cycles(d->w, m, d->cycles, MAX_CYCLES);
}

/* A cycle of the first look is a deadlock if a second look, the threshold
 * later, finds it again with nothing moved; -ESRCH if the process exited.
 * Returns whether *out holds one.
 */
static int confirm_deadlock(struct dump *d, struct wait_cycle *out)
{
	uint64_t sig[MAX_CYCLES];
	size_t first, i, j;

	d->first_ns = monotonic_ns();
	first = find_cycles(d);
	if (!first)
		return 0;
	for (i = 0; i < first; i++)
		sig[i] = snapshot_graph__signature(&d->t, d->th, d->n, &d->cycles[i]);
	gw_info("pid %d: a wait-for cycle; looking again in %.1f s to confirm it", d->t.pid,
		d->opts->deadlock_after_s);
	sleep_ns((uint64_t)(d->opts->deadlock_after_s * 1e9));
	memcpy(out, d->cycles, sizeof(*out));
	if (look(d))
		return -ESRCH;
	for (i = 0; i < find_cycles(d); i++) {
		for (j = 0; j < first; j++) {
			if (d->cycles[i].key == out[0].key &&
			    snapshot_graph__signature(&d->t, d->th, d->n, &d->cycles[i]) ==
				sig[j]) {
				*out = d->cycles[i];
				return 1;
			}
		}
	}
	gw_info("pid %d: the cycle did not hold at the second look: not a deadlock", d->t.pid);
	return 0;
}

static void report_deadlock(struct dump *d, const struct wait_cycle *cycle)
{
	struct report r = {.out = stdout,
			   .json = d->opts->json,
			   .realtime_offset_ns = realtime_offset_ns(),
			   .target = &d->t,
			   .lock_sites_fd = -1};

	report__deadlock(&r, cycle, monotonic_ns());
	if (!d->opts->json)
		printf("\n");
}

int dump__run(const struct dump_opts *opts)
{
	struct dump d = {.opts = opts};
	struct wait_cycle cycle;
	int code, found;

	code = target__open_for_user(&d.t, opts->pid);
	if (code)
		return code;
	d.c = malloc(sizeof(*d.c));
	d.th = calloc(GW_MAX_VIEWS, sizeof(*d.th));
	if (!d.c || !d.th || stack_collector__init(d.c, &d.t)) {
		gw_err("out of memory");
		free(d.c);
		d.c = NULL;
		code = GW_EXIT_ERROR;
		goto out;
	}
	d.c->no_stop = opts->no_native;
	if (!d.c->native)
		gw_err("pid %d: no native stacks: %s", d.t.pid, strerror(-d.c->native_err));
	found = look(&d) ? -ESRCH : confirm_deadlock(&d, &cycle);
	if (found < 0) {
		gw_err("pid %d exited", d.t.pid);
		code = GW_EXIT_NO_PROCESS;
		goto out;
	}
	if (found)
		report_deadlock(&d, &cycle);
	if (opts->json)
		print_json(&d);
	else
		print_text(&d);
	code = GW_EXIT_OK;
out:
	if (d.c)
		stack_collector__destroy(d.c);
	free(d.c);
	free(d.th);
	return code;
}
