// SPDX-License-Identifier: MIT
/* Lock owners read from the process count only when two looks a threshold
 * apart agree: a lock handed on, a waiter that ran, a stopped thread and a
 * lock with no owner to read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "owner_looks.h"

#define S 1000000000ull

struct reads {
	int err;
	uint32_t owner;
	uint64_t sig;
	unsigned calls;
};

static int read_owner(void *ctx, uint32_t tid, uint64_t addr, uint32_t *owner, uint64_t *sig)
{
	struct reads *r = ctx;

	r->calls++;
	*owner = r->owner;
	*sig = r->sig;
	return r->err;
}

static const struct waiter w = {.tid = 11, .kind = LOCK_SEM, .addr = 0x5000, .since_ns = S};
static struct owner_looks looks;

static uint32_t at(struct reads *r, uint64_t now_ns)
{
	return owner_looks__owner(&looks, read_owner, r, &w, now_ns, 2 * S);
}

static int setup(void **state)
{
	memset(&looks, 0, sizeof(looks));
	return 0;
}

static void test_two_looks_agree(void **state)
{
	struct reads r = {.owner = 12, .sig = 7};

	assert_int_equal(at(&r, 1 * S), 0);
	/* No new look before the threshold. */
	assert_int_equal(at(&r, 2 * S), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(at(&r, 3 * S), 12);
	assert_int_equal(at(&r, 4 * S), 12);
	assert_int_equal(r.calls, 2);
}

static void test_handed_on(void **state)
{
	struct reads r = {.owner = 12, .sig = 7};

	at(&r, 1 * S);
	r.owner = 13;
	assert_int_equal(at(&r, 3 * S), 0);
	assert_int_equal(at(&r, 5 * S), 13);
}

static void test_waiter_ran(void **state)
{
	struct reads r = {.owner = 12, .sig = 7};

	at(&r, 1 * S);
	r.sig = 8;
	assert_int_equal(at(&r, 3 * S), 0);
}

static void test_no_owner_to_read(void **state)
{
	struct reads r = {.err = -ENOENT};

	assert_int_equal(at(&r, 1 * S), 0);
	assert_int_equal(at(&r, 9 * S), 0);
	assert_int_equal(r.calls, 1);
}

/* A stopped thread is looked at again, from scratch. */
static void test_stopped(void **state)
{
	struct reads r = {.owner = 12, .sig = 7};

	at(&r, 1 * S);
	r.err = -EAGAIN;
	assert_int_equal(at(&r, 3 * S), 0);
	r.err = 0;
	assert_int_equal(at(&r, 4 * S), 0);
	assert_int_equal(at(&r, 6 * S), 12);
}

/* A new wait of the same thread starts over. */
static void test_new_wait(void **state)
{
	struct reads r = {.owner = 12, .sig = 7};
	struct waiter later = w;

	at(&r, 1 * S);
	later.since_ns = 2 * S;
	assert_int_equal(owner_looks__owner(&looks, read_owner, &r, &later, 3 * S, 2 * S), 0);
	assert_int_equal(r.calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_two_looks_agree, setup),
	    cmocka_unit_test_setup(test_handed_on, setup),
	    cmocka_unit_test_setup(test_waiter_ran, setup),
	    cmocka_unit_test_setup(test_no_owner_to_read, setup),
	    cmocka_unit_test_setup(test_stopped, setup),
	    cmocka_unit_test_setup(test_new_wait, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
