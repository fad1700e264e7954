// SPDX-License-Identifier: MIT
/* Cycle finding in the wait-for graph: the verdict behind `deadlock`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wait_graph.h"

#define HEAD 0x1000
#define LOCK_A 0x2000
#define LOCK_B 0x3000

static struct waiter gil(uint32_t tid, uint32_t holder, uint64_t since)
{
	return (struct waiter){.tid = tid, .holder = holder, .kind = LOCK_GIL, .since_ns = since};
}

static struct waiter lock(uint32_t tid, uint32_t holder, enum lock_kind kind, uint64_t addr,
			  uint64_t since)
{
	return (struct waiter){
	    .tid = tid, .holder = holder, .kind = kind, .addr = addr, .since_ns = since};
}

/* The 3.11 freeze: 20 holds HEAD_LOCK and waits for the GIL held by 30. */
static void test_head_lock_gil_cycle(void **state)
{
	struct waiter w[] = {gil(20, 30, 100), lock(30, 20, LOCK_HEAD, HEAD, 250), gil(40, 30, 50)};
	struct wait_cycle c[4];

	assert_int_equal(wait_graph__cycles(w, 3, c, 4), 1);
	assert_int_equal(c[0].n, 2);
	assert_int_equal(c[0].members[0].tid, 20);
	assert_int_equal(c[0].members[0].kind, LOCK_GIL);
	assert_int_equal(c[0].members[1].tid, 30);
	assert_int_equal(c[0].members[1].kind, LOCK_HEAD);
	/* The cycle closed when its last member started waiting. */
	assert_int_equal(c[0].closed_ns, 250);
}

static void test_self_cycle(void **state)
{
	struct waiter w[] = {lock(7, 7, LOCK_HEAD, HEAD, 10)};
	struct wait_cycle c[1];

	assert_int_equal(wait_graph__cycles(w, 1, c, 1), 1);
	assert_int_equal(c[0].n, 1);
	assert_int_equal(c[0].members[0].tid, 7);
}

/* A chain that ends at a running thread or an unknown holder is no cycle. */
static void test_chains_are_not_cycles(void **state)
{
	struct waiter w[] = {gil(1, 2, 0), lock(2, 3, LOCK_SEM, LOCK_A, 0), gil(4, 0, 0),
			     lock(5, 0, LOCK_SEM, LOCK_B, 0)};
	struct wait_cycle c[4];

	assert_int_equal(wait_graph__cycles(w, 4, c, 4), 0);
}

/* A cycle is reported once, from its lowest tid, whichever order the
 * waiters come in; two disjoint cycles give two reports.
 */
static void test_each_cycle_once(void **state)
{
	struct waiter w[] = {lock(12, 11, LOCK_SEM, LOCK_A, 5), lock(11, 12, LOCK_SEM, LOCK_B, 9),
			     lock(3, 4, LOCK_SEM, 0x10, 1), lock(4, 5, LOCK_SEM, 0x20, 1),
			     lock(5, 3, LOCK_SEM, 0x30, 1)};
	struct wait_cycle c[4];

	assert_int_equal(wait_graph__cycles(w, 5, c, 4), 2);
	assert_int_equal(c[0].members[0].tid, 11);
	assert_int_equal(c[0].n, 2);
	assert_int_equal(c[1].members[0].tid, 3);
	assert_int_equal(c[1].n, 3);
	assert_true(c[0].key != c[1].key);
}

/* A tail leading into a cycle does not make its start part of it. */
static void test_tail_into_cycle(void **state)
{
	struct waiter w[] = {gil(1, 8, 0), lock(8, 9, LOCK_SEM, LOCK_A, 0),
			     lock(9, 8, LOCK_SEM, LOCK_B, 0)};
	struct wait_cycle c[2];

	assert_int_equal(wait_graph__cycles(w, 3, c, 2), 1);
	assert_int_equal(c[0].members[0].tid, 8);
	assert_int_equal(c[0].n, 2);
}

/* Same members and locks, same key: the detector reports a cycle once. */
static void test_key_is_stable(void **state)
{
	struct waiter w[] = {gil(20, 30, 100), lock(30, 20, LOCK_HEAD, HEAD, 250)};
	struct waiter v[] = {lock(30, 20, LOCK_HEAD, HEAD, 999), gil(20, 30, 100)};
	struct wait_cycle a, b;

	assert_int_equal(wait_graph__cycles(w, 2, &a, 1), 1);
	assert_int_equal(wait_graph__cycles(v, 2, &b, 1), 1);
	assert_true(a.key == b.key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_head_lock_gil_cycle),	  cmocka_unit_test(test_self_cycle),
	    cmocka_unit_test(test_chains_are_not_cycles), cmocka_unit_test(test_each_cycle_once),
	    cmocka_unit_test(test_tail_into_cycle),	  cmocka_unit_test(test_key_is_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
