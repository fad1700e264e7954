// SPDX-License-Identifier: MIT
/* Version detection and struct layouts, checked against the CPython builds
 * installed on this machine (pyenv shared libraries and Debian's static,
 * stripped /usr/bin/python3.11), plus synthetic _Py_DebugOffsets tables.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pyenv_root.h"

#include "python_build.h"

#define LIB310 pyenv_path("3.10.13/lib/libpython3.10.so.1.0")
#define LIB311 pyenv_path("3.11.7/lib/libpython3.11.so.1.0")
#define LIB312 pyenv_path("3.12.1/lib/libpython3.12.so.1.0")
#define LIB313 pyenv_path("3.13.0/lib/libpython3.13.so.1.0")
#define LIB27 pyenv_path("2.7.18/lib/libpython2.7.so.1.0")
#define LIB36 pyenv_path("3.6.15/lib/libpython3.6m.so.1.0")
#define DEBIAN311 "/usr/bin/python3.11"

/* Opens path, detects its build and resolves its layout. */
static int probe_build(const char *path, struct python_build *b)
{
	struct elf_file ef;
	int err;

	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(python_build__detect(&ef, path, b), 0);
	err = python_build__resolve_layout(&ef, b);
	elf_file__close(&ef);
	return err;
}

/* The build-id as readelf prints it, "" if none. */
static void readelf_build_id(const char *path, char hex[64])
{
	char cmd[512], line[256];
	FILE *p;

	hex[0] = '\0';
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		const char *s = strstr(line, "Build ID: ");

		if (s && sscanf(s + strlen("Build ID: "), "%63s", hex) == 1)
			break;
	}
	pclose(p);
}

static void assert_hex40(const char *s)
{
	size_t i;

	assert_int_equal(strlen(s), 40);
	for (i = 0; i < 40; i++)
		assert_true(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f'));
}

static void test_detect_pyenv(void **state)
{
	const struct {
		const char *path, *version;
		unsigned minor, micro;
	} cases[] = {
	    {LIB310, "3.10.13", 10, 13},
	    {LIB311, "3.11.7", 11, 7},
	    {LIB312, "3.12.1", 12, 1},
	    {LIB313, "3.13.0", 13, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct python_build b;
		char expect_id[64];

		assert_int_equal(probe_build(cases[i].path, &b), 0);
		assert_string_equal(b.version, cases[i].version);
		assert_int_equal(b.major, 3);
		assert_int_equal(b.minor, cases[i].minor);
		assert_int_equal(b.micro, cases[i].micro);
		assert_int_equal(b.layout.minor, cases[i].minor);
		assert_hex40(b.build_id);
		readelf_build_id(cases[i].path, expect_id);
		assert_string_equal(b.build_id, expect_id);
	}
}

static void test_detect_debian_static(void **state)
{
	struct python_build b;

	assert_int_equal(probe_build(DEBIAN311, &b), 0);
	assert_string_equal(b.version, "3.11.2");
	assert_int_equal(b.minor, 11);
	assert_int_equal(b.micro, 2);
	assert_hex40(b.build_id);
	/* 3.11: the GIL lives in _PyRuntime, offsets from the built-in table. */
	assert_int_equal(b.layout_from_debug_offsets, 0);
	assert_int_equal(b.layout.minor, 11);
	assert_int_equal(b.layout.runtime_gil, 360);
	assert_int_equal(b.layout.tstate_native_thread_id, 160);
}

/* Runs build/tests/layout-VERSION (tests/unit/layout_probe.c compiled
 * against that version's internal headers) and compares every offset.
 */
static void assert_layout_matches_headers(const char *lib, const char *version)
{
	char exe[4096], cmd[4200], key[64];
	const struct python_layout *l;
	struct python_build b;
	size_t value, seen = 0;
	ssize_t n;
	FILE *p;

	assert_int_equal(probe_build(lib, &b), 0);
	l = &b.layout;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "%s/layout-%s", exe, version);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fscanf(p, "%63s %zu", key, &value) == 2) {
		const struct {
			const char *name;
			uint64_t got;
		} fields[] = {
		    {"runtime_gil", l->runtime_gil},
		    {"interp_ceval_gil", l->interp_ceval_gil},
		    {"runtime_interp_head", l->runtime_interp_head},
		    {"runtime_head_lock", l->runtime_head_lock},
		    {"interp_gc_stats", l->interp_gc_stats},
		    {"gil_switch_number", l->gil_switch_number},
		    {"gil_last_holder", l->gil_last_holder},
		    {"gil_locked", l->gil_locked},
		    {"gil_cond", l->gil_cond},
		    {"tstate_thread_id", l->tstate_thread_id},
		    {"tstate_native_thread_id", l->tstate_native_thread_id},
		    {"interp_gc_collecting", l->interp_gc_collecting},
		    {"interp_threads_head", l->stack.interp_threads_head},
		    {"tstate_next", l->stack.tstate_next},
		    {"tstate_frame", l->stack.tstate_frame},
		    {"cframe_current_frame", l->stack.cframe_current_frame},
		    {"frame_via_cframe", l->stack.frame_via_cframe},
		    {"frame_previous", l->stack.frame_previous},
		    {"frame_code", l->stack.frame_code},
		    {"frame_instr", l->stack.frame_instr},
		    {"frame_owner", l->stack.frame_owner},
		    {"frame_owner_shim", l->stack.frame_owner_shim},
		    {"code_filename", l->stack.code_filename},
		    {"code_name", l->stack.code_name},
		    {"code_qualname", l->stack.code_qualname},
		    {"code_firstlineno", l->stack.code_firstlineno},
		    {"code_linetable", l->stack.code_linetable},
		    {"code_adaptive", l->stack.code_adaptive},
		    {"unicode_length", l->stack.unicode_length},
		    {"unicode_state", l->stack.unicode_state},
		    {"unicode_ascii_data", l->stack.unicode_ascii_data},
		    {"unicode_compact_data", l->stack.unicode_compact_data},
		    {"bytes_size", l->stack.bytes_size},
		    {"bytes_data", l->stack.bytes_data},
		};
		size_t i;

		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (strcmp(fields[i].name, key))
				continue;
			if (fields[i].got != value)
				fail_msg("%s: %s is %llu, headers say %zu", version, key,
					 (unsigned long long)fields[i].got, value);
			seen++;
		}
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(seen, 34);
}

