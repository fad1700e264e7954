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

struct gilwatch_bpf;
struct ring_buffer;

struct event_stacks {
	struct ring_buffer *rb;
	struct report *report;
	struct stack_collector *collector; /* NULL: nothing to decode with */
	struct gw_stack_event *hazard;	   /* the latest hazard capture */
	bool hazard_valid;
	struct thread_stacks *buf;
	uint64_t crashes;
	struct edge_where *edges; /* a ring of the latest lock-order edge sites */
	unsigned nedges;
};

/* -errno if the ring cannot be opened. */
int event_stacks__init(struct event_stacks *es, struct gilwatch_bpf *skel, struct report *r,
		       struct stack_collector *c);
void event_stacks__destroy(struct event_stacks *es);
/* Takes what the ring holds: crashes are reported at once, the latest
 * hazard capture is kept for event_stacks__for().
 */
void event_stacks__poll(struct event_stacks *es);
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
