// SPDX-License-Identifier: MIT
/* The stall rules over thread views: gil-held (one thread keeps the GIL,
 * no handoff, while another waits for it) and all-blocked (every thread
 * blocked on a lock or an untimed wait, none using CPU), each for the
 * threshold, each episode reported once; and what is no stall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "stall.h"

#define SEC 1000000000ull
#define THRESHOLD (5 * SEC)

static struct thread_view view(uint32_t tid, enum thread_activity a, uint64_t since, uint64_t ticks)
{
	return (struct thread_view){
	    .tid = tid, .activity = a, .syscall = -1, .since_ns = since, .cpu_ticks = ticks};
}

static struct stall_detector *fresh(void)
{
	static struct stall_detector s;

	stall__init(&s, THRESHOLD);
	return &s;
}

static void test_gil_held(void **state)
{
	struct stall_detector *s = fresh();
	struct thread_view v[] = {view(10, TV_HOLDS_GIL, 0, 100), view(11, TV_GIL_WAIT, SEC, 5)};
	struct stall out;
	uint64_t t;

	/* The holder keeps the GIL with no handoff from 1 s on. */
	for (t = SEC; t < SEC + THRESHOLD; t += SEC) {
		v[0].cpu_ticks += 100; /* it runs: no all-blocked */
		assert_int_equal(stall__check(s, v, 2, 10, 7, t, &out), 0);
	}
	assert_int_equal(stall__check(s, v, 2, 10, 7, SEC + THRESHOLD, &out), 1);
	assert_int_equal(out.rule, STALL_GIL_HELD);
	assert_int_equal(out.holder, 10);
	assert_int_equal(out.stalled_ns, THRESHOLD);
	assert_int_equal(out.n, 2);
	assert_string_equal(stall__rule_name(out.rule), "gil-held");
	/* One report per episode. */
	assert_int_equal(stall__check(s, v, 2, 10, 7, 10 * SEC, &out), 0);
	/* A handoff ends it; the next episode is reported again. */
	assert_int_equal(stall__check(s, v, 2, 10, 8, 11 * SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 10, 8, 11 * SEC + THRESHOLD, &out), 1);
}

/* The GIL passes around (a busy service): switches move, no stall. */
static void test_gil_handoffs_are_progress(void **state)
{
	struct stall_detector *s = fresh();
	struct thread_view v[] = {view(10, TV_HOLDS_GIL, 0, 0), view(11, TV_GIL_WAIT, SEC, 0)};
	struct stall out;
	uint64_t t, switches = 0;

	for (t = SEC; t < 20 * SEC; t += SEC)
		assert_int_equal(stall__check(s, v, 2, 10, ++switches, t, &out), 0);
}

static void test_all_blocked(void **state)
{
	struct stall_detector *s = fresh();
	struct thread_view v[] = {view(10, TV_LOCK_WAIT, SEC, 40), view(11, TV_FUTEX, SEC, 7),
				  view(12, TV_GIL_WAIT, SEC, 3)};
	struct stall out;

	assert_int_equal(stall__check(s, v, 3, 0, 0, SEC, &out), 0);
	/* The GIL waiter's CPU (5 ms wake-ups) is no progress. */
	v[2].cpu_ticks = 9;
	assert_int_equal(stall__check(s, v, 3, 0, 0, 3 * SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 3, 0, 0, SEC + THRESHOLD, &out), 1);
	assert_int_equal(out.rule, STALL_ALL_BLOCKED);
	assert_int_equal(out.stalled_ns, THRESHOLD);
	assert_string_equal(stall__rule_name(out.rule), "all-blocked");
}

/* CPU time moving is progress: the clock restarts. */
static void test_cpu_is_progress(void **state)
{
	struct stall_detector *s = fresh();
	struct thread_view v[] = {view(10, TV_LOCK_WAIT, SEC, 40), view(11, TV_FUTEX, SEC, 7)};
	struct stall out;

	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC, &out), 0);
	v[1].cpu_ticks = 8;
	assert_int_equal(stall__check(s, v, 2, 0, 0, 4 * SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC + THRESHOLD, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, 4 * SEC + THRESHOLD, &out), 1);
}

/* Waits that may end on their own are no stall: a timed futex wait, a
 * process-shared one (another process may wake it), another syscall.
 */
static void test_waits_that_end_alone(void **state)
{
	struct thread_view v[] = {view(10, TV_LOCK_WAIT, SEC, 1), view(11, TV_FUTEX, SEC, 1)};
	struct stall out;
	struct stall_detector *s;

	v[1].timed = true;
	s = fresh();
	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, 60 * SEC, &out), 0);
	v[1].timed = false;
	v[1].shared = true;
	s = fresh();
	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, 60 * SEC, &out), 0);
	v[1] = view(11, TV_SYSCALL, 0, 1);
	s = fresh();
	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, 60 * SEC, &out), 0);
}

/* A thread list cut at GW_MAX_VIEWS may hide a running thread. */
static void test_cut_list_is_not_all_blocked(void **state)
{
	static struct thread_view v[GW_MAX_VIEWS];
	struct stall_detector *s = fresh();
	struct stall out;
	size_t i;

	for (i = 0; i < GW_MAX_VIEWS; i++)
		v[i] = view(100 + i, TV_LOCK_WAIT, SEC, 1);
	assert_int_equal(stall__check(s, v, GW_MAX_VIEWS, 0, 0, SEC, &out), 0);
	assert_int_equal(stall__check(s, v, GW_MAX_VIEWS, 0, 0, 60 * SEC, &out), 0);
}

/* A thread gone and its tid seen again starts afresh. */
static void test_gone_threads_forgotten(void **state)
{
	struct stall_detector *s = fresh();
	struct thread_view v[] = {view(10, TV_LOCK_WAIT, SEC, 40), view(11, TV_FUTEX, SEC, 7)};
	struct stall out;

	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 1, 0, 0, 2 * SEC, &out), 0);
	assert_int_equal(s->nprogress, 1);
	/* 11 back (a new thread with its tid): first sight is progress. */
	assert_int_equal(stall__check(s, v, 2, 0, 0, 3 * SEC, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, SEC + THRESHOLD, &out), 0);
	assert_int_equal(stall__check(s, v, 2, 0, 0, 3 * SEC + THRESHOLD, &out), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gil_held),
	    cmocka_unit_test(test_gil_handoffs_are_progress),
	    cmocka_unit_test(test_all_blocked),
	    cmocka_unit_test(test_cpu_is_progress),
	    cmocka_unit_test(test_waits_that_end_alone),
	    cmocka_unit_test(test_cut_list_is_not_all_blocked),
	    cmocka_unit_test(test_gone_threads_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
