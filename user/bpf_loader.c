// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "bpf_loader.h"
#include "gilwatch.skel.h"
#include "log.h"
#include "session.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return gw_verbose ? vfprintf(stderr, fmt, args) : 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct bpf_loader *b = ctx;
	const struct gw_event *e = data;
	struct session *s;

	if (len < sizeof(*e))
		return 0;
	if (e->type == GW_EV_PROC_EXEC) {
		if (b->opts.on_new_process)
			b->opts.on_new_process(b->opts.ctx, e->pid);
		return 0;
	}
	s = b->opts.lookup(b->opts.ctx, e->pid);
	if (s)
		session__event(s, e);
	if (e->type == GW_EV_FORK && b->opts.on_new_process)
		b->opts.on_new_process(b->opts.ctx, (pid_t)e->addr);
	return 0;
}

static int on_stack_event(void *ctx, void *data, size_t len)
{
	struct bpf_loader *b = ctx;
	const struct gw_stack_event *ev = data;
	struct session *s;

	if (len < sizeof(*ev))
		return 0;
	s = b->opts.lookup(b->opts.ctx, ev->pid);
	if (s)
		session__stack_event(s, ev);
	return 0;
}

static int attach_kernel_probes(struct bpf_loader *b)
{
	struct bpf_program *progs[GW_KERNEL_LINKS] = {
	    b->skel->progs.gw_fork, b->skel->progs.gw_exit, b->skel->progs.gw_exec,
	    b->skel->progs.gw_signal_deliver};
	int i, err;

	for (i = 0; i < GW_KERNEL_LINKS; i++) {
		b->kernel_links[i] = bpf_program__attach(progs[i]);
		if (!b->kernel_links[i]) {
			err = -errno;
			gw_err("cannot attach %s: %s", bpf_program__section_name(progs[i]),
			       strerror(errno));
			return err;
		}
	}
	return 0;
}

int bpf_loader__open(struct bpf_loader *b, const struct bpf_loader_opts *opts)
{
	int err;

	memset(b, 0, sizeof(*b));
	b->opts = *opts;
	libbpf_set_print(libbpf_print);
	b->skel = gilwatch_bpf__open();
	if (b->skel)
		b->skel->rodata->discover_execs = opts->on_new_process != NULL;
	/* One stack capture slot per CPU. */
	if (!b->skel ||
	    bpf_map__set_max_entries(b->skel->maps.stack_scratch, libbpf_num_possible_cpus()) ||
	    gilwatch_bpf__load(b->skel)) {
		err = -errno;
		gw_err("cannot load BPF programs: %s (needs root or CAP_BPF and CAP_PERFMON, "
		       "and a kernel with BTF)",
		       strerror(errno));
		goto fail;
	}
	err = attach_kernel_probes(b);
	if (err)
		goto fail;
	b->events = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_event, b, NULL);
	b->stacks =
	    ring_buffer__new(bpf_map__fd(b->skel->maps.stack_events), on_stack_event, b, NULL);
	if (!b->events || !b->stacks) {
		err = -errno;
		gw_err("cannot create ring buffers: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	bpf_loader__close(b);
	return err ? err : -EINVAL;
}

void bpf_loader__close(struct bpf_loader *b)
{
	size_t i;

	ring_buffer__free(b->events);
	ring_buffer__free(b->stacks);
	for (i = 0; i < GW_KERNEL_LINKS; i++)
		bpf_link__destroy(b->kernel_links[i]);
	gilwatch_bpf__destroy(b->skel);
	memset(b, 0, sizeof(*b));
}

void bpf_loader__drain_stacks(void *ctx)
{
	struct bpf_loader *b = ctx;

	if (b->stacks)
		ring_buffer__consume(b->stacks);
}

int bpf_loader__poll(struct bpf_loader *b, int timeout_ms)
{
	int err = ring_buffer__poll(b->events, timeout_ms);

	/* Captures first would be better, but a crash's small record may come
	 * alone; the stack ring is drained on demand by the sessions too.
	 */
	bpf_loader__drain_stacks(b);
	return err < 0 && err != -EINTR ? err : 0;
}
