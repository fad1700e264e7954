// SPDX-License-Identifier: MIT
/* _Py_DebugOffsets of each known minor version: the real tables of Debian
 * unstable's 3.13, 3.14 and 3.15 builds, and fabricated ones made from them
 * (free-threaded, a future version, torn or shifted tables).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "debug_offsets.h"
#include "elf_file.h"
#include "python_build.h"

#define SID(bin) GW_SID_ROOT "/usr/bin/" bin
#define W_VERSION 1
#define W_FREE_THREADED 2
/* debugger_script_path_size, the last field of 3.14 and 3.15 tables. */
#define W_SCRIPT_PATH_SIZE_314 94
#define W_SCRIPT_PATH_SIZE_315 110

static void read_table(const char *path, uint64_t *w)
{
	struct elf_symbol runtime;
	struct elf_file ef;

	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(elf_file__find_symbol(&ef, "_PyRuntime", &runtime), 0);
	assert_int_equal(elf_file__read(&ef, runtime.vaddr, w, DEBUG_OFFSETS_MAX), 0);
	elf_file__close(&ef);
}

static int parse(const uint64_t *w, size_t len, struct python_layout *l,
		 struct debug_offsets_id *id)
{
	memset(l, 0xff, sizeof(*l));
	return debug_offsets__parse(w, len, l, id);
}

static void test_real_tables(void **state)
{
	static const struct {
		const char *path;
		unsigned minor;
		uint64_t interp_gc_stats_zero, tagged, native_tid;
	} cases[] = {
	    {SID("python3.13"), 13, 0, 0, 160},
	    {SID("python3.14"), 14, 0, 1, 160},
	    {SID("python3.15"), 15, 1, 1, 184},
	};
	uint64_t w[DEBUG_OFFSETS_MAX / 8];
	struct debug_offsets_id id;
	struct python_layout l;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		read_table(cases[i].path, w);
		assert_int_equal(parse(w, sizeof(w), &l, &id), 0);
		assert_int_equal(id.major, 3);
		assert_int_equal(id.minor, cases[i].minor);
		assert_false(id.free_threaded);
		assert_int_equal(l.minor, cases[i].minor);
		assert_int_equal(l.runtime_gil, 0);
		assert_int_equal(l.runtime_head_lock, 0);
		assert_int_equal(l.interp_gc_stats == 0, cases[i].interp_gc_stats_zero);
		assert_int_equal(l.stack.frame_code_tagged, cases[i].tagged);
		assert_int_equal(l.tstate_native_thread_id, cases[i].native_tid);
		assert_int_equal(l.stack.frame_owner_shim, 3);
	}
}

static void test_free_threaded(void **state)
{
	uint64_t w[DEBUG_OFFSETS_MAX / 8];
	struct debug_offsets_id id;
	struct python_layout l;

	read_table(SID("python3.15"), w);
	w[W_FREE_THREADED] = 1;
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EPROTONOSUPPORT);
	assert_true(id.free_threaded);
	assert_int_equal(id.minor, 15);
}

static void test_future_version(void **state)
{
	uint64_t w[DEBUG_OFFSETS_MAX / 8];
	struct debug_offsets_id id;
	struct python_layout l;

	read_table(SID("python3.15"), w);
	w[W_VERSION] = 0x031000a1; /* 3.16.0a1 */
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EPROTONOSUPPORT);
	assert_false(id.free_threaded);
	assert_int_equal(id.minor, 16);
	w[W_VERSION] = 0x040000f0;
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EPROTONOSUPPORT);
	assert_int_equal(id.major, 4);
}

/* A 3.14 table read as if it were 3.15 (or the reverse) fails its checks. */
static void test_wrong_layout(void **state)
{
	uint64_t w[DEBUG_OFFSETS_MAX / 8];
	struct debug_offsets_id id;
	struct python_layout l;

	read_table(SID("python3.14"), w);
	w[W_VERSION] = 0x030f02f0;
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EINVAL);
	read_table(SID("python3.15"), w);
	w[W_VERSION] = 0x030e0af0;
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EINVAL);
	read_table(SID("python3.14"), w);
	w[W_SCRIPT_PATH_SIZE_314] = 0;
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EINVAL);
	read_table(SID("python3.15"), w);
	w[W_SCRIPT_PATH_SIZE_315] = 4096;
	assert_int_equal(parse(w, sizeof(w), &l, &id), -EINVAL);
}

static void test_short_or_no_cookie(void **state)
{
	uint64_t w[DEBUG_OFFSETS_MAX / 8];
	struct debug_offsets_id id;
	struct python_layout l;

	read_table(SID("python3.13"), w);
	assert_int_equal(parse(w, 584, &l, &id), 0);
	assert_int_equal(parse(w, 583, &l, &id), -EINVAL);
	assert_int_equal(parse(w, 0, &l, &id), -EINVAL);
	read_table(SID("python3.15"), w);
	assert_int_equal(parse(w, 887, &l, &id), -EINVAL);
	memcpy(w, "xdebugpY", 8);
	assert_int_equal(parse(w, sizeof(w), &l, &id), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_tables),	       cmocka_unit_test(test_free_threaded),
	    cmocka_unit_test(test_future_version),     cmocka_unit_test(test_wrong_layout),
	    cmocka_unit_test(test_short_or_no_cookie),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
