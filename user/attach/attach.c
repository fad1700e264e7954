// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "bpf_features.h"
#include "gilwatch.h"
#include "gilwatch.skel.h"
#include "proc.h"
#include "link_reaper.h"
#include "shared_probes.h"

static int add_link(struct probe_links *l, struct bpf_link *link)
{
	int err = -errno;

	if (!link)
		return err ? err : -EINVAL;
	if (l->n == GW_MAX_LINKS) {
		bpf_link__destroy(link);
		return -E2BIG;
	}
	l->links[l->n++] = link;
	return 0;
}

static int attach_uprobe(struct probe_links *l, struct bpf_program *prog, pid_t pid,
			 const char *file, uint64_t offset, bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);

	return add_link(l, bpf_program__attach_uprobe_opts(prog, pid, file, offset, &opts));
}

/* Entry and (optionally) return probe on one symbol of the target. */
static int attach_function(struct probe_links *l, const struct gw_target *t, pid_t pid, int probe,
			   const char *file, struct bpf_program *enter, struct bpf_program *exit)
{
	const struct elf_symbol *sym = &t->sym[probe];
	int err = 0;

	/* Return first: a call entered between the two would never return. */
	if (exit)
		err = attach_uprobe(l, exit, pid, file, sym->file_offset, true);
	if (!err && enter)
		err = attach_uprobe(l, enter, pid, file, sym->file_offset, false);
	return err;
}

/* Two plain uprobes, not a function's entry and return (libc_condvar.h). */
static int attach_gil_sleep(struct probe_links *l, const struct gw_target *t, pid_t pid,
			    struct bpf_program *sleep, struct bpf_program *woken)
{
	int err = attach_uprobe(l, woken, pid, t->libc_file, t->gil_sleep.after_offset, false);

	if (!err)
		err = attach_uprobe(l, sleep, pid, t->libc_file, t->gil_sleep.call_offset, false);
	return err;
}

static int attach_gc_usdt(struct gilwatch_bpf *skel, struct probe_links *l,
			  const struct gw_target *t, pid_t pid)
{
	const struct python_probe_spec *gc = &python_probes[PY_PROBE_GC];
	int err;

	err = add_link(l, bpf_program__attach_usdt(skel->progs.gw_gc_start_usdt, pid,
						   t->python_file, "python", gc->usdt_start, NULL));
	if (!err)
		err = add_link(l, bpf_program__attach_usdt(skel->progs.gw_gc_done_usdt, pid,
							   t->python_file, "python", gc->usdt_done,
							   NULL));
	return err;
}

static void note_missing(const struct gw_target *t, struct probe_methods *found, int probe,
			 int stripped)
{
	const char *what = python_probes[probe].symbol;
	char *reason = found->reason[probe];

	if (t->sym_err[probe] == -EADDRNOTAVAIL)
		snprintf(reason, GW_REASON_LEN, "GIL state not found in _PyRuntime");
	else if (t->sym_err[probe] == -EPROTO)
		snprintf(reason, GW_REASON_LEN, "libc's condvar wait not recognized");
	else if (t->sym_err[probe] == -EOPNOTSUPP)
		snprintf(reason, GW_REASON_LEN, "HEAD_LOCK is a PyMutex (3.13+)");
	else if (t->sym_err[probe] == -ENOMSG)
		snprintf(reason, GW_REASON_LEN, "no HEAD_LOCK call found in %s", what);
	else if (python_probes[probe].libc)
		snprintf(reason, GW_REASON_LEN, "%s not in libc", what);
	else
		snprintf(reason, GW_REASON_LEN, "%s not found%s", what,
			 stripped ? " (stripped)" : "");
}

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
	if (!t->sym_err[PY_PROBE_FRAMES_HEAD_LOCK])
		cfg.head_lock_sites |= 1u << GW_API_CURRENT_FRAMES;
	if (!t->sym_err[PY_PROBE_EXCEPTIONS_HEAD_LOCK])
		cfg.head_lock_sites |= 1u << GW_API_CURRENT_EXCEPTIONS;
	py_offsets(t, &cfg.py);
	err = bpf_map__update_elem(skel->maps.proc_stats, &pid, sizeof(pid), &zero, sizeof(zero),
				   BPF_ANY);
	if (!err)
		err = bpf_map__update_elem(skel->maps.proc_cfg, &pid, sizeof(pid), &cfg,
					   sizeof(cfg), BPF_ANY);
	return err;
}

