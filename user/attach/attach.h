/* SPDX-License-Identifier: MIT */
/* Attaching the BPF programs to one target according to its probe plan. */
#ifndef GW_ATTACH_H
#define GW_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include "probe_plan.h"
#include "target.h"

struct gilwatch_bpf;
struct shared_probes;
struct shared_image;

struct attach_opts {
	size_t sz;
	bool deep;
	/* The agent's: the CPython binary's probes are attached once per
	 * binary, for all its processes. NULL: for this process only.
	 */
	struct shared_probes *shared;
};

struct gw_attachment {
	struct probe_links links; /* this process's own: libc, return sites */
	struct shared_probes *shared;
	struct shared_image *image; /* its binary's probes, when shared */
	struct probe_methods found;
};

/* Registers the target in the BPF maps and attaches its probes. A probe the
 * build lacks is recorded in a->method/a->reason, not an error. -ESRCH if the
 * process went away, other -errno on BPF failures.
 */
int attach__target(struct gilwatch_bpf *skel, const struct gw_target *t,
		   const struct attach_opts *opts, struct gw_attachment *a);
/* now: the process's own probes are gone on return (it ran exec(): they
 * would fire in the new image); otherwise the shared reaper may take them.
 */
void attach__detach(struct gilwatch_bpf *skel, const struct gw_target *t, struct gw_attachment *a,
		    bool now);
/* "gc via symtab, current_frames via dynsym, ..., take_gil unavailable: ..." */
void attach__describe(const struct gw_attachment *a, bool deep, char *buf, size_t len);
/* What an attach error means for the user: "" or a parenthesized hint. */
const char *attach__error_hint(int err);

#endif
