// SPDX-License-Identifier: MIT
/* The deadlock verdict from wait states, through a made-up reader: the
 * scenarios of the CPython 3.11 freeze (docs/freeze-3.11.md), its
 * one-thread variant, --deep's lock owners, and what must not be one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"
#include "gilwatch.h"

#define PID 100
#define HEAD 0x5000
#define LOCK_A 0x6000
#define SEC 1000000000ull
#define THRESHOLD (2 * SEC)

/* A process as the BPF maps and its memory would show it. */
struct fake {
	struct gw_thread_state ts[8];
	uint32_t tids[8];
	size_t n;
	struct gw_lock_owner owners[4];
	uint64_t owner_addr[4];
	size_t nowners;
	uint64_t signal_lock; /* one lock seen released by another thread */
	uint64_t taken[4];    /* semaphores with value 0 */
	pid_t gil_holder;
	uint64_t head_lock;
	uint64_t now;
	unsigned gil_reads, head_reads;
};

static int fake_thread_state(void *ctx, uint32_t tid, struct gw_thread_state *out)
{
	struct fake *f = ctx;
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (f->tids[i] == tid) {
			*out = f->ts[i];
			return 0;
		}
	}
	return -ENOENT;
}

static int fake_lock_owner(void *ctx, uint64_t addr, struct gw_lock_owner *out)
{
	struct fake *f = ctx;
	size_t i;

	for (i = 0; i < f->nowners; i++) {
		if (f->owner_addr[i] == addr) {
			*out = f->owners[i];
			return 0;
		}
	}
	return -ENOENT;
}

static bool fake_signal_lock(void *ctx, uint64_t addr)
{
	return ((struct fake *)ctx)->signal_lock == addr;
}

static bool fake_lock_taken(void *ctx, uint64_t addr, uint32_t kind)
{
	struct fake *f = ctx;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (f->taken[i] && f->taken[i] == addr)
			return true;
	}
	return false;
}

static pid_t fake_gil_holder(void *ctx)
{
	struct fake *f = ctx;

	f->gil_reads++;
	return f->gil_holder;
}

static uint64_t fake_head_lock(void *ctx)
{
	struct fake *f = ctx;

	f->head_reads++;
	return f->head_lock;
}

static uint64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static struct gw_thread_state *thread(struct fake *f, uint32_t tid)
{
	struct gw_thread_state *ts = &f->ts[f->n];

	memset(ts, 0, sizeof(*ts));
	ts->pid = PID;
	f->tids[f->n++] = tid;
	return ts;
}

static void init(struct detector *d, struct fake *f, bool deep)
{
	struct detect_reader r = {.thread_state = fake_thread_state,
				  .lock_owner = fake_lock_owner,
				  .signal_lock = fake_signal_lock,
				  .lock_taken = fake_lock_taken,
				  .gil_holder = fake_gil_holder,
				  .head_lock = fake_head_lock,
				  .now_ns = fake_now,
				  .ctx = f};

	detector__init(d, PID, &r, THRESHOLD, deep);
}

static int scan(struct detector *d, struct fake *f, struct wait_cycle *c)
{
	return detector__scan(d, f->tids, f->n, c);
}

/* The status thread (20) holds HEAD_LOCK in _current_frames and waits for
 * the GIL; thread 30 holds the GIL and waits for HEAD_LOCK.
 */
static void freeze_311(struct fake *f, uint64_t since)
{
	struct gw_thread_state *status = thread(f, 20), *other = thread(f, 30);

	memset(f->taken, 0, sizeof(f->taken));
	status->frames_head_lock = 1;
	status->gil_wait_start = since;
	other->lock_wait_addr = HEAD;
	other->lock_wait_start = since + SEC / 2;
	f->gil_holder = 30;
	f->head_lock = HEAD;
	f->taken[0] = HEAD;
}

