/* SPDX-License-Identifier: MIT */
/* The one BPF object a gilwatch process loads: programs, the process
 * lifecycle tracepoints, and the two rings whose records it hands to the
 * receiver (the driver's session) of the process they belong to.
 */
#ifndef GW_BPF_LOADER_H
#define GW_BPF_LOADER_H

#include <stdbool.h>
#include <sys/types.h>

struct gilwatch_bpf;
struct bpf_link;
struct ring_buffer;
struct gw_event;
struct gw_stack_event;

struct bpf_loader_opts {
	size_t sz;
	/* The receiver of pid's records (the driver's session), NULL if it
	 * watches no such process; deliver and deliver_stack hand them over.
	 */
	void *(*lookup)(void *ctx, pid_t pid);
	void (*deliver)(void *receiver, const struct gw_event *e);
	void (*deliver_stack)(void *receiver, const struct gw_stack_event *ev);
	/* A process that may have become Python: any exec on the machine, and
	 * a watched process's forked child. NULL: no discovery.
	 */
	void (*on_new_process)(void *ctx, pid_t pid);
	void *ctx;
	/* --deep: its programs are loaded (and then required). */
	bool deep;
};

/* Machine-wide: the sched and signal tracepoints. */
#define GW_KERNEL_LINKS 4

struct bpf_loader {
	struct gilwatch_bpf *skel;
	struct bpf_link *kernel_links[GW_KERNEL_LINKS];
	struct ring_buffer *events, *stacks;
	struct bpf_loader_opts opts;
};

/* Loads and attaches the tracepoints; -errno, logged in one line that says
 * why (privileges, no BTF, a missing kernel feature, a verifier rejection).
 * An optional feature's program that the kernel rejects is left out
 * (bpf_features.h) and the rest loads.
 */
int bpf_loader__open(struct bpf_loader *b, const struct bpf_loader_opts *opts);
void bpf_loader__close(struct bpf_loader *b);
/* Waits up to timeout_ms for events and hands out all there are. */
int bpf_loader__poll(struct bpf_loader *b, int timeout_ms);
/* Hands out the stack ring's records now (session_opts.drain_stacks). */
void bpf_loader__drain_stacks(void *b);

/* Sizes the skeleton's maps and sets its knobs (the agent's exec
 * discovery, --deep) before load: for tools that load the same programs
 * (tests/bpf/bpf_budget.c) too. 0 or -errno.
 */
int bpf_loader__prepare(struct gilwatch_bpf *skel, bool discover_execs, bool deep);

#endif
