/* SPDX-License-Identifier: MIT */
/* What `watch` and `agent` share on the command line: how long to run, and
 * how the detectors judge.
 */
#ifndef GW_DETECTION_OPTS_H
#define GW_DETECTION_OPTS_H

#include <stdbool.h>

struct detection_opts {
	double duration_s;	 /* 0: until the end (process exit, signal) */
	double deadlock_after_s; /* a wait-for cycle must last this long */
	double stall_after_s;	 /* no progress for this long is a stall */
	bool deep;		 /* every GIL handoff and lock operation */
};

#endif