static void test_freeze_reported_after_threshold(void **state)
{
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;

	freeze_311(&f, 9 * SEC);
	init(&d, &f, false);
	/* 0.5 s since the cycle closed: not yet, nor before the oldest wait
	 * is as old as the threshold.
	 */
	d.first_scan_ns = SEC; /* past the first threshold of frequent scans */
	assert_int_equal(scan(&d, &f, &c), 0);
	assert_int_equal(d.next_scan_ns, 9 * SEC + THRESHOLD);
	f.now = 12 * SEC;
	assert_int_equal(scan(&d, &f, &c), 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.members[0].tid, 20);
	assert_int_equal(c.members[0].kind, LOCK_GIL);
	assert_int_equal(c.members[0].holder, 30);
	assert_int_equal(c.members[1].tid, 30);
	assert_int_equal(c.members[1].kind, LOCK_HEAD);
	assert_int_equal(c.members[1].holder, 20);
	assert_int_equal(d.deadlocks, 1);
	/* Once: the same cycle next scan is not news. */
	f.now = 13 * SEC;
	assert_int_equal(scan(&d, &f, &c), 0);
	assert_int_equal(d.deadlocks, 1);
}

/* The GIL holder and HEAD_LOCK are read once per scan, and only when a
 * thread waits for them.
 */
static void test_reads_only_what_waits_need(void **state)
{
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;

	thread(&f, 10);
	thread(&f, 11);
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 0);
	assert_int_equal(f.gil_reads + f.head_reads, 0);
	freeze_311(&f, SEC);
	thread(&f, 40)->gil_wait_start = SEC;
	assert_int_equal(scan(&d, &f, &c), 1);
	assert_int_equal(f.gil_reads, 1);
	assert_int_equal(f.head_reads, 1);
}

/* Without a frame collection holding it, HEAD_LOCK's holder is unknown in
 * the default mode: no cycle can be closed.
 */
static void test_head_lock_holder_unknown(void **state)
{
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;

	freeze_311(&f, SEC);
	f.ts[0].frames_head_lock = 0;
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 0);
	/* Nor when HEAD_LOCK is free again (the holder is past it). */
	f.ts[0].frames_head_lock = 1;
	f.taken[0] = 0;
	assert_int_equal(scan(&d, &f, &c), 0);
}

/* A look at native stacks, as the session gives it: the holder and a
 * signature the test sets.
 */
struct looks {
	uint32_t holder;
	uint64_t sig;
	unsigned calls;
};

static uint32_t fake_look(void *ctx, const struct waiter *w, size_t n, uint64_t *sig)
{
	struct looks *l = ctx;

	l->calls++;
	*sig = l->sig;
	return l->holder;
}

/* The freeze that happened before gilwatch came: no probe saw HEAD_LOCK
 * taken. Two looks at the stacks, the threshold apart, that agree make the
 * cycle, its HEAD_LOCK edge known from a native stack; one look per
 * threshold at most.
 */
static void test_snapshot_confirmed_by_second_look(void **state)
{
	struct looks l = {.holder = 20, .sig = 7};
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;

	freeze_311(&f, 9 * SEC);
	f.ts[0].frames_head_lock = 0;
	init(&d, &f, false);
	detector__set_snapshot(&d,
			       &(struct detect_snapshot){.head_lock_holder = fake_look, .ctx = &l});
	assert_int_equal(scan(&d, &f, &c), 0);
	/* Frequent scans while it is new, to look at once. */
	assert_int_equal(d.next_scan_ns, f.now);
	f.now = 11 * SEC;
	assert_int_equal(scan(&d, &f, &c), 0);
	assert_int_equal(l.calls, 1);
	f.now = 12 * SEC;
	assert_int_equal(scan(&d, &f, &c), 1);
	assert_int_equal(l.calls, 2);
	assert_int_equal(c.members[1].kind, LOCK_HEAD);
	assert_int_equal(c.members[1].holder, 20);
	assert_int_equal(c.members[1].holder_from, HOLDER_NATIVE_STACK);
	assert_int_equal(c.members[0].holder_from, HOLDER_GIL_STATE);
	assert_string_equal(wait_graph__basis(&c), "snapshot");
	/* Frozen at least since the first look. */
	assert_true(c.closed_ns <= 10 * SEC);
}

/* Stacks that moved between the looks (a slow process, not a frozen one),
 * or two looks too close together, are no deadlock.
 */
static void test_snapshot_that_moved_is_no_deadlock(void **state)
{
	struct looks l = {.holder = 20, .sig = 1};
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;
	int i;

	freeze_311(&f, 9 * SEC);
	f.ts[0].frames_head_lock = 0;
	init(&d, &f, false);
	detector__set_snapshot(&d,
			       &(struct detect_snapshot){.head_lock_holder = fake_look, .ctx = &l});
	for (i = 0; i < 10; i++) {
		l.sig++;
		f.now += SEC;
		assert_int_equal(scan(&d, &f, &c), 0);
	}
	assert_int_equal(l.calls, 5);
	/* No holder on any stack: nothing either. */
	l.holder = 0;
	f.now += 2 * THRESHOLD;
	assert_int_equal(scan(&d, &f, &c), 0);
	f.now += 2 * THRESHOLD;
	assert_int_equal(scan(&d, &f, &c), 0);
}

