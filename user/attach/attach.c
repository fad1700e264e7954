// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "bpf_features.h"
#include "probe_plan.h"
#include "gilwatch.h"
#include "gilwatch.skel.h"
#include "proc.h"
#include "link_reaper.h"
#include "shared_probes.h"

/* What BPF needs to walk the current thread's Python frames at an event. */
static void py_offsets(const struct gw_target *t, struct gw_py_offsets *o)
{
	const struct python_layout *l = &t->build.layout;
	const struct python_stack_layout *s = &l->stack;

	if (!t->runtime || (!l->tstate_native_thread_id && !t->pthread_tid_offset))
		return;
	o->interp_head = t->runtime + l->runtime_interp_head;
	o->gil_holder = t->gil ? t->gil + l->gil_last_holder : 0;
	o->threads_head = s->interp_threads_head;
	o->tstate_next = s->tstate_next;
	o->tstate_native_tid = l->tstate_native_thread_id;
	o->tstate_pthread = l->tstate_thread_id;
	o->tstate_frame = s->tstate_frame;
	o->cframe_current_frame = s->cframe_current_frame;
	o->frame_via_cframe = s->frame_via_cframe;
	o->frame_previous = s->frame_previous;
	o->frame_code = s->frame_code;
	o->frame_instr = s->frame_instr;
	o->frame_instr_size = s->frame_lasti_is_index ? 4 : 8;
	o->frame_owner = s->frame_owner;
	o->frame_owner_shim = s->frame_owner_shim;
	o->frame_code_tagged = s->frame_code_tagged;
	o->code_name = l->minor >= 11 ? s->code_qualname : s->code_name;
	o->code_filename = s->code_filename;
	o->code_linetable = s->code_linetable;
}

static int register_target(struct gilwatch_bpf *skel, const struct gw_target *t, bool deep)
{
	struct gw_proc_cfg cfg = {};
	struct gw_proc_stats zero = {};
	__u32 pid = t->pid;
	int err;

	if (t->gil) {
		cfg.gil_cond = t->gil + t->build.layout.gil_cond;
		cfg.gil_locked = t->gil + t->build.layout.gil_locked;
	}
	cfg.gc_stats = t->gc_stats;
	cfg.deep = deep;
	cfg.py_true = t->py_true;
	cfg.py_none = t->py_none;
	if (!t->absent[PY_PROBE_FRAMES_HEAD_LOCK])
		cfg.head_lock_sites |= 1u << GW_API_CURRENT_FRAMES;
	if (!t->absent[PY_PROBE_EXCEPTIONS_HEAD_LOCK])
		cfg.head_lock_sites |= 1u << GW_API_CURRENT_EXCEPTIONS;
	py_offsets(t, &cfg.py);
	err = bpf_map__update_elem(skel->maps.proc_stats, &pid, sizeof(pid), &zero, sizeof(zero),
				   BPF_ANY);
	if (!err)
		err = bpf_map__update_elem(skel->maps.proc_cfg, &pid, sizeof(pid), &cfg,
					   sizeof(cfg), BPF_ANY);
	return err;
}

int attach__target(struct gilwatch_bpf *skel, const struct gw_target *t,
		   const struct attach_opts *opts, struct gw_attachment *a)
{
	int err, probe;

	memset(a, 0, sizeof(*a));
	a->shared = opts->shared;
	err = register_target(skel, t, opts->deep);
	if (err)
		goto fail;
	if (opts->shared) {
		err = shared_probes__get(opts->shared, skel, t, &a->image);
		if (err)
			goto fail;
		for (probe = 0; probe < PY_PROBE_COUNT; probe++) {
			if (python_probes[probe].libc)
				continue;
			a->found.method[probe] = a->image->found.method[probe];
			memcpy(a->found.reason[probe], a->image->found.reason[probe],
			       GW_REASON_LEN);
		}
	} else {
		err = probe_plan__attach(skel, t, t->pid, opts->deep, true, &a->links, &a->found);
	}
	if (!err)
		err = probe_plan__attach(skel, t, t->pid, opts->deep, false, &a->links, &a->found);
	if (!err)
		return 0;
fail:
	attach__detach(skel, t, a, true);
	return proc__exited(t->pid) ? -ESRCH : err;
}

void attach__detach(struct gilwatch_bpf *skel, const struct gw_target *t, struct gw_attachment *a,
		    bool now)
{
	__u32 pid = t->pid;

	/* The entries go first: the probes still attached do nothing then. */
	bpf_map__delete_elem(skel->maps.proc_cfg, &pid, sizeof(pid), 0);
	bpf_map__delete_elem(skel->maps.proc_stats, &pid, sizeof(pid), 0);
	link_reaper__take(a->shared && !now ? a->shared->reaper : NULL, &a->links);
	shared_probes__put(a->shared, a->image);
	a->image = NULL;
}

void attach__describe(const struct gw_attachment *a, bool deep, char *buf, size_t len)
{
	size_t used = 0;
	enum gw_feature f;
	int probe;

	buf[0] = '\0';
	for (probe = 0; probe < PY_PROBE_COUNT && used < len; probe++) {
		const char *name = python_probes[probe].name;

		if (python_probes[probe].deep && !deep)
			continue;
		if (a->found.method[probe])
			used += snprintf(buf + used, len - used, "%s%s via %s", used ? ", " : "",
					 name, a->found.method[probe]);
		else
			used += snprintf(buf + used, len - used, "%s%s unavailable: %s",
					 used ? ", " : "", name, a->found.reason[probe]);
	}
	for (f = 0; f < GW_FEATURE_COUNT && used < len; f++) {
		if (bpf_features__reported(f, deep) && bpf_features__unavailable(f))
			used += snprintf(buf + used, len - used, "%s%s unavailable",
					 used ? ", " : "", gw_features[f].name);
	}
}

const char *attach__error_hint(int err)
{
	/* Linux requires CAP_SYS_ADMIN for uprobes again since 2025
	 * (ba677dbe77af, in stable kernels too): CAP_PERFMON is not enough.
	 */
	return err == -EACCES ? " (uprobes need CAP_SYS_ADMIN; reading the process, CAP_SYS_PTRACE)"
			      : "";
}
