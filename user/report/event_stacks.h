/* SPDX-License-Identifier: MIT */
/* Stacks captured in BPF at an event (gw_stack_event), decoded in user
 * space: a hazard's stacks of the moment, and a crash's, whose process is
 * gone by the time anyone could look.
 */
#ifndef GW_EVENT_STACKS_H
#define GW_EVENT_STACKS_H

#include <stdbool.h>
#include "gilwatch.h"
#include "report.h"
#include "stack_collector.h"

struct event_stacks {
	/* Takes what the stack ring holds (the driver's): a capture is read
	 * before the small event it belongs to is reported.
	 */
	void (*drain)(void *ctx);
	void *drain_ctx;
	struct report *report;
	struct stack_collector *collector; /* NULL: nothing to decode with */
	struct gw_stack_event *hazard;	   /* the latest hazard capture */
	bool hazard_valid;
	struct thread_stacks *buf;
	uint64_t crashes;
	struct edge_where *edges; /* a ring of the latest lock-order edge sites */
	unsigned nedges;
};

/* -ENOMEM. */
int event_stacks__init(struct event_stacks *es, struct report *r, struct stack_collector *c,
		       void (*drain)(void *ctx), void *drain_ctx);
void event_stacks__destroy(struct event_stacks *es);
/* A capture of this process: a crash is reported at once, the latest hazard
 * capture and lock-order edge sites are kept.
 */
void event_stacks__handle(struct event_stacks *es, const struct gw_stack_event *ev);
/* The stacks captured with event e, NULL if none were. */
const struct thread_stacks *event_stacks__for(struct event_stacks *es, const struct gw_event *e);
/* Where the lock-order edge made by tid at time_ns (monotonic) happened;
 * NULL if not captured.
 */
const struct edge_where *event_stacks__edge_where(struct event_stacks *es, uint32_t tid,
						  uint64_t time_ns);
/* A crash whose stacks did not fit the ring (GW_EV_CRASH). */
void event_stacks__crash_without_stacks(struct event_stacks *es, const struct gw_event *e);

/* Decodes a capture; reads beyond its copies go to the live process. */
void event_stacks__decode(struct stack_collector *c, const struct gw_stack_event *ev,
			  struct thread_stacks *out);

#endif
