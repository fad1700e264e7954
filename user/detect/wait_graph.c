// SPDX-License-Identifier: MIT
#include "wait_graph.h"

static long find_waiter(const struct waiter *w, size_t n, uint32_t tid)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (w[i].tid == tid)
			return (long)i;
	}
	return -1;
}

/* FNV-1a over the members' (tid, lock) pairs. */
static uint64_t cycle_key(const struct wait_cycle *c)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < c->n; i++) {
		uint64_t parts[3] = {c->members[i].tid, c->members[i].kind, c->members[i].addr};
		size_t j;

		for (j = 0; j < 3; j++) {
			h ^= parts[j];
			h *= 1099511628211ull;
		}
	}
	return h;
}

/* Follows holder links from start; fills c if they lead back to start. */
static int cycle_from(const struct waiter *w, size_t n, size_t start, struct wait_cycle *c)
{
	size_t cur = start, steps;

	c->n = 0;
	c->closed_ns = 0;
	for (steps = 0; steps < GW_MAX_CYCLE && steps < n; steps++) {
		long next;

		/* Only the lowest tid starts a cycle: each is reported once. */
		if (w[cur].tid < w[start].tid || !w[cur].holder)
			return 0;
		c->members[c->n++] = w[cur];
		if (w[cur].since_ns > c->closed_ns)
			c->closed_ns = w[cur].since_ns;
		if (w[cur].holder == w[start].tid) {
			c->key = cycle_key(c);
			return 1;
		}
		next = find_waiter(w, n, w[cur].holder);
		if (next < 0)
			return 0;
		cur = (size_t)next;
	}
	return 0;
}

size_t wait_graph__cycles(const struct waiter *w, size_t n, struct wait_cycle *out, size_t max)
{
	size_t i, found = 0;

	for (i = 0; i < n && found < max; i++) {
		if (cycle_from(w, n, i, &out[found]))
			found++;
	}
	return found;
}

const char *wait_graph__basis(const struct wait_cycle *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->members[i].holder_from == HOLDER_NATIVE_STACK ||
		    c->members[i].holder_from == HOLDER_LOCK_OBJECT ||
		    c->members[i].wait_from == WAIT_SNAPSHOT)
			return "snapshot";
	}
	return "traced";
}

const char *wait_graph__holder_source_name(enum holder_source s)
{
	switch (s) {
	case HOLDER_GIL_STATE:
		return "gil-state";
	case HOLDER_FRAMES_PROBE:
		return "frames-probe";
	case HOLDER_LOCK_OWNER:
		return "lock-owner";
	case HOLDER_NATIVE_STACK:
		return "native-stack";
	case HOLDER_LOCK_OBJECT:
		return "lock-object";
	case HOLDER_UNKNOWN:
		break;
	}
	return "unknown";
}

const char *wait_graph__wait_source_name(enum wait_source s)
{
	switch (s) {
	case WAIT_SAMPLED:
		return "sampled";
	case WAIT_TRACED:
		return "traced";
	case WAIT_SNAPSHOT:
		break;
	}
	return "snapshot";
}
