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

/* Depth-first from start along edges to locks above start (so each cycle
 * is found once, from its lowest lock), back to start.
 */
static int search(const struct order_edge *e, size_t n, uint64_t start, uint64_t at,
		  struct order_cycle *c)
{
	size_t i;

	if (c->n == GW_MAX_ORDER_CYCLE)
		return 0;
	for (i = 0; i < n; i++) {
		if (e[i].from != at || e[i].to < start)
			continue;
		c->edges[c->n++] = e[i];
		if (e[i].to == start)
			return 1;
		if (search(e, n, start, e[i].to, c))
			return 1;
		c->n--;
	}
	return 0;
}

size_t lock_order__cycles(const struct order_edge *e, size_t n, struct order_cycle *out, size_t max)
{
	size_t i, j, found = 0;

	for (i = 0; i < n && found < max; i++) {
		bool seen = false;

		/* Each lock starts one search. */
		for (j = 0; j < i && !seen; j++)
			seen = e[j].from == e[i].from;
		if (seen)
			continue;
		out[found].n = 0;
		if (search(e, n, e[i].from, e[i].from, &out[found])) {
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
	struct order_cycle cycles[4];
	size_t n = 0, found, i, k;

	while (n < GW_MAX_ORDER_EDGES && !bpf_map_get_next_key(fd, prev, &next)) {
		struct gw_edge v;

		key = next;
		prev = &key;
		if (key.pid != (uint32_t)lo->pid || bpf_map_lookup_elem(fd, &key, &v) ||
		    is_signal_lock(skel, key.from) || is_signal_lock(skel, key.to))
			continue;
		edges[n++] = (struct order_edge){
		    .from = key.from, .to = key.to, .tid = v.tid, .time_ns = v.time_ns};
	}
	found = lock_order__cycles(edges, n, cycles, sizeof(cycles) / sizeof(cycles[0]));
	for (i = 0; i < found; i++) {
		if (!two_threads(&cycles[i]))
			continue;
		for (k = 0; k < lo->nreported && lo->reported[k] != cycles[i].key; k++)
			;
		if (k < lo->nreported)
			continue;
		if (lo->nreported < GW_MAX_ORDER_REPORTED)
			lo->reported[lo->nreported++] = cycles[i].key;
		lo->inversions++;
		*out = cycles[i];
		return 1;
	}
	return 0;
}
