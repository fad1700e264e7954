/* SPDX-License-Identifier: MIT */
/* `gilwatch agent`: every CPython process of the machine (or the ones
 * named), watched at once, exported for Prometheus on /metrics with the
 * recent reports on /events, and summed up on the terminal.
 */
#ifndef GW_AGENT_H
#define GW_AGENT_H

#include <stdbool.h>
#include "detection_opts.h"
#include "discover.h"

struct agent_opts {
	const char *listen; /* "127.0.0.1:9947" */
	double interval_s;  /* terminal summary period */
	struct detection_opts detection;
	bool quiet; /* no terminal summary */
	struct process_filter filter;
	unsigned max_processes; /* watched at once, 1..GW_MAX_PROCS */
};

/* Returns a gw_exit code; errors are reported on stderr in one line. */
int agent__run(const struct agent_opts *opts);

#endif
