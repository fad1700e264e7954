// SPDX-License-Identifier: MIT
#include <errno.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "detect_bpf.h"
#include "gilwatch.h"
#include "gilwatch.skel.h"
#include "proc.h"

static int thread_state(void *ctx, uint32_t tid, struct gw_thread_state *out)
{
	struct detect_bpf *b = ctx;

	if (bpf_map__lookup_elem(b->skel->maps.thread_state, &tid, sizeof(tid), out, sizeof(*out),
				 0))
		return -ENOENT;
	/* A PyMutex waiter is named by the mutex, not its parking semaphore. */
	if (out->lock_wait_addr && !out->lock_wait_parked)
		out->lock_wait_addr = parking_lot__mutex_cached(
		    &b->parked, b->target, tid, out->lock_wait_addr, out->lock_wait_start);
	return 0;
}

static int lock_owner(void *ctx, uint64_t addr, struct gw_lock_owner *out)
{
	struct detect_bpf *b = ctx;

	return bpf_map__lookup_elem(b->skel->maps.lock_owner, &addr, sizeof(addr), out,
				    sizeof(*out), 0)
		   ? -ENOENT
		   : 0;
}

static bool signal_lock(void *ctx, uint64_t addr)
{
	struct detect_bpf *b = ctx;
	uint32_t value;

	return !bpf_map__lookup_elem(b->skel->maps.signal_locks, &addr, sizeof(addr), &value,
				     sizeof(value), 0);
}

/* glibc new_sem: the value is the low 32 bits of its first word; a
 * PyMutex: bit 0 of its byte.
 */
static bool lock_taken(void *ctx, uint64_t addr, uint32_t kind)
{
	struct detect_bpf *b = ctx;
	uint32_t value = 0;
	uint8_t bits = 0;

	if (kind == GW_LOCK_PYMUTEX)
		return !proc__read_mem(b->target->pid, addr, &bits, sizeof(bits)) && (bits & 1);
	return !proc__read_mem(b->target->pid, addr, &value, sizeof(value)) && value == 0;
}

static pid_t gil_holder(void *ctx)
{
	struct detect_bpf *b = ctx;
	pid_t tid = 0;

	target__gil_holder(b->target, &tid);
	return tid;
}

static uint64_t head_lock(void *ctx)
{
	struct detect_bpf *b = ctx;

	return target__head_lock(b->target);
}

static uint64_t now_ns(void *ctx)
{
	return monotonic_ns();
}

struct detect_reader detect_bpf__reader(struct detect_bpf *b, struct gilwatch_bpf *skel,
					const struct gw_target *t)
{
	b->skel = skel;
	b->target = t;
	return (struct detect_reader){.thread_state = thread_state,
				      .lock_owner = lock_owner,
				      .signal_lock = signal_lock,
				      .lock_taken = lock_taken,
				      .gil_holder = gil_holder,
				      .head_lock = head_lock,
				      .now_ns = now_ns,
				      .ctx = b};
}
