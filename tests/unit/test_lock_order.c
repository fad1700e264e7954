// SPDX-License-Identifier: MIT
/* Cycles in the lock-order graph (--deep): the verdict behind `lock_order`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gilwatch.h"
#include "lock_order.h"

#define HEAD 0x7000
#define A 0x8000
#define B 0x9000
#define C 0xa000

static struct order_edge edge(uint64_t from, uint64_t to, uint32_t tid)
{
	return (struct order_edge){.from = from, .to = to, .tid = tid, .time_ns = 1};
}

/* The 3.11 freeze's precondition: GIL => HEAD_LOCK by a thread exiting,
 * HEAD_LOCK => GIL by the status thread whose collection dropped the GIL.
 */
static void test_gil_head_lock(void **state)
{
	struct order_edge e[] = {edge(GW_LOCK_GIL, HEAD, 10), edge(HEAD, GW_LOCK_GIL, 11),
				 edge(A, B, 12)};
	struct order_cycle c[4];

	assert_int_equal(lock_order__cycles(e, 3, c, 4), 1);
	assert_int_equal(c[0].n, 2);
	assert_true(c[0].edges[0].from == GW_LOCK_GIL && c[0].edges[0].to == HEAD);
	assert_true(c[0].edges[1].from == HEAD && c[0].edges[1].to == GW_LOCK_GIL);
}

static void test_three_lock_cycle_once(void **state)
{
	struct order_edge e[] = {edge(B, C, 1), edge(C, A, 2), edge(A, B, 3), edge(A, C, 4)};
	struct order_cycle c[4];
	size_t n = lock_order__cycles(e, 4, c, 4);

	/* A => B => C => A, found once from A, its lowest lock. */
	assert_int_equal(n, 1);
	assert_int_equal(c[0].n, 3);
	assert_true(c[0].edges[0].from == A);
	assert_true(c[0].edges[2].to == A);
}

static void test_dag_has_no_cycle(void **state)
{
	struct order_edge e[] = {edge(A, B, 1), edge(B, C, 1), edge(A, C, 2), edge(HEAD, A, 3)};
	struct order_cycle c[4];

	assert_int_equal(lock_order__cycles(e, 4, c, 4), 0);
}

/* Two threads' condition waits, each a one-thread cycle through lock M
 * (M => W1 => M by thread 1, M => W2 => M by thread 2): walking M twice
 * would make a two-thread "cycle" of them. Simple paths only.
 */
static void test_no_revisits(void **state)
{
	struct order_edge e[] = {edge(A, B, 1), edge(B, A, 1), edge(A, C, 2), edge(C, A, 2)};
	struct order_cycle c[4];

	assert_int_equal(lock_order__cycles(e, 4, c, 4), 0);
}

/* A one-thread cycle from the same start does not hide a real inversion. */
static void test_one_thread_cycle_does_not_mask(void **state)
{
	struct order_edge e[] = {edge(A, B, 1), edge(B, A, 1), edge(A, C, 1), edge(C, A, 2)};
	struct order_cycle c[4];

	assert_int_equal(lock_order__cycles(e, 4, c, 4), 1);
	assert_true(c[0].edges[0].to == C && c[0].edges[1].tid == 2);
}

static void test_key_identifies_cycle(void **state)
{
	struct order_edge e[] = {edge(A, B, 1), edge(B, A, 2)};
	struct order_edge f[] = {edge(B, A, 7), edge(A, B, 8)};
	struct order_cycle x, y;

	assert_int_equal(lock_order__cycles(e, 2, &x, 1), 1);
	assert_int_equal(lock_order__cycles(f, 2, &y, 1), 1);
	assert_true(x.key == y.key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gil_head_lock),
	    cmocka_unit_test(test_three_lock_cycle_once),
	    cmocka_unit_test(test_dag_has_no_cycle),
	    cmocka_unit_test(test_key_identifies_cycle),
	    cmocka_unit_test(test_no_revisits),
	    cmocka_unit_test(test_one_thread_cycle_does_not_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
