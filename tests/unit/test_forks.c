// SPDX-License-Identifier: MIT
/* The fork-with-threads hazard's bookkeeping: a fork from a threaded
 * process is a hazard unless the child execs within the grace period.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forks.h"

#define MS 1000000ull

static void test_fork_without_exec_expires(void **state)
{
	struct fork_tracker f = {0};
	struct fork_record *r, out;

	r = forks__add(&f, 200, 100, 3, 1000 * MS);
	assert_non_null(r);
	assert_int_equal(r->child, 200);
	assert_int_equal(r->forking_tid, 100);
	assert_int_equal(r->threads, 3);
	assert_int_equal(forks__expired(&f, 1000 * MS + GW_FORK_EXEC_GRACE_NS - 1, &out), 0);
	assert_int_equal(forks__expired(&f, 1000 * MS + GW_FORK_EXEC_GRACE_NS, &out), 1);
	assert_int_equal(out.child, 200);
	assert_int_equal(out.threads, 3);
	/* Reported once. */
	assert_int_equal(forks__expired(&f, 5000 * MS, &out), 0);
}

/* subprocess, the spawn start method: fork then exec, nothing lost. */
static void test_exec_clears(void **state)
{
	struct fork_tracker f = {0};
	struct fork_record out;

	assert_non_null(forks__add(&f, 200, 100, 3, 0));
	assert_non_null(forks__add(&f, 201, 100, 3, 0));
	forks__exec(&f, 200);
	forks__exec(&f, 999); /* not ours: nothing happens */
	assert_int_equal(forks__expired(&f, 10000 * MS, &out), 1);
	assert_int_equal(out.child, 201);
	assert_int_equal(forks__expired(&f, 10000 * MS, &out), 0);
}

/* One thread: the child loses nothing. */
static void test_single_thread_is_no_hazard(void **state)
{
	struct fork_tracker f = {0};

	assert_null(forks__add(&f, 200, 100, 1, 0));
	assert_int_equal(f.npending, 0);
}

/* A fork storm: at most GW_MAX_PENDING_FORKS wait for their exec. */
static void test_pending_bounded(void **state)
{
	struct fork_tracker f = {0};
	uint32_t i;

	for (i = 0; i < GW_MAX_PENDING_FORKS; i++)
		assert_non_null(forks__add(&f, 200 + i, 100, 2, 0));
	assert_null(forks__add(&f, 300, 100, 2, 0));
	assert_int_equal(f.npending, GW_MAX_PENDING_FORKS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fork_without_exec_expires),
	    cmocka_unit_test(test_exec_clears),
	    cmocka_unit_test(test_single_thread_is_no_hazard),
	    cmocka_unit_test(test_pending_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
