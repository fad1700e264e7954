// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "bpf_features.h"
#include "elf_file.h"
#include "gilwatch.skel.h"
#include "probe_plan.h"

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

int probe_plan__attach(struct gilwatch_bpf *skel, const struct gw_target *t, pid_t pid, bool deep,
		       bool python_binary, struct probe_links *l, struct probe_methods *found)
{
	struct {
		int probe;
		struct bpf_program *enter, *exit;
	} plan[] = {
	    {PY_PROBE_GC, skel->progs.gw_gc_enter, skel->progs.gw_gc_exit},
	    {PY_PROBE_FRAMES, skel->progs.gw_frames_enter, skel->progs.gw_frames_exit},
	    {PY_PROBE_EXCEPTIONS, skel->progs.gw_excs_enter, skel->progs.gw_frames_exit},
	    /* --deep: inside pthread_cond_timedwait(); else sampled (wait_sampler.bpf.h). */
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
	    {PY_PROBE_PARK, skel->progs.gw_park_enter, skel->progs.gw_park_exit},
	    {PY_PROBE_LOCK_ACQUIRE, skel->progs.gw_lock_acquire_enter,
	     skel->progs.gw_lock_acquire_exit},
	    {PY_PROBE_LOCK_ENTER, skel->progs.gw_lock_acquire_enter,
	     skel->progs.gw_lock_acquire_exit},
	    {PY_PROBE_LOCK_RELEASE, skel->progs.gw_lock_release, NULL},
	    {PY_PROBE_LOCK_EXIT, skel->progs.gw_lock_release, NULL},
	    {PY_PROBE_LOCK_NEW, NULL, skel->progs.gw_lock_created},
	    {PY_PROBE_ALLOCATE_LOCK, NULL, skel->progs.gw_lock_created},
	    {PY_PROBE_LOCK_DEALLOC, skel->progs.gw_lock_freed, NULL},
	    {PY_PROBE_RLOCK_ACQUIRE, skel->progs.gw_lock_acquire_enter,
	     skel->progs.gw_lock_acquire_exit},
	    {PY_PROBE_RLOCK_ENTER, skel->progs.gw_lock_acquire_enter,
	     skel->progs.gw_lock_acquire_exit},
	    {PY_PROBE_RLOCK_RELEASE, skel->progs.gw_rlock_release, NULL},
	    {PY_PROBE_RLOCK_EXIT, skel->progs.gw_rlock_release, NULL},
	    {PY_PROBE_RLOCK_RESTORE, skel->progs.gw_lock_acquire_enter,
	     skel->progs.gw_lock_acquire_exit},
	    {PY_PROBE_RLOCK_SAVE, skel->progs.gw_lock_release, NULL},
	    {PY_PROBE_RLOCK_NEW, NULL, skel->progs.gw_lock_created},
	    {PY_PROBE_RLOCK_DEALLOC, skel->progs.gw_lock_freed, NULL},
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
		} else if (!t->absent[probe] && probe == PY_PROBE_GIL_WAIT) {
			err = attach_gil_sleep(l, t, pid, plan[i].enter, plan[i].exit);
			found->method[probe] = "libc";
		} else if (!t->absent[probe]) {
			err = attach_function(l, t, pid, probe,
					      python_binary ? t->python_file : t->libc_file,
					      plan[i].enter, plan[i].exit);
			found->method[probe] =
			    python_binary ? elf_symbol__method(&t->sym[probe]) : "libc";
		} else if (t->absent[probe] == PROBE_SHARED_FUNCTION) {
			found->method[probe] =
			    python_probes[python_probes[probe].lock->shares].name;
		} else if (probe == PY_PROBE_GC && t->gc_usdt) {
			err = attach_gc_usdt(skel, l, t, pid);
			found->method[probe] = "usdt";
		} else {
			target__absence(t, probe, stripped, found->reason[probe], GW_REASON_LEN);
		}
	}
	return err;
}

void probe_links__release(struct probe_links *l)
{
	/* The kernel removes uprobes one at a time, each after an RCU grace
	 * period (~85 ms here): a full detach takes about a second.
	 */
	while (l->n > 0)
		bpf_link__destroy(l->links[--l->n]);
}
