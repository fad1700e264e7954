/* SPDX-License-Identifier: MIT */
/* Stalls: no wait-for cycle, yet the process makes no progress. Two rules:
 * one thread holds the GIL (no handoff) while others wait for it, or every
 * thread has been blocked on a lock or an untimed futex wait without using
 * any CPU. Both must last the threshold; each episode is reported once.
 */
#ifndef GW_STALL_H
#define GW_STALL_H

#include <stdbool.h>
#include <stdint.h>
#include "thread_view.h"

enum stall_rule {
	STALL_NONE,
	STALL_GIL_HELD,
	STALL_ALL_BLOCKED,
};

struct stall_progress {
	uint32_t tid;
	uint64_t ticks;
	uint64_t changed_ns;
};

struct stall_detector {
	uint64_t threshold_ns;
	struct stall_progress progress[GW_MAX_VIEWS];
	size_t nprogress;
	pid_t holder; /* GIL holder and handoff count, unchanged since */
	uint64_t switches, holder_since_ns;
	enum stall_rule reported; /* the episode being reported, if any */
};

struct stall {
	enum stall_rule rule;
	uint64_t stalled_ns;
	pid_t holder;
	struct thread_view views[GW_MAX_VIEWS];
	size_t n;
};

void stall__init(struct stall_detector *s, uint64_t threshold_ns);
/* Given the threads now; returns 1 and fills out for a new stall episode. */
int stall__check(struct stall_detector *s, const struct thread_view *views, size_t n,
		 pid_t gil_holder, uint64_t gil_switches, uint64_t now_ns, struct stall *out);
const char *stall__rule_name(enum stall_rule rule);

#endif
