/* SPDX-License-Identifier: MIT */
/* The agent's probes on CPython binaries: one set per binary (device and
 * inode), for all the processes that run it, whatever their mount
 * namespace. Each event is seen once; the BPF side counts it for the
 * process it happened in, if that one is watched.
 */
#ifndef GW_SHARED_PROBES_H
#define GW_SHARED_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "probe_plan.h"
#include "gilwatch.h"

struct shared_image {
	dev_t dev;
	ino_t ino;
	unsigned refs;
	struct probe_links links;
	struct probe_methods found;
};

struct link_reaper;

struct shared_probes {
	bool deep;
	/* Detaches the probes of processes let go, off the caller's thread;
	 * NULL: at once.
	 */
	struct link_reaper *reaper;
	struct shared_image *images[GW_MAX_PROCS];
	size_t n;
};

/* The probe set of t's CPython binary, attached now if it is the first of
 * its processes; -errno when attaching fails.
 */
int shared_probes__get(struct shared_probes *sp, struct gilwatch_bpf *skel,
		       const struct gw_target *t, struct shared_image **out);
/* Detaches the set when its last process is let go. */
void shared_probes__put(struct shared_probes *sp, struct shared_image *img);
/* Distinct binaries probed now. */
size_t shared_probes__count(const struct shared_probes *sp);

#endif
