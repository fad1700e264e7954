// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gilwatch.h"
#include "gilwatch.skel.h"
#include "lock_order.h"

static bool is_signal_lock(struct gilwatch_bpf *skel, uint64_t lock)
{
	uint32_t v;

	return lock != GW_LOCK_GIL && !bpf_map__lookup_elem(skel->maps.signal_locks, &lock,
							    sizeof(lock), &v, sizeof(v), 0);
}

/* Whether lock was (re)created after t: an edge made before then is a
 * freed lock's, whose memory the new one reuses, and no order anyone takes.
 */
static bool born_after(struct gilwatch_bpf *skel, uint32_t pid, uint64_t lock, uint64_t t)
{
	struct gw_lock_key key = {.pid = pid, .addr = lock};
	uint64_t born;

	return !bpf_map__lookup_elem(skel->maps.lock_born, &key, sizeof(key), &born, sizeof(born),
				     0) &&
	       t < born;
}

/* One thread taking A then B, and later B then A, deadlocks with nobody;
 * shutdown and condition-variable code do it. An inversion worth reporting
 * has two threads in it.
 */
static bool two_threads(const struct order_cycle *c)
{
	size_t i;

	for (i = 1; i < c->n; i++) {
		if (c->edges[i].tid != c->edges[0].tid)
			return true;
	}
	return false;
}

static uint64_t cycle_key(const struct order_cycle *c)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < c->n; i++) {
		h ^= c->edges[i].from;
		h *= 1099511628211ull;
	}
	return h;
}

/* Work per search, in edges looked at: the graph is small, but a bound
 * keeps a pathological one from stalling the main loop.
 */
#define SEARCH_BUDGET 200000

struct search {
	const struct order_edge *e;
	size_t n;
	uint64_t start;
	long budget;
};

static bool on_path(const struct order_cycle *c, uint64_t lock)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->edges[i].from == lock)
			return true;
	}
	return false;
}

/* Depth-first along simple paths from s->start through locks above it (so
 * each cycle is found once, from its lowest lock), back to the start; a
 * cycle of one thread's edges is passed over for the next.
 */
static int search(struct search *s, uint64_t at, struct order_cycle *c)
{
	size_t i;

	if (c->n == GW_MAX_ORDER_CYCLE)
		return 0;
	for (i = 0; i < s->n && s->budget-- > 0; i++) {
		const struct order_edge *e = &s->e[i];

		if (e->from != at || e->to < s->start)
			continue;
		c->edges[c->n++] = *e;
		if (e->to == s->start ? two_threads(c) : !on_path(c, e->to) && search(s, e->to, c))
			return 1;
		c->n--;
	}
	return 0;
}

size_t lock_order__cycles(const struct order_edge *e, size_t n, struct order_cycle *out, size_t max)
{
	struct search s = {.e = e, .n = n, .budget = SEARCH_BUDGET};
	size_t i, j, found = 0;

	for (i = 0; i < n && found < max && s.budget > 0; i++) {
		bool seen = false;

		/* Each lock starts one search. */
		for (j = 0; j < i && !seen; j++)
			seen = e[j].from == e[i].from;
		if (seen)
			continue;
		s.start = e[i].from;
		out[found].n = 0;
		if (search(&s, s.start, &out[found])) {
			out[found].key = cycle_key(&out[found]);
			found++;
		}
	}
	return found;
}

int lock_order__scan(struct lock_order *lo, struct gilwatch_bpf *skel, struct order_cycle *out)
{
	int fd = bpf_map__fd(skel->maps.lock_edges);
	struct gw_edge_key key, next, *prev = NULL;
	static struct order_edge edges[GW_MAX_ORDER_EDGES];
	struct order_cycle cycles[16];
	size_t n = 0, found, i, k;

	while (n < GW_MAX_ORDER_EDGES && !bpf_map_get_next_key(fd, prev, &next)) {
		struct gw_edge v;

		key = next;
		prev = &key;
		if (key.pid != (uint32_t)lo->pid || bpf_map_lookup_elem(fd, &key, &v) ||
		    is_signal_lock(skel, key.from) || is_signal_lock(skel, key.to) ||
		    born_after(skel, key.pid, key.from, v.time_ns) ||
		    born_after(skel, key.pid, key.to, v.time_ns))
			continue;
		edges[n++] = (struct order_edge){
		    .from = key.from, .to = key.to, .tid = v.tid, .time_ns = v.time_ns};
	}
	found = lock_order__cycles(edges, n, cycles, sizeof(cycles) / sizeof(cycles[0]));
	for (i = 0; i < found; i++) {
		for (k = 0; k < lo->nreported && lo->reported[k] != cycles[i].key; k++)
			;
		if (k < lo->nreported || lo->nreported == GW_MAX_ORDER_REPORTED)
			continue;
		lo->reported[lo->nreported++] = cycles[i].key;
		lo->inversions++;
		*out = cycles[i];
		return 1;
	}
	return 0;
}