int attach__probes(struct gilwatch_bpf *skel, const struct gw_target *t, pid_t pid, bool deep,
		   bool python_binary, struct probe_links *l, struct probe_methods *found)
{
	struct {
		int probe;
		struct bpf_program *enter, *exit;
	} plan[] = {
	    {PY_PROBE_GC, skel->progs.gw_gc_enter, skel->progs.gw_gc_exit},
	    {PY_PROBE_FRAMES, skel->progs.gw_frames_enter, skel->progs.gw_frames_exit},
	    {PY_PROBE_EXCEPTIONS, skel->progs.gw_excs_enter, skel->progs.gw_frames_exit},
	    /* --deep: inside pthread_cond_timedwait(); else sampled (gil.bpf.h). */
	    {PY_PROBE_GIL_WAIT, skel->progs.gw_gil_sleep, skel->progs.gw_gil_woken},
	    {PY_PROBE_FRAMES_HEAD_LOCK, skel->progs.gw_frames_head_lock, NULL},
	    {PY_PROBE_EXCEPTIONS_HEAD_LOCK, skel->progs.gw_frames_head_lock, NULL},
	    {PY_PROBE_SEM_WAIT, skel->progs.gw_sem_wait_enter, skel->progs.gw_sem_wait_exit},
	    {PY_PROBE_SEM_CLOCKWAIT, skel->progs.gw_sem_wait_enter, skel->progs.gw_sem_wait_exit},
	    {PY_PROBE_SEM_TIMEDWAIT, skel->progs.gw_sem_wait_enter, skel->progs.gw_sem_wait_exit},
	    {PY_PROBE_TAKE_GIL, NULL, skel->progs.gw_take_gil_exit},
	    {PY_PROBE_DROP_GIL, skel->progs.gw_drop_gil_enter, NULL},
	    {PY_PROBE_SEM_TRYWAIT, skel->progs.gw_sem_try_enter, skel->progs.gw_sem_try_exit},
	    {PY_PROBE_SEM_POST, skel->progs.gw_sem_post_enter, NULL},
	    {PY_PROBE_LOCK_ALLOC, skel->progs.gw_sem_init, NULL},
	};
	int err = 0, probe, stripped = 0;
	struct elf_file ef;
	size_t i;

	if (python_binary && !elf_file__open(&ef, t->python_file)) {
		stripped = !elf_file__has_section(&ef, ".symtab");
		elf_file__close(&ef);
	}
	for (i = 0; i < sizeof(plan) / sizeof(plan[0]) && !err; i++) {
		probe = plan[i].probe;
		if ((python_probes[probe].deep && !deep) ||
		    python_probes[probe].libc == python_binary)
			continue;
		if (probe == PY_PROBE_GIL_WAIT && !deep && t->gil) {
			/* Never the timed probes instead: they slow a threaded
			 * service down (wait_sampler.bpf.h).
			 */
			if (!bpf_features__unavailable(GW_FEATURE_WAIT_SAMPLING))
				found->method[probe] = "sampling"; /* wait_sampler.h */
			else
				snprintf(found->reason[probe], GW_REASON_LEN,
					 "the kernel turned wait sampling off");
		} else if (probe == PY_PROBE_GIL_WAIT &&
			   bpf_features__unavailable(GW_FEATURE_TIMED_GIL_WAITS)) {
			snprintf(found->reason[probe], GW_REASON_LEN,
				 "the kernel turned timed GIL waits off");
		} else if (!t->sym_err[probe] && probe == PY_PROBE_GIL_WAIT) {
			err = attach_gil_sleep(l, t, pid, plan[i].enter, plan[i].exit);
			found->method[probe] = "libc";
		} else if (!t->sym_err[probe]) {
			err = attach_function(l, t, pid, probe,
					      python_binary ? t->python_file : t->libc_file,
					      plan[i].enter, plan[i].exit);
			found->method[probe] =
			    python_binary ? elf_symbol__method(&t->sym[probe]) : "libc";
		} else if (probe == PY_PROBE_GC && t->gc_usdt) {
			err = attach_gc_usdt(skel, l, t, pid);
			found->method[probe] = "usdt";
		} else {
			note_missing(t, found, probe, stripped);
		}
	}
	return err;
}

void attach__release(struct probe_links *l)
{
	/* The kernel removes uprobes one at a time, each after an RCU grace
	 * period (~85 ms here): a full detach takes about a second.
	 */
	while (l->n > 0)
		bpf_link__destroy(l->links[--l->n]);
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
		err = attach__probes(skel, t, t->pid, opts->deep, true, &a->links, &a->found);
	}
	if (!err)
		err = attach__probes(skel, t, t->pid, opts->deep, false, &a->links, &a->found);
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
