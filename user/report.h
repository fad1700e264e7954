/* SPDX-License-Identifier: MIT */
/* Output of `watch`: a refreshed table on a terminal, or JSON Lines
 * (docs/events.md).
 */
#ifndef GW_REPORT_H
#define GW_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include "attach.h"
#include "gilwatch.h"
#include "snapshot.h"

struct report {
	FILE *out;
	bool json;
	bool deep;
	int64_t realtime_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	const struct gw_target *target;
};

void report__attach(struct report *r, const struct gw_attachment *a);
void report__event(struct report *r, const struct gw_event *e);
/* final: the closing summary instead of an interval refresh. */
void report__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s, bool final);
uint64_t report__now_ns(const struct report *r);

/* Text and JSON back ends. */
void report_text__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final);
void report_text__event(struct report *r, const struct gw_event *e);
void report_json__attach(struct report *r, const struct gw_attachment *a);
void report_json__event(struct report *r, const struct gw_event *e);
void report_json__stats(struct report *r, const struct proc_snapshot *s, double elapsed_s,
			bool final);

#endif
