/* SPDX-License-Identifier: MIT */
/* The probe plan of one CPython build carried out: its programs attached
 * where the plan says, in the CPython binary or in libc, and what each
 * probe was found by or why it is absent. Below attach.c (one process),
 * shared_probes.c (one binary for all its processes) and link_reaper.c
 * (links let go off the caller's thread), which all use it.
 */
#ifndef GW_PROBE_PLAN_H
#define GW_PROBE_PLAN_H

#include <stdbool.h>
#include <sys/types.h>
#include "target.h"

struct bpf_link;
struct gilwatch_bpf;

#define GW_MAX_LINKS 64
#define GW_REASON_LEN 96

struct probe_links {
	struct bpf_link *links[GW_MAX_LINKS];
	int n;
};

/* What the probes of one plan found: per probe "symtab", "dynsym", "usdt",
 * "libc" (...), or NULL and the reason it is absent.
 */
struct probe_methods {
	const char *method[PY_PROBE_COUNT];
	char reason[PY_PROBE_COUNT][GW_REASON_LEN];
};

/* Attaches the plan's probes in the CPython binary (python_binary) or in
 * libc (!python_binary) for pid (-1: every process mapping the file).
 */
int probe_plan__attach(struct gilwatch_bpf *skel, const struct gw_target *t, pid_t pid, bool deep,
		       bool python_binary, struct probe_links *l, struct probe_methods *found);
/* Destroys every link of l, leaving it empty. */
void probe_links__release(struct probe_links *l);

#endif
