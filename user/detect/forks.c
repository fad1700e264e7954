// SPDX-License-Identifier: MIT
#include <string.h>

#include "forks.h"

struct fork_record *forks__add(struct fork_tracker *f, uint32_t child, uint32_t tid,
			       uint32_t threads, uint64_t time_ns)
{
	struct fork_record *r;

	if (threads < 2 || f->npending == GW_MAX_PENDING_FORKS)
		return NULL;
	r = &f->pending[f->npending++];
	memset(r, 0, sizeof(*r));
	r->child = child;
	r->forking_tid = tid;
	r->threads = threads;
	r->time_ns = time_ns;
	return r;
}

static void remove_at(struct fork_tracker *f, size_t i)
{
	f->pending[i] = f->pending[--f->npending];
}

void forks__exec(struct fork_tracker *f, uint32_t child)
{
	size_t i;

	for (i = 0; i < f->npending; i++) {
		if (f->pending[i].child == child) {
			remove_at(f, i);
			return;
		}
	}
}

int forks__expired(struct fork_tracker *f, uint64_t now_ns, struct fork_record *out)
{
	size_t i;

	for (i = 0; i < f->npending; i++) {
		if (now_ns - f->pending[i].time_ns < GW_FORK_EXEC_GRACE_NS)
			continue;
		*out = f->pending[i];
		remove_at(f, i);
		return 1;
	}
	return 0;
}
