// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "gilwatch.h"
#include "log.h"

void detector__init(struct detector *d, uint32_t pid, const struct detect_reader *reader,
		    uint64_t threshold_ns, bool deep)
{
	memset(d, 0, sizeof(*d));
	d->reader = *reader;
	d->pid = pid;
	d->threshold_ns = threshold_ns;
	d->deep = deep;
}

void detector__set_snapshot(struct detector *d, const struct detect_snapshot *s)
{
	d->snapshot = *s;
}

const char *detector__lock_name(enum lock_kind kind, uint64_t addr, char *buf, size_t len)
{
	if (kind == LOCK_GIL)
		return "GIL";
	if (kind == LOCK_HEAD)
		return "HEAD_LOCK";
	snprintf(buf, len, "lock 0x%llx", (unsigned long long)addr);
	return buf;
}

/* --deep: the holder of a lock, 0 if it cannot be told: its last
 * acquirer, while the lock is taken.
 */
static uint32_t lock_holder(struct detector *d, uint64_t addr, uint32_t waiter)
{
	const struct detect_reader *r = &d->reader;
	struct gw_lock_owner owner;

	if (r->lock_owner(r->ctx, addr, &owner) || owner.pid != d->pid)
		return 0;
	/* A thread blocking on a lock it took itself is waiting for a signal
	 * (Condition.wait's waiter lock, a queue or Event): someone else will
	 * release it. Only HEAD_LOCK is never used that way.
	 */
	if (addr != d->head_lock && (owner.tid == waiter || r->signal_lock(r->ctx, addr)))
		return 0;
	return r->lock_taken(r->ctx, addr, owner.kind) ? owner.tid : 0;
}

struct collect {
	struct detector *d;
	pid_t gil_holder;
	bool holder_read, head_lock_read;
	/* Threads inside a frame collection holding HEAD_LOCK (frames.bpf.h). */
	uint32_t frames_holder, nframes_holders;
};

/* Whether thread tid waits for the GIL or a lock: then *w says which. */
static bool waiter_of(struct collect *c, uint32_t tid, struct waiter *w)
{
	const struct detect_reader *r = &c->d->reader;
	struct gw_thread_state ts;

	if (r->thread_state(r->ctx, tid, &ts) || ts.pid != c->d->pid)
		return false;
	if (ts.frames_head_lock) {
		c->frames_holder = tid;
		c->nframes_holders++;
	}
	if (ts.gil_wait_start) {
		/* Read once, and only for a process with a GIL waiter. */
		if (!c->holder_read)
			c->gil_holder = r->gil_holder(r->ctx);
		c->holder_read = true;
		*w = (struct waiter){.tid = tid,
				     .holder = (uint32_t)c->gil_holder,
				     .holder_from = HOLDER_GIL_STATE,
				     .wait_from = c->d->deep ? WAIT_TRACED : WAIT_SAMPLED,
				     .kind = LOCK_GIL,
				     .since_ns = ts.gil_wait_start};
	} else if (ts.lock_wait_addr) {
		if (!c->head_lock_read)
			c->d->head_lock = r->head_lock(r->ctx);
		c->head_lock_read = true;
		*w = (struct waiter){
		    .tid = tid,
		    .holder = c->d->deep ? lock_holder(c->d, ts.lock_wait_addr, tid) : 0,
		    .holder_from = c->d->deep ? HOLDER_LOCK_OWNER : HOLDER_UNKNOWN,
		    .wait_from = c->d->deep ? WAIT_TRACED : WAIT_SAMPLED,
		    .kind = ts.lock_wait_addr == c->d->head_lock ? LOCK_HEAD : LOCK_SEM,
		    .addr = ts.lock_wait_addr,
		    .since_ns = ts.lock_wait_start};
	} else {
		return false;
	}
	/* The GIL's last holder is not waiting for itself. */
	if (w->kind == LOCK_GIL && w->holder == tid)
		w->holder = 0;
	return true;
}

/* HEAD_LOCK's holder from the waiters' native stacks: two looks at least
 * the threshold apart must agree (same holder, nothing moved), so that a
 * slow process is not called deadlocked. One look per threshold at most.
 */
static uint32_t head_lock_from_stacks(struct detector *d, const struct waiter *w, size_t n,
				      uint64_t now_ns)
{
	uint64_t sig = 0;
	uint32_t holder;

	if (d->look.at_ns && now_ns - d->look.at_ns < d->threshold_ns)
		return d->look.confirmed ? d->look.holder : 0;
	holder = d->snapshot.head_lock_holder(d->snapshot.ctx, w, n, &sig);
	d->looks++;
	gw_debug("pid %u: HEAD_LOCK holder on native stacks: %u (look %llu, %zu waiters, %llx)",
		 d->pid, holder, (unsigned long long)d->looks, n, (unsigned long long)sig);
	d->look.confirmed =
	    d->look.at_ns && holder && holder == d->look.holder && sig == d->look.sig;
	/* Unchanged since the first of the agreeing looks. */
	if (!d->look.confirmed)
		d->look.since_ns = now_ns;
	d->look.at_ns = now_ns;
	d->look.holder = holder;
	d->look.sig = sig;
	return d->look.confirmed ? holder : 0;
}

/* Without --deep, the owners of the other locks waited for are what the
 * process shows (an RLock's owner), each confirmed by two looks.
 */
