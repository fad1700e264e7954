/* SPDX-License-Identifier: MIT */
/* The detector's reader of a watched process: thread wait states and lock
 * owners from the BPF maps, the GIL's holder and lock words from the
 * process's memory.
 */
#ifndef GW_DETECT_BPF_H
#define GW_DETECT_BPF_H

#include "detect.h"
#include "parking_lot.h"
#include "target.h"

struct gilwatch_bpf;

struct detect_bpf {
	struct gilwatch_bpf *skel;
	const struct gw_target *target;
	struct parking_lot_cache parked;
};

/* A reader over b, which must outlive it. */
struct detect_reader detect_bpf__reader(struct detect_bpf *b, struct gilwatch_bpf *skel,
					const struct gw_target *t);

#endif
