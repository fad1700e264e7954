// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dump.h"
#include "exit_codes.h"
#include "fork_inference.h"
#include "json_writer.h"
#include "log.h"
#include "proc.h"
#include "process_tree.h"
#include "report.h"
#include "report_stack.h"
#include "snapshot_graph.h"
#include "target_open.h"

#define MAX_CYCLES 4
#define MAX_PROCESSES (1 + GW_MAX_DESCENDANTS)

/* One process of the tree. */
struct dumped {
	struct gw_target t;
	int open_err;		  /* target__open()'s: not CPython, unsupported, gone */
	pid_t parent;		  /* 0: the one asked for */
	bool forked;		  /* a fork of its parent that did not exec */
	struct fork_record *fork; /* forked: the threads it lost */
	struct stack_collector *c;
	struct snapshot_thread *th;
	size_t n;
	struct waiter w[GW_MAX_VIEWS];
	struct wait_cycle cycles[MAX_CYCLES];
	size_t ncycles;
	uint64_t sig[MAX_CYCLES];
	struct wait_cycle verdict;
	bool deadlocked;
};

struct dump {
	const struct dump_opts *opts;
	struct dumped *p[MAX_PROCESSES];
	size_t np;
	uint64_t first_ns; /* CLOCK_MONOTONIC of the first look */
};

static void print_forked_text(const struct dumped *p)
{
	char desc[96];
	size_t i;

	printf("  forked by thread %u of pid %d, no exec: the parent's other threads alive then "
	       "did not come along (hazard fork-with-threads, inferred):\n",
	       p->fork->forking_tid, p->parent);
	for (i = 0; i < p->fork->n; i++) {
		const struct thread_view *v = &p->fork->views[i];

		if (v->tid != p->fork->forking_tid)
			printf("    thread %u (%s), now %s\n", v->tid, v->name,
			       thread_view__describe(v, 0, desc, sizeof(desc)));
	}
}

static void print_children_text(const struct dump *d, const struct dumped *p)
{
	bool any = false;
	size_t i;

	for (i = 0; i < d->np; i++) {
		if (d->p[i]->parent != p->t.pid)
			continue;
		printf("%s %d%s", any ? "," : "  children:", d->p[i]->t.pid,
		       d->p[i]->forked ? " (forked)" : "");
		any = true;
	}
	if (any)
		printf("\n");
}

static void print_text(const struct dump *d, const struct dumped *p)
{
	char desc[192];
	size_t i;

	printf("Process %d (%s): CPython %s, %zu threads", p->t.pid, p->t.comm, p->t.build.version,
	       p->n);
	if (p->parent)
		printf(", child of %d", p->parent);
	printf("\n");
	if (p->forked && p->fork)
		print_forked_text(p);
	print_children_text(d, p);
	for (i = 0; i < p->n; i++) {
		const struct snapshot_thread *th = &p->th[i];

		thread_state__describe(&th->view, &th->state, desc, sizeof(desc));
		printf("\nThread %u (%s): %s\n", th->view.tid, th->view.name, desc);
		report_stack__text(stdout, &th->stacks, "  ");
	}
}