static void lock_owners_from_snapshot(struct detector *d, struct waiter *w, size_t n)
{
	uint64_t now_ns = d->reader.now_ns(d->reader.ctx);
	size_t i;

	for (i = 0; i < n; i++) {
		if (w[i].kind != LOCK_SEM || w[i].holder)
			continue;
		w[i].holder = owner_looks__owner(&d->owners, d->snapshot.lock_owner,
						 d->snapshot.ctx, &w[i], now_ns, d->threshold_ns);
		if (w[i].holder)
			w[i].holder_from = HOLDER_LOCK_OBJECT;
	}
}

/* The threads among tids that wait for the GIL or a lock. Looked up one by
 * one: walking the 65536-bucket map instead costs the same for one thread
 * as for all, and was most of an idle agent's CPU with 50 processes.
 */
static size_t collect_waiters(struct detector *d, const uint32_t *tids, size_t ntids,
			      struct waiter *w)
{
	struct collect c = {.d = d};
	enum holder_source from = HOLDER_FRAMES_PROBE;
	uint32_t holder;
	size_t n = 0, i;
	bool unheld = false;

	for (i = 0; i < ntids && n < GW_MAX_WAITERS; i++)
		n += waiter_of(&c, tids[i], &w[n]);
	if (!d->deep && d->snapshot.lock_owner)
		lock_owners_from_snapshot(d, w, n);
	for (i = 0; i < n; i++)
		unheld |= w[i].kind == LOCK_HEAD && !w[i].holder;
	if (!unheld || !d->head_lock ||
	    !d->reader.lock_taken(d->reader.ctx, d->head_lock, GW_LOCK_SEMAPHORE)) {
		d->look.at_ns = 0;
		return n;
	}
	/* The default mode knows one holder of HEAD_LOCK: a thread in a frame
	 * collection, past its HEAD_LOCK call. No other holder keeps it long
	 * enough to close a cycle: they call nothing that can drop the GIL.
	 * A process that froze before gilwatch came shows it on a native stack.
	 */
	holder = !d->deep && c.nframes_holders == 1 ? c.frames_holder : 0;
	if (!holder && d->snapshot.head_lock_holder) {
		holder = head_lock_from_stacks(d, w, n, d->reader.now_ns(d->reader.ctx));
		from = HOLDER_NATIVE_STACK;
	}
	for (i = 0; i < n && holder; i++) {
		if (w[i].kind == LOCK_HEAD && !w[i].holder) {
			w[i].holder = holder;
			w[i].holder_from = from;
		}
		/* The looks saw the holder and HEAD_LOCK's waiters stay put, with
		 * no GIL handoff: their waits lasted at least since the first. A
		 * polling GIL waiter's sampled start may be later.
		 */
		if (from == HOLDER_NATIVE_STACK && (w[i].tid == holder || w[i].kind == LOCK_HEAD) &&
		    w[i].since_ns > d->look.since_ns)
			w[i].since_ns = d->look.since_ns;
	}
	return n;
}

/* No cycle can pass the threshold before its newest wait does: the next
 * scan can wait for the oldest wait seen to reach it, or for a wait that
 * starts now to.
 */
static uint64_t next_scan_ns(const struct detector *d, const struct waiter *w, size_t n,
			     uint64_t now_ns)
{
	uint64_t next = now_ns + d->threshold_ns;
	size_t i;

	for (i = 0; i < n; i++) {
		if (w[i].since_ns + d->threshold_ns < next)
			next = w[i].since_ns + d->threshold_ns;
	}
	return next;
}

static bool already_reported(struct detector *d, uint64_t key)
{
	size_t i;

	for (i = 0; i < d->nreported; i++) {
		if (d->reported[i] == key)
			return true;
	}
	/* Full: stop reporting rather than repeat a cycle every scan. */
	if (d->nreported == GW_MAX_REPORTED)
		return true;
	d->reported[d->nreported++] = key;
	return false;
}

int detector__scan(struct detector *d, const uint32_t *tids, size_t ntids, struct wait_cycle *out)
{
	struct waiter w[GW_MAX_WAITERS];
	struct wait_cycle cycles[4];
	uint64_t now_ns;
	size_t n, found, i;

	n = collect_waiters(d, tids, ntids, w);
	/* After the reads: every wait start seen is older than now. */
	now_ns = d->scanned_ns = d->reader.now_ns(d->reader.ctx);
	if (!d->first_scan_ns)
		d->first_scan_ns = now_ns;
	/* A process frozen before gilwatch came shows its waits at the first
	 * samples: its first look at the stacks comes at once, not a
	 * threshold later.
	 */
	d->next_scan_ns =
	    now_ns - d->first_scan_ns < d->threshold_ns ? now_ns : next_scan_ns(d, w, n, now_ns);
	for (i = 0; i < n && gw_verbose > 1; i++)
		gw_debug("waiter %u kind %d lock 0x%llx holder %u for %llu ms", w[i].tid, w[i].kind,
			 (unsigned long long)w[i].addr, w[i].holder,
			 (unsigned long long)(now_ns - w[i].since_ns) / 1000000);
	found = wait_graph__cycles(w, n, cycles, sizeof(cycles) / sizeof(cycles[0]));
	for (i = 0; i < found; i++) {
		if (cycles[i].closed_ns > now_ns ||
		    now_ns - cycles[i].closed_ns < d->threshold_ns ||
		    already_reported(d, cycles[i].key))
			continue;
		*out = cycles[i];
		d->deadlocks++;
		return 1;
	}
	return 0;
}
