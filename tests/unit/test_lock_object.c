// SPDX-License-Identifier: MIT
/* The threading.RLock a thread waits for, found among the objects its
 * frames point to, in a made-up memory: the `with` statement's bound
 * __exit__, a direct acquire(), a plain Lock (no owner to read), a frame at
 * the end of its mapping, 3.14's PyMutex-based RLock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lock_object.h"

#define BASE 0x100000ull
#define SIZE 0x10000ull
#define RLOCK_TYPE (BASE + 0x100)
#define LOCK_TYPE (BASE + 0x200)
#define METHOD_TYPE (BASE + 0x300)
#define RLOCK (BASE + 0x1000)
#define BOUND_EXIT (BASE + 0x1100)
#define LOCK (BASE + 0x1200)
#define RLOCK_SEM 0x5000
#define LOCK_SEM 0x6000
#define OWNER_IDENT 0x77
#define FRAME_PREVIOUS 8

static uint8_t memory[SIZE];

static int read_memory(void *ctx, uint64_t addr, void *buf, size_t len)
{
	if (addr < BASE || addr + len > BASE + SIZE)
		return -EFAULT;
	memcpy(buf, &memory[addr - BASE], len);
	return 0;
}

static const struct mem_source mem = {.read = read_memory};

static void put(uint64_t addr, uint64_t v)
{
	memcpy(&memory[addr - BASE], &v, sizeof(v));
}

static void type(uint64_t addr, uint64_t name_at, const char *name)
{
	strcpy((char *)&memory[name_at - BASE], name);
	put(addr + 24, name_at);
}

/* Frames at frames[0] (innermost) outwards, each pointing to obj[i]. */
static uint64_t chain(const uint64_t *frames, const uint64_t *obj, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		put(frames[i] + FRAME_PREVIOUS, i + 1 < n ? frames[i + 1] : 0);
		if (obj[i])
			put(frames[i] + 0x40, obj[i]);
	}
	return frames[0];
}

static int setup(void **state)
{
	memset(memory, 0, sizeof(memory));
	type(RLOCK_TYPE, BASE + 0x800, "_thread.RLock");
	type(LOCK_TYPE, BASE + 0x820, "_thread.lock");
	type(METHOD_TYPE, BASE + 0x840, "builtin_function_or_method");
	put(RLOCK + 8, RLOCK_TYPE);
	put(RLOCK + 16, RLOCK_SEM);
	put(RLOCK + 24, OWNER_IDENT);
	put(RLOCK + 32, 1);
	put(BOUND_EXIT + 8, METHOD_TYPE);
	put(BOUND_EXIT + 24, RLOCK);
	put(LOCK + 8, LOCK_TYPE);
	put(LOCK + 16, LOCK_SEM);
	return 0;
}

static struct gw_target *target(unsigned minor)
{
	static struct gw_target t;

	memset(&t, 0, sizeof(t));
	t.build.major = 3;
	t.build.minor = minor;
	t.build.layout.stack.frame_previous = FRAME_PREVIOUS;
	return &t;
}

/* `with lock:` in the caller: the bound __exit__ on its value stack. */
static void test_with_statement_one_frame_out(void **state)
{
	uint64_t frames[] = {BASE + 0x2000, BASE + 0x3000}, obj[] = {0, BOUND_EXIT};
	struct rlock_view r;

	assert_int_equal(
	    lock_object__find_rlock(target(11), &mem, chain(frames, obj, 2), RLOCK_SEM, &r), 0);
	assert_int_equal(r.obj, RLOCK);
	assert_int_equal(r.owner_ident, OWNER_IDENT);
	assert_int_equal(r.count, 1);
}

static void test_acquire_call(void **state)
{
	uint64_t frames[] = {BASE + 0x2000}, obj[] = {RLOCK};
	struct rlock_view r;

	assert_int_equal(
	    lock_object__find_rlock(target(10), &mem, chain(frames, obj, 1), RLOCK_SEM, &r), 0);
	assert_int_equal(r.owner_ident, OWNER_IDENT);
}