static void json_forked(struct json_writer *w, const struct dumped *p)
{
	size_t i;

	jw_object_begin(w, "forked_from");
	jw_u64(w, "pid", p->parent);
	jw_u64(w, "tid", p->fork->forking_tid);
	jw_bool(w, "inferred", true);
	jw_array_begin(w, "lost_threads");
	for (i = 0; i < p->fork->n; i++) {
		if (p->fork->views[i].tid == p->fork->forking_tid)
			continue;
		jw_object_begin(w, NULL);
		jw_u64(w, "tid", p->fork->views[i].tid);
		jw_str(w, "name", p->fork->views[i].name);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

static void print_json(const struct dump *d, const struct dumped *p)
{
	struct json_writer w;
	struct timespec now;
	char desc[192];
	size_t i;

	clock_gettime(CLOCK_REALTIME, &now);
	jw_init(&w, stdout);
	jw_object_begin(&w, NULL);
	jw_str(&w, "event", "dump");
	jw_u64(&w, "pid", p->t.pid);
	jw_u64(&w, "time_ns", now.tv_sec * 1000000000ull + now.tv_nsec);
	jw_str(&w, "comm", p->t.comm);
	jw_str(&w, "python_version", p->t.build.version);
	if (p->parent)
		jw_u64(&w, "parent_pid", p->parent);
	if (p->forked && p->fork)
		json_forked(&w, p);
	jw_array_begin(&w, "children");
	for (i = 0; i < d->np; i++) {
		if (d->p[i]->parent == p->t.pid)
			jw_u64(&w, NULL, d->p[i]->t.pid);
	}
	jw_array_end(&w);
	jw_array_begin(&w, "threads");
	for (i = 0; i < p->n; i++) {
		const struct snapshot_thread *th = &p->th[i];

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

static int look(const struct dump *d, struct dumped *p)
{
	p->n = snapshot_graph__look(&p->t, p->c, p->th, GW_MAX_VIEWS, !d->opts->no_native);
	return p->n ? 0 : -ESRCH;
}

/* --no-native: unwound (without stopping) only to tell who holds what. */
static void drop_native(struct dumped *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		p->th[i].stacks.native.n = 0;
		p->th[i].stacks.native_err = 0;
	}
}

static size_t find_cycles(const struct dump *d, struct dumped *p)
{
	size_t m = snapshot_graph__waiters(p->th, p->n, d->first_ns, p->w, GW_MAX_VIEWS);

	return wait_graph__cycles(p->w, m, p->cycles, MAX_CYCLES);
}

/* The first look at a process: its cycles and their signatures. */
static int first_look(struct dump *d, struct dumped *p)
{
	size_t i;

	p->c = malloc(sizeof(*p->c));
	p->th = calloc(GW_MAX_VIEWS, sizeof(*p->th));
	if (!p->c || !p->th || stack_collector__init(p->c, &p->t)) {
		free(p->c);
		p->c = NULL;
		return -ENOMEM;
	}
	p->c->no_stop = d->opts->no_native;
	if (!p->c->native)
		gw_err("pid %d: no native stacks: %s", p->t.pid, strerror(-p->c->native_err));
	if (look(d, p))
		return -ESRCH;
	p->ncycles = find_cycles(d, p);
	for (i = 0; i < p->ncycles; i++)
		p->sig[i] = snapshot_graph__signature(&p->t, p->th, p->n, &p->cycles[i]);
	return 0;
}

/* A cycle of the first look is a deadlock if the second, the threshold
 * later, finds it again with nothing moved.
 */
static void second_look(struct dump *d, struct dumped *p)
{
	struct wait_cycle first[MAX_CYCLES];
	uint64_t sig[MAX_CYCLES];
	size_t nfirst = p->ncycles, i, j;

	memcpy(first, p->cycles, sizeof(first));
	memcpy(sig, p->sig, sizeof(sig));
	if (look(d, p))
		return;
	p->ncycles = find_cycles(d, p);
	for (i = 0; i < p->ncycles && !p->deadlocked; i++) {
		for (j = 0; j < nfirst && !p->deadlocked; j++) {
			p->deadlocked =
			    p->cycles[i].key == first[j].key &&
			    snapshot_graph__signature(&p->t, p->th, p->n, &p->cycles[i]) == sig[j];
			if (p->deadlocked)
				p->verdict = p->cycles[i];
		}
	}
	if (!p->deadlocked)
		gw_info("pid %d: the cycle did not hold at the second look: not a deadlock",
			p->t.pid);
}

static void report_deadlock(const struct dump *d, struct dumped *p)
{
	struct report r = {.out = stdout,
			   .json = d->opts->json,
			   .realtime_offset_ns = realtime_offset_ns(),
			   .target = &p->t,
			   .lock_sites_fd = -1};

	report__deadlock(&r, &p->verdict, monotonic_ns());
	if (!d->opts->json)
		printf("\n");
}

static struct dumped *find(struct dump *d, pid_t pid)
{
	size_t i;

	for (i = 0; i < d->np; i++) {
		if (d->p[i]->t.pid == pid && !d->p[i]->open_err)
			return d->p[i];
	}
	return NULL;
}

/* A descendant: a fork of its parent that did not exec shares its
 * parent's addresses (and lost its other threads); any other is opened as
 * a process of its own. Those that run no CPython are left out.
 */
static void add_descendant(struct dump *d, pid_t pid, pid_t parent_pid)
{
	struct dumped *parent = find(d, parent_pid), *p = calloc(1, sizeof(*p));

	if (!p)
		return;
	p->parent = parent_pid;
	if (parent && target__forked_copy(&parent->t, pid)) {
		p->t = parent->t;
		p->t.pid = p->t.tgid = pid;
		proc__comm(pid, pid, p->t.comm, sizeof(p->t.comm));
		p->forked = true;
		p->fork = malloc(sizeof(*p->fork));
		if (p->fork && fork_inference__infer(&parent->t, pid, p->fork)) {
			free(p->fork);
			p->fork = NULL;
		}
	} else {
		p->open_err = target__open(&p->t, pid);
	}
	if (p->open_err) {
		gw_debug("pid %d, child of %d: not dumped: %s", pid, parent_pid,
			 strerror(-p->open_err));
		free(p);
		return;
	}
	d->p[d->np++] = p;
}

static void free_dumped(struct dumped *p)
{
	if (p->c)
		stack_collector__destroy(p->c);
	free(p->c);
	free(p->th);
	free(p->fork);
	free(p);
}

int dump__run(const struct dump_opts *opts)
{
	struct dump d = {.opts = opts};
	struct process_tree tree;
	bool confirm = false;
	int code;
	size_t i;

	d.p[0] = calloc(1, sizeof(*d.p[0]));
	if (!d.p[0]) {
		gw_err("out of memory");
		return GW_EXIT_ERROR;
	}
	d.np = 1;
	code = target__open_for_user(&d.p[0]->t, opts->pid);
	if (code)
		goto out;
	if (!opts->no_children) {
		process_tree__read(opts->pid, &tree);
		for (i = 0; i < tree.n; i++)
			add_descendant(&d, tree.pid[i], tree.parent[i]);
	}
	d.first_ns = monotonic_ns();
	for (i = 0; i < d.np; i++) {
		int err = first_look(&d, d.p[i]);

		if (err && !i) {
			code = err == -ENOMEM ? GW_EXIT_ERROR : GW_EXIT_NO_PROCESS;
			gw_err(err == -ENOMEM ? "out of memory" : "pid %d exited", opts->pid);
			goto out;
		}
		confirm |= d.p[i]->ncycles > 0;
	}
	/* One wait for every process with a cycle to confirm. */
	if (confirm) {
		gw_info("a wait-for cycle; looking again in %.1f s to confirm it",
			opts->deadlock_after_s);
		sleep_ns((uint64_t)(opts->deadlock_after_s * 1e9));
		for (i = 0; i < d.np; i++) {
			if (d.p[i]->ncycles)
				second_look(&d, d.p[i]);
		}
	}
	for (i = 0; i < d.np; i++) {
		if (!d.p[i]->n)
			continue; /* gone meanwhile */
		if (d.p[i]->deadlocked)
			report_deadlock(&d, d.p[i]);
		if (opts->no_native)
			drop_native(d.p[i]);
		if (opts->json)
			print_json(&d, d.p[i]);
		else
			print_text(&d, d.p[i]);
		if (!opts->json && i + 1 < d.np)
			printf("\n");
	}
	code = GW_EXIT_OK;
out:
	for (i = 0; i < d.np; i++)
		free_dumped(d.p[i]);
	return code;
}
