/* SPDX-License-Identifier: MIT */
/* What each BPF program is for, and which optional features the running
 * kernel turned off. Only the core (GC, frame collection, HEAD_LOCK, the
 * lifecycle tracepoints) is needed to watch a process; a program of an
 * optional feature that a kernel rejects turns that feature off, and
 * gilwatch says so once (stderr, the attach record, /metrics).
 */
#ifndef GW_BPF_FEATURES_H
#define GW_BPF_FEATURES_H

#include <stdbool.h>

enum gw_feature {
	GW_FEATURE_CORE,	 /* fatal when missing */
	GW_FEATURE_DEEP,	 /* --deep's programs: not loaded without it */
	GW_FEATURE_CRASH_STACKS, /* tp_btf/signal_deliver */
	GW_FEATURE_WAIT_SAMPLING,
	GW_FEATURE_TIMED_GIL_WAITS, /* probes inside pthread_cond_timedwait() */
	GW_FEATURE_RET_FIXUPS,	    /* native stacks through uretprobed functions */
	GW_FEATURE_COUNT,
};

/* The features, for reports: name, what is lost without it, and how it
 * works when on (a row of the attach record and of
 * gilwatch_probe_attached; NULL: reported through the probes it serves).
 */
struct gw_feature_info {
	const char *name;
	const char *lost;
	const char *method;
};
extern const struct gw_feature_info gw_features[GW_FEATURE_COUNT];

/* The feature a program of gilwatch.bpf.c serves (GW_FEATURE_CORE for a
 * name it does not know: a new program is fatal until classified).
 */
enum gw_feature bpf_features__of_program(const char *prog_name);

/* Whether f has a row of its own in reports of a watch in this mode. */
bool bpf_features__reported(enum gw_feature f, bool deep);
/* Why feature f is off in this process, NULL when it is on. */
const char *bpf_features__unavailable(enum gw_feature f);
/* Turns f off for the life of the process and says so once on stderr. */
void bpf_features__disable(enum gw_feature f, const char *reason);

#endif