/* The RLock is not the one slept on: no owner to give. */
static void test_other_semaphore(void **state)
{
	uint64_t frames[] = {BASE + 0x2000}, obj[] = {RLOCK};
	struct rlock_view r;

	assert_int_equal(
	    lock_object__find_rlock(target(12), &mem, chain(frames, obj, 1), LOCK_SEM, &r),
	    -ENOENT);
}

static void test_plain_lock_has_no_owner(void **state)
{
	uint64_t frames[] = {BASE + 0x2000}, obj[] = {LOCK};
	struct rlock_view r;

	assert_int_equal(
	    lock_object__find_rlock(target(13), &mem, chain(frames, obj, 1), LOCK_SEM, &r),
	    -ENOENT);
}

/* A frame 128 bytes before the end of its memory is still searched. */
static void test_frame_at_end_of_memory(void **state)
{
	uint64_t frame = BASE + SIZE - 128;
	struct rlock_view r;

	put(frame + FRAME_PREVIOUS, 0);
	put(frame + 0x40, BOUND_EXIT);
	assert_int_equal(lock_object__find_rlock(target(11), &mem, frame, RLOCK_SEM, &r), 0);
}

/* Only the innermost frames: the acquire is in one of them. */
static void test_too_far_out(void **state)
{
	uint64_t frames[] = {BASE + 0x2000, BASE + 0x2400, BASE + 0x2800, BASE + 0x2c00,
			     BASE + 0x3000};
	uint64_t obj[] = {0, 0, 0, 0, RLOCK};
	struct rlock_view r;

	assert_int_equal(
	    lock_object__find_rlock(target(11), &mem, chain(frames, obj, 5), RLOCK_SEM, &r),
	    -ENOENT);
}

/* 3.14+: a recursive PyMutex inside the object; a waiter waits for it,
 * named by its address, not by a semaphore it points to.
 */
static void test_pymutex_rlock(void **state)
{
	uint64_t frames[] = {BASE + 0x2000}, obj[] = {BOUND_EXIT};
	struct rlock_view r;

	assert_true(lock_object__supported(target(14)));
	put(RLOCK + 16, 3); /* locked, a waiter parked */
	put(RLOCK + 32, 0); /* no recursion: held once */
	assert_int_equal(
	    lock_object__find_rlock(target(14), &mem, chain(frames, obj, 1), RLOCK + 16, &r), 0);
	assert_int_equal(r.owner_ident, OWNER_IDENT);
	assert_int_equal(r.count, 1);
	put(RLOCK + 16, 0); /* released */
	assert_int_equal(
	    lock_object__find_rlock(target(14), &mem, chain(frames, obj, 1), RLOCK + 16, &r), 0);
	assert_int_equal(r.count, 0);
	assert_int_equal(
	    lock_object__find_rlock(target(15), &mem, chain(frames, obj, 1), RLOCK_SEM, &r),
	    -ENOENT);
}

/* A layout not known here: nothing is read. */
static void test_unknown_layout(void **state)
{
	uint64_t frames[] = {BASE + 0x2000}, obj[] = {RLOCK};
	struct rlock_view r;

	assert_false(lock_object__supported(target(16)));
	assert_int_equal(
	    lock_object__find_rlock(target(16), &mem, chain(frames, obj, 1), RLOCK + 16, &r),
	    -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_with_statement_one_frame_out, setup),
	    cmocka_unit_test_setup(test_acquire_call, setup),
	    cmocka_unit_test_setup(test_other_semaphore, setup),
	    cmocka_unit_test_setup(test_plain_lock_has_no_owner, setup),
	    cmocka_unit_test_setup(test_frame_at_end_of_memory, setup),
	    cmocka_unit_test_setup(test_too_far_out, setup),
	    cmocka_unit_test_setup(test_pymutex_rlock, setup),
	    cmocka_unit_test_setup(test_unknown_layout, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
