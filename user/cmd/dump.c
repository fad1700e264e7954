// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dump.h"
#include "exit_codes.h"
#include "json_writer.h"
#include "log.h"
#include "proc.h"
#include "report_stack.h"
#include "target_open.h"
#include "thread_state_infer.h"
#include "thread_view.h"

struct dumped_thread {
	struct thread_view view;
	struct inferred_state state;
	struct thread_stacks stacks;
};

static void print_text(const struct gw_target *t, const struct dumped_thread *d, size_t n)
{
	char desc[160];
	size_t i;

	printf("Process %d (%s): CPython %s, %zu threads\n", t->pid, t->comm, t->build.version, n);
	for (i = 0; i < n; i++) {
		thread_state__describe(&d[i].view, &d[i].state, desc, sizeof(desc));
		printf("\nThread %u (%s): %s\n", d[i].view.tid, d[i].view.name, desc);
		report_stack__text(stdout, &d[i].stacks, "  ");
	}
}

static void print_json(const struct gw_target *t, const struct dumped_thread *d, size_t n)
{
	struct json_writer w;
	struct timespec now;
	char desc[160];
	size_t i;

	clock_gettime(CLOCK_REALTIME, &now);
	jw_init(&w, stdout);
	jw_object_begin(&w, NULL);
	jw_str(&w, "event", "dump");
	jw_u64(&w, "pid", t->pid);
	jw_u64(&w, "time_ns", now.tv_sec * 1000000000ull + now.tv_nsec);
	jw_str(&w, "comm", t->comm);
	jw_str(&w, "python_version", t->build.version);
	jw_array_begin(&w, "threads");
	for (i = 0; i < n; i++) {
		jw_object_begin(&w, NULL);
		jw_u64(&w, "tid", d[i].view.tid);
		jw_str(&w, "name", d[i].view.name);
		jw_str(&w, "state",
		       thread_state__describe(&d[i].view, &d[i].state, desc, sizeof(desc)));
		thread_state__json(&w, &d[i].view, &d[i].state);
		report_stack__json(&w, &d[i].stacks);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_line_end(&w);
}

int dump__run(const struct dump_opts *opts)
{
	struct stack_collector *c = NULL;
	struct dumped_thread *d = NULL;
	struct thread_view *views = NULL;
	struct mem_source mem;
	struct gw_target t;
	size_t n, i;
	int code;

	code = target__open_for_user(&t, opts->pid);
	if (code)
		return code;
	c = malloc(sizeof(*c));
	views = calloc(GW_MAX_VIEWS, sizeof(*views));
	d = calloc(GW_MAX_VIEWS, sizeof(*d));
	if (!c || !views || !d || stack_collector__init(c, &t)) {
		gw_err("out of memory");
		free(c);
		c = NULL;
		code = GW_EXIT_ERROR;
		goto out;
	}
	if (opts->no_native && c->native) {
		native_unwinder__free(c->native);
		c->native = NULL;
		c->native_err = -ECANCELED;
	} else if (!c->native) {
		gw_err("pid %d: no native stacks: %s", t.pid, strerror(-c->native_err));
	}
	n = thread_view__read(NULL, &t, views, GW_MAX_VIEWS);
	if (!n) {
		gw_err("pid %d exited", t.pid);
		code = GW_EXIT_NO_PROCESS;
		goto out;
	}
	mem = mem_source__process(t.pid);
	for (i = 0; i < n; i++) {
		d[i].view = views[i];
		stack_collector__collect(c, views[i].tid, &d[i].stacks);
		if (opts->no_native)
			d[i].stacks.native_err = 0;
		thread_state__infer(&t, &mem, &d[i].view, &d[i].stacks, &d[i].state);
	}
	if (opts->json)
		print_json(&t, d, n);
	else
		print_text(&t, d, n);
	code = GW_EXIT_OK;
out:
	if (c)
		stack_collector__destroy(c);
	free(c);
	free(views);
	free(d);
	return code;
}