static void test_layout_matches_headers(void **state)
{
	assert_layout_matches_headers(LIB310, "3.10.13");
	assert_layout_matches_headers(LIB311, "3.11.7");
	assert_layout_matches_headers(LIB312, "3.12.1");
	/* From _Py_DebugOffsets, converted: must agree with the headers too. */
	assert_layout_matches_headers(LIB313, "3.13.0");
}

static void test_layout_313_from_debug_offsets(void **state)
{
	struct python_build b;

	assert_int_equal(probe_build(LIB313, &b), 0);
	assert_int_equal(b.layout_from_debug_offsets, 1);
	assert_int_equal(b.layout.minor, 13);
	assert_int_equal(b.layout.runtime_gil, 0);
	assert_int_equal(b.layout.runtime_interp_head, 632);
	assert_int_equal(b.layout.interp_ceval_gil, 16);
	assert_int_equal(b.layout.gil_locked, 16);
	assert_int_equal(b.layout.gil_last_holder, 8);
	assert_int_equal(b.layout.tstate_native_thread_id, 160);
}

/* A 3.13 build without the debug table falls back to the built-in layout:
 * pretend the 3.12 library (whose _PyRuntime has no cookie) is a 3.13.
 */
static void test_layout_313_fallback(void **state)
{
	struct python_build b;
	struct elf_file ef;

	assert_int_equal(elf_file__open(&ef, LIB312), 0);
	assert_int_equal(python_build__detect(&ef, LIB312, &b), 0);
	b.minor = 13;
	assert_int_equal(python_build__resolve_layout(&ef, &b), 0);
	assert_int_equal(b.layout_from_debug_offsets, 0);
	assert_int_equal(b.layout.minor, 13);
	assert_int_equal(b.layout.runtime_interp_head, 632);
	/* A minor gilwatch has no table for. */
	b.minor = 9;
	assert_int_equal(python_build__resolve_layout(&ef, &b), -EPROTONOSUPPORT);
	elf_file__close(&ef);
}

static void test_unsupported(void **state)
{
	static const struct {
		const char *rel; /* under pyenv's versions/ */
		unsigned major, minor;
	} cases[] = {
	    {"2.7.18/lib/libpython2.7.so.1.0", 2, 7},
	    {"3.6.15/lib/libpython3.6m.so.1.0", 3, 6},
	    {"3.7.16/lib/libpython3.7m.so.1.0", 3, 7},
	    {"3.9.18/lib/libpython3.9.so.1.0", 3, 9},
	};
	struct python_build b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(probe_build(pyenv_path(cases[i].rel), &b), -EPROTONOSUPPORT);
		assert_int_equal(b.major, cases[i].major);
		assert_int_equal(b.minor, cases[i].minor);
	}
	/* Detection still names them for the error message. */
	assert_int_equal(probe_build(LIB27, &b), -EPROTONOSUPPORT);
	assert_string_equal(b.version, "2.7.18");
	assert_int_equal(probe_build(LIB36, &b), -EPROTONOSUPPORT);
	assert_string_equal(b.version, "3.6.15");
}

