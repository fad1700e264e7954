// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_stacks.h"
#include "proc.h"

static const uint32_t region_offset[GW_REGIONS_PER_FRAME] = {
    [GW_REGION_CODE] = 0,
    [GW_REGION_NAME] = GW_CODE_BYTES,
    [GW_REGION_FILE] = GW_CODE_BYTES + GW_NAME_BYTES,
    [GW_REGION_LINETABLE] = GW_CODE_BYTES + GW_NAME_BYTES + GW_FILE_BYTES,
};

static const uint32_t region_size[GW_REGIONS_PER_FRAME] = {
    [GW_REGION_CODE] = GW_CODE_BYTES,
    [GW_REGION_NAME] = GW_NAME_BYTES,
    [GW_REGION_FILE] = GW_FILE_BYTES,
    [GW_REGION_LINETABLE] = GW_LINETABLE_BYTES,
};

static bool inside(uint64_t addr, size_t len, uint64_t start, uint64_t size)
{
	return addr >= start && addr - start <= size && len <= size - (addr - start);
}

/* mem_source over a capture: its copies, then the live process. */
static int read_capture(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct gw_stack_event *ev = ctx;
	unsigned i, j;

	for (i = 0; i < ev->py_n && i < GW_PY_FRAMES; i++) {
		for (j = 0; j < GW_REGIONS_PER_FRAME; j++) {
			const struct gw_region *r = &ev->regions[i][j];

			if (r->len && r->len <= region_size[j] &&
			    inside(addr, len, r->addr, r->len)) {
				memcpy(buf, ev->data[i] + region_offset[j] + (addr - r->addr), len);
				return 0;
			}
		}
	}
	return proc__read_mem(ev->pid, addr, buf, len);
}

void event_stacks__decode(struct stack_collector *c, const struct gw_stack_event *ev,
			  struct thread_stacks *out)
{
	struct mem_source live = c->py.mem;
	unsigned i;

	memset(&out->py, 0, sizeof(out->py));
	out->py_err = ev->py_n ? 0 : -ENOENT;
	out->py.truncated = ev->py_truncated;
	c->py.mem = (struct mem_source){.read = read_capture, .ctx = (void *)ev};
	for (i = 0; i < ev->py_n && i < GW_PY_FRAMES && out->py.n < PY_STACK_DEPTH; i++) {
		if (py_reader__frame(&c->py, ev->py_code[i], ev->py_instr[i],
				     &out->py.f[out->py.n])) {
			out->py.truncated = 1;
			break;
		}
		out->py.n++;
	}
	c->py.mem = live;
	out->native.n = out->native.truncated = 0;
	if (!c->native) {
		out->native_err = c->native_err;
		return;
	}
	native_unwinder__set_ret_fixups(c->native, ev->fixups,
					ev->nfixups < GW_MAX_RET_FIXUPS ? ev->nfixups
									: GW_MAX_RET_FIXUPS);
	out->native_err = native_unwinder__snapshot(c->native, ev->tid, &ev->regs, ev->stack,
						    ev->stack_len, ev->regs.sp, &out->native);
	native_unwinder__set_ret_fixups(c->native, NULL, 0);
	stack_collector__label(c, &out->native);
}

static void report_crash(struct event_stacks *es, const struct gw_stack_event *ev)
{
	const struct thread_stacks *s = NULL;

	es->crashes++;
	if (es->collector) {
		event_stacks__decode(es->collector, ev, es->buf);
		s = es->buf;
	}
	report__crash(es->report, ev->tid, ev->arg, ev->comm, ev->time_ns, s);
}

#define EDGE_WHERE_SLOTS 256

static void keep_edge_where(struct event_stacks *es, const struct gw_stack_event *ev)
{
	struct edge_where *w = &es->edges[es->nedges++ % EDGE_WHERE_SLOTS];
	const struct thread_stacks *s = es->buf;
	unsigned i;

	event_stacks__decode(es->collector, ev, es->buf);
	memset(w, 0, sizeof(*w));
	w->tid = ev->tid;
	w->time_ns = ev->time_ns;
	for (i = 0; i < s->py.n && w->py_n < EDGE_WHERE_PY; i++, w->py_n++) {
		snprintf(w->py[i].function, sizeof(w->py[i].function), "%s", s->py.f[i].function);
		snprintf(w->py[i].file, sizeof(w->py[i].file), "%s", s->py.f[i].file);
		w->py[i].line = s->py.f[i].line;
	}
	for (i = 0; i < s->native.n && w->native_n < EDGE_WHERE_NATIVE; i++, w->native_n++)
		snprintf(w->native[i], sizeof(w->native[i]), "%s",
			 s->native.f[i].symbol[0] ? s->native.f[i].symbol : "??");
}

const struct edge_where *event_stacks__edge_where(struct event_stacks *es, uint32_t tid,
						  uint64_t time_ns)
{
	unsigned i, n = es->nedges < EDGE_WHERE_SLOTS ? es->nedges : EDGE_WHERE_SLOTS;

	if (es->drain)
		es->drain(es->drain_ctx);
	for (i = 0; es->edges && i < n; i++) {
		if (es->edges[i].tid == tid && es->edges[i].time_ns == time_ns)
			return &es->edges[i];
	}
	return NULL;
}

void event_stacks__handle(struct event_stacks *es, const struct gw_stack_event *ev)
{
	if (ev->type == GW_EV_CRASH) {
		report_crash(es, ev);
	} else if (ev->type == GW_EV_HAZARD_GC_IN_FRAMES) {
		memcpy(es->hazard, ev, sizeof(*ev));
		es->hazard_valid = true;
	} else if (ev->type == GW_EV_LOCK_EDGE && es->collector) {
		keep_edge_where(es, ev);
	}
}

int event_stacks__init(struct event_stacks *es, struct report *r, struct stack_collector *c,
		       void (*drain)(void *ctx), void *drain_ctx)
{
	memset(es, 0, sizeof(*es));
	es->report = r;
	es->collector = c;
	es->drain = drain;
	es->drain_ctx = drain_ctx;
	es->hazard = malloc(sizeof(*es->hazard));
	es->buf = malloc(sizeof(*es->buf));
	es->edges = calloc(EDGE_WHERE_SLOTS, sizeof(*es->edges));
	if (!es->hazard || !es->buf || !es->edges) {
		event_stacks__destroy(es);
		return -ENOMEM;
	}
	return 0;
}

void event_stacks__destroy(struct event_stacks *es)
{
	free(es->hazard);
	free(es->buf);
	free(es->edges);
	memset(es, 0, sizeof(*es));
}

const struct thread_stacks *event_stacks__for(struct event_stacks *es, const struct gw_event *e)
{
	if (!e->addr || !es->collector)
		return NULL;
	/* The two rings are not ordered: the capture may not be read yet. */
	if (es->drain)
		es->drain(es->drain_ctx);
	if (!es->hazard_valid || es->hazard->time_ns != e->time_ns || es->hazard->tid != e->tid)
		return NULL;
	event_stacks__decode(es->collector, es->hazard, es->buf);
	return es->buf;
}

void event_stacks__crash_without_stacks(struct event_stacks *es, const struct gw_event *e)
{
	es->crashes++;
	report__crash(es->report, e->tid, e->arg, e->comm, e->time_ns, NULL);
}