/* Two threads in frame collections: which one holds HEAD_LOCK is not known. */
static void test_two_frame_collections(void **state)
{
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;

	freeze_311(&f, SEC);
	thread(&f, 50)->frames_head_lock = 1;
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 0);
}

/* One thread: a GC callback drops a threading.local inside the frame
 * collection, and local_clear waits for the HEAD_LOCK it holds.
 */
static void test_one_thread_self_deadlock(void **state)
{
	struct fake f = {.now = 10 * SEC, .head_lock = HEAD, .taken = {HEAD}};
	struct gw_thread_state *t = thread(&f, 20);
	struct detector d;
	struct wait_cycle c;

	t->frames_head_lock = 1;
	t->lock_wait_addr = HEAD;
	t->lock_wait_start = 5 * SEC;
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.members[0].tid, 20);
	assert_int_equal(c.members[0].kind, LOCK_HEAD);
	assert_int_equal(c.members[0].holder, 20);
}

/* Entries of other processes (a tid reused) are not this process's. */
static void test_other_process_ignored(void **state)
{
	struct fake f = {.now = 10 * SEC};
	struct detector d;
	struct wait_cycle c;

	freeze_311(&f, SEC);
	f.ts[1].pid = PID + 1;
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 0);
}

/* --deep: ABBA over two locks, owners from the BPF map, confirmed by the
 * semaphores' values; a lock released by another thread is a signal.
 */
static void test_deep_abba(void **state)
{
	struct fake f = {.now = 10 * SEC, .head_lock = HEAD, .taken = {LOCK_A, LOCK_A + 8}};
	struct gw_thread_state *a = thread(&f, 20), *b = thread(&f, 30);
	struct detector d;
	struct wait_cycle c;

	a->lock_wait_addr = LOCK_A;
	a->lock_wait_start = SEC;
	b->lock_wait_addr = LOCK_A + 8;
	b->lock_wait_start = SEC;
	f.owner_addr[0] = LOCK_A;
	f.owners[0] = (struct gw_lock_owner){.pid = PID, .tid = 30};
	f.owner_addr[1] = LOCK_A + 8;
	f.owners[1] = (struct gw_lock_owner){.pid = PID, .tid = 20};
	f.nowners = 2;
	init(&d, &f, true);
	assert_int_equal(scan(&d, &f, &c), 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.members[0].kind, LOCK_SEM);
	assert_int_equal(c.members[0].holder, 30);
	assert_int_equal(c.members[1].holder, 20);

	/* Released by a third thread once: Condition-like, not a mutex. */
	init(&d, &f, true);
	f.signal_lock = LOCK_A;
	assert_int_equal(scan(&d, &f, &c), 0);
	/* A semaphore that is free again has no holder. */
	f.signal_lock = 0;
	f.taken[0] = 0;
	init(&d, &f, true);
	assert_int_equal(scan(&d, &f, &c), 0);
	/* The default mode knows no owner of an ordinary lock. */
	f.taken[0] = LOCK_A;
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 0);
}

/* A GIL waiter is not waiting for itself as the GIL's last holder. */
static void test_gil_waiter_is_not_its_holder(void **state)
{
	struct fake f = {.now = 10 * SEC, .gil_holder = 20};
	struct detector d;
	struct wait_cycle c;

	thread(&f, 20)->gil_wait_start = SEC;
	init(&d, &f, false);
	assert_int_equal(scan(&d, &f, &c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_freeze_reported_after_threshold),
	    cmocka_unit_test(test_reads_only_what_waits_need),
	    cmocka_unit_test(test_head_lock_holder_unknown),
	    cmocka_unit_test(test_two_frame_collections),
	    cmocka_unit_test(test_one_thread_self_deadlock),
	    cmocka_unit_test(test_other_process_ignored),
	    cmocka_unit_test(test_deep_abba),
	    cmocka_unit_test(test_gil_waiter_is_not_its_holder),
	    cmocka_unit_test(test_snapshot_confirmed_by_second_look),
	    cmocka_unit_test(test_snapshot_that_moved_is_no_deadlock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
