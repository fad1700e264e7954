// SPDX-License-Identifier: MIT
#include <string.h>

#include "children.h"

void children__fork(struct children *c, const struct gw_target *parent, uint32_t child,
		    uint32_t tid, uint32_t parent_threads, uint64_t stall_threshold_ns)
{
	struct child *slot = NULL;
	size_t i;

	for (i = 0; i < GW_MAX_CHILDREN && !slot; i++) {
		if (!c->list[i].active)
			slot = &c->list[i];
	}
	if (!slot)
		return;
	memset(slot, 0, sizeof(*slot));
	slot->target = *parent;
	slot->target.pid = child;
	slot->target.tgid = child;
	slot->forking_tid = tid;
	slot->parent_threads = parent_threads;
	stall__init(&slot->stall, stall_threshold_ns);
	slot->active = true;
}

void children__forget(struct children *c, uint32_t child)
{
	size_t i;

	for (i = 0; i < GW_MAX_CHILDREN; i++) {
		if (c->list[i].active && (uint32_t)c->list[i].target.pid == child)
			c->list[i].active = false;
	}
}
