// SPDX-License-Identifier: MIT
#include <time.h>

#include "log.h"
#include "report.h"

uint64_t report__now_ns(const struct report *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void report__attach(struct report *r, const struct gw_attachment *a)
{
	const struct gw_target *t = r->target;
	char probes[1024];

	/* Said once, on stderr in both modes: what this build lets us see. */
	attach__describe(a, r->deep, probes, sizeof(probes));
	gw_info("pid %d (%s): python %s (%s): %s", t->pid, t->comm, t->build.version,
		t->python_path, probes);
	if (r->json)
		report_json__attach(r, a);
}

void report__event(struct report *r, const struct gw_event *e)
{
	if (r->json)
		report_json__event(r, e);
	else
		report_text__event(r, e);
}

void report__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s, bool final)
{
	if (r->json)
		report_json__stats(r, s, elapsed_s, final);
	else
		report_text__stats(r, s, elapsed_s, final);
}
