// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "bpf_features.h"
#include "log.h"

const struct gw_feature_info gw_features[GW_FEATURE_COUNT] = {
    [GW_FEATURE_CORE] = {.name = "core", .lost = "everything"},
    [GW_FEATURE_DEEP] = {.name = "deep", .lost = "--deep"},
    [GW_FEATURE_CRASH_STACKS] = {.name = "crash_stacks",
				 .lost = "crashes are not reported with stacks",
				 .method = "tp_btf"},
    [GW_FEATURE_WAIT_SAMPLING] = {.name = "wait_sampling",
				  .lost =
				      "GIL and lock waits are not sampled: no deadlock or stall "
				      "verdicts without --deep",
				  .method = "iter"},
    [GW_FEATURE_TIMED_GIL_WAITS] = {.name = "timed_gil_waits",
				    .lost = "GIL waits of builds without a known GIL address "
					    "are not seen"},
    [GW_FEATURE_RET_FIXUPS] = {.name = "return_fixups",
			       .lost = "native stacks stop at functions with a uretprobe",
			       .method = "iter"},
};

static const struct {
	const char *prog;
	enum gw_feature feature;
} programs[] = {
    {.prog = "gw_signal_deliver", .feature = GW_FEATURE_CRASH_STACKS},
    {.prog = "gw_sample_waits", .feature = GW_FEATURE_WAIT_SAMPLING},
    {.prog = "gw_gil_sleep", .feature = GW_FEATURE_TIMED_GIL_WAITS},
    {.prog = "gw_gil_woken", .feature = GW_FEATURE_TIMED_GIL_WAITS},
    {.prog = "gw_take_gil_exit", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_drop_gil_enter", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_sem_wait_enter", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_sem_wait_exit", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_sem_try_enter", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_sem_try_exit", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_sem_post_enter", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_sem_init", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_park_enter", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_park_exit", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_lock_acquire_enter", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_lock_acquire_exit", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_lock_release", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_rlock_release", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_lock_created", .feature = GW_FEATURE_DEEP},
    {.prog = "gw_lock_freed", .feature = GW_FEATURE_DEEP},
};

#define GW_REASON_MAX 256
static char reasons[GW_FEATURE_COUNT][GW_REASON_MAX];

enum gw_feature bpf_features__of_program(const char *prog_name)
{
	size_t i;

	for (i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		if (!strcmp(programs[i].prog, prog_name))
			return programs[i].feature;
	}
	return GW_FEATURE_CORE;
}

bool bpf_features__reported(enum gw_feature f, bool deep)
{
	/* --deep times waits instead of sampling them. */
	return gw_features[f].method && !(deep && f == GW_FEATURE_WAIT_SAMPLING);
}

const char *bpf_features__unavailable(enum gw_feature f)
{
	return reasons[f][0] ? reasons[f] : NULL;
}

void bpf_features__disable(enum gw_feature f, const char *reason)
{
	if (reasons[f][0])
		return;
	snprintf(reasons[f], sizeof(reasons[f]), "%s", reason);
	gw_info("%s turned off: %s (%s)", gw_features[f].name, reason, gw_features[f].lost);
}
