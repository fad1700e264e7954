// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "bpf_features.h"
#include "bpf_load_diag.h"
#include "bpf_loader.h"
#include "gilwatch.h"
#include "gilwatch.skel.h"
#include "log.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct bpf_loader *b = ctx;
	const struct gw_event *e = data;
	void *receiver;

	if (len < sizeof(*e))
		return 0;
	if (e->type == GW_EV_PROC_EXEC) {
		if (b->opts.on_new_process)
			b->opts.on_new_process(b->opts.ctx, e->pid);
		return 0;
	}
	receiver = b->opts.lookup(b->opts.ctx, e->pid);
	if (receiver)
		b->opts.deliver(receiver, e);
	if (e->type == GW_EV_FORK && b->opts.on_new_process)
		b->opts.on_new_process(b->opts.ctx, (pid_t)e->addr);
	return 0;
}

static int on_stack_event(void *ctx, void *data, size_t len)
{
	struct bpf_loader *b = ctx;
	const struct gw_stack_event *ev = data;
	void *receiver;

	if (len < sizeof(*ev))
		return 0;
	receiver = b->opts.lookup(b->opts.ctx, ev->pid);
	if (receiver)
		b->opts.deliver_stack(receiver, ev);
	return 0;
}

static int attach_kernel_probes(struct bpf_loader *b)
{
	struct bpf_program *progs[GW_KERNEL_LINKS] = {
	    b->skel->progs.gw_fork, b->skel->progs.gw_exit, b->skel->progs.gw_exec,
	    b->skel->progs.gw_signal_deliver};
	int i;

	for (i = 0; i < GW_KERNEL_LINKS; i++) {
		if (!bpf_program__autoload(progs[i]))
			continue; /* an optional feature the kernel turned off */
		b->kernel_links[i] = bpf_program__attach(progs[i]);
		if (!b->kernel_links[i])
			return gw_err_errno(-errno, "cannot attach %s",
					    bpf_program__section_name(progs[i]));
	}
	return 0;
}

int bpf_loader__prepare(struct gilwatch_bpf *skel, bool discover_execs, bool deep)
{
	skel->rodata->discover_execs = discover_execs;
	skel->rodata->deep_loaded = deep;
	/* One stack capture slot per CPU. */
	return bpf_map__set_max_entries(skel->maps.stack_scratch, libbpf_num_possible_cpus());
}

/* Tests: GILWATCH_TEST_MISSING_ATTACH=prog,... loads those programs as
 * if the kernel lacked their tracepoint or iterator (a real load failure,
 * on kernels that have everything), to exercise what a kernel without
 * them gets.
 */
static int simulate_missing_attach(struct bpf_program *prog)
{
	const char *list = getenv("GILWATCH_TEST_MISSING_ATTACH"), *name = bpf_program__name(prog);
	size_t len = strlen(name);
	const char *p;

	for (p = list; p && (p = strstr(p, name)); p += len) {
		if ((p == list || p[-1] == ',') && (p[len] == ',' || !p[len]))
			/* Looked up under the other kind's name: not found. */
			return bpf_program__set_expected_attach_type(
			    prog, bpf_program__expected_attach_type(prog) == BPF_TRACE_ITER
				      ? BPF_TRACE_RAW_TP
				      : BPF_TRACE_ITER);
	}
	return 0;
}

/* Opens the skeleton with the programs this run needs: --deep's only with
 * it, none of a feature turned off. NULL with errno set on failure.
 */
static struct gilwatch_bpf *open_skeleton(const struct bpf_loader_opts *opts)
{
	struct gilwatch_bpf *skel = gilwatch_bpf__open();
	struct bpf_program *prog;
	enum gw_feature f;
	int err;

	if (!skel)
		return NULL;
	err = bpf_loader__prepare(skel, opts->on_new_process != NULL, opts->deep);
	bpf_object__for_each_program(prog, skel->obj)
	{
		f = bpf_features__of_program(bpf_program__name(prog));
		if ((f == GW_FEATURE_DEEP && !opts->deep) || bpf_features__unavailable(f))
			err = err ?: bpf_program__set_autoload(prog, false);
		err = err ?: simulate_missing_attach(prog);
	}
	if (err) {
		gilwatch_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

/* Loads what the kernel accepts: a rejected optional feature is turned off
 * and the object loaded again without it. 0 or -errno, logged once.
 */
static int load_skeleton(struct bpf_loader *b)
{
	struct bpf_load_diag d;
	enum gw_feature f;
	int err, tries;

	if (bpf_load_diag__check_btf(&d)) {
		gw_err("%s", d.message);
		return -ENOENT;
	}
	for (tries = 0; tries < GW_FEATURE_COUNT; tries++) {
		b->skel = open_skeleton(&b->opts);
		if (!b->skel)
			return gw_err_errno(-errno, "cannot open BPF programs");
		err = bpf_load_diag__begin(b->skel->obj);
		if (!err) {
			err = gilwatch_bpf__load(b->skel) ? -errno : 0;
			if (err)
				bpf_load_diag__explain(b->skel->obj, err, &d);
			bpf_load_diag__end();
		}
		if (!err)
			return 0;
		gilwatch_bpf__destroy(b->skel);
		b->skel = NULL;
		f = d.prog[0] ? bpf_features__of_program(d.prog) : GW_FEATURE_CORE;
		if (err == -ENOMEM || f == GW_FEATURE_CORE || f == GW_FEATURE_DEEP ||
		    d.kind == BPF_LOAD_PRIVILEGES || d.kind == BPF_LOAD_OTHER)
			break;
		bpf_features__disable(f, d.message);
	}
	if (err == -ENOMEM)
		gw_err_errno(err, "cannot load BPF programs");
	else
		gw_err("%s", d.message);
	return err;
}

int bpf_loader__open(struct bpf_loader *b, const struct bpf_loader_opts *opts)
{
	int err;

	memset(b, 0, sizeof(*b));
	b->opts = *opts;
	bpf_load_diag__install();
	err = load_skeleton(b);
	if (err)
		goto fail;
	err = attach_kernel_probes(b);
	if (err)
		goto fail;
	b->events = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_event, b, NULL);
	b->stacks =
	    ring_buffer__new(bpf_map__fd(b->skel->maps.stack_events), on_stack_event, b, NULL);
	if (!b->events || !b->stacks) {
		err = gw_err_errno(-errno, "cannot create ring buffers");
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
