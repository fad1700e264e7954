// SPDX-License-Identifier: MIT
#include <errno.h>

#include "owner_looks.h"

uint32_t owner_looks__owner(struct owner_looks *o, lock_owner_reader read, void *ctx,
			    const struct waiter *w, uint64_t now_ns, uint64_t threshold_ns)
{
	struct owner_look *l = &o->slot[w->tid % GW_OWNER_LOOKS];
	bool same = l->tid == w->tid && l->addr == w->addr && l->since_ns == w->since_ns;
	uint32_t owner = 0;
	uint64_t sig = 0;
	int err;

	if (same && (l->ownerless || now_ns - l->at_ns < threshold_ns))
		return l->confirmed ? l->owner : 0;
	err = read(ctx, w->tid, w->addr, &owner, &sig);
	if (!same)
		*l = (struct owner_look){.tid = w->tid, .addr = w->addr, .since_ns = w->since_ns};
	if (err) {
		l->ownerless = err == -ENOENT;
		l->confirmed = false;
		l->at_ns = 0;
		return 0;
	}
	l->confirmed = l->at_ns && owner && owner == l->owner && sig == l->sig;
	l->at_ns = now_ns;
	l->owner = owner;
	l->sig = sig;
	return l->confirmed ? owner : 0;
}