static void test_version_from_filename(void **state)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} ok[] = {
	    {"python3.10", 3, 10},
	    {"libpython3.6m.so.1.0", 3, 6},
	    {"/usr/bin/python3.11", 3, 11},
	    {"libpython2.7.so", 2, 7},
	    {"/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0", 3, 13},
	    {"/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0", 3, 12},
	    {"python3.13t", 3, 13},
	};
	static const char *const bad[] = {
	    "python",	       "python3",
	    "/usr/bin/python", "/opt/python3.12/bin/python", /* only the base name counts */
	    "libc.so.6",       "",
	    "python.3",	       "pythonX.Y",
	};
	unsigned major, minor;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		major = minor = 99;
		assert_int_equal(python_version__from_filename(ok[i].name, &major, &minor), 0);
		assert_int_equal(major, ok[i].major);
		assert_int_equal(minor, ok[i].minor);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(python_version__from_filename(bad[i], &major, &minor), -ENOENT);
}

/* Word indexes of _Py_DebugOffsets in 3.13.0. */
enum {
	W_VERSION = 1,
	W_FREE_THREADED = 2,
	W_INTERP_HEAD = 5,
	W_CEVAL_GIL = 14,
	W_GIL_STATE = 15,
	W_GIL_LOCKED = 17,
	W_GIL_HOLDER = 18,
	W_THREAD_ID = 24,
	W_NATIVE_THREAD_ID = 25,
	W_FRAME_PREVIOUS = 29,
	W_CODE_QUALNAME = 37,
	W_UNICODE_ASCII_SIZE = 70,
	W_COUNT = 71,
};

static void fill_debug_offsets(uint64_t *w)
{
	memset(w, 0, W_COUNT * sizeof(*w));
	memcpy(w, "xdebugpy", 8);
	w[W_VERSION] = 0x030d01f0; /* 3.13.1 */
	w[W_INTERP_HEAD] = 700;
	w[W_CEVAL_GIL] = 24;
	w[W_GIL_STATE] = 4000;
	w[W_GIL_LOCKED] = 4000 + 20;
	w[W_GIL_HOLDER] = 4000 + 12;
	w[W_THREAD_ID] = 168;
	w[W_NATIVE_THREAD_ID] = 176;
	w[W_FRAME_PREVIOUS] = 16;
	w[W_CODE_QUALNAME] = 144;
	w[W_UNICODE_ASCII_SIZE] = 48;
}

static void test_debug_offsets_synthetic(void **state)
{
	uint64_t w[W_COUNT + 4];
	struct python_layout l;

	fill_debug_offsets(w);
	memset(&l, 0xff, sizeof(l));
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8, &l), 0);
	assert_int_equal(l.minor, 13);
	assert_int_equal(l.runtime_gil, 0);
	assert_int_equal(l.runtime_interp_head, 700);
	assert_int_equal(l.interp_ceval_gil, 24);
	assert_int_equal(l.gil_locked, 20);
	assert_int_equal(l.gil_last_holder, 12);
	assert_int_equal(l.tstate_thread_id, 168);
	assert_int_equal(l.tstate_native_thread_id, 176);
	assert_int_equal(l.stack.frame_previous, 16);
	assert_int_equal(l.stack.code_qualname, 144);
	assert_int_equal(l.stack.unicode_ascii_data, 48);
	assert_int_equal(l.stack.unicode_compact_data, 64);
	assert_int_equal(l.stack.frame_via_cframe, 0);

	/* Trailing bytes beyond the table are fine. */
	assert_int_equal(python_layout__from_debug_offsets(w, sizeof(w), &l), 0);

	/* One byte short. */
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8 - 1, &l), -EINVAL);
	assert_int_equal(python_layout__from_debug_offsets(w, 0, &l), -EINVAL);

	fill_debug_offsets(w);
	memcpy(w, "xdebugpY", 8);
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8, &l), -ENOENT);

	fill_debug_offsets(w);
	w[W_FREE_THREADED] = 1;
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8, &l), -EPROTONOSUPPORT);

	fill_debug_offsets(w);
	w[W_VERSION] = 0x030e00a1; /* 3.14.0a1: another table layout */
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8, &l), -EPROTONOSUPPORT);
	w[W_VERSION] = 0x030c01f0; /* 3.12 never had the table */
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8, &l), -EPROTONOSUPPORT);

	/* GIL member offsets before the GIL state itself are nonsense. */
	fill_debug_offsets(w);
	w[W_GIL_LOCKED] = 3999;
	assert_int_equal(python_layout__from_debug_offsets(w, W_COUNT * 8, &l), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect_pyenv),
	    cmocka_unit_test(test_detect_debian_static),
	    cmocka_unit_test(test_layout_matches_headers),
	    cmocka_unit_test(test_layout_313_from_debug_offsets),
	    cmocka_unit_test(test_layout_313_fallback),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_version_from_filename),
	    cmocka_unit_test(test_debug_offsets_synthetic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
