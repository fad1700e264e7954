/* SPDX-License-Identifier: MIT */
/* Attaching the BPF programs to one target according to its probe plan. */
#ifndef GW_ATTACH_H
#define GW_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include "target.h"

struct gilwatch_bpf;

#define GW_MAX_LINKS 48

struct attach_opts {
	size_t sz;
	bool deep;
};

struct gw_attachment {
	struct bpf_link *links[GW_MAX_LINKS];
	int nlinks;
	/* Per probe: "symtab", "dynsym", "usdt", "libc" or NULL when absent. */
	const char *method[PY_PROBE_COUNT];
	char reason[PY_PROBE_COUNT][96]; /* why a probe is absent */
};

/* Registers the target in the BPF maps and attaches its probes. A probe the
 * build lacks is recorded in a->method/a->reason, not an error. -ESRCH if the
 * process went away, other -errno on BPF failures.
 */
int attach__target(struct gilwatch_bpf *skel, const struct gw_target *t,
		   const struct attach_opts *opts, struct gw_attachment *a);
/* A plain uprobe at a return address an entry probe reported (an
 * instruction boundary by construction): the end of a GIL condvar wait.
 */
int attach__return_site(struct gilwatch_bpf *skel, const struct gw_target *t,
			struct gw_attachment *a, uint64_t addr);
void attach__detach(struct gilwatch_bpf *skel, const struct gw_target *t, struct gw_attachment *a);
/* "gc via symtab, current_frames via dynsym, ..., take_gil unavailable: ..." */
void attach__describe(const struct gw_attachment *a, bool deep, char *buf, size_t len);

#endif
