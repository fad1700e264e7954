// SPDX-License-Identifier: MIT
/* What a thread is doing, told from outside (dump): its futex wait, its
 * native stack and the process's lock words, read through a made-up
 * memory. The two threads of the 3.11 freeze (docs/freeze-3.11.md) first.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "thread_state_infer.h"

#define RUNTIME 0x10000
#define GIL 0x10100
#define HEAD_FIELD 0x10040
#define HEAD_SEM 0x20000
#define INTERP 0x30000
#define GIL_COND_OFF 32
#define GC_COLLECTING_OFF 848
#define INTERP_HEAD_OFF 40
/* Where _PyThread_CurrentFrames resumes from a call it makes holding
 * HEAD_LOCK (head_lock_sites.h); other frames resume elsewhere.
 */
#define FRAMES_HOLDING_SITE 0x7000
#define HOLDER "_PyThread_CurrentFrames"

/* Words of the target's memory; anything else fails to read. */
struct memory {
	uint64_t addr[4];
	uint64_t value[4];
};

static int read_word(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct memory *m = ctx;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (m->addr[i] == addr && len <= sizeof(m->value[i])) {
			memcpy(buf, &m->value[i], len);
			return 0;
		}
	}
	return -EFAULT;
}

/* HEAD_LOCK taken (semaphore value 0), GC collecting or not. */
static struct memory frozen(int collecting)
{
	return (struct memory){
	    .addr = {HEAD_FIELD, HEAD_SEM, RUNTIME + INTERP_HEAD_OFF, INTERP + GC_COLLECTING_OFF},
	    .value = {HEAD_SEM, 0, INTERP, (uint64_t)collecting}};
}

static struct gw_target *target(void)
{
	static struct gw_target t;

	memset(&t, 0, sizeof(t));
	t.runtime = RUNTIME;
	t.gil = GIL;
	t.head_lock_field = HEAD_FIELD;
	t.build.layout.gil_cond = GIL_COND_OFF;
	t.build.layout.runtime_interp_head = INTERP_HEAD_OFF;
	t.build.layout.interp_gc_collecting = GC_COLLECTING_OFF;
	t.head_lock_sites.ret[0] = FRAMES_HOLDING_SITE;
	t.head_lock_sites.n = 1;
	t.head_lock_sites.functions[0] = HOLDER;
	t.head_lock_sites.nfunctions = 1;
	return &t;
}

static void stack_of(struct thread_stacks *s, const char *const *functions)
{
	memset(s, 0, sizeof(*s));
	for (; *functions && s->native.n < NATIVE_STACK_DEPTH; functions++) {
		struct native_frame *f = &s->native.f[s->native.n++];

		snprintf(f->symbol, sizeof(f->symbol), "%s", *functions);
		f->ip = strcmp(*functions, HOLDER) ? 0x1000 + s->native.n : FRAMES_HOLDING_SITE;
	}
}

static void infer(struct memory *m, struct thread_view *v, const char *const *functions,
		  struct inferred_state *out)
{
	struct mem_source mem = {.read = read_word, .ctx = m};
	struct thread_stacks s;

	stack_of(&s, functions);
	thread_state__infer(target(), &mem, v, &s, out);
}

/* The status thread: asleep on the GIL's condvar inside take_gil, called
 * from a collection inside _PyThread_CurrentFrames, past HEAD_LOCK.
 */
static void test_status_thread(void **state)
{
	static const char *const stack[] = {"__futex_abstimed_wait_common", "take_gil",
					    "PyEval_RestoreThread",	    "gc_collect_main",
					    "_PyThread_CurrentFrames",	    NULL};
	struct memory m = frozen(1);
	struct thread_view v = {.tid = 20, .activity = TV_FUTEX, .lock = GIL + GIL_COND_OFF + 8};
	struct inferred_state st;
	char buf[128];

	infer(&m, &v, stack, &st);
	assert_int_equal(v.activity, TV_GIL_WAIT);
	assert_true(st.holds_head_lock);
	assert_true(st.in_gc);
	assert_false(st.holds_gil);
	assert_int_equal(st.head_lock, HEAD_SEM);
	assert_string_equal(
	    thread_state__describe(&v, &st, buf, sizeof(buf)),
	    "waits for the GIL, holds HEAD_LOCK (in _PyThread_CurrentFrames), in GC");
}

/* The other: holds the GIL, asleep on HEAD_LOCK's semaphore in thread
 * exit. It waits for HEAD_LOCK; it does not hold it.
 */
static void test_thread_exit_waiting_for_head_lock(void **state)
{
	static const char *const stack[] = {"sem_wait", "PyThread_acquire_lock_timed",
					    "tstate_delete_common", "_PyThreadState_DeleteCurrent",
					    NULL};
	struct memory m = frozen(1);
	struct thread_view v = {.tid = 30, .activity = TV_HOLDS_GIL, .lock = HEAD_SEM};
	struct inferred_state st;
	char buf[128];

	infer(&m, &v, stack, &st);
	assert_int_equal(v.activity, TV_LOCK_WAIT);
	assert_true(st.holds_gil);
	assert_false(st.holds_head_lock);
	assert_false(st.in_gc); /* the collection is the other thread's */
	assert_string_equal(thread_state__describe(&v, &st, buf, sizeof(buf)),
			    "holds the GIL, waits for HEAD_LOCK");
}

