/* SPDX-License-Identifier: MIT */
/* The Prometheus text format (0.0.4) of what the agent knows: per watched
 * process (labels pid, comm, python_version: bounded, never a stack or an
 * address) and about the agent itself (docs/metrics.md).
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct session;

struct metrics_text {
	char *buf;
	size_t len, cap;
	int failed; /* out of memory: the text is incomplete */
};

struct agent_self {
	uint64_t events_dropped;  /* ring buffer records lost */
	uint64_t attach_failures; /* processes that could not be watched */
	size_t binaries_probed;	  /* distinct CPython binaries with probes */
	double last_render_s;	  /* how long the previous rendering took */
};

/* Renders the metrics of n sessions into t (reset first). */
void metrics__render(struct metrics_text *t, struct session *const *sessions, size_t n,
		     const struct agent_self *self);
void metrics_text__free(struct metrics_text *t);

#endif
