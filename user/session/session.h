/* SPDX-License-Identifier: MIT */
/* One watched process: its target, probes, detectors, stacks and report,
 * fed by the events of the shared BPF object and ticked by a driver
 * (`watch` for one process, `agent` for all of them).
 */
#ifndef GW_SESSION_H
#define GW_SESSION_H

#include <stdbool.h>
#include <stdio.h>
#include "attach.h"
#include "cgroup_labels.h"
#include "children.h"
#include "detect.h"
#include "detect_bpf.h"
#include "event_stacks.h"
#include "forks.h"
#include "wait_sampler.h"
#include "lock_order.h"
#include "report.h"
#include "snapshot.h"
#include "stall.h"
#include "target.h"

struct gilwatch_bpf;

struct session_opts {
	bool deep;
	bool json;		 /* reports as JSON Lines */
	FILE *out;		 /* where reports go */
	double deadlock_after_s; /* a wait-for cycle must last this long */
	double stall_after_s;	 /* no progress for this long is a stall */
	/* The driver's: takes what the stack ring holds (event_stacks.h). */
	void (*drain_stacks)(void *ctx);
	void *drain_ctx;
	struct shared_probes *shared; /* attach_opts.shared */
};

struct session {
	struct gw_target target;
	struct container_labels labels; /* from its cgroup, read once */
	struct gilwatch_bpf *skel;
	struct session_opts opts;
	struct gw_attachment attachment;
	struct proc_snapshot snap;
	struct wait_sampler waits; /* default mode: GIL and lock waits */
	struct report report;
	struct detector detector;
	struct detect_bpf detect_source;
	struct stall_detector stall;
	struct stall stall_found;
	struct fork_tracker forks;
	struct fork_record fork_found;
	struct children children;
	struct lock_order lock_order;
	struct order_cycle order_found;
	struct thread_view child_views[GW_MAX_VIEWS];
	struct thread_view views[GW_MAX_VIEWS];
	size_t nviews; /* threads in views at the last check */
	struct stack_collector stacks;
	bool stacks_ready;
	struct event_stacks event_stacks;
	struct thread_stacks stack_buf;
	uint64_t hazards_seen, hazard_reported_ns; /* gc-in-frame-collection */
	uint64_t next_sample_ns, next_scan_ns, next_check_ns, last_sample_ns;
	uint64_t next_full_check_ns; /* of an idle process */
	uint64_t cpu_ticks;	     /* the process's CPU time at the last check */
	uint64_t rand;		     /* xorshift state: sample jitter */
	bool busy;		     /* it used CPU between the last two checks */
	bool quiet;		     /* at the last full check: see session.c */
	bool exited;
	bool children_adopted; /* those forked before gilwatch came */
};

/* Opens pid (an opened target t, see target.h), registers and attaches it.
 * -ESRCH if it exited meanwhile, other -errno on BPF failures (logged by the
 * caller). *out is heap-allocated.
 */
int session__open(struct session **out, struct gilwatch_bpf *skel, const struct gw_target *t,
		  const struct session_opts *opts);
/* Detaches (probes, map entries; detach_now: see attach__detach) and frees. */
void session__close(struct session *s, bool detach_now);
/* A record of the events ring for this process. */
void session__event(struct session *s, const struct gw_event *e);
/* A record of the stack events ring for this process. */
void session__stack_event(struct session *s, const struct gw_stack_event *ev);
/* The two above as bpf_loader_opts.deliver and .deliver_stack. */
void session__deliver(void *s, const struct gw_event *e);
void session__deliver_stack(void *s, const struct gw_stack_event *ev);
/* Periodic work: GIL samples, deadlock scans, stall, fork and lock-order
 * checks, each on its own clock; sets s->exited when the process is gone
 * (also told by GW_EV_PROC_EXIT).
 */
void session__tick(struct session *s, uint64_t now_ns);
/* When session__tick has work next; UINT64_MAX once the process is gone. */
uint64_t session__next_tick_ns(const struct session *s);
/* Reads the kernel aggregates back into s->snap. */
void session__refresh(struct session *s);

#endif