/* One thread: a collection inside sys._current_frames() drops a
 * threading.local, whose teardown waits for the HEAD_LOCK its own thread
 * took further out. It waits for HEAD_LOCK and holds it.
 */
static void test_waits_for_head_lock_it_holds(void **state)
{
	static const char *const stack[] = {"sem_wait",	   "PyThread_acquire_lock_timed",
					    "local_clear", "gc_collect_main",
					    HOLDER,	   NULL};
	struct memory m = frozen(1);
	struct thread_view v = {.tid = 30, .activity = TV_HOLDS_GIL, .lock = HEAD_SEM};
	struct inferred_state st;

	infer(&m, &v, stack, &st);
	assert_int_equal(v.activity, TV_LOCK_WAIT);
	assert_true(st.holds_gil);
	assert_true(st.holds_head_lock);
	assert_string_equal(st.head_lock_in, HOLDER);
}

/* A frame of a HEAD_LOCK function that resumes anywhere but at a call made
 * holding it (before its HEAD_LOCK call, after HEAD_UNLOCK) holds nothing.
 */
static void test_holder_function_elsewhere(void **state)
{
	static const char *const stack[] = {"sem_wait", "PyDict_New", NULL};
	struct memory m = frozen(0);
	struct thread_view v = {.tid = 20, .activity = TV_FUTEX, .lock = 0x999};
	struct thread_stacks s;
	struct mem_source mem = {.read = read_word, .ctx = &m};
	struct inferred_state st;

	stack_of(&s, stack);
	snprintf(s.native.f[1].symbol, sizeof(s.native.f[1].symbol), HOLDER);
	s.native.f[1].ip = FRAMES_HOLDING_SITE + 5;
	thread_state__infer(target(), &mem, &v, &s, &st);
	assert_false(st.holds_head_lock);
}

/* A GIL waiter wakes every 5 ms: caught running, its stack tells. */
static void test_gil_waiter_caught_running(void **state)
{
	static const char *const stack[] = {"take_gil", "PyEval_RestoreThread", NULL};
	struct memory m = frozen(0);
	struct thread_view v = {.tid = 40, .activity = TV_RUNNING};
	struct inferred_state st;

	infer(&m, &v, stack, &st);
	assert_int_equal(v.activity, TV_GIL_WAIT);
}

/* HEAD_LOCK free: a thread in a holder function holds nothing. */
static void test_head_lock_free(void **state)
{
	static const char *const stack[] = {"PyDict_New", "_PyThread_CurrentFrames", NULL};
	struct memory m = frozen(0);
	struct thread_view v = {.tid = 20, .activity = TV_HOLDS_GIL};
	struct inferred_state st;

	m.value[1] = 1; /* the semaphore's value */
	infer(&m, &v, stack, &st);
	assert_false(st.holds_head_lock);
	assert_int_equal(v.activity, TV_HOLDS_GIL);
}

/* Memory that cannot be read (the process is gone) infers nothing. */
static void test_unreadable_memory(void **state)
{
	static const char *const stack[] = {"gc_collect_main", "_PyThread_CurrentFrames", NULL};
	struct memory m = {.addr = {0}, .value = {0}};
	struct thread_view v = {.tid = 20, .activity = TV_FUTEX, .lock = 0x999};
	struct inferred_state st;

	infer(&m, &v, stack, &st);
	assert_int_equal(st.head_lock, 0);
	assert_false(st.holds_head_lock);
	assert_false(st.in_gc);
	assert_int_equal(v.activity, TV_FUTEX);
}

/* A stripped build's stack has no C names: the GIL holder collects. */
static void test_unnamed_stack_gc_in_holder(void **state)
{
	static const char *const stack[] = {"", "", NULL};
	struct memory m = frozen(1);
	struct thread_view holder = {.tid = 20, .activity = TV_HOLDS_GIL};
	struct thread_view other = {.tid = 21, .activity = TV_SYSCALL, .syscall = 7};
	struct inferred_state st;

	infer(&m, &holder, stack, &st);
	assert_true(st.in_gc);
	infer(&m, &other, stack, &st);
	assert_false(st.in_gc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_thread),
	    cmocka_unit_test(test_thread_exit_waiting_for_head_lock),
	    cmocka_unit_test(test_waits_for_head_lock_it_holds),
	    cmocka_unit_test(test_holder_function_elsewhere),
	    cmocka_unit_test(test_gil_waiter_caught_running),
	    cmocka_unit_test(test_head_lock_free),
	    cmocka_unit_test(test_unreadable_memory),
	    cmocka_unit_test(test_unnamed_stack_gc_in_holder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
