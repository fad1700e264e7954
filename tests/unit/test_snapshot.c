// SPDX-License-Identifier: MIT
/* The thread table of a snapshot, GIL shares, and GIL sampling through a
 * fake interpreter laid out in this process's own memory.
 *
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "snapshot.h"
#include "target.h"

/* Above PID_MAX_LIMIT (2^22): no such thread can exist, so no name. */
#define FAKE_TID 0x40000000u

static int snap_setup(void **state)
{
	struct proc_snapshot *s = malloc(sizeof(*s));

	if (!s)
		return -1;
	memset(s, 0xa5, sizeof(*s)); /* snapshot__init must clear it all */
	snapshot__init(s, getpid());
	*state = s;
	return 0;
}

static int snap_teardown(void **state)
{
	free(*state);
	return 0;
}

static void test_init(void **state)
{
	struct proc_snapshot *s = *state;

	assert_int_equal(s->pid, getpid());
	assert_int_equal(s->nrows, 0);
	assert_int_equal(s->dropped_thread_updates, 0);
	assert_int_equal(s->gil_sampled_ns, 0);
	assert_int_equal(s->gil_held_ns, 0);
	assert_int_equal(s->events_dropped, 0);
	assert_int_equal(s->stats.threads_started, 0);
	assert_int_equal(s->rows[GW_MAX_THREAD_ROWS - 1].tid, 0);
}

static void test_thread_add_and_find(void **state)
{
	struct proc_snapshot *s = *state;
	struct thread_row *a, *b, *again;
	char comm[16] = "";

	/* A slot holding leftovers is cleared when it becomes a row. */
	memset(&s->rows[0], 0x5a, sizeof(s->rows[0]));
	a = snapshot__thread(s, FAKE_TID + 1);
	assert_non_null(a);
	assert_ptr_equal(a, &s->rows[0]);
	assert_int_equal(s->nrows, 1);
	assert_int_equal(a->tid, FAKE_TID + 1);
	assert_string_equal(a->name, "");
	assert_int_equal(a->holder_ns, 0);
	assert_int_equal(a->stats.gil_waits, 0);

	a->holder_ns = 3;
	b = snapshot__thread(s, gettid());
	assert_non_null(b);
	assert_ptr_equal(b, &s->rows[1]);
	assert_int_equal(s->nrows, 2);
	/* A live thread is named when first seen. */
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
	assert_string_equal(b->name, comm);

	again = snapshot__thread(s, FAKE_TID + 1);
	assert_ptr_equal(again, a);
	assert_int_equal(again->holder_ns, 3);
	assert_ptr_equal(snapshot__thread(s, gettid()), b);
	assert_int_equal(s->nrows, 2);
	assert_int_equal(s->dropped_thread_updates, 0);
}

static void test_thread_table_full(void **state)
{
	struct proc_snapshot *s = *state;
	struct thread_row *r;
	uint32_t i;

	for (i = 0; i < GW_MAX_THREAD_ROWS; i++) {
		r = snapshot__thread(s, FAKE_TID + i);
		assert_non_null(r);
		assert_int_equal(r->tid, FAKE_TID + i);
	}
	assert_int_equal(s->nrows, GW_MAX_THREAD_ROWS);
	assert_int_equal(s->dropped_thread_updates, 0);

	assert_null(snapshot__thread(s, FAKE_TID + GW_MAX_THREAD_ROWS));
	assert_int_equal(s->dropped_thread_updates, 1);
	assert_null(snapshot__thread(s, FAKE_TID - 1));
	assert_int_equal(s->dropped_thread_updates, 2);
	assert_int_equal(s->nrows, GW_MAX_THREAD_ROWS);

	/* Rows already in the table, first and last, are still found. */
	assert_ptr_equal(snapshot__thread(s, FAKE_TID), &s->rows[0]);
	assert_ptr_equal(snapshot__thread(s, FAKE_TID + GW_MAX_THREAD_ROWS - 1),
			 &s->rows[GW_MAX_THREAD_ROWS - 1]);
	assert_int_equal(s->dropped_thread_updates, 2);
}

static void test_gil_share(void **state)
{
	struct proc_snapshot *s = *state;
	struct thread_row *r = snapshot__thread(s, FAKE_TID);

	assert_non_null(r);
	/* Nothing sampled yet: 0, not NaN. */
	r->holder_ns = 5;
	assert_true(snapshot__gil_share(s, r) == 0.0);
	s->gil_sampled_ns = 4;
	r->holder_ns = 1;
	assert_true(snapshot__gil_share(s, r) == 0.25);
	r->holder_ns = 0;
	assert_true(snapshot__gil_share(s, r) == 0.0);
	s->gil_sampled_ns = 3;
	r->holder_ns = 3;
	assert_true(snapshot__gil_share(s, r) == 1.0);
	s->gil_sampled_ns = 1000000007ull;
	r->holder_ns = 1;
	assert_true(snapshot__gil_share(s, r) == 1.0 / 1000000007.0);
}

