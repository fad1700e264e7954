/* SPDX-License-Identifier: MIT */
/* `gilwatch watch`: attach to one process and report until it exits, the
 * duration passes or a signal arrives.
 */
#ifndef GW_WATCH_H
#define GW_WATCH_H

#include <stdbool.h>
#include <sys/types.h>
#include "detection_opts.h"

struct watch_opts {
	pid_t pid;
	double interval_s;
	struct detection_opts detection;
	bool json;
};

/* Returns a gw_exit code; errors are reported on stderr in one line. */
int watch__run(const struct watch_opts *opts);

#endif
