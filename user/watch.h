/* SPDX-License-Identifier: MIT */
/* `gilwatch watch`: attach to one process and report until it exits, the
 * duration passes or a signal arrives.
 */
#ifndef GW_WATCH_H
#define GW_WATCH_H

#include <stdbool.h>
#include <sys/types.h>

struct watch_opts {
	pid_t pid;
	double interval_s;
	double duration_s;	 /* 0: until the process exits or a signal */
	double deadlock_after_s; /* a wait-for cycle must last this long */
	double stall_after_s;	 /* no progress for this long is a stall */
	bool json;
	bool deep;
};

/* Returns a gw_exit code; errors are reported on stderr in one line. */
int watch__run(const struct watch_opts *opts);

#endif