/* A fake interpreter in our own memory: GIL state and thread states at
 * the offsets a layout names, read back with process_vm_readv.
 */
struct fake_interp {
	unsigned char gil[64];
	unsigned char tstate[256];
	unsigned char pthread[1024];
};

static void put_int(unsigned char *base, uint64_t off, int v)
{
	memcpy(base + off, &v, sizeof(v));
}

static void put_ptr(unsigned char *base, uint64_t off, const void *p)
{
	uint64_t v = (uintptr_t)p;

	memcpy(base + off, &v, sizeof(v));
}

static void test_sample_gil(void **state)
{
	struct proc_snapshot *s = *state;
	struct fake_interp *fi = calloc(1, sizeof(*fi));
	struct gw_target *t = calloc(1, sizeof(*t));
	struct python_layout *l;
	pid_t me = gettid();

	assert_non_null(fi);
	assert_non_null(t);
	l = &t->build.layout;
	l->gil_locked = 16;
	l->gil_last_holder = 8;
	l->tstate_thread_id = 152;
	l->tstate_native_thread_id = 160; /* 3.11+ */
	t->pid = getpid();
	t->gil = (uintptr_t)fi->gil;

	/* Held by this thread. */
	put_int(fi->gil, l->gil_locked, 1);
	put_ptr(fi->gil, l->gil_last_holder, fi->tstate);
	put_int(fi->tstate, l->tstate_native_thread_id, me);
	snapshot__sample_gil(s, t, 10);
	assert_int_equal(s->gil_sampled_ns, 10);
	assert_int_equal(s->gil_held_ns, 10);
	assert_int_equal(s->nrows, 1);
	assert_int_equal(s->rows[0].tid, me);
	assert_int_equal(s->rows[0].holder_ns, 10);

	/* Released: a sample (of an idle process: a long one), no holder. */
	put_int(fi->gil, l->gil_locked, 0);
	snapshot__sample_gil(s, t, 500);
	assert_int_equal(s->gil_sampled_ns, 510);
	assert_int_equal(s->gil_held_ns, 10);

	/* 3.10: no native id in the thread state; pthread_t -> glibc tid. */
	l->tstate_native_thread_id = 0;
	l->tstate_thread_id = 176;
	t->pthread_tid_offset = 720;
	put_int(fi->gil, l->gil_locked, 1);
	put_ptr(fi->tstate, l->tstate_thread_id, fi->pthread);
	put_int(fi->pthread, t->pthread_tid_offset, FAKE_TID + 7);
	snapshot__sample_gil(s, t, 20);
	assert_int_equal(s->gil_sampled_ns, 530);
	assert_int_equal(s->gil_held_ns, 30);
	assert_int_equal(s->nrows, 2);
	assert_int_equal(s->rows[1].tid, FAKE_TID + 7);
	assert_int_equal(s->rows[1].holder_ns, 20);
	assert_int_equal(s->rows[0].holder_ns, 10);
	assert_true(snapshot__gil_share(s, &s->rows[1]) == 20.0 / 530.0);

	/* Unknown GIL address or unreadable memory: no sample at all. */
	t->gil = 0;
	snapshot__sample_gil(s, t, 10);
	t->gil = 8; /* unmapped */
	snapshot__sample_gil(s, t, 10);
	assert_int_equal(s->gil_sampled_ns, 530);
	assert_int_equal(s->gil_held_ns, 30);

	free(t);
	free(fi);
}

/* A full table makes room by reusing the row of an ended thread whose last
 * figures were copied.
 */
static void test_full_table_reuses_ended_rows(void **state)
{
	struct proc_snapshot *s = *state;
	struct thread_row *r;
	uint32_t i;

	for (i = 0; i < GW_MAX_THREAD_ROWS; i++)
		assert_non_null(snapshot__thread(s, FAKE_TID + i));
	/* Ended, its last figures not copied yet: kept. */
	s->rows[3].stats.ended = 1;
	s->rows[7].stats.ended = 1;
	s->rows[7].stats.gil_waits = 99;
	s->rows[7].final = true;
	r = snapshot__thread(s, 1);
	assert_ptr_equal(r, &s->rows[7]);
	assert_int_equal(r->tid, 1);
	assert_int_equal(r->stats.gil_waits, 0);
	assert_int_equal(s->dropped_thread_updates, 0);
	assert_null(snapshot__thread(s, FAKE_TID + GW_MAX_THREAD_ROWS));
	assert_int_equal(s->dropped_thread_updates, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_init, snap_setup, snap_teardown),
	    cmocka_unit_test_setup_teardown(test_thread_add_and_find, snap_setup, snap_teardown),
	    cmocka_unit_test_setup_teardown(test_thread_table_full, snap_setup, snap_teardown),
	    cmocka_unit_test_setup_teardown(test_gil_share, snap_setup, snap_teardown),
	    cmocka_unit_test_setup_teardown(test_sample_gil, snap_setup, snap_teardown),
	    cmocka_unit_test_setup_teardown(test_full_table_reuses_ended_rows, snap_setup,
					    snap_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
