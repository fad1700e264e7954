/* SPDX-License-Identifier: MIT */
/* `gilwatch dump`: every thread of a process with its state and its Python
 * and native stacks, read from outside (no BPF, no code in the target), so
 * it works on a frozen process.
 */
#ifndef GW_DUMP_H
#define GW_DUMP_H

#include <stdbool.h>
#include <sys/types.h>

struct dump_opts {
	pid_t pid;
	bool json;
	bool no_native;		 /* never stop a thread, not even for a moment */
	double deadlock_after_s; /* a wait-for cycle is confirmed this much later */
	bool no_children;	 /* the process alone, not its descendants */
};

/* Returns a gw_exit code; errors are reported on stderr in one line. */
int dump__run(const struct dump_opts *opts);

#endif
